/* Compatibility with Prometheus's own tools: blocks written by Ember are read by Debian's promtool 2.42
 * (`promtool tsdb dump` prints exactly the samples written, `promtool tsdb analyze` accepts them), and
 * Prometheus's blocks re-encoded by Ember dump exactly as promtool dumped the originals. Skipped, with a
 * message, when promtool is not installed (tools/install-deps.sh installs it). */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/mem.h"
#include "base/strconv.h"
#include "common/tmpdir.h"
#include "engine/block.h"
#include "engine/chunk.h"

#define PROMTOOL "/usr/bin/promtool"
#define BLOCKS_DIR EMBER_SHARED_DIR "/testdata/prometheus-blocks"

static void need_promtool(void)
{
    if (!em_path_exists(PROMTOOL))
        cr_skip_test("SKIPPED: %s not installed (tools/install-deps.sh installs Debian's prometheus package)",
                     PROMTOOL);
}

/* Run a shell command (bounded by timeout(1)), capturing stdout; returns the exit status. */
static int run(const char *cmd, em_buf_t *out)
{
    char full[8192];
    snprintf(full, sizeof(full), "timeout 120 %s 2>/dev/null", cmd);
    FILE *p = popen(full, "r");
    cr_assert_not_null(p, "popen %s", cmd);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
        em_buf_append(out, buf, n);
    return pclose(p);
}

static uint64_t rs = 12345;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

Test(engine_block_promtool, promtool_dumps_exactly_what_ember_wrote_and_analyze_accepts_it)
{
    need_promtool();
    char dir[256], wal[300];
    em_test_tmpdir(dir, sizeof(dir), "promtool");
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    em_mkdir_all(wal, NULL);
    /* 50 series, 2 h of 15 s samples with jitter, counters and gauges, some stale markers, some odd values */
    const int64_t t0 = 1700000000000;
    em_block_writer_opts_t o = {.min_time_ms = t0, .max_time_ms = t0 + 7200000};
    em_block_writer_t *w;
    em_err_t err = {0};
    cr_assert_eq(em_block_writer_new(dir, &o, &w, &err), EM_OK, "%s", err.msg);
    em_buf_t want = EM_BUF_INIT;
    char names[50][32], insts[50][32];
    for (int s = 0; s < 50; s++) {
        snprintf(names[s], 32, "metric_%02d", s / 5);
        snprintf(insts[s], 32, "host%d:9100", s % 5);
        em_label_t lv[3] = {{"__name__", names[s]}, {"instance", insts[s]}, {"job", "node"}};
        em_labels_t ls = {lv, 3};
        int64_t ts[480];
        double vs[480];
        double v = (double)(rnd() % 100000) / 7;
        for (int i = 0; i < 480; i++) {
            ts[i] = t0 + i * 15000 + (int64_t)(rnd() % 5);
            if (s % 2)
                v += (double)(rnd() % 1000) / 100;
            else
                v = (double)(rnd() % 3) - 1 + v * 0.999;
            vs[i] = v;
            if (s == 7 && i % 100 == 99) {
                uint64_t b = EM_STALE_NAN_BITS;
                memcpy(&vs[i], &b, 8);
            }
            if (s == 9 && i == 5)
                vs[i] = INFINITY;
            if (s == 9 && i == 6)
                vs[i] = -0.0;
            if (s == 9 && i == 7)
                vs[i] = 1e-300;
        }
        cr_assert_eq(em_block_writer_add_samples(w, &ls, ts, vs, 480, &err), EM_OK, "%s", err.msg);
        em_buf_t lb = EM_BUF_INIT;
        em_labels_format(&ls, &lb);
        for (int i = 0; i < 480; i++) {
            char f[EM_FLOAT_BUF];
            em_fmt_float(vs[i], 'g', f);
            em_buf_printf(&want, "%s %s %" PRId64 "\n", lb.data, f, ts[i]);
        }
        em_buf_fini(&lb);
    }
    em_block_meta_t meta;
    cr_assert_eq(em_block_writer_commit(w, &meta, &err), EM_OK, "%s", err.msg);
    em_block_writer_free(w);

    char cmd[1024];
    em_buf_t got = EM_BUF_INIT;
    snprintf(cmd, sizeof(cmd), PROMTOOL " tsdb dump %s", dir);
    cr_assert_eq(run(cmd, &got), 0, "promtool tsdb dump failed");
    /* promtool prints values with Go's %g; Ember formats them the same way (base/strconv.h) */
    size_t i = 0;
    while (i < got.len && i < want.len && got.data[i] == want.data[i])
        i++;
    cr_assert(got.len == want.len && i == got.len,
              "promtool dump differs at byte %zu:\n promtool: %.200s\n ember: %.200s", i,
              got.data ? got.data + (i > 100 ? i - 100 : 0) : "", want.data + (i > 100 ? i - 100 : 0));

    em_buf_t an = EM_BUF_INIT;
    snprintf(cmd, sizeof(cmd), PROMTOOL " tsdb analyze %s", dir);
    cr_assert_eq(run(cmd, &an), 0, "promtool tsdb analyze failed");
    char id[EM_ULID_STR_LEN + 1];
    em_ulid_format(&meta.ulid, id);
    cr_assert(strstr(an.data, id) && strstr(an.data, "Series: 50"), "analyze output:\n%s", an.data);
    em_buf_fini(&an);
    em_buf_fini(&got);
    em_buf_fini(&want);
    em_block_meta_fini(&meta);
    em_test_rmdir(dir);
}

