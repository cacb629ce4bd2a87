/* Design: see api.h. This file: /api/v1/query, /api/v1/query_range, /api/v1/format_query,
 * /api/v1/query_exemplars, and the parameter helpers every API handler shares.
 *
 * REQUEST STATES (query, query_range)
 *     loop:  parse and check the parameters (400 bad_data with Prometheus's text), copy them into a job
 *            --defer--> pool: evaluate (query/eval.h), render the whole JSON answer into the job
 *            --> loop: send it (or, when the client left, only free the job)
 * Evaluation and rendering never run on a loop thread. The client going away sets the job's cancel flag,
 * which the evaluator polls.
 *
 * JSON follows Prometheus's encoders: vector/matrix timestamps as seconds with the milliseconds written
 * out ("1.250", jsonutil.MarshalTimestamp), scalar and string timestamps as a Go float ("1.5"), values as
 * strings in Go's shortest 'f' form with "+Inf", "-Inf", "NaN"; strings HTML-escaped as Go's encoder does.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/duration.h"
#include "base/mem.h"
#include "base/strconv.h"
#include "net/api.h"
#include "net/server_int.h"
#include "query/eval.h"
#include "query/parse.h"

/* ---- shared helpers ---- */

static int error_status(const char *type)
{
    if (strcmp(type, "bad_data") == 0)
        return 400;
    if (strcmp(type, "execution") == 0)
        return 422;
    if (strcmp(type, "timeout") == 0 || strcmp(type, "canceled") == 0)
        return 503;
    if (strcmp(type, "not_found") == 0)
        return 404;
    return 500;
}

void api_error(h2o_req_t *req, const char *error_type, const char *fmt, ...)
{
    char msg[EM_ERR_MSG_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    em_http_respond_json_error(req, error_status(error_type), error_type, msg);
}

/* Go's %q of a parameter value, for messages. */
static void quote(em_buf_t *b, const char *s)
{
    em_buf_put_json_str(b, s, strlen(s));
}

bool api_time_param(h2o_req_t *req, const em_http_params_t *p, const char *name, int64_t def, bool wrap,
                    int64_t *t_ms)
{
    const char *v = em_http_param(p, name);
    if (wrap && (!v || !*v)) {
        *t_ms = def;
        return true;
    }
    if (!v)
        v = ""; /* query_range's start and end are required: Prometheus parses "" and fails */
    if (em_time_parse(v, t_ms) == EM_OK)
        return true;
    em_buf_t q = EM_BUF_INIT;
    quote(&q, v);
    if (wrap)
        api_error(req, "bad_data",
                  "invalid parameter \"%s\": invalid time value for '%s': cannot parse %s to a valid "
                  "timestamp",
                  name, name, q.data);
    else
        api_error(req, "bad_data", "invalid parameter \"%s\": cannot parse %s to a valid timestamp", name,
                  q.data);
    em_buf_fini(&q);
    return false;
}

bool api_limit_param(h2o_req_t *req, const em_http_params_t *p, long *limit)
{
    const char *v = em_http_param(p, "limit");
    *limit = 0;
    if (!v || !*v)
        return true;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || end == v) {
        em_buf_t q = EM_BUF_INIT;
        quote(&q, v);
        api_error(req, "bad_data", "invalid parameter \"limit\": strconv.Atoi: parsing %s: invalid syntax",
                  q.data);
        em_buf_fini(&q);
        return false;
    }
    if (n < 0) {
        api_error(req, "bad_data", "invalid parameter \"limit\": limit must be non-negative");
        return false;
    }
    *limit = n;
    return true;
}

/* Prometheus's parseDuration: float seconds or a duration string. Returns false on a bad value. */
static bool parse_api_duration(const char *s, int64_t *ms)
{
    char *end;
    double d = strtod(s, &end);
    if (*s && *end == '\0') {
        if (!(fabs(d) < 9.2e9))
            return false;
        *ms = (int64_t)(d * 1e9) / 1000000; /* time.Duration truncates, as the engine's milliseconds */
        return true;
    }
    return em_duration_parse(s, strlen(s), ms, NULL) == EM_OK;
}

