#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tmpdir.h"
#include "engine/wal.h"

typedef struct collected {
    int n;
    uint8_t types[10000];
    uint32_t vals[10000];
} collected_t;

static int collect(void *arg, uint8_t type, const uint8_t *p, size_t n)
{
    collected_t *c = arg;
    cr_assert_geq(n, 4);
    c->types[c->n] = type;
    memcpy(&c->vals[c->n], p, 4);
    for (size_t i = 4; i < n; i++)
        cr_assert_eq(p[i], (uint8_t)(c->vals[c->n] + i), "payload byte %zu of record %d", i, c->n);
    c->n++;
    return EM_OK;
}

/* A record's payload: its 4-byte id followed by a deterministic pattern, 'len' bytes in all. */
static void add_record(em_wal_t *w, uint32_t id, size_t len)
{
    uint8_t buf[4096];
    memcpy(buf, &id, 4);
    for (size_t i = 4; i < len; i++)
        buf[i] = (uint8_t)(id + i);
    em_wal_add(w, EM_WAL_REC_SAMPLES, buf, len);
}

static void write_log(const char *dir, int n, size_t seg_bytes, bool compress)
{
    em_wal_opts_t o = {.segment_bytes = seg_bytes, .compress = compress};
    em_wal_t *w;
    em_err_t err;
    cr_assert_eq(em_wal_open(dir, &o, &w, &err), EM_OK, "%s", err.msg);
    for (int i = 0; i < n; i++) {
        add_record(w, (uint32_t)i, 4 + (size_t)(i * 37) % 900);
        if (i % 7 == 6)
            cr_assert_eq(em_wal_flush(w, &err), EM_OK, "%s", err.msg);
    }
    cr_assert_eq(em_wal_flush(w, &err), EM_OK);
    em_wal_close(w);
}

static collected_t *replay(const char *dir, em_wal_replay_stats_t *st)
{
    collected_t *c = calloc(1, sizeof(*c));
    em_err_t err;
    cr_assert_eq(em_wal_replay(dir, collect, c, st, &err), EM_OK, "%s", err.msg);
    return c;
}

Test(engine_wal, replays_every_record_in_order_across_segments)
{
    char dir[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "wal");
    write_log(dir, 500, 8192, false);
    em_wal_replay_stats_t st;
    collected_t *c = replay(dir, &st);
    cr_assert_eq(c->n, 500);
    for (int i = 0; i < 500; i++)
        cr_assert_eq(c->vals[i], (uint32_t)i);
    cr_assert_gt(st.segments, 5, "8 KiB segments must rotate, got %u", st.segments);
    cr_assert_eq(st.corruptions, 0);
    free(c);
    em_test_rmdir(dir);
}

Test(engine_wal, compressed_records_replay_identically)
{
    char dir[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "walz");
    write_log(dir, 300, 1 << 20, true);
    collected_t *c = replay(dir, NULL);
    cr_assert_eq(c->n, 300);
    free(c);
    em_test_rmdir(dir);
}

Test(engine_wal, reopening_appends_after_existing_segments)
{
    char dir[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "walre");
    write_log(dir, 10, 1 << 20, false);
    em_wal_opts_t o = {0};
    em_wal_t *w;
    cr_assert_eq(em_wal_open(dir, &o, &w, NULL), EM_OK);
    add_record(w, 10, 50);
    cr_assert_eq(em_wal_flush(w, NULL), EM_OK);
    em_wal_close(w);
    collected_t *c = replay(dir, NULL);
    cr_assert_eq(c->n, 11);
    cr_assert_eq(c->vals[10], 10);
    free(c);
    em_test_rmdir(dir);
}

static void segment_path(char *out, const char *dir, int seg)
{
    snprintf(out, PATH_MAX, "%s/%08d", dir, seg);
}

Test(engine_wal, torn_tail_is_cut_and_earlier_records_survive)
{
    char dir[PATH_MAX], seg[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "waltorn");
    write_log(dir, 50, 1 << 20, false);
    segment_path(seg, dir, 0);
    struct stat st0;
    stat(seg, &st0);
    cr_assert_eq(truncate(seg, st0.st_size - 3), 0, "tear the last record");
    em_wal_replay_stats_t st;
    collected_t *c = replay(dir, &st);
    cr_assert_eq(c->n, 49);
    cr_assert_eq(st.corruptions, 1);
    free(c);
    /* The repaired log replays cleanly, and new writes land after it. */
    em_wal_opts_t o = {0};
    em_wal_t *w;
    cr_assert_eq(em_wal_open(dir, &o, &w, NULL), EM_OK);
    add_record(w, 99, 20);
    cr_assert_eq(em_wal_flush(w, NULL), EM_OK);
    em_wal_close(w);
    c = replay(dir, &st);
    cr_assert_eq(c->n, 50);
    cr_assert_eq(c->vals[49], 99);
    cr_assert_eq(st.corruptions, 0);
    free(c);
    em_test_rmdir(dir);
}