Test(engine_block_promtool, prometheus_blocks_re_encoded_by_ember_dump_as_the_originals)
{
    need_promtool();
    char dir[256], wal[300];
    em_test_tmpdir(dir, sizeof(dir), "promtool");
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    em_mkdir_all(wal, NULL);
    const char *ids[] = {"01M81VYW8X6ZTPSTNA70FGTEZ3", "01M81VYWA3E6J9MNPDNTXDPSV8"};
    for (int k = 0; k < 2; k++) {
        char src[4096];
        snprintf(src, sizeof(src), "%s/%s", BLOCKS_DIR, ids[k]);
        em_block_t *b;
        em_err_t err = {0};
        cr_assert_eq(em_block_open(src, &b, &err), EM_OK, "%s", err.msg);
        const em_block_meta_t *m = em_block_meta(b);
        /* through samples, so every chunk is encoded by Ember */
        em_block_writer_opts_t o = {.min_time_ms = m->min_time_ms, .max_time_ms = m->max_time_ms};
        em_block_writer_t *w;
        cr_assert_eq(em_block_writer_new(dir, &o, &w, &err), EM_OK);
        em_querier_t *q;
        em_block_querier(b, INT64_MIN, INT64_MAX, &q, NULL);
        em_matcher_t mt;
        em_matcher_init(&mt, EM_MATCH_RE, "__name__", ".+", NULL);
        const em_matcher_t *ms[] = {&mt};
        em_series_set_t *ss;
        cr_assert_eq(em_querier_select(q, true, NULL, ms, 1, &ss, NULL), EM_OK);
        while (em_series_set_next(ss) == EM_OK) {
            em_labels_t ls = em_series_set_labels(ss);
            em_sample_iter_t *it;
            em_series_set_samples(ss, &it);
            cr_assert_eq(em_block_writer_add_sample_iter(w, &ls, it, &err), EM_OK, "%s", err.msg);
            em_sample_iter_free(it);
        }
        em_series_set_close(ss);
        em_matcher_fini(&mt);
        em_querier_close(q);
        cr_assert_eq(em_block_writer_commit(w, NULL, &err), EM_OK, "%s", err.msg);
        em_block_writer_free(w);
        em_block_release(b);
    }
    em_buf_t got = EM_BUF_INIT, want = EM_BUF_INIT;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), PROMTOOL " tsdb dump %s", dir);
    cr_assert_eq(run(cmd, &got), 0, "promtool tsdb dump failed");
    gzFile f = gzopen(BLOCKS_DIR "/expected-dump.txt.gz", "rb");
    cr_assert_not_null(f);
    char buf[65536];
    int n;
    while ((n = gzread(f, buf, sizeof(buf))) > 0)
        em_buf_append(&want, buf, (size_t)n);
    gzclose(f);
    cr_assert_eq(got.len, want.len, "dump sizes differ: %zu vs %zu", got.len, want.len);
    cr_assert(memcmp(got.data, want.data, got.len) == 0, "promtool's dump of Ember's blocks differs");
    em_buf_fini(&got);
    em_buf_fini(&want);
    em_test_rmdir(dir);
}
