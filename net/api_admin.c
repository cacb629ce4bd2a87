/* Design: see api.h. This file: the TSDB admin API (/api/v1/admin/tsdb/...) and /api/v1/status/tsdb.
 *
 * The admin endpoints answer only with --web.enable-admin-api; otherwise, as Prometheus 2.42 does, 500
 * {"status":"error","errorType":"unavailable","error":"admin APIs disabled"} (GET gets 405 from the
 * router). Their work (deleting, rewriting blocks, linking a snapshot) runs on the query pool.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/duration.h"
#include "base/log.h"
#include "base/mem.h"
#include "engine/db.h"
#include "net/api.h"
#include "net/server_int.h"

#define MAX_MATCH_PARAMS 256

static bool admin_enabled(em_server_t *s, h2o_req_t *req)
{
    if (s->o.enable_admin_api)
        return true;
    em_http_respond_json_error(req, 500, "unavailable", "admin APIs disabled");
    return false;
}

/* Go's strconv.ParseBool. */
static int parse_bool(const char *v, bool *out)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(v, t[i]) == 0) {
            *out = true;
            return EM_OK;
        }
        if (strcmp(v, f[i]) == 0) {
            *out = false;
            return EM_OK;
        }
    }
    return EM_EINVAL;
}

/* ---- deferred jobs ---- */

typedef enum { JOB_DELETE, JOB_CLEAN, JOB_SNAPSHOT } job_kind_t;

typedef struct admin_job {
    em_server_t *s;
    job_kind_t kind;
    bool skip_head;
    int64_t mint, maxt;
    em_matcher_t **ms; /* per match[] set: n_ms[i] matchers; owned */
    size_t *n_ms, n_sets;
    int rc;
    em_err_t err;
    char name[64];
} admin_job_t;

static void job_free(admin_job_t *j)
{
    for (size_t i = 0; i < j->n_sets; i++) {
        for (size_t k = 0; k < j->n_ms[i]; k++)
            em_matcher_fini(&j->ms[i][k]);
        free(j->ms[i]);
    }
    free(j->ms);
    free(j->n_ms);
    free(j);
}

static void admin_work(em_http_job_t *job, void *arg)
{
    admin_job_t *j = arg;
    em_db_t *db = j->s->db;
    em_err_clear(&j->err);
    switch (j->kind) {
    case JOB_DELETE:
        j->rc = EM_OK;
        for (size_t i = 0; i < j->n_sets && j->rc == EM_OK; i++) {
            const em_matcher_t **ms = em_calloc(j->n_ms[i] ? j->n_ms[i] : 1, sizeof(*ms));
            for (size_t k = 0; k < j->n_ms[i]; k++)
                ms[k] = &j->ms[i][k];
            j->rc = em_db_delete(db, j->mint, j->maxt, ms, j->n_ms[i], &j->err);
            free(ms);
        }
        break;
    case JOB_CLEAN:
        j->rc = em_db_clean_tombstones(db, &j->err);
        break;
    case JOB_SNAPSHOT:
        j->rc = em_db_snapshot(db, j->skip_head, j->name, sizeof(j->name), &j->err);
        break;
    }
    em_http_job_done(job);
}

static void admin_finish(h2o_req_t *req, void *arg)
{
    admin_job_t *j = arg;
    if (req) {
        if (j->rc != EM_OK) {
            char msg[EM_ERR_MSG_MAX + 64];
            const char *what = j->kind == JOB_DELETE  ? "delete series"
                               : j->kind == JOB_CLEAN ? "clean tombstones"
                                                      : "create snapshot";
            snprintf(msg, sizeof(msg), "%s: %s", what, j->err.msg);
            em_error("web", "Admin API request failed", "err=%s", em_q(msg));
            em_http_respond_json_error(req, 500, "internal", msg);
        } else if (j->kind == JOB_SNAPSHOT) {
            em_buf_t b = EM_BUF_INIT;
            em_buf_puts(&b, "{\"name\":");
            em_buf_put_json_str(&b, j->name, strlen(j->name));
            em_buf_putc(&b, '}');
            em_http_respond_json_data(req, b.data, b.len, NULL);
            em_buf_fini(&b);
        } else {
            em_http_respond(req, 204, NULL, "", 0);
        }
    }
    job_free(j);
}

