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
/* GET /api/v1/targets and /api/v1/targets/metadata (api_targets.c) */
int api_targets(h2o_req_t *req, void *arg);
int api_targets_metadata(h2o_req_t *req, void *arg);

#endif
