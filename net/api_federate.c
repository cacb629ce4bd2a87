/* Design: see server.h and api.h. This file: GET /federate, Prometheus's federation endpoint.
 *
 * REQUEST STATES
 *     loop:  readiness, parse match[] (each a PromQL series selector)     --defer (query pool)-->
 *     pool:  one querier over [now - lookback delta, now]; for every selector, every matching series'
 *            newest sample there; sort, write the text format                 --done-->
 *     loop:  200 with the page, or 500 with the storage error
 *
 * WHAT PROMETHEUS DOES (web/federate.go), AND SO DO WE:
 *   - no match[] at all: an empty page (200); a selector that does not parse: 400 with the parser's text.
 *   - a series whose newest sample in the window is a stale marker is left out (the text format cannot
 *     carry one); so is a series without __name__.
 *   - families in metric-name order, each introduced by "# TYPE <name> untyped"; every sample carries its
 *     timestamp; labels are the series' own (sorted), then the external labels the series lacks (sorted
 *     by name), where the external labels always include instance="" unless configured otherwise, so
 *     a federating server with honor_labels keeps no instance label of its own target.
 *   - Content-Type: text/plain; version=0.0.4; charset=utf-8 (protobuf and OpenMetrics are not offered).
 * Series matched by several selectors appear once. Within a family Prometheus's order is unspecified
 * (an unstable sort by name); ours is label order.
 */
#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/duration.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "engine/chunk.h"
#include "ingest/expfmt.h"
#include "net/api.h"
#include "query/parse.h"
#include "net/server_int.h"

#define CT_FEDERATE "text/plain; version=0.0.4; charset=utf-8"
#define MAX_SELECTORS 1024

static em_counter_t *federation_errors;

static void metrics_register(void)
{
    federation_errors =
        em_counter_new("ember_web_federation_errors_total",
                       "Total number of errors that occurred while sending federation responses.", NULL);
}

/* ---- the page, without HTTP ---- */

typedef struct fed_entry {
    em_labels_t ls; /* copied into the arena */
    const char *name;
    int64_t t_ms;
    double v;
} fed_entry_t;

static int cmp_entry(const void *a, const void *b)
{
    const fed_entry_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : em_labels_cmp(&x->ls, &y->ls);
}

/* The newest sample of the current series in the querier's range: EM_OK, EM_DONE when it has none. */
static int newest_sample(em_series_set_t *set, int64_t *t, double *v)
{
    em_sample_iter_t *it = NULL;
    int rc = em_series_set_samples(set, &it);
    if (rc != EM_OK)
        return rc;
    bool found = false;
    while ((rc = em_sample_iter_next(it)) == EM_OK) {
        em_sample_iter_at(it, t, v);
        found = true;
    }
    em_sample_iter_free(it);
    if (rc != EM_DONE)
        return rc;
    return found ? EM_OK : EM_DONE;
}

static int collect(em_querier_t *q, const api_federate_sel_t *sel, const em_select_hints_t *hints,
                   em_arena_t *a, fed_entry_t **e, size_t *n, size_t *cap, em_err_t *err)
{
    em_series_set_t *set = NULL;
    int rc = em_querier_select(q, false, hints, sel->ms, sel->n, &set, err);
    if (rc != EM_OK)
        return rc;
    while ((rc = em_series_set_next(set)) == EM_OK) {
        int64_t t;
        double v;
        rc = newest_sample(set, &t, &v);
        if (rc == EM_DONE)
            continue;
        if (rc != EM_OK)
            break;
        if (em_is_stale_nan(v))
            continue;
        em_labels_t ls = em_series_set_labels(set);
        const char *name = em_labels_get(&ls, EM_METRIC_NAME);
        if (!name) {
            em_warn("web", "Ignoring nameless metric during federation");
            continue;
        }
        em_grow((void **)e, cap, *n + 1, sizeof(fed_entry_t));
        fed_entry_t *fe = &(*e)[(*n)++];
        fe->ls = em_labels_copy(&ls, a);
        fe->name = em_labels_get(&fe->ls, EM_METRIC_NAME);
        fe->t_ms = t;
        fe->v = v;
    }
    if (rc == EM_DONE) {
        rc = EM_OK;
    } else {
        const char *detail = set->ops->err(set);
        em_err_set(err, rc, "%s", detail ? detail : em_strerror(rc));
    }
    em_series_set_close(set);
    return rc;
}

