/* Design: see fn.h. */
#include "query/fn.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "base/strconv.h"

double em_kahan_inc(double inc, double sum, double *c)
{
    /* Prometheus's kahansum.Inc: Neumaier's variant; an infinite sum resets the compensation. */
    volatile double t = sum + inc;
    if (t > DBL_MAX || t < -DBL_MAX)
        *c = 0;
    else if (fabs(sum) >= fabs(inc))
        *c += (sum - t) + inc;
    else
        *c += (inc - t) + sum;
    return t;
}

bool em_fn_st_reset(int64_t prev_st, int64_t prev_t, int64_t cur_st, int64_t cur_t)
{
    /* Unknown, invalid (after the sample) or OpenTelemetry's "unknown start" (on the sample). */
    if (cur_st == 0 || cur_st >= cur_t || cur_st < prev_t)
        return false;
    if (cur_st > prev_t)
        return true;
    /* On the previous sample: a delta series resets at every sample; a cumulative one whose start is
     * unknown (previous start 0, on its sample, or invalid) does not. */
    return prev_st != 0 && prev_st < prev_t;
}

bool em_fn_st_overlap(int64_t prev_st, int64_t prev_t, int64_t cur_st)
{
    return cur_st != 0 && cur_st < prev_t && cur_st != prev_st;
}

bool em_fn_extrapolated_rate(const em_fpoint_t *p, const int64_t *sts, size_t n, int64_t range_start,
                             int64_t range_end, int64_t range_ms, bool is_counter, bool is_rate, double *out,
                             bool *st_overlap)
{
    if (n == 0)
        return false;
    if (!is_counter)
        sts = NULL;
    /* The first sample's start timestamp inside the window: the counter was zero there, so the increase
     * is measured from it rather than extrapolated (the window's start is exclusive). */
    bool from_st = sts && sts[0] > range_start && sts[0] < p[0].t;
    if (n < 2 && !from_st)
        return false;
    double result = p[n - 1].v - p[0].v;
    if (is_counter) {
        for (size_t i = 1; i < n; i++) {
            if (sts && st_overlap && em_fn_st_overlap(sts[i - 1], p[i - 1].t, sts[i]))
                *st_overlap = true;
            if (p[i].v < p[i - 1].v || (sts && em_fn_st_reset(sts[i - 1], p[i - 1].t, sts[i], p[i].t)))
                result += p[i - 1].v;
        }
    }
    double to_start = (double)(p[0].t - range_start) / 1000;
    double to_end = (double)(range_end - p[n - 1].t) / 1000;
    double sampled = (double)(p[n - 1].t - p[0].t) / 1000;
    double avg = n > 1 ? sampled / (double)(n - 1) : 0;
    double threshold = avg * 1.1;
    if (from_st) {
        to_start = 0;
        sampled = (double)(p[n - 1].t - sts[0]) / 1000;
        result += p[0].v;
    } else if (to_start >= threshold) {
        /* Prometheus: extrapolate to a boundary only when a sample is within 110% of the average
         * interval of it, otherwise by half an average interval. */
        to_start = avg / 2;
    }
    if (is_counter && !from_st) {
        /* A counter cannot go below zero: stop extrapolating at the estimated zero point. */
        double to_zero = to_start;
        if (result > 0 && p[0].v >= 0)
            to_zero = sampled * (p[0].v / result);
        if (to_zero < to_start)
            to_start = to_zero;
    }
    if (to_end >= threshold)
        to_end = avg / 2;
    double factor = 1.0;
    if (sampled != 0)
        factor = (sampled + to_start + to_end) / sampled;
    if (is_rate)
        factor /= (double)range_ms / 1000;
    *out = result * factor;
    return true;
}

static double interpolate(em_fpoint_t a, em_fpoint_t b, int64_t t, bool is_counter)
{
    double y1 = a.v, y2 = b.v;
    if (is_counter && y2 < y1)
        y1 = 0;
    return y1 + (y2 - y1) * (double)(t - a.t) / (double)(b.t - a.t);
}

