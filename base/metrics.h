/* base/metrics.h -- Ember's self-instrumentation, served on /metrics in the Prometheus text format.
 *
 * DESIGN. One process-wide registry of metric families (name, help, type), each holding children keyed
 * by their label string (`handler="/api/v1/query",code="200"`, without braces). Registration is
 * get-or-create: asking twice for the same name and labels returns the same child, so modules may look
 * their metrics up lazily. Children live until the process ends (a registry of a few hundred entries).
 *
 * Updates are lock-free: counters and gauges are single atomics padded to a cache line, so shard
 * threads bumping their own counters never share a line. Values computed at scrape time (head series,
 * process_* figures) come from collector callbacks, which print their own sample lines.
 *
 * Thread: any. Registration and rendering take the registry mutex; updates take none.
 */
#ifndef EMBER_BASE_METRICS_H
#define EMBER_BASE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

typedef enum { EM_METRIC_COUNTER, EM_METRIC_GAUGE, EM_METRIC_HISTOGRAM, EM_METRIC_UNTYPED } em_metric_type_t;

typedef struct em_counter {
    _Alignas(64) _Atomic uint64_t v;
} em_counter_t;

typedef struct em_gauge {
    _Alignas(64) _Atomic uint64_t bits; /* the double's bits */
} em_gauge_t;

typedef struct em_histogram {
    const double *bounds; /* upper bounds, ascending, without +Inf */
    size_t n_bounds;
    _Atomic uint64_t *counts; /* n_bounds + 1 non-cumulative buckets */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_bits;
} em_histogram_t;

/* Get or create. 'labels' is the inside of the braces, already escaped, or NULL for none. A name
 * registered earlier with another type aborts (a programming error). Never returns NULL. */
em_counter_t *em_counter_new(const char *name, const char *help, const char *labels);
em_gauge_t *em_gauge_new(const char *name, const char *help, const char *labels);
/* 'bounds' must stay valid for the life of the process (a static array). */
em_histogram_t *em_histogram_new(const char *name, const char *help, const char *labels, const double *bounds,
                                 size_t n_bounds);

static inline void em_counter_add(em_counter_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}
static inline void em_counter_inc(em_counter_t *c)
{
    em_counter_add(c, 1);
}
static inline uint64_t em_counter_get(const em_counter_t *c)
{
    return atomic_load_explicit(&c->v, memory_order_relaxed);
}
void em_gauge_set(em_gauge_t *g, double v);
void em_gauge_add(em_gauge_t *g, double delta);
double em_gauge_get(const em_gauge_t *g);
void em_histogram_observe(em_histogram_t *h, double v);

/* A collector prints complete sample lines ("name{labels} value\n") for the family it was registered
 * under; the registry prints # HELP and # TYPE. It runs on the scraping thread with the registry mutex
 * held, so it must not register metrics. */
typedef void (*em_collect_fn)(em_buf_t *out, void *arg);
void em_metrics_collector_add(const char *name, const char *help, em_metric_type_t type, em_collect_fn fn,
                              void *arg);
/* Remove every collector registered with this fn and arg (e.g. when the object it reads is freed). */
void em_metrics_collector_remove(em_collect_fn fn, void *arg);

/* Print every family, sorted by name, in the text format 0.0.4. */
void em_metrics_render(em_buf_t *out);

/* Append a sample value as the text format writes it (Go's 'g' formatting, +Inf, -Inf, NaN). */
void em_metrics_put_value(em_buf_t *out, double v);

/* Default latency buckets, Prometheus client style (seconds). */
extern const double em_metrics_latency_buckets[];
extern const size_t em_metrics_latency_buckets_n;

#endif
