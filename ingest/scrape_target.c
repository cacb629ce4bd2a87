/* Design: see scrape.h. This file: target labels (Prometheus's PopulateLabels), URLs, Accept header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/duration.h"
#include "base/mem.h"
#include "ingest/relabel.h"
#include "ingest/scrape.h"

#define PARAM_PREFIX "__param_"

static const char *dur_str(em_arena_t *a, int64_t ms)
{
    char d[32];
    em_duration_format(ms, d);
    return em_arena_strdup(a, d);
}

static em_labels_t copy_sorted(em_labels_builder_t *b, em_arena_t *a)
{
    em_labels_t ls = em_labels_builder_labels(b);
    em_label_t *v = em_arena_alloc(a, sizeof(em_label_t) * (ls.n ? ls.n : 1));
    for (size_t i = 0; i < ls.n; i++) { /* deep: discovery may free its strings on the next refresh */
        v[i].name = em_arena_strdup(a, ls.v[i].name);
        v[i].value = em_arena_strdup(a, ls.v[i].value);
    }
    return (em_labels_t){v, ls.n};
}

static void set_default(em_labels_builder_t *b, const char *name, const char *value)
{
    const char *v = em_labels_builder_get(b, name);
    if (!v || !*v)
        em_labels_builder_set(b, name, value);
}

static int check_after_relabel(em_labels_builder_t *b, em_err_t *err)
{
    const char *addr = em_labels_builder_get(b, "__address__");
    if (!addr || !*addr)
        return em_err_set(err, EM_EINVAL, "no address");
    if (strchr(addr, '/'))
        return em_err_set(err, EM_EINVAL, "\"%s\" is not a valid hostname", addr);
    const char *iv = em_labels_builder_get(b, "__scrape_interval__");
    const char *tv = em_labels_builder_get(b, "__scrape_timeout__");
    int64_t ims = 0, tms = 0;
    em_err_t e;
    if (em_duration_parse(iv ? iv : "", iv ? strlen(iv) : 0, &ims, &e) != EM_OK)
        return em_err_set(err, EM_EINVAL, "error parsing scrape interval: %s", e.msg);
    if (ims == 0)
        return em_err_set(err, EM_EINVAL, "scrape interval cannot be 0");
    if (em_duration_parse(tv ? tv : "", tv ? strlen(tv) : 0, &tms, &e) != EM_OK)
        return em_err_set(err, EM_EINVAL, "error parsing scrape timeout: %s", e.msg);
    if (tms == 0)
        return em_err_set(err, EM_EINVAL, "scrape timeout cannot be 0");
    if (tms > ims)
        return em_err_set(err, EM_EINVAL,
                          "scrape timeout cannot be greater than scrape interval (\"%s\" > \"%s\")", tv, iv);
    return EM_OK;
}

int em_scrape_target_labels(const em_scrape_config_t *sc, const em_labels_t *target, const em_labels_t *group,
                            em_arena_t *a, bool *kept, em_labels_t *labels, em_labels_t *discovered,
                            em_err_t *err)
{
    em_labels_builder_t b;
    em_labels_builder_init(&b, target);
    /* The target's own labels win over the group's. */
    for (size_t i = 0; group && i < group->n; i++)
        if (!em_labels_get(target, group->v[i].name))
            em_labels_builder_set(&b, group->v[i].name, group->v[i].value);
    set_default(&b, "job", sc->job_name);
    set_default(&b, "__scrape_interval__", dur_str(a, sc->scrape_interval_ms));
    set_default(&b, "__scrape_timeout__", dur_str(a, sc->scrape_timeout_ms));
    set_default(&b, "__metrics_path__", sc->metrics_path);
    set_default(&b, "__scheme__", sc->scheme);
    for (size_t i = 0; i < sc->params.n; i++) {
        const em_config_param_t *p = &sc->params.v[i];
        if (p->values.n == 0)
            continue;
        size_t nl = strlen(p->name);
        char *name = em_arena_alloc(a, sizeof(PARAM_PREFIX) + nl);
        memcpy(name, PARAM_PREFIX, sizeof(PARAM_PREFIX) - 1);
        memcpy(name + sizeof(PARAM_PREFIX) - 1, p->name, nl + 1);
        em_labels_builder_set(&b, name, p->values.v[0]);
    }
    em_labels_t pre = copy_sorted(&b, a);
    int rc = EM_OK;
    bool keep = em_relabel_process(&b, sc->relabel_configs, sc->n_relabel_configs, a);
    if (keep) {
        rc = check_after_relabel(&b, err);
        if (rc != EM_OK)
            goto out;
        /* Meta labels go after relabelling; other reserved labels stay with the target. */
        for (size_t i = 0; i < b.n;) {
            if (strncmp(b.v[i].name, "__meta_", 7) == 0)
                em_labels_builder_del(&b, b.v[i].name);
            else
                i++;
        }
        set_default(&b, "instance", em_labels_builder_get(&b, "__address__"));
        em_labels_t res = em_labels_builder_labels(&b);
        for (size_t i = 0; i < res.n; i++) {
            if (!em_utf8_valid(res.v[i].value, strlen(res.v[i].value))) {
                rc = em_err_set(err, EM_EINVAL, "invalid label value for \"%s\": \"%s\"", res.v[i].name,
                                res.v[i].value);
                goto out;
            }
        }
        *labels = copy_sorted(&b, a);
    }
    *kept = keep;
    *discovered = pre;
out:
    em_labels_builder_fini(&b);
    return rc;
}

