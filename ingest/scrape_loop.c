/* Design: see scrape.h. This file: one target's page -> one batch (cache, relabelling, limits,
 * staleness, synthetic series, metadata). No network here, so tests drive it directly. */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "engine/chunk.h"
#include "ingest/relabel.h"
#include "ingest/scrape_int.h"

static const char *const synth_names[SYN_N] = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                                               "scrape_samples_post_metric_relabeling",
                                               "scrape_series_added"};

static struct {
    em_counter_t *sample_limit, *label_limit, *body_limit, *parse_fail, *invalid, *dup;
} m;

static void metrics_register(void)
{
    m.sample_limit =
        em_counter_new("ember_target_scrapes_exceeded_sample_limit_total",
                       "Total number of scrapes that hit the sample limit and were rejected.", NULL);
    m.label_limit =
        em_counter_new("ember_target_scrapes_exceeded_label_limits_total",
                       "Total number of scrapes that hit the label limits and were rejected.", NULL);
    m.body_limit = em_counter_new("ember_target_scrapes_exceeded_body_size_limit_total",
                                  "Total number of scrapes that hit the body size limit.", NULL);
    m.parse_fail = em_counter_new("ember_target_scrapes_parse_failures_total",
                                  "Total number of scrapes whose page could not be parsed.", NULL);
    m.invalid =
        em_counter_new("ember_target_scrapes_invalid_series_total",
                       "Total number of scrapes rejected for a series without a valid name or labels.", NULL);
    m.dup = em_counter_new("ember_target_scrapes_sample_duplicate_series_total",
                           "Total number of samples dropped because their series appeared twice in one page.",
                           NULL);
}

static void metrics_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, metrics_register);
}

static double stale_nan(void)
{
    uint64_t b = EM_STALE_NAN_BITS;
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

/* ---- the cache ---- */

static void cache_grow(scrape_cache_t *c)
{
    size_t ncap = c->cap ? c->cap * 2 : 64;
    cache_entry_t **ns = em_calloc(ncap, sizeof(cache_entry_t *));
    for (size_t i = 0; i < c->cap; i++) {
        cache_entry_t *e = c->slots[i];
        if (!e)
            continue;
        size_t j = e->hash & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = e;
    }
    free(c->slots);
    c->slots = ns;
    c->cap = ncap;
}

static cache_entry_t *cache_get(scrape_cache_t *c, uint64_t h, const char *raw, size_t n)
{
    if (!c->cap)
        return NULL;
    for (size_t j = h & (c->cap - 1);; j = (j + 1) & (c->cap - 1)) {
        cache_entry_t *e = c->slots[j];
        if (!e)
            return NULL;
        if (e->hash == h && e->raw_len == n && memcmp(e->raw, raw, n) == 0)
            return e;
    }
}

static void cache_put(scrape_cache_t *c, cache_entry_t *e)
{
    if ((c->n + 1) * 4 > c->cap * 3)
        cache_grow(c);
    size_t j = e->hash & (c->cap - 1);
    while (c->slots[j])
        j = (j + 1) & (c->cap - 1);
    c->slots[j] = e;
    c->n++;
}

/* Unlink slot i (backward-shift deletion keeps probe chains intact) and queue the entry for freeing. */
static void cache_del_slot(scrape_cache_t *c, size_t i)
{
    cache_entry_t *e = c->slots[i];
    e->next_dead = c->dead;
    c->dead = e;
    c->slots[i] = NULL;
    c->n--;
    size_t mask = c->cap - 1;
    for (size_t j = (i + 1) & mask; c->slots[j]; j = (j + 1) & mask) {
        size_t home = c->slots[j]->hash & mask;
        /* Move the entry back when its home is not cyclically within (i, j]. */
        bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!between) {
            c->slots[i] = c->slots[j];
            c->slots[j] = NULL;
            i = j;
        }
    }
}

static void cache_fini(scrape_cache_t *c)
{
    for (size_t i = 0; i < c->cap; i++)
        free(c->slots[i]);
    free(c->slots);
    while (c->dead) {
        cache_entry_t *e = c->dead;
        c->dead = e->next_dead;
        free(e);
    }
    memset(c, 0, sizeof(*c));
}

