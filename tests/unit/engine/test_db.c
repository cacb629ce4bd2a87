#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/strconv.h"
#include "common/tmpdir.h"
#include "engine/block.h"
#include "engine/db.h"
#include "engine/db_int.h"

/* ---- helpers ---- */

#define MIN_MS 60000LL /* a one-minute block range keeps the tests small */

static em_db_t *open_db_opts(const char *dir, int64_t retention_ms, uint64_t retention_bytes,
                             int64_t max_block_ms)
{
    em_db_opts_t o = {.dir = dir,
                      .min_block_ms = MIN_MS,
                      .max_block_ms = max_block_ms,
                      .retention_ms = retention_ms,
                      .retention_bytes = retention_bytes,
                      .head_shards = 2,
                      .no_background = true};
    em_db_t *db = NULL;
    em_err_t err;
    em_err_clear(&err);
    cr_assert_eq(em_db_open(&o, &db, &err), EM_OK, "open %s: %s", dir, err.msg);
    return db;
}

static em_db_t *open_db(const char *dir)
{
    return open_db_opts(dir, 0, 0, 0);
}

/* Append series m{i="k"} (k < n_series) with samples at t0 + j*step for j in [j0, j1), value k*1000+j. */
static void append(em_db_t *db, const char *metric, int n_series, int j0, int j1, int64_t t0, int64_t step)
{
    em_batch_t *b = em_batch_new();
    for (int j = j0; j < j1; j++) {
        em_batch_reset(b);
        for (int k = 0; k < n_series; k++) {
            char iv[16];
            snprintf(iv, sizeof(iv), "%d", k);
            em_label_t l[2] = {{"__name__", metric}, {"i", iv}};
            em_labels_t ls = {l, 2};
            em_batch_add_series(b, &ls, true, 0);
            em_batch_add_sample(b, t0 + j * step, k * 1000.0 + j);
        }
        cr_assert_eq(em_head_append_wait(em_db_head(db), b), EM_OK);
        cr_assert_eq(em_batch_result(b)->appended, (uint64_t)n_series, "j=%d", j);
    }
    em_batch_free(b);
}

/* The expected dump of append(...): one line per series, "labels t:v t:v ...". */
static void expect(em_buf_t *out, const char *metric, int n_series, int j0, int j1, int64_t t0, int64_t step,
                   int64_t mint, int64_t maxt)
{
    /* Series sort by label value as strings: "0" < "1" < "10" < "2". */
    char names[64][8];
    for (int k = 0; k < n_series; k++)
        snprintf(names[k], 8, "%d", k);
    qsort(names, (size_t)n_series, 8, (int (*)(const void *, const void *))strcmp);
    for (int x = 0; x < n_series; x++) {
        int k = atoi(names[x]);
        em_buf_t line = EM_BUF_INIT;
        em_buf_printf(&line, "{__name__=\"%s\", i=\"%d\"}", metric, k);
        size_t n = 0;
        for (int j = j0; j < j1; j++) {
            int64_t t = t0 + j * step;
            if (t < mint || t > maxt)
                continue;
            em_buf_printf(&line, " %lld:%g", (long long)t, k * 1000.0 + j);
            n++;
        }
        if (n) {
            em_buf_append(out, line.data, line.len);
            em_buf_putc(out, '\n');
        }
        em_buf_fini(&line);
    }
}

/* Everything a queryable returns for metric in [mint, maxt], in the format of expect(). */
static void dump(em_queryable_t *qa, const char *metric, int64_t mint, int64_t maxt, em_buf_t *out,
                 em_querier_t **keep_open)
{
    em_rcu_thread_online();
    em_querier_t *q;
    em_err_t err;
    cr_assert_eq(em_queryable_querier(qa, mint, maxt, &q, &err), EM_OK, "%s", err.msg);
    em_matcher_t m;
    cr_assert_eq(em_matcher_init(&m, EM_MATCH_EQ, "__name__", metric, NULL), EM_OK);
    const em_matcher_t *ms[] = {&m};
    em_series_set_t *s;
    cr_assert_eq(em_querier_select(q, true, NULL, ms, 1, &s, &err), EM_OK, "%s", err.msg);
    int rc;
    while ((rc = em_series_set_next(s)) == EM_OK) {
        em_labels_t ls = em_series_set_labels(s);
        em_labels_format(&ls, out);
        em_sample_iter_t *it;
        cr_assert_eq(em_series_set_samples(s, &it), EM_OK);
        int64_t last = INT64_MIN;
        while ((rc = em_sample_iter_next(it)) == EM_OK) {
            int64_t t;
            double v;
            em_sample_iter_at(it, &t, &v);
            cr_assert_gt(t, last, "samples must ascend without duplicates");
            last = t;
            em_buf_printf(out, " %lld:%g", (long long)t, v);
        }
        cr_assert_eq(rc, EM_DONE);
        em_sample_iter_free(it);
        em_buf_putc(out, '\n');
    }
    cr_assert_eq(rc, EM_DONE, "%s", s->ops->err(s) ? s->ops->err(s) : "");
    em_series_set_close(s);
    em_matcher_fini(&m);
    if (keep_open)
        *keep_open = q;
    else
        em_querier_close(q);
}

static void assert_same(em_buf_t *want, em_buf_t *got)
{
    em_buf_putc(want, '\0');
    em_buf_putc(got, '\0');
    cr_assert_str_eq(got->data, want->data);
}

static void check_all(em_db_t *db, const char *metric, int n_series, int j1, int64_t step)
{
    em_buf_t want = EM_BUF_INIT, got = EM_BUF_INIT;
    expect(&want, metric, n_series, 0, j1, 0, step, INT64_MIN, INT64_MAX);
    dump(em_db_queryable(db), metric, INT64_MIN, INT64_MAX, &got, NULL);
    assert_same(&want, &got);
    em_buf_fini(&want);
    em_buf_fini(&got);
}

static size_t n_blocks(em_db_t *db, em_db_block_info_t **info)
{
    em_db_block_info_t *v;
    size_t n = em_db_blocks(db, &v);
    if (info)
        *info = v;
    else
        free(v);
    return n;
}

/* ---- open and lock ---- */

