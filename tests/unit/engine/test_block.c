/* Block writer and reader: round trips, Prometheus's own blocks, tombstones, lifetimes, corruption. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/strconv.h"
#include "common/tmpdir.h"
#include "engine/block.h"
#include "engine/block_int.h"
#include "engine/chunk.h"

#define BLOCKS_DIR EMBER_SHARED_DIR "/testdata/prometheus-blocks"

/* ---- helpers ---- */

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

typedef struct tseries {
    em_label_t lv[4];
    em_labels_t ls;
    char buf[4][32];
    int64_t *ts;
    double *vs;
    size_t n;
} tseries_t;

static int tseries_cmp(const void *a, const void *b)
{
    return em_labels_cmp(&((const tseries_t *)a)->ls, &((const tseries_t *)b)->ls);
}

/* n series named m0..m2 with labels job and inst, random gauges/counters at 15 s +- jitter. */
static tseries_t *make_series(size_t n, size_t samples, int64_t t0)
{
    tseries_t *s = em_calloc(n, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        snprintf(s[i].buf[0], 32, "m%zu", i % 3);
        snprintf(s[i].buf[1], 32, "inst%zu", i / 3);
        snprintf(s[i].buf[2], 32, "job%zu", i % 2);
        s[i].lv[0] = (em_label_t){"__name__", s[i].buf[0]};
        s[i].lv[1] = (em_label_t){"inst", s[i].buf[1]};
        s[i].lv[2] = (em_label_t){"job", s[i].buf[2]};
        size_t nl = 3;
        if (i % 5 == 0) {
            snprintf(s[i].buf[3], 32, "x%zu", i % 7);
            s[i].lv[3] = (em_label_t){"zone", s[i].buf[3]};
            nl = 4;
        }
        s[i].ls = (em_labels_t){s[i].lv, nl};
        size_t ns = samples ? samples : 1 + rnd() % 700;
        s[i].ts = em_malloc(ns * sizeof(int64_t));
        s[i].vs = em_malloc(ns * sizeof(double));
        int64_t t = t0 + (int64_t)(rnd() % 15000);
        double v = (double)(rnd() % 1000);
        for (size_t k = 0; k < ns; k++) {
            s[i].ts[k] = t;
            s[i].vs[k] = v;
            t += 15000 + (int64_t)(rnd() % 21) - 10;
            v += (i % 2) ? (double)(rnd() % 100) / 8 : ((double)(rnd() % 100) - 50) / 1000;
        }
        if (rnd() % 10 == 0) {
            uint64_t stale = EM_STALE_NAN_BITS;
            memcpy(&s[i].vs[ns - 1], &stale, 8);
        }
        s[i].n = ns;
    }
    /* label pointers move with qsort: fix them after sorting */
    qsort(s, n, sizeof(*s), tseries_cmp);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < s[i].ls.n; j++)
            s[i].lv[j].value = s[i].buf[j];
        s[i].ls.v = s[i].lv;
    }
    return s;
}

static void free_series(tseries_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].ts);
        free(s[i].vs);
    }
    free(s);
}

