/* The db under concurrent use: appends, queries and background rounds (cutting, compaction, retention
 * off) at once. Also built with ThreadSanitizer (make tsan). */
#include <criterion/criterion.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/tmpdir.h"
#include "engine/db.h"

#define N_SERIES 6
#define STEP_MS 1000LL
#define BLOCK_MS 20000LL /* 20 s blocks: many cuts and compactions in a short run */

typedef struct shared {
    em_db_t *db;
    atomic_int appended; /* samples per series acknowledged so far */
    atomic_bool stop;
    atomic_int queries, bad;
    char why[256];
} shared_t;

static void *appender(void *p)
{
    shared_t *s = p;
    em_batch_t *b = em_batch_new();
    for (int j = 0; j < 600 && !atomic_load(&s->stop); j++) {
        em_batch_reset(b);
        for (int k = 0; k < N_SERIES; k++) {
            char iv[8];
            snprintf(iv, sizeof(iv), "%d", k);
            em_label_t l[2] = {{"__name__", "c"}, {"i", iv}};
            em_labels_t ls = {l, 2};
            em_batch_add_series(b, &ls, true, 0);
            em_batch_add_sample(b, j * STEP_MS, k * 10000.0 + j);
        }
        if (em_head_append_wait(em_db_head(s->db), b) != EM_OK || em_batch_result(b)->appended != N_SERIES) {
            atomic_store(&s->bad, 1);
            snprintf(s->why, sizeof(s->why), "append %d rejected", j);
            break;
        }
        atomic_store(&s->appended, j + 1);
    }
    em_batch_free(b);
    return NULL;
}

/* Every series must hold samples 0..n-1 without gaps, n >= what was acknowledged before the query. */
static void *querier(void *p)
{
    shared_t *s = p;
    em_rcu_thread_online();
    em_matcher_t m;
    em_matcher_init(&m, EM_MATCH_EQ, "__name__", "c", NULL);
    const em_matcher_t *ms[] = {&m};
    while (!atomic_load(&s->stop) && !atomic_load(&s->bad)) {
        int acked = atomic_load(&s->appended);
        em_querier_t *q;
        em_series_set_t *set;
        if (em_queryable_querier(em_db_queryable(s->db), INT64_MIN, INT64_MAX, &q, NULL) != EM_OK ||
            em_querier_select(q, true, NULL, ms, 1, &set, NULL) != EM_OK) {
            atomic_store(&s->bad, 1);
            snprintf(s->why, sizeof(s->why), "query failed");
            break;
        }
        int n_series = 0;
        while (em_series_set_next(set) == EM_OK) {
            em_labels_t ls = em_series_set_labels(set);
            int k = atoi(em_labels_get(&ls, "i"));
            em_sample_iter_t *it;
            em_series_set_samples(set, &it);
            int j = 0;
            while (em_sample_iter_next(it) == EM_OK) {
                int64_t t;
                double v;
                em_sample_iter_at(it, &t, &v);
                if (t != j * STEP_MS || v != k * 10000.0 + j) {
                    atomic_store(&s->bad, 1);
                    snprintf(s->why, sizeof(s->why), "series %d sample %d is %lld:%g", k, j, (long long)t, v);
                    break;
                }
                j++;
            }
            em_sample_iter_free(it);
            if (j < acked && !atomic_load(&s->bad)) {
                atomic_store(&s->bad, 1);
                snprintf(s->why, sizeof(s->why), "series %d has %d samples, %d acknowledged", k, j, acked);
            }
            n_series++;
        }
        em_series_set_close(set);
        em_querier_close(q);
        if (acked > 0 && n_series != N_SERIES && !atomic_load(&s->bad)) {
            atomic_store(&s->bad, 1);
            snprintf(s->why, sizeof(s->why), "%d series", n_series);
        }
        atomic_fetch_add(&s->queries, 1);
    }
    em_matcher_fini(&m);
    return NULL;
}

Test(engine_db_concurrent, appends_and_queries_go_on_while_blocks_are_cut_and_compacted, .timeout = 120)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "dbconc");
    em_db_opts_t o = {.dir = dir,
                      .min_block_ms = BLOCK_MS,
                      .max_block_ms = 9 * BLOCK_MS,
                      .head_shards = 2,
                      .maintain_interval_ms = 5};
    em_db_t *db = NULL;
    em_err_t err;
    cr_assert_eq(em_db_open(&o, &db, &err), EM_OK, "%s", err.msg);
    static shared_t s;
    memset(&s, 0, sizeof(s));
    s.db = db;
    pthread_t ta, tq[2];
    cr_assert_eq(pthread_create(&ta, NULL, appender, &s), 0);
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&tq[i], NULL, querier, &s), 0);
    pthread_join(ta, NULL);
    /* Let the background thread catch up while the queries go on. */
    for (int i = 0; i < 50 && !atomic_load(&s.bad); i++) {
        em_db_wake(db);
        usleep(20000);
    }
    atomic_store(&s.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(tq[i], NULL);
    cr_assert(!atomic_load(&s.bad), "%s", s.why);
    cr_assert_eq(atomic_load(&s.appended), 600);
    cr_assert_gt(atomic_load(&s.queries), 0);
    em_db_block_info_t *info;
    size_t n = em_db_blocks(db, &info);
    free(info);
    cr_assert_gt(n, 0, "blocks were cut meanwhile");
    em_db_close(db);
    em_test_rmdir(dir);
}
