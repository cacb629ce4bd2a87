/* C side of bench/engine_head.cc: a head fed with node_exporter-like series (about 200 series per host,
 * labels __name__, cpu, env, instance, job, mode, region: ~6.5 labels per series), one sample per series
 * per round at a 15 s interval, several batches in flight as the HTTP handlers would have them.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/mem.h"
#include "engine/head.h"

#define IN_FLIGHT 8

typedef struct bench_head {
    em_head_t *h;
    char dir[PATH_MAX];
    size_t n_series;
    em_label_t *labels; /* n_series x 7 */
    char *strings;
    em_series_ref_t *refs;
    int64_t t;
    em_batch_t *batches[IN_FLIGHT];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int free_batches;
    int idx[IN_FLIGHT];
    int free_list[IN_FLIGHT];
    double rss_before_head; /* after the bench's own label arrays were built */
} bench_head_t;

static const char *const modes[] = {"idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"};

static void build_labels(bench_head_t *b)
{
    b->labels = em_malloc(sizeof(em_label_t) * 7 * b->n_series);
    b->strings = em_malloc(96 * b->n_series);
    for (size_t i = 0; i < b->n_series; i++) {
        size_t host = i / 200, k = i % 200;
        char *s = b->strings + 96 * i;
        char *metric = s, *inst = s + 40, *cpu = s + 70;
        snprintf(metric, 40, k < 64 ? "node_cpu_seconds_total" : "node_metric_%02zu_total", k % 81);
        snprintf(inst, 30, "host-%05zu:9100", host);
        snprintf(cpu, 8, "%zu", (k / 8) % 8);
        em_label_t *l = b->labels + 7 * i;
        size_t n = 0;
        l[n++] = (em_label_t){"__name__", metric};
        if (k < 64)
            l[n++] = (em_label_t){"cpu", cpu};
        l[n++] = (em_label_t){"env", host % 3 ? "prod" : "staging"};
        l[n++] = (em_label_t){"instance", inst};
        l[n++] = (em_label_t){"job", "node"};
        if (k < 64)
            l[n++] = (em_label_t){"mode", modes[k % 8]};
        l[n++] = (em_label_t){"region", host % 2 ? "eu-west" : "us-east"};
        while (n < 7)
            l[n++] = (em_label_t){NULL, NULL};
    }
}

static size_t n_labels(const em_label_t *l)
{
    size_t n = 0;
    while (n < 7 && l[n].name)
        n++;
    return n;
}

static void on_done(em_batch_t *batch, void *arg)
{
    bench_head_t *b = arg;
    pthread_mutex_lock(&b->mu);
    for (int i = 0; i < IN_FLIGHT; i++)
        if (b->batches[i] == batch)
            b->free_list[b->free_batches++] = i;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
}

static em_batch_t *take_batch(bench_head_t *b)
{
    pthread_mutex_lock(&b->mu);
    while (b->free_batches == 0)
        pthread_cond_wait(&b->cv, &b->mu);
    em_batch_t *batch = b->batches[b->free_list[--b->free_batches]];
    pthread_mutex_unlock(&b->mu);
    return batch;
}

static void drain(bench_head_t *b)
{
    pthread_mutex_lock(&b->mu);
    while (b->free_batches < IN_FLIGHT)
        pthread_cond_wait(&b->cv, &b->mu);
    pthread_mutex_unlock(&b->mu);
}

double bench_rss_bytes(void);

bench_head_t *bench_head_new(int shards, int wal, size_t n_series)
{
    bench_head_t *b = EM_NEW(bench_head_t);
    b->n_series = n_series;
    build_labels(b);
    b->refs = em_calloc(n_series, sizeof(em_series_ref_t));
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cv, NULL);
    for (int i = 0; i < IN_FLIGHT; i++) {
        b->batches[i] = em_batch_new();
        b->free_list[b->free_batches++] = i;
    }
    b->rss_before_head = bench_rss_bytes();
    em_head_opts_t o = {.n_shards = shards};
    if (wal) {
        snprintf(b->dir, sizeof(b->dir), "/tmp/ember-bench-head-XXXXXX");
        if (!mkdtemp(b->dir))
            abort();
        o.wal_dir = b->dir;
    }
    em_err_t err;
    if (em_head_open(&o, &b->h, &err) != EM_OK) {
        fprintf(stderr, "head: %s\n", err.msg);
        abort();
    }
    b->t = 1700000000000LL;
    return b;
}

/* Append one sample to every series, in batches of batch_size series. Returns samples appended. */
size_t bench_head_round(bench_head_t *b, size_t batch_size, int use_refs)
{
    size_t appended = 0;
    b->t += 15000;
    for (size_t first = 0; first < b->n_series; first += batch_size) {
        em_batch_t *batch = take_batch(b);
        em_batch_reset(batch);
        size_t last = first + batch_size < b->n_series ? first + batch_size : b->n_series;
        for (size_t i = first; i < last; i++) {
            em_labels_t ls = {b->labels + 7 * i, n_labels(b->labels + 7 * i)};
            em_batch_add_series(batch, &ls, false, use_refs ? b->refs[i] : 0);
            em_batch_add_sample(batch, b->t + (int64_t)(i % 7), (double)(b->t / 1000 % 100000) + (double)i * 0.01);
        }
        em_head_append(b->h, batch, on_done, b);
        appended += last - first;
    }
    drain(b);
    return appended;
}

double bench_head_bytes_per_series(bench_head_t *b)
{
    em_head_stats_t st;
    em_head_stats(b->h, &st);
    return st.series ? (double)st.bytes / (double)st.series : 0;
}

double bench_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (double)rss * (double)sysconf(_SC_PAGESIZE);
}

/* Close and reopen the head from its WAL; returns the seconds replay took. */
double bench_head_reopen(bench_head_t *b, int shards)
{
    em_head_close(b->h);
    em_head_opts_t o = {.n_shards = shards, .wal_dir = b->dir};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    em_err_t err;
    if (em_head_open(&o, &b->h, &err) != EM_OK)
        abort();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

void bench_head_free(bench_head_t *b)
{
    em_head_close(b->h);
    for (int i = 0; i < IN_FLIGHT; i++)
        em_batch_free(b->batches[i]);
    if (b->dir[0])
        em_remove_all(b->dir, NULL);
    free(b->labels);
    free(b->strings);
    free(b->refs);
    free(b);
}

double bench_head_rss_before(bench_head_t *b)
{
    return b->rss_before_head;
}
