/* C side of bench/engine_memindex.cc: node-exporter-like series, an index over them, and queries. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/urcu-memb.h>

#include "base/mem.h"
#include "engine/memindex.h"

#define N_HOSTS 500
#define N_CPUS 10
#define N_SCALAR 68
#define N_DEVICE_METRICS 10

typedef struct bm_series {
    size_t n;
    em_label_t *labels; /* 6 slots per series */
    em_labels_t *ls;
    char **strings; /* owned, freed at the end */
    size_t n_strings;
} bm_series_t;

static const char *const modes[] = {"idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"};
static const char *const devices[] = {"sda", "sdb", "eth0", "lo"};

static char *keep(bm_series_t *s, const char *str)
{
    s->strings = em_realloc(s->strings, (s->n_strings + 1) * sizeof(char *));
    return s->strings[s->n_strings++] = em_strdup(str);
}

static void add_series(bm_series_t *s, const char *name, const char *cpu, const char *device,
                       const char *instance, const char *mode, bool unique)
{
    em_label_t *l = s->labels + 6 * s->n;
    size_t k = 0;
    l[k++] = (em_label_t){"__name__", name};
    if (cpu)
        l[k++] = (em_label_t){"cpu", cpu};
    if (device)
        l[k++] = (em_label_t){"device", device};
    if (unique) {
        char buf[32];
        snprintf(buf, sizeof(buf), "%zx", s->n * 2654435761u);
        l[k++] = (em_label_t){"id", keep(s, buf)};
    }
    l[k++] = (em_label_t){"instance", instance};
    l[k++] = (em_label_t){"job", "node"};
    if (mode)
        l[k++] = (em_label_t){"mode", mode};
    s->ls[s->n] = (em_labels_t){l, k};
    s->n++;
}

/* Up to n series, host by host: node_cpu_seconds_total (10 cpus x 8 modes), node_cpu_guest_seconds_total
 * (10 cpus x 2 modes), 10 per-device metrics (4 devices) and 68 plain metrics: 80 metric names, 208
 * series per host, 500 hosts. With 'unique', every series also gets an 'id' label of its own (a
 * high-cardinality label, as pod or container ids are). */
void *bm_series_make(size_t n, bool unique)
{
    bm_series_t *s = em_calloc(1, sizeof(*s));
    s->labels = em_calloc(6 * n, sizeof(em_label_t));
    s->ls = em_calloc(n, sizeof(em_labels_t));
    char buf[64], *cpus[N_CPUS], *dev_names[N_DEVICE_METRICS], *scalar_names[N_SCALAR];
    for (int c = 0; c < N_CPUS; c++) {
        snprintf(buf, sizeof(buf), "%d", c);
        cpus[c] = keep(s, buf);
    }
    for (int m = 0; m < N_DEVICE_METRICS; m++) {
        snprintf(buf, sizeof(buf), "node_%s_metric_%d_total", m < 5 ? "disk" : "network", m);
        dev_names[m] = keep(s, buf);
    }
    for (int m = 0; m < N_SCALAR; m++) {
        snprintf(buf, sizeof(buf), "node_scalar_metric_%02d", m);
        scalar_names[m] = keep(s, buf);
    }
    for (int h = 0; h < N_HOSTS * 10 && s->n < n; h++) {
        snprintf(buf, sizeof(buf), "host-%03d.example.com:9100", h);
        const char *inst = keep(s, buf);
        for (int c = 0; c < N_CPUS && s->n < n; c++)
            for (int m = 0; m < 8 && s->n < n; m++)
                add_series(s, "node_cpu_seconds_total", cpus[c], NULL, inst, modes[m], unique);
        for (int c = 0; c < N_CPUS && s->n < n; c++)
            for (int m = 1; m < 8 && s->n < n; m += 6)
                add_series(s, "node_cpu_guest_seconds_total", cpus[c], NULL, inst, modes[m], unique);
        for (int m = 0; m < N_DEVICE_METRICS && s->n < n; m++)
            for (int d = 0; d < 4 && s->n < n; d++)
                add_series(s, dev_names[m], NULL, devices[d], inst, NULL, unique);
        for (int m = 0; m < N_SCALAR && s->n < n; m++)
            add_series(s, scalar_names[m], NULL, NULL, inst, NULL, unique);
    }
    return s;
}

void bm_series_free(void *p)
{
    bm_series_t *s = p;
    for (size_t i = 0; i < s->n_strings; i++)
        free(s->strings[i]);
    free(s->strings);
    free(s->labels);
    free(s->ls);
    free(s);
}