bool em_fn_extended_rate(const em_fpoint_t *p, size_t n, int64_t range_start, int64_t range_end,
                         int64_t range_ms, bool smoothed, bool is_counter, bool is_rate, double *out)
{
    if (n == 0)
        return false;
    size_t last = n - 1;
    /* first: the last sample at or before range_start (or the first one). */
    size_t first = 0;
    {
        size_t i = 0;
        while (i < last && p[i].t <= range_start)
            i++;
        first = i > 0 ? i - 1 : 0;
    }
    if (smoothed) {
        size_t i = 0;
        while (i < last && p[i].t < range_end)
            i++;
        last = i;
    }
    if (p[last].t <= range_start)
        return false;
    if (smoothed && p[first].t > range_end)
        return false;
    double left = p[first].v, right = p[last].v;
    if (smoothed && p[first].t < range_start)
        left = interpolate(p[first], p[first + 1], range_start, is_counter);
    if (smoothed && last > 0 && p[last].t > range_end)
        right = interpolate(p[last - 1], p[last], range_end, is_counter);
    double result = right - left;
    if (is_counter) {
        size_t lo = first, hi = last; /* inclusive, may become empty */
        if (p[lo].t <= range_start)
            lo++;
        long hi_i = (long)hi;
        if (p[hi].t >= range_end)
            hi_i--;
        double corr = 0, prev = left;
        for (long i = (long)lo; i <= hi_i; i++) {
            if (p[i].v < prev)
                corr += prev;
            prev = p[i].v;
        }
        if (right < prev)
            corr += prev;
        result += corr;
    }
    if (is_rate)
        result /= (double)range_ms / 1000;
    *out = result;
    return true;
}

bool em_fn_instant_value(const em_fpoint_t *p, const int64_t *sts, size_t n, bool is_rate, double *out)
{
    if (n < 2)
        return false;
    em_fpoint_t a = p[n - 2], b = p[n - 1];
    int64_t interval = b.t - a.t;
    if (interval == 0)
        return false;
    double r = b.v;
    /* Prometheus: irate after a counter reset is the last value over the interval. */
    bool reset = b.v < a.v || (sts && em_fn_st_reset(sts[n - 2], a.t, sts[n - 1], b.t));
    if (!is_rate || !reset)
        r = b.v - a.v;
    if (is_rate)
        r /= (double)interval / 1000;
    *out = r;
    return true;
}