static int start_job(h2o_req_t *req, admin_job_t *j)
{
    if (em_http_defer(req, j->s->pool, admin_work, admin_finish, j) != EM_OK)
        job_free(j);
    return 0;
}

/* ---- handlers ---- */

/* Prometheus's parseTimeParam: absent means the default; otherwise seconds or RFC 3339. */
static bool time_param(h2o_req_t *req, const em_http_params_t *p, const char *name, int64_t dflt,
                       int64_t *out)
{
    const char *v = em_http_param(p, name);
    if (!v || !*v) {
        *out = dflt;
        return true;
    }
    if (em_time_parse(v, out) == EM_OK)
        return true;
    char msg[256];
    snprintf(msg, sizeof(msg),
             "invalid parameter \"%s\": Invalid time value for '%s': cannot parse \"%.100s\" to a "
             "valid timestamp",
             name, name, v);
    em_http_respond_json_error(req, 400, "bad_data", msg);
    return false;
}

int api_admin_delete_series(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    if (!admin_enabled(s, req) || !api_ready(s, req))
        return 0;
    em_http_params_t p;
    em_err_t err;
    if (em_http_params_parse(req, &p, &err) != EM_OK) {
        em_http_respond_json_error(req, 400, "bad_data", err.msg);
        return 0;
    }
    const char *match[MAX_MATCH_PARAMS];
    size_t n_match = em_http_param_all(&p, "match[]", match, MAX_MATCH_PARAMS);
    if (n_match == 0) {
        em_http_respond_json_error(req, 400, "bad_data", "no match[] parameter provided");
        return 0;
    }
    if (n_match > MAX_MATCH_PARAMS) {
        em_http_respond_json_error(req, 400, "bad_data", "too many match[] parameters");
        return 0;
    }
    admin_job_t *j = EM_NEW(admin_job_t);
    j->s = s;
    j->kind = JOB_DELETE;
    if (!time_param(req, &p, "start", INT64_MIN, &j->mint) ||
        !time_param(req, &p, "end", INT64_MAX, &j->maxt)) {
        job_free(j);
        return 0;
    }
    j->ms = em_calloc(n_match, sizeof(*j->ms));
    j->n_ms = em_calloc(n_match, sizeof(*j->n_ms));
    for (size_t i = 0; i < n_match; i++) {
        j->n_sets++;
        if (api_parse_matchers(match[i], &j->ms[i], &j->n_ms[i], &err) != EM_OK) {
            char msg[EM_ERR_MSG_MAX + 64];
            snprintf(msg, sizeof(msg), "invalid parameter \"match[]\": %s", err.msg);
            em_http_respond_json_error(req, 400, "bad_data", msg);
            job_free(j);
            return 0;
        }
    }
    return start_job(req, j);
}

int api_admin_clean_tombstones(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    if (!admin_enabled(s, req) || !api_ready(s, req))
        return 0;
    admin_job_t *j = EM_NEW(admin_job_t);
    j->s = s;
    j->kind = JOB_CLEAN;
    return start_job(req, j);
}

int api_admin_snapshot(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    if (!admin_enabled(s, req) || !api_ready(s, req))
        return 0;
    em_http_params_t p;
    em_err_t err;
    if (em_http_params_parse(req, &p, &err) != EM_OK) {
        em_http_respond_json_error(req, 400, "bad_data", err.msg);
        return 0;
    }
    bool skip = false;
    const char *v = em_http_param(&p, "skip_head");
    if (v && *v && parse_bool(v, &skip) != EM_OK) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "invalid parameter \"skip_head\": unable to parse boolean: strconv.ParseBool: parsing "
                 "\"%.100s\": "
                 "invalid syntax",
                 v);
        em_http_respond_json_error(req, 400, "bad_data", msg);
        return 0;
    }
    admin_job_t *j = EM_NEW(admin_job_t);
    j->s = s;
    j->kind = JOB_SNAPSHOT;
    j->skip_head = skip;
    return start_job(req, j);
}

