/* Unit tests for the PromQL numeric kernels (query/fn.h); expected values worked out by hand from
 * Prometheus's definitions. */
#include <criterion/criterion.h>
#include <math.h>

#include "query/fn.h"

static int close_to(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(1, fabs(b));
}

Test(query_fn, rate_extrapolates_to_range_start_within_110_percent)
{
    /* samples 10..50 at 1m..5m, window (0, 5m]: factor (240+60)/240, per 300s */
    em_fpoint_t p[5];
    for (int i = 0; i < 5; i++)
        p[i] = (em_fpoint_t){(i + 1) * 60000, 10.0 * (i + 1)};
    double r;
    cr_assert(em_fn_extrapolated_rate(p, NULL, 5, 0, 300000, 300000, true, true, &r, NULL));
    cr_assert(close_to(r, 50.0 / 300), "rate %g", r);
    cr_assert(em_fn_extrapolated_rate(p, NULL, 5, 0, 300000, 300000, true, false, &r, NULL));
    cr_assert(close_to(r, 50), "increase %g", r);
}

Test(query_fn, rate_stops_extrapolating_at_counter_zero)
{
    /* 100 -> 110 over 60s: zero point is 600s before the first sample, not limiting; 5 -> 15 limits. */
    em_fpoint_t p[2] = {{240000, 5}, {300000, 15}};
    double r;
    cr_assert(em_fn_extrapolated_rate(p, NULL, 2, 0, 300000, 300000, true, false, &r, NULL));
    /* to_start = min(avg/2 = 30 (240 >= 66), to_zero = 60*5/10 = 30) = 30; factor (60+30)/60 */
    cr_assert(close_to(r, 15), "increase %g", r);
}

Test(query_fn, rate_corrects_counter_resets)
{
    em_fpoint_t p[3] = {{0, 10}, {60000, 2}, {120000, 4}};
    double r;
    /* delta 4-10 plus the reset's 10 = 4; window exactly covers the samples */
    cr_assert(em_fn_extrapolated_rate(p, NULL, 3, 0, 120000, 120000, true, false, &r, NULL));
    cr_assert(close_to(r, 4), "increase %g", r);
    /* delta does not correct resets */
    cr_assert(em_fn_extrapolated_rate(p, NULL, 3, 0, 120000, 120000, false, false, &r, NULL));
    cr_assert(close_to(r, -6), "delta %g", r);
}

Test(query_fn, rate_needs_two_samples)
{
    em_fpoint_t p[1] = {{0, 1}};
    double r;
    cr_assert_not(em_fn_extrapolated_rate(p, NULL, 1, -1, 0, 1, true, true, &r, NULL));
}

Test(query_fn, irate_uses_last_value_after_reset)
{
    em_fpoint_t p[3] = {{0, 1}, {10000, 50}, {20000, 5}};
    double r;
    cr_assert(em_fn_instant_value(p, NULL, 3, true, &r));
    cr_assert(close_to(r, 0.5), "irate %g", r);
    cr_assert(em_fn_instant_value(p, NULL, 3, false, &r));
    cr_assert(close_to(r, -45), "idelta %g", r);
}