void em_fn_linear_regression(const em_fpoint_t *p, size_t n, int64_t intercept_t, double *slope,
                             double *intercept)
{
    double nn = 0, sx = 0, cx = 0, sy = 0, cy = 0, sxy = 0, cxy = 0, sx2 = 0, cx2 = 0;
    double init_y = p[0].v;
    bool const_y = true;
    for (size_t i = 0; i < n; i++) {
        if (const_y && i > 0 && p[i].v != init_y)
            const_y = false;
        nn += 1.0;
        double x = (double)(p[i].t - intercept_t) / 1e3;
        sx = em_kahan_inc(x, sx, &cx);
        sy = em_kahan_inc(p[i].v, sy, &cy);
        sxy = em_kahan_inc(x * p[i].v, sxy, &cxy);
        sx2 = em_kahan_inc(x * x, sx2, &cx2);
    }
    if (const_y) {
        if (isinf(init_y)) {
            *slope = NAN;
            *intercept = NAN;
        } else {
            *slope = 0;
            *intercept = init_y;
        }
        return;
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    double cov = sxy - sx * sy / nn;
    double var = sx2 - sx * sx / nn;
    *slope = cov / var;
    *intercept = sy / nn - *slope * sx / nn;
}

double em_fn_sum(const em_fpoint_t *p, size_t n)
{
    double s = 0, c = 0;
    for (size_t i = 0; i < n; i++)
        s = em_kahan_inc(p[i].v, s, &c);
    if (isinf(s))
        return s;
    return s + c;
}

double em_fn_avg(const em_fpoint_t *p, size_t n)
{
    double sum = p[0].v, count = 1, mean = 0, c = 0;
    bool incremental = false;
    for (size_t i = 1; i < n; i++) {
        count = (double)(i + 1);
        if (!incremental) {
            double nc = c;
            double ns = em_kahan_inc(p[i].v, sum, &nc);
            if (!isinf(ns)) {
                sum = ns;
                c = nc;
                continue;
            }
            /* Prometheus: on overflow switch to an incremental mean. */
            incremental = true;
            mean = sum / (count - 1);
            c /= (count - 1);
        }
        double q = (count - 1) / count;
        double mc = q * c;
        mean = em_kahan_inc(p[i].v / count, q * mean, &mc);
        c = mc;
    }
    if (incremental)
        return mean + c;
    return sum / count + c / count;
}

double em_fn_variance(const em_fpoint_t *p, size_t n)
{
    double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
    for (size_t i = 0; i < n; i++) {
        count++;
        double delta = p[i].v - (mean + cmean);
        mean = em_kahan_inc(delta / count, mean, &cmean);
        aux = em_kahan_inc(delta * (p[i].v - (mean + cmean)), aux, &caux);
    }
    return (aux + caux) / count;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    /* Go's sort on vectorByValueHeap: NaN sorts first. */
    if (isnan(x))
        return isnan(y) ? 0 : -1;
    if (isnan(y))
        return 1;
    return x < y ? -1 : x > y ? 1 : 0;
}

double em_fn_quantile(double q, double *vals, size_t n)
{
    if (n == 0 || isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    em_qsort(vals, n, sizeof *vals, cmp_double);
    double nn = (double)n;
    double rank = q * (nn - 1);
    double lower = fmax(0, floor(rank));
    double upper = fmin(nn - 1, lower + 1);
    double w = rank - floor(rank);
    return vals[(size_t)lower] * (1 - w) + vals[(size_t)upper] * w;
}

double em_fn_mad(const em_fpoint_t *p, size_t n, double *scratch)
{
    for (size_t i = 0; i < n; i++) {
        if (isnan(p[i].v))
            return NAN;
        scratch[i] = p[i].v;
    }
    double med = em_fn_quantile(0.5, scratch, n);
    for (size_t i = 0; i < n; i++)
        scratch[i] = fabs(scratch[i] - med);
    return em_fn_quantile(0.5, scratch, n);
}

static int cmp_bucket(const void *a, const void *b)
{
    double x = ((const em_bucket_t *)a)->upper, y = ((const em_bucket_t *)b)->upper;
    return x < y ? -1 : x > y ? 1 : 0;
}

static bool almost_equal(double a, double b, double eps)
{
    const double min_normal = 2.2250738585072014e-308;
    if (isnan(a) && isnan(b))
        return true;
    if (a == b)
        return true;
    double abs_sum = fabs(a) + fabs(b), diff = fabs(a - b);
    if (a == 0 || b == 0 || abs_sum < min_normal)
        return diff < eps * min_normal;
    return diff / fmin(abs_sum, DBL_MAX) < eps;
}

/* Sort buckets by upper bound and merge those with the same bound. Returns how many remain, or 0 when
 * the highest bound is not +Inf (then histogram_quantile and histogram_fraction answer NaN). */
static size_t sort_buckets(em_bucket_t *b, size_t n)
{
    em_qsort(b, n, sizeof *b, cmp_bucket);
    if (!(isinf(b[n - 1].upper) && b[n - 1].upper > 0))
        return 0;
    size_t k = 0;
    em_bucket_t last = b[0];
    for (size_t i = 1; i < n; i++) {
        if (b[i].upper == last.upper) {
            last.count += b[i].count;
        } else {
            b[k++] = last;
            last = b[i];
        }
    }
    b[k++] = last;
    return k;
}

double em_fn_bucket_quantile(double q, em_bucket_t *b, size_t n, bool *forced, double *min_b, double *max_b,
                             double *max_diff)
{
    *forced = false;
    *min_b = INFINITY;
    *max_b = -INFINITY;
    *max_diff = 0;
    if (isnan(q))
        return NAN;
    if (q < 0)
        return -INFINITY;
    if (q > 1)
        return INFINITY;
    if ((n = sort_buckets(b, n)) == 0)
        return NAN;
    /* Force monotonicity, ignoring tiny deltas (floating-point noise). */
    double prev = b[0].count;
    for (size_t i = 1; i < n; i++) {
        double curr = b[i].count;
        if (curr == prev)
            continue;
        if (almost_equal(prev, curr, 1e-12)) {
            b[i].count = prev;
            continue;
        }
        if (curr < prev) {
            b[i].count = prev;
            *forced = true;
            if (b[i].upper < *min_b)
                *min_b = b[i].upper;
            if (b[i].upper > *max_b)
                *max_b = b[i].upper;
            if (prev - curr > *max_diff)
                *max_diff = prev - curr;
            continue;
        }
        prev = curr;
    }
    if (n < 2)
        return NAN;
    double obs = b[n - 1].count;
    if (obs == 0)
        return NAN;
    double rank = q * obs;
    size_t i = 0;
    while (i < n - 1 && !(b[i].count >= rank))
        i++;
    if (i == n - 1)
        return b[n - 2].upper;
    if (i == 0 && b[0].upper <= 0)
        return b[0].upper;
    double start = 0, end = b[i].upper, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

double em_fn_bucket_fraction(double lower, double upper, em_bucket_t *b, size_t n)
{
    if ((n = sort_buckets(b, n)) == 0)
        return NAN;
    double count = b[n - 1].count;
    if (count == 0 || isnan(lower) || isnan(upper))
        return NAN;
    if (lower >= upper)
        return 0;
    double rank = 0, lower_rank = 0, upper_rank = 0;
    bool lower_set = false, upper_set = false;
    double lower_bound = b[0].upper <= 0 ? -INFINITY : 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            lower_bound = b[i - 1].upper;
        double upper_bound = b[i].upper;
        if (!lower_set && lower_bound >= lower) {
            lower_rank = rank;
            lower_set = true;
        }
        if (!upper_set && lower_bound >= upper) {
            upper_rank = rank;
            upper_set = true;
        }
        if (lower_set && upper_set)
            break;
        /* Prometheus interpolates linearly inside the bucket, except below an infinite lower bound. */
        if (!lower_set && lower_bound < lower && upper_bound > lower) {
            lower_rank =
                isinf(lower_bound) && lower_bound < 0
                    ? b[i].count
                    : rank + (b[i].count - rank) * (lower - lower_bound) / (upper_bound - lower_bound);
            lower_set = true;
        }
        if (!upper_set && lower_bound < upper && upper_bound > upper) {
            upper_rank =
                isinf(lower_bound) && lower_bound < 0
                    ? b[i].count
                    : rank + (b[i].count - rank) * (upper - lower_bound) / (upper_bound - lower_bound);
            upper_set = true;
        }
        if (lower_set && upper_set)
            break;
        rank = b[i].count;
    }
    if (!lower_set || lower_rank > count)
        lower_rank = count;
    if (!upper_set || upper_rank > count)
        upper_rank = count;
    return (upper_rank - lower_rank) / count;
}

bool em_fn_double_exp_smoothing(const em_fpoint_t *p, size_t n, double sf, double tf, double *out)
{
    if (n < 2)
        return false;
    double s0 = 0, s1 = p[0].v, b = p[1].v - p[0].v;
    for (size_t i = 1; i < n; i++) {
        double x = sf * p[i].v;
        if (i - 1 != 0)
            b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    *out = s1;
    return true;
}

static bool is_leap(long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

double em_fn_date(em_date_part_t part, double unix_s)
{
    /* Go converts with int64(f): truncation toward zero; out-of-range floats are undefined there. */
    if (isnan(unix_s) || isinf(unix_s))
        return NAN;
    time_t t = (time_t)(int64_t)unix_s;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return NAN;
    long year = (long)tm.tm_year + 1900;
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    switch (part) {
    case EM_DATE_DAY_OF_MONTH:
        return tm.tm_mday;
    case EM_DATE_DAY_OF_WEEK:
        return tm.tm_wday;
    case EM_DATE_DAY_OF_YEAR:
        return tm.tm_yday + 1;
    case EM_DATE_DAYS_IN_MONTH:
        return mdays[tm.tm_mon] + (tm.tm_mon == 1 && is_leap(year) ? 1 : 0);
    case EM_DATE_HOUR:
        return tm.tm_hour;
    case EM_DATE_MINUTE:
        return tm.tm_min;
    case EM_DATE_MONTH:
        return tm.tm_mon + 1;
    case EM_DATE_YEAR:
        return (double)year;
    }
    return NAN;
}

bool em_fn_parse_le(const char *s, double *out)
{
    if (!s || !*s)
        return false;
    size_t n = strlen(s);
    /* Go's ParseFloat accepts underscores only with a base prefix; em_parse_float covers the rest. */
    return em_parse_float(s, n, out);
}

static size_t chunk_len(const char *s, bool *digits)
{
    *digits = isdigit((unsigned char)s[0]) != 0;
    size_t i = 0;
    while (s[i] && (isdigit((unsigned char)s[i]) != 0) == *digits)
        i++;
    return i;
}

bool em_fn_natsort_less(const char *a, const char *b)
{
    /* Natural order as facette/natsort: compare runs of digits numerically, other runs as strings. */
    while (*a && *b) {
        bool da, db;
        size_t la = chunk_len(a, &da), lb = chunk_len(b, &db);
        if (da && db) {
            const char *x = a, *y = b;
            size_t lx = la, ly = lb;
            while (lx > 1 && *x == '0') {
                x++;
                lx--;
            }
            while (ly > 1 && *y == '0') {
                y++;
                ly--;
            }
            if (lx != ly)
                return lx < ly;
            int c = memcmp(x, y, lx);
            if (c)
                return c < 0;
        } else {
            size_t m = la < lb ? la : lb;
            int c = memcmp(a, b, m);
            if (c)
                return c < 0;
            if (la != lb)
                return strcmp(a, b) < 0;
        }
        a += la;
        b += lb;
    }
    return *a == 0 && *b != 0;
}
