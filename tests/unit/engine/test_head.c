#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/tmpdir.h"
#include "engine/chunk.h"
#include "engine/head.h"
#include "engine/head_int.h"

/* ---- helpers ---- */

static em_head_t *open_head(const char *wal_dir, int shards)
{
    em_head_opts_t o = {.n_shards = shards, .wal_dir = wal_dir};
    em_head_t *h = NULL;
    em_err_t err;
    cr_assert_eq(em_head_open(&o, &h, &err), EM_OK, "%s", err.msg);
    return h;
}

/* Labels {__name__=metric, i="<i>", job="test"} built in caller storage. */
typedef struct lbuf {
    char i[16];
    em_label_t v[3];
    em_labels_t ls;
} lbuf_t;

static em_labels_t *mk(lbuf_t *b, const char *metric, int i)
{
    snprintf(b->i, sizeof(b->i), "%d", i);
    b->v[0] = (em_label_t){"__name__", metric};
    b->v[1] = (em_label_t){"i", b->i};
    b->v[2] = (em_label_t){"job", "test"};
    b->ls = (em_labels_t){b->v, 3};
    return &b->ls;
}

/* Append n_series x n_samples: series k gets samples j0 <= j < j0 + n_samples at t = t0 + j*step with
 * value k*1000 + j. */
static void fill_from(em_head_t *h, int n_series, int j0, int n_samples, int64_t t0, int64_t step)
{
    em_batch_t *b = em_batch_new();
    for (int j = j0; j < j0 + n_samples; j++) {
        em_batch_reset(b);
        for (int k = 0; k < n_series; k++) {
            lbuf_t lb;
            em_batch_add_series(b, mk(&lb, "m", k), true, 0);
            em_batch_add_sample(b, t0 + j * step, k * 1000.0 + j);
        }
        cr_assert_eq(em_head_append_wait(h, b), EM_OK);
        cr_assert_eq(em_batch_result(b)->appended, (uint64_t)n_series);
    }
    em_batch_free(b);
}

static void fill(em_head_t *h, int n_series, int n_samples, int64_t t0, int64_t step)
{
    fill_from(h, n_series, 0, n_samples, t0, step);
}

static em_matcher_t *eq(em_matcher_t *m, const char *name, const char *value)
{
    cr_assert_eq(em_matcher_init(m, EM_MATCH_EQ, name, value, NULL), EM_OK);
    return m;
}

/* Count series and samples matching name=value in [mint, maxt]; checks each series' samples follow the
 * fill() pattern unless step is 0. */
static size_t count_samples(em_head_t *h, const char *name, const char *value, int64_t mint, int64_t maxt,
                            size_t *n_series, int64_t t0, int64_t step)
{
    em_querier_t *q;
    cr_assert_eq(em_head_querier(h, mint, maxt, &q, NULL), EM_OK);
    em_matcher_t m;
    const em_matcher_t *ms[] = {eq(&m, name, value)};
    em_series_set_t *set;
    cr_assert_eq(em_querier_select(q, true, NULL, ms, 1, &set, NULL), EM_OK);
    size_t total = 0, ns = 0;
    em_labels_t prev = {0};
    while (em_series_set_next(set) == EM_OK) {
        em_labels_t ls = em_series_set_labels(set);
        if (ns > 0)
            cr_assert_lt(em_labels_cmp(&prev, &ls), 0, "series come sorted by labels");
        prev = ls;
        ns++;
        int k = atoi(em_labels_get(&ls, "i"));
        em_sample_iter_t *it;
        cr_assert_eq(em_series_set_samples(set, &it), EM_OK);
        int64_t t, last = INT64_MIN;
        double v;
        while (em_sample_iter_next(it) == EM_OK) {
            em_sample_iter_at(it, &t, &v);
            cr_assert_gt(t, last);
            cr_assert_geq(t, mint);
            cr_assert_leq(t, maxt);
            last = t;
            if (step) {
                int64_t j = (t - t0) / step;
                cr_assert_eq(v, k * 1000.0 + (double)j, "series %d at %lld: %f", k, (long long)t, v);
            }
            total++;
        }
        em_sample_iter_free(it);
    }
    em_series_set_close(set);
    em_matcher_fini(&m);
    em_querier_close(q);
    if (n_series)
        *n_series = ns;
    return total;
}

