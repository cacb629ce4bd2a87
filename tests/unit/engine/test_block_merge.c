/* em_series_set_merge over block queriers: k-way merge of sorted sets, sample deduplication, merged chunks
 * for compaction of overlapping blocks. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "common/tmpdir.h"
#include "engine/block.h"
#include "engine/chunk.h"

static uint64_t rs;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

#define N_NAMES 12
#define N_INPUTS 3
#define MAX_T 2000

/* Per input and series: which timestamps (seconds) are present. value = series*1e6 + t (+ input * 0.5 when
 * the test wants inputs to disagree, to see which one wins). */
typedef struct model {
    bool has[N_INPUTS][N_NAMES][MAX_T];
    bool disagree;
} model_t;

static double val(const model_t *m, size_t in, size_t s, size_t t)
{
    return (double)s * 1e6 + (double)t + (m->disagree ? (double)in * 0.5 : 0);
}

static void labels_of(size_t s, char *buf, em_label_t *lv, em_labels_t *ls)
{
    snprintf(buf, 16, "s%02zu", s);
    lv[0] = (em_label_t){"__name__", buf};
    *ls = (em_labels_t){lv, 1};
}

static em_block_t *write_input(const char *dir, const model_t *m, size_t in)
{
    em_block_writer_opts_t o = {.min_time_ms = 0, .max_time_ms = MAX_T * 1000, .no_fsync = true};
    em_block_writer_t *w;
    cr_assert_eq(em_block_writer_new(dir, &o, &w, NULL), EM_OK);
    int64_t ts[MAX_T];
    double vs[MAX_T];
    for (size_t s = 0; s < N_NAMES; s++) {
        size_t n = 0;
        for (size_t t = 0; t < MAX_T; t++)
            if (m->has[in][s][t]) {
                ts[n] = (int64_t)t * 1000;
                vs[n++] = val(m, in, s, t);
            }
        char buf[16];
        em_label_t lv[1];
        em_labels_t ls;
        labels_of(s, buf, lv, &ls);
        cr_assert_eq(em_block_writer_add_samples(w, &ls, ts, vs, n, NULL), EM_OK);
    }
    em_block_meta_t meta;
    cr_assert_eq(em_block_writer_commit(w, &meta, NULL), EM_OK);
    em_block_writer_free(w);
    char name[EM_ULID_STR_LEN + 1], path[512];
    em_ulid_format(&meta.ulid, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    em_block_meta_fini(&meta);
    em_block_t *b;
    em_err_t err = {0};
    cr_assert_eq(em_block_open(path, &b, &err), EM_OK, "%s", err.msg);
    return b;
}

static void random_model(model_t *m, uint64_t seed)
{
    memset(m, 0, sizeof(*m));
    rs = seed;
    m->disagree = seed % 2;
    for (size_t in = 0; in < N_INPUTS; in++)
        for (size_t s = 0; s < N_NAMES; s++) {
            if (rnd() % 4 == 0)
                continue; /* series absent from this input */
            /* a contiguous range with holes, so inputs overlap partly */
            size_t a = rnd() % MAX_T, b = a + rnd() % (MAX_T - a);
            for (size_t t = a; t <= b && t < MAX_T; t++)
                m->has[in][s][t] = rnd() % 3 != 0;
        }
}

/* Expected samples of series s in [lo, hi] seconds: any input has t; the value is the first input's. */
static size_t expected(const model_t *m, size_t s, size_t lo, size_t hi, int64_t *ts, double *vs)
{
    size_t n = 0;
    for (size_t t = lo; t <= hi && t < MAX_T; t++)
        for (size_t in = 0; in < N_INPUTS; in++)
            if (m->has[in][s][t]) {
                ts[n] = (int64_t)t * 1000;
                vs[n++] = val(m, in, s, t);
                break;
            }
    return n;
}

static em_series_set_t *merged(em_block_t **b, em_querier_t **q, int64_t mint, int64_t maxt, em_matcher_t *mt)
{
    em_matcher_init(mt, EM_MATCH_RE, "__name__", ".+", NULL);
    const em_matcher_t *ms[] = {mt};
    em_series_set_t *sets[N_INPUTS];
    for (size_t i = 0; i < N_INPUTS; i++) {
        cr_assert_eq(em_block_querier(b[i], mint, maxt, &q[i], NULL), EM_OK);
        cr_assert_eq(em_querier_select(q[i], true, NULL, ms, 1, &sets[i], NULL), EM_OK);
    }
    return em_series_set_merge(sets, N_INPUTS);
}

static void check_series_samples(em_series_set_t *ss, const model_t *m, size_t s, size_t lo, size_t hi,
                                 uint64_t seed)
{
    static int64_t ts[MAX_T];
    static double vs[MAX_T];
    size_t n = expected(m, s, lo, hi, ts, vs);
    em_sample_iter_t *it;
    cr_assert_eq(em_series_set_samples(ss, &it), EM_OK);
    size_t k = 0;
    int rc;
    while ((rc = em_sample_iter_next(it)) == EM_OK) {
        int64_t t;
        double v;
        em_sample_iter_at(it, &t, &v);
        cr_assert_lt(k, n, "seed %" PRIu64 " series %zu: extra sample t=%" PRId64, seed, s, t);
        cr_assert_eq(t, ts[k], "seed %" PRIu64 " series %zu sample %zu", seed, s, k);
        cr_assert_eq(v, vs[k], "seed %" PRIu64 " series %zu t=%" PRId64 ": value %g want %g", seed, s, t, v,
                     vs[k]);
        k++;
    }
    cr_assert_eq(rc, EM_DONE);
    cr_assert_eq(k, n, "seed %" PRIu64 " series %zu: %zu samples, want %zu", seed, s, k, n);
    em_sample_iter_free(it);

    /* seek lands on the first sample at or after the target, never going back */
    cr_assert_eq(em_series_set_samples(ss, &it), EM_OK);
    size_t j = 0;
    for (int64_t target = (int64_t)lo * 1000; target <= (int64_t)hi * 1000 + 1000;
         target += 1 + (int64_t)(rnd() % 90000)) {
        while (j < n && ts[j] < target)
            j++;
        int r = em_sample_iter_seek(it, target);
        if (j == n) {
            cr_assert_eq(r, EM_DONE, "seed %" PRIu64 " seek past the end", seed);
            break;
        }
        cr_assert_eq(r, EM_OK);
        int64_t t;
        double v;
        em_sample_iter_at(it, &t, &v);
        cr_assert_eq(t, ts[j],
                     "seed %" PRIu64 " series %zu: seek(%" PRId64 ") gave %" PRId64 " want %" PRId64, seed, s,
                     target, t, ts[j]);
    }
    em_sample_iter_free(it);

    /* merged chunks: in order, non-overlapping, and they decode to the same samples (untrimmed) */
    em_chunk_iter_t *ci;
    cr_assert_eq(em_series_set_chunks(ss, &ci), EM_OK);
    int64_t prev = INT64_MIN;
    size_t all_n = expected(m, s, 0, MAX_T, ts, vs), c = 0;
    while ((rc = em_chunk_iter_next(ci)) == EM_OK) {
        em_chunk_ref_t r;
        em_chunk_iter_at(ci, &r);
        cr_assert_gt(r.mint_ms, prev, "seed %" PRIu64 " series %zu: chunks overlap", seed, s);
        prev = r.maxt_ms;
        size_t cn = em_xor_num_samples(r.data, r.len);
        int64_t cts[200];
        double cvs[200];
        cr_assert_leq(cn, 200);
        int drc;
        cr_assert_eq(em_xor_decode_all(r.data, r.len, cts, cvs, cn, &drc), cn);
        cr_assert_eq(cts[0], r.mint_ms);
        cr_assert_eq(cts[cn - 1], r.maxt_ms);
        for (size_t i = 0; i < cn; i++) {
            while (c < all_n && ts[c] < cts[i])
                c++;
            cr_assert_lt(c, all_n);
            cr_assert_eq(cts[i], ts[c],
                         "seed %" PRIu64 " series %zu: chunk sample t=%" PRId64 " not expected", seed, s,
                         cts[i]);
            /* outside the queried range an input's chunk may be missing, so another input's value shows */
            if (cts[i] >= (int64_t)lo * 1000 && cts[i] <= (int64_t)hi * 1000)
                cr_assert_eq(cvs[i], vs[c], "seed %" PRIu64 " series %zu t=%" PRId64, seed, s, cts[i]);
        }
    }
    cr_assert_eq(rc, EM_DONE);
    em_chunk_iter_free(ci);
}

Test(engine_block_merge, merges_overlapping_blocks_series_by_series_and_sample_by_sample)
{
    for (uint64_t seed = 1; seed <= 6; seed++) {
        static model_t m;
        random_model(&m, seed * 7919);
        char dir[256];
        em_test_tmpdir(dir, sizeof(dir), "merge");
        em_block_t *b[N_INPUTS];
        for (size_t i = 0; i < N_INPUTS; i++)
            b[i] = write_input(dir, &m, i);
        size_t lo = seed % 3 ? 0 : 300, hi = seed % 3 ? MAX_T : 1500;
        em_querier_t *q[N_INPUTS];
        em_matcher_t mt;
        em_series_set_t *ss = merged(b, q, (int64_t)lo * 1000, (int64_t)hi * 1000, &mt);
        size_t s = 0;
        int rc;
        while ((rc = em_series_set_next(ss)) == EM_OK) {
            static int64_t ts[MAX_T];
            static double vs[MAX_T];
            while (s < N_NAMES && expected(&m, s, lo, hi, ts, vs) == 0 &&
                   expected(&m, s, 0, MAX_T, ts, vs) == 0)
                s++;
            em_labels_t ls = em_series_set_labels(ss);
            char want[16];
            snprintf(want, sizeof(want), "s%02zu", s);
            /* a series with samples only outside [lo, hi] is not returned by blocks */
            while (strcmp(ls.v[0].value, want) != 0) {
                cr_assert_eq(expected(&m, s, lo, hi, ts, vs), 0, "seed %" PRIu64 ": series %s missing", seed,
                             want);
                s++;
                snprintf(want, sizeof(want), "s%02zu", s);
                cr_assert_lt(s, N_NAMES);
            }
            check_series_samples(ss, &m, s, lo, hi, seed);
            s++;
        }
        cr_assert_eq(rc, EM_DONE);
        em_series_set_close(ss);
        em_matcher_fini(&mt);
        for (size_t i = 0; i < N_INPUTS; i++) {
            em_querier_close(q[i]);
            em_block_release(b[i]);
        }
        em_test_rmdir(dir);
    }
}

Test(engine_block_merge, compacting_overlapping_blocks_gives_one_block_with_the_merged_samples)
{
    static model_t m;
    random_model(&m, 4242);
    m.disagree = false;
    char dir[256], out[300];
    em_test_tmpdir(dir, sizeof(dir), "merge");
    snprintf(out, sizeof(out), "%s/out", dir);
    em_mkdir_all(out, NULL);
    em_block_t *b[N_INPUTS];
    for (size_t i = 0; i < N_INPUTS; i++)
        b[i] = write_input(dir, &m, i);
    em_querier_t *q[N_INPUTS];
    em_matcher_t mt;
    em_series_set_t *ss = merged(b, q, 0, MAX_T * 1000, &mt);
    em_block_writer_opts_t o = {.min_time_ms = 0, .max_time_ms = MAX_T * 1000, .level = 2, .no_fsync = true};
    em_block_meta_t meta;
    em_err_t err = {0};
    cr_assert_eq(em_block_write_set(out, &o, ss, &meta, &err), EM_OK, "%s", err.msg);
    em_series_set_close(ss);
    for (size_t i = 0; i < N_INPUTS; i++)
        em_querier_close(q[i]);
    char name[EM_ULID_STR_LEN + 1], path[512];
    em_ulid_format(&meta.ulid, name);
    snprintf(path, sizeof(path), "%s/%s", out, name);
    em_block_t *c;
    cr_assert_eq(em_block_open(path, &c, &err), EM_OK, "%s", err.msg);
    cr_assert_eq(em_block_verify(c, &err), EM_OK, "%s", err.msg);
    cr_assert_eq(em_block_meta(c)->level, 2);
    em_querier_t *cq;
    cr_assert_eq(em_block_querier(c, 0, MAX_T * 1000, &cq, NULL), EM_OK);
    const em_matcher_t *ms[] = {&mt};
    cr_assert_eq(em_querier_select(cq, true, NULL, ms, 1, &ss, NULL), EM_OK);
    size_t s = 0, total = 0;
    while (em_series_set_next(ss) == EM_OK) {
        static int64_t ts[MAX_T];
        static double vs[MAX_T];
        em_labels_t ls = em_series_set_labels(ss);
        while (expected(&m, s, 0, MAX_T, ts, vs) == 0)
            s++;
        char want[16];
        snprintf(want, sizeof(want), "s%02zu", s);
        cr_assert_str_eq(ls.v[0].value, want);
        check_series_samples(ss, &m, s, 0, MAX_T, 4242);
        total += expected(&m, s, 0, MAX_T, ts, vs);
        s++;
    }
    cr_assert_eq(meta.num_samples, total);
    em_series_set_close(ss);
    em_querier_close(cq);
    em_block_release(c);
    em_matcher_fini(&mt);
    em_block_meta_fini(&meta);
    for (size_t i = 0; i < N_INPUTS; i++)
        em_block_release(b[i]);
    em_test_rmdir(dir);
}

Test(engine_block_merge, merging_zero_or_one_set_is_trivial)
{
    cr_assert_eq(em_series_set_merge(NULL, 0), em_series_set_empty());
    em_series_set_t *e = em_series_set_empty();
    cr_assert_eq(em_series_set_merge(&e, 1), e);
}
