/* C side of bench/query_eval.cc: an in-memory head holding dashboard-like data, and the engine.
 *   x_total{job="job-<i%10>", instance="inst-<i>"}: 10,000 counters, one sample every 15 s;
 *   req_seconds_bucket{instance="inst-<i>", le=...}: 100 instances x 11 buckets, same interval.
 * The data spans 70 minutes from t=0, so range queries over [5m, 65m] at 15 s steps see full windows.
 * bench_query_eval_dump writes the same data as OpenMetrics for `promtool tsdb create-blocks-from`,
 * so Prometheus can be measured on identical samples (bench/query_compare.py).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "engine/head.h"
#include "query/eval.h"

#define N_SERIES 10000
#define N_HIST 100
#define INTERVAL_MS 15000
#define SPAN_MS (70 * 60 * 1000)

static const char *const les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                  "0.5",   "1",    "2.5",   "5",    "+Inf"};

typedef struct bench_query {
    em_head_t *h;
    em_query_engine_t *e;
} bench_query_t;

static double counter_value(size_t series, int64_t t)
{
    /* increasing with a per-series slope; a reset every 40 minutes for a tenth of the series */
    double slope = 1.0 + (double)(series % 17);
    int64_t base = (series % 10 == 0) ? t % (40 * 60 * 1000) : t;
    return slope * (double)base / 1000.0;
}

static double bucket_value(size_t inst, size_t b, int64_t t)
{
    double share = (double)(b + 1) / 11.0;
    return floor((double)(inst % 7 + 3) * share * (double)t / 1000.0);
}

static void fill(bench_query_t *q)
{
    em_batch_t *b = em_batch_new();
    char job[32], inst[32];
    for (size_t i = 0; i < N_SERIES; i++) {
        snprintf(job, sizeof job, "job-%zu", i % 10);
        snprintf(inst, sizeof inst, "inst-%05zu", i);
        em_label_t l[3] = {{"__name__", "x_total"}, {"instance", inst}, {"job", job}};
        em_labels_t ls = {l, 3};
        em_batch_add_series(b, &ls, true, 0);
        for (int64_t t = 0; t <= SPAN_MS; t += INTERVAL_MS)
            em_batch_add_sample(b, t, counter_value(i, t));
        if (i % 500 == 499) {
            em_head_append_wait(q->h, b);
            em_batch_reset(b);
        }
    }
    for (size_t i = 0; i < N_HIST; i++) {
        snprintf(inst, sizeof inst, "inst-%05zu", i);
        for (size_t k = 0; k < 11; k++) {
            em_label_t l[3] = {{"__name__", "req_seconds_bucket"}, {"instance", inst}, {"le", les[k]}};
            em_labels_t ls = {l, 3};
            em_batch_add_series(b, &ls, true, 0);
            for (int64_t t = 0; t <= SPAN_MS; t += INTERVAL_MS)
                em_batch_add_sample(b, t, bucket_value(i, k, t));
        }
    }
    em_head_append_wait(q->h, b);
    em_batch_free(b);
}

bench_query_t *bench_query_new(void)
{
    em_rcu_thread_online();
    bench_query_t *q = EM_NEW(bench_query_t);
    em_head_opts_t o = {.n_shards = 2};
    em_err_t err;
    if (em_head_open(&o, &q->h, &err) != EM_OK) {
        fprintf(stderr, "head: %s\n", err.msg);
        abort();
    }
    fill(q);
    q->e = em_query_engine_new(NULL);
    return q;
}

/* Run a range query over [5m, 65m] (or an instant query at 65m when step_ms == 0); returns the number
 * of series in the result, or -1 on error. */
long bench_query_run(bench_query_t *q, const char *expr, long step_ms)
{
    em_query_result_t *r = NULL;
    int rc;
    if (step_ms > 0)
        rc = em_query_exec_range(q->e, em_head_queryable(q->h), expr, strlen(expr), 5 * 60 * 1000,
                                 65 * 60 * 1000, step_ms, 0, NULL, &r);
    else
        rc = em_query_exec_instant(q->e, em_head_queryable(q->h), expr, strlen(expr), 65 * 60 * 1000, 0, NULL,
                                   &r);
    long n = rc == EM_OK ? (long)r->n_series : -1;
    if (rc != EM_OK)
        fprintf(stderr, "query %s: %s\n", expr, r->err);
    em_query_result_free(r);
    return n;
}

void bench_query_free(bench_query_t *q)
{
    em_query_engine_free(q->e);
    em_head_close(q->h);
    free(q);
    em_rcu_thread_offline();
}

/* The same samples as OpenMetrics text (timestamps in seconds), for promtool. */
int bench_query_dump(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "# TYPE x counter\n");
    for (size_t i = 0; i < N_SERIES; i++)
        for (int64_t t = 0; t <= SPAN_MS; t += INTERVAL_MS)
            fprintf(f, "x_total{instance=\"inst-%05zu\",job=\"job-%zu\"} %.17g %.3f\n", i, i % 10,
                    counter_value(i, t), (double)t / 1000);
    fprintf(f, "# TYPE req_seconds histogram\n");
    for (size_t i = 0; i < N_HIST; i++)
        for (size_t k = 0; k < 11; k++)
            for (int64_t t = 0; t <= SPAN_MS; t += INTERVAL_MS)
                fprintf(f, "req_seconds_bucket{instance=\"inst-%05zu\",le=\"%s\"} %.17g %.3f\n", i, les[k],
                        bucket_value(i, k, t), (double)t / 1000);
    fprintf(f, "# EOF\n");
    return fclose(f);
}