static bool duration_param(h2o_req_t *req, const em_http_params_t *p, const char *name, bool required,
                           int64_t *ms)
{
    const char *v = em_http_param(p, name);
    *ms = 0;
    if ((!v || !*v) && !required)
        return true;
    if (!v)
        v = "";
    if (parse_api_duration(v, ms))
        return true;
    em_buf_t q = EM_BUF_INIT;
    quote(&q, v);
    api_error(req, "bad_data", "invalid parameter \"%s\": cannot parse %s to a valid duration", name, q.data);
    em_buf_fini(&q);
    return false;
}

static bool params(h2o_req_t *req, em_http_params_t *p)
{
    em_err_t err;
    if (em_http_params_parse(req, p, &err) == EM_OK)
        return true;
    api_error(req, "bad_data", "error parsing form values: %s", err.msg);
    return false;
}

/* ---- JSON rendering ---- */

/* jsonutil.MarshalTimestamp */
static void put_ts(em_buf_t *b, int64_t t_ms)
{
    uint64_t u = t_ms < 0 ? (uint64_t)0 - (uint64_t)t_ms : (uint64_t)t_ms;
    if (t_ms < 0)
        em_buf_putc(b, '-');
    em_buf_printf(b, "%llu", (unsigned long long)(u / 1000));
    if (u % 1000)
        em_buf_printf(b, ".%03llu", (unsigned long long)(u % 1000));
}

/* A Go float64 in JSON (encoding/json): shortest 'f' form, 'e' beyond 1e21 or below 1e-6. */
static void put_go_float(em_buf_t *b, double v)
{
    char f[EM_FLOAT_BUF];
    double a = fabs(v);
    size_t n = em_fmt_float(v, (a != 0 && (a < 1e-6 || a >= 1e21)) ? 'e' : 'f', f);
    em_buf_append(b, f, n);
}

static void put_value(em_buf_t *b, double v)
{
    char f[EM_FLOAT_BUF];
    em_buf_putc(b, '"');
    em_buf_append(b, f, em_fmt_float(v, 'f', f));
    em_buf_putc(b, '"');
}

void api_put_labels_json(em_buf_t *b, const em_labels_t *ls)
{
    em_buf_putc(b, '{');
    for (size_t i = 0; i < ls->n; i++) {
        if (i)
            em_buf_putc(b, ',');
        em_buf_put_json_str(b, ls->v[i].name, strlen(ls->v[i].name));
        em_buf_putc(b, ':');
        em_buf_put_json_str(b, ls->v[i].value, strlen(ls->v[i].value));
    }
    em_buf_putc(b, '}');
}

static void put_str_list(em_buf_t *b, const char *key, const char *const *v, size_t n)
{
    if (n == 0)
        return;
    em_buf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        if (i)
            em_buf_putc(b, ',');
        em_buf_put_json_str(b, v[i], strlen(v[i]));
    }
    em_buf_putc(b, ']');
}

/* Prometheus's "stats" member of data (any non-empty stats parameter). */
static void put_stats(em_buf_t *b, const em_query_stats_t *st)
{
    const struct {
        const char *name;
        double v;
    } t[] = {{"evalTotalTime", st->prep_s + st->inner_eval_s + st->sort_s},
             {"resultSortTime", st->sort_s},
             {"queryPreparationTime", st->prep_s},
             {"innerEvalTime", st->inner_eval_s},
             {"execQueueTime", st->exec_queue_s},
             {"execTotalTime", st->exec_total_s}};
    em_buf_puts(b, ",\"stats\":{\"timings\":{");
    for (size_t i = 0; i < EM_ARRAY_LEN(t); i++) {
        em_buf_printf(b, "%s\"%s\":", i ? "," : "", t[i].name);
        put_go_float(b, t[i].v);
    }
    em_buf_printf(b, "},\"samples\":{\"totalQueryableSamples\":%lld,\"peakSamples\":%lld}}",
                  (long long)st->total_samples, (long long)st->peak_samples);
}

