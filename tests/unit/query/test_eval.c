/* The engine's public API (query/eval.h): result types, error kinds and Prometheus's texts, limits,
 * cancellation and timeouts, over a real in-memory head. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/head.h"
#include "query/eval.h"

static em_head_t *head;

static void setup(void)
{
    em_rcu_thread_online();
    em_head_opts_t o = {.n_shards = 1};
    em_err_t err;
    cr_assert_eq(em_head_open(&o, &head, &err), EM_OK, "%s", err.msg);
    em_batch_t *b = em_batch_new();
    for (int s = 0; s < 10; s++) {
        char inst[8];
        snprintf(inst, sizeof inst, "%d", s);
        em_label_t l[3] = {{"__name__", "up_total"}, {"instance", inst}, {"job", s % 2 ? "a" : "b"}};
        em_labels_t ls = {l, 3};
        em_batch_add_series(b, &ls, true, 0);
        for (int64_t t = 0; t <= 600000; t += 15000)
            em_batch_add_sample(b, t, (double)(s + 1) * (double)t / 1000);
    }
    cr_assert_eq(em_head_append_wait(head, b), EM_OK);
    em_batch_free(b);
}

static void teardown(void)
{
    em_head_close(head);
    em_rcu_thread_offline();
}

static int instant(em_query_engine_t *e, const char *q, int64_t t, em_query_result_t **r)
{
    return em_query_exec_instant(e, em_head_queryable(head), q, strlen(q), t, 0, NULL, r);
}

TestSuite(query_eval, .init = setup, .fini = teardown);

Test(query_eval, vector_scalar_and_string_results)
{
    em_query_engine_t *e = em_query_engine_new(NULL);
    em_query_result_t *r;
    cr_assert_eq(instant(e, "sum by (job) (rate(up_total[5m]))", 600000, &r), EM_OK);
    cr_assert_eq(r->type, EM_VTYPE_VECTOR);
    cr_assert_eq(r->n_series, 2);
    double total = 0;
    for (size_t i = 0; i < r->n_series; i++) {
        cr_assert_eq(r->series[i].n_pts, 1);
        cr_assert_eq(r->series[i].pts[0].t_ms, 600000);
        total += r->series[i].pts[0].v;
    }
    cr_assert(fabs(total - 55) < 1e-9, "sum of rates %g", total); /* 1+2+...+10 per second */
    em_query_result_free(r);

    cr_assert_eq(instant(e, "1 + 2 * 3", 1000, &r), EM_OK);
    cr_assert_eq(r->type, EM_VTYPE_SCALAR);
    cr_assert_eq(r->scalar, 7);
    cr_assert_eq(r->t_ms, 1000);
    em_query_result_free(r);

    cr_assert_eq(instant(e, "\"hello\"", 1000, &r), EM_OK);
    cr_assert_eq(r->type, EM_VTYPE_STRING);
    cr_assert_str_eq(r->str, "hello");
    em_query_result_free(r);
    em_query_engine_free(e);
}

Test(query_eval, range_query_returns_sorted_matrix)
{
    em_query_engine_t *e = em_query_engine_new(NULL);
    em_query_result_t *r;
    const char *q = "up_total{job=\"a\"} * 2";
    cr_assert_eq(em_query_exec_range(e, em_head_queryable(head), q, strlen(q), 0, 60000, 15000, 0, NULL, &r),
                 EM_OK);
    cr_assert_eq(r->type, EM_VTYPE_MATRIX);
    cr_assert_eq(r->n_series, 5);
    for (size_t i = 0; i + 1 < r->n_series; i++)
        cr_assert_lt(em_labels_cmp(&r->series[i].labels, &r->series[i + 1].labels), 0);
    cr_assert_eq(r->series[0].n_pts, 5);
    cr_assert_null(em_labels_get(&r->series[0].labels, "__name__"), "arithmetic drops the name");
    em_query_result_free(r);
    em_query_engine_free(e);
}