static em_sample_status_t append_one(em_head_t *h, const em_labels_t *ls, int64_t t, double v)
{
    em_batch_t *b = em_batch_new();
    em_batch_add_series(b, ls, true, 0);
    em_batch_add_sample(b, t, v);
    cr_assert_eq(em_head_append_wait(h, b), EM_OK);
    em_sample_status_t st = em_batch_sample_status(b, 0);
    em_batch_free(b);
    return st;
}

/* ---- tests ---- */

Test(engine_head, appended_samples_read_back_across_shards_and_chunks)
{
    em_head_t *h = open_head(NULL, 3);
    fill(h, 50, 500, 1000000, 15000);
    size_t ns;
    cr_assert_eq(count_samples(h, "job", "test", INT64_MIN, INT64_MAX, &ns, 1000000, 15000), 50 * 500);
    cr_assert_eq(ns, 50);
    em_head_stats_t st;
    em_head_stats(h, &st);
    cr_assert_eq(st.series, 50);
    cr_assert_gt(st.chunks, 50 * 3, "500 samples per series need several chunks");
    cr_assert_eq(st.min_time_ms, 1000000);
    cr_assert_eq(st.max_time_ms, 1000000 + 499 * 15000);
    em_head_close(h);
}

Test(engine_head, time_range_limits_samples)
{
    em_head_t *h = open_head(NULL, 2);
    fill(h, 5, 300, 0, 1000);
    /* [100s, 199.5s] holds samples 100..199 */
    cr_assert_eq(count_samples(h, "job", "test", 100000, 199500, NULL, 0, 1000), 5 * 100);
    cr_assert_eq(count_samples(h, "job", "test", 400000, 500000, NULL, 0, 1000), 0);
    em_head_close(h);
}

Test(engine_head, append_rules_match_prometheus)
{
    em_head_t *h = open_head(NULL, 1);
    lbuf_t lb;
    em_labels_t *ls = mk(&lb, "rules", 1);
    cr_assert_eq(append_one(h, ls, 1000, 1.0), EM_SAMPLE_OK);
    cr_assert_eq(append_one(h, ls, 2000, 2.0), EM_SAMPLE_OK);
    cr_assert_eq(append_one(h, ls, 1500, 9.0), EM_SAMPLE_OOO);
    cr_assert_eq(append_one(h, ls, 2000, 2.0), EM_SAMPLE_DUP_IGNORED);
    cr_assert_eq(append_one(h, ls, 2000, 3.0), EM_SAMPLE_DUP);
    cr_assert_eq(append_one(h, ls, 3000, 3.0), EM_SAMPLE_OK);
    /* Far behind the newest sample (more than half a chunk range): out of bounds for a new series. */
    lbuf_t lb2;
    cr_assert_eq(append_one(h, mk(&lb2, "rules", 2), 3000 - 2 * 3600 * 1000LL, 1), EM_SAMPLE_BOUNDS);
    cr_assert_eq(count_samples(h, "__name__", "rules", INT64_MIN, INT64_MAX, NULL, 0, 0), 3);
    cr_assert_str_eq(em_sample_status_str(EM_SAMPLE_OOO), "out of order sample");
    cr_assert_str_eq(em_sample_status_str(EM_SAMPLE_DUP), "duplicate sample for timestamp");
    em_head_close(h);
}