Test(engine_db, second_open_of_a_directory_fails_naming_the_lock_holder)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    em_db_t *db = open_db(dir);
    em_db_opts_t o = {.dir = dir, .no_background = true, .head_shards = 1};
    em_db_t *db2 = NULL;
    em_err_t err;
    cr_assert_eq(em_db_open(&o, &db2, &err), EM_EBUSY);
    cr_assert_null(db2);
    char pid[32];
    snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
    cr_assert(strstr(err.msg, pid) != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "lock DB directory") != NULL, "%s", err.msg);
    em_db_close(db);
    /* Released at close. */
    db = open_db(dir);
    em_db_close(db);
    em_test_rmdir(dir);
}

Test(engine_db, open_removes_leftovers_and_skips_corrupt_blocks)
{
    char dir[256], p[512];
    em_test_tmpdir(dir, sizeof(dir), "db");
    em_db_t *db = open_db(dir);
    append(db, "m", 3, 0, 300, 0, 1000); /* 5 minutes: cuts 3 one-minute blocks */
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    em_db_block_info_t *info;
    size_t n = n_blocks(db, &info);
    cr_assert_geq(n, 2);
    char victim[32];
    snprintf(victim, sizeof(victim), "%s", info[0].ulid);
    free(info);
    em_db_close(db);

    /* A half-written block and a block with an unreadable meta.json. */
    snprintf(p, sizeof(p), "%s/01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp-for-creation/chunks", dir);
    cr_assert_eq(em_mkdir_all(p, NULL), EM_OK);
    snprintf(p, sizeof(p), "%s/%s/meta.json", dir, victim);
    cr_assert_eq(em_write_file_atomic(p, "{not json", 9, NULL), EM_OK);

    em_counter_t *corrupt = em_counter_new("ember_blocks_corrupted_total", "", NULL);
    uint64_t before = em_counter_get(corrupt);
    db = open_db(dir);
    cr_assert_eq(em_counter_get(corrupt), before + 1);
    cr_assert_eq(n_blocks(db, NULL), n - 1);
    snprintf(p, sizeof(p), "%s/01ARZ3NDEKTSV4RRFFQ69G5FAV.tmp-for-creation", dir);
    cr_assert(!em_path_exists(p), "leftover of an interrupted write must be removed");
    /* The other blocks and the head still answer. */
    em_buf_t got = EM_BUF_INIT;
    dump(em_db_queryable(db), "m", 60000, INT64_MAX, &got, NULL);
    cr_assert_gt(got.len, 0);
    em_buf_fini(&got);
    em_db_close(db);
    em_test_rmdir(dir);
}

Test(engine_db, a_block_found_corrupt_while_querying_is_dropped_and_the_rest_served)
{
    char dir[256], p[512];
    em_test_tmpdir(dir, sizeof(dir), "db");
    em_db_t *db = open_db_opts(dir, 0, 0, MIN_MS);
    append(db, "m", 3, 0, 240, 0, 1000);
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    em_db_block_info_t *info;
    size_t n = n_blocks(db, &info);
    cr_assert_eq(n, 3);
    int64_t bad_end = info[0].maxt_ms;
    snprintf(p, sizeof(p), "%s/%s/index", dir, info[0].ulid);
    free(info);
    em_db_close(db);

    /* Damage every postings list (the TOC gives their region); open checks only what is cheap. */
    FILE *f = fopen(p, "r+b");
    cr_assert_not_null(f);
    uint8_t toc[52];
    cr_assert_eq(fseek(f, -52, SEEK_END), 0);
    cr_assert_eq(fread(toc, 1, 52, f), 52);
    uint64_t off[6];
    for (int i = 0; i < 6; i++) {
        off[i] = 0;
        for (int k = 0; k < 8; k++)
            off[i] = off[i] << 8 | toc[8 * i + k];
    }
    /* Postings run from their TOC offset to the next section (the label offset table in Prometheus's
     * file order). */
    uint64_t end = UINT64_MAX;
    for (int i = 0; i < 6; i++)
        if (off[i] > off[4] && off[i] < end)
            end = off[i];
    for (uint64_t o = off[4] + 4; o < end; o++) {
        cr_assert_eq(fseek(f, (long)o, SEEK_SET), 0);
        int c = fgetc(f);
        cr_assert_eq(fseek(f, (long)o, SEEK_SET), 0);
        fputc(c ^ 0x55, f);
    }
    fclose(f);

    em_counter_t *corrupt = em_counter_new("ember_blocks_corrupted_total", "", NULL);
    uint64_t before = em_counter_get(corrupt);
    db = open_db_opts(dir, 0, 0, MIN_MS);
    for (int round = 0; round < 2; round++) {
        em_buf_t want = EM_BUF_INIT, got = EM_BUF_INIT;
        expect(&want, "m", 3, 0, 240, 0, 1000, bad_end, INT64_MAX);
        dump(em_db_queryable(db), "m", INT64_MIN, INT64_MAX, &got, NULL);
        assert_same(&want, &got);
        em_buf_fini(&want);
        em_buf_fini(&got);
        cr_assert_eq(em_counter_get(corrupt), before + 1, "counted once");
        cr_assert_eq(n_blocks(db, NULL), 2);
    }
    em_db_close(db);
    em_test_rmdir(dir);
}

/* ---- cutting and the merged querier ---- */