Test(query_fn, start_timestamp_resets_follow_prometheus)
{
    /* (prev_st, prev_t, cur_st, cur_t) */
    static const struct {
        int64_t pst, pt, cst, ct;
        bool reset;
    } cases[] = {
        {0, 60000, 0, 120000, false},          /* unknown */
        {0, 60000, 90000, 120000, true},       /* started after the previous sample */
        {0, 60000, 30000, 120000, false},      /* started before it: cumulative */
        {0, 60000, 120000, 120000, false},     /* ST == T: OpenTelemetry's unknown start */
        {0, 60000, 130000, 120000, false},     /* ST after T: invalid */
        {0, 60000, 60000, 120000, false},      /* on the previous sample, whose start is unknown */
        {60000, 60000, 60000, 120000, false},  /* ... or is its own timestamp */
        {120000, 60000, 60000, 120000, false}, /* ... or invalid */
        {0 + 1, 60000, 60000, 120000, true},   /* on the previous sample, which has a start: a delta */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_eq(em_fn_st_reset(cases[i].pst, cases[i].pt, cases[i].cst, cases[i].ct), cases[i].reset,
                     "case %zu", i);
    cr_assert(em_fn_st_overlap(0, 60000, 30000), "starts before the previous sample it does not share");
    cr_assert_not(em_fn_st_overlap(30000, 60000, 30000), "shares the previous start: cumulative");
    cr_assert_not(em_fn_st_overlap(0, 60000, 60000), "starts on the previous sample: delta");
    cr_assert_not(em_fn_st_overlap(0, 60000, 0), "unknown");
}

Test(query_fn, rate_with_start_timestamps)
{
    /* A delta series (each sample starts at the previous one): every sample is a reset. The first
     * one's start lies before the window (30 s, 180 s], so it is extrapolated as usual. */
    em_fpoint_t p[3] = {{60000, 60}, {120000, 60}, {180000, 60}};
    int64_t sts[3] = {10000, 60000, 120000};
    double r;
    bool overlap = false;
    cr_assert(em_fn_extrapolated_rate(p, sts, 3, 30000, 180000, 150000, true, false, &r, &overlap));
    /* 0 + 2 resets of 60 over 120 s, extrapolated 30 s to the window's start: x1.25 */
    cr_assert(close_to(r, 150), "increase %g", r);
    cr_assert_not(overlap);
    /* Without start timestamps the series looks constant. */
    cr_assert(em_fn_extrapolated_rate(p, NULL, 3, 30000, 180000, 150000, true, false, &r, NULL));
    cr_assert(close_to(r, 0), "increase %g", r);
    /* delta() ignores them. */
    cr_assert(em_fn_extrapolated_rate(p, sts, 3, 30000, 180000, 150000, false, false, &r, NULL));
    cr_assert(close_to(r, 0), "delta %g", r);

    /* One sample whose start lies in the window: counted from zero at the start, no extrapolation. */
    em_fpoint_t one[1] = {{120000, 30}};
    int64_t one_st[1] = {90000};
    cr_assert(em_fn_extrapolated_rate(one, one_st, 1, 0, 180000, 180000, true, true, &r, NULL));
    cr_assert(close_to(r, 30.0 / 180), "rate %g", r);
    one_st[0] = 0; /* on the window's start: outside */
    cr_assert_not(em_fn_extrapolated_rate(one, one_st, 1, 0, 180000, 180000, true, true, &r, NULL));

    /* A start before the previous sample that is not the previous one's: overlap. */
    int64_t bad[3] = {0, 30000, 30000 + 1};
    overlap = false;
    cr_assert(em_fn_extrapolated_rate(p, bad, 3, 0, 180000, 180000, true, false, &r, &overlap));
    cr_assert(overlap);

    /* irate sees the reset too. */
    cr_assert(em_fn_instant_value(p, sts, 3, true, &r));
    cr_assert(close_to(r, 1), "irate %g", r);
}

Test(query_fn, linear_regression_fits_a_line)
{
    em_fpoint_t p[4] = {{0, 1}, {1000, 3}, {2000, 5}, {3000, 7}};
    double slope, icpt;
    em_fn_linear_regression(p, 4, 0, &slope, &icpt);
    cr_assert(close_to(slope, 2) && close_to(icpt, 1), "slope %g intercept %g", slope, icpt);
    em_fpoint_t c[2] = {{0, 4}, {1000, 4}};
    em_fn_linear_regression(c, 2, 0, &slope, &icpt);
    cr_assert(slope == 0 && icpt == 4);
}

Test(query_fn, kahan_sum_keeps_small_terms)
{
    em_fpoint_t p[4] = {{0, 1e100}, {1, 1.0}, {2, -1e100}, {3, 1.0}};
    cr_assert_eq(em_fn_sum(p, 4), 2.0);
}

Test(query_fn, quantile_interpolates_between_ranks)
{
    double v[4] = {4, 1, 3, 2};
    cr_assert(close_to(em_fn_quantile(0.5, v, 4), 2.5));
    double w[4] = {4, 1, 3, 2};
    cr_assert(close_to(em_fn_quantile(0.9, w, 4), 3.7));
    cr_assert(isinf(em_fn_quantile(1.5, w, 4)) && em_fn_quantile(1.5, w, 4) > 0);
    cr_assert(isnan(em_fn_quantile(NAN, w, 4)));
    cr_assert(isnan(em_fn_quantile(0.5, w, 0)));
}

Test(query_fn, variance_and_mad)
{
    em_fpoint_t p[4] = {{0, 2}, {1, 4}, {2, 4}, {3, 6}};
    cr_assert(close_to(em_fn_variance(p, 4), 2));
    double scratch[4];
    cr_assert(close_to(em_fn_mad(p, 4, scratch), 1));
    cr_assert(close_to(em_fn_avg(p, 4), 4));
}

Test(query_fn, bucket_quantile_interpolates_and_fixes_monotonicity)
{
    em_bucket_t b[3] = {{2, 6}, {INFINITY, 8}, {1, 2}};
    bool forced;
    double mn, mx, md;
    cr_assert(close_to(em_fn_bucket_quantile(0.5, b, 3, &forced, &mn, &mx, &md), 1.5));
    cr_assert_not(forced);
    em_bucket_t c[3] = {{1, 5}, {2, 4}, {INFINITY, 10}};
    double q = em_fn_bucket_quantile(0.5, c, 3, &forced, &mn, &mx, &md);
    cr_assert(forced && mn == 2 && mx == 2 && md == 1);
    cr_assert(close_to(q, 1.0), "q %g", q); /* rank 5 falls at the end of the first bucket */
    em_bucket_t d[2] = {{1, 5}, {2, 6}};
    cr_assert(isnan(em_fn_bucket_quantile(0.5, d, 2, &forced, &mn, &mx, &md)), "needs +Inf");
}

Test(query_fn, bucket_fraction_interpolates_inside_buckets)
{
    em_bucket_t b[3] = {{1, 2}, {2, 6}, {INFINITY, 8}};
    cr_assert(close_to(em_fn_bucket_fraction(0, 1.5, b, 3), 0.5));
    em_bucket_t c[3] = {{1, 2}, {2, 6}, {INFINITY, 8}};
    cr_assert_eq(em_fn_bucket_fraction(2, 1, c, 3), 0);
}

Test(query_fn, double_exponential_smoothing_follows_a_trend)
{
    em_fpoint_t p[3] = {{0, 1}, {1, 2}, {2, 3}};
    double r;
    cr_assert(em_fn_double_exp_smoothing(p, 3, 0.5, 0.5, &r));
    /* s1=1 b=1; i=1: s=0.5*2+0.5*(1+1)=2; i=2: b=0.5*(2-1)+0.5*1=1, s=0.5*3+0.5*(2+1)=3 */
    cr_assert(close_to(r, 3), "got %g", r);
}

Test(query_fn, date_parts_in_utc)
{
    /* 2024-02-29T13:45:00Z = 1709214300 */
    cr_assert_eq(em_fn_date(EM_DATE_YEAR, 1709214300), 2024);
    cr_assert_eq(em_fn_date(EM_DATE_MONTH, 1709214300), 2);
    cr_assert_eq(em_fn_date(EM_DATE_DAY_OF_MONTH, 1709214300), 29);
    cr_assert_eq(em_fn_date(EM_DATE_DAYS_IN_MONTH, 1709214300), 29);
    cr_assert_eq(em_fn_date(EM_DATE_DAY_OF_WEEK, 1709214300), 4);
    cr_assert_eq(em_fn_date(EM_DATE_DAY_OF_YEAR, 1709214300), 60);
    cr_assert_eq(em_fn_date(EM_DATE_HOUR, 1709214300), 13);
    cr_assert_eq(em_fn_date(EM_DATE_MINUTE, 1709214300), 45);
}

Test(query_fn, natural_sort_compares_digit_runs_as_numbers)
{
    cr_assert(em_fn_natsort_less("a2", "a10"));
    cr_assert_not(em_fn_natsort_less("a10", "a2"));
    cr_assert(em_fn_natsort_less("abc", "abd"));
    cr_assert(em_fn_natsort_less("a", "a1"));
}