/* ---- /api/v1/status/tsdb ---- */

typedef struct status_job {
    em_server_t *s;
    size_t limit;
    int rc;
    em_err_t err;
    em_buf_t out;
} status_job_t;

static void put_stats(em_buf_t *b, const char *key, const em_db_stat_t *v, size_t n)
{
    em_buf_printf(b, ",\"%s\":[", key);
    for (size_t i = 0; i < n; i++) {
        if (i)
            em_buf_putc(b, ',');
        em_buf_puts(b, "{\"name\":");
        em_buf_put_json_str(b, v[i].name, strlen(v[i].name));
        em_buf_printf(b, ",\"value\":%llu}", (unsigned long long)v[i].value);
    }
    em_buf_putc(b, ']');
}

static void status_work(em_http_job_t *job, void *arg)
{
    status_job_t *j = arg;
    em_arena_t a;
    em_arena_init(&a);
    em_db_status_t st;
    j->rc = em_db_status(j->s->db, j->limit, &a, &st, &j->err);
    if (j->rc == EM_OK) {
        em_buf_t *b = &j->out;
        em_buf_printf(
            b,
            "{\"headStats\":{\"numSeries\":%llu,\"numLabelPairs\":%llu,\"chunkCount\":%llu,\"minTime\":%lld,"
            "\"maxTime\":%lld}",
            (unsigned long long)st.num_series, (unsigned long long)st.num_label_pairs,
            (unsigned long long)st.chunk_count, (long long)st.min_time_ms, (long long)st.max_time_ms);
        put_stats(b, "seriesCountByMetricName", st.series_by_metric, st.n_series_by_metric);
        put_stats(b, "labelValueCountByLabelName", st.label_value_count, st.n_label_value_count);
        put_stats(b, "memoryInBytesByLabelName", st.memory_by_label, st.n_memory_by_label);
        put_stats(b, "seriesCountByLabelValuePair", st.series_by_pair, st.n_series_by_pair);
        em_buf_putc(b, '}');
    }
    em_arena_fini(&a);
    em_http_job_done(job);
}

static void status_finish(h2o_req_t *req, void *arg)
{
    status_job_t *j = arg;
    if (req) {
        if (j->rc == EM_OK)
            em_http_respond_json_data(req, j->out.data, j->out.len, NULL);
        else
            em_http_respond_json_error(req, 500, "internal", j->err.msg);
    }
    em_buf_fini(&j->out);
    free(j);
}

int api_status_tsdb(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    if (!api_ready(s, req))
        return 0;
    em_http_params_t p;
    em_err_t err;
    if (em_http_params_parse(req, &p, &err) != EM_OK) {
        em_http_respond_json_error(req, 400, "bad_data", err.msg);
        return 0;
    }
    /* Prometheus 3: ?limit=N (default 10, at least 1). */
    long limit = EM_DB_STATUS_TOP;
    const char *v = em_http_param(&p, "limit");
    if (v && *v) {
        char *end;
        limit = strtol(v, &end, 10);
        if (*end || limit < 1 || limit > 10000) {
            em_http_respond_json_error(req, 400, "bad_data", "limit must be a positive number");
            return 0;
        }
    }
    status_job_t *j = EM_NEW(status_job_t);
    j->s = s;
    j->limit = (size_t)limit;
    em_buf_init(&j->out);
    if (em_http_defer(req, s->pool, status_work, status_finish, j) != EM_OK) {
        em_buf_fini(&j->out);
        free(j);
    }
    return 0;
}