Test(engine_head, batch_reports_each_rejection_and_keeps_valid_samples)
{
    em_head_t *h = open_head(NULL, 2);
    lbuf_t a, b2;
    em_batch_t *b = em_batch_new();
    em_batch_add_series(b, mk(&a, "x", 1), true, 0);
    em_batch_add_sample(b, 1000, 1);
    em_batch_add_sample(b, 500, 2);  /* out of order within the request */
    em_batch_add_sample(b, 2000, 3);
    em_batch_add_series(b, mk(&b2, "x", 2), true, 0);
    em_batch_add_sample(b, 1000, 4);
    cr_assert_eq(em_head_append_wait(h, b), EM_OK);
    const em_batch_result_t *r = em_batch_result(b);
    cr_assert_eq(r->appended, 3);
    cr_assert_eq(r->out_of_order, 1);
    cr_assert_eq(r->first_error_sample, 1);
    cr_assert_eq(em_batch_sample_series(b, 1), 0);
    cr_assert_eq(em_batch_sample_series(b, 3), 1);
    cr_assert_neq(em_batch_series_ref(b, 0), 0);
    /* A second batch with the returned refs as hints lands on the same series. */
    em_series_ref_t r0 = em_batch_series_ref(b, 0);
    em_batch_reset(b);
    em_batch_add_series(b, mk(&a, "x", 1), true, r0);
    em_batch_add_sample(b, 3000, 5);
    cr_assert_eq(em_head_append_wait(h, b), EM_OK);
    cr_assert_eq(em_batch_series_ref(b, 0), r0);
    cr_assert_eq(em_batch_result(b)->series_created, 0);
    em_batch_free(b);
    em_head_close(h);
}

Test(engine_head, stale_markers_and_special_values_survive_bit_exact)
{
    em_head_t *h = open_head(NULL, 1);
    lbuf_t lb;
    em_labels_t *ls = mk(&lb, "special", 0);
    uint64_t bits[] = {EM_STALE_NAN_BITS, 0x7ff8000000000001ULL, 0x7ff0000000000000ULL, 0xfff0000000000000ULL,
                       0x8000000000000000ULL, 1};
    for (size_t i = 0; i < 6; i++) {
        double v;
        memcpy(&v, &bits[i], 8);
        cr_assert_eq(append_one(h, ls, (int64_t)i * 1000, v), EM_SAMPLE_OK);
    }
    em_querier_t *q;
    em_head_querier(h, INT64_MIN, INT64_MAX, &q, NULL);
    em_matcher_t m;
    const em_matcher_t *ms[] = {eq(&m, "__name__", "special")};
    em_series_set_t *set;
    em_querier_select(q, false, NULL, ms, 1, &set, NULL);
    cr_assert_eq(em_series_set_next(set), EM_OK);
    em_sample_iter_t *it;
    em_series_set_samples(set, &it);
    for (size_t i = 0; i < 6; i++) {
        cr_assert_eq(em_sample_iter_next(it), EM_OK);
        int64_t t;
        double v;
        em_sample_iter_at(it, &t, &v);
        uint64_t got;
        memcpy(&got, &v, 8);
        cr_assert_eq(got, bits[i], "sample %zu: %016llx", i, (unsigned long long)got);
    }
    cr_assert_eq(em_sample_iter_next(it), EM_DONE);
    em_series_set_close(set);
    em_matcher_fini(&m);
    em_querier_close(q);
    em_head_close(h);
}

Test(engine_head, chunks_are_cut_near_120_samples_and_at_range_boundaries)
{
    em_head_t *h = open_head(NULL, 1);
    /* 15 s scrapes for 2 h starting at a range boundary: 480 samples, cut into 4 chunks of 120. */
    fill(h, 1, 480, 0, 15000);
    em_head_stats_t st;
    em_head_stats(h, &st);
    cr_assert_eq(st.chunks, 4, "got %llu chunks", (unsigned long long)st.chunks);
    /* Crossing the 2 h boundary always starts a new chunk. */
    em_batch_t *b = em_batch_new();
    lbuf_t lb;
    em_batch_add_series(b, mk(&lb, "m", 0), true, 0);
    em_batch_add_sample(b, 7200000, 1.0);
    em_head_append_wait(h, b);
    em_batch_free(b);
    em_head_stats(h, &st);
    cr_assert_eq(st.chunks, 5);
    em_head_close(h);
}