Test(engine_db, head_is_cut_into_aligned_blocks_and_queries_merge_blocks_and_head)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    em_db_t *db = open_db_opts(dir, 0, 0, MIN_MS); /* no compaction */
    append(db, "m", 5, 0, 330, 0, 1000);           /* [0, 329s] */
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    em_db_block_info_t *info;
    size_t n = n_blocks(db, &info);
    cr_assert_geq(n, 3, "head spanning 5.5 ranges leaves < 1.5 ranges after cutting");
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(info[i].maxt_ms % MIN_MS, 0, "block ends are aligned");
        cr_assert_eq(info[i].maxt_ms - info[i].mint_ms, MIN_MS);
        cr_assert_eq(info[i].level, 1);
        cr_assert_eq(info[i].n_series, 5);
    }
    int64_t last_block_end = info[n - 1].maxt_ms;
    free(info);
    em_head_stats_t hs;
    em_head_stats(em_db_head(db), &hs);
    cr_assert_geq(hs.min_time_ms, last_block_end, "the head was truncated");
    cr_assert_lt(hs.max_time_ms - hs.min_time_ms, MIN_MS * 3 / 2 + 1);

    check_all(db, "m", 5, 330, 1000);

    /* Only old data: no head. Only new data: no blocks. */
    em_querier_t *q;
    cr_assert_eq(em_queryable_querier(em_db_queryable(db), 0, 30000, &q, NULL), EM_OK);
    cr_assert(!db_querier_has_head(q));
    cr_assert_eq(db_querier_n_blocks(q), 1);
    em_querier_close(q);
    cr_assert_eq(em_queryable_querier(em_db_queryable(db), last_block_end + 1000, INT64_MAX, &q, NULL),
                 EM_OK);
    cr_assert(db_querier_has_head(q));
    cr_assert_eq(db_querier_n_blocks(q), 0);
    em_querier_close(q);

    /* A range across the boundary. */
    em_buf_t want = EM_BUF_INIT, got = EM_BUF_INIT;
    expect(&want, "m", 5, 0, 330, 0, 1000, last_block_end - 5000, last_block_end + 5000);
    dump(em_db_queryable(db), "m", last_block_end - 5000, last_block_end + 5000, &got, NULL);
    assert_same(&want, &got);
    em_buf_fini(&want);
    em_buf_fini(&got);

    /* Ingestion goes on after cutting, and everything survives a restart. */
    append(db, "m", 5, 330, 400, 0, 1000);
    em_db_close(db);
    db = open_db_opts(dir, 0, 0, MIN_MS);
    check_all(db, "m", 5, 400, 1000);
    em_db_close(db);
    em_test_rmdir(dir);
}

typedef struct maint_arg {
    em_db_t *db;
    atomic_bool done;
} maint_arg_t;

static void *maint_thread(void *p)
{
    maint_arg_t *a = p;
    em_db_maintain(a->db, NULL);
    atomic_store(&a->done, true);
    return NULL;
}

Test(engine_db, a_query_open_before_a_cut_still_sees_the_data_the_head_hands_over)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    em_db_t *db = open_db_opts(dir, 0, 0, MIN_MS);
    append(db, "m", 4, 0, 300, 0, 1000);
    em_rcu_thread_online();
    em_querier_t *q;
    cr_assert_eq(em_queryable_querier(em_db_queryable(db), INT64_MIN, INT64_MAX, &q, NULL), EM_OK);
    cr_assert(db_querier_has_head(q));
    cr_assert_eq(db_querier_n_blocks(q), 0);
    maint_arg_t a = {.db = db};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, maint_thread, &a), 0);
    /* The first block gets written (bounded wait: the machine may be busy)... */
    for (int i = 0; i < 1000 && n_blocks(db, NULL) == 0; i++)
        usleep(10000);
    cr_assert_geq(n_blocks(db, NULL), 1, "the block is written meanwhile");
    /* ...but the truncation after it waits for the open query. */
    usleep(200000);
    cr_assert(!atomic_load(&a.done), "the truncation waits for the open query");
    /* The query was opened before any block existed: everything must still come from the head. */
    em_matcher_t m;
    cr_assert_eq(em_matcher_init(&m, EM_MATCH_EQ, "__name__", "m", NULL), EM_OK);
    const em_matcher_t *ms[] = {&m};
    em_series_set_t *s;
    cr_assert_eq(em_querier_select(q, true, NULL, ms, 1, &s, NULL), EM_OK);
    size_t n = 0;
    while (em_series_set_next(s) == EM_OK) {
        em_sample_iter_t *it;
        cr_assert_eq(em_series_set_samples(s, &it), EM_OK);
        while (em_sample_iter_next(it) == EM_OK)
            n++;
        em_sample_iter_free(it);
    }
    em_series_set_close(s);
    em_matcher_fini(&m);
    cr_assert_eq(n, 4 * 300);
    em_querier_close(q);
    pthread_join(th, NULL);
    cr_assert(atomic_load(&a.done));
    check_all(db, "m", 4, 300, 1000);
    em_db_close(db);
    em_test_rmdir(dir);
}

Test(engine_db, label_names_and_values_merge_blocks_and_head)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    em_db_t *db = open_db(dir);
    append(db, "old", 2, 0, 200, 0, 1000);
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    append(db, "new", 3, 200, 210, 0, 1000);
    em_rcu_thread_online();
    em_querier_t *q;
    cr_assert_eq(em_queryable_querier(em_db_queryable(db), 0, INT64_MAX, &q, NULL), EM_OK);
    em_arena_t a;
    em_arena_init(&a);
    em_strlist_t l;
    em_strlist_init(&l);
    cr_assert_eq(q->ops->label_values(q, "__name__", NULL, 0, &a, &l, NULL), EM_OK);
    cr_assert_eq(l.n, 2);
    cr_assert_str_eq(l.v[0], "new");
    cr_assert_str_eq(l.v[1], "old");
    em_strlist_fini(&l);
    em_strlist_init(&l);
    cr_assert_eq(q->ops->label_values(q, "i", NULL, 0, &a, &l, NULL), EM_OK);
    cr_assert_eq(l.n, 3);
    em_strlist_fini(&l);
    em_querier_close(q);
    em_arena_fini(&a);
    em_db_close(db);
    em_test_rmdir(dir);
}

/* ---- compaction ---- */

Test(engine_db, leveled_compaction_merges_ranges_and_keeps_the_data)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    /* Ranges 1m, 3m, 9m. */
    em_db_t *db = open_db_opts(dir, 0, 0, 9 * MIN_MS);
    append(db, "m", 4, 0, 1500, 0, 1000); /* 25 minutes */
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    em_db_block_info_t *info;
    size_t n = n_blocks(db, &info);
    int max_level = 0;
    for (size_t i = 0; i < n; i++) {
        if (info[i].level > max_level)
            max_level = info[i].level;
        if (i)
            cr_assert_geq(info[i].mint_ms, info[i - 1].maxt_ms, "blocks must not overlap");
        cr_assert_leq(info[i].maxt_ms - info[i].mint_ms, 9 * MIN_MS);
    }
    cr_assert_geq(max_level, 3, "9-minute blocks were made of 3-minute ones");
    cr_assert_lt(n, 23, "compaction reduced the number of blocks");
    free(info);
    check_all(db, "m", 4, 1500, 1000);
    em_db_close(db);
    db = open_db_opts(dir, 0, 0, 9 * MIN_MS);
    check_all(db, "m", 4, 1500, 1000);
    em_db_close(db);
    em_test_rmdir(dir);
}