/* One allocation: entry, label array, strings, raw bytes. */
static cache_entry_t *entry_new(uint64_t h, const char *raw, size_t n, const em_labels_t *ls)
{
    size_t bytes = sizeof(cache_entry_t) + sizeof(em_label_t) * ls->n + n + 1;
    for (size_t i = 0; i < ls->n; i++)
        bytes += strlen(ls->v[i].name) + strlen(ls->v[i].value) + 2;
    cache_entry_t *e = em_calloc(1, bytes);
    em_label_t *lv = (em_label_t *)(e + 1);
    char *p = (char *)(lv + ls->n);
    for (size_t i = 0; i < ls->n; i++) {
        size_t a = strlen(ls->v[i].name) + 1, b = strlen(ls->v[i].value) + 1;
        memcpy(p, ls->v[i].name, a);
        lv[i].name = p;
        p += a;
        memcpy(p, ls->v[i].value, b);
        lv[i].value = p;
        p += b;
    }
    memcpy(p, raw, n);
    p[n] = '\0';
    e->raw = p;
    e->raw_len = (uint32_t)n;
    e->hash = h;
    e->ls = (em_labels_t){lv, ls->n};
    return e;
}

/* ---- the loop ---- */

void scrape_loop_init(scrape_loop_t *l, const em_scrape_config_t *sc, const em_labels_t *target_labels)
{
    metrics_init();
    memset(l, 0, sizeof(*l));
    l->sc = sc;
    em_arena_init(&l->arena);
    em_arena_init(&l->scratch);
    em_arena_init(&l->meta_arena);
    em_labels_builder_init(&l->lb, NULL);
    l->target_labels = em_labels_copy(target_labels, &l->arena);
    em_label_t *pub = em_arena_alloc(&l->arena, sizeof(em_label_t) * (target_labels->n + 1));
    size_t np = 0;
    for (size_t i = 0; i < l->target_labels.n; i++)
        if (strncmp(l->target_labels.v[i].name, "__", 2) != 0)
            pub[np++] = l->target_labels.v[i];
    l->public_labels = (em_labels_t){pub, np};
    for (int s = 0; s < SYN_N; s++) {
        em_label_t *v = em_arena_alloc(&l->arena, sizeof(em_label_t) * (np + 1));
        v[0] = (em_label_t){EM_METRIC_NAME, synth_names[s]};
        memcpy(v + 1, pub, sizeof(em_label_t) * np);
        em_labels_sort(v, np + 1);
        l->synth[s] = (em_labels_t){v, np + 1};
    }
    l->batch = em_batch_new();
    atomic_init(&l->busy, false);
}

void scrape_loop_fini(scrape_loop_t *l)
{
    cache_fini(&l->cache);
    em_batch_free(l->batch);
    free(l->slots);
    em_labels_builder_fini(&l->lb);
    em_arena_fini(&l->arena);
    em_arena_fini(&l->scratch);
    em_arena_fini(&l->meta_arena);
    free(l->meta);
}

static void add_series(scrape_loop_t *l, const em_labels_t *ls, em_series_ref_t *ref, int64_t t_ms, double v)
{
    em_batch_add_series(l->batch, ls, false, *ref);
    em_batch_add_sample(l->batch, t_ms, v);
    em_grow((void **)&l->slots, &l->cap_slots, l->n_slots + 1, sizeof(em_series_ref_t *));
    l->slots[l->n_slots++] = ref;
}

void scrape_loop_harvest(scrape_loop_t *l)
{
    size_t n = em_batch_n_series(l->batch);
    for (size_t i = 0; i < n && i < l->n_slots; i++) {
        em_series_ref_t r = em_batch_series_ref(l->batch, (uint32_t)i);
        if (r)
            *l->slots[i] = r;
    }
    l->n_slots = 0;
    scrape_cache_t *c = &l->cache;
    while (c->dead) {
        cache_entry_t *e = c->dead;
        c->dead = e->next_dead;
        free(e);
    }
}

/* Prometheus's mutateSampleLabels: target labels over the sample's (honor_labels=false renames the
 * sample's conflicting labels to exported_<name>, shortest names first), then metric_relabel_configs.
 * Returns false when relabelling dropped the series. */