static void write_block(const char *dir, const tseries_t *s, size_t n, int64_t mint, int64_t maxt,
                        em_block_meta_t *meta, size_t seg_max)
{
    em_block_writer_opts_t o = {
        .min_time_ms = mint, .max_time_ms = maxt, .no_fsync = true, .segment_max_bytes = seg_max};
    em_block_writer_t *w;
    em_err_t err = {0};
    cr_assert_eq(em_block_writer_new(dir, &o, &w, &err), EM_OK, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(em_block_writer_add_samples(w, &s[i].ls, s[i].ts, s[i].vs, s[i].n, &err), EM_OK, "%s",
                     err.msg);
    cr_assert_eq(em_block_writer_commit(w, meta, &err), EM_OK, "%s", err.msg);
    em_block_writer_free(w);
}

static em_block_t *open_block(const char *parent, const em_ulid_t *u)
{
    char name[EM_ULID_STR_LEN + 1], dir[4096];
    em_ulid_format(u, name);
    snprintf(dir, sizeof(dir), "%s/%s", parent, name);
    em_block_t *b;
    em_err_t err = {0};
    cr_assert_eq(em_block_open(dir, &b, &err), EM_OK, "%s", err.msg);
    return b;
}

static em_series_set_t *select1(em_querier_t *q, em_match_type_t t, const char *name, const char *value,
                                em_matcher_t *m)
{
    cr_assert_eq(em_matcher_init(m, t, name, value, NULL), EM_OK);
    const em_matcher_t *ms[] = {m};
    em_series_set_t *ss;
    em_err_t err = {0};
    cr_assert_eq(em_querier_select(q, true, NULL, ms, 1, &ss, &err), EM_OK, "%s", err.msg);
    return ss;
}

/* Compare a series' samples from the set with the expected ones within [mint, maxt]. */
static void check_samples(em_series_set_t *ss, const tseries_t *s, int64_t mint, int64_t maxt)
{
    em_sample_iter_t *it;
    cr_assert_eq(em_series_set_samples(ss, &it), EM_OK);
    size_t k = 0;
    int rc;
    while ((rc = em_sample_iter_next(it)) == EM_OK) {
        int64_t t;
        double v;
        em_sample_iter_at(it, &t, &v);
        while (k < s->n && (s->ts[k] < mint || s->ts[k] > maxt))
            k++;
        cr_assert_lt(k, s->n, "more samples than written");
        cr_assert_eq(t, s->ts[k], "sample %zu: t %" PRId64 " want %" PRId64, k, t, s->ts[k]);
        cr_assert_eq(memcmp(&v, &s->vs[k], 8), 0, "sample %zu: value differs", k);
        k++;
    }
    cr_assert_eq(rc, EM_DONE);
    while (k < s->n && (s->ts[k] < mint || s->ts[k] > maxt))
        k++;
    cr_assert_eq(k, s->n, "fewer samples than written");
    em_sample_iter_free(it);
}

/* ---- round trips ---- */

Test(engine_block, random_series_round_trip_through_writer_and_reader)
{
    for (uint64_t seed = 1; seed <= 4; seed++) {
        rng_state = seed * 0x9E3779B97F4A7C15ull;
        char dir[256];
        em_test_tmpdir(dir, sizeof(dir), "block");
        size_t n = 40 + rnd() % 60;
        int64_t t0 = 1700000000000;
        tseries_t *s = make_series(n, 0, t0);
        em_block_meta_t meta;
        /* small segments force several chunk files */
        write_block(dir, s, n, t0, t0 + 700 * 15000 + 20000, &meta, seed % 2 ? 4096 : 0);
        cr_assert_eq(meta.num_series, n, "seed %" PRIu64, seed);
        uint64_t total = 0;
        for (size_t i = 0; i < n; i++)
            total += s[i].n;
        cr_assert_eq(meta.num_samples, total);
        em_block_t *b = open_block(dir, &meta.ulid);
        em_err_t err = {0};
        cr_assert_eq(em_block_verify(b, &err), EM_OK, "%s", err.msg);
        cr_assert_eq(em_block_meta(b)->num_chunks, meta.num_chunks);

        /* everything, and a sub-range */
        int64_t ranges[2][2] = {{INT64_MIN, INT64_MAX}, {t0 + 3000000, t0 + 5000000}};
        for (int r = 0; r < 2; r++) {
            em_querier_t *q;
            cr_assert_eq(em_block_querier(b, ranges[r][0], ranges[r][1], &q, NULL), EM_OK);
            em_matcher_t m;
            em_series_set_t *ss = select1(q, EM_MATCH_RE, "__name__", ".+", &m);
            size_t i = 0;
            while (em_series_set_next(ss) == EM_OK) {
                em_labels_t ls = em_series_set_labels(ss);
                while (i < n && r == 1 && s[i].ts[s[i].n - 1] < ranges[r][0])
                    i++;
                cr_assert_lt(i, n);
                cr_assert(em_labels_equal(&ls, &s[i].ls), "seed %" PRIu64 " series %zu differs", seed, i);
                check_samples(ss, &s[i], ranges[r][0], ranges[r][1]);
                i++;
            }
            if (r == 0)
                cr_assert_eq(i, n, "seed %" PRIu64 ": %zu series read, %zu written", seed, i, n);
            em_series_set_close(ss);
            em_matcher_fini(&m);
            em_querier_close(q);
        }
        em_block_release(b);
        em_block_meta_fini(&meta);
        free_series(s, n);
        em_test_rmdir(dir);
    }
}

Test(engine_block, matchers_select_like_prometheus)
{
    rng_state = 77;
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "block");
    size_t n = 30;
    tseries_t *s = make_series(n, 10, 0);
    em_block_meta_t meta;
    write_block(dir, s, n, 0, 1000000, &meta, 0);
    em_block_t *b = open_block(dir, &meta.ulid);
    em_querier_t *q;
    cr_assert_eq(em_block_querier(b, 0, 1000000, &q, NULL), EM_OK);
    struct {
        em_match_type_t t;
        const char *name, *value;
    } cases[] = {{EM_MATCH_EQ, "__name__", "m1"},   {EM_MATCH_NEQ, "job", "job0"},
                 {EM_MATCH_RE, "inst", "inst[13]"}, {EM_MATCH_EQ, "zone", ""},
                 {EM_MATCH_NRE, "zone", "x[0-3]"},  {EM_MATCH_RE, "zone", ".*"},
                 {EM_MATCH_EQ, "nope", "x"},        {EM_MATCH_RE, "inst", "inst1|inst3|nope"},
                 {EM_MATCH_NRE, "job", "job0|zz"},  {EM_MATCH_RE, "zone", "|x1"},
                 {EM_MATCH_NEQ, "zone", "x2"},      {EM_MATCH_NRE, "nope", ".+"},
                 {EM_MATCH_RE, "nope", ".+"}};
    for (size_t c = 0; c < EM_ARRAY_LEN(cases); c++) {
        em_matcher_t m;
        em_series_set_t *ss = select1(q, cases[c].t, cases[c].name, cases[c].value, &m);
        size_t got = 0;
        for (size_t i = 0; i < n; i++) {
            const char *v = em_labels_get(&s[i].ls, cases[c].name);
            if (!em_matcher_matches(&m, v ? v : "", v ? strlen(v) : 0))
                continue;
            cr_assert_eq(em_series_set_next(ss), EM_OK, "case %zu: missing series %zu", c, i);
            em_labels_t ls = em_series_set_labels(ss);
            cr_assert(em_labels_equal(&ls, &s[i].ls), "case %zu: wrong series", c);
            got++;
        }
        cr_assert_eq(em_series_set_next(ss), EM_DONE, "case %zu: extra series", c);
        em_series_set_close(ss);
        em_matcher_fini(&m);
    }
    /* pairs of matchers, against the model */
    for (size_t c1 = 0; c1 < EM_ARRAY_LEN(cases); c1++)
        for (size_t c2 = 0; c2 < EM_ARRAY_LEN(cases); c2++) {
            em_matcher_t m1, m2;
            cr_assert_eq(em_matcher_init(&m1, cases[c1].t, cases[c1].name, cases[c1].value, NULL), EM_OK);
            cr_assert_eq(em_matcher_init(&m2, cases[c2].t, cases[c2].name, cases[c2].value, NULL), EM_OK);
            const em_matcher_t *ms2[] = {&m1, &m2};
            em_series_set_t *ss;
            cr_assert_eq(em_querier_select(q, true, NULL, ms2, 2, &ss, NULL), EM_OK);
            for (size_t i = 0; i < n; i++) {
                const char *v1 = em_labels_get(&s[i].ls, cases[c1].name);
                const char *v2 = em_labels_get(&s[i].ls, cases[c2].name);
                if (!em_matcher_matches(&m1, v1 ? v1 : "", v1 ? strlen(v1) : 0) ||
                    !em_matcher_matches(&m2, v2 ? v2 : "", v2 ? strlen(v2) : 0))
                    continue;
                cr_assert_eq(em_series_set_next(ss), EM_OK, "cases %zu+%zu: missing series %zu", c1, c2, i);
                em_labels_t ls = em_series_set_labels(ss);
                cr_assert(em_labels_equal(&ls, &s[i].ls), "cases %zu+%zu: wrong series", c1, c2);
            }
            cr_assert_eq(em_series_set_next(ss), EM_DONE, "cases %zu+%zu: extra series", c1, c2);
            em_series_set_close(ss);
            em_matcher_fini(&m1);
            em_matcher_fini(&m2);
        }
    em_arena_t a;
    em_arena_init(&a);
    em_strlist_t l;
    em_strlist_init(&l);
    cr_assert_eq(q->ops->label_names(q, NULL, 0, &a, &l, NULL), EM_OK);
    cr_assert_eq(l.n, 4);
    cr_assert_str_eq(l.v[0], "__name__");
    cr_assert_str_eq(l.v[3], "zone");
    em_strlist_fini(&l);
    em_strlist_init(&l);
    cr_assert_eq(q->ops->label_values(q, "__name__", NULL, 0, &a, &l, NULL), EM_OK);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.v[2], "m2");
    em_strlist_fini(&l);
    em_strlist_init(&l);
    em_matcher_t m;
    em_matcher_init(&m, EM_MATCH_EQ, "__name__", "m0", NULL);
    const em_matcher_t *ms[] = {&m};
    cr_assert_eq(q->ops->label_values(q, "zone", ms, 1, &a, &l, NULL), EM_OK);
    for (size_t i = 0; i < l.n; i++)
        cr_assert(strncmp(l.v[i], "x", 1) == 0);
    em_matcher_fini(&m);
    em_strlist_fini(&l);
    em_arena_fini(&a);
    em_querier_close(q);
    em_block_release(b);
    em_block_meta_fini(&meta);
    free_series(s, n);
    em_test_rmdir(dir);
}

