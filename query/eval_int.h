/* query/eval_int.h -- internals shared by the evaluator's files (eval.c, eval_ops.c, eval_call.c).
 *
 * Errors inside evaluation unwind with longjmp to the query's entry point, as Prometheus's evaluator
 * panics and recovers: everything evaluation allocates is in the query arena and storage handles are
 * closed before any call that may fail, so unwinding leaks nothing.
 */
#ifndef EMBER_QUERY_EVAL_INT_H
#define EMBER_QUERY_EVAL_INT_H

#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "query/ast.h"
#include "query/eval.h"
#include "query/value.h"

typedef struct ev_annos {
    const char **warn;
    size_t n_warn, cap_warn;
    const char **info;
    size_t n_info, cap_info;
} ev_annos_t;

/* Storage handles open while a selector streams its series: closed by the query's entry point if an
 * error unwinds through a callback. */
typedef struct ev_storage {
    em_querier_t *q;
    em_series_set_t *set;
    em_sample_iter_t *it;
    em_fpoint_t *scratch; /* one series' samples, reused (heap, freed at the end of the query) */
    int64_t *scratch_st;  /* their start timestamps, when asked for (allocated then) */
    size_t scratch_cap, scratch_st_cap;
} ev_storage_t;

typedef struct ev {
    em_arena_t *a;
    int64_t start, end, interval;   /* this (sub)evaluation's steps; interval >= 1 */
    int64_t q_start, q_end, q_step; /* the query's, for @ start()/end() and step() */
    int64_t lookback_ms;
    int64_t max_samples;
    int64_t subq_step_ms;
    em_queryable_t *qa;
    const volatile int *cancel;
    int64_t deadline_ns;
    /* Samples held, as Prometheus's --query.max-samples counts them: every node's result until its parent
     * is done with it, and while a selector streams, what its series produced so far (sel_out) and the
     * samples of the series being read. */
    int64_t held, sel_out;
    int64_t stat_total, stat_peak; /* em_query_stats_t's samples */
    bool delayed_name_removal;
    bool use_start_timestamps;
    const em_ast_t *ast;
    jmp_buf *jb;
    int err_code;
    em_qerr_kind_t err_kind;
    const char *err_msg;
    ev_annos_t *annos;
    ev_storage_t *st;
    unsigned tick;
} ev_t;

__attribute__((noreturn, format(printf, 4, 5))) void ev_fail(ev_t *ev, int code, em_qerr_kind_t kind,
                                                             const char *fmt, ...);
#define EV_EXEC_FAIL(ev, ...) ev_fail((ev), EM_EINVAL, EM_QERR_EXECUTION, __VA_ARGS__)
void ev_check(ev_t *ev);
/* Account for holding 'extra' samples beyond ev->held for a moment: record the peak, and fail with
 * Prometheus's error beyond --query.max-samples. */
