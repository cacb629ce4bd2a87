/* query/eval.h -- the PromQL engine: instant and range queries over an em_queryable_t.
 *
 * DESIGN. A query is parsed (query/parse.h) and evaluated the way Prometheus 3's promql.Engine does
 * (promql/engine.go): every node of the tree is evaluated once over all steps of the query and yields
 * a matrix (series of points at the step timestamps), so an instant query is a range query with one
 * step. Selectors read storage once per selector and time range through em_queryable_t
 * (engine/querier.h) with em_select_hints_t; functions over range vectors slide a window over each
 * series' samples. Semantics that matter and are Prometheus 3's:
 *   - lookback delta (default 5m): an instant selector takes the newest sample in (t - lookback, t];
 *     a stale marker (engine/chunk.h) ends a series; range selectors are left-open (t - range, t];
 *   - offset and @ are applied before lookback; subqueries are aligned to absolute multiples of their
 *     step; a range query's steps are start, start + step, ... <= end;
 *   - the metric name is dropped where Prometheus drops it, lazily (promql-delayed-name-removal) when
 *     the feature is on;
 *   - --query.max-samples: "query processing would load too many samples into memory in query
 *     execution"; at most 11,000 points per series in a range query ("exceeded maximum resolution of
 *     11,000 points per timeseries. Try decreasing the query resolution (?step=XX)").
 * Native histograms are not supported: expressions that need them fail with a clear error.
 *
 * MEMORY. Everything a query allocates (values, labels, scratch) lives in one arena owned by its
 * result; em_query_result_free releases it all at once.
 *
 * CONCURRENCY. At most opts.max_concurrency queries evaluate at once; more wait in FIFO-ish order
 * (a condition variable). Each query runs entirely on the calling thread, which must be registered
 * with RCU (em_rcu_thread_online(), engine/querier.h) because storage is read through queriers; the
 * HTTP layer calls these functions from its work pool, never from an event loop.
 *
 * CANCELLATION. The query polls the optional cancel flag (net/http.h em_http_job_cancel_flag) and its
 * deadline (timeout) between steps and series; either ends it with kind EM_QERR_CANCELED or
 * EM_QERR_TIMEOUT.
 */
#ifndef EMBER_QUERY_EVAL_H
#define EMBER_QUERY_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "engine/labels.h"
#include "engine/querier.h"
#include "query/ast.h"
#include "query/parse.h"

typedef struct em_query_engine em_query_engine_t;

typedef struct em_query_engine_opts {
    int64_t lookback_ms;              /* --query.lookback-delta; 0: 5m */
    int64_t max_samples;              /* --query.max-samples; 0: 50,000,000 */
    int64_t timeout_ms;               /* --query.timeout; 0: 2m */
    int max_concurrency;              /* --query.max-concurrency; 0: 20 */
    int64_t default_subquery_step_ms; /* step of `x[5m:]`: the global evaluation interval; 0: 1m */
    em_promql_opts_t features;        /* --enable-feature=promql-* */
} em_query_engine_opts_t;

/* Create an engine (NULL opts: all defaults). Never fails (aborts on out of memory). Thread: any. */
em_query_engine_t *em_query_engine_new(const em_query_engine_opts_t *opts);
/* Free the engine; no query may be running. NULL allowed. */
void em_query_engine_free(em_query_engine_t *e);
/* The options in effect (defaults filled in). */
const em_query_engine_opts_t *em_query_engine_opts(const em_query_engine_t *e);

/* What went wrong, as the HTTP API reports it (errorType and status). */
typedef enum {
    EM_QERR_NONE = 0,
    EM_QERR_BAD_DATA,  /* parse error, bad parameters: 400 "bad_data" */
    EM_QERR_EXECUTION, /* evaluation error, too many samples: 422 "execution" */
    EM_QERR_TIMEOUT,   /* 503 "timeout" */
    EM_QERR_CANCELED,  /* 503 "canceled" */
    EM_QERR_INTERNAL,  /* storage failure: 500 "internal" */
} em_qerr_kind_t;

/* The API's errorType string for a kind ("bad_data", "execution", "timeout", "canceled",
 * "internal"); "" for EM_QERR_NONE. */