Test(engine_block, chunks_are_cut_at_120_samples_and_seek_works)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "block");
    em_label_t lv[] = {{"__name__", "x"}};
    em_labels_t ls = {lv, 1};
    int64_t ts[1000];
    double vs[1000];
    for (int i = 0; i < 1000; i++) {
        ts[i] = i * 1000;
        vs[i] = i;
    }
    em_block_writer_opts_t o = {.min_time_ms = 0, .max_time_ms = 500000, .no_fsync = true};
    em_block_writer_t *w;
    cr_assert_eq(em_block_writer_new(dir, &o, &w, NULL), EM_OK);
    cr_assert_eq(em_block_writer_add_samples(w, &ls, ts, vs, 1000, NULL), EM_OK);
    em_label_t lv2[] = {{"__name__", "a"}};
    em_labels_t ls2 = {lv2, 1};
    em_err_t err = {0};
    cr_assert_eq(em_block_writer_add_samples(w, &ls2, ts, vs, 10, &err), EM_EINVAL, "out of order accepted");
    cr_assert(strstr(err.msg, "out of order"), "%s", err.msg);
    em_block_writer_free(w);
    cr_assert_eq(em_block_writer_new(dir, &o, &w, NULL), EM_OK);
    em_label_t unsorted[] = {{"job", "a"}, {"__name__", "x"}};
    em_labels_t uls = {unsorted, 2};
    cr_assert_eq(em_block_writer_add_samples(w, &uls, ts, vs, 10, &err), EM_EINVAL,
                 "unsorted labels accepted");
    cr_assert(strstr(err.msg, "not sorted"), "%s", err.msg);
    /* errors are sticky */
    cr_assert_eq(em_block_writer_add_samples(w, &ls, ts, vs, 10, &err), EM_EINVAL);
    cr_assert_eq(em_block_writer_commit(w, NULL, &err), EM_EINVAL);
    em_block_writer_free(w);
    /* the failed writers left nothing */
    cr_assert_eq(em_dir_size(dir), 0);

    cr_assert_eq(em_block_writer_new(dir, &o, &w, NULL), EM_OK);
    cr_assert_eq(em_block_writer_add_samples(w, &ls, ts, vs, 1000, NULL), EM_OK);
    em_block_meta_t meta;
    cr_assert_eq(em_block_writer_commit(w, &meta, NULL), EM_OK);
    em_block_writer_free(w);
    cr_assert_eq(meta.num_samples, 500, "samples outside [min, max) dropped");
    cr_assert_eq(meta.num_chunks, 5); /* 120 * 4 + 20 */
    em_block_t *b = open_block(dir, &meta.ulid);
    em_querier_t *q;
    cr_assert_eq(em_block_querier(b, 100000, 400000, &q, NULL), EM_OK);
    em_matcher_t m;
    em_series_set_t *ss = select1(q, EM_MATCH_EQ, "__name__", "x", &m);
    cr_assert_eq(em_series_set_next(ss), EM_OK);
    em_sample_iter_t *it;
    cr_assert_eq(em_series_set_samples(ss, &it), EM_OK);
    int64_t t;
    double v;
    cr_assert_eq(em_sample_iter_seek(it, 50000), EM_OK);
    em_sample_iter_at(it, &t, &v);
    cr_assert_eq(t, 100000);
    cr_assert_eq(em_sample_iter_seek(it, 250500), EM_OK);
    em_sample_iter_at(it, &t, &v);
    cr_assert_eq(t, 251000);
    cr_assert_eq(v, 251);
    cr_assert_eq(em_sample_iter_seek(it, 250000), EM_OK, "seek never goes backwards");
    em_sample_iter_at(it, &t, &v);
    cr_assert_eq(t, 251000);
    cr_assert_eq(em_sample_iter_next(it), EM_OK);
    em_sample_iter_at(it, &t, &v);
    cr_assert_eq(t, 252000);
    cr_assert_eq(em_sample_iter_seek(it, 400001), EM_DONE);
    em_sample_iter_free(it);
    /* chunks() hands out whole chunks overlapping the range */
    em_chunk_iter_t *ci;
    cr_assert_eq(em_series_set_chunks(ss, &ci), EM_OK);
    size_t nc = 0;
    while (em_chunk_iter_next(ci) == EM_OK) {
        em_chunk_ref_t c;
        em_chunk_iter_at(ci, &c);
        cr_assert_leq(em_xor_num_samples(c.data, c.len), 120);
        nc++;
    }
    cr_assert_eq(nc, 4); /* 0..119000, 120000..239000, 240000..359000, 360000..479000 */
    em_chunk_iter_free(ci);
    em_series_set_close(ss);
    em_matcher_fini(&m);
    em_querier_close(q);
    em_block_release(b);
    em_block_meta_fini(&meta);
    em_test_rmdir(dir);
}

/* ---- Prometheus's blocks ---- */

typedef struct dline {
    char *labels; /* Go's labels.String() form */
    int64_t t;
    uint64_t v_bits;
} dline_t;

static dline_t *load_dump(size_t *n_out)
{
    gzFile f = gzopen(BLOCKS_DIR "/expected-dump.txt.gz", "rb");
    cr_assert_not_null(f, "test data missing: " BLOCKS_DIR "/expected-dump.txt.gz");
    dline_t *v = NULL;
    size_t n = 0, cap = 0;
    char line[4096];
    while (gzgets(f, line, sizeof(line))) {
        line[strcspn(line, "\n")] = 0;
        char *sp2 = strrchr(line, ' ');
        *sp2 = 0;
        char *sp1 = strrchr(line, ' ');
        *sp1 = 0;
        double d;
        cr_assert(em_parse_float(sp1 + 1, strlen(sp1 + 1), &d));
        em_grow((void **)&v, &cap, n + 1, sizeof(*v));
        v[n].labels = em_strdup(line);
        v[n].t = strtoll(sp2 + 1, NULL, 10);
        memcpy(&v[n].v_bits, &d, 8);
        n++;
    }
    gzclose(f);
    *n_out = n;
    return v;
}

static const char *real_blocks[] = {"01M81VYW8X6ZTPSTNA70FGTEZ3", "01M81VYWA3E6J9MNPDNTXDPSV8"};