/* Write a block with series m{i=k} holding samples j in [j0, j1) at j*1000 ms. */
static void write_block(const char *dir, int n_series, int j0, int j1, int64_t mint, int64_t maxt)
{
    em_block_writer_opts_t o = {.min_time_ms = mint, .max_time_ms = maxt};
    em_block_writer_t *w;
    em_err_t err;
    cr_assert_eq(em_block_writer_new(dir, &o, &w, &err), EM_OK, "%s", err.msg);
    char names[64][8];
    for (int k = 0; k < n_series; k++)
        snprintf(names[k], 8, "%d", k);
    qsort(names, (size_t)n_series, 8, (int (*)(const void *, const void *))strcmp);
    for (int x = 0; x < n_series; x++) {
        int k = atoi(names[x]);
        em_label_t l[2] = {{"__name__", "m"}, {"i", names[x]}};
        em_labels_t ls = {l, 2};
        int64_t ts[4096];
        double vs[4096];
        size_t n = 0;
        for (int j = j0; j < j1; j++, n++) {
            ts[n] = j * 1000LL;
            vs[n] = k * 1000.0 + j;
        }
        cr_assert_eq(em_block_writer_add_samples(w, &ls, ts, vs, n, &err), EM_OK, "%s", err.msg);
    }
    cr_assert_eq(em_block_writer_commit(w, NULL, &err), EM_OK, "%s", err.msg);
    em_block_writer_free(w);
}

Test(engine_db, overlapping_blocks_are_merged_without_duplicate_samples)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    write_block(dir, 3, 0, 100, 0, 100000);
    write_block(dir, 3, 50, 150, 50000, 150000); /* overlaps [50s, 100s) with identical samples */
    em_db_t *db = open_db(dir);
    check_all(db, "m", 3, 150, 1000); /* the querier deduplicates before compaction */
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    em_db_block_info_t *info;
    size_t n = n_blocks(db, &info);
    cr_assert_eq(n, 1);
    cr_assert_eq(info[0].mint_ms, 0);
    cr_assert_eq(info[0].maxt_ms, 150000);
    cr_assert_eq(info[0].n_samples, 3 * 150);
    cr_assert_eq(info[0].level, 2);
    free(info);
    check_all(db, "m", 3, 150, 1000);
    em_db_close(db);
    em_test_rmdir(dir);
}

Test(engine_db, compaction_drops_tombstoned_samples)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    write_block(dir, 3, 0, 100, 0, 100000);
    write_block(dir, 3, 100, 200, 100000, 200000);
    write_block(dir, 3, 150, 250, 150000, 250000); /* overlaps the second */
    em_db_t *db = open_db(dir);
    em_matcher_t m[2];
    cr_assert_eq(em_matcher_init(&m[0], EM_MATCH_EQ, "__name__", "m", NULL), EM_OK);
    cr_assert_eq(em_matcher_init(&m[1], EM_MATCH_EQ, "i", "1", NULL), EM_OK);
    const em_matcher_t *ms[] = {&m[0], &m[1]};
    cr_assert_eq(em_db_delete(db, 120000, 179000, ms, 2, NULL), EM_OK); /* 60 samples of i="1" */
    em_matcher_fini(&m[0]);
    em_matcher_fini(&m[1]);
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    em_db_block_info_t *info;
    size_t n = n_blocks(db, &info);
    uint64_t samples = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(!info[i].has_tombstones);
        samples += info[i].n_samples;
        if (i)
            cr_assert_geq(info[i].mint_ms, info[i - 1].maxt_ms);
    }
    free(info);
    cr_assert_eq(samples, 3 * 250 - 60, "deleted samples are not written again");
    em_db_close(db);
    em_test_rmdir(dir);
}

Test(engine_db, a_block_replaced_by_an_interrupted_compaction_is_removed_at_open)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    write_block(dir, 2, 0, 60, 0, 60000);
    write_block(dir, 2, 60, 120, 60000, 120000);
    write_block(dir, 2, 120, 180, 120000, 180000);
    /* Keep copies of the parents as a crash between rename and deletion would leave them. */
    em_db_t *db = open_db_opts(dir, 0, 0, 3 * MIN_MS);
    em_db_block_info_t *info;
    size_t n = n_blocks(db, &info);
    cr_assert_eq(n, 3);
    char saved[256], src[512], dst[512];
    snprintf(saved, sizeof(saved), "%s-saved", dir);
    cr_assert_eq(em_mkdir_all(saved, NULL), EM_OK);
    for (size_t i = 0; i < 2; i++) {
        char cmd[1200];
        snprintf(src, sizeof(src), "%s/%s", dir, info[i].ulid);
        snprintf(cmd, sizeof(cmd), "cp -r %s %s/", src, saved);
        cr_assert_eq(system(cmd), 0);
    }
    /* The newest block is not compacted; add one more range so the first three fill 3 minutes. */
    em_db_close(db);
    write_block(dir, 2, 180, 240, 180000, 240000);
    db = open_db_opts(dir, 0, 0, 3 * MIN_MS);
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    cr_assert_eq(n_blocks(db, NULL), 2);
    em_db_close(db);
    for (size_t i = 0; i < 2; i++) {
        char cmd[1200];
        snprintf(dst, sizeof(dst), "%s/%s", saved, info[i].ulid);
        snprintf(cmd, sizeof(cmd), "cp -r %s %s/", dst, dir);
        cr_assert_eq(system(cmd), 0);
    }
    free(info);
    db = open_db_opts(dir, 0, 0, 3 * MIN_MS);
    cr_assert_eq(n_blocks(db, NULL), 2, "parents of the compacted block are removed at open");
    check_all(db, "m", 2, 240, 1000);
    em_db_close(db);
    em_test_rmdir(dir);
    em_test_rmdir(saved);
}

