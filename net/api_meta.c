/* Design: see api.h. This file: /api/v1/metadata and readiness for the API. */
#include <stdlib.h>
#include <string.h>

#include "ingest/metastore.h"
#include "net/api.h"
#include "net/server_int.h"

bool api_ready(em_server_t *s, h2o_req_t *req)
{
    if (atomic_load(&s->ready))
        return true;
    static const char body[] = "Service Unavailable";
    em_http_respond(req, 503, "text/plain; charset=utf-8", body, sizeof(body) - 1);
    return false;
}

/* A non-negative integer parameter, or -1 when absent or empty; -2 when malformed. */
static long int_param(const em_http_params_t *p, const char *name)
{
    const char *v = em_http_param(p, name);
    if (!v || !*v)
        return -1;
    char *end;
    long n = strtol(v, &end, 10);
    return *end ? -2 : n;
}

int api_metadata(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    em_http_params_t p;
    em_err_t err;
    if (em_http_params_parse(req, &p, &err) != EM_OK) {
        em_http_respond_json_error(req, 400, "bad_data", err.msg);
        return 0;
    }
    long limit = int_param(&p, "limit"), per = int_param(&p, "limit_per_metric");
    if (limit == -2 || per == -2) {
        em_http_respond_json_error(req, 400, "bad_data", "limit must be a number");
        return 0;
    }
    /* Prometheus: a limit of 0 or below means no limit. */
    if (limit == 0)
        limit = -1;
    if (per == 0)
        per = -1;
    const char *metric = em_http_param(&p, "metric");
    em_buf_t b = EM_BUF_INIT;
    em_metastore_json(s->metadata, metric && *metric ? metric : NULL, limit, per, &b);
    em_http_respond_json_data(req, b.data, b.len, NULL);
    em_buf_fini(&b);
    return 0;
}