Test(query_eval, errors_have_prometheus_kinds_and_texts)
{
    em_query_engine_t *e = em_query_engine_new(NULL);
    em_query_result_t *r;
    cr_assert_eq(instant(e, "sum(", 0, &r), EM_EINVAL);
    cr_assert_eq(r->err_kind, EM_QERR_BAD_DATA);
    cr_assert(strstr(r->err, "parse error"), "%s", r->err);
    cr_assert_str_eq(em_qerr_kind_str(r->err_kind), "bad_data");
    em_query_result_free(r);

    const char *q = "up_total[5m]";
    cr_assert_eq(em_query_exec_range(e, em_head_queryable(head), q, strlen(q), 0, 60000, 15000, 0, NULL, &r),
                 EM_EINVAL);
    cr_assert_str_eq(r->err,
                     "invalid expression type \"range vector\" for range query, must be Scalar or instant "
                     "Vector");
    em_query_result_free(r);

    q = "up_total";
    cr_assert_eq(
        em_query_exec_range(e, em_head_queryable(head), q, strlen(q), 0, 12000000, 1000, 0, NULL, &r),
        EM_EINVAL);
    cr_assert(strstr(r->err, "exceeded maximum resolution of 11,000 points per timeseries"), "%s", r->err);
    em_query_result_free(r);

    cr_assert_neq(instant(e, "up_total + on() up_total", 600000, &r), EM_OK);
    cr_assert_eq(r->err_kind, EM_QERR_EXECUTION);
    cr_assert(strstr(r->err, "many-to-many matching not allowed"), "%s", r->err);
    em_query_result_free(r);
    em_query_engine_free(e);
}

Test(query_eval, max_samples_limits_a_query)
{
    em_query_engine_opts_t o = {.max_samples = 100};
    em_query_engine_t *e = em_query_engine_new(&o);
    em_query_result_t *r;
    /* 10 series x 40 samples held at once */
    cr_assert_eq(instant(e, "up_total[10m]", 600000, &r), EM_ELIMIT);
    cr_assert_eq(r->err_kind, EM_QERR_EXECUTION);
    cr_assert_str_eq(r->err, "query processing would load too many samples into memory in query execution");
    em_query_result_free(r);
    /* As in Prometheus, a range function holds one series' window at a time: 40 + the 10 results. */
    cr_assert_eq(instant(e, "count_over_time(up_total[10m])", 600000, &r), EM_OK);
    cr_assert_eq(r->stats.peak_samples, 40 + 10);
    em_query_result_free(r);
    cr_assert_eq(instant(e, "up_total{instance=\"1\"}", 600000, &r), EM_OK);
    em_query_result_free(r);
    em_query_engine_free(e);
}

Test(query_eval, cancel_flag_and_timeout_stop_a_query)
{
    em_query_engine_t *e = em_query_engine_new(NULL);
    em_query_result_t *r;
    volatile int cancel = 1;
    const char *q = "sum(up_total)";
    cr_assert_eq(em_query_exec_instant(e, em_head_queryable(head), q, strlen(q), 0, 0, &cancel, &r),
                 EM_ECANCELED);
    cr_assert_eq(r->err_kind, EM_QERR_CANCELED);
    cr_assert_str_eq(r->err, "query was canceled in expression evaluation");
    em_query_result_free(r);
    /* 3,600 steps, each summing a window of 86,400 subquery points: far more than 20 ms of work. */
    q = "sum_over_time(vector(1)[1d:1s])";
    int rc = em_query_exec_range(e, em_head_queryable(head), q, strlen(q), 0, 3600000, 1000, 20, NULL, &r);
    cr_assert_eq(rc, EM_ETIMEOUT, "rc %d: %s", rc, r->err ? r->err : "");
    cr_assert_eq(r->err_kind, EM_QERR_TIMEOUT);
    cr_assert_str_eq(r->err, "query timed out in expression evaluation");
    em_query_result_free(r);
    em_query_engine_free(e);
}

Test(query_eval, annotations_reach_the_result)
{
    em_query_engine_t *e = em_query_engine_new(NULL);
    em_query_result_t *r;
    cr_assert_eq(instant(e, "quantile(2, up_total)", 600000, &r), EM_OK);
    cr_assert_eq(r->n_warnings, 1);
    cr_assert_str_eq(r->warnings[0], "PromQL warning: quantile value should be between 0 and 1, got 2");
    em_query_result_free(r);
    em_query_engine_free(e);
}
