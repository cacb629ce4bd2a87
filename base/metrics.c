/* Design: see metrics.h */
#include "base/metrics.h"
#include "base/mem.h"
#include "base/strconv.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct child {
    char *labels; /* "" for none */
    void *metric; /* em_counter_t / em_gauge_t / em_histogram_t */
} child_t;

typedef struct collector {
    em_collect_fn fn;
    void *arg;
} collector_t;

typedef struct family {
    char *name;
    char *help;
    em_metric_type_t type;
    child_t *children;
    size_t n_children, cap_children;
    collector_t *collectors;
    size_t n_collectors, cap_collectors;
} family_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static family_t *g_families; /* guarded by g_mu */
static size_t g_n, g_cap;    /* guarded by g_mu */

const double em_metrics_latency_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60};
const size_t em_metrics_latency_buckets_n = EM_ARRAY_LEN(em_metrics_latency_buckets);

/* Locks: requires g_mu held. */
static family_t *family_get(const char *name, const char *help, em_metric_type_t type)
{
    for (size_t i = 0; i < g_n; i++) {
        if (strcmp(g_families[i].name, name) == 0) {
            if (g_families[i].type != type) {
                fprintf(stderr, "ember: fatal: metric %s registered with two types\n", name);
                abort();
            }
            return &g_families[i];
        }
    }
    em_grow((void **)&g_families, &g_cap, g_n + 1, sizeof(family_t));
    family_t *f = &g_families[g_n++];
    memset(f, 0, sizeof(*f));
    f->name = em_strdup(name);
    f->help = em_strdup(help);
    f->type = type;
    return f;
}

static void *child_get(const char *name, const char *help, em_metric_type_t type, const char *labels,
                       void *(*make)(void *), void *make_arg)
{
    pthread_mutex_lock(&g_mu);
    family_t *f = family_get(name, help, type);
    if (!labels)
        labels = "";
    void *m = NULL;
    for (size_t i = 0; i < f->n_children; i++) {
        if (strcmp(f->children[i].labels, labels) == 0) {
            m = f->children[i].metric;
            break;
        }
    }
    if (!m) {
        m = make(make_arg);
        em_grow((void **)&f->children, &f->cap_children, f->n_children + 1, sizeof(child_t));
        f->children[f->n_children].labels = em_strdup(labels);
        f->children[f->n_children].metric = m;
        f->n_children++;
    }
    pthread_mutex_unlock(&g_mu);
    return m;
}

static void *make_counter(void *arg)
{
    em_counter_t *c = aligned_alloc(64, sizeof(em_counter_t));
    if (!c)
        abort();
    atomic_init(&c->v, 0);
    return c;
}

static void *make_gauge(void *arg)
{
    em_gauge_t *g = aligned_alloc(64, sizeof(em_gauge_t));
    if (!g)
        abort();
    atomic_init(&g->bits, 0);
    return g;
}

struct hist_spec {
    const double *bounds;
    size_t n;
};

static void *make_hist(void *arg)
{
    struct hist_spec *s = arg;
    em_histogram_t *h = EM_NEW(em_histogram_t);
    h->bounds = s->bounds;
    h->n_bounds = s->n;
    h->counts = em_calloc(s->n + 1, sizeof(_Atomic uint64_t));
    return h;
}

em_counter_t *em_counter_new(const char *name, const char *help, const char *labels)
{
    return child_get(name, help, EM_METRIC_COUNTER, labels, make_counter, NULL);
}

em_gauge_t *em_gauge_new(const char *name, const char *help, const char *labels)
{
    return child_get(name, help, EM_METRIC_GAUGE, labels, make_gauge, NULL);
}

em_histogram_t *em_histogram_new(const char *name, const char *help, const char *labels, const double *bounds,
                                 size_t n_bounds)
{
    struct hist_spec s = {bounds, n_bounds};
    return child_get(name, help, EM_METRIC_HISTOGRAM, labels, make_hist, &s);
}

static uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

static double bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, 8);
    return v;
}

void em_gauge_set(em_gauge_t *g, double v)
{
    atomic_store_explicit(&g->bits, dbits(v), memory_order_relaxed);
}