void ev_hold(ev_t *ev, int64_t extra);
/* Close what ev_select_each left open (after an error). */
void ev_storage_close(ev_storage_t *st);
void ev_warn(ev_t *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ev_info(ev_t *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline size_t ev_steps(const ev_t *ev)
{
    return (size_t)((ev->end - ev->start) / ev->interval) + 1;
}

/* Evaluate a node over all steps (string nodes are not evaluated here). */
em_matrix_t ev_eval(ev_t *ev, const em_node_t *n);
/* Resolve a duration: the literal ms, or the duration expression's value. */
int64_t ev_duration(ev_t *ev, int64_t lit_ms, const em_node_t *expr);

/* ---- step-wise helpers ---- */

/* Gathers, step by step, the instant vector a matrix holds at each step time. */
typedef struct ev_gather {
    const em_matrix_t *m;
    size_t *cur;
} ev_gather_t;
void ev_gather_init(ev_t *ev, ev_gather_t *g, const em_matrix_t *m);
void ev_gather_at(ev_t *ev, ev_gather_t *g, int64_t ts, em_vector_t *out);
/* The value of a scalar matrix at step index 'step' (NaN if absent). */
double ev_scalar_at(const em_matrix_t *m, size_t step, int64_t ts);

/* Collects per-step output vectors into series keyed by labels (Prometheus's rangeEval output). */
typedef struct ev_out {
    em_matrix_t m;
    uint64_t *keys;
    uint32_t *slot; /* index + 1, 0 empty */
    int64_t *last_ts;
    size_t cap, last_cap;
    bool instant;
} ev_out_t;
void ev_out_init(ev_t *ev, ev_out_t *o);
void ev_out_add(ev_t *ev, ev_out_t *o, const em_labels_t *ls, bool drop_name, int64_t ts, double v);
/* Emit a whole vector at step ts. */
void ev_out_vector(ev_t *ev, ev_out_t *o, const em_vector_t *vec, int64_t ts);

/* Labels without __name__ (an arena copy when it had one). */
em_labels_t ev_labels_drop_name(ev_t *ev, const em_labels_t *ls);
/* Mark a value's name to be dropped: at once, or at the end with delayed name removal. */
static inline void ev_mark_drop(ev_t *ev, em_labels_t *ls, bool *flag)
{
    *flag = true;
    if (!ev->delayed_name_removal)
        *ls = ev_labels_drop_name(ev, ls);
}
/* Error out when two series of m have the same labels (Prometheus's ContainsSameLabelset). */
void ev_check_dup_labels(ev_t *ev, const em_matrix_t *m);
/* Merge series with equal labels whose points do not overlap (mergeSeriesWithSameLabelset). */
em_matrix_t ev_merge_same_labels(ev_t *ev, em_matrix_t m);

/* ---- the node kinds in other files ---- */
em_matrix_t ev_binary(ev_t *ev, const em_node_t *n);
em_matrix_t ev_aggregate(ev_t *ev, const em_node_t *n);
em_matrix_t ev_call(ev_t *ev, const em_node_t *n);
em_matrix_t ev_call_info(ev_t *ev, const em_node_t *n);
/* Selectors (eval.c), for the call code. ev_select_each streams the series matching vs with their
 * samples in [mint, maxt] (stale markers included) to fn, one at a time; labels and samples are valid
 * only during the call (copy what you keep). With want_sts, sts holds each sample's start timestamp (0:
 * unknown), or is NULL when the series has none; without, it is NULL. */
typedef void (*ev_series_fn)(ev_t *ev, const em_labels_t *ls, em_fpoint_t *pts, int64_t *sts, size_t n,
                             void *ctx);
void ev_select_each(ev_t *ev, const em_vector_sel_t *vs, int64_t mint, int64_t maxt, const char *func,
                    int64_t range_ms, bool want_sts, ev_series_fn fn, void *ctx);
em_matrix_t ev_load_selector(ev_t *ev, const em_vector_sel_t *vs, int64_t mint, int64_t maxt,
                             const char *func, int64_t range_ms);
/* What an instant selector yields per step: the sample's value, its timestamp (timestamp()) or its start
 * timestamp (start_timestamp(); 0 when unknown), in seconds. */
typedef enum { EV_VS_VALUE, EV_VS_TIMESTAMP, EV_VS_START_TIMESTAMP } ev_vs_yield_t;
em_matrix_t ev_vector_selector(ev_t *ev, const em_node_t *n, ev_vs_yield_t yield);
em_matrix_t ev_subquery(ev_t *ev, const em_node_t *n);
int64_t ev_at_time(ev_t *ev, const em_at_t *at, bool *has);

bool ev_is_stale(double v);

/* Prometheus 3's label name rule (model.UTF8Validation): any non-empty valid UTF-8. */
static inline bool ev_label_name_valid(const char *s)
{
    return s[0] != 0 && em_utf8_valid(s, strlen(s));
}

#endif