size_t bm_series_count(void *p)
{
    return ((bm_series_t *)p)->n;
}

void bm_rcu_register(void)
{
    static _Thread_local int registered;
    if (!registered)
        em_rcu_thread_online();
    registered = 1;
}

void *bm_index_build(void *series)
{
    bm_series_t *s = series;
    em_memindex_t *ix = em_memindex_new();
    for (size_t i = 0; i < s->n; i++)
        em_memindex_add(ix, (uint32_t)i + 1, &s->ls[i], NULL);
    return ix;
}

void bm_index_free(void *ix)
{
    em_memindex_free(ix);
}

size_t bm_index_bytes(void *ix)
{
    return em_memindex_bytes(ix);
}

/* Remove every 10th series in one call (the head's garbage collection of series without samples); returns
 * how many. */
size_t bm_index_remove_tenth(void *ix, void *series)
{
    bm_series_t *s = series;
    size_t n = 0;
    uint32_t *refs = em_malloc((s->n / 10 + 1) * sizeof(uint32_t));
    const em_labels_t **ls = em_malloc((s->n / 10 + 1) * sizeof(*ls));
    for (size_t i = 0; i < s->n; i += 10) {
        refs[n] = (uint32_t)i + 1;
        ls[n++] = &s->ls[i];
    }
    em_memindex_remove(ix, refs, n, ls);
    free(refs);
    free(ls);
    return n;
}

typedef struct bm_query {
    em_matcher_t m[3];
    size_t n;
    em_postings_t out;
} bm_query_t;

/* 0: {__name__="node_cpu_seconds_total", mode!="idle"}
 * 1: {__name__=~"node_(disk|network)_metric_[0-9]+_total"}   (PCRE2 over the 80 names)
 * 2: {instance=~"host-1.*"}                                   (prefix fast path over 500 hosts)
 * 3: {__name__="node_cpu_seconds_total", instance=~"host-00[0-9].example.com:9100", cpu=~"1|3"}
 * 4: {__name__=~"node_scalar_metric_0.", job!="node"}         (selects nothing after the subtraction)
 * 5: {job="node"}                                             (every series: copy of the largest list) */
void *bm_query_new(int which)
{
    bm_query_t *q = em_calloc(1, sizeof(*q));
    em_postings_init(&q->out);
    em_err_t err;
    int rc = EM_OK;
    switch (which) {
    case 0:
        rc |= em_matcher_init(&q->m[0], EM_MATCH_EQ, "__name__", "node_cpu_seconds_total", &err);
        rc |= em_matcher_init(&q->m[1], EM_MATCH_NEQ, "mode", "idle", &err);
        q->n = 2;
        break;
    case 1:
        rc |= em_matcher_init(&q->m[0], EM_MATCH_RE, "__name__", "node_(disk|network)_metric_[0-9]+_total",
                              &err);
        q->n = 1;
        break;
    case 2:
        rc |= em_matcher_init(&q->m[0], EM_MATCH_RE, "instance", "host-1.*", &err);
        q->n = 1;
        break;
    case 3:
        rc |= em_matcher_init(&q->m[0], EM_MATCH_EQ, "__name__", "node_cpu_seconds_total", &err);
        rc |= em_matcher_init(&q->m[1], EM_MATCH_RE, "instance", "host-00[0-9].example.com:9100", &err);
        rc |= em_matcher_init(&q->m[2], EM_MATCH_RE, "cpu", "1|3", &err);
        q->n = 3;
        break;
    case 4:
        rc |= em_matcher_init(&q->m[0], EM_MATCH_RE, "__name__", "node_scalar_metric_0.", &err);
        rc |= em_matcher_init(&q->m[1], EM_MATCH_NEQ, "job", "node", &err);
        q->n = 2;
        break;
    default:
        rc |= em_matcher_init(&q->m[0], EM_MATCH_EQ, "job", "node", &err);
        q->n = 1;
        break;
    }
    if (rc != EM_OK) {
        fprintf(stderr, "bad query %d: %s\n", which, err.msg);
        abort();
    }
    return q;
}

void bm_query_free(void *p)
{
    bm_query_t *q = p;
    for (size_t i = 0; i < q->n; i++)
        em_matcher_fini(&q->m[i]);
    em_postings_fini(&q->out);
    free(q);
}

size_t bm_select(void *ix, void *p)
{
    bm_query_t *q = p;
    const em_matcher_t *ms[3] = {&q->m[0], &q->m[1], &q->m[2]};
    urcu_memb_read_lock();
    em_memindex_select(ix, ms, q->n, &q->out);
    urcu_memb_read_unlock();
    return q->out.n;
}