/* Go's url.QueryEscape. */
static void query_escape(em_buf_t *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '_' || c == '.' || c == '~') {
            em_buf_putc(out, (char)c);
        } else if (c == ' ') {
            em_buf_putc(out, '+');
        } else {
            em_buf_putc(out, '%');
            em_buf_putc(out, hex[c >> 4]);
            em_buf_putc(out, hex[c & 15]);
        }
    }
}

typedef struct qparam {
    const char *name;
    const char *first; /* overridden by a __param_ label */
    const em_config_strs_t *rest;
} qparam_t;

static int qparam_cmp(const void *x, const void *y)
{
    return strcmp(((const qparam_t *)x)->name, ((const qparam_t *)y)->name);
}

void em_scrape_target_url(const em_scrape_config_t *sc, const em_labels_t *ls, em_buf_t *out)
{
    const char *scheme = em_labels_get(ls, "__scheme__"), *addr = em_labels_get(ls, "__address__");
    const char *path = em_labels_get(ls, "__metrics_path__");
    em_buf_printf(out, "%s://%s", scheme ? scheme : "http", addr ? addr : "");
    if (path && path[0] != '/' && path[0])
        em_buf_putc(out, '/');
    em_buf_puts(out, path ? path : "");
    size_t cap = sc->params.n + ls->n, n = 0;
    qparam_t *q = em_calloc(cap ? cap : 1, sizeof(qparam_t));
    for (size_t i = 0; i < sc->params.n; i++)
        q[n++] = (qparam_t){sc->params.v[i].name, NULL, &sc->params.v[i].values};
    for (size_t i = 0; i < ls->n; i++) {
        if (strncmp(ls->v[i].name, PARAM_PREFIX, sizeof(PARAM_PREFIX) - 1) != 0)
            continue;
        const char *k = ls->v[i].name + sizeof(PARAM_PREFIX) - 1;
        size_t j = 0;
        while (j < n && strcmp(q[j].name, k) != 0)
            j++;
        if (j == n)
            q[n++] = (qparam_t){k, NULL, NULL};
        q[j].first = ls->v[i].value;
    }
    em_qsort(q, n, sizeof(qparam_t), qparam_cmp);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        size_t nv = q[i].rest ? q[i].rest->n : 0;
        if (nv == 0 && q[i].first)
            nv = 1;
        for (size_t k = 0; k < nv; k++) {
            const char *v = k == 0 && q[i].first ? q[i].first : q[i].rest->v[k];
            em_buf_putc(out, first ? '?' : '&');
            first = false;
            query_escape(out, q[i].name);
            em_buf_putc(out, '=');
            query_escape(out, v);
        }
    }
    free(q);
}

static const char *protocol_header(const char *p, bool *escaping)
{
    *escaping = false;
    if (strcmp(p, "OpenMetricsText1.0.0") == 0) {
        *escaping = true;
        return "application/openmetrics-text;version=1.0.0";
    }
    if (strcmp(p, "OpenMetricsText0.0.1") == 0)
        return "application/openmetrics-text;version=0.0.1";
    if (strcmp(p, "PrometheusText1.0.0") == 0) {
        *escaping = true;
        return "text/plain;version=1.0.0";
    }
    if (strcmp(p, "PrometheusText0.0.4") == 0)
        return "text/plain;version=0.0.4";
    return NULL; /* PrometheusProto: Ember does not parse the protobuf format, so it does not ask for it */
}

void em_scrape_accept_header(const em_scrape_config_t *sc, em_buf_t *out)
{
    /* Prometheus 3's acceptHeader: weights count down from (number of known protocols + 1). */
    int weight = 6;
    const char *esc = sc->metric_name_escaping_scheme ? sc->metric_name_escaping_scheme : "underscores";
    for (size_t i = 0; i < sc->scrape_protocols.n; i++) {
        bool escaping;
        const char *h = protocol_header(sc->scrape_protocols.v[i], &escaping);
        if (!h)
            continue;
        em_buf_puts(out, h);
        if (escaping)
            em_buf_printf(out, ";escaping=%s", esc);
        em_buf_printf(out, ";q=0.%d,", weight);
        weight--;
    }
    em_buf_printf(out, "*/*;q=0.%d", weight);
}
