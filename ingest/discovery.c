/* Design: see discovery.h */
#include "ingest/discovery.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yaml.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"

#define CHECK_EVERY_MS 1000

typedef struct sd_file {
    char *path;
    struct stat st; /* when last read (successfully or not) */
    int64_t read_ms;
    bool seen; /* matched by the latest glob */
    em_arena_t arena;
    em_target_group_t *groups; /* last good content, in arena */
    size_t n_groups;
} sd_file_t;

typedef struct sd_pattern {
    char *pattern;
    int64_t refresh_ms;
} sd_pattern_t;

struct em_discovery {
    em_arena_t static_arena;
    em_target_group_t *static_groups;
    size_t n_static;
    sd_pattern_t *patterns;
    size_t n_patterns;
    sd_file_t **files; /* sorted by path */
    size_t n_files, cap_files;
    em_target_group_t *all; /* static then files; rebuilt on change */
    size_t n_all, cap_all;
    int64_t checked_ms;
    uint64_t version;
    bool dirty;
};

static em_counter_t *read_errors(void)
{
    return em_counter_new("ember_sd_file_read_errors_total", "The number of file SD read errors.", NULL);
}

static em_labels_t labels_sorted(em_label_t *v, size_t n)
{
    em_labels_sort(v, n);
    return (em_labels_t){v, n};
}

static em_labels_t address_set(em_arena_t *a, const char *addr)
{
    em_label_t *l = em_arena_alloc(a, sizeof(em_label_t));
    l->name = "__address__";
    l->value = em_arena_strdup(a, addr);
    return (em_labels_t){l, 1};
}

em_discovery_t *em_discovery_new(const em_scrape_config_t *sc)
{
    em_discovery_t *d = EM_NEW(em_discovery_t);
    em_arena_init(&d->static_arena);
    em_arena_t *a = &d->static_arena;
    d->static_groups = em_calloc(sc->n_static_configs ? sc->n_static_configs : 1, sizeof(em_target_group_t));
    for (size_t i = 0; i < sc->n_static_configs; i++) {
        const em_static_config_t *st = sc->static_configs[i];
        em_target_group_t *g = &d->static_groups[d->n_static++];
        char src[32];
        snprintf(src, sizeof(src), "%zu", i);
        g->source = em_arena_strdup(a, src);
        g->targets = em_arena_alloc(a, sizeof(em_labels_t) * (st->targets.n ? st->targets.n : 1));
        for (size_t k = 0; k < st->targets.n; k++)
            g->targets[g->n_targets++] = address_set(a, st->targets.v[k]);
        em_label_t *lv = em_arena_alloc(a, sizeof(em_label_t) * (st->labels.n ? st->labels.n : 1));
        for (size_t k = 0; k < st->labels.n; k++) {
            lv[k].name = em_arena_strdup(a, st->labels.v[k].name);
            lv[k].value = em_arena_strdup(a, st->labels.v[k].value);
        }
        g->labels = labels_sorted(lv, st->labels.n);
    }
    for (size_t i = 0; i < sc->n_file_sd_configs; i++)
        d->n_patterns += sc->file_sd_configs[i]->files.n;
    d->patterns = em_calloc(d->n_patterns ? d->n_patterns : 1, sizeof(sd_pattern_t));
    size_t p = 0;
    for (size_t i = 0; i < sc->n_file_sd_configs; i++) {
        const em_file_sd_config_t *f = sc->file_sd_configs[i];
        for (size_t k = 0; k < f->files.n; k++) {
            d->patterns[p].pattern = em_strdup(f->files.v[k]);
            d->patterns[p].refresh_ms = f->refresh_interval_ms > 0 ? f->refresh_interval_ms : 300000;
            p++;
        }
    }
    d->checked_ms = INT64_MIN;
    d->dirty = true;
    return d;
}

static void file_free(sd_file_t *f)
{
    em_arena_fini(&f->arena);
    free(f->path);
    free(f);
}

void em_discovery_free(em_discovery_t *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_files; i++)
        file_free(d->files[i]);
    free(d->files);
    for (size_t i = 0; i < d->n_patterns; i++)
        free(d->patterns[i].pattern);
    free(d->patterns);
    free(d->static_groups);
    free(d->all);
    em_arena_fini(&d->static_arena);
    free(d);
}

/* ---- parsing one file ---- */

typedef struct parse_ctx {
    yaml_document_t *doc;
    const char *path;
    em_arena_t *a;
    em_err_t *err;
    bool json;
} parse_ctx_t;

static int fail_at(parse_ctx_t *c, const yaml_node_t *n, const char *fmt, const char *arg)
{
    char msg[EM_ERR_MSG_MAX];
    snprintf(msg, sizeof(msg), fmt, arg);
    return em_err_set(c->err, EM_EINVAL, "%s:%d:%d: %s", c->path, n ? (int)n->start_mark.line + 1 : 0,
                      n ? (int)n->start_mark.column + 1 : 0, msg);
}

