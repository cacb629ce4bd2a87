/* query/fn.h -- the numeric kernels of PromQL's functions and aggregations, over float samples.
 *
 * DESIGN. Pure functions with Prometheus's exact semantics (promql/functions.go, promql/quantile.go,
 * util/kahansum), kept apart from the evaluator so unit tests can pin them down one by one:
 *   - Kahan-Neumaier summation as kahansum.Inc (sum, avg, *_over_time, linear regression);
 *   - extrapolatedRate for rate/increase/delta: extrapolate to the range boundaries when the first/last
 *     sample is within 110% of the average sample interval, else by half an interval; counters are
 *     corrected for resets and never extrapolated below zero;
 *   - the anchored/smoothed variants of promql-extended-range-selectors;
 *   - irate/idelta from the last two samples; deriv/predict_linear by least squares;
 *   - quantile (linear interpolation between closest ranks) and classic-bucket histogram_quantile with
 *     Prometheus's bucket rules (sorted by le, +Inf required, equal bounds merged, monotonicity forced,
 *     deltas below 1e-12 relative ignored).
 * Time is int64 milliseconds, results per second where Prometheus's are.
 *
 * Thread: any (no state).
 */
#ifndef EMBER_QUERY_FN_H
#define EMBER_QUERY_FN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "query/value.h"

/* One step of Kahan-Neumaier summation: returns the new sum, updates *c (the compensation). */
double em_kahan_inc(double inc, double sum, double *c);

/* Start timestamps (Prometheus 3's use-start-timestamps; 0 is unknown). A sample whose start timestamp
 * lies after the previous sample, or on it when the previous one had a start timestamp of its own (a
 * delta series, not a cumulative one with unknown start), follows a counter reset. */
bool em_fn_st_reset(int64_t prev_st, int64_t prev_t, int64_t cur_st, int64_t cur_t);
/* A start timestamp before the previous sample that is not the previous one's: the data contradict each
 * other (Prometheus warns). */
bool em_fn_st_overlap(int64_t prev_st, int64_t prev_t, int64_t cur_st);

/* rate/increase/delta over the window p[0..n) (the samples in (range_start, range_end]), with their
 * start timestamps in sts[0..n) or sts NULL. Returns false when there is no result (fewer than two
 * samples, unless the first one's start timestamp lies in the window: then the counter counted from zero
 * there). *st_overlap (may be NULL) is set when em_fn_st_overlap holds for a pair of samples. */
bool em_fn_extrapolated_rate(const em_fpoint_t *p, const int64_t *sts, size_t n, int64_t range_start,
                             int64_t range_end, int64_t range_ms, bool is_counter, bool is_rate, double *out,
                             bool *st_overlap);

/* The same for `anchored` / `smoothed` selectors: p holds the samples in the extended window (see the
 * evaluator); range_start/end are the real window bounds. */
bool em_fn_extended_rate(const em_fpoint_t *p, size_t n, int64_t range_start, int64_t range_end,
                         int64_t range_ms, bool smoothed, bool is_counter, bool is_rate, double *out);

/* irate (is_rate) / idelta from the last two samples (start timestamps in sts, or NULL). */
bool em_fn_instant_value(const em_fpoint_t *p, const int64_t *sts, size_t n, bool is_rate, double *out);

/* Least-squares fit of v over (t - intercept_t) seconds. */
void em_fn_linear_regression(const em_fpoint_t *p, size_t n, int64_t intercept_t, double *slope,
                             double *intercept);

double em_fn_sum(const em_fpoint_t *p, size_t n);
double em_fn_avg(const em_fpoint_t *p, size_t n);
/* Population variance (Welford with Kahan compensation, as varianceOverTime). */
double em_fn_variance(const em_fpoint_t *p, size_t n);
/* Median absolute deviation; vals is scratch of n doubles. */
double em_fn_mad(const em_fpoint_t *p, size_t n, double *scratch);

/* Prometheus's quantile over vals[0..n) (sorted in place): NaN for n == 0 or q NaN, -Inf for q < 0,
 * +Inf for q > 1. */
double em_fn_quantile(double q, double *vals, size_t n);

typedef struct em_bucket {
    double upper;
    double count;
} em_bucket_t;

/* histogram_quantile over classic buckets (sorted, merged and fixed in place). *forced is set when the
 * counts had to be made monotonic; *min_b, *max_b, *max_diff describe the fix as Prometheus's info. */
double em_fn_bucket_quantile(double q, em_bucket_t *b, size_t n, bool *forced, double *min_b, double *max_b,
                             double *max_diff);

/* histogram_fraction over classic buckets (sorted and merged in place): the estimated share of
 * observations in [lower, upper]. */
double em_fn_bucket_fraction(double lower, double upper, em_bucket_t *b, size_t n);

/* double_exponential_smoothing; false when fewer than two samples. sf and tf must be in (0, 1). */
bool em_fn_double_exp_smoothing(const em_fpoint_t *p, size_t n, double sf, double tf, double *out);

/* Date functions on a Unix time in seconds (Go's time.Unix(int64(s), 0).UTC()). */
typedef enum {
    EM_DATE_DAY_OF_MONTH,
    EM_DATE_DAY_OF_WEEK,
    EM_DATE_DAY_OF_YEAR,
    EM_DATE_DAYS_IN_MONTH,
    EM_DATE_HOUR,
    EM_DATE_MINUTE,
    EM_DATE_MONTH,
    EM_DATE_YEAR,
} em_date_part_t;
double em_fn_date(em_date_part_t part, double unix_s);

/* Go's strconv.ParseFloat as Prometheus uses it on `le` values; false when malformed. */
bool em_fn_parse_le(const char *s, double *out);

/* Go's natural-sort comparison used by sort_by_label (true when a sorts before b). */
bool em_fn_natsort_less(const char *a, const char *b);

#endif
