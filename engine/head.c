/* Design: see head.h. This file: lifecycle, the shard threads and their queues, batches. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/duration.h"
#include "base/log.h"
#include "base/mem.h"
#include "engine/head_int.h"

#define DEFAULT_CHUNK_RANGE_MS (2 * 3600 * 1000LL)
#define DEFAULT_QUEUE_PARTS 256
#define MAX_PARTS_PER_ROUND 64 /* group commit: parts applied before one WAL write */

/* ---- synchronous completions ---- */

static void sync_init(head_sync_t *s, int n)
{
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->remaining = n;
}

static void sync_done(head_sync_t *s)
{
    pthread_mutex_lock(&s->mu);
    if (--s->remaining == 0)
        pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void sync_wait(head_sync_t *s)
{
    pthread_mutex_lock(&s->mu);
    while (s->remaining > 0)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static void sync_fini(head_sync_t *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

/* ---- batches ---- */

em_batch_t *em_batch_new(void)
{
    em_batch_t *b = EM_NEW(em_batch_t);
    em_arena_init(&b->arena);
    return b;
}

void em_batch_free(em_batch_t *b)
{
    if (!b)
        return;
    em_arena_fini(&b->arena);
    free(b->series);
    free(b->samples);
    free(b->sts);
    free(b->status);
    free(b->order);
    free(b->parts);
    free(b);
}

void em_batch_reset(em_batch_t *b)
{
    em_arena_reset(&b->arena);
    if (b->sts)
        memset(b->sts, 0, b->n_samples * sizeof(*b->sts));
    b->n_series = 0;
    b->n_samples = 0;
}

uint32_t em_batch_add_series(em_batch_t *b, const em_labels_t *ls, bool copy, em_series_ref_t hint)
{
    em_grow((void **)&b->series, &b->cap_series, b->n_series + 1, sizeof(*b->series));
    struct bseries *s = &b->series[b->n_series];
    s->ls = copy ? em_labels_copy(ls, &b->arena) : *ls;
    s->hash = em_labels_hash(ls);
    s->ref = hint;
    s->first = (uint32_t)b->n_samples;
    s->n = 0;
    s->shard = 0;
    return (uint32_t)b->n_series++;
}

void em_batch_add_sample(em_batch_t *b, int64_t t_ms, double v)
{
    assert(b->n_series > 0);
    if (b->n_samples == b->cap_samples) {
        size_t cap = b->cap_samples ? b->cap_samples * 2 : 256;
        b->samples = em_realloc(b->samples, cap * sizeof(*b->samples));
        b->status = em_realloc(b->status, cap);
        if (b->sts)
            b->sts = em_realloc(b->sts, cap * sizeof(*b->sts));
        b->cap_samples = cap;
    }
    b->samples[b->n_samples].t = t_ms;
    b->samples[b->n_samples].v = v;
    if (b->sts)
        b->sts[b->n_samples] = 0;
    b->n_samples++;
    b->series[b->n_series - 1].n++;
}

void em_batch_add_sample_st(em_batch_t *b, int64_t st_ms, int64_t t_ms, double v)
{
    em_batch_add_sample(b, t_ms, v);
    if (st_ms == 0)
        return;
    if (!b->sts)
        b->sts = em_calloc(b->cap_samples, sizeof(*b->sts));
    b->sts[b->n_samples - 1] = st_ms;
}

size_t em_batch_n_series(const em_batch_t *b)
{
    return b->n_series;
}

size_t em_batch_n_samples(const em_batch_t *b)
{
    return b->n_samples;
}

const em_batch_result_t *em_batch_result(const em_batch_t *b)
{
    return &b->result;
}

em_sample_status_t em_batch_sample_status(const em_batch_t *b, size_t sample)
{
    return (em_sample_status_t)b->status[sample];
}

uint32_t em_batch_sample_series(const em_batch_t *b, size_t sample)
{
    /* Series own contiguous sample ranges in order: binary search. */
    size_t lo = 0, hi = b->n_series;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (b->series[mid].first <= sample)
            lo = mid;
        else
            hi = mid;
    }
    while (lo + 1 < b->n_series && b->series[lo].n == 0 && b->series[lo + 1].first <= sample)
        lo++;
    return (uint32_t)lo;
}

em_series_ref_t em_batch_series_ref(const em_batch_t *b, uint32_t series)
{
    return b->series[series].ref;
}

em_labels_t em_batch_series_labels(const em_batch_t *b, uint32_t series)
{
    return b->series[series].ls;
}

const char *em_sample_status_str(em_sample_status_t s)
{
    switch (s) {
    case EM_SAMPLE_OK: return "ok";
    case EM_SAMPLE_DUP_IGNORED: return "duplicate sample ignored";
    case EM_SAMPLE_OOO: return "out of order sample";
    case EM_SAMPLE_DUP: return "duplicate sample for timestamp";
    case EM_SAMPLE_BOUNDS: return "out of bounds";
    case EM_SAMPLE_FAILED: return "write-ahead log failure";
    }
    return "unknown";
}

static void batch_finish(em_batch_t *b)
{
    em_batch_result_t *r = &b->result;
    r->appended = atomic_load(&b->r_appended);
    r->out_of_order = atomic_load(&b->r_ooo);
    r->duplicate = atomic_load(&b->r_dup);
    r->out_of_bounds = atomic_load(&b->r_bounds);
    r->series_created = atomic_load(&b->r_created);
    r->wal_error = atomic_load(&b->r_wal_error);
    int64_t fe = atomic_load(&b->r_first_error);
    r->first_error_sample = fe == INT64_MAX ? -1 : fe;
    b->done(b, b->done_arg);
}

/* ---- queues ---- */

static int enqueue(shard_t *s, part_t *p)
{
    pthread_mutex_lock(&s->mu);
    while (s->len == s->cap)
        pthread_cond_wait(&s->not_full, &s->mu);
    s->ring[(s->head + s->len) % s->cap] = p;
    s->len++;
    pthread_cond_signal(&s->not_empty);
    pthread_mutex_unlock(&s->mu);
    return EM_OK;
}

/* Take up to 'max' parts, waiting for at least one. */
static size_t dequeue(shard_t *s, part_t **out, size_t max)
{
    pthread_mutex_lock(&s->mu);
    while (s->len == 0)
        pthread_cond_wait(&s->not_empty, &s->mu);
    size_t n = 0;
    while (s->len > 0 && n < max) {
        out[n++] = s->ring[s->head];
        s->head = (s->head + 1) % s->cap;
        s->len--;
        if (out[n - 1]->kind != PART_BATCH)
            break; /* control parts run alone, after the batches before them */
    }
    pthread_cond_broadcast(&s->not_full);
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- the shard thread ---- */

static void min_atomic(atomic_int_least64_t *a, int64_t v)
{
    int64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    while (v < cur && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

static void max_atomic(atomic_int_least64_t *a, int64_t v)
{
    int64_t cur = atomic_load_explicit(a, memory_order_relaxed);
    while (v > cur && !atomic_compare_exchange_weak(a, &cur, v))
        ;
}

/* A new series is worth creating unless it has samples and all of them are out of bounds. */
static bool creation_worthwhile(shard_t *s, const em_batch_t *b, const struct bseries *bs)
{
    if (bs->n == 0)
        return true;
    int64_t mv = min_valid_time(s);
    for (uint32_t i = bs->first; i < bs->first + bs->n; i++)
        if (b->samples[i].t >= mv)
            return true;
    return false;
}

static void apply_batch_part(shard_t *s, part_t *p, uint64_t *cnt)
{
    em_batch_t *b = p->b;
    int64_t first_err = INT64_MAX, mint = INT64_MAX, maxt = INT64_MIN;
    for (uint32_t k = 0; k < p->n; k++) {
        struct bseries *bs = &b->series[p->idx[k]];
        hseries_t *se = shard_lookup(s, &bs->ls, bs->hash, bs->ref);
        if (!se && !creation_worthwhile(s, b, bs)) {
            /* Every sample is out of bounds: Prometheus checks bounds before creating a series. */
            for (uint32_t i = bs->first; i < bs->first + bs->n; i++)
                b->status[i] = EM_SAMPLE_BOUNDS;
            cnt[3] += bs->n;
            if (bs->n && (int64_t)bs->first < first_err)
                first_err = bs->first;
            bs->ref = 0;
            continue;
        }
        if (!se) {
            se = shard_create(s, &bs->ls, bs->hash);
            cnt[4]++;
            wal_log_series(s, se);
        }
        bs->ref = EM_REF_MAKE(s->id, se->ref);
        for (uint32_t i = bs->first; i < bs->first + bs->n; i++) {
            int64_t start = b->sts ? b->sts[i] : 0;
            em_sample_status_t st = series_append(s, se, b->samples[i].t, b->samples[i].v, start);
            b->status[i] = (uint8_t)st;
            switch (st) {
            case EM_SAMPLE_OK:
                wal_log_sample(s, se->ref, b->samples[i].t, b->samples[i].v, start);
                if (b->samples[i].t < mint)
                    mint = b->samples[i].t;
                if (b->samples[i].t > maxt)
                    maxt = b->samples[i].t;
                cnt[0]++;
                break;
            case EM_SAMPLE_DUP_IGNORED: cnt[0]++; break;
            case EM_SAMPLE_OOO: cnt[1]++; break;
            case EM_SAMPLE_DUP: cnt[2]++; break;
            default: cnt[3]++; break;
            }
            if (st >= EM_SAMPLE_OOO && (int64_t)i < first_err)
                first_err = (int64_t)i;
        }
    }
    if (first_err != INT64_MAX)
        min_atomic(&b->r_first_error, first_err);
    if (mint != INT64_MAX) {
        min_atomic(&s->min_t, mint);
        max_atomic(&s->max_t, maxt);
        max_atomic(&s->h->max_t, maxt);
    }
}

static void complete_part(part_t *p, int wal_rc)
{
    em_batch_t *b = p->b;
    if (wal_rc != EM_OK) {
        int expected = EM_OK;
        atomic_compare_exchange_strong(&b->r_wal_error, &expected, wal_rc);
        for (uint32_t k = 0; k < p->n; k++) {
            struct bseries *bs = &b->series[p->idx[k]];
            for (uint32_t i = bs->first; i < bs->first + bs->n; i++)
                b->status[i] = EM_SAMPLE_FAILED;
        }
    }
    if (atomic_fetch_sub(&b->pending, 1) == 1)
        batch_finish(b);
}

static void run_batches(shard_t *s, part_t **parts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t cnt[5] = {0};
        apply_batch_part(s, parts[i], cnt);
        em_batch_t *b = parts[i]->b;
        atomic_fetch_add(&b->r_appended, cnt[0]);
        atomic_fetch_add(&b->r_ooo, cnt[1]);
        atomic_fetch_add(&b->r_dup, cnt[2]);
        atomic_fetch_add(&b->r_bounds, cnt[3]);
        atomic_fetch_add(&b->r_created, cnt[4]);
        atomic_fetch_add_explicit(&s->c.appended, cnt[0], memory_order_relaxed);
        atomic_fetch_add_explicit(&s->c.rejected_ooo, cnt[1], memory_order_relaxed);
        atomic_fetch_add_explicit(&s->c.rejected_dup, cnt[2], memory_order_relaxed);
        atomic_fetch_add_explicit(&s->c.rejected_bounds, cnt[3], memory_order_relaxed);
    }
    em_err_t err;
    int rc = wal_commit(s, &err);
    for (size_t i = 0; i < n; i++)
        complete_part(parts[i], rc);
}

static void run_truncate(shard_t *s, part_t *p)
{
    em_err_t err;
    shard_truncate(s, p->mint);
    p->rc = EM_OK;
    p->wal_cut = false;
    if (s->wal) {
        p->rc = wal_commit(s, &err);
        if (p->rc == EM_OK)
            p->rc = em_wal_cut(s->wal, &p->wal_closed_seg, &err);
        p->wal_cut = p->rc == EM_OK;
        if (p->rc != EM_OK)
            em_error("head", "WAL cut for truncation failed", "shard=%d err=%s", s->id, em_q(err.msg));
    }
    sync_done(p->sync);
}

static void *shard_main(void *arg)
{
    shard_t *s = arg;
    em_rcu_thread_online();
    char name[16];
    snprintf(name, sizeof(name), "ember-shard%d", s->id);
    pthread_setname_np(pthread_self(), name);

    s->replay_rc = shard_replay(s, &s->replay_err);
    if (s->replay_rc == EM_OK && s->wal_dir) {
        em_wal_opts_t wo = {.segment_bytes = s->h->o.wal_segment_bytes, .compress = s->h->o.wal_compression};
        s->replay_rc = em_wal_open(s->wal_dir, &wo, &s->wal, &s->replay_err);
    }
    sync_done(&s->h->ready);

    part_t *parts[MAX_PARTS_PER_ROUND];
    bool stop = false;
    while (!stop) {
        size_t n = dequeue(s, parts, MAX_PARTS_PER_ROUND);
        part_t *last = parts[n - 1];
        if (last->kind == PART_BATCH) {
            run_batches(s, parts, n);
            continue;
        }
        if (n > 1)
            run_batches(s, parts, n - 1);
        if (last->kind == PART_TRUNCATE)
            run_truncate(s, last);
        else
            stop = true;
    }
    em_err_t err;
    if (s->wal)
        wal_commit(s, &err);
    em_rcu_thread_offline();
    return NULL;
}

/* ---- metrics ---- */

static uint64_t sum_counter(em_head_t *h, size_t offset)
{
    uint64_t t = 0;
    for (int i = 0; i < h->n_shards; i++)
        t += atomic_load_explicit((atomic_uint_least64_t *)((char *)&h->shards[i].c + offset), memory_order_relaxed);
    return t;
}

#define SUM(h, field) sum_counter(h, offsetof(shard_counters_t, field))

static void collect_rejected(em_buf_t *out, void *arg)
{
    em_head_t *h = arg;
    em_buf_printf(out, "ember_head_samples_rejected_total{reason=\"out_of_order\"} %llu\n",
                  (unsigned long long)SUM(h, rejected_ooo));
    em_buf_printf(out, "ember_head_samples_rejected_total{reason=\"duplicate\"} %llu\n",
                  (unsigned long long)SUM(h, rejected_dup));
    em_buf_printf(out, "ember_head_samples_rejected_total{reason=\"out_of_bounds\"} %llu\n",
                  (unsigned long long)SUM(h, rejected_bounds));
}

static void collect_simple(em_buf_t *out, const char *name, uint64_t v)
{
    em_buf_printf(out, "%s %llu\n", name, (unsigned long long)v);
}

static void collect_series(em_buf_t *out, void *arg)
{
    collect_simple(out, "ember_head_series", SUM((em_head_t *)arg, series));
}

static void collect_chunks(em_buf_t *out, void *arg)
{
    collect_simple(out, "ember_head_chunks", SUM((em_head_t *)arg, chunks));
}

static void collect_appended(em_buf_t *out, void *arg)
{
    collect_simple(out, "ember_head_samples_appended_total", SUM((em_head_t *)arg, appended));
}

static void collect_created(em_buf_t *out, void *arg)
{
    collect_simple(out, "ember_head_series_created_total", SUM((em_head_t *)arg, series_created));
}

static void collect_removed(em_buf_t *out, void *arg)
{
    collect_simple(out, "ember_head_series_removed_total", SUM((em_head_t *)arg, series_removed));
}

static void collect_bytes_per_series(em_buf_t *out, void *arg)
{
    em_head_stats_t st;
    em_head_stats((em_head_t *)arg, &st);
    em_buf_printf(out, "ember_head_bytes_per_series %.1f\n", st.series ? (double)st.bytes / (double)st.series : 0.0);
}

static void collect_head_bytes(em_buf_t *out, void *arg)
{
    em_head_stats_t st;
    em_head_stats((em_head_t *)arg, &st);
    collect_simple(out, "ember_head_bytes", st.bytes);
}

static void collect_time(em_buf_t *out, void *arg)
{
    em_head_stats_t st;
    em_head_stats((em_head_t *)arg, &st);
    if (st.series) {
        em_buf_printf(out, "ember_head_min_time %lld\n", (long long)st.min_time_ms);
        em_buf_printf(out, "ember_head_max_time %lld\n", (long long)st.max_time_ms);
    }
}

static const struct {
    const char *name, *help;
    em_metric_type_t type;
    em_collect_fn fn;
} head_metrics[] = {
    {"ember_head_samples_rejected_total", "Samples the head refused, by reason.", EM_METRIC_COUNTER, collect_rejected},
    {"ember_head_series", "Series in the head.", EM_METRIC_GAUGE, collect_series},
    {"ember_head_chunks", "Chunks in the head.", EM_METRIC_GAUGE, collect_chunks},
    {"ember_head_samples_appended_total", "Samples appended to the head.", EM_METRIC_COUNTER, collect_appended},
    {"ember_head_series_created_total", "Series created in the head.", EM_METRIC_COUNTER, collect_created},
    {"ember_head_series_removed_total", "Series removed from the head.", EM_METRIC_COUNTER, collect_removed},
    {"ember_head_bytes_per_series", "Estimated heap bytes per head series (series, chunks, index).",
     EM_METRIC_GAUGE, collect_bytes_per_series},
    {"ember_head_bytes", "Estimated heap bytes of the head.", EM_METRIC_GAUGE, collect_head_bytes},
    {"ember_head_min_time", "Lowest timestamp in the head (ms).", EM_METRIC_GAUGE, collect_time},
};

/* ---- lifecycle ---- */

extern int head_querier_open(em_queryable_t *self, int64_t mint, int64_t maxt, em_querier_t **out, em_err_t *err);

static int resolve_shards(const em_head_opts_t *o, const char *wal_root, int *n, em_err_t *err)
{
    int want = o->n_shards > 0 ? o->n_shards : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (want < 1)
        want = 1;
    if (want > 256)
        want = 256;
    if (!wal_root) {
        *n = want;
        return EM_OK;
    }
    int have = 0;
    int rc = em_wal_read_shard_count(wal_root, &have, err);
    if (rc != EM_OK)
        return rc;
    if (have > 0 && have != want)
        em_warn("head", "The WAL was written with another shard count; keeping it until the WAL is empty",
                "wal_shards=%d requested=%d", have, want);
    *n = have > 0 ? have : want;
    if (have == 0)
        rc = em_wal_write_shard_count(wal_root, *n, err);
    return rc;
}

static void shard_init(em_head_t *h, shard_t *s, int id)
{
    s->h = h;
    s->id = id;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->not_empty, NULL);
    pthread_cond_init(&s->not_full, NULL);
    s->cap = h->o.queue_parts;
    s->ring = em_calloc(s->cap, sizeof(part_t *));
    s->ix = em_memindex_new();
    atomic_init(&s->min_t, INT64_MAX);
    atomic_init(&s->max_t, INT64_MIN);
    if (h->wal_root) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s/%03d", h->wal_root, id);
        s->wal_dir = em_strdup(dir);
    }
}

int em_head_open(const em_head_opts_t *o, em_head_t **out, em_err_t *err)
{
    em_head_t *h = EM_NEW(em_head_t);
    int rc = EM_OK;
    h->o = *o;
    if (!h->o.chunk_range_ms)
        h->o.chunk_range_ms = DEFAULT_CHUNK_RANGE_MS;
    if (!h->o.queue_parts)
        h->o.queue_parts = DEFAULT_QUEUE_PARTS;
    h->wal_root = o->wal_dir ? em_strdup(o->wal_dir) : NULL;
    atomic_init(&h->min_valid_t, INT64_MIN);
    atomic_init(&h->max_t, INT64_MIN);
    atomic_init(&h->closing, false);
    h->queryable.querier = head_querier_open;
    pthread_mutex_init(&h->truncate_mu, NULL);
    rc = resolve_shards(o, h->wal_root, &h->n_shards, err);
    if (rc != EM_OK) {
        free(h->wal_root);
        free(h);
        return rc;
    }
    h->shards = em_calloc((size_t)h->n_shards, sizeof(shard_t));
    for (int i = 0; i < h->n_shards; i++)
        shard_init(h, &h->shards[i], i);
    h->n_alloc = h->n_shards;

    int64_t t0 = em_mono_ns();
    if (h->wal_root)
        em_info("head", "Replaying WAL", "dir=%s shards=%d", em_q(h->wal_root), h->n_shards);
    sync_init(&h->ready, h->n_shards);
    int started = 0;
    for (int i = 0; i < h->n_shards; i++) {
        if (pthread_create(&h->shards[i].th, NULL, shard_main, &h->shards[i]) != 0)
            break;
        started++;
    }
    for (int i = started; i < h->n_shards; i++)
        sync_done(&h->ready);
    sync_wait(&h->ready);
    sync_fini(&h->ready);
    if (started < h->n_shards)
        rc = em_err_set(err, EM_EIO, "cannot start head shard threads");
    for (int i = 0; i < h->n_shards && rc == EM_OK; i++) {
        if (h->shards[i].replay_rc != EM_OK) {
            rc = h->shards[i].replay_rc;
            if (err)
                *err = h->shards[i].replay_err;
        }
    }
    h->n_shards = started; /* close() joins only what runs */
    if (rc != EM_OK) {
        em_head_close(h);
        return rc;
    }
    if (h->wal_root) {
        em_head_stats_t st;
        em_head_stats(h, &st);
        em_info("head", "WAL replay completed", "series=%llu samples=%llu duration=%.3fs",
                (unsigned long long)st.series, (unsigned long long)st.wal_replay_samples,
                (double)(em_mono_ns() - t0) / 1e9);
    }
    for (size_t i = 0; i < EM_ARRAY_LEN(head_metrics); i++)
        em_metrics_collector_add(head_metrics[i].name, head_metrics[i].help, head_metrics[i].type,
                                 head_metrics[i].fn, h);
    *out = h;
    return EM_OK;
}

void em_head_close(em_head_t *h)
{
    if (!h)
        return;
    em_rcu_thread_online(); /* the index's free waits for RCU callbacks, which needs a registered thread */
    atomic_store(&h->closing, true);
    for (size_t i = 0; i < EM_ARRAY_LEN(head_metrics); i++)
        em_metrics_collector_remove(head_metrics[i].fn, h);
    part_t stop = {.kind = PART_STOP};
    for (int i = 0; i < h->n_shards; i++) {
        enqueue(&h->shards[i], &stop);
        pthread_join(h->shards[i].th, NULL);
    }
    /* Readers are gone (no querier may be open): wait for pending call_rcu frees, then free the rest
     * directly. */
    urcu_memb_barrier();
    for (int i = 0; i < h->n_alloc; i++) {
        shard_t *s = &h->shards[i];
        em_wal_close(s->wal);
        shard_free_all(s);
        em_memindex_free(s->ix);
        em_buf_fini(&s->wal_series);
        em_buf_fini(&s->wal_samples);
        em_buf_fini(&s->wal_sts);
        free(s->ring);
        free(s->wal_dir);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->not_empty);
        pthread_cond_destroy(&s->not_full);
    }
    urcu_memb_barrier();
    pthread_mutex_destroy(&h->truncate_mu);
    free(h->shards);
    free(h->wal_root);
    free(h);
}

/* ---- appending ---- */

int em_head_append(em_head_t *h, em_batch_t *b, em_batch_done_fn done, void *arg)
{
    if (atomic_load(&h->closing))
        return EM_ESTATE;
    b->done = done;
    b->done_arg = arg;
    atomic_store(&b->r_appended, 0);
    atomic_store(&b->r_ooo, 0);
    atomic_store(&b->r_dup, 0);
    atomic_store(&b->r_bounds, 0);
    atomic_store(&b->r_created, 0);
    atomic_store(&b->r_wal_error, EM_OK);
    atomic_store(&b->r_first_error, INT64_MAX);
    if (b->n_samples == 0 && b->n_series == 0) {
        batch_finish(b);
        return EM_OK;
    }
    /* Group series by shard (counting sort), one part per shard that has any. */
    int n = h->n_shards;
    uint32_t counts[257] = {0};
    for (size_t i = 0; i < b->n_series; i++) {
        b->series[i].shard = (uint16_t)(b->series[i].hash % (uint64_t)n);
        counts[b->series[i].shard + 1]++;
    }
    for (int i = 0; i < n; i++)
        counts[i + 1] += counts[i];
    em_grow((void **)&b->order, &b->cap_order, b->n_series, sizeof(uint32_t));
    uint32_t pos[256];
    memcpy(pos, counts, sizeof(uint32_t) * (size_t)n);
    for (size_t i = 0; i < b->n_series; i++)
        b->order[pos[b->series[i].shard]++] = (uint32_t)i;
    em_grow((void **)&b->parts, &b->cap_parts, (size_t)n, sizeof(part_t));
    int n_parts = 0;
    for (int i = 0; i < n; i++) {
        if (counts[i + 1] == counts[i])
            continue;
        b->parts[n_parts++] = (part_t){.kind = PART_BATCH, .b = b, .idx = b->order + counts[i],
                                       .n = counts[i + 1] - counts[i], .shard = i};
    }
    atomic_store(&b->pending, n_parts);
    /* Read the parts' shards before enqueueing: once the last part is queued the batch may complete and
     * be reused by its producer. */
    int shard_of[256];
    for (int k = 0; k < n_parts; k++)
        shard_of[k] = b->parts[k].shard;
    part_t *parts = b->parts;
    for (int k = 0; k < n_parts; k++)
        enqueue(&h->shards[shard_of[k]], &parts[k]);
    return EM_OK;
}

static void wake_waiter(em_batch_t *b, void *arg)
{
    sync_done(arg);
}

int em_head_append_wait(em_head_t *h, em_batch_t *b)
{
    head_sync_t s;
    sync_init(&s, 1);
    int rc = em_head_append(h, b, wake_waiter, &s);
    if (rc == EM_OK) {
        sync_wait(&s);
        rc = b->result.wal_error;
    }
    sync_fini(&s);
    return rc;
}

/* ---- maintenance ---- */

int em_head_truncate(em_head_t *h, int64_t mint_ms, em_err_t *err)
{
    pthread_mutex_lock(&h->truncate_mu);
    max_atomic(&h->min_valid_t, mint_ms);
    head_sync_t s;
    sync_init(&s, h->n_shards);
    part_t *parts = em_calloc((size_t)h->n_shards, sizeof(part_t));
    for (int i = 0; i < h->n_shards; i++) {
        parts[i] = (part_t){.kind = PART_TRUNCATE, .mint = mint_ms, .sync = &s};
        enqueue(&h->shards[i], &parts[i]);
    }
    sync_wait(&s);
    sync_fini(&s);
    int rc = EM_OK;
    /* The shards cut their WAL segments; write the checkpoints here, off the ingestion threads. */
    for (int i = 0; i < h->n_shards; i++) {
        if (parts[i].rc != EM_OK && rc == EM_OK)
            rc = em_err_set(err, parts[i].rc, "truncating shard %d failed", i);
        if (parts[i].wal_cut) {
            int crc = shard_checkpoint(&h->shards[i], parts[i].wal_closed_seg, err);
            if (crc != EM_OK && rc == EM_OK)
                rc = crc;
        }
    }
    free(parts);
    pthread_mutex_unlock(&h->truncate_mu);
    return rc;
}

void em_head_stats(em_head_t *h, em_head_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    st->n_shards = h->n_shards;
    st->series = SUM(h, series);
    st->chunks = SUM(h, chunks);
    st->samples_appended = SUM(h, appended);
    st->series_created = SUM(h, series_created);
    st->series_removed = SUM(h, series_removed);
    st->wal_replay_samples = SUM(h, replay_samples);
    st->bytes = SUM(h, bytes);
    st->min_time_ms = INT64_MAX;
    st->max_time_ms = INT64_MIN;
    for (int i = 0; i < h->n_shards; i++) {
        int64_t a = atomic_load(&h->shards[i].min_t), b = atomic_load(&h->shards[i].max_t);
        if (a < st->min_time_ms)
            st->min_time_ms = a;
        if (b > st->max_time_ms)
            st->max_time_ms = b;
        st->bytes += em_memindex_bytes(h->shards[i].ix);
    }
}

int em_head_n_shards(const em_head_t *h)
{
    return h->n_shards;
}

em_queryable_t *em_head_queryable(em_head_t *h)
{
    return &h->queryable;
}