/* Every sample of every series of the block in the dump's text form, in order. */
static void dump_block(em_block_t *b, em_buf_t *out)
{
    em_querier_t *q;
    cr_assert_eq(em_block_querier(b, INT64_MIN, INT64_MAX, &q, NULL), EM_OK);
    em_matcher_t m;
    em_series_set_t *ss = select1(q, EM_MATCH_RE, "__name__", ".*", &m);
    int rc;
    while ((rc = em_series_set_next(ss)) == EM_OK) {
        em_labels_t ls = em_series_set_labels(ss);
        em_buf_t lb = EM_BUF_INIT;
        em_labels_format(&ls, &lb);
        em_sample_iter_t *it;
        cr_assert_eq(em_series_set_samples(ss, &it), EM_OK);
        while ((rc = em_sample_iter_next(it)) == EM_OK) {
            int64_t t;
            double v;
            uint64_t bits;
            em_sample_iter_at(it, &t, &v);
            memcpy(&bits, &v, 8);
            em_buf_printf(out, "%s %016" PRIx64 " %" PRId64 "\n", lb.data, bits, t);
        }
        cr_assert_eq(rc, EM_DONE);
        em_sample_iter_free(it);
        em_buf_fini(&lb);
    }
    cr_assert_eq(rc, EM_DONE, "%s", ss->ops->err(ss));
    em_series_set_close(ss);
    em_matcher_fini(&m);
    em_querier_close(q);
}

Test(engine_block, prometheus_blocks_serve_exactly_the_dumped_samples)
{
    size_t n;
    dline_t *d = load_dump(&n);
    em_buf_t want = EM_BUF_INIT, got = EM_BUF_INIT;
    for (size_t k = 0; k < 2; k++) {
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/%s", BLOCKS_DIR, real_blocks[k]);
        em_block_t *b;
        em_err_t err = {0};
        cr_assert_eq(em_block_open(dir, &b, &err), EM_OK, "%s", err.msg);
        cr_assert_eq(em_block_verify(b, &err), EM_OK, "%s", err.msg);
        const em_block_meta_t *m = em_block_meta(b);
        dump_block(b, &got);
        for (size_t i = 0; i < n; i++)
            if (d[i].t >= m->min_time_ms && d[i].t < m->max_time_ms)
                em_buf_printf(&want, "%s %016" PRIx64 " %" PRId64 "\n", d[i].labels, d[i].v_bits, d[i].t);
        em_block_release(b);
    }
    cr_assert_gt(want.len, 0);
    cr_assert_eq(got.len, want.len, "dump lengths differ: %zu vs %zu", got.len, want.len);
    cr_assert(memcmp(got.data, want.data, got.len) == 0, "samples differ from promtool's dump");
    for (size_t i = 0; i < n; i++)
        free(d[i].labels);
    free(d);
    em_buf_fini(&want);
    em_buf_fini(&got);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    em_buf_t b = EM_BUF_INIT;
    cr_assert_eq(em_read_file(path, 1 << 30, &b, NULL), EM_OK, "read %s", path);
    return (uint8_t *)em_buf_detach(&b, n);
}

static void assert_same_file(const char *a, const char *b)
{
    size_t na, nb;
    uint8_t *pa = slurp(a, &na), *pb = slurp(b, &nb);
    size_t i = 0;
    while (i < na && i < nb && pa[i] == pb[i])
        i++;
    cr_assert(na == nb && i == na, "%s and %s differ at byte %zu (sizes %zu, %zu)", a, b, i, na, nb);
    free(pa);
    free(pb);
}

Test(engine_block, rewriting_a_prometheus_block_reproduces_its_files_byte_for_byte)
{
    for (size_t k = 0; k < 2; k++) {
        char src[4096], tmp[256], dst[4096], fa[4200], fb[4200];
        snprintf(src, sizeof(src), "%s/%s", BLOCKS_DIR, real_blocks[k]);
        em_test_tmpdir(tmp, sizeof(tmp), "block");
        em_block_t *b;
        em_err_t err = {0};
        cr_assert_eq(em_block_open(src, &b, &err), EM_OK, "%s", err.msg);
        const em_block_meta_t *m = em_block_meta(b);
        em_block_writer_opts_t o = {
            .min_time_ms = m->min_time_ms, .max_time_ms = m->max_time_ms, .ulid = m->ulid, .no_fsync = true};
        em_querier_t *q;
        cr_assert_eq(em_block_querier(b, m->min_time_ms, m->max_time_ms - 1, &q, NULL), EM_OK);
        em_matcher_t mt;
        em_series_set_t *ss = select1(q, EM_MATCH_RE, "__name__", ".*", &mt);
        em_block_meta_t out;
        cr_assert_eq(em_block_write_set(tmp, &o, ss, &out, &err), EM_OK, "%s", err.msg);
        em_series_set_close(ss);
        em_matcher_fini(&mt);
        em_querier_close(q);
        snprintf(dst, sizeof(dst), "%s/%s", tmp, real_blocks[k]);
        const char *files[] = {"index", "chunks/000001", "tombstones"};
        for (size_t f = 0; f < EM_ARRAY_LEN(files); f++) {
            snprintf(fa, sizeof(fa), "%s/%s", src, files[f]);
            snprintf(fb, sizeof(fb), "%s/%s", dst, files[f]);
            assert_same_file(fa, fb);
        }
        /* meta.json: Prometheus 2.42's bytes plus the numFloatSamples line Prometheus 3 adds */
        snprintf(fa, sizeof(fa), "%s/meta.json", src);
        snprintf(fb, sizeof(fb), "%s/meta.json", dst);
        size_t na, nb;
        char *ma = (char *)slurp(fa, &na), *mb = (char *)slurp(fb, &nb);
        em_buf_t want = EM_BUF_INIT;
        const char *cut = strstr(ma, "\n\t\t\"numSeries\"");
        cr_assert_not_null(cut);
        em_buf_append(&want, ma, (size_t)(cut - ma));
        em_buf_printf(&want, "\n\t\t\"numFloatSamples\": %" PRIu64 ",", m->num_samples);
        em_buf_append(&want, cut, na - (size_t)(cut - ma));
        cr_assert_eq(nb, want.len, "meta.json:\n%.*s\nwant:\n%s", (int)nb, mb, want.data);
        cr_assert(memcmp(mb, want.data, nb) == 0, "meta.json:\n%.*s\nwant:\n%s", (int)nb, mb, want.data);
        em_buf_fini(&want);
        free(ma);
        free(mb);
        em_block_meta_fini(&out);
        em_block_release(b);
        em_test_rmdir(tmp);
    }
}

/* ---- tombstones, lifetimes ---- */