static void atomic_add_double(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, dbits(bitsd(old) + delta), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void em_gauge_add(em_gauge_t *g, double delta)
{
    atomic_add_double(&g->bits, delta);
}

double em_gauge_get(const em_gauge_t *g)
{
    return bitsd(atomic_load_explicit(&g->bits, memory_order_relaxed));
}

void em_histogram_observe(em_histogram_t *h, double v)
{
    size_t i = 0;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_add_double(&h->sum_bits, v);
}

void em_metrics_collector_add(const char *name, const char *help, em_metric_type_t type, em_collect_fn fn,
                              void *arg)
{
    pthread_mutex_lock(&g_mu);
    family_t *f = family_get(name, help, type);
    em_grow((void **)&f->collectors, &f->cap_collectors, f->n_collectors + 1, sizeof(collector_t));
    f->collectors[f->n_collectors].fn = fn;
    f->collectors[f->n_collectors].arg = arg;
    f->n_collectors++;
    pthread_mutex_unlock(&g_mu);
}

void em_metrics_collector_remove(em_collect_fn fn, void *arg)
{
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < g_n; i++) {
        family_t *f = &g_families[i];
        size_t w = 0;
        for (size_t r = 0; r < f->n_collectors; r++)
            if (!(f->collectors[r].fn == fn && f->collectors[r].arg == arg))
                f->collectors[w++] = f->collectors[r];
        f->n_collectors = w;
    }
    pthread_mutex_unlock(&g_mu);
}

void em_metrics_put_value(em_buf_t *out, double v)
{
    char tmp[EM_FLOAT_BUF];
    em_buf_append(out, tmp, em_fmt_float(v, 'g', tmp));
}

static const char *type_name(em_metric_type_t t)
{
    switch (t) {
    case EM_METRIC_COUNTER: return "counter";
    case EM_METRIC_GAUGE: return "gauge";
    case EM_METRIC_HISTOGRAM: return "histogram";
    default: return "untyped";
    }
}

static int family_cmp(const void *a, const void *b)
{
    return strcmp((*(family_t *const *)a)->name, (*(family_t *const *)b)->name);
}

static void put_series(em_buf_t *out, const char *name, const char *suffix, const char *labels,
                       const char *extra)
{
    em_buf_puts(out, name);
    em_buf_puts(out, suffix);
    bool has = labels[0] || (extra && extra[0]);
    if (has) {
        em_buf_putc(out, '{');
        em_buf_puts(out, labels);
        if (labels[0] && extra && extra[0])
            em_buf_putc(out, ',');
        if (extra)
            em_buf_puts(out, extra);
        em_buf_putc(out, '}');
    }
    em_buf_putc(out, ' ');
}

static void render_hist(em_buf_t *out, const family_t *f, const child_t *c)
{
    em_histogram_t *h = c->metric;
    uint64_t cum = 0;
    char le[EM_FLOAT_BUF + 8], tmp[EM_FLOAT_BUF];
    for (size_t i = 0; i <= h->n_bounds; i++) {
        cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (i < h->n_bounds) {
            em_fmt_float(h->bounds[i], 'g', tmp);
            snprintf(le, sizeof(le), "le=\"%s\"", tmp);
        } else {
            snprintf(le, sizeof(le), "le=\"+Inf\"");
        }
        put_series(out, f->name, "_bucket", c->labels, le);
        em_buf_printf(out, "%llu\n", (unsigned long long)cum);
    }
    put_series(out, f->name, "_sum", c->labels, NULL);
    em_metrics_put_value(out, bitsd(atomic_load_explicit(&h->sum_bits, memory_order_relaxed)));
    em_buf_putc(out, '\n');
    put_series(out, f->name, "_count", c->labels, NULL);
    em_buf_printf(out, "%llu\n", (unsigned long long)atomic_load_explicit(&h->count, memory_order_relaxed));
}

void em_metrics_render(em_buf_t *out)
{
    pthread_mutex_lock(&g_mu);
    family_t **order = em_malloc(sizeof(family_t *) * (g_n ? g_n : 1));
    for (size_t i = 0; i < g_n; i++)
        order[i] = &g_families[i];
    em_qsort(order, g_n, sizeof(family_t *), family_cmp);
    for (size_t i = 0; i < g_n; i++) {
        const family_t *f = order[i];
        if (f->n_children == 0 && f->n_collectors == 0)
            continue;
        em_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, type_name(f->type));
        for (size_t k = 0; k < f->n_children; k++) {
            const child_t *c = &f->children[k];
            if (f->type == EM_METRIC_HISTOGRAM) {
                render_hist(out, f, c);
                continue;
            }
            put_series(out, f->name, "", c->labels, NULL);
            if (f->type == EM_METRIC_COUNTER)
                em_buf_printf(out, "%llu\n", (unsigned long long)em_counter_get(c->metric));
            else {
                em_metrics_put_value(out, em_gauge_get(c->metric));
                em_buf_putc(out, '\n');
            }
        }
        for (size_t k = 0; k < f->n_collectors; k++)
            f->collectors[k].fn(out, f->collectors[k].arg);
    }
    free(order);
    pthread_mutex_unlock(&g_mu);
}