static void render_result(em_buf_t *b, const em_query_result_t *r, long limit, bool with_stats,
                          bool *truncated)
{
    size_t n = r->n_series;
    *truncated = false;
    if (limit > 0 && (r->type == EM_VTYPE_VECTOR || r->type == EM_VTYPE_MATRIX) && n > (size_t)limit) {
        n = (size_t)limit;
        *truncated = true;
    }
    em_buf_printf(b, "{\"resultType\":\"%s\",\"result\":", em_vtype_name(r->type));
    switch (r->type) {
    case EM_VTYPE_SCALAR:
        em_buf_putc(b, '[');
        put_go_float(b, (double)r->t_ms / 1000.0);
        em_buf_putc(b, ',');
        put_value(b, r->scalar);
        em_buf_putc(b, ']');
        break;
    case EM_VTYPE_STRING:
        em_buf_putc(b, '[');
        put_go_float(b, (double)r->t_ms / 1000.0);
        em_buf_putc(b, ',');
        em_buf_put_json_str(b, r->str, r->str_len);
        em_buf_putc(b, ']');
        break;
    default:
        em_buf_putc(b, '[');
        for (size_t i = 0; i < n; i++) {
            const em_qseries_t *s = &r->series[i];
            if (i)
                em_buf_putc(b, ',');
            em_buf_puts(b, "{\"metric\":");
            api_put_labels_json(b, &s->labels);
            bool vec = r->type == EM_VTYPE_VECTOR;
            em_buf_puts(b, vec ? ",\"value\":" : ",\"values\":[");
            for (size_t k = 0; k < s->n_pts && (!vec || k < 1); k++) {
                if (k)
                    em_buf_putc(b, ',');
                em_buf_putc(b, '[');
                put_ts(b, s->pts[k].t_ms);
                em_buf_putc(b, ',');
                put_value(b, s->pts[k].v);
                em_buf_putc(b, ']');
            }
            em_buf_puts(b, vec ? "}" : "]}");
        }
        em_buf_putc(b, ']');
    }
    if (with_stats)
        put_stats(b, &r->stats);
    em_buf_putc(b, '}');
}

/* ---- /api/v1/query and /api/v1/query_range ---- */

typedef struct query_job {
    em_server_t *s;
    char *expr;
    size_t expr_len;
    int64_t start_ms, end_ms, step_ms; /* step 0: instant */
    int64_t timeout_ms;
    int64_t lookback_ms; /* 0: --query.lookback-delta */
    bool stats;          /* the stats parameter was given */
    long limit;
    int status;
    em_buf_t out;
} query_job_t;

static void query_job_free(query_job_t *j)
{
    free(j->expr);
    em_buf_fini(&j->out);
    free(j);
}

static void render_error(query_job_t *j, const em_query_result_t *r)
{
    const char *type = em_qerr_kind_str(r->err_kind);
    if (!type || !*type)
        type = "internal";
    j->status = error_status(type);
    em_buf_puts(&j->out, "{\"status\":\"error\",\"errorType\":");
    em_buf_put_json_str(&j->out, type, strlen(type));
    em_buf_puts(&j->out, ",\"error\":");
    const char *msg = r->err ? r->err : "unknown error";
    if (r->err_kind == EM_QERR_BAD_DATA) {
        /* Prometheus: a query it cannot parse or type-check is an invalid "query" parameter. */
        em_buf_t m = EM_BUF_INIT;
        em_buf_printf(&m, "invalid parameter \"query\": %s", msg);
        em_buf_put_json_str(&j->out, m.data, m.len);
        em_buf_fini(&m);
    } else {
        em_buf_put_json_str(&j->out, msg, strlen(msg));
    }
    em_buf_putc(&j->out, '}');
}

