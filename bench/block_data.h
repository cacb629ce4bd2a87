/* bench/block_data.h -- node_exporter-like series for the block benchmarks (bench/engine_block.cc and
 * bench/tools/blockgen.c share it, so Ember's and Prometheus's blocks hold the same samples).
 *
 * Each host has 209 series in BASELINE.md's proportions: float counters with 0.01 resolution
 * (node_cpu_seconds_total, 8 cpus x 8 modes, and others), integer counters (network, disk), rare integer
 * counters (netstat, vmstat), integer gauges unchanged in 30 % of scrapes (memory, filesystem), a few
 * float gauges (load) and constants. Labels: __name__, env, instance, job, region and 0-2 family labels.
 * Scrapes every 15 s with a few milliseconds of jitter over [t0, t0 + duration). Fixed seed.
 */
#ifndef EMBER_BENCH_BLOCK_DATA_H
#define EMBER_BENCH_BLOCK_DATA_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "engine/labels.h"

#define BD_SERIES_PER_HOST 209
#define BD_T0_MS 1699999200000LL /* a 2 h boundary */

enum { BD_FCOUNTER, BD_ICOUNTER, BD_RARE, BD_IGAUGE, BD_FGAUGE, BD_CONST };

typedef struct bd_series {
    em_label_t lv[8];
    em_labels_t ls;
    char store[256];
    int kind;
    int64_t *ts;
    double *vs;
    size_t n;
} bd_series_t;

typedef struct bd_data {
    bd_series_t *s;
    size_t n;
    size_t n_samples;
} bd_data_t;

