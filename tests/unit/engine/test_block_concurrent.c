/* One block, several query threads, and a thread that deletes series and finally marks the block for
 * removal: every querier sees either all of a series' samples or the tombstoned view (never a torn
 * table), and the directory disappears only after the last querier closes. Also run under
 * ThreadSanitizer (make tsan). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "common/tmpdir.h"
#include "engine/block.h"

#define N_SERIES 40
#define N_SAMPLES 600
#define N_READERS 3

static atomic_bool stop;
static atomic_long reads;

static void *reader(void *arg)
{
    em_block_t *b = arg;
    em_matcher_t m;
    em_matcher_init(&m, EM_MATCH_RE, "__name__", ".+", NULL);
    const em_matcher_t *ms[] = {&m};
    while (!atomic_load(&stop)) {
        em_querier_t *q;
        if (em_block_querier(b, 0, N_SAMPLES * 1000, &q, NULL) != EM_OK)
            abort();
        em_series_set_t *ss;
        if (em_querier_select(q, true, NULL, ms, 1, &ss, NULL) != EM_OK)
            abort();
        while (em_series_set_next(ss) == EM_OK) {
            em_sample_iter_t *it;
            em_series_set_samples(ss, &it);
            long n = 0;
            int64_t t;
            double v;
            while (em_sample_iter_next(it) == EM_OK) {
                em_sample_iter_at(it, &t, &v);
                if (v != (double)t)
                    abort();
                n++;
            }
            em_sample_iter_free(it);
            /* all samples, or all but the deleted [100 s, 199 s] */
            if (n != N_SAMPLES && n != N_SAMPLES - 100)
                abort();
        }
        em_series_set_close(ss);
        em_querier_close(q);
        atomic_fetch_add(&reads, 1);
        usleep(50); /* moments without queriers, when the tables may be unloaded */
    }
    em_matcher_fini(&m);
    return NULL;
}

/* Write the test block (N_SERIES series m000.. of N_SAMPLES samples, v == t) under dir; its path into
 * path. */
static void write_block(const char *dir, char *path, size_t path_len, char names[N_SERIES][16])
{
    char name[EM_ULID_STR_LEN + 1];
    em_block_writer_opts_t o = {.min_time_ms = 0, .max_time_ms = N_SAMPLES * 1000, .no_fsync = true};
    em_block_writer_t *w;
    cr_assert_eq(em_block_writer_new(dir, &o, &w, NULL), EM_OK);
    static int64_t ts[N_SAMPLES];
    static double vs[N_SAMPLES];
    for (int i = 0; i < N_SAMPLES; i++) {
        ts[i] = i * 1000;
        vs[i] = (double)ts[i];
    }
    for (int s = 0; s < N_SERIES; s++) {
        snprintf(names[s], sizeof(names[s]), "m%03d", s);
        em_label_t lv[] = {{"__name__", names[s]}};
        em_labels_t ls = {lv, 1};
        cr_assert_eq(em_block_writer_add_samples(w, &ls, ts, vs, N_SAMPLES, NULL), EM_OK);
    }
    em_block_meta_t meta;
    cr_assert_eq(em_block_writer_commit(w, &meta, NULL), EM_OK);
    em_block_writer_free(w);
    em_ulid_format(&meta.ulid, name);
    snprintf(path, path_len, "%s/%s", dir, name);
    em_block_meta_fini(&meta);
}

Test(engine_block_concurrent, queries_run_through_deletes_and_removal)
{
    char dir[256], path[512];
    em_test_tmpdir(dir, sizeof(dir), "blockconc");
    char names[N_SERIES][16];
    write_block(dir, path, sizeof(path), names);
    em_block_t *b;
    cr_assert_eq(em_block_open(path, &b, NULL), EM_OK);

    pthread_t th[N_READERS];
    for (int i = 0; i < N_READERS; i++) {
        em_block_acquire(b); /* each reader's own reference */
        pthread_create(&th[i], NULL, reader, b);
    }
    for (int s = 0; s < N_SERIES; s += 2) {
        em_matcher_t m;
        em_matcher_init(&m, EM_MATCH_EQ, "__name__", names[s], NULL);
        const em_matcher_t *ms[] = {&m};
        em_err_t err = {0};
        cr_assert_eq(em_block_delete(b, 100000, 199000, ms, 1, &err), EM_OK, "%s", err.msg);
        em_matcher_fini(&m);
    }
    cr_assert_eq(em_block_num_tombstones(b), N_SERIES / 2);
    em_block_mark_deleted(b);
    em_block_release(b); /* the opener's reference; readers still hold theirs */
    cr_assert(em_path_exists(path));
    while (atomic_load(&reads) < 2 * N_READERS)
        ;
    atomic_store(&stop, true);
    for (int i = 0; i < N_READERS; i++) {
        pthread_join(th[i], NULL);
        em_block_release(b);
    }
    cr_assert(!em_path_exists(path), "block directory left behind");
    em_test_rmdir(dir);
}

/* Queriers come and go while another thread frees the index tables whenever no querier holds them: no
 * querier may see them freed or half loaded. */
Test(engine_block_concurrent, index_tables_unload_between_queries)
{
    char dir[256], path[512];
    em_test_tmpdir(dir, sizeof(dir), "blockunload");
    char names[N_SERIES][16];
    write_block(dir, path, sizeof(path), names);
    em_block_t *b;
    cr_assert_eq(em_block_open(path, &b, NULL), EM_OK);
    atomic_store(&stop, false);
    atomic_store(&reads, 0);
    pthread_t th[N_READERS];
    for (int i = 0; i < N_READERS; i++) {
        em_block_acquire(b);
        pthread_create(&th[i], NULL, reader, b);
    }
    long unloads = 0;
    for (int k = 0; k < 20000 && (unloads < 20 || atomic_load(&reads) < 20 * N_READERS); k++) {
        unloads += em_block_unload_idle(b, 0);
        usleep(100);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < N_READERS; i++) {
        pthread_join(th[i], NULL);
        em_block_release(b);
    }
    cr_assert_gt(unloads, 0, "the tables were never free to unload");
    cr_assert_geq(atomic_load(&reads), N_READERS, "queries ran");
    em_block_release(b);
    em_test_rmdir(dir);
}