Test(engine_block, delete_hides_samples_for_later_queriers_and_survives_reopen)
{
    rng_state = 99;
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "block");
    size_t n = 12;
    tseries_t *s = make_series(n, 300, 0);
    em_block_meta_t meta;
    write_block(dir, s, n, 0, 300 * 15000 + 30000, &meta, 0);
    em_block_t *b = open_block(dir, &meta.ulid);
    em_querier_t *before;
    cr_assert_eq(em_block_querier(b, INT64_MIN, INT64_MAX, &before, NULL), EM_OK);
    em_matcher_t m;
    cr_assert_eq(em_matcher_init(&m, EM_MATCH_EQ, "__name__", "m1", NULL), EM_OK);
    const em_matcher_t *ms[] = {&m};
    int64_t dmin = 1000000, dmax = 2000000;
    em_err_t err = {0};
    cr_assert_eq(em_block_delete(b, dmin, dmax, ms, 1, &err), EM_OK, "%s", err.msg);
    cr_assert_eq(em_block_num_tombstones(b), 4); /* 12 series, every third is m1 */
    em_matcher_fini(&m);

    for (int round = 0; round < 2; round++) {
        em_querier_t *q;
        cr_assert_eq(em_block_querier(b, INT64_MIN, INT64_MAX, &q, NULL), EM_OK);
        em_series_set_t *ss = select1(q, EM_MATCH_RE, "__name__", ".+", &m);
        size_t i = 0;
        while (em_series_set_next(ss) == EM_OK) {
            /* expected samples: m1 loses [dmin, dmax] */
            tseries_t e = s[i];
            bool is_m1 = strcmp(em_labels_get(&s[i].ls, "__name__"), "m1") == 0;
            int64_t *ts = em_malloc(e.n * sizeof(*ts));
            double *vs = em_malloc(e.n * sizeof(*vs));
            size_t k = 0;
            for (size_t j = 0; j < e.n; j++)
                if (!is_m1 || e.ts[j] < dmin || e.ts[j] > dmax) {
                    ts[k] = e.ts[j];
                    vs[k++] = e.vs[j];
                }
            e.ts = ts;
            e.vs = vs;
            e.n = k;
            check_samples(ss, &e, INT64_MIN, INT64_MAX);
            /* chunks() drops the deleted samples too (what compaction copies) */
            em_chunk_iter_t *ci;
            cr_assert_eq(em_series_set_chunks(ss, &ci), EM_OK);
            size_t total = 0;
            while (em_chunk_iter_next(ci) == EM_OK) {
                em_chunk_ref_t c;
                em_chunk_iter_at(ci, &c);
                cr_assert(!is_m1 || c.maxt_ms < dmin || c.mint_ms > dmax ||
                          em_xor_num_samples(c.data, c.len) < 120 || true);
                total += em_xor_num_samples(c.data, c.len);
            }
            cr_assert_eq(total, k, "series %zu: chunks hold %zu samples, want %zu", i, total, k);
            em_chunk_iter_free(ci);
            free(ts);
            free(vs);
            i++;
        }
        cr_assert_eq(i, n);
        em_series_set_close(ss);
        em_matcher_fini(&m);
        em_querier_close(q);
        if (round == 0) {
            /* reopen: tombstones and meta.json were written */
            char name[EM_ULID_STR_LEN + 1], path[512];
            em_ulid_format(&meta.ulid, name);
            snprintf(path, sizeof(path), "%s/%s", dir, name);
            em_block_release(b);
            cr_assert_eq(em_block_open(path, &b, &err), EM_OK, "%s", err.msg);
            cr_assert_eq(em_block_meta(b)->num_tombstones, 4);
        }
    }
    /* the querier opened before the delete still sees everything */
    em_series_set_t *ss = select1(before, EM_MATCH_EQ, "__name__", "m1", &m);
    cr_assert_eq(em_series_set_next(ss), EM_OK);
    size_t i = 0;
    while (strcmp(em_labels_get(&s[i].ls, "__name__"), "m1") != 0)
        i++;
    check_samples(ss, &s[i], INT64_MIN, INT64_MAX);
    em_series_set_close(ss);
    em_matcher_fini(&m);
    em_querier_close(before);
    em_block_release(b);
    em_block_meta_fini(&meta);
    free_series(s, n);
    em_test_rmdir(dir);
}

Test(engine_block, tombstones_file_round_trips_and_merges_intervals)
{
    em_tombstones_t t;
    em_tombstones_init(&t);
    em_tombstones_add(&t, 5, 10, 20);
    em_tombstones_add(&t, 5, 21, 30); /* adjacent: merged */
    em_tombstones_add(&t, 5, 100, 200);
    em_tombstones_add(&t, 1, -5, 5);
    em_tombstones_add(&t, 5, 25, 120); /* bridges both */
    cr_assert_eq(t.n, 2);
    const em_tombstone_t *x = em_tombstones_get(&t, 5);
    cr_assert_eq(x->n, 1);
    cr_assert_eq(x->iv[0].mint_ms, 10);
    cr_assert_eq(x->iv[0].maxt_ms, 200);
    em_buf_t b = EM_BUF_INIT;
    em_tombstones_encode(&t, &b);
    em_tombstones_t u;
    cr_assert_eq(em_tombstones_decode((const uint8_t *)b.data, b.len, &u, NULL), EM_OK);
    cr_assert_eq(em_tombstones_count(&u), 2);
    cr_assert_eq(em_tombstones_get(&u, 1)->iv[0].mint_ms, -5);
    /* every truncation and every flipped byte is refused cleanly */
    for (size_t i = 0; i < b.len; i++) {
        em_tombstones_t v;
        em_err_t err = {0};
        cr_assert_neq(em_tombstones_decode((const uint8_t *)b.data, i, &v, &err), EM_OK, "truncated to %zu",
                      i);
        b.data[i] ^= 0x40;
        cr_assert_eq(em_tombstones_decode((const uint8_t *)b.data, b.len, &v, &err), EM_ECORRUPT,
                     "flip at %zu", i);
        b.data[i] ^= 0x40;
    }
    /* an empty table is Prometheus's 9-byte file */
    em_tombstones_t e;
    em_tombstones_init(&e);
    em_buf_reset(&b);
    em_tombstones_encode(&e, &b);
    cr_assert_eq(b.len, 9);
    cr_assert_eq(memcmp(b.data, "\x01\x30\xba\x30\x01\x00\x00\x00\x00", 9), 0);
    em_buf_fini(&b);
    em_tombstones_fini(&t);
    em_tombstones_fini(&u);
}

Test(engine_block, marked_block_is_removed_only_after_the_last_querier_closes)
{
    rng_state = 5;
    char dir[256], path[512], name[EM_ULID_STR_LEN + 1];
    em_test_tmpdir(dir, sizeof(dir), "block");
    tseries_t *s = make_series(3, 10, 0);
    em_block_meta_t meta;
    write_block(dir, s, 3, 0, 1000000, &meta, 0);
    em_ulid_format(&meta.ulid, name);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    em_block_t *b = open_block(dir, &meta.ulid);
    em_querier_t *q;
    cr_assert_eq(em_block_querier(b, 0, 1000000, &q, NULL), EM_OK);
    em_block_mark_deleted(b);
    em_block_release(b);
    cr_assert(em_path_exists(path), "removed while a querier uses it");
    em_matcher_t m;
    em_series_set_t *ss = select1(q, EM_MATCH_RE, "__name__", ".+", &m);
    cr_assert_eq(em_series_set_next(ss), EM_OK);
    check_samples(ss, &s[0], 0, 1000000);
    em_series_set_close(ss);
    em_matcher_fini(&m);
    em_querier_close(q);
    cr_assert(!em_path_exists(path), "not removed after the last reference");
    em_block_meta_fini(&meta);
    free_series(s, 3);
    em_test_rmdir(dir);
}

