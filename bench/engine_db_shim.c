/* C side of bench/engine_db.cc: data directories of blocks written with the block writer (node-exporter-
 * like series: counters growing in small steps, 15 s scrapes), then timed compaction and long-range
 * queries through the db.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "base/mem.h"
#include "engine/block.h"
#include "engine/db.h"

#define STEP_MS 15000LL

/* Write one block of n_series series over [mint, maxt) into dir. Returns samples written. */
static size_t write_block(const char *dir, size_t n_series, int64_t mint, int64_t maxt)
{
    em_block_writer_opts_t o = {.min_time_ms = mint, .max_time_ms = maxt};
    em_block_writer_t *w;
    if (em_block_writer_new(dir, &o, &w, NULL) != EM_OK)
        abort();
    size_t n = (size_t)((maxt - mint) / STEP_MS), total = 0;
    int64_t *ts = em_malloc(n * sizeof(int64_t));
    double *vs = em_malloc(n * sizeof(double));
    /* Label names sort __name__, cpu, instance, job, so series go in (cpu, instance) order; instance
     * numbers are zero-padded so text order is numeric order. n_series is a multiple of 8. */
    for (size_t k = 0; k < n_series; k++) {
        size_t s = (k % (n_series / 8)) * 8 + k / (n_series / 8);
        char inst[32], cpu[8];
        snprintf(inst, sizeof(inst), "host-%05zu:9100", s / 8);
        snprintf(cpu, sizeof(cpu), "%zu", s % 8);
        em_label_t l[4] = {
            {"__name__", "node_cpu_seconds_total"}, {"cpu", cpu}, {"instance", inst}, {"job", "node"}};
        em_labels_t ls = {l, 4};
        double v = (double)s;
        for (size_t i = 0; i < n; i++) {
            ts[i] = mint + (int64_t)i * STEP_MS + (int64_t)((i * 7 + s) % 3);
            v += 0.01 * (double)((i + s) % 5);
            vs[i] = v;
        }
        if (em_block_writer_add_samples(w, &ls, ts, vs, n, NULL) != EM_OK)
            abort();
        total += n;
    }
    free(ts);
    free(vs);
    if (em_block_writer_commit(w, NULL, NULL) != EM_OK)
        abort();
    em_block_writer_free(w);
    return total;
}

int bench_db_make(const char *dir, size_t n_series, size_t n_blocks, int64_t block_ms, size_t *samples)
{
    em_remove_all(dir, NULL);
    if (em_mkdir_all(dir, NULL) != EM_OK)
        return -1;
    size_t total = 0;
    for (size_t b = 0; b < n_blocks; b++)
        total += write_block(dir, n_series, (int64_t)b * block_ms, (int64_t)(b + 1) * block_ms);
    *samples = total;
    return 0;
}

struct bench_db {
    em_db_t *db;
};

struct bench_db *bench_db_open(const char *dir, int64_t min_block_ms, int64_t max_block_ms)
{
    em_db_opts_t o = {.dir = dir,
                      .min_block_ms = min_block_ms,
                      .max_block_ms = max_block_ms,
                      .head_shards = 1,
                      .no_background = true,
                      .no_lockfile = true};
    struct bench_db *b = EM_NEW(struct bench_db);
    if (em_db_open(&o, &b->db, NULL) != EM_OK)
        abort();
    return b;
}

void bench_db_close(struct bench_db *b)
{
    em_db_close(b->db);
    free(b);
}

size_t bench_db_n_blocks(struct bench_db *b)
{
    em_db_block_info_t *v;
    size_t n = em_db_blocks(b->db, &v);
    free(v);
    return n;
}

int bench_db_maintain(struct bench_db *b)
{
    return em_db_maintain(b->db, NULL);
}

/* Read every sample of the series matching instance=~inst_re over [mint, maxt]; returns the count. */
size_t bench_db_query(struct bench_db *b, const char *inst_re, int64_t mint, int64_t maxt)
{
    em_rcu_thread_online();
    em_querier_t *q;
    if (em_queryable_querier(em_db_queryable(b->db), mint, maxt, &q, NULL) != EM_OK)
        abort();
    em_matcher_t m[2];
    em_matcher_init(&m[0], EM_MATCH_EQ, "__name__", "node_cpu_seconds_total", NULL);
    em_matcher_init(&m[1], EM_MATCH_RE, "instance", inst_re, NULL);
    const em_matcher_t *ms[] = {&m[0], &m[1]};
    em_series_set_t *s;
    if (em_querier_select(q, true, NULL, ms, 2, &s, NULL) != EM_OK)
        abort();
    size_t n = 0;
    double sum = 0;
    while (em_series_set_next(s) == EM_OK) {
        em_sample_iter_t *it;
        em_series_set_samples(s, &it);
        while (em_sample_iter_next(it) == EM_OK) {
            int64_t t;
            double v;
            em_sample_iter_at(it, &t, &v);
            sum += v;
            n++;
        }
        em_sample_iter_free(it);
    }
    em_series_set_close(s);
    em_matcher_fini(&m[0]);
    em_matcher_fini(&m[1]);
    em_querier_close(q);
    return sum < 0 ? 0 : n;
}

int bench_db_copy(const char *from, const char *to)
{
    char cmd[2 * PATH_MAX + 32];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
    return system(cmd);
}

void bench_db_remove(const char *dir)
{
    em_remove_all(dir, NULL);
}
