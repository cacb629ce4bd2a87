/* Design: see api.h. This file: /api/v1/targets and /api/v1/targets/metadata (ingest/scrape.h holds
 * the state and writes the JSON). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ingest/scrape.h"
#include "net/api.h"
#include "net/server_int.h"

static em_scrape_manager_t *manager(em_server_t *s)
{
    pthread_mutex_lock(&s->config_mu);
    em_scrape_manager_t *m = s->scrape;
    pthread_mutex_unlock(&s->config_mu);
    return m;
}

int api_targets(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    em_http_params_t p;
    em_err_t err;
    if (em_http_params_parse(req, &p, &err) != EM_OK) {
        em_http_respond_json_error(req, 400, "bad_data", err.msg);
        return 0;
    }
    /* Prometheus: state is any (default), active or dropped, case-insensitively; anything else is "any". */
    const char *st = em_http_param(&p, "state");
    em_targets_state_t state = EM_TARGETS_ANY;
    if (st && strcasecmp(st, "active") == 0)
        state = EM_TARGETS_ACTIVE;
    else if (st && strcasecmp(st, "dropped") == 0)
        state = EM_TARGETS_DROPPED;
    const char *pool = em_http_param(&p, "scrapePool");
    em_scrape_manager_t *m = manager(s);
    em_buf_t b = EM_BUF_INIT;
    if (m)
        em_scrape_manager_targets_json(m, state, pool && *pool ? pool : NULL, &b);
    else
        em_buf_puts(&b, "{\"activeTargets\":[],\"droppedTargets\":[],\"droppedTargetCounts\":{}}");
    em_http_respond_json_data(req, b.data, b.len, NULL);
    em_buf_fini(&b);
    return 0;
}

int api_targets_metadata(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    em_http_params_t p;
    em_err_t err;
    if (em_http_params_parse(req, &p, &err) != EM_OK) {
        em_http_respond_json_error(req, 400, "bad_data", err.msg);
        return 0;
    }
    long limit = -1;
    const char *ls = em_http_param(&p, "limit");
    if (ls && *ls) {
        char *end;
        limit = strtol(ls, &end, 10);
        if (*end) {
            em_http_respond_json_error(req, 400, "bad_data", "limit must be a number");
            return 0;
        }
    }
    em_scrape_manager_t *m = manager(s);
    em_buf_t b = EM_BUF_INIT;
    int rc = EM_OK;
    if (m)
        rc = em_scrape_manager_metadata_json(m, em_http_param(&p, "match_target"),
                                             em_http_param(&p, "metric"), limit, &b, &err);
    else
        em_buf_puts(&b, "[]");
    if (rc != EM_OK)
        em_http_respond_json_error(req, 400, "bad_data", err.msg);
    else
        em_http_respond_json_data(req, b.data, b.len, NULL);
    em_buf_fini(&b);
    return 0;
}