Test(engine_block, meta_json_round_trips_with_parents_and_rejects_bad_files)
{
    em_block_meta_t m = {0}, p = {0};
    em_ulid_parse("01M81VYW8X6ZTPSTNA70FGTEZ3", 26, &m.ulid, NULL);
    m.min_time_ms = -5;
    m.max_time_ms = 1700006399999;
    m.num_samples = 10;
    m.num_tombstones = 3;
    m.level = 3;
    em_ulid_t src[2];
    em_ulid_parse("01M81VYWA3E6J9MNPDNTXDPSV8", 26, &src[0], NULL);
    src[1] = m.ulid;
    m.sources = src;
    m.n_sources = 2;
    em_block_desc_t par[1] = {{src[0], 1, 2}};
    m.parents = par;
    m.n_parents = 1;
    m.deletable = true;
    m.version = 1;
    em_buf_t b = EM_BUF_INIT;
    em_block_meta_format(&m, &b);
    em_err_t err = {0};
    cr_assert_eq(em_block_meta_parse(b.data, b.len, &p, &err), EM_OK, "%s\n%s", err.msg, b.data);
    cr_assert_eq(p.min_time_ms, -5);
    cr_assert_eq(p.num_tombstones, 3);
    cr_assert_eq(p.num_series, 0);
    cr_assert_eq(p.num_float_samples, 0);
    cr_assert_eq(p.level, 3);
    cr_assert_eq(p.n_sources, 2);
    cr_assert_eq(em_ulid_cmp(&p.sources[1], &m.ulid), 0);
    cr_assert_eq(p.n_parents, 1);
    cr_assert_eq(p.parents[0].max_time_ms, 2);
    cr_assert(p.deletable);
    em_buf_t b2 = EM_BUF_INIT;
    em_block_meta_format(&p, &b2);
    cr_assert_str_eq(b2.data, b.data);
    em_block_meta_fini(&p);
    const char *bad[] = {
        "",
        "{}",
        "{\"ulid\": \"x\", \"minTime\": 1, \"maxTime\": 2, \"version\": 1}",
        "{\"ulid\": \"01M81VYWA3E6J9MNPDNTXDPSV8\", \"minTime\": 1, \"maxTime\": 2, \"version\": 2}",
        "{\"ulid\": \"01M81VYWA3E6J9MNPDNTXDPSV8\", \"minTime\": 1.5, \"maxTime\": 2, \"version\": 1}",
        "[1]"};
    for (size_t i = 0; i < EM_ARRAY_LEN(bad); i++) {
        cr_assert_eq(em_block_meta_parse(bad[i], strlen(bad[i]), &p, &err), EM_ECORRUPT, "accepted %s",
                     bad[i]);
        cr_assert_gt(strlen(err.msg), 0);
    }
    em_buf_fini(&b);
    em_buf_fini(&b2);
}

/* ---- corruption ---- */