Test(engine_db, a_failed_block_write_keeps_the_head_serving_and_is_retried)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    em_db_t *db = open_db_opts(dir, 0, 0, MIN_MS);
    append(db, "m", 50, 0, 200, 0, 1000);
    /* A file size limit stands in for a full disk: block files cannot grow past 4 KiB. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    em_counter_t *failed = em_counter_new("ember_tsdb_compactions_failed_total", "", NULL);
    uint64_t before = em_counter_get(failed);
    em_err_t err;
    cr_assert_neq(em_db_maintain(db, &err), EM_OK);
    cr_assert_eq(em_counter_get(failed), before + 1);
    cr_assert_eq(n_blocks(db, NULL), 0);
    check_all(db, "m", 50, 200, 1000); /* the head still has everything */
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        cr_assert(strstr(e->d_name, ".tmp") == NULL, "leftover %s", e->d_name);
    closedir(d);
    /* Space again: the next round writes the blocks. */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    cr_assert_eq(em_db_maintain(db, &err), EM_OK, "%s", err.msg);
    cr_assert_geq(n_blocks(db, NULL), 2);
    check_all(db, "m", 50, 200, 1000);
    em_db_close(db);
    em_test_rmdir(dir);
}

/* ---- deletion ---- */

static void delete_series(em_db_t *db, const char *name, const char *value, int64_t mint, int64_t maxt)
{
    em_matcher_t m[2];
    cr_assert_eq(em_matcher_init(&m[0], EM_MATCH_EQ, "__name__", "m", NULL), EM_OK);
    cr_assert_eq(em_matcher_init(&m[1], EM_MATCH_EQ, name, value, NULL), EM_OK);
    const em_matcher_t *ms[] = {&m[0], &m[1]};
    em_err_t err;
    cr_assert_eq(em_db_delete(db, mint, maxt, ms, 2, &err), EM_OK, "%s", err.msg);
    em_matcher_fini(&m[0]);
    em_matcher_fini(&m[1]);
}

/* The dump of 3 series over j in [0, j1) with series i="1" missing samples in [d0, d1] (seconds). */
static void expect_deleted(em_buf_t *want, int j1, int d0, int d1)
{
    for (int k = 0; k < 3; k++) {
        em_buf_printf(want, "{__name__=\"m\", i=\"%d\"}", k);
        for (int j = 0; j < j1; j++)
            if (k != 1 || j < d0 || j > d1)
                em_buf_printf(want, " %lld:%g", j * 1000LL, k * 1000.0 + j);
        em_buf_putc(want, '\n');
    }
}

static void check_deleted(em_db_t *db, int j1, int d0, int d1)
{
    em_buf_t want = EM_BUF_INIT, got = EM_BUF_INIT;
    expect_deleted(&want, j1, d0, d1);
    dump(em_db_queryable(db), "m", INT64_MIN, INT64_MAX, &got, NULL);
    assert_same(&want, &got);
    em_buf_fini(&want);
    em_buf_fini(&got);
}

Test(engine_db, deleted_data_disappears_at_once_from_blocks_and_head_and_stays_deleted)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    em_db_t *db = open_db_opts(dir, 0, 0, MIN_MS); /* no compaction: tombstones stay */
    append(db, "m", 3, 0, 240, 0, 1000);
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    cr_assert_geq(n_blocks(db, NULL), 1);
    /* [30s, 200s]: spans blocks and the head. */
    delete_series(db, "i", "1", 30000, 200000);
    check_deleted(db, 240, 30, 200);

    em_db_block_info_t *info;
    size_t n = n_blocks(db, &info);
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any |= info[i].has_tombstones;
    free(info);
    cr_assert(any);

    /* Deletions survive a restart. */
    em_db_close(db);
    db = open_db_opts(dir, 0, 0, MIN_MS);
    check_deleted(db, 240, 30, 200);

    /* clean_tombstones rewrites the blocks with tombstones. */
    cr_assert_eq(em_db_clean_tombstones(db, NULL), EM_OK);
    n = n_blocks(db, &info);
    cr_assert_geq(n, 3);
    for (size_t i = 0; i < n; i++)
        cr_assert(!info[i].has_tombstones, "block %s still has tombstones", info[i].ulid);
    free(info);
    check_deleted(db, 240, 30, 200);

    /* Cutting the head does not bring head data back. */
    append(db, "m", 3, 240, 330, 0, 1000);
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    check_deleted(db, 330, 30, 200);
    em_db_close(db);
    em_test_rmdir(dir);
}

Test(engine_db, a_querier_keeps_a_compacted_block_until_closed)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    write_block(dir, 2, 0, 100, 0, 100000);
    write_block(dir, 2, 50, 150, 50000, 150000);
    em_db_t *db = open_db(dir);
    em_db_block_info_t *info;
    cr_assert_eq(n_blocks(db, &info), 2);
    char p0[512];
    snprintf(p0, sizeof(p0), "%s/%s", dir, info[0].ulid);
    free(info);
    em_querier_t *q;
    em_buf_t got = EM_BUF_INIT;
    dump(em_db_queryable(db), "m", INT64_MIN, INT64_MAX, &got, &q);
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    cr_assert_eq(n_blocks(db, NULL), 1);
    cr_assert(em_path_exists(p0), "still in use by an open querier");
    em_querier_close(q);
    cr_assert(!em_path_exists(p0), "removed when the last querier closed");
    em_buf_fini(&got);
    em_db_close(db);
    em_test_rmdir(dir);
}

/* ---- retention ---- */

Test(engine_db, retention_by_time_removes_blocks_older_than_the_limit)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    /* Retention 3 minutes, blocks of 1 minute, no compaction beyond 1 minute. */
    em_db_t *db = open_db_opts(dir, 3 * MIN_MS, 0, MIN_MS);
    append(db, "m", 2, 0, 600, 0, 1000);
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    em_db_block_info_t *info;
    size_t n = n_blocks(db, &info);
    cr_assert_gt(n, 0);
    int64_t newest = info[n - 1].maxt_ms;
    for (size_t i = 0; i < n; i++)
        cr_assert_lt(newest - info[i].maxt_ms, 3 * MIN_MS, "block [%lld, %lld) kept",
                     (long long)info[i].mint_ms, (long long)info[i].maxt_ms);
    cr_assert_eq(n, 3, "blocks ending 3 minutes or more before the newest block's end go");
    free(info);
    em_db_close(db);
    em_test_rmdir(dir);
}