static void query_work(em_http_job_t *job, void *arg)
{
    query_job_t *j = arg;
    em_query_result_t *r = NULL;
    em_query_req_t q = {.expr = j->expr,
                        .len = j->expr_len,
                        .start_ms = j->start_ms,
                        .end_ms = j->end_ms,
                        .step_ms = j->step_ms,
                        .timeout_ms = j->timeout_ms,
                        .lookback_ms = j->lookback_ms,
                        .cancel = em_http_job_cancel_flag(job)};
    em_query_exec(j->s->engine, server_queryable(j->s), &q, &r);
    if (r->err_kind != EM_QERR_NONE) {
        render_error(j, r);
    } else {
        bool truncated;
        j->status = 200;
        em_buf_puts(&j->out, "{\"status\":\"success\",\"data\":");
        render_result(&j->out, r, j->limit, j->stats, &truncated);
        size_t nw = r->n_warnings;
        const char **w = r->warnings;
        if (truncated) {
            w = em_calloc(nw + 1, sizeof(*w));
            if (nw)
                memcpy(w, r->warnings, nw * sizeof(*w));
            w[nw++] = "results truncated due to limit";
        }
        put_str_list(&j->out, "warnings", w, nw);
        put_str_list(&j->out, "infos", r->infos, r->n_infos);
        em_buf_putc(&j->out, '}');
        if (truncated)
            free(w);
    }
    em_query_result_free(r);
    em_http_job_done(job);
}

static void query_finish(h2o_req_t *req, void *arg)
{
    query_job_t *j = arg;
    if (req)
        em_http_respond_buf(req, j->status, "application/json", &j->out);
    query_job_free(j);
}

/* The effective timeout: the request's, bounded by --query.timeout. */
static int64_t effective_timeout(em_server_t *s, int64_t req_ms)
{
    int64_t engine_ms = em_query_engine_opts(s->engine)->timeout_ms;
    if (req_ms > 0 && (engine_ms <= 0 || req_ms < engine_ms))
        return req_ms;
    return engine_ms;
}

static int start_query(h2o_req_t *req, em_server_t *s, const em_http_params_t *p, query_job_t *proto)
{
    /* Prometheus's per-query lookback (extractQueryOpts); 0 or less means the server's. */
    const char *lb = em_http_param(p, "lookback_delta");
    if (lb && *lb && !parse_api_duration(lb, &proto->lookback_ms)) {
        em_buf_t m = EM_BUF_INIT;
        quote(&m, lb);
        api_error(req, "bad_data",
                  "error parsing lookback delta duration: cannot parse %s to a valid duration", m.data);
        em_buf_fini(&m);
        return 0;
    }
    const char *st = em_http_param(p, "stats");
    proto->stats = st && *st;
    const char *q = em_http_param(p, "query");
    query_job_t *j = EM_NEW(query_job_t);
    *j = *proto;
    j->s = s;
    j->expr_len = q ? strlen(q) : 0;
    j->expr = em_strdup(q ? q : "");
    em_buf_init(&j->out);
    if (em_http_defer(req, s->pool, query_work, query_finish, j) != EM_OK)
        query_job_free(j);
    return 0;
}

int api_query(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    em_http_params_t p;
    if (!api_ready(s, req) || !params(req, &p))
        return 0;
    query_job_t proto = {0};
    int64_t timeout_ms;
    if (!api_limit_param(req, &p, &proto.limit) ||
        !api_time_param(req, &p, "time", em_now_ms(), true, &proto.start_ms) ||
        !duration_param(req, &p, "timeout", false, &timeout_ms))
        return 0;
    proto.end_ms = proto.start_ms;
    proto.timeout_ms = effective_timeout(s, timeout_ms);
    return start_query(req, s, &p, &proto);
}