static const char *scalar(parse_ctx_t *c, const yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    return em_arena_strndup(c->a, (const char *)n->data.scalar.value, n->data.scalar.length);
}

static int parse_targets(parse_ctx_t *c, yaml_node_t *n, em_target_group_t *g)
{
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0)
        return EM_OK; /* null */
    if (n->type != YAML_SEQUENCE_NODE)
        return fail_at(c, n, "%s", "targets must be a list of strings");
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    g->targets = em_arena_alloc(c->a, sizeof(em_labels_t) * (cnt ? cnt : 1));
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *t = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
        const char *s = scalar(c, t);
        if (!s)
            return fail_at(c, t, "%s", "targets must be a list of strings");
        g->targets[g->n_targets++] = address_set(c->a, s);
    }
    return EM_OK;
}

static int parse_labels(parse_ctx_t *c, yaml_node_t *n, em_label_t *extra, em_target_group_t *g)
{
    size_t cnt = 0;
    if (n && n->type == YAML_MAPPING_NODE)
        cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    else if (n && !(n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0))
        return fail_at(c, n, "%s", "labels must be a map of label names to strings");
    em_label_t *v = em_arena_alloc(c->a, sizeof(em_label_t) * (cnt + 1));
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_pair_t *p = &n->data.mapping.pairs.start[i];
        yaml_node_t *kn = yaml_document_get_node(c->doc, p->key),
                    *vn = yaml_document_get_node(c->doc, p->value);
        const char *name = scalar(c, kn), *val = scalar(c, vn);
        if (!name || !val)
            return fail_at(c, kn, "%s", "labels must be a map of label names to strings");
        if (!em_label_name_valid(name, strlen(name)))
            return fail_at(c, kn, "\"%s\" is not a valid label name", name);
        if (!em_utf8_valid(val, strlen(val)))
            return fail_at(c, vn, "invalid value for label \"%s\"", name);
        for (size_t j = 0; j < k; j++)
            if (strcmp(v[j].name, name) == 0)
                return fail_at(c, kn, "duplicate label \"%s\"", name);
        v[k].name = name;
        v[k].value = val;
        k++;
    }
    v[k++] = *extra;
    g->labels = labels_sorted(v, k);
    return EM_OK;
}

static int parse_group(parse_ctx_t *c, yaml_node_t *n, size_t index, em_target_group_t *g)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail_at(c, n, "%s", "each target group must be a map with \"targets\" and \"labels\"");
    char src[32];
    snprintf(src, sizeof(src), ":%zu", index);
    size_t pl = strlen(c->path), sl = strlen(src);
    char *source = em_arena_alloc(c->a, pl + sl + 1);
    memcpy(source, c->path, pl);
    memcpy(source + pl, src, sl + 1);
    g->source = source;
    yaml_node_t *labels = NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(c->doc, p->key),
                    *vn = yaml_document_get_node(c->doc, p->value);
        const char *key = scalar(c, kn);
        if (key && strcmp(key, "targets") == 0) {
            int rc = parse_targets(c, vn, g);
            if (rc != EM_OK)
                return rc;
        } else if (key && strcmp(key, "labels") == 0) {
            labels = vn;
        } else if (!c->json) { /* Prometheus reads YAML strictly and JSON leniently */
            return fail_at(c, kn,
                           "field %s not found in type struct { Targets []string; Labels model.LabelSet }",
                           key ? key : "?");
        }
    }
    em_label_t fp = {"__meta_filepath", em_arena_strdup(c->a, c->path)};
    return parse_labels(c, labels, &fp, g);
}

static bool ends_with_json(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && strcasecmp(path + n - 5, ".json") == 0;
}

int em_discovery_parse_file(const char *path, const char *text, size_t n, em_arena_t *a,
                            em_target_group_t **groups, size_t *n_groups, em_err_t *err)
{
    int rc = EM_EINVAL;
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, n);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = em_err_set(err, EM_EINVAL, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
                        parser.problem_mark.column + 1, parser.problem ? parser.problem : "invalid YAML");
        goto out;
    }
    have_doc = true;
    parse_ctx_t c = {&doc, path, a, err, ends_with_json(path)};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    em_target_group_t *gs = NULL;
    size_t cnt = 0;
    if (root && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)) {
        if (root->type != YAML_SEQUENCE_NODE) {
            rc = fail_at(&c, root, "%s", "a file SD file must hold a list of target groups");
            goto out;
        }
        cnt = (size_t)(root->data.sequence.items.top - root->data.sequence.items.start);
    }
    gs = em_arena_alloc(a, sizeof(em_target_group_t) * (cnt ? cnt : 1));
    memset(gs, 0, sizeof(em_target_group_t) * (cnt ? cnt : 1));
    for (size_t i = 0; i < cnt; i++) {
        rc = parse_group(&c, yaml_document_get_node(&doc, root->data.sequence.items.start[i]), i, &gs[i]);
        if (rc != EM_OK)
            goto out;
    }
    *groups = gs;
    *n_groups = cnt;
    rc = EM_OK;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- the file set ---- */