static bool mutate(scrape_loop_t *l, const em_labels_t *in, em_labels_t *out)
{
    em_labels_builder_t *b = &l->lb;
    em_labels_builder_reset(b, in);
    const em_labels_t *tl = &l->public_labels;
    if (l->sc->honor_labels) {
        for (size_t i = 0; i < tl->n; i++)
            if (!em_labels_get(in, tl->v[i].name))
                em_labels_builder_set(b, tl->v[i].name, tl->v[i].value);
    } else {
        em_label_t conflict[64];
        size_t nc = 0;
        for (size_t i = 0; i < tl->n; i++) {
            const char *ev = em_labels_get(in, tl->v[i].name);
            if (ev && *ev && nc < EM_ARRAY_LEN(conflict))
                conflict[nc++] = (em_label_t){tl->v[i].name, ev};
            em_labels_builder_set(b, tl->v[i].name, tl->v[i].value);
        }
        /* stable sort by name length (insertion sort: few entries) */
        for (size_t i = 1; i < nc; i++)
            for (size_t j = i; j > 0 && strlen(conflict[j].name) < strlen(conflict[j - 1].name); j--) {
                em_label_t t = conflict[j];
                conflict[j] = conflict[j - 1];
                conflict[j - 1] = t;
            }
        for (size_t i = 0; i < nc; i++) {
            const char *name = conflict[i].name;
            for (;;) {
                size_t len = strlen(name);
                char *nn = em_arena_alloc(&l->scratch, len + 10);
                memcpy(nn, "exported_", 9);
                memcpy(nn + 9, name, len + 1);
                name = nn;
                const char *cur = em_labels_builder_get(b, name);
                if (!cur || !*cur) {
                    em_labels_builder_set(b, name, conflict[i].value);
                    break;
                }
            }
        }
    }
    if (!em_relabel_process(b, l->sc->metric_relabel_configs, l->sc->n_metric_relabel_configs, &l->scratch))
        return false;
    *out = em_labels_builder_labels(b);
    return out->n > 0;
}

/* A series the cache does not know: parse, mutate, validate, check limits, cache. */
static int new_entry(scrape_loop_t *l, em_expfmt_parser_t *p, uint64_t h, const char *raw, size_t n,
                     cache_entry_t **out, em_err_t *err)
{
    em_labels_t parsed, final = {NULL, 0};
    if (em_expfmt_labels(p, &l->scratch, &parsed) != EM_OK) {
        em_counter_inc(m.invalid);
        return em_err_set(err, EM_EINVAL, "%s", em_expfmt_error(p));
    }
    bool keep = mutate(l, &parsed, &final);
    if (keep) {
        if (!em_labels_get(&final, EM_METRIC_NAME)) {
            em_counter_inc(m.invalid);
            return em_err_set(err, EM_EINVAL, "__name__ label is missing");
        }
        em_err_t e;
        if (em_labels_validate(&final, &e) != EM_OK) {
            em_buf_t s = EM_BUF_INIT;
            em_labels_format(&final, &s);
            em_counter_inc(m.invalid);
            em_err_set(err, EM_EINVAL, "invalid metric name or label names: %s", s.data);
            em_buf_fini(&s);
            return EM_EINVAL;
        }
        em_expfmt_limits_t lim = {l->sc->label_limit, l->sc->label_name_length_limit,
                                  l->sc->label_value_length_limit};
        if (em_expfmt_check_limits(&final, &lim, err) != EM_OK) {
            em_counter_inc(m.label_limit);
            return EM_ELIMIT;
        }
    }
    cache_entry_t *e = entry_new(h, raw, n, keep ? &final : &(em_labels_t){NULL, 0});
    e->dropped = !keep;
    cache_put(&l->cache, e);
    *out = e;
    return EM_OK;
}

typedef struct page_meta {
    meta_entry_t *v;
    size_t n, cap;
    uint64_t hash;
} page_meta_t;

static meta_entry_t *meta_for(page_meta_t *pm, em_arena_t *a, const char *name, size_t n)
{
    if (pm->n && strlen(pm->v[pm->n - 1].family) == n && memcmp(pm->v[pm->n - 1].family, name, n) == 0)
        return &pm->v[pm->n - 1];
    for (size_t i = 0; i < pm->n; i++)
        if (strlen(pm->v[i].family) == n && memcmp(pm->v[i].family, name, n) == 0)
            return &pm->v[i];
    em_grow((void **)&pm->v, &pm->cap, pm->n + 1, sizeof(meta_entry_t));
    meta_entry_t *e = &pm->v[pm->n++];
    *e = (meta_entry_t){em_arena_strndup(a, name, n), "unknown", "", ""};
    return e;
}

