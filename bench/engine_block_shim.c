/* C side of bench/engine_block.cc: node_exporter-like data (bench/block_data.h) written into blocks,
 * read back, and compacted. Blocks go under a temporary directory removed by bench_block_env_free. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "bench/block_data.h"
#include "engine/block.h"

typedef struct bench_block_env {
    bd_data_t d;
    char dir[256];
    em_block_t *blocks[3]; /* three consecutive 2 h blocks of the same series, for reads and compaction */
    uint64_t n_samples3;   /* samples in the three */
    uint64_t seq;
} bench_block_env_t;

static void die(const char *what, const em_err_t *err)
{
    fprintf(stderr, "%s: %s\n", what, err ? err->msg : "");
    abort();
}

/* Write d's samples shifted by 'shift_ms' into a new block under parent; returns its path in out. */
static void write_block(const bd_data_t *d, const char *parent, int64_t shift_ms, bool fsync_, char *out,
                        size_t n)
{
    em_block_writer_opts_t o = {.min_time_ms = BD_T0_MS + shift_ms,
                                .max_time_ms = BD_T0_MS + shift_ms + 7200000,
                                .no_fsync = !fsync_};
    em_block_writer_t *w;
    em_err_t err = {0};
    if (em_block_writer_new(parent, &o, &w, &err) != EM_OK)
        die("writer", &err);
    int64_t *ts = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < d->n; i++) {
        const bd_series_t *s = &d->s[i];
        if (s->n > cap) {
            cap = s->n;
            ts = realloc(ts, cap * sizeof(*ts));
        }
        for (size_t k = 0; k < s->n; k++)
            ts[k] = s->ts[k] + shift_ms;
        if (em_block_writer_add_samples(w, &s->ls, ts, s->vs, s->n, &err) != EM_OK)
            die("add", &err);
    }
    free(ts);
    em_block_meta_t m;
    if (em_block_writer_commit(w, &m, &err) != EM_OK)
        die("commit", &err);
    em_block_writer_free(w);
    char id[EM_ULID_STR_LEN + 1];
    em_ulid_format(&m.ulid, id);
    snprintf(out, n, "%s/%s", parent, id);
    em_block_meta_fini(&m);
}

bench_block_env_t *bench_block_env_new(size_t hosts)
{
    bench_block_env_t *e = calloc(1, sizeof(*e));
    bd_data_init(&e->d, hosts, 7200000);
    snprintf(e->dir, sizeof(e->dir), "/tmp/ember-bench-block-XXXXXX");
    if (!mkdtemp(e->dir))
        abort();
    char in[300];
    snprintf(in, sizeof(in), "%s/in", e->dir);
    em_mkdir_all(in, NULL);
    for (int k = 0; k < 3; k++) {
        char path[512];
        write_block(&e->d, in, (int64_t)k * 7200000, false, path, sizeof(path));
        em_err_t err = {0};
        if (em_block_open(path, &e->blocks[k], &err) != EM_OK)
            die("open", &err);
        e->n_samples3 += e->d.n_samples;
    }
    return e;
}

void bench_block_env_free(bench_block_env_t *e)
{
    for (int k = 0; k < 3; k++)
        em_block_release(e->blocks[k]);
    em_remove_all(e->dir, NULL);
    bd_data_fini(&e->d);
    free(e);
}

uint64_t bench_block_samples(const bench_block_env_t *e)
{
    return e->d.n_samples;
}

/* Write one 2 h block (fsync or not); returns its size in bytes; the block is removed afterwards. */
uint64_t bench_block_write(bench_block_env_t *e, int fsync_)
{
    char out[300], path[512];
    snprintf(out, sizeof(out), "%s/w%" PRIu64, e->dir, e->seq++);
    em_mkdir_all(out, NULL);
    write_block(&e->d, out, 0, fsync_, path, sizeof(path));
    uint64_t size = em_dir_size(path);
    em_remove_all(out, NULL);
    return size;
}

/* Read every sample of the first block through a querier; returns the sample count. */
uint64_t bench_block_read(bench_block_env_t *e)
{
    em_querier_t *q;
    em_block_querier(e->blocks[0], INT64_MIN, INT64_MAX, &q, NULL);
    em_matcher_t m;
    em_matcher_init(&m, EM_MATCH_RE, "__name__", ".+", NULL);
    const em_matcher_t *ms[] = {&m};
    em_series_set_t *ss;
    if (em_querier_select(q, true, NULL, ms, 1, &ss, NULL) != EM_OK)
        abort();
    uint64_t n = 0;
    while (em_series_set_next(ss) == EM_OK) {
        em_sample_iter_t *it;
        em_series_set_samples(ss, &it);
        while (em_sample_iter_next(it) == EM_OK)
            n++;
        em_sample_iter_free(it);
    }
    em_series_set_close(ss);
    em_matcher_fini(&m);
    em_querier_close(q);
    return n;
}

/* Open and close the first block's directory (meta.json, mmap, symbols, offset tables). */
void bench_block_open(bench_block_env_t *e)
{
    em_block_t *b;
    em_err_t err = {0};
    if (em_block_open(em_block_dir(e->blocks[0]), &b, &err) != EM_OK)
        die("open", &err);
    em_block_release(b);
}

/* Compact the three blocks into one 6 h block (merge + write, chunks copied), or, overlapping = 1, the
 * first block with itself shifted by 1 ms... i.e. three copies of block 0 (every chunk overlaps and is
 * re-encoded). Returns the samples read. */
uint64_t bench_block_compact(bench_block_env_t *e, int overlapping)
{
    char out[300];
    snprintf(out, sizeof(out), "%s/c%" PRIu64, e->dir, e->seq++);
    em_mkdir_all(out, NULL);
    em_matcher_t m;
    em_matcher_init(&m, EM_MATCH_RE, "__name__", ".+", NULL);
    const em_matcher_t *ms[] = {&m};
    em_querier_t *q[3];
    em_series_set_t *sets[3];
    for (int k = 0; k < 3; k++) {
        em_block_t *b = overlapping ? e->blocks[0] : e->blocks[k];
        em_block_querier(b, INT64_MIN, INT64_MAX, &q[k], NULL);
        em_querier_select(q[k], true, NULL, ms, 1, &sets[k], NULL);
    }
    em_series_set_t *all = em_series_set_merge(sets, 3);
    em_block_writer_opts_t o = {
        .min_time_ms = BD_T0_MS, .max_time_ms = BD_T0_MS + 3 * 7200000, .level = 2, .no_fsync = true};
    em_block_meta_t meta;
    em_err_t err = {0};
    if (em_block_write_set(out, &o, all, &meta, &err) != EM_OK)
        die("compact", &err);
    em_series_set_close(all);
    for (int k = 0; k < 3; k++)
        em_querier_close(q[k]);
    em_matcher_fini(&m);
    em_remove_all(out, NULL);
    uint64_t n = overlapping ? 3 * e->d.n_samples : e->n_samples3;
    em_block_meta_fini(&meta);
    return n;
}