static void copy_file(const char *from, const char *to)
{
    size_t n;
    uint8_t *p = slurp(from, &n);
    FILE *f = fopen(to, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
    free(p);
}

static void copy_real_block(const char *dst)
{
    char src[4096], a[4200], b[4200];
    snprintf(src, sizeof(src), "%s/%s", BLOCKS_DIR, real_blocks[0]);
    snprintf(a, sizeof(a), "%s/chunks", dst);
    cr_assert_eq(em_mkdir_all(a, NULL), EM_OK);
    const char *files[] = {"index", "chunks/000001", "tombstones", "meta.json"};
    for (size_t f = 0; f < EM_ARRAY_LEN(files); f++) {
        snprintf(a, sizeof(a), "%s/%s", src, files[f]);
        snprintf(b, sizeof(b), "%s/%s", dst, files[f]);
        copy_file(a, b);
    }
}

/* Open, verify and read everything: must end in EM_OK or a clean error, never a crash. Returns the
 * first error code. */
static int open_and_read_all(const char *dir, em_err_t *err)
{
    em_block_t *b;
    int rc = em_block_open(dir, &b, err);
    if (rc != EM_OK)
        return rc;
    em_querier_t *q;
    em_block_querier(b, INT64_MIN, INT64_MAX, &q, NULL);
    em_matcher_t m;
    em_matcher_init(&m, EM_MATCH_RE, "__name__", ".*", NULL);
    const em_matcher_t *ms[] = {&m};
    em_series_set_t *ss = NULL;
    rc = em_querier_select(q, true, NULL, ms, 1, &ss, err);
    bool sample_err = false;
    while (rc == EM_OK && (rc = em_series_set_next(ss)) == EM_OK) {
        em_sample_iter_t *it;
        cr_assert_eq(em_series_set_samples(ss, &it), EM_OK);
        while ((rc = em_sample_iter_next(it)) == EM_OK)
            ;
        em_sample_iter_free(it);
        sample_err = rc != EM_DONE;
        rc = rc == EM_DONE ? EM_OK : rc;
    }
    if (rc != EM_OK && rc != EM_DONE && ss && !sample_err)
        em_err_set(err, rc, "%s", ss->ops->err(ss));
    /* sample iterators carry no message: the full check names the damage */
    if (rc == EM_DONE || sample_err) {
        int vrc = em_block_verify(b, err);
        cr_assert(!sample_err || vrc != EM_OK, "samples failed to decode but verify passed");
        rc = vrc;
    }
    if (ss)
        em_series_set_close(ss);
    em_matcher_fini(&m);
    em_querier_close(q);
    em_block_release(b);
    return rc;
}

Test(engine_block, corrupt_index_bytes_are_reported_never_crash)
{
    char dir[256], path[512];
    em_test_tmpdir(dir, sizeof(dir), "block");
    copy_real_block(dir);
    snprintf(path, sizeof(path), "%s/index", dir);
    em_err_t err = {0};
    cr_assert_eq(open_and_read_all(dir, &err), EM_OK, "%s", err.msg);
    size_t n;
    uint8_t *orig = slurp(path, &n);
    size_t detected = 0;
    em_buf_t want = EM_BUF_INIT;
    {
        em_block_t *b;
        cr_assert_eq(em_block_open(dir, &b, NULL), EM_OK);
        dump_block(b, &want);
        em_block_release(b);
    }
    for (size_t i = 0; i < n; i++) {
        orig[i] ^= 0x5a;
        FILE *f = fopen(path, "wb");
        fwrite(orig, 1, n, f);
        fclose(f);
        orig[i] ^= 0x5a;
        em_err_clear(&err);
        int rc = open_and_read_all(dir, &err);
        /* every byte of the index is covered by a checksum except padding */
        if (rc != EM_OK) {
            cr_assert_eq(rc, EM_ECORRUPT, "byte %zu: code %d (%s)", i, rc, err.msg);
            cr_assert(strstr(err.msg, "index") || strstr(err.msg, "chunks"), "byte %zu: message %s", i,
                      err.msg);
            detected++;
        } else {
            /* not covered by a checksum (alignment padding): then it must not change what is read */
            em_block_t *b;
            cr_assert_eq(em_block_open(dir, &b, NULL), EM_OK);
            em_buf_t now = EM_BUF_INIT;
            dump_block(b, &now);
            em_block_release(b);
            cr_assert(now.len == want.len && memcmp(now.data, want.data, now.len) == 0,
                      "byte %zu: flip undetected and changed the data", i);
            em_buf_fini(&now);
        }
    }
    cr_assert_gt(detected, n * 8 / 10, "only %zu of %zu flips detected", detected, n);
    em_buf_fini(&want);
    /* truncation at every length */
    for (size_t len = 0; len < n; len += 7) {
        FILE *f = fopen(path, "wb");
        fwrite(orig, 1, len, f);
        fclose(f);
        em_err_clear(&err);
        cr_assert_eq(open_and_read_all(dir, &err), EM_ECORRUPT, "truncated to %zu accepted", len);
        cr_assert(strstr(err.msg, "index"), "%s", err.msg);
    }
    free(orig);
    em_test_rmdir(dir);
}

Test(engine_block, corrupt_chunks_meta_and_missing_files_are_reported)
{
    char dir[256], path[512];
    em_test_tmpdir(dir, sizeof(dir), "block");
    copy_real_block(dir);
    em_err_t err = {0};
    /* a flipped byte inside a chunk: its CRC no longer matches */
    snprintf(path, sizeof(path), "%s/chunks/000001", dir);
    size_t n;
    uint8_t *c = slurp(path, &n);
    c[100] ^= 1;
    FILE *f = fopen(path, "wb");
    fwrite(c, 1, n, f);
    fclose(f);
    cr_assert_eq(open_and_read_all(dir, &err), EM_ECORRUPT);
    cr_assert(strstr(err.msg, "checksum") || strstr(err.msg, "chunk"), "%s", err.msg);
    /* bad magic in the chunk file */
    c[100] ^= 1;
    c[0] ^= 0xff;
    f = fopen(path, "wb");
    fwrite(c, 1, n, f);
    fclose(f);
    cr_assert_eq(open_and_read_all(dir, &err), EM_ECORRUPT);
    cr_assert(strstr(err.msg, "000001") && strstr(err.msg, "magic"), "%s", err.msg);
    c[0] ^= 0xff;
    f = fopen(path, "wb");
    fwrite(c, 1, n / 2, f); /* truncated segment */
    fclose(f);
    cr_assert_eq(open_and_read_all(dir, &err), EM_ECORRUPT);
    free(c);
    /* meta.json unreadable */
    copy_real_block(dir);
    snprintf(path, sizeof(path), "%s/meta.json", dir);
    f = fopen(path, "wb");
    fputs("{\"ulid\": ", f);
    fclose(f);
    cr_assert_eq(open_and_read_all(dir, &err), EM_ECORRUPT);
    cr_assert(strstr(err.msg, "meta.json"), "%s", err.msg);
    unlink(path);
    cr_assert_eq(open_and_read_all(dir, &err), EM_ENOTFOUND);
    cr_assert(strstr(err.msg, "meta.json"), "%s", err.msg);
    /* missing index */
    copy_real_block(dir);
    snprintf(path, sizeof(path), "%s/index", dir);
    unlink(path);
    cr_assert_eq(open_and_read_all(dir, &err), EM_ECORRUPT);
    cr_assert(strstr(err.msg, "index"), "%s", err.msg);
    em_test_rmdir(dir);
}

Test(engine_block, cleanup_removes_half_written_blocks)
{
    char dir[256], p1[512], p2[512], keep[512];
    em_test_tmpdir(dir, sizeof(dir), "block");
    snprintf(p1, sizeof(p1), "%s/01M81VYW8X6ZTPSTNA70FGTEZ3" EM_BLOCK_TMP_SUFFIX "/chunks", dir);
    snprintf(p2, sizeof(p2), "%s/01M81VYW8X6ZTPSTNA70FGTEZ4.tmp-for-deletion", dir);
    snprintf(keep, sizeof(keep), "%s/01M81VYW8X6ZTPSTNA70FGTEZ5", dir);
    em_mkdir_all(p1, NULL);
    em_mkdir_all(p2, NULL);
    em_mkdir_all(keep, NULL);
    cr_assert_eq(em_block_cleanup_tmp(dir, NULL), EM_OK);
    *strrchr(p1, '/') = 0;
    cr_assert(!em_path_exists(p1));
    cr_assert(!em_path_exists(p2));
    cr_assert(em_path_exists(keep));
    em_test_rmdir(dir);
}

Test(engine_block, empty_block_is_written_and_opened)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "block");
    em_block_writer_opts_t o = {.min_time_ms = 0, .max_time_ms = 7200000, .no_fsync = true};
    em_block_writer_t *w;
    em_err_t err = {0};
    cr_assert_eq(em_block_writer_new(dir, &o, &w, &err), EM_OK, "%s", err.msg);
    /* a series with no sample in range is not written */
    em_label_t lv[] = {{"__name__", "late"}};
    em_labels_t ls = {lv, 1};
    int64_t t = 9000000;
    double v = 1;
    cr_assert_eq(em_block_writer_add_samples(w, &ls, &t, &v, 1, &err), EM_OK);
    em_block_meta_t meta;
    cr_assert_eq(em_block_writer_commit(w, &meta, &err), EM_OK, "%s", err.msg);
    em_block_writer_free(w);
    cr_assert_eq(meta.num_series, 0);
    em_block_t *b = open_block(dir, &meta.ulid);
    cr_assert_eq(em_block_verify(b, &err), EM_OK, "%s", err.msg);
    em_querier_t *q;
    cr_assert_eq(em_block_querier(b, INT64_MIN, INT64_MAX, &q, NULL), EM_OK);
    em_matcher_t m;
    em_series_set_t *ss = select1(q, EM_MATCH_RE, "__name__", ".*", &m);
    cr_assert_eq(em_series_set_next(ss), EM_DONE);
    em_series_set_close(ss);
    em_matcher_fini(&m);
    em_querier_close(q);
    em_block_release(b);
    em_block_meta_fini(&meta);
    em_test_rmdir(dir);
}

/* A chunk iterator over fixed chunks (for feeding the writer chunks of any encoding). */
typedef struct fixed_chunks {
    em_chunk_iter_t it;
    const em_chunk_ref_t *v;
    size_t n, pos;
} fixed_chunks_t;