static void meta_entry_line(em_expfmt_parser_t *p, int kind, page_meta_t *pm, em_arena_t *a)
{
    const char *name, *text;
    size_t nl, tl;
    if (kind == EM_EXPFMT_TYPE) {
        em_expfmt_type_t t = em_expfmt_type(p, &name, &nl);
        meta_for(pm, a, name, nl)->type = em_expfmt_type_name(t);
        pm->hash = em_hash64_seed(name, nl, pm->hash ^ (uint64_t)t);
    } else if (kind == EM_EXPFMT_HELP) {
        em_expfmt_help(p, &name, &nl, &text, &tl);
        meta_for(pm, a, name, nl)->help = em_arena_strndup(a, text, tl);
        pm->hash = em_hash64_seed(text, tl, em_hash64_seed(name, nl, pm->hash + 1));
    } else {
        em_expfmt_unit(p, &name, &nl, &text, &tl);
        meta_for(pm, a, name, nl)->unit = em_arena_strndup(a, text, tl);
        pm->hash = em_hash64_seed(text, tl, em_hash64_seed(name, nl, pm->hash + 2));
    }
}

/* New metadata replaces the loop's (under meta_mu) and goes to the store, only when it changed. */
static void meta_publish(scrape_loop_t *l, page_meta_t *pm, em_arena_t *fresh, pthread_mutex_t *mu,
                         em_metastore_t *store)
{
    if (pm->hash == l->meta_hash && pm->n == l->n_meta) {
        em_arena_fini(fresh);
        free(pm->v);
        return;
    }
    if (mu)
        pthread_mutex_lock(mu);
    em_arena_fini(&l->meta_arena);
    l->meta_arena = *fresh;
    free(l->meta);
    l->meta = pm->v;
    l->n_meta = pm->n;
    l->meta_hash = pm->hash;
    if (mu)
        pthread_mutex_unlock(mu);
    for (size_t i = 0; store && i < l->n_meta; i++)
        em_metastore_add(store, l->meta[i].family, l->meta[i].type, l->meta[i].help, l->meta[i].unit);
}

/* Parse the page into the batch. Returns EM_OK or the error that fails the scrape. */
static int parse_page(scrape_loop_t *l, const char *body, size_t len, const char *ct, int64_t t_ms,
                      page_meta_t *pm, em_arena_t *meta_a, em_err_t *err)
{
    int fallback = -1;
    const char *fb = l->sc->fallback_scrape_protocol;
    if (fb && *fb)
        fallback = strncmp(fb, "OpenMetrics", 11) == 0 ? EM_EXPFMT_OPENMETRICS : EM_EXPFMT_TEXT;
    em_expfmt_format_t fmt;
    int rc = em_expfmt_format_negotiate(ct, fallback, &fmt, err);
    if (rc != EM_OK)
        return rc;
    em_expfmt_parser_t p;
    em_expfmt_parser_init(&p, body, len, fmt);
    const em_scrape_config_t *sc = l->sc;
    uint64_t iter = l->iter;
    for (;;) {
        int kind = em_expfmt_next(&p);
        if (kind == EM_EXPFMT_EOF)
            break;
        if (kind < 0) {
            em_counter_inc(m.parse_fail);
            rc = em_err_set(err, kind, "%s", em_expfmt_error(&p));
            goto out;
        }
        if (kind == EM_EXPFMT_TYPE || kind == EM_EXPFMT_HELP || kind == EM_EXPFMT_UNIT) {
            meta_entry_line(&p, kind, pm, meta_a);
            continue;
        }
        if (kind != EM_EXPFMT_SERIES)
            continue;
        const char *raw;
        size_t rn;
        bool has_ts;
        int64_t ts;
        double v;
        em_expfmt_series(&p, &raw, &rn, &has_ts, &ts, &v);
        l->samples_scraped++;
        uint64_t h = em_hash64(raw, rn);
        cache_entry_t *e = cache_get(&l->cache, h, raw, rn);
        if (!e) {
            rc = new_entry(l, &p, h, raw, rn, &e, err);
            if (rc != EM_OK)
                goto out;
            if (!e->dropped)
                l->series_added++;
        }
        if (e->seen_iter == iter) { /* the same series twice in one page */
            em_counter_inc(m.dup);
            continue;
        }
        e->seen_iter = iter;
        if (e->dropped)
            continue;
        bool explicit_ts = sc->honor_timestamps && has_ts;
        e->tracked = !explicit_ts || sc->track_timestamps_staleness;
        if (++l->samples_post > sc->sample_limit && sc->sample_limit) {
            em_counter_inc(m.sample_limit);
            rc = em_err_set(err, EM_ELIMIT, "sample limit exceeded");
            goto out;
        }
        add_series(l, &e->ls, &e->ref, explicit_ts ? ts : t_ms, v);
    }
    rc = EM_OK;
out:
    em_expfmt_parser_fini(&p);
    return rc;
}

