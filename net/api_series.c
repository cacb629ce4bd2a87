/* Design: see api.h. This file: /api/v1/series, /api/v1/labels, /api/v1/label/<name>/values.
 *
 * These read storage directly through the server's em_queryable_t (server_queryable), not through the
 * PromQL engine, as Prometheus's API does. Cheap parameters are checked on the loop thread; the match[]
 * selectors (regex compilation), the storage reads and the JSON run on the query pool:
 *     loop: parameters --defer--> pool: parse match[], querier over [start, end], select / label names /
 *           values --> loop: send the rendered answer
 * Several match[] are a union: series sets are merged (deduplicated), label lists united and sorted.
 * 'limit' keeps the first N and warns "results truncated due to limit", as Prometheus 3 does.
 */
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/mem.h"
#include "engine/querier.h"
#include "net/api.h"
#include "net/server_int.h"
#include "query/parse.h"

typedef enum { Q_SERIES, Q_LABELS, Q_VALUES } what_t;

typedef struct series_job {
    em_server_t *s;
    what_t what;
    em_arena_t arena;   /* selectors and label name */
    const char **match; /* the match[] values (copies) */
    size_t n_match;
    em_ast_t **sel; /* one parsed selector per match[], filled on the pool */
    size_t n_sel;
    const char *name; /* Q_VALUES: the label */
    int64_t start_ms, end_ms;
    long limit;
    int status;
    em_buf_t out;
} series_job_t;

static bool parse_matches(series_job_t *j);

static void job_free(series_job_t *j)
{
    for (size_t i = 0; i < j->n_sel; i++)
        em_ast_fini(j->sel[i]);
    em_arena_fini(&j->arena);
    em_buf_fini(&j->out);
    free(j);
}

static const em_matcher_t *const *sel_matchers(const em_ast_t *a, size_t *n)
{
    *n = a->root->vs.n_matchers;
    return (const em_matcher_t *const *)a->root->vs.matchers;
}

static void fail(series_job_t *j, const char *type, int status, const char *msg)
{
    em_buf_reset(&j->out);
    j->status = status;
    em_buf_puts(&j->out, "{\"status\":\"error\",\"errorType\":");
    em_buf_put_json_str(&j->out, type, strlen(type));
    em_buf_puts(&j->out, ",\"error\":");
    em_buf_put_json_str(&j->out, msg, strlen(msg));
    em_buf_putc(&j->out, '}');
}

static void success_end(series_job_t *j, bool truncated)
{
    em_buf_putc(&j->out, ']');
    if (truncated)
        em_buf_puts(&j->out, ",\"warnings\":[\"results truncated due to limit\"]");
    em_buf_putc(&j->out, '}');
}

static int cmp_labels(const void *a, const void *b)
{
    return em_labels_cmp(a, b);
}

/* Labels of every series matching any selector, sorted and without duplicates, copied into the job's
 * arena. Several sets are merged here rather than with a sample-merging set: only labels are needed. */
static int collect_series(series_job_t *j, em_querier_t *q, em_labels_t **out, size_t *n_out, em_err_t *err)
{
    em_select_hints_t hints = {.start_ms = j->start_ms, .end_ms = j->end_ms, .func = "series"};
    em_labels_t *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < j->n_sel; i++) {
        size_t nm;
        const em_matcher_t *const *ms = sel_matchers(j->sel[i], &nm);
        em_series_set_t *set = NULL;
        int rc = em_querier_select(q, true, &hints, ms, nm, &set, err);
        if (rc != EM_OK) {
            free(v);
            return rc;
        }
        while ((rc = em_series_set_next(set)) == EM_OK) {
            em_labels_t ls = em_series_set_labels(set);
            em_grow((void **)&v, &cap, n + 1, sizeof(*v));
            v[n++] = em_labels_copy(&ls, &j->arena);
        }
        if (rc < 0) {
            const char *m = set->ops->err(set);
            em_err_set(err, rc, "%s", m ? m : em_strerror(rc));
        }
        em_series_set_close(set);
        if (rc < 0) {
            free(v);
            return rc;
        }
    }
    if (n > 1) {
        em_qsort(v, n, sizeof(*v), cmp_labels);
        size_t w = 1;
        for (size_t i = 1; i < n; i++)
            if (!em_labels_equal(&v[i], &v[w - 1]))
                v[w++] = v[i];
        n = w;
    }
    *out = v;
    *n_out = n;
    return EM_OK;
}