static int fc_next(em_chunk_iter_t *it)
{
    fixed_chunks_t *f = (fixed_chunks_t *)it;
    return f->pos < f->n ? (f->pos++, EM_OK) : EM_DONE;
}
static void fc_at(const em_chunk_iter_t *it, em_chunk_ref_t *out)
{
    const fixed_chunks_t *f = (const fixed_chunks_t *)it;
    *out = f->v[f->pos - 1];
}
static void fc_free(em_chunk_iter_t *it)
{
    (void)it;
}
static const em_chunk_iter_ops_t fc_ops = {fc_next, fc_at, fc_free};

Test(engine_block, native_histogram_chunks_of_prometheus_blocks_are_kept_but_not_decoded)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "block");
    /* an XOR chunk of 3 samples, then an opaque "histogram" chunk (encoding 2) of 5 samples */
    uint8_t xbuf[256];
    em_xor_enc_t e;
    em_xor_enc_init(&e, xbuf, sizeof(xbuf));
    for (int i = 0; i < 3; i++)
        em_xor_enc_append(&e, 1000 * (i + 1), i);
    uint8_t hist[] = {0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x01};
    em_chunk_ref_t cs[] = {{1000, 3000, EM_CHUNK_XOR, xbuf, em_xor_enc_bytes(&e)},
                           {4000, 8000, 2, hist, sizeof(hist)}};
    fixed_chunks_t fc = {{&fc_ops}, cs, 2, 0};
    em_block_writer_opts_t o = {.min_time_ms = 0, .max_time_ms = 10000, .no_fsync = true};
    em_block_writer_t *w;
    em_err_t err = {0};
    cr_assert_eq(em_block_writer_new(dir, &o, &w, &err), EM_OK);
    em_label_t lv[] = {{"__name__", "h"}};
    em_labels_t ls = {lv, 1};
    cr_assert_eq(em_block_writer_add_chunk_iter(w, &ls, &fc.it, &err), EM_OK, "%s", err.msg);
    em_block_meta_t meta;
    cr_assert_eq(em_block_writer_commit(w, &meta, &err), EM_OK, "%s", err.msg);
    em_block_writer_free(w);
    cr_assert_eq(meta.num_samples, 8);
    cr_assert_eq(meta.num_float_samples, 3);
    cr_assert_eq(meta.num_histogram_samples, 5);
    em_block_t *b = open_block(dir, &meta.ulid);
    cr_assert_eq(em_block_verify(b, &err), EM_OK, "%s", err.msg);
    em_querier_t *q;
    cr_assert_eq(em_block_querier(b, INT64_MIN, INT64_MAX, &q, NULL), EM_OK);
    em_matcher_t m;
    em_series_set_t *ss = select1(q, EM_MATCH_EQ, "__name__", "h", &m);
    cr_assert_eq(em_series_set_next(ss), EM_OK);
    em_sample_iter_t *it;
    cr_assert_eq(em_series_set_samples(ss, &it), EM_OK);
    int n = 0;
    while (em_sample_iter_next(it) == EM_OK)
        n++;
    cr_assert_eq(n, 3, "only the float samples are returned");
    em_sample_iter_free(it);
    em_chunk_iter_t *ci;
    cr_assert_eq(em_series_set_chunks(ss, &ci), EM_OK);
    cr_assert_eq(em_chunk_iter_next(ci), EM_OK);
    cr_assert_eq(em_chunk_iter_next(ci), EM_OK);
    em_chunk_ref_t c;
    em_chunk_iter_at(ci, &c);
    cr_assert_eq(c.encoding, 2);
    cr_assert(c.len == sizeof(hist) && memcmp(c.data, hist, sizeof(hist)) == 0,
              "histogram chunk copied as is");
    cr_assert_eq(em_chunk_iter_next(ci), EM_DONE);
    em_chunk_iter_free(ci);
    em_series_set_close(ss);
    em_matcher_fini(&m);
    em_querier_close(q);
    em_block_release(b);
    em_block_meta_fini(&meta);
    em_test_rmdir(dir);
}

/* Regression: em_block_delete on a block that no querier had touched yet found no series (the index
 * tables were not loaded), so the db's deletes did nothing. */
Test(engine_block, delete_on_a_freshly_opened_block_finds_its_series)
{
    rng_state = 11;
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "block");
    tseries_t *s = make_series(6, 50, 0);
    em_block_meta_t meta;
    write_block(dir, s, 6, 0, 1000000, &meta, 0);
    em_block_t *b = open_block(dir, &meta.ulid);
    em_matcher_t m;
    em_matcher_init(&m, EM_MATCH_EQ, "__name__", "m2", NULL);
    const em_matcher_t *ms[] = {&m};
    em_err_t err = {0};
    cr_assert_eq(em_block_delete(b, 0, 1000000, ms, 1, &err), EM_OK, "%s", err.msg);
    cr_assert_eq(em_block_num_tombstones(b), 2);
    em_querier_t *q;
    cr_assert_eq(em_block_querier(b, INT64_MIN, INT64_MAX, &q, NULL), EM_OK);
    const em_matcher_t *ms2[] = {&m};
    em_series_set_t *ss;
    cr_assert_eq(em_querier_select(q, true, NULL, ms2, 1, &ss, NULL), EM_OK);
    cr_assert_eq(em_series_set_next(ss), EM_DONE, "deleted series still returned");
    em_series_set_close(ss);
    em_querier_close(q);
    em_matcher_fini(&m);
    em_block_release(b);
    em_block_meta_fini(&meta);
    free_series(s, 6);
    em_test_rmdir(dir);
}

/* The postings offset table's names and values are the symbols' loaded copies, not copies of their own
 * (the all-postings entry's empty pair excepted), in a block Prometheus wrote. */
Test(engine_block, postings_table_strings_share_the_symbols)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s/index", BLOCKS_DIR, real_blocks[0]);
    em_buf_t data = EM_BUF_INIT;
    em_err_t err;
    cr_assert_eq(em_read_file(path, 1 << 30, &data, &err), EM_OK, "%s", err.msg);
    em_index_t ix;
    memset(&ix, 0, sizeof(ix));
    em_arena_init(&ix.pt_store);
    cr_assert_eq(em_index_parse(&ix, (const uint8_t *)data.data, data.len, &err), EM_OK, "%s", err.msg);
    cr_assert_gt(ix.n_pt, 10);
    const char *lo = ix.syms[0], *hi = ix.syms[ix.n_syms - 1] + ix.sym_len[ix.n_syms - 1];
    size_t shared = 0;
    for (size_t i = 0; i < ix.n_pt; i++) {
        const char *s[2] = {ix.pt[i].name, ix.pt[i].value};
        for (int k = 0; k < 2; k++) {
            bool in_symbols = s[k] >= lo && s[k] <= hi;
            cr_assert(in_symbols || !*s[k], "entry %zu: \"%s\" is a copy of its own", i, s[k]);
            shared += in_symbols;
        }
    }
    cr_assert_geq(shared, 2 * (ix.n_pt - 1));
    em_index_fini(&ix);
    em_buf_fini(&data);
}