int api_query_range(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    em_http_params_t p;
    if (!api_ready(s, req) || !params(req, &p))
        return 0;
    query_job_t proto = {0};
    int64_t timeout_ms;
    if (!api_limit_param(req, &p, &proto.limit) ||
        !api_time_param(req, &p, "start", 0, false, &proto.start_ms) ||
        !api_time_param(req, &p, "end", 0, false, &proto.end_ms))
        return 0;
    if (proto.end_ms < proto.start_ms) {
        api_error(req, "bad_data", "invalid parameter \"end\": end timestamp must not be before start time");
        return 0;
    }
    if (!duration_param(req, &p, "step", true, &proto.step_ms))
        return 0;
    if (proto.step_ms <= 0) {
        api_error(req, "bad_data",
                  "invalid parameter \"step\": zero or negative query resolution step widths are not "
                  "accepted. Try a positive integer");
        return 0;
    }
    /* Prometheus: at most 11,000 points per series. */
    if ((proto.end_ms - proto.start_ms) / proto.step_ms > 11000) {
        api_error(req, "bad_data",
                  "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
                  "query resolution (?step=XX)");
        return 0;
    }
    if (!duration_param(req, &p, "timeout", false, &timeout_ms))
        return 0;
    proto.timeout_ms = effective_timeout(s, timeout_ms);
    return start_query(req, s, &p, &proto);
}

/* ---- /api/v1/format_query and /api/v1/query_exemplars: parsing only, still on the pool (a query may
 * be long and its regexes costly to compile) ---- */

typedef struct parse_job {
    em_server_t *s;
    bool exemplars; /* query_exemplars: check the query, answer an empty list (no exemplar storage) */
    char *query;
    int status;
    em_buf_t out;
} parse_job_t;

static void parse_work(em_http_job_t *job, void *arg)
{
    parse_job_t *j = arg;
    em_arena_t a;
    em_arena_init(&a);
    em_ast_t *ast = NULL;
    em_err_t err;
    if (em_promql_parse(j->query, strlen(j->query), &a, &j->s->o.promql, &ast, &err) != EM_OK) {
        j->status = 400;
        em_buf_t m = EM_BUF_INIT;
        /* Prometheus wraps format_query's parse errors as a bad parameter, not query_exemplars'. */
        em_buf_printf(&m, "%s%s", j->exemplars ? "" : "invalid parameter \"query\": ", err.msg);
        em_buf_puts(&j->out, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":");
        em_buf_put_json_str(&j->out, m.data, m.len);
        em_buf_putc(&j->out, '}');
        em_buf_fini(&m);
    } else {
        j->status = 200;
        em_buf_puts(&j->out, "{\"status\":\"success\",\"data\":");
        if (j->exemplars) {
            em_buf_puts(&j->out, "[]");
        } else {
            em_buf_t pretty = EM_BUF_INIT;
            em_promql_pretty(ast->root, &pretty);
            em_buf_put_json_str(&j->out, pretty.data ? pretty.data : "", pretty.len);
            em_buf_fini(&pretty);
        }
        em_buf_putc(&j->out, '}');
        em_ast_fini(ast);
    }
    em_arena_fini(&a);
    em_http_job_done(job);
}

static void parse_finish(h2o_req_t *req, void *arg)
{
    parse_job_t *j = arg;
    if (req)
        em_http_respond_buf(req, j->status, "application/json", &j->out);
    free(j->query);
    em_buf_fini(&j->out);
    free(j);
}

static void start_parse(h2o_req_t *req, em_server_t *s, const em_http_params_t *p, bool exemplars)
{
    const char *q = em_http_param(p, "query");
    parse_job_t *j = EM_NEW(parse_job_t);
    j->s = s;
    j->exemplars = exemplars;
    j->query = em_strdup(q ? q : "");
    em_buf_init(&j->out);
    if (em_http_defer(req, s->pool, parse_work, parse_finish, j) != EM_OK) {
        free(j->query);
        free(j);
    }
}

int api_format_query(h2o_req_t *req, void *arg)
{
    em_http_params_t p;
    if (params(req, &p))
        start_parse(req, arg, &p, false);
    return 0;
}

int api_query_exemplars(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    em_http_params_t p;
    if (!api_ready(s, req) || !params(req, &p))
        return 0;
    int64_t start, end;
    if (!api_time_param(req, &p, "start", API_MIN_TIME_MS, true, &start) ||
        !api_time_param(req, &p, "end", API_MAX_TIME_MS, true, &end))
        return 0;
    if (end < start) {
        api_error(req, "bad_data", "end timestamp must not be before start timestamp");
        return 0;
    }
    start_parse(req, s, &p, true);
    return 0;
}