static sd_file_t *file_find(em_discovery_t *d, const char *path, size_t *pos)
{
    size_t lo = 0, hi = d->n_files;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(d->files[mid]->path, path);
        if (c == 0) {
            *pos = mid;
            return d->files[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return NULL;
}

static sd_file_t *file_get(em_discovery_t *d, const char *path)
{
    size_t pos;
    sd_file_t *f = file_find(d, path, &pos);
    if (f)
        return f;
    f = EM_NEW(sd_file_t);
    f->path = em_strdup(path);
    f->read_ms = INT64_MIN;
    em_arena_init(&f->arena);
    em_grow((void **)&d->files, &d->cap_files, d->n_files + 1, sizeof(sd_file_t *));
    memmove(&d->files[pos + 1], &d->files[pos], sizeof(sd_file_t *) * (d->n_files - pos));
    d->files[pos] = f;
    d->n_files++;
    return f;
}

static void file_read(em_discovery_t *d, sd_file_t *f, const struct stat *st, int64_t now_ms)
{
    em_buf_t text = EM_BUF_INIT;
    em_err_t err;
    em_arena_t fresh;
    em_arena_init(&fresh);
    em_target_group_t *gs = NULL;
    size_t n = 0;
    f->st = *st;
    f->read_ms = now_ms;
    int rc = em_read_file(f->path, EM_DISCOVERY_MAX_FILE_BYTES, &text, &err);
    if (rc == EM_OK)
        rc = em_discovery_parse_file(f->path, text.data ? text.data : "", text.len, &fresh, &gs, &n, &err);
    em_buf_fini(&text);
    if (rc != EM_OK) {
        /* Prometheus keeps the previous targets of a file it cannot read. */
        em_counter_inc(read_errors());
        em_error("discovery", "Error reading file", "path=%s err=%s", em_q(f->path), em_q(err.msg));
        em_arena_fini(&fresh);
        return;
    }
    em_arena_fini(&f->arena);
    f->arena = fresh;
    f->groups = gs;
    f->n_groups = n;
    d->dirty = true;
}

static bool stat_changed(const struct stat *a, const struct stat *b)
{
    return a->st_mtim.tv_sec != b->st_mtim.tv_sec || a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
           a->st_size != b->st_size || a->st_ino != b->st_ino;
}

static void scan_pattern(em_discovery_t *d, const sd_pattern_t *p, int64_t now_ms)
{
    glob_t g;
    int gr = glob(p->pattern, 0, NULL, &g);
    if (gr != 0 && gr != GLOB_NOMATCH) {
        em_error("discovery", "Error expanding glob", "pattern=%s", em_q(p->pattern));
        return;
    }
    for (size_t i = 0; gr == 0 && i < g.gl_pathc; i++) {
        struct stat st;
        if (stat(g.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        sd_file_t *f = file_get(d, g.gl_pathv[i]);
        f->seen = true;
        if (f->read_ms == INT64_MIN || stat_changed(&f->st, &st) || now_ms - f->read_ms >= p->refresh_ms)
            file_read(d, f, &st, now_ms);
    }
    if (gr == 0)
        globfree(&g);
}

static void rebuild(em_discovery_t *d)
{
    size_t n = d->n_static;
    for (size_t i = 0; i < d->n_files; i++)
        n += d->files[i]->n_groups;
    em_grow((void **)&d->all, &d->cap_all, n ? n : 1, sizeof(em_target_group_t));
    memcpy(d->all, d->static_groups, sizeof(em_target_group_t) * d->n_static);
    size_t k = d->n_static;
    for (size_t i = 0; i < d->n_files; i++) {
        memcpy(&d->all[k], d->files[i]->groups, sizeof(em_target_group_t) * d->files[i]->n_groups);
        k += d->files[i]->n_groups;
    }
    d->n_all = k;
}

bool em_discovery_refresh(em_discovery_t *d, int64_t now_ms, bool force)
{
    if (d->n_patterns && (force || d->checked_ms == INT64_MIN || now_ms - d->checked_ms >= CHECK_EVERY_MS)) {
        d->checked_ms = now_ms;
        for (size_t i = 0; i < d->n_files; i++)
            d->files[i]->seen = false;
        for (size_t i = 0; i < d->n_patterns; i++)
            scan_pattern(d, &d->patterns[i], now_ms);
        size_t k = 0;
        for (size_t i = 0; i < d->n_files; i++) {
            sd_file_t *f = d->files[i];
            if (f->seen) {
                d->files[k++] = f;
            } else { /* gone: its groups go too */
                d->dirty = true;
                file_free(f);
            }
        }
        d->n_files = k;
    }
    if (!d->dirty)
        return false;
    d->dirty = false;
    rebuild(d);
    d->version++;
    return true;
}

size_t em_discovery_groups(const em_discovery_t *d, const em_target_group_t **out)
{
    *out = d->all;
    return d->n_all;
}

uint64_t em_discovery_version(const em_discovery_t *d)
{
    return d->version;
}