/* After the page: stale markers for what the previous scrape appended and this one did not (all of it
 * when the scrape failed); entries absent from a good page leave the cache. */
static void staleness(scrape_loop_t *l, int64_t t_ms, bool ok)
{
    scrape_cache_t *c = &l->cache;
    double stale = stale_nan();
    for (size_t i = 0; i < c->cap;) {
        cache_entry_t *e = c->slots[i];
        if (!e) {
            i++;
            continue;
        }
        bool appended_now = ok && e->seen_iter == l->iter && !e->dropped;
        if (!appended_now && e->tracked && !e->dropped && l->prev_iter && e->appended_iter == l->prev_iter)
            add_series(l, &e->ls, &e->ref, t_ms, stale);
        if (appended_now)
            e->appended_iter = l->iter;
        if (ok && e->seen_iter != l->iter) {
            cache_del_slot(c, i); /* something else may now sit in slot i: look at it again */
            continue;
        }
        i++;
    }
}

static void add_synthetic(scrape_loop_t *l, int64_t t_ms, bool up, double dur_s)
{
    double v[SYN_N] = {up ? 1 : 0, dur_s, (double)l->samples_scraped, (double)l->samples_post,
                       (double)l->series_added};
    for (int s = 0; s < SYN_N; s++)
        add_series(l, &l->synth[s], &l->synth_ref[s], t_ms, v[s]);
}

int scrape_loop_append(scrape_loop_t *l, const char *body, size_t len, const char *ct, int64_t t_ms,
                       double dur_s, int fetch_rc, const char *fetch_err, pthread_mutex_t *meta_mu,
                       em_metastore_t *store, em_err_t *err)
{
    assert(!atomic_load(&l->busy));
    em_batch_reset(l->batch);
    l->n_slots = 0;
    em_arena_reset(&l->scratch);
    l->iter++;
    l->samples_scraped = l->samples_post = l->series_added = 0;
    int rc = fetch_rc;
    if (rc != EM_OK) {
        em_err_set(err, rc, "%s", fetch_err ? fetch_err : "scrape failed");
    } else {
        page_meta_t pm = {NULL, 0, 0, 0};
        em_arena_t meta_a;
        em_arena_init(&meta_a);
        rc = parse_page(l, body, len, ct, t_ms, &pm, &meta_a, err);
        if (rc == EM_OK) {
            meta_publish(l, &pm, &meta_a, meta_mu, store);
        } else {
            em_arena_fini(&meta_a);
            free(pm.v);
        }
    }
    if (rc != EM_OK) { /* Prometheus rolls the append back and appends an empty page */
        em_batch_reset(l->batch);
        l->n_slots = 0;
        l->samples_post = l->series_added = 0;
    }
    staleness(l, t_ms, rc == EM_OK);
    add_synthetic(l, t_ms, rc == EM_OK, dur_s);
    l->prev_iter = l->iter;
    return rc;
}

void scrape_loop_stale_all(scrape_loop_t *l, int64_t t_ms)
{
    assert(!atomic_load(&l->busy));
    em_batch_reset(l->batch);
    l->n_slots = 0;
    double stale = stale_nan();
    scrape_cache_t *c = &l->cache;
    for (size_t i = 0; i < c->cap; i++) {
        cache_entry_t *e = c->slots[i];
        if (e && e->tracked && !e->dropped && l->prev_iter && e->appended_iter == l->prev_iter)
            add_series(l, &e->ls, &e->ref, t_ms, stale);
    }
    if (l->prev_iter)
        for (int s = 0; s < SYN_N; s++)
            add_series(l, &l->synth[s], &l->synth_ref[s], t_ms, stale);
}