Test(engine_db, retention_by_size_removes_the_oldest_blocks_first)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    em_db_t *db = open_db_opts(dir, 0, 0, MIN_MS);
    append(db, "m", 20, 0, 600, 0, 1000);
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    em_db_block_info_t *info;
    size_t n = n_blocks(db, &info);
    cr_assert_geq(n, 6);
    uint64_t block_bytes = info[n - 1].size_bytes;
    int64_t newest_mint = info[n - 1].mint_ms;
    free(info);
    char wal[512];
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    db->o.retention_bytes = em_dir_size(wal) + 3 * block_bytes + block_bytes / 2;
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    n = n_blocks(db, &info);
    cr_assert_eq(n, 3, "3.5 blocks' worth of bytes keeps the 3 newest");
    cr_assert_eq(info[n - 1].mint_ms, newest_mint);
    free(info);
    em_db_close(db);
    em_test_rmdir(dir);
}

/* ---- snapshots ---- */

Test(engine_db, snapshot_is_a_data_directory_with_blocks_and_head)
{
    char dir[256], snap[512];
    em_test_tmpdir(dir, sizeof(dir), "db");
    em_db_t *db = open_db(dir);
    append(db, "m", 3, 0, 250, 0, 1000);
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    char name[64];
    em_err_t err;
    cr_assert_eq(em_db_snapshot(db, false, name, sizeof(name), &err), EM_OK, "%s", err.msg);
    cr_assert_eq(strlen(name), 16 + 1 + 16, "%s", name);
    cr_assert_eq(name[8], 'T');
    cr_assert_eq(name[15], 'Z');
    char skip[64];
    cr_assert_eq(em_db_snapshot(db, true, skip, sizeof(skip), &err), EM_OK, "%s", err.msg);
    /* Data written after the snapshot is not in it. */
    append(db, "m", 3, 250, 260, 0, 1000);
    em_db_close(db);

    snprintf(snap, sizeof(snap), "%s/snapshots/%s", dir, name);
    db = open_db(snap);
    check_all(db, "m", 3, 250, 1000);
    em_db_close(db);

    snprintf(snap, sizeof(snap), "%s/snapshots/%s", dir, skip);
    db = open_db(snap);
    em_db_block_info_t *info;
    size_t n = n_blocks(db, &info);
    cr_assert_gt(n, 0);
    em_buf_t want = EM_BUF_INIT, got = EM_BUF_INIT;
    expect(&want, "m", 3, 0, 250, 0, 1000, INT64_MIN, info[n - 1].maxt_ms - 1);
    dump(em_db_queryable(db), "m", INT64_MIN, INT64_MAX, &got, NULL);
    assert_same(&want, &got);
    free(info);
    em_buf_fini(&want);
    em_buf_fini(&got);
    em_db_close(db);
    em_test_rmdir(dir);
}

/* ---- status ---- */

Test(engine_db, status_counts_series_by_metric_and_label_pairs)
{
    char dir[256];
    em_test_tmpdir(dir, sizeof(dir), "db");
    em_db_t *db = open_db(dir);
    append(db, "a", 5, 0, 2, 0, 1000);
    append(db, "b", 2, 0, 2, 0, 1000);
    em_arena_t a;
    em_arena_init(&a);
    em_db_status_t st;
    cr_assert_eq(em_db_status(db, 10, &a, &st, NULL), EM_OK);
    cr_assert_eq(st.num_series, 7);
    cr_assert_eq(st.n_series_by_metric, 2);
    cr_assert_str_eq(st.series_by_metric[0].name, "a");
    cr_assert_eq(st.series_by_metric[0].value, 5);
    cr_assert_str_eq(st.series_by_metric[1].name, "b");
    cr_assert_eq(st.num_label_pairs, 2 + 5); /* __name__=a|b, i=0..4 */
    cr_assert_str_eq(st.label_value_count[0].name, "i");
    cr_assert_eq(st.label_value_count[0].value, 5);
    cr_assert_str_eq(st.series_by_pair[0].name, "__name__=a");
    cr_assert_eq(st.series_by_pair[0].value, 5);
    cr_assert_str_eq(st.memory_by_label[0].name, "i");
    cr_assert_eq(st.memory_by_label[0].value, 5);
    cr_assert_eq(st.min_time_ms, 0);
    cr_assert_eq(st.max_time_ms, 1000);
    cr_assert_eq(em_db_status(db, 1, &a, &st, NULL), EM_OK);
    cr_assert_eq(st.n_series_by_pair, 1);
    em_arena_fini(&a);
    em_db_close(db);
    em_test_rmdir(dir);
}

/* ---- head tombstone file ---- */

Test(engine_db, head_tombstones_file_round_trips_and_rejects_damage)
{
    em_label_t l[2] = {{"__name__", "x"}, {"job", "j"}};
    em_labels_t ls = {l, 2};
    head_tombs_t *empty = head_tombs_new();
    head_tombs_t *t = head_tombs_add(empty, &ls, 1, 10, 20);
    head_tombs_t *t2 = head_tombs_add(t, &ls, 1, 21, 30); /* adjacent: merged */
    em_buf_t b = EM_BUF_INIT;
    head_tombs_encode(t2, &b);
    head_tombs_t *d;
    cr_assert_eq(head_tombs_decode((const uint8_t *)b.data, b.len, &d, NULL), EM_OK);
    const head_tomb_t *e = head_tombs_find(d, em_labels_hash(&ls), &ls);
    cr_assert_not_null(e);
    cr_assert_eq(e->n_iv, 1);
    cr_assert_eq(e->iv[0][0], 10);
    cr_assert_eq(e->iv[0][1], 30);
    cr_assert(head_tomb_covers(e, 25));
    cr_assert(!head_tomb_covers(e, 31));
    head_tombs_t *trimmed = head_tombs_trim(d, 31);
    cr_assert_eq(trimmed->n, 0);
    for (size_t i = 0; i < b.len; i++) {
        ((uint8_t *)b.data)[i] ^= 0x40;
        head_tombs_t *x = NULL;
        cr_assert_neq(head_tombs_decode((const uint8_t *)b.data, b.len, &x, NULL), EM_OK, "flip at %zu", i);
        ((uint8_t *)b.data)[i] ^= 0x40;
    }
    head_tombs_t *y = NULL;
    cr_assert_neq(head_tombs_decode((const uint8_t *)b.data, b.len - 1, &y, NULL), EM_OK);
    em_buf_fini(&b);
    head_tombs_release(trimmed);
    head_tombs_release(d);
    head_tombs_release(t2);
    head_tombs_release(t);
    head_tombs_release(empty);
}