Test(engine_head, seek_moves_forward_only_and_skips_chunks)
{
    em_head_t *h = open_head(NULL, 1);
    fill(h, 1, 1000, 0, 1000);
    em_querier_t *q;
    em_head_querier(h, INT64_MIN, INT64_MAX, &q, NULL);
    em_matcher_t m;
    const em_matcher_t *ms[] = {eq(&m, "job", "test")};
    em_series_set_t *set;
    em_querier_select(q, false, NULL, ms, 1, &set, NULL);
    cr_assert_eq(em_series_set_next(set), EM_OK);
    em_sample_iter_t *it;
    em_series_set_samples(set, &it);
    int64_t t;
    double v;
    cr_assert_eq(em_sample_iter_seek(it, 500500), EM_OK);
    em_sample_iter_at(it, &t, &v);
    cr_assert_eq(t, 501000);
    cr_assert_eq(em_sample_iter_seek(it, 100), EM_OK, "seeking backwards stays");
    em_sample_iter_at(it, &t, &v);
    cr_assert_eq(t, 501000);
    cr_assert_eq(em_sample_iter_next(it), EM_OK);
    em_sample_iter_at(it, &t, &v);
    cr_assert_eq(t, 502000);
    cr_assert_eq(em_sample_iter_seek(it, 999000), EM_OK);
    em_sample_iter_at(it, &t, &v);
    cr_assert_eq(v, 999.0);
    cr_assert_eq(em_sample_iter_seek(it, 999001), EM_DONE);
    em_series_set_close(set);
    em_matcher_fini(&m);
    em_querier_close(q);
    em_head_close(h);
}

Test(engine_head, label_names_and_values_honour_matchers)
{
    em_head_t *h = open_head(NULL, 2);
    fill(h, 3, 1, 1000, 1000);
    lbuf_t lb;
    em_label_t extra[] = {{"__name__", "other"}, {"zone", "eu"}};
    em_labels_t ols = {extra, 2};
    cr_assert_eq(append_one(h, &ols, 1000, 1), EM_SAMPLE_OK);
    (void)lb;
    em_querier_t *q;
    em_head_querier(h, INT64_MIN, INT64_MAX, &q, NULL);
    em_arena_t a;
    em_arena_init(&a);
    em_strlist_t l;
    em_strlist_init(&l);
    cr_assert_eq(q->ops->label_names(q, NULL, 0, &a, &l, NULL), EM_OK);
    cr_assert_eq(l.n, 4);
    cr_assert_str_eq(l.v[0], "__name__");
    cr_assert_str_eq(l.v[1], "i");
    cr_assert_str_eq(l.v[2], "job");
    cr_assert_str_eq(l.v[3], "zone");
    l.n = 0;
    em_matcher_t m;
    const em_matcher_t *ms[] = {eq(&m, "__name__", "m")};
    cr_assert_eq(q->ops->label_values(q, "i", ms, 1, &a, &l, NULL), EM_OK);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.v[2], "2");
    l.n = 0;
    cr_assert_eq(q->ops->label_values(q, "__name__", NULL, 0, &a, &l, NULL), EM_OK);
    cr_assert_eq(l.n, 2);
    em_strlist_fini(&l);
    em_arena_fini(&a);
    em_matcher_fini(&m);
    em_querier_close(q);
    em_head_close(h);
}