const char *em_qerr_kind_str(em_qerr_kind_t k);

typedef struct em_qpoint {
    int64_t t_ms;
    double v;
} em_qpoint_t;

typedef struct em_qseries {
    em_labels_t labels;
    em_qpoint_t *pts; /* ascending t_ms; exactly one for a vector result */
    size_t n_pts;
} em_qseries_t;

/* What the API's stats parameter shows (Prometheus's timings and samples). Times in seconds. Samples:
 * total counts each sample a step used (a selected sample once per step, a range function's window
 * once per step), as Prometheus's totalQueryableSamples; peak is the most samples held at once, what
 * --query.max-samples limits (ev_hold in eval.c says what is held). */
typedef struct em_query_stats {
    double exec_queue_s, prep_s, inner_eval_s, sort_s, exec_total_s;
    int64_t total_samples, peak_samples;
} em_query_stats_t;

typedef struct em_query_result {
    em_vtype_t type;      /* SCALAR, VECTOR, MATRIX or STRING; NONE on error */
    em_qseries_t *series; /* VECTOR and MATRIX: the series (matrix sorted by labels) */
    size_t n_series;
    double scalar;   /* SCALAR */
    int64_t t_ms;    /* SCALAR and STRING: evaluation time */
    const char *str; /* STRING (NUL-terminated; may contain NULs: str_len) */
    size_t str_len;
    const char **warnings; /* annotations, "PromQL warning: ..." */
    size_t n_warnings;
    const char **infos; /* "PromQL info: ..." */
    size_t n_infos;
    em_qerr_kind_t err_kind;
    const char *err; /* message (Prometheus's text) when err_kind != NONE */
    em_query_stats_t stats;
    em_arena_t arena; /* owns everything above */
} em_query_result_t;

/* Evaluate 'expr' (len bytes) at t_ms. timeout_ms 0 uses the engine's. 'cancel' may be NULL; when it
 * points at a non-zero int the query stops. Always sets *out (free with em_query_result_free); returns
 * EM_OK when the query succeeded, otherwise a negative code (EM_EINVAL parse error, EM_ELIMIT too many
 * samples, EM_ETIMEOUT, EM_ECANCELED, EM_EIO storage, EM_EUNSUPPORTED native histograms ...) and
 * (*out)->err_kind / err say what Prometheus would say. Blocks while max_concurrency queries run.
 * Thread: any thread registered with RCU. */
int em_query_exec_instant(em_query_engine_t *e, em_queryable_t *qa, const char *expr, size_t len,
                          int64_t t_ms, int64_t timeout_ms, const volatile int *cancel,
                          em_query_result_t **out);

/* As em_query_exec_instant over start_ms, start_ms + step_ms, ... <= end_ms. step_ms must be > 0 and
 * end >= start (else EM_EINVAL, bad_data, with Prometheus's API text); more than 11,000 steps is
 * refused with Prometheus's text. The result is a MATRIX (a scalar expression gives one series without
 * labels). Thread: as em_query_exec_instant. */
int em_query_exec_range(em_query_engine_t *e, em_queryable_t *qa, const char *expr, size_t len,
                        int64_t start_ms, int64_t end_ms, int64_t step_ms, int64_t timeout_ms,
                        const volatile int *cancel, em_query_result_t **out);

/* A query with every per-request option (the HTTP API's parameters). */
typedef struct em_query_req {
    const char *expr;
    size_t len;
    int64_t start_ms, end_ms, step_ms; /* step_ms 0: instant, at start_ms */
    int64_t timeout_ms;                /* 0: the engine's */
    int64_t lookback_ms;               /* 0: the engine's (--query.lookback-delta) */
    const volatile int *cancel;        /* may be NULL */
} em_query_req_t;

/* em_query_exec_instant or em_query_exec_range, as req->step_ms says. Thread: as those. */
int em_query_exec(em_query_engine_t *e, em_queryable_t *qa, const em_query_req_t *req,
                  em_query_result_t **out);

/* Free a result and everything in it. NULL allowed. Thread: any (one owner). */
void em_query_result_free(em_query_result_t *r);

#endif
