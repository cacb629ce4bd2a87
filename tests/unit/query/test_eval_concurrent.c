/* Several threads query one engine at once: the concurrency limit queues them, each gets a scratch
 * arena of its own, and every answer is the same as a lone query's. Also runs under ThreadSanitizer. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "engine/head.h"
#include "query/eval.h"

#define THREADS 4
#define ROUNDS 15

static em_head_t *head;
static em_query_engine_t *engine;
static double expected;

static double run_one(void)
{
    em_query_result_t *r = NULL;
    const char *q = "sum(rate(c_total[1m]))";
    int rc =
        em_query_exec_range(engine, em_head_queryable(head), q, strlen(q), 60000, 300000, 10000, 0, NULL, &r);
    double v = -1;
    if (rc == EM_OK && r->n_series == 1 && r->series[0].n_pts == 25)
        v = r->series[0].pts[24].v;
    em_query_result_free(r);
    return v;
}

static void *worker(void *arg)
{
    int *bad = arg;
    em_rcu_thread_online();
    for (int i = 0; i < ROUNDS; i++)
        if (run_one() != expected)
            (*bad)++;
    em_rcu_thread_offline();
    return NULL;
}

Test(query_eval_concurrent, parallel_queries_share_an_engine_and_agree)
{
    em_rcu_thread_online();
    em_head_opts_t o = {.n_shards = 2};
    em_err_t err;
    cr_assert_eq(em_head_open(&o, &head, &err), EM_OK, "%s", err.msg);
    em_batch_t *b = em_batch_new();
    for (int s = 0; s < 50; s++) {
        char inst[8];
        snprintf(inst, sizeof inst, "%d", s);
        em_label_t l[2] = {{"__name__", "c_total"}, {"instance", inst}};
        em_labels_t ls = {l, 2};
        em_batch_add_series(b, &ls, true, 0);
        for (int64_t t = 0; t <= 300000; t += 5000)
            em_batch_add_sample(b, t, (double)(s + 1) * (double)t / 1000);
    }
    cr_assert_eq(em_head_append_wait(head, b), EM_OK);
    em_batch_free(b);
    em_query_engine_opts_t eo = {.max_concurrency = 2};
    engine = em_query_engine_new(&eo);
    expected = run_one();
    /* each counter grows (s + 1) per second: the rates sum to 1 + 2 + ... + 50 */
    cr_assert(fabs(expected - 1275) < 1e-9, "sum of rates %g", expected);
    pthread_t th[THREADS];
    int bad[THREADS] = {0};
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, &bad[i]);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(bad[i], 0, "thread %d saw %d wrong answers", i, bad[i]);
    }
    em_query_engine_free(engine);
    em_head_close(head);
    em_rcu_thread_offline();
}