Test(engine_wal, corrupt_record_in_middle_cuts_log_and_removes_later_segments)
{
    char dir[PATH_MAX], seg[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "walbad");
    write_log(dir, 400, 8192, false);
    /* Flip a payload byte inside segment 2. */
    segment_path(seg, dir, 2);
    int fd = open(seg, O_RDWR);
    cr_assert_geq(fd, 0);
    uint8_t b;
    pread(fd, &b, 1, 100);
    b ^= 0x40;
    pwrite(fd, &b, 1, 100);
    close(fd);
    em_wal_replay_stats_t st;
    collected_t *c = replay(dir, &st);
    cr_assert_eq(st.corruptions, 1);
    cr_assert_gt(c->n, 0);
    cr_assert_lt(c->n, 400);
    for (int i = 0; i < c->n; i++)
        cr_assert_eq(c->vals[i], (uint32_t)i, "records before the damage are intact");
    segment_path(seg, dir, 3);
    cr_assert(access(seg, F_OK) != 0, "segments after the damage are removed");
    free(c);
    em_test_rmdir(dir);
}

Test(engine_wal, zero_filled_tail_is_trimmed_without_counting_corruption)
{
    char dir[PATH_MAX], seg[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "walzero");
    write_log(dir, 20, 1 << 20, false);
    segment_path(seg, dir, 0);
    struct stat st0;
    stat(seg, &st0);
    cr_assert_eq(truncate(seg, st0.st_size + 4096), 0);
    em_wal_replay_stats_t st;
    collected_t *c = replay(dir, &st);
    cr_assert_eq(c->n, 20);
    cr_assert_eq(st.corruptions, 0);
    struct stat st1;
    stat(seg, &st1);
    cr_assert_eq(st1.st_size, st0.st_size);
    free(c);
    em_test_rmdir(dir);
}

Test(engine_wal, checkpoint_replaces_covered_segments)
{
    char dir[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "walck");
    em_wal_opts_t o = {.segment_bytes = 4096};
    em_wal_t *w;
    em_err_t err;
    cr_assert_eq(em_wal_open(dir, &o, &w, &err), EM_OK);
    for (int i = 0; i < 100; i++)
        add_record(w, (uint32_t)i, 200);
    cr_assert_eq(em_wal_flush(w, NULL), EM_OK);
    uint32_t closed;
    cr_assert_eq(em_wal_cut(w, &closed, &err), EM_OK, "%s", err.msg);
    for (int i = 100; i < 110; i++)
        add_record(w, (uint32_t)i, 200);
    cr_assert_eq(em_wal_flush(w, NULL), EM_OK);

    /* The checkpoint keeps records 90..99 of the covered segments. */
    em_wal_checkpoint_t *ck;
    cr_assert_eq(em_wal_checkpoint_begin(dir, closed, &ck, &err), EM_OK, "%s", err.msg);
    for (uint32_t i = 90; i < 100; i++) {
        uint8_t buf[200];
        memcpy(buf, &i, 4);
        for (size_t k = 4; k < sizeof(buf); k++)
            buf[k] = (uint8_t)(i + k);
        em_wal_checkpoint_add(ck, EM_WAL_REC_SERIES, buf, sizeof(buf));
    }
    cr_assert_eq(em_wal_checkpoint_commit(ck, &err), EM_OK, "%s", err.msg);
    em_wal_close(w);

    char seg[PATH_MAX];
    segment_path(seg, dir, 0);
    cr_assert(access(seg, F_OK) != 0, "covered segment 0 deleted");
    em_wal_replay_stats_t st;
    collected_t *c = replay(dir, &st);
    cr_assert(st.checkpoint);
    cr_assert_eq(c->n, 20);
    cr_assert_eq(c->vals[0], 90);
    cr_assert_eq(c->types[0], EM_WAL_REC_SERIES);
    cr_assert_eq(c->vals[10], 100);
    cr_assert_eq(c->types[10], EM_WAL_REC_SAMPLES);
    free(c);
    em_test_rmdir(dir);
}

Test(engine_wal, interrupted_checkpoint_leaves_old_state_usable)
{
    char dir[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "walck2");
    write_log(dir, 30, 1 << 20, false);
    em_wal_checkpoint_t *ck;
    cr_assert_eq(em_wal_checkpoint_begin(dir, 0, &ck, NULL), EM_OK);
    em_wal_checkpoint_add(ck, EM_WAL_REC_SERIES, "abcd", 4);
    /* Until commit, the checkpoint exists only as a temporary directory. */
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/checkpoint.00000000.tmp", dir);
    cr_assert(access(tmp, F_OK) == 0);
    em_wal_checkpoint_abort(ck);
    cr_assert(access(tmp, F_OK) != 0, "abort removes the temporary checkpoint");
    collected_t *c = replay(dir, NULL);
    cr_assert_eq(c->n, 30);
    free(c);
    em_test_rmdir(dir);
}

Test(engine_wal, shard_count_file_roundtrips)
{
    char dir[PATH_MAX];
    em_test_tmpdir(dir, sizeof(dir), "walshards");
    int n = -1;
    cr_assert_eq(em_wal_read_shard_count(dir, &n, NULL), EM_OK);
    cr_assert_eq(n, 0, "no file means no WAL");
    cr_assert_eq(em_wal_write_shard_count(dir, 4, NULL), EM_OK);
    cr_assert_eq(em_wal_read_shard_count(dir, &n, NULL), EM_OK);
    cr_assert_eq(n, 4);
    em_test_rmdir(dir);
}