/* The external labels with instance="" added when absent (Prometheus's federation handler). */
static em_labels_t ext_with_instance(const em_labels_t *ext, em_arena_t *a)
{
    size_t n = ext ? ext->n : 0;
    em_label_t *v = em_arena_alloc(a, (n + 1) * sizeof(em_label_t));
    bool have = false;
    for (size_t i = 0; i < n; i++) {
        v[i] = ext->v[i];
        if (strcmp(v[i].name, "instance") == 0)
            have = true;
    }
    if (!have) {
        v[n++] = (em_label_t){"instance", ""};
        em_labels_sort(v, n);
    }
    return (em_labels_t){v, n};
}

static void write_page(const fed_entry_t *e, size_t n, const em_labels_t *ext, em_buf_t *out)
{
    em_label_t *row = NULL;
    size_t cap = 0;
    const char *last = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!last || strcmp(last, e[i].name) != 0) {
            em_expfmt_write_type(out, e[i].name, EM_EXPFMT_TYPE_UNKNOWN);
            last = e[i].name;
        }
        em_grow((void **)&row, &cap, e[i].ls.n + ext->n, sizeof(em_label_t));
        size_t k = 0;
        for (size_t j = 0; j < e[i].ls.n; j++)
            row[k++] = e[i].ls.v[j];
        for (size_t j = 0; j < ext->n; j++)
            if (!em_labels_get(&e[i].ls, ext->v[j].name))
                row[k++] = ext->v[j];
        em_labels_t ls = {row, k};
        em_expfmt_write_sample(out, &ls, e[i].v, true, e[i].t_ms);
    }
    free(row);
}

int api_federate_write(em_queryable_t *qa, const api_federate_sel_t *sels, size_t n_sels,
                       const em_labels_t *ext, int64_t now_ms, int64_t lookback_ms, em_buf_t *out,
                       em_err_t *err)
{
    if (n_sels == 0)
        return EM_OK;
    int64_t mint = now_ms - lookback_ms;
    em_querier_t *q = NULL;
    int rc = em_queryable_querier(qa, mint, now_ms, &q, err);
    if (rc != EM_OK)
        return rc;
    em_arena_t a;
    em_arena_init(&a);
    fed_entry_t *e = NULL;
    size_t n = 0, cap = 0;
    em_select_hints_t hints = {.start_ms = mint, .end_ms = now_ms};
    for (size_t i = 0; i < n_sels && rc == EM_OK; i++)
        rc = collect(q, &sels[i], &hints, &a, &e, &n, &cap, err);
    if (rc == EM_OK) {
        if (n > 1)
            em_qsort(e, n, sizeof(fed_entry_t), cmp_entry);
        /* A series matched by several selectors was collected once per selector. */
        size_t u = 0;
        for (size_t i = 0; i < n; i++)
            if (u == 0 || !em_labels_equal(&e[u - 1].ls, &e[i].ls))
                e[u++] = e[i];
        em_labels_t x = ext_with_instance(ext, &a);
        write_page(e, u, &x, out);
    }
    free(e);
    em_arena_fini(&a);
    em_querier_close(q);
    return rc;
}

/* ---- match[] selectors: PromQL series selectors (Prometheus's ParseMetricSelector) ---- */

typedef struct fed_sels {
    api_federate_sel_t *v;
    em_ast_t **asts; /* released by fed_sels_fini */
    size_t n;
    em_arena_t arena;
} fed_sels_t;

/* Parse match[] value 's' into ss->v[ss->n] (not yet counted). Returns EM_OK or EM_EINVAL with the
 * parser's message. */
