/* net/api.h -- the Prometheus HTTP API handlers (internal to net/; routed by server.c).
 *
 * Every handler is an em_http_handler_fn whose arg is the em_server_t. Cheap ones answer on the loop
 * thread; the rest defer to a pool. JSON envelopes and error types are Prometheus's:
 *     {"status":"success","data":...,"warnings":[...]}   {"status":"error","errorType":"bad_data","error":"..."}
 */
#ifndef EMBER_NET_API_H
#define EMBER_NET_API_H

#include <stdbool.h>

#include "net/http.h"
#include "net/server.h"

/* While storage is still opening, answer 503 as Prometheus does and return false. Thread: loop. */
bool api_ready(em_server_t *s, h2o_req_t *req);

/* POST /api/v1/write (api_write.c) */
int api_write(h2o_req_t *req, void *arg);
/* GET /api/v1/metadata (api_meta.c) */
int api_metadata(h2o_req_t *req, void *arg);

/* /api/v1/query, query_range, format_query, query_exemplars (api_query.c) */
int api_query(h2o_req_t *req, void *arg);
int api_query_range(h2o_req_t *req, void *arg);
int api_format_query(h2o_req_t *req, void *arg);
int api_query_exemplars(h2o_req_t *req, void *arg);
/* /api/v1/series, labels, label/<name>/values (api_series.c) */
int api_series(h2o_req_t *req, void *arg);
int api_labels(h2o_req_t *req, void *arg);
int api_label_values(h2o_req_t *req, void *arg);

/* Shared by the API handlers (api_query.c). */
/* Answer {"status":"error",...} with the status code Prometheus gives 'error_type'. Thread: loop. */
void api_error(h2o_req_t *req, const char *error_type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A time parameter as Prometheus's parseTimeParam: absent -> def; else Unix seconds or RFC 3339. On a bad
 * value answers 400 and returns false. 'wrap' adds Prometheus's "invalid time value for '<name>': ". */
bool api_time_param(h2o_req_t *req, const em_http_params_t *p, const char *name, int64_t def, bool wrap,
                    int64_t *t_ms);
/* The 'limit' parameter (0: none); answers 400 and returns false when malformed. */
bool api_limit_param(h2o_req_t *req, const em_http_params_t *p, long *limit);
/* Prometheus's MinTime and MaxTime in milliseconds: the defaults of optional start/end. */
#define API_MIN_TIME_MS (-9223309901257974000LL)
#define API_MAX_TIME_MS (9223309901257974999LL)

#endif