Test(engine_head, wal_replay_after_clean_close_restores_everything)
{
    char dir[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "headwal");
    em_head_t *h = open_head(dir, 2);
    fill(h, 40, 300, 5000, 10000);
    em_head_close(h);
    h = open_head(dir, 2);
    size_t ns;
    cr_assert_eq(count_samples(h, "job", "test", INT64_MIN, INT64_MAX, &ns, 5000, 10000), 40 * 300);
    cr_assert_eq(ns, 40);
    /* Appending continues after replay, and out-of-order checks know the replayed data. */
    lbuf_t lb;
    cr_assert_eq(append_one(h, mk(&lb, "m", 0), 5000, 0), EM_SAMPLE_OOO);
    fill_from(h, 40, 300, 1, 5000, 10000);
    em_head_close(h);
    h = open_head(dir, 4); /* another shard count: the WAL's count wins */
    cr_assert_eq(em_head_n_shards(h), 2);
    cr_assert_eq(count_samples(h, "job", "test", INT64_MIN, INT64_MAX, NULL, 5000, 10000), 40 * 301);
    em_head_close(h);
    em_test_rmdir(dir);
}

Test(engine_head, truncation_drops_old_chunks_removes_empty_series_and_checkpoints)
{
    char dir[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "headtrunc");
    em_head_t *h = open_head(dir, 2);
    /* Old series: samples in the first hour only. Live series: 0 to 3h. */
    em_batch_t *b = em_batch_new();
    for (int64_t t = 0; t < 3 * 3600000; t += 30000) {
        em_batch_reset(b);
        for (int k = 0; k < 10; k++) {
            lbuf_t lb;
            if (t < 3600000) {
                em_batch_add_series(b, mk(&lb, "old", k), true, 0);
                em_batch_add_sample(b, t, k * 1000.0 + (double)(t / 30000));
            }
            em_batch_add_series(b, mk(&lb, "live", k), true, 0);
            em_batch_add_sample(b, t, k * 1000.0 + (double)(t / 30000));
        }
        cr_assert_eq(em_head_append_wait(h, b), EM_OK);
    }
    em_batch_free(b);
    em_head_stats_t st;
    em_head_stats(h, &st);
    cr_assert_eq(st.series, 20);
    em_err_t err;
    cr_assert_eq(em_head_truncate(h, 2 * 3600000, &err), EM_OK, "%s", err.msg);
    em_head_stats(h, &st);
    cr_assert_eq(st.series, 10, "series without samples after 2h are removed, %llu left",
                 (unsigned long long)st.series);
    cr_assert_geq(st.min_time_ms, 3600000);
    size_t live = count_samples(h, "__name__", "live", 2 * 3600000, INT64_MAX, NULL, 0, 30000);
    cr_assert_eq(live, 10 * 120);
    /* Appends below the truncation point are out of bounds now. */
    lbuf_t lb;
    cr_assert_eq(append_one(h, mk(&lb, "old", 1), 3600000 * 2 - 1, 1), EM_SAMPLE_BOUNDS);
    size_t before_all = count_samples(h, "__name__", "live", INT64_MIN, INT64_MAX, NULL, 0, 30000);
    em_head_close(h);

    /* The checkpoint replaced the old segments; replay gives back exactly what the head held. */
    char ck[PATH_MAX];
    snprintf(ck, sizeof(ck), "%s/000", dir);
    h = open_head(dir, 2);
    em_head_stats(h, &st);
    cr_assert_eq(st.series, 10);
    cr_assert_eq(count_samples(h, "__name__", "live", INT64_MIN, INT64_MAX, NULL, 0, 30000), before_all);
    cr_assert_eq(count_samples(h, "__name__", "old", INT64_MIN, INT64_MAX, NULL, 0, 30000), 0);
    em_head_close(h);
    em_test_rmdir(dir);
}

/* A child process appends acknowledged batches and reports each acknowledgement on a pipe; the parent
 * kills it with SIGKILL at an arbitrary moment, reopens the WAL and checks every acknowledged sample. */