static void do_series(series_job_t *j, em_querier_t *q)
{
    em_labels_t *v = NULL;
    size_t n = 0;
    em_err_t err;
    em_err_clear(&err);
    if (collect_series(j, q, &v, &n, &err) != EM_OK) {
        fail(j, "execution", 422, err.msg);
        return;
    }
    bool truncated = j->limit > 0 && n > (size_t)j->limit;
    if (truncated)
        n = (size_t)j->limit;
    em_buf_puts(&j->out, "{\"status\":\"success\",\"data\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            em_buf_putc(&j->out, ',');
        api_put_labels_json(&j->out, &v[i]);
    }
    success_end(j, truncated);
    free(v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void do_labels(series_job_t *j, em_querier_t *q)
{
    em_strlist_t all;
    em_strlist_init(&all);
    em_err_t err;
    em_err_clear(&err);
    size_t rounds = j->n_sel ? j->n_sel : 1;
    for (size_t i = 0; i < rounds; i++) {
        size_t n = 0;
        const em_matcher_t *const *ms = j->n_sel ? sel_matchers(j->sel[i], &n) : NULL;
        em_strlist_t l;
        em_strlist_init(&l);
        int rc = j->what == Q_LABELS ? q->ops->label_names(q, ms, n, &j->arena, &l, &err)
                                     : q->ops->label_values(q, j->name, ms, n, &j->arena, &l, &err);
        if (rc != EM_OK) {
            em_strlist_fini(&l);
            em_strlist_fini(&all);
            fail(j, "execution", 422, err.msg);
            return;
        }
        for (size_t k = 0; k < l.n; k++)
            em_strlist_add(&all, l.v[k]);
        em_strlist_fini(&l);
    }
    if (rounds > 1)
        em_strlist_sort_unique(&all);
    else if (all.n > 1)
        em_qsort(all.v, all.n, sizeof(*all.v), cmp_str);
    size_t n = all.n;
    bool truncated = j->limit > 0 && n > (size_t)j->limit;
    if (truncated)
        n = (size_t)j->limit;
    em_buf_puts(&j->out, "{\"status\":\"success\",\"data\":[");
    for (size_t k = 0; k < n; k++) {
        if (k)
            em_buf_putc(&j->out, ',');
        em_buf_put_json_str(&j->out, all.v[k], strlen(all.v[k]));
    }
    success_end(j, truncated);
    em_strlist_fini(&all);
}

static void series_work(em_http_job_t *job, void *arg)
{
    series_job_t *j = arg;
    em_querier_t *q = NULL;
    em_err_t err;
    em_err_clear(&err);
    j->status = 200;
    if (!parse_matches(j)) {
        /* the answer is in j->out */
    } else if (em_queryable_querier(server_queryable(j->s), j->start_ms, j->end_ms, &q, &err) != EM_OK) {
        fail(j, "execution", 422, err.msg);
    } else {
        if (j->what == Q_SERIES)
            do_series(j, q);
        else
            do_labels(j, q);
        em_querier_close(q);
    }
    em_http_job_done(job);
}

static void series_finish(h2o_req_t *req, void *arg)
{
    series_job_t *j = arg;
    if (req)
        em_http_respond_buf(req, j->status, "application/json", &j->out);
    job_free(j);
}

#define MAX_MATCH 1024

/* Keep copies of the match[] values; they are parsed on the pool (regex compilation is not loop work). */
static bool copy_matches(h2o_req_t *req, const em_http_params_t *p, series_job_t *j)
{
    const char *vals[MAX_MATCH];
    size_t n = em_http_param_all(p, "match[]", vals, MAX_MATCH);
    if (n > MAX_MATCH) {
        api_error(req, "bad_data", "too many match[] parameters (at most %d)", MAX_MATCH);
        return false;
    }
    j->match = em_arena_alloc(&j->arena, (n ? n : 1) * sizeof(*j->match));
    for (size_t i = 0; i < n; i++)
        j->match[i] = em_arena_strdup(&j->arena, vals[i]);
    j->n_match = n;
    j->sel = em_arena_alloc(&j->arena, (n ? n : 1) * sizeof(*j->sel));
    return true;
}

/* Parse every match[] into the job; on error the job holds the answer. Prometheus words the errors
 * differently per endpoint: /series wraps them as an invalid "match[]" parameter, the label endpoints
 * do not. Thread: pool. */
static bool parse_matches(series_job_t *j)
{
    const char *prefix = j->what == Q_SERIES ? "invalid parameter \"match[]\": " : "";
    em_buf_t msg = EM_BUF_INIT;
    for (size_t i = 0; i < j->n_match; i++) {
        em_err_t err;
        em_ast_t *ast = NULL;
        const char *v = j->match[i];
        if (em_promql_parse_selector(v, strlen(v), &j->arena, &ast, &err) != EM_OK) {
            em_buf_printf(&msg, "%s%s", prefix, err.msg);
            break;
        }
        j->sel[j->n_sel++] = ast;
        bool non_empty = false;
        for (size_t k = 0; k < ast->root->vs.n_matchers && !non_empty; k++)
            non_empty = !em_matcher_matches_empty(ast->root->vs.matchers[k]);
        if (!non_empty) {
            em_buf_printf(&msg, "%smatch[] must contain at least one non-empty matcher", prefix);
            break;
        }
    }
    bool ok = msg.len == 0;
    if (!ok)
        fail(j, "bad_data", 400, msg.data);
    em_buf_fini(&msg);
    return ok;
}

static int start(h2o_req_t *req, em_server_t *s, what_t what, const char *name, size_t name_len)
{
    em_http_params_t p;
    em_err_t err;
    if (!api_ready(s, req))
        return 0;
    if (em_http_params_parse(req, &p, &err) != EM_OK) {
        api_error(req, "bad_data", "error parsing form values: %s", err.msg);
        return 0;
    }
    series_job_t *j = EM_NEW(series_job_t);
    j->s = s;
    j->what = what;
    em_arena_init(&j->arena);
    em_buf_init(&j->out);
    if (name)
        j->name = em_arena_strndup(&j->arena, name, name_len);
    if (what == Q_SERIES && !em_http_param(&p, "match[]")) {
        api_error(req, "bad_data", "no match[] parameter provided");
        goto fail;
    }
    if (!api_limit_param(req, &p, &j->limit) ||
        !api_time_param(req, &p, "start", API_MIN_TIME_MS, true, &j->start_ms) ||
        !api_time_param(req, &p, "end", API_MAX_TIME_MS, true, &j->end_ms) || !copy_matches(req, &p, j))
        goto fail;
    if (em_http_defer(req, s->pool, series_work, series_finish, j) != EM_OK)
        goto fail;
    return 0;
fail:
    job_free(j);
    return 0;
}

int api_series(h2o_req_t *req, void *arg)
{
    return start(req, arg, Q_SERIES, NULL, 0);
}

int api_labels(h2o_req_t *req, void *arg)
{
    return start(req, arg, Q_LABELS, NULL, 0);
}

/* Prometheus's model.UnescapeName for the "U__" value-encoding escaping: "__" is '_', "_<hex>_" the
 * rune with that code point; anything else leaves the name as it was. Result in the request pool. */
static char *unescape_u(h2o_mem_pool_t *pool, char *name)
{
    size_t n = strlen(name);
    if (n < 3 || strncmp(name, "U__", 3) != 0)
        return name;
    char *out = h2o_mem_alloc_pool(pool, 4 * n + 1);
    size_t o = 0;
    for (size_t i = 3; i < n; i++) {
        if (name[i] != '_') {
            out[o++] = name[i];
            continue;
        }
        if (i + 1 < n && name[i + 1] == '_') {
            out[o++] = '_';
            i++;
            continue;
        }
        size_t k = i + 1;
        uint32_t r = 0;
        while (k < n && k - i <= 8 && strchr("0123456789abcdefABCDEF", name[k])) {
            char c = name[k];
            r = r * 16 + (uint32_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
            k++;
        }
        if (k == i + 1 || k >= n || name[k] != '_' || r == 0 || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000))
            return name;
        if (r < 0x80) {
            out[o++] = (char)r;
        } else if (r < 0x800) {
            out[o++] = (char)(0xC0 | (r >> 6));
            out[o++] = (char)(0x80 | (r & 0x3F));
        } else if (r < 0x10000) {
            out[o++] = (char)(0xE0 | (r >> 12));
            out[o++] = (char)(0x80 | ((r >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (r & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | (r >> 18));
            out[o++] = (char)(0x80 | ((r >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((r >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (r & 0x3F));
        }
        i = k;
    }
    out[o] = '\0';
    return out;
}

/* /api/v1/label/<name>/values: the name is percent-decoded from the path, then "U__"-unescaped. */
int api_label_values(h2o_req_t *req, void *arg)
{
    const char *path = em_http_path(req);
    static const char pfx[] = "/api/v1/label/", sfx[] = "/values";
    size_t n = strlen(path);
    if (n < sizeof(pfx) - 1 + sizeof(sfx) - 1 || strncmp(path, pfx, sizeof(pfx) - 1) != 0 ||
        strcmp(path + n - (sizeof(sfx) - 1), sfx) != 0) {
        em_http_respond(req, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
        return 0;
    }
    const char *raw = path + sizeof(pfx) - 1;
    size_t raw_len = n - (sizeof(pfx) - 1) - (sizeof(sfx) - 1);
    char *name = em_http_unescape(&req->pool, raw, raw_len, false);
    if (name)
        name = unescape_u(&req->pool, name);
    if (!name || !*name || memchr(raw, '/', raw_len) || !em_utf8_valid(name, strlen(name))) {
        em_buf_t q = EM_BUF_INIT;
        const char *shown = name ? name : "";
        em_buf_put_json_str(&q, shown, strlen(shown));
        api_error(req, "bad_data", "invalid label name: %s", q.data);
        em_buf_fini(&q);
        return 0;
    }
    return start(req, arg, Q_VALUES, name, strlen(name));
}