static uint64_t bd_rng_state;
static inline uint64_t bd_rng(void)
{
    uint64_t x = bd_rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    bd_rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

/* The family of series j (0..208) of a host: metric name, kind, family label name/value. */
static inline void bd_family(size_t j, char *name, size_t nn, int *kind, char *lname, char *lval,
                             char *l2name, char *l2val)
{
    static const char *modes[] = {"idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"};
    lname[0] = l2name[0] = 0;
    if (j < 64) {
        snprintf(name, nn, "node_cpu_seconds_total");
        *kind = BD_FCOUNTER;
        snprintf(lname, 16, "cpu");
        snprintf(lval, 16, "%zu", j / 8);
        snprintf(l2name, 16, "mode");
        snprintf(l2val, 16, "%s", modes[j % 8]);
    } else if (j < 75) { /* more float counters: 75 of 209 = 36 % */
        snprintf(name, nn, "node_schedstat_seconds_%zu_total", j - 64);
        *kind = BD_FCOUNTER;
    } else if (j < 121) { /* integer counters: 46 = 22 % */
        snprintf(name, nn, "node_network_bytes_%zu_total", (j - 75) / 4);
        *kind = BD_ICOUNTER;
        snprintf(lname, 16, "device");
        snprintf(lval, 16, "eth%zu", (j - 75) % 4);
    } else if (j < 142) { /* rare counters: 21 = 10 % */
        snprintf(name, nn, "node_netstat_%zu_total", j - 121);
        *kind = BD_RARE;
    } else if (j < 192) { /* integer gauges: 50 = 24 % */
        snprintf(name, nn, "node_memory_%zu_bytes", (j - 142) / 2);
        *kind = BD_IGAUGE;
        snprintf(lname, 16, "fstype");
        snprintf(lval, 16, "%s", (j % 2) ? "ext4" : "tmpfs");
    } else if (j < 195) { /* float gauges: 3 = 1.4 % */
        snprintf(name, nn, "node_load%zu", j - 191);
        *kind = BD_FGAUGE;
    } else { /* constants: 14 = 7 % */
        snprintf(name, nn, "node_info_%zu", j - 195);
        *kind = BD_CONST;
    }
}

static inline void bd_gen_values(bd_series_t *s, int64_t t0, int64_t dur_ms)
{
    size_t cap = (size_t)(dur_ms / 15000) + 2;
    s->ts = (int64_t *)em_malloc(cap * sizeof(int64_t));
    s->vs = (double *)em_malloc(cap * sizeof(double));
    int64_t phase = (int64_t)(bd_rng() % 15000);
    double v = (double)(bd_rng() % 100000) / 100.0;
    if (s->kind == BD_ICOUNTER || s->kind == BD_RARE)
        v = (double)(bd_rng() % 1000000);
    if (s->kind == BD_IGAUGE)
        v = (double)(4096 * (200000 + (int64_t)(bd_rng() % 50000)));
    s->n = 0;
    for (int64_t k = 0;; k++) {
        int64_t t = t0 + phase + k * 15000 + (int64_t)(bd_rng() % 5) - 2;
        if (t >= t0 + dur_ms)
            break;
        if (t < t0)
            continue;
        switch (s->kind) {
        case BD_FCOUNTER:
            v = (double)(int64_t)(v * 100.0 + 0.5 + (double)(bd_rng() % 1500)) / 100.0;
            break;
        case BD_ICOUNTER:
            v += (double)(bd_rng() % 100000);
            break;
        case BD_RARE:
            if (bd_rng() % 20 == 0)
                v += (double)(bd_rng() % 100);
            break;
        case BD_IGAUGE:
            if (bd_rng() % 10 >= 3)
                v = (double)(4096 * (200000 + (int64_t)(bd_rng() % 50000)));
            break;
        case BD_FGAUGE:
            v = (double)(int64_t)(v * 100 + (double)(bd_rng() % 41) - 20) / 100.0;
            if (v < 0)
                v = 0.01;
            break;
        default:
            break;
        }
        s->ts[s->n] = t;
        s->vs[s->n++] = v;
    }
}

/* The labels of s read from its own storage (qsort moves the structs, so s->lv may be stale). */
static inline em_labels_t bd_view(const bd_series_t *s, em_label_t *out)
{
    const char *p = s->store;
    for (size_t i = 0; i < s->ls.n; i++) {
        out[i].name = p;
        p += strlen(p) + 1;
        out[i].value = p;
        p += strlen(p) + 1;
    }
    return (em_labels_t){out, s->ls.n};
}

static inline int bd_series_cmp(const void *a, const void *b)
{
    em_label_t la[8], lb[8];
    em_labels_t x = bd_view((const bd_series_t *)a, la), y = bd_view((const bd_series_t *)b, lb);
    return em_labels_cmp(&x, &y);
}

/* Point each series' labels at its own storage (after the array moved). */
static inline void bd_fix_labels(bd_series_t *s)
{
    char *p = s->store;
    for (size_t i = 0; i < s->ls.n; i++) {
        s->lv[i].name = p;
        p += strlen(p) + 1;
        s->lv[i].value = p;
        p += strlen(p) + 1;
    }
    s->ls.v = s->lv;
}

/* hosts * 209 series over [BD_T0_MS, BD_T0_MS + dur_ms), sorted by labels. */
static inline void bd_data_init(bd_data_t *d, size_t hosts, int64_t dur_ms)
{
    bd_rng_state = 0x5eed5eed1234ull;
    d->n = hosts * BD_SERIES_PER_HOST;
    d->s = (bd_series_t *)em_calloc(d->n, sizeof(bd_series_t));
    d->n_samples = 0;
    for (size_t h = 0; h < hosts; h++)
        for (size_t j = 0; j < BD_SERIES_PER_HOST; j++) {
            bd_series_t *s = &d->s[h * BD_SERIES_PER_HOST + j];
            char name[64], ln[16], lv[16], l2n[16], l2v[16], inst[32], region[16];
            bd_family(j, name, sizeof(name), &s->kind, ln, lv, l2n, l2v);
            snprintf(inst, sizeof(inst), "host-%05zu:9100", h);
            snprintf(region, sizeof(region), "region-%zu", h % 4);
            const char *pairs[8][2] = {{"__name__", name}, {"env", "prod"},    {"instance", inst},
                                       {"job", "node"},    {"region", region}, {ln, lv},
                                       {l2n, l2v}};
            /* store name\0value\0... then sort the pairs by name */
            em_label_t tmp[8];
            size_t n = 0;
            for (size_t k = 0; k < 7; k++)
                if (pairs[k][0][0])
                    tmp[n++] = (em_label_t){pairs[k][0], pairs[k][1]};
            em_labels_sort(tmp, n);
            char *p = s->store;
            for (size_t k = 0; k < n; k++) {
                size_t a = strlen(tmp[k].name) + 1, b = strlen(tmp[k].value) + 1;
                memcpy(p, tmp[k].name, a);
                memcpy(p + a, tmp[k].value, b);
                p += a + b;
            }
            s->ls.n = n;
            bd_fix_labels(s);
            bd_gen_values(s, BD_T0_MS, dur_ms);
            d->n_samples += s->n;
        }
    qsort(d->s, d->n, sizeof(bd_series_t), bd_series_cmp);
    for (size_t i = 0; i < d->n; i++)
        bd_fix_labels(&d->s[i]);
}

static inline void bd_data_fini(bd_data_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->s[i].ts);
        free(d->s[i].vs);
    }
    free(d->s);
}

#endif