Test(engine_head, every_acknowledged_sample_survives_sigkill)
{
    char dir[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "headkill");
    unsigned seed = 12345;
    for (int round = 0; round < 3; round++) {
        int fds[2];
        cr_assert_eq(pipe(fds), 0);
        pid_t pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            em_head_t *h = open_head(dir, 2);
            em_batch_t *b = em_batch_new();
            for (int j = 0;; j++) {
                em_batch_reset(b);
                for (int k = 0; k < 20; k++) {
                    lbuf_t lb;
                    em_batch_add_series(b, mk(&lb, "m", k), true, 0);
                    em_batch_add_sample(b, (int64_t)(round * 100000 + j) * 1000, k * 1000.0 + (round * 100000 + j));
                }
                if (em_head_append_wait(h, b) != EM_OK)
                    _exit(3);
                int32_t acked = j + 1;
                if (write(fds[1], &acked, 4) != 4)
                    _exit(4);
            }
        }
        close(fds[1]);
        int32_t acked = 0, v;
        /* Let it replay and acknowledge something, then kill it at an arbitrary later moment. */
        cr_assert_eq(read(fds[0], &v, 4), 4, "round %d: the child died before acknowledging", round);
        acked = v;
        seed = seed * 1103515245 + 12345;
        usleep(1000 + (seed >> 8) % 150000);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        while (read(fds[0], &v, 4) == 4)
            acked = v;
        close(fds[0]);
        cr_assert_gt(acked, 0, "round %d: the child acknowledged nothing (seed %u)", round, seed);
        em_head_t *h = open_head(dir, 2);
        size_t got = count_samples(h, "job", "test", (int64_t)round * 100000 * 1000, INT64_MAX, NULL, 0, 1000);
        cr_assert_geq(got, (size_t)acked * 20, "round %d: %zu samples after restart, %d batches acknowledged",
                      round, got, acked);
        em_head_close(h);
    }
    em_test_rmdir(dir);
}

/* ---- start timestamps ---- */

/* Samples every 30 s over 3 h; every third has the start timestamp t - 15 s, the others none. */
static int64_t st_expected(int64_t t)
{
    return t % 90000 == 0 ? t - 15000 : 0;
}

/* Check every sample of {__name__=name} in [mint, maxt] carries st_expected (or none, when 'none'). */
static size_t check_sts(em_head_t *h, const char *name, int64_t mint, int64_t maxt, bool none)
{
    em_querier_t *q;
    cr_assert_eq(em_head_querier(h, mint, maxt, &q, NULL), EM_OK);
    em_matcher_t m;
    const em_matcher_t *ms[] = {eq(&m, "__name__", name)};
    em_series_set_t *set;
    cr_assert_eq(em_querier_select(q, true, NULL, ms, 1, &set, NULL), EM_OK);
    size_t n = 0;
    while (em_series_set_next(set) == EM_OK) {
        em_sample_iter_t *it;
        cr_assert_eq(em_series_set_samples(set, &it), EM_OK);
        /* Seek first: the start-timestamp cursor must follow a seek too. */
        int rc = em_sample_iter_seek(it, mint + 45000);
        for (; rc == EM_OK; rc = em_sample_iter_next(it)) {
            int64_t t;
            double v;
            em_sample_iter_at(it, &t, &v);
            int64_t want = none ? 0 : st_expected(t);
            cr_assert_eq(em_sample_iter_at_st(it), want, "%s at t=%lld", name, (long long)t);
            cr_assert_eq(em_sample_iter_at_st(it), want, "asking twice gives the same answer");
            n++;
        }
        em_sample_iter_free(it);
    }
    em_series_set_close(set);
    em_querier_close(q);
    return n;
}