static int selector_parse(const char *s, fed_sels_t *ss, em_err_t *err)
{
    em_ast_t *ast = NULL;
    int rc = em_promql_parse_selector(s, strlen(s), &ss->arena, &ast, err);
    if (rc != EM_OK)
        return rc;
    const em_node_t *n = em_node_unwrap(ast->root);
    assert(n->kind == EM_NODE_VECTOR_SEL);
    ss->asts[ss->n] = ast;
    ss->v[ss->n] = (api_federate_sel_t){(const em_matcher_t *const *)n->vs.matchers, n->vs.n_matchers};
    return EM_OK;
}

static void fed_sels_fini(fed_sels_t *ss)
{
    for (size_t i = 0; i < ss->n; i++)
        em_ast_fini(ss->asts[i]);
    free(ss->asts);
    free(ss->v);
    em_arena_fini(&ss->arena);
}

/* ---- the handler ---- */

typedef struct fed_job {
    em_server_t *s;
    fed_sels_t sels;
    int status;
    em_buf_t body;
} fed_job_t;

static void fed_work(em_http_job_t *job, void *arg)
{
    fed_job_t *j = arg;
    em_server_t *s = j->s;
    em_arena_t a;
    em_arena_init(&a);
    em_labels_t ext = server_external_labels(s, &a);
    em_err_t err;
    int64_t lookback = s->o.lookback_delta_ms > 0 ? s->o.lookback_delta_ms : 5 * 60 * 1000;
    int rc = api_federate_write(server_queryable(s), j->sels.v, j->sels.n, &ext, em_now_ms(), lookback,
                                &j->body, &err);
    if (rc != EM_OK) {
        em_counter_inc(federation_errors);
        em_error("web", "federation failed", "err=%s", em_q(err.msg));
        j->status = 500;
        em_buf_reset(&j->body);
        em_buf_printf(&j->body, "%s\n", err.msg);
    }
    em_arena_fini(&a);
    em_http_job_done(job);
}

static void fed_job_free(fed_job_t *j)
{
    fed_sels_fini(&j->sels);
    em_buf_fini(&j->body);
    free(j);
}

static void fed_finish(h2o_req_t *req, void *arg)
{
    fed_job_t *j = arg;
    if (req)
        em_http_respond_buf(req, j->status, j->status == 200 ? CT_FEDERATE : "text/plain; charset=utf-8",
                            &j->body);
    fed_job_free(j);
}

static void text_error(h2o_req_t *req, int status, const char *msg)
{
    em_buf_t b = EM_BUF_INIT;
    em_buf_printf(&b, "%s\n", msg);
    em_http_add_header(req, "X-Content-Type-Options", "nosniff");
    em_http_respond_buf(req, status, "text/plain; charset=utf-8", &b);
}

int api_federate(h2o_req_t *req, void *arg)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, metrics_register);
    em_server_t *s = arg;
    if (!api_ready(s, req))
        return 0;
    em_http_params_t p;
    em_err_t err;
    if (em_http_params_parse(req, &p, &err) != EM_OK) {
        char msg[EM_ERR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "error parsing form values: %s", err.msg);
        text_error(req, 400, msg);
        return 0;
    }
    const char *vals[MAX_SELECTORS];
    size_t n = em_http_param_all(&p, "match[]", vals, MAX_SELECTORS);
    if (n > MAX_SELECTORS) {
        text_error(req, 400, "too many match[] parameters");
        return 0;
    }
    fed_job_t *j = EM_NEW(fed_job_t);
    j->s = s;
    j->status = 200;
    em_arena_init(&j->sels.arena);
    j->sels.v = em_calloc(n ? n : 1, sizeof(api_federate_sel_t));
    j->sels.asts = em_calloc(n ? n : 1, sizeof(em_ast_t *));
    for (size_t i = 0; i < n; i++) {
        if (selector_parse(vals[i], &j->sels, &err) != EM_OK) {
            text_error(req, 400, err.msg);
            fed_job_free(j);
            return 0;
        }
        j->sels.n++;
    }
    if (em_http_defer(req, s->pool, fed_work, fed_finish, j) != EM_OK)
        fed_job_free(j);
    return 0;
}