/* ---- crash safety ---- */

/* The crash test's processes use no criterion asserts (they are not the test's process): they report
 * through their exit status. The test's own process never touches the db, so every child starts clean
 * (no RCU or thread state inherited across fork). */

#define CRASH_SERIES 8
#define CRASH_SAMPLES 660 /* 11 minutes at 1 s: 9 one-minute blocks, compacted into 3 and 9 minutes */

static int child_open(const char *dir, em_db_t **db)
{
    em_db_opts_t o = {.dir = dir,
                      .min_block_ms = MIN_MS,
                      .max_block_ms = 9 * MIN_MS,
                      .head_shards = 2,
                      .no_background = true};
    return em_db_open(&o, db, NULL);
}

static int child_prepare(const char *dir)
{
    em_db_t *db;
    if (child_open(dir, &db) != EM_OK)
        return 1;
    em_batch_t *b = em_batch_new();
    int rc = EM_OK;
    for (int j = 0; j < CRASH_SAMPLES && rc == EM_OK; j++) {
        em_batch_reset(b);
        for (int k = 0; k < CRASH_SERIES; k++) {
            char iv[16];
            snprintf(iv, sizeof(iv), "%d", k);
            em_label_t l[2] = {{"__name__", "m"}, {"i", iv}};
            em_labels_t ls = {l, 2};
            em_batch_add_series(b, &ls, true, 0);
            em_batch_add_sample(b, j * 1000LL, k * 1000.0 + j);
        }
        rc = em_head_append_wait(em_db_head(db), b);
    }
    em_batch_free(b);
    em_db_close(db);
    return rc == EM_OK ? 0 : 2;
}

static int child_compact(const char *dir)
{
    em_db_t *db;
    if (child_open(dir, &db) != EM_OK)
        return 1;
    int rc = em_db_maintain(db, NULL);
    em_db_close(db);
    return rc == EM_OK ? 0 : 2;
}

/* Exit 0 when the data equals what child_prepare wrote. */
static int child_verify(const char *dir)
{
    em_db_t *db;
    if (child_open(dir, &db) != EM_OK)
        return 1;
    em_rcu_thread_online();
    em_querier_t *q;
    int bad = 0;
    if (em_queryable_querier(em_db_queryable(db), INT64_MIN, INT64_MAX, &q, NULL) != EM_OK) {
        em_db_close(db);
        return 3;
    }
    em_matcher_t m;
    em_matcher_init(&m, EM_MATCH_EQ, "__name__", "m", NULL);
    const em_matcher_t *ms[] = {&m};
    em_series_set_t *s;
    if (em_querier_select(q, true, NULL, ms, 1, &s, NULL) != EM_OK) {
        bad = 4;
        goto out;
    }
    int n_series = 0;
    while (!bad && em_series_set_next(s) == EM_OK) {
        em_labels_t ls = em_series_set_labels(s);
        int k = atoi(em_labels_get(&ls, "i"));
        em_sample_iter_t *it;
        if (em_series_set_samples(s, &it) != EM_OK) {
            bad = 5;
            break;
        }
        int j = 0;
        while (em_sample_iter_next(it) == EM_OK) {
            int64_t t;
            double v;
            em_sample_iter_at(it, &t, &v);
            if (t != j * 1000LL || v != k * 1000.0 + j) {
                fprintf(stderr, "series %d: sample %d is %lld:%g\n", k, j, (long long)t, v);
                bad = 6;
                break;
            }
            j++;
        }
        em_sample_iter_free(it);
        if (!bad && j != CRASH_SAMPLES) {
            fprintf(stderr, "series %d: %d samples, want %d\n", k, j, CRASH_SAMPLES);
            bad = 7;
        }
        n_series++;
    }
    if (!bad && n_series != CRASH_SERIES)
        bad = 8;
    em_series_set_close(s);
out:
    em_matcher_fini(&m);
    em_querier_close(q);
    em_db_close(db);
    return bad;
}

static int run_child(int (*fn)(const char *), const char *dir)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn(dir));
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

Test(engine_db, killing_the_process_during_cutting_and_compaction_loses_nothing, .timeout = 120)
{
    char tmpl[256], work[300], cmd[700];
    em_test_tmpdir(tmpl, sizeof(tmpl), "dbcrash");
    snprintf(work, sizeof(work), "%s-work", tmpl);
    cr_assert_eq(run_child(child_prepare, tmpl), 0);
    /* How long an uninterrupted round takes, to spread the kills over it. */
    snprintf(cmd, sizeof(cmd), "rm -rf %s && cp -a %s %s", work, tmpl, work);
    cr_assert_eq(system(cmd), 0);
    int64_t t0 = mono_ms();
    cr_assert_eq(run_child(child_compact, work), 0);
    int64_t full_ms = mono_ms() - t0;
    cr_assert_eq(run_child(child_verify, work), 0, "data after an uninterrupted round");

    unsigned short seed[3] = {0x1234, 0x5678, 0x9abc};
    int64_t deadline = mono_ms() + 3000;
    int iters = 0;
    for (; iters < 4 || (mono_ms() < deadline && iters < 200); iters++) {
        cr_assert_eq(system(cmd), 0);
        int64_t delay_us = (int64_t)(erand48(seed) * (double)full_ms * 1000.0);
        pid_t pid = fork();
        if (pid == 0)
            _exit(child_compact(work));
        usleep((useconds_t)delay_us);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        int rc = run_child(child_verify, work);
        cr_assert_eq(rc, 0,
                     "iteration %d (seed 1234 5678 9abc, kill after %lld us of %lld ms): verify exit %d",
                     iters, (long long)delay_us, (long long)full_ms, rc);
        /* A second, complete round after the crash also leaves the data intact. */
        if (iters % 4 == 0) {
            cr_assert_eq(run_child(child_compact, work), 0);
            cr_assert_eq(run_child(child_verify, work), 0, "iteration %d after a full round", iters);
        }
    }
    cr_log_info("crash test: %d kills over a %lld ms round", iters, (long long)full_ms);
    em_test_rmdir(tmpl);
    em_test_rmdir(work);
}