Test(engine_head, start_timestamps_survive_replay_checkpoints_and_truncation)
{
    char dir[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "headst");
    em_head_t *h = open_head(dir, 2);
    em_batch_t *b = em_batch_new();
    for (int64_t t = 0; t < 3 * 3600000; t += 30000) {
        em_batch_reset(b);
        lbuf_t lb;
        em_batch_add_series(b, mk(&lb, "with_st", 0), true, 0);
        em_batch_add_sample_st(b, st_expected(t), t, (double)t);
        em_batch_add_series(b, mk(&lb, "plain", 0), true, 0);
        em_batch_add_sample(b, t, (double)t);
        cr_assert_eq(em_head_append_wait(h, b), EM_OK);
        cr_assert_eq(em_batch_result(b)->appended, 2);
    }
    em_batch_free(b);
    size_t all = 3 * 120 - 2; /* every sample from the seek (45 s) on */
    cr_assert_eq(check_sts(h, "with_st", 0, INT64_MAX, false), all);
    cr_assert_eq(check_sts(h, "plain", 0, INT64_MAX, true), all);

    /* The WAL brings them back. */
    em_head_close(h);
    h = open_head(dir, 2);
    cr_assert_eq(check_sts(h, "with_st", 0, INT64_MAX, false), all);
    cr_assert_eq(check_sts(h, "plain", 0, INT64_MAX, true), all);

    /* Truncation drops them with their chunks; the checkpoint keeps the rest. */
    em_err_t err;
    cr_assert_eq(em_head_truncate(h, 2 * 3600000, &err), EM_OK, "%s", err.msg);
    size_t left = check_sts(h, "with_st", 2 * 3600000, INT64_MAX, false);
    cr_assert_geq(left, 120 - 2);
    em_head_close(h);
    h = open_head(dir, 2);
    cr_assert_eq(check_sts(h, "with_st", 2 * 3600000, INT64_MAX, false), left);
    cr_assert_eq(check_sts(h, "plain", 2 * 3600000, INT64_MAX, true), left);
    em_head_close(h);
    em_test_rmdir(dir);
}

Test(engine_head, malformed_start_time_records_are_skipped_not_fatal)
{
    char dir[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "headstbad");
    em_head_t *h = open_head(dir, 1);
    em_batch_t *b = em_batch_new();
    lbuf_t lb;
    em_batch_add_series(b, mk(&lb, "with_st", 0), true, 0);
    for (int64_t t = 0; t < 10 * 30000; t += 30000)
        em_batch_add_sample_st(b, st_expected(t), t, (double)t);
    cr_assert_eq(em_head_append_wait(h, b), EM_OK);
    em_batch_free(b);
    em_head_close(h);

    /* Append to the shard's WAL: a truncated record, one for an unknown series, and one for a sample the
     * series does not have (newer than its last). Replay must skip all three and keep the rest. */
    char wal[PATH_MAX];
    snprintf(wal, sizeof(wal), "%s/000", dir);
    em_wal_t *w;
    em_err_t err;
    em_wal_opts_t wo = {0};
    cr_assert_eq(em_wal_open(wal, &wo, &w, &err), EM_OK, "%s", err.msg);
    const uint8_t truncated[] = {0x01, 0x80};
    em_wal_add(w, EM_WAL_REC_START_TIMES, truncated, sizeof(truncated));
    em_buf_t r = EM_BUF_INIT;
    em_buf_put_uvarint(&r, 999); /* no such series */
    em_buf_put_varint(&r, 0);
    em_buf_put_varint(&r, -5);
    em_buf_put_uvarint(&r, 1); /* the series, at a time it has no sample */
    em_buf_put_varint(&r, 3600000);
    em_buf_put_varint(&r, -5);
    em_wal_add(w, EM_WAL_REC_START_TIMES, r.data, r.len);
    cr_assert_eq(em_wal_flush(w, &err), EM_OK, "%s", err.msg);
    em_wal_close(w);
    em_buf_fini(&r);

    h = open_head(dir, 1);
    cr_assert_eq(check_sts(h, "with_st", 0, INT64_MAX, false), 10 - 2);
    em_head_close(h);
    em_test_rmdir(dir);
}
