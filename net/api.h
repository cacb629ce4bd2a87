/* net/api.h -- the Prometheus HTTP API handlers (internal to net/; routed by server.c).
 *
 * Every handler is an em_http_handler_fn whose arg is the em_server_t. Cheap ones answer on the loop
 * thread; the rest defer to a pool. JSON envelopes and error types are Prometheus's:
 *     {"status":"success","data":...,"warnings":[...]}   {"status":"error","errorType":"bad_data","error":"..."}
 */
#ifndef EMBER_NET_API_H
#define EMBER_NET_API_H

#include <stdbool.h>

#include "engine/matcher.h"

#include "engine/labels.h"
#include "engine/querier.h"
#include "ingest/remote.h"
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
/* POST /api/v1/read (api_read.c) */
int api_read(h2o_req_t *req, void *arg);
/* GET /federate (api_federate.c) */
int api_federate(h2o_req_t *req, void *arg);

/* ---- remote read without HTTP (api_read.c; the handler's core, separate for tests) ---- */

/* Called with whole frames of a STREAMED_XOR_CHUNKS answer whenever 'out' holds at least flush_bytes;
 * it sends (and empties) 'out' and returns EM_OK, or an error to stop (the client went away). */
typedef int (*api_read_flush_fn)(em_buf_t *out, void *arg);

typedef struct api_read_opts {
    int64_t sample_limit;      /* per query, SAMPLES only (Prometheus's rule); 0 = none */
    size_t max_bytes_in_frame; /* 0 = EM_REMOTE_READ_MAX_BYTES_IN_FRAME */
    size_t max_decoded_bytes;  /* of the request; 0 = EM_REMOTE_DEFAULT_MAX_DECODED_BYTES */
    api_read_flush_fn flush;   /* NULL: the whole answer stays in the body */
    void *flush_arg;
    size_t flush_bytes;
} api_read_opts_t;

typedef struct api_read_resp {
    int status;               /* 200 or Prometheus's error status */
    const char *content_type; /* static string */
    bool snappy;              /* answer with Content-Encoding: snappy */
    bool streamed;            /* some frames already went to 'flush': an error can no longer be a status */
    em_buf_t body;            /* the answer (what was not flushed), or the error text ending in "\n" */
} api_read_resp_t;

/* Answer a snappy-compressed ReadRequest 'body' from 'qa' as Prometheus's read handler does: negotiate
 * the response type, turn equality matchers on external labels into 'absent' matchers, select each
 * query's series, add the external labels 'ext' (sorted; series labels win) and encode SAMPLES or
 * STREAMED_XOR_CHUNKS. The caller initialises resp->body and frees it. Errors set resp->status and
 * resp->body to Prometheus's text: 400 for an undecodable request, unsupported response types or an
 * exceeded sample limit ("exceeded sample limit (N)"), 500 for a bad regex or a storage error.
 * 'canceled' (may be NULL) is polled between series. Thread: any registered with RCU. */
void api_read_body(em_queryable_t *qa, const void *body, size_t len, const em_labels_t *ext,
                   const api_read_opts_t *o, const volatile int *canceled, api_read_resp_t *resp);

/* ---- federation without HTTP (api_federate.c) ---- */

/* One match[] selector's matchers. */
typedef struct api_federate_sel {
    const em_matcher_t *const *ms;
    size_t n;
} api_federate_sel_t;

/* Append, in the text format 0.0.4, the newest sample in [now_ms - lookback_ms, now_ms] of every series
 * matching any of the selectors, as Prometheus's /federate does: series that are stale there are left
 * out, families sorted by name each with "# TYPE name untyped", every sample with its timestamp, the
 * external labels 'ext' (sorted) appended after the series' own labels unless the series has the label,
 * and instance="" appended when neither has an instance label. Returns EM_OK or a storage error.
 * Thread: any registered with RCU. */
int api_federate_write(em_queryable_t *qa, const api_federate_sel_t *sels, size_t n_sels,
                       const em_labels_t *ext, int64_t now_ms, int64_t lookback_ms, em_buf_t *out,
                       em_err_t *err);

/* Admin API (api_admin.c; only with --web.enable-admin-api) and /api/v1/status/tsdb. */
int api_admin_delete_series(h2o_req_t *req, void *arg);
int api_admin_clean_tombstones(h2o_req_t *req, void *arg);
int api_admin_snapshot(h2o_req_t *req, void *arg);
int api_status_tsdb(h2o_req_t *req, void *arg);

/* Parse one match[] selector into a malloc'd array of initialised matchers (free with em_matcher_fini
 * on each, then free). EM_OK or EM_EINVAL with Prometheus's parse error. Thread: any. */
int api_parse_matchers(const char *sel, em_matcher_t **out, size_t *n_out, em_err_t *err);

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
/* A label set as a JSON object, {"name":"value",...} in the set's order. */
void api_put_labels_json(em_buf_t *b, const em_labels_t *ls);
/* The 'limit' parameter (0: none); answers 400 and returns false when malformed. */
bool api_limit_param(h2o_req_t *req, const em_http_params_t *p, long *limit);
/* Prometheus's MinTime and MaxTime in milliseconds: the defaults of optional start/end. */
#define API_MIN_TIME_MS (-9223309901257974000LL)
#define API_MAX_TIME_MS (9223309901257974999LL)

#endif