/* ---- migration from Prometheus ---- */

Test(engine_db, prometheus_blocks_copied_into_the_data_dir_serve_exactly_their_samples)
{
    const char *src = EMBER_SHARED_DIR "/testdata/prometheus-blocks";
    if (!em_path_exists(src)) {
        cr_skip_test("%s is missing", src);
        return;
    }
    char dir[256], cmd[1024];
    em_test_tmpdir(dir, sizeof(dir), "dbmig");
    snprintf(cmd, sizeof(cmd), "cp -r %s/01* %s/ && chmod -R u+w %s", src, dir, dir);
    cr_assert_eq(system(cmd), 0);
    em_db_t *db = open_db(dir);
    cr_assert_eq(n_blocks(db, NULL), 2);

    em_rcu_thread_online();
    em_querier_t *q;
    cr_assert_eq(em_queryable_querier(em_db_queryable(db), INT64_MIN, INT64_MAX, &q, NULL), EM_OK);
    em_matcher_t m;
    cr_assert_eq(em_matcher_init(&m, EM_MATCH_RE, "__name__", ".+", NULL), EM_OK);
    const em_matcher_t *ms[] = {&m};
    em_series_set_t *s;
    cr_assert_eq(em_querier_select(q, true, NULL, ms, 1, &s, NULL), EM_OK);

    snprintf(cmd, sizeof(cmd), "zcat %s/expected-dump.txt.gz", src);
    FILE *f = popen(cmd, "r");
    cr_assert_not_null(f);
    char line[4096];
    size_t n_lines = 0;
    em_buf_t ls_text = EM_BUF_INIT;
    em_sample_iter_t *it = NULL;
    while (fgets(line, sizeof(line), f)) {
        char *sep = strstr(line, "} ");
        cr_assert_not_null(sep, "line %zu", n_lines);
        sep[1] = '\0';
        char *end;
        double want_v = strtod(sep + 2, &end);
        long long want_t = strtoll(end, NULL, 10);
        /* Advance to the series named on this line. */
        while (!ls_text.data || strcmp(ls_text.data, line) != 0) {
            em_sample_iter_free(it);
            it = NULL;
            cr_assert_eq(em_series_set_next(s), EM_OK, "series %s missing", line);
            em_labels_t ls = em_series_set_labels(s);
            em_buf_reset(&ls_text);
            em_labels_format(&ls, &ls_text);
            em_buf_putc(&ls_text, '\0');
            cr_assert_eq(em_series_set_samples(s, &it), EM_OK);
        }
        cr_assert_eq(em_sample_iter_next(it), EM_OK, "%s: sample at %lld missing", line, want_t);
        int64_t t;
        double v;
        em_sample_iter_at(it, &t, &v);
        cr_assert_eq(t, want_t, "%s", line);
        cr_assert(v == want_v || (isnan(v) && isnan(want_v)), "%s @%lld: %g != %g", line, want_t, v, want_v);
        n_lines++;
    }
    pclose(f);
    cr_assert_eq(n_lines, 15366 + 7674);
    cr_assert_eq(em_sample_iter_next(it), EM_DONE);
    em_sample_iter_free(it);
    cr_assert_eq(em_series_set_next(s), EM_DONE, "no extra series");
    em_buf_fini(&ls_text);
    em_series_set_close(s);
    em_matcher_fini(&m);
    em_querier_close(q);
    em_db_close(db);
    em_test_rmdir(dir);
}

static size_t indexes_in_memory(em_db_t *db)
{
    size_t n, loaded = 0;
    em_block_t **v = db_blocks_snapshot(db, &n);
    for (size_t i = 0; i < n; i++)
        loaded += em_block_index_loaded(v[i]);
    db_blocks_snapshot_free(v, n);
    return loaded;
}

Test(engine_db, idle_block_indexes_are_freed_and_reloaded_on_the_next_query)
{
    char dir[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "dbidle");
    em_db_opts_t o = {
        .dir = dir, .min_block_ms = MIN_MS, .head_shards = 2, .no_background = true, .index_idle_ms = 1};
    em_db_t *db = NULL;
    em_err_t err;
    cr_assert_eq(em_db_open(&o, &db, &err), EM_OK, "%s", err.msg);
    append(db, "m", 5, 0, 60, 0, 5000); /* five minutes: blocks of one minute */
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    cr_assert_geq(n_blocks(db, NULL), 2);
    cr_assert_eq(indexes_in_memory(db), 0, "opening a block validates its index without keeping it");

    em_buf_t got = EM_BUF_INIT;
    em_querier_t *q;
    dump(em_db_queryable(db), "m", INT64_MIN, INT64_MAX, &got, &q);
    size_t loaded = indexes_in_memory(db);
    cr_assert_gt(loaded, 0, "a query loads the tables");
    usleep(5000);
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    cr_assert_eq(indexes_in_memory(db), loaded, "an open querier keeps them");
    em_querier_close(q);
    usleep(5000);
    cr_assert_eq(em_db_maintain(db, NULL), EM_OK);
    cr_assert_eq(indexes_in_memory(db), 0, "idle tables are freed");

    check_all(db, "m", 5, 60, 5000); /* and loaded again, with the same answers */
    cr_assert_eq(indexes_in_memory(db), loaded);
    em_buf_fini(&got);
    em_db_close(db);
    em_test_rmdir(dir);
}
