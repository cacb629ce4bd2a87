/* Design: see scrape.h. This file: the JSON behind /api/v1/targets and /api/v1/targets/metadata. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/duration.h"
#include "base/mem.h"
#include "base/strconv.h"
#include "engine/matcher.h"
#include "ingest/scrape_int.h"

static void put_str(em_buf_t *b, const char *s)
{
    em_buf_put_json_str(b, s, strlen(s));
}

static void put_labels(em_buf_t *b, const em_labels_t *ls, bool public_only)
{
    em_buf_putc(b, '{');
    bool first = true;
    for (size_t i = 0; i < ls->n; i++) {
        if (public_only && strncmp(ls->v[i].name, "__", 2) == 0)
            continue;
        if (!first)
            em_buf_putc(b, ',');
        first = false;
        put_str(b, ls->v[i].name);
        em_buf_putc(b, ':');
        put_str(b, ls->v[i].value);
    }
    em_buf_putc(b, '}');
}

/* Go's time.Time JSON (RFC 3339 with nanoseconds, trailing zeros trimmed), UTC; the zero time when
 * the target was never scraped. */
static void put_time(em_buf_t *b, int64_t t_ms)
{
    if (t_ms <= 0) {
        em_buf_puts(b, "\"0001-01-01T00:00:00Z\"");
        return;
    }
    time_t secs = (time_t)(t_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char s[64];
    size_t n = strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    int ms = (int)(t_ms % 1000);
    if (ms) {
        n += (size_t)snprintf(s + n, sizeof(s) - n, ".%03d", ms);
        while (s[n - 1] == '0')
            s[--n] = '\0';
    }
    em_buf_printf(b, "\"%sZ\"", s);
}

/* Go's encoding/json float64: 'f' between 1e-6 and 1e21, 'e' outside. */
static void put_float(em_buf_t *b, double v)
{
    char s[EM_FLOAT_BUF];
    double a = v < 0 ? -v : v;
    size_t n = em_fmt_float(v, (a != 0 && (a < 1e-6 || a >= 1e21)) ? 'e' : 'f', s);
    em_buf_append(b, s, n);
}

/* Prometheus's getGlobalURL: a target on a loopback host gets the externally reachable host. */
static void global_url(const em_scrape_manager_t *m, const char *url, em_buf_t *out)
{
    const char *sep = strstr(url, "://");
    if (!sep) {
        em_buf_puts(out, url);
        return;
    }
    const char *host = sep + 3, *end = host + strcspn(host, "/?");
    const char *colon = NULL;
    for (const char *p = host; p < end; p++)
        if (*p == ':')
            colon = p;
    if (!colon || (host[0] == '[' && colon < strchr(host, ']'))) {
        em_buf_puts(out, url);
        return;
    }
    size_t hl = (size_t)(colon - host);
    const char *h = host;
    if (hl >= 2 && host[0] == '[') {
        h = host + 1;
        hl -= 2;
    }
    bool local = (hl == 9 && memcmp(h, "127.0.0.1", 9) == 0) || (hl == 9 && memcmp(h, "localhost", 9) == 0) ||
                 (hl == 3 && memcmp(h, "::1", 3) == 0);
    if (!local) {
        em_buf_puts(out, url);
        return;
    }
    size_t pl = (size_t)(end - colon - 1);
    const char *ext = m->o.external_host;
    if (pl == strlen(m->o.listen_port) && memcmp(colon + 1, m->o.listen_port, pl) == 0) {
        em_buf_printf(out, "%s://%s", m->o.external_scheme, ext);
    } else {
        const char *ec = strrchr(ext, ':');
        em_buf_append(out, url, (size_t)(host - url));
        em_buf_append(out, ext, ec ? (size_t)(ec - ext) : strlen(ext));
        em_buf_append(out, colon, pl + 1);
    }
    em_buf_puts(out, end);
}

static void put_active(const em_scrape_manager_t *m, const scrape_pool_t *p, const scrape_target_t *t,
                       em_buf_t *b)
{
    em_buf_puts(b, "{\"discoveredLabels\":");
    put_labels(b, &t->discovered, false);
    em_buf_puts(b, ",\"labels\":");
    put_labels(b, &t->loop.target_labels, true);
    em_buf_puts(b, ",\"scrapePool\":");
    put_str(b, p->name);
    em_buf_puts(b, ",\"scrapeUrl\":");
    put_str(b, t->url);
    em_buf_t g = EM_BUF_INIT;
    global_url(m, t->url, &g);
    em_buf_puts(b, ",\"globalUrl\":");
    put_str(b, g.data ? g.data : "");
    em_buf_fini(&g);
    em_buf_puts(b, ",\"lastError\":");
    put_str(b, t->last_error);
    em_buf_puts(b, ",\"lastScrape\":");
    put_time(b, t->last_scrape_ms);
    em_buf_puts(b, ",\"lastScrapeDuration\":");
    put_float(b, t->last_duration_s);
    em_buf_printf(b, ",\"health\":\"%s\"", t->health > 0 ? "up" : t->health < 0 ? "down" : "unknown");
    char d[32];
    em_duration_format(t->interval_ms, d);
    em_buf_printf(b, ",\"scrapeInterval\":\"%s\"", d);
    em_duration_format(t->timeout_ms, d);
    em_buf_printf(b, ",\"scrapeTimeout\":\"%s\"}", d);
}

void em_scrape_manager_targets_json(em_scrape_manager_t *m, em_targets_state_t state, const char *pool,
                                    em_buf_t *out)
{
    pthread_mutex_lock(&m->mu);
    em_buf_puts(out, "{\"activeTargets\":[");
    bool first = true;
    for (size_t i = 0; state != EM_TARGETS_DROPPED && i < m->n_pools; i++) {
        const scrape_pool_t *p = m->pools[i];
        if (pool && strcmp(pool, p->name) != 0)
            continue;
        for (size_t k = 0; k < p->n_targets; k++) {
            if (!first)
                em_buf_putc(out, ',');
            first = false;
            put_active(m, p, p->targets[k], out);
        }
    }
    em_buf_puts(out, "],\"droppedTargets\":[");
    first = true;
    for (size_t i = 0; state != EM_TARGETS_ACTIVE && i < m->n_pools; i++) {
        const scrape_pool_t *p = m->pools[i];
        if (pool && strcmp(pool, p->name) != 0)
            continue;
        for (size_t k = 0; k < p->n_dropped; k++) {
            if (!first)
                em_buf_putc(out, ',');
            first = false;
            em_buf_puts(out, "{\"discoveredLabels\":");
            put_labels(out, &p->dropped[k], false);
            em_buf_puts(out, ",\"scrapePool\":");
            put_str(out, p->name);
            em_buf_putc(out, '}');
        }
    }
    em_buf_puts(out, "],\"droppedTargetCounts\":{");
    for (size_t i = 0; i < m->n_pools; i++) {
        if (i)
            em_buf_putc(out, ',');
        put_str(out, m->pools[i]->name);
        em_buf_printf(out, ":%llu", (unsigned long long)m->pools[i]->n_dropped_total);
    }
    em_buf_puts(out, "}}");
    pthread_mutex_unlock(&m->mu);
}

/* ---- a label selector for match_target: {name="v", name!="v", name=~"re", name!~"re"} ---- */

typedef struct selector {
    em_matcher_t *v;
    size_t n, cap;
} selector_t;

static void selector_fini(selector_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        em_matcher_fini(&s->v[i]);
    free(s->v);
}

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* A double- or single-quoted string with Go escapes \\ \" \' \n \t; result in out. */
static const char *parse_quoted(const char *p, em_buf_t *out)
{
    char q = *p;
    if (q != '"' && q != '\'')
        return NULL;
    for (p++; *p && *p != q; p++) {
        if (*p == '\\') {
            p++;
            char c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
            if (!c)
                return NULL;
            em_buf_putc(out, c);
        } else {
            em_buf_putc(out, *p);
        }
    }
    return *p == q ? p + 1 : NULL;
}

static int parse_selector(const char *s, selector_t *sel, em_err_t *err)
{
    const char *p = skip_ws(s);
    if (*p != '{')
        return em_err_set(err, EM_EINVAL, "1:1: parse error: unexpected character: %s", p);
    p = skip_ws(p + 1);
    em_buf_t val = EM_BUF_INIT;
    int rc = EM_OK;
    while (*p && *p != '}') {
        const char *name = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_')
            p++;
        size_t nl = (size_t)(p - name);
        p = skip_ws(p);
        em_match_type_t type;
        if (p[0] == '=' && p[1] == '~')
            type = EM_MATCH_RE, p += 2;
        else if (p[0] == '!' && p[1] == '~')
            type = EM_MATCH_NRE, p += 2;
        else if (p[0] == '!' && p[1] == '=')
            type = EM_MATCH_NEQ, p += 2;
        else if (p[0] == '=')
            type = EM_MATCH_EQ, p += 1;
        else {
            rc = em_err_set(err, EM_EINVAL, "parse error: unexpected character inside braces in %s", s);
            goto out;
        }
        em_buf_reset(&val);
        p = parse_quoted(skip_ws(p), &val);
        if (!p || nl == 0) {
            rc = em_err_set(err, EM_EINVAL, "parse error: bad label matcher in %s", s);
            goto out;
        }
        char *nm = em_strndup(name, nl);
        em_grow((void **)&sel->v, &sel->cap, sel->n + 1, sizeof(em_matcher_t));
        rc = em_matcher_init(&sel->v[sel->n], type, nm, val.data ? val.data : "", err);
        free(nm);
        if (rc != EM_OK)
            goto out;
        sel->n++;
        p = skip_ws(p);
        if (*p == ',')
            p = skip_ws(p + 1);
    }
    if (*p != '}')
        rc = em_err_set(err, EM_EINVAL, "parse error: unexpected end of input inside braces in %s", s);
out:
    em_buf_fini(&val);
    return rc;
}

static bool selector_matches(const selector_t *sel, const em_labels_t *ls)
{
    for (size_t i = 0; i < sel->n; i++) {
        const char *v = em_labels_get(ls, sel->v[i].name);
        if (!em_matcher_matches(&sel->v[i], v ? v : "", v ? strlen(v) : 0))
            return false;
    }
    return true;
}

int em_scrape_manager_metadata_json(em_scrape_manager_t *m, const char *match_target, const char *metric,
                                    long limit, em_buf_t *out, em_err_t *err)
{
    selector_t sel = {NULL, 0, 0};
    if (match_target && *match_target) {
        int rc = parse_selector(match_target, &sel, err);
        if (rc != EM_OK) {
            selector_fini(&sel);
            return rc;
        }
    }
    long n = 0;
    em_buf_putc(out, '[');
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_pools; i++) {
        const scrape_pool_t *p = m->pools[i];
        for (size_t k = 0; k < p->n_targets; k++) {
            const scrape_target_t *t = p->targets[k];
            if (!selector_matches(&sel, &t->loop.target_labels))
                continue;
            for (size_t j = 0; j < t->loop.n_meta; j++) {
                const meta_entry_t *e = &t->loop.meta[j];
                if (metric && *metric && strcmp(metric, e->family) != 0)
                    continue;
                if (limit >= 0 && n >= limit)
                    goto done;
                if (n++)
                    em_buf_putc(out, ',');
                em_buf_puts(out, "{\"target\":");
                put_labels(out, &t->loop.target_labels, true);
                if (!(metric && *metric)) {
                    em_buf_puts(out, ",\"metric\":");
                    put_str(out, e->family);
                }
                em_buf_puts(out, ",\"type\":");
                put_str(out, e->type);
                em_buf_puts(out, ",\"help\":");
                put_str(out, e->help);
                em_buf_puts(out, ",\"unit\":");
                put_str(out, e->unit);
                em_buf_putc(out, '}');
            }
        }
    }
done:
    pthread_mutex_unlock(&m->mu);
    em_buf_putc(out, ']');
    selector_fini(&sel);
    return EM_OK;
}
