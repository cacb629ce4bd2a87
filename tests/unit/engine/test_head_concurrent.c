/* Ingestion, queries and truncation at once. Readers check that every series they see is a consistent
 * prefix: consecutive timestamps without gaps, each value matching its timestamp. Also run under
 * ThreadSanitizer (make tsan). */
#include <criterion/criterion.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/head.h"

#define N_SERIES 300
#define STEP_MS 1000

static atomic_bool stop;
static atomic_long reads, read_samples;

typedef struct ctx {
    em_head_t *h;
    int64_t written; /* samples per series written so far; Thread: writer */
} ctx_t;

static void *writer(void *arg)
{
    ctx_t *c = arg;
    em_batch_t *b = em_batch_new();
    char names[N_SERIES][16];
    for (int k = 0; k < N_SERIES; k++)
        snprintf(names[k], sizeof(names[k]), "%d", k);
    em_series_ref_t refs[N_SERIES] = {0};
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int64_t j = 0;; j++) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec >= 2 && j > 400)
            break;
        em_batch_reset(b);
        for (int k = 0; k < N_SERIES; k++) {
            em_label_t v[] = {{"__name__", "c"}, {"job", "t"}, {"k", names[k]}};
            em_labels_t ls = {v, 3};
            em_batch_add_series(b, &ls, true, refs[k]);
            /* Every third sample has a start timestamp: their log grows, is trimmed and republished
             * under the readers. */
            em_batch_add_sample_st(b, j % 3 == 0 ? j * STEP_MS - 1000 : 0, j * STEP_MS, (double)j);
        }
        cr_assert_eq(em_head_append_wait(c->h, b), EM_OK);
        cr_assert_eq(em_batch_result(b)->appended, N_SERIES);
        for (int k = 0; k < N_SERIES; k++)
            refs[k] = em_batch_series_ref(b, (uint32_t)k);
        c->written = j + 1;
        /* Truncate now and then: readers must never see torn chunk lists or freed memory. */
        if (j % 150 == 149) {
            em_err_t err;
            cr_assert_eq(em_head_truncate(c->h, (j - 100) * STEP_MS, &err), EM_OK, "%s", err.msg);
        }
    }
    em_batch_free(b);
    atomic_store(&stop, true);
    return NULL;
}

static void check_series(em_series_set_t *set)
{
    em_sample_iter_t *it;
    cr_assert_eq(em_series_set_samples(set, &it), EM_OK);
    int64_t t, prev = INT64_MIN;
    double v;
    long n = 0;
    int rc;
    while ((rc = em_sample_iter_next(it)) == EM_OK) {
        em_sample_iter_at(it, &t, &v);
        cr_assert_eq(v, (double)(t / STEP_MS), "value %f at %lld", v, (long long)t);
        cr_assert_eq(em_sample_iter_at_st(it), (t / STEP_MS) % 3 == 0 ? t - 1000 : 0,
                     "start timestamp at %lld", (long long)t);
        if (prev != INT64_MIN)
            cr_assert_eq(t, prev + STEP_MS, "gap between %lld and %lld", (long long)prev, (long long)t);
        prev = t;
        n++;
    }
    cr_assert_eq(rc, EM_DONE);
    em_sample_iter_free(it);
    atomic_fetch_add(&read_samples, n);
}

static void *reader(void *arg)
{
    ctx_t *c = arg;
    em_matcher_t m;
    em_matcher_init(&m, EM_MATCH_EQ, "job", "t", NULL);
    const em_matcher_t *ms[] = {&m};
    while (!atomic_load(&stop)) {
        em_querier_t *q;
        cr_assert_eq(em_head_querier(c->h, INT64_MIN, INT64_MAX, &q, NULL), EM_OK);
        em_series_set_t *set;
        cr_assert_eq(em_querier_select(q, (atomic_load(&reads) & 1) != 0, NULL, ms, 1, &set, NULL), EM_OK);
        int ns = 0;
        while (em_series_set_next(set) == EM_OK) {
            check_series(set);
            ns++;
        }
        cr_assert_leq(ns, N_SERIES);
        em_series_set_close(set);
        em_querier_close(q);
        atomic_fetch_add(&reads, 1);
    }
    em_matcher_fini(&m);
    em_rcu_thread_offline();
    return NULL;
}

Test(engine_head_concurrent, readers_see_consistent_prefixes_while_ingesting_and_truncating)
{
    em_head_opts_t o = {.n_shards = 2};
    em_head_t *h;
    cr_assert_eq(em_head_open(&o, &h, NULL), EM_OK);
    ctx_t c = {.h = h};
    atomic_store(&stop, false);
    pthread_t w, r[2];
    pthread_create(&w, NULL, writer, &c);
    for (int i = 0; i < 2; i++)
        pthread_create(&r[i], NULL, reader, &c);
    pthread_join(w, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    cr_assert_gt(atomic_load(&reads), 5, "readers ran %ld times", atomic_load(&reads));
    cr_assert_gt(atomic_load(&read_samples), 0);
    em_head_stats_t st;
    em_head_stats(h, &st);
    cr_assert_eq(st.series, N_SERIES);
    em_head_close(h);
}
