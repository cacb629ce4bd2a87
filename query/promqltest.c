/* Design: see promqltest.h. */
#include "query/promqltest.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <strings.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/duration.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/regex.h"
#include "base/strconv.h"
#include "engine/chunk.h"
#include "engine/head.h"
#include "engine/labels.h"
#include "engine/matcher.h"
#include "query/eval.h"
#include "query/parse.h"

/* ---- sequence values ---- */

typedef struct seqval {
    double v;
    bool omitted;
} seqval_t;

typedef struct series_def {
    em_labels_t labels;
    seqval_t *vals;
    size_t n, cap;
    bool histogram;
    const seqval_t *sts; /* from a preceding `metric@st` line: start-timestamp offsets in ms, or NULL */
} series_def_t;

typedef struct runner {
    em_arena_t a; /* per file */
    const char *file;
    FILE *out;
    bool verbose;
    em_promqltest_stats_t *st;
    em_head_t *head;
    char dir[256];
    em_query_engine_t *engine;
    em_labels_t *hist; /* label sets of series with native histograms (not loaded) */
    size_t n_hist, cap_hist;
} runner_t;

static void *grow(em_arena_t *a, void *p, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return p;
    size_t nc = *cap ? *cap * 2 : 8;
    void *np = em_arena_alloc(a, nc * elem);
    if (n)
        memcpy(np, p, n * elem);
    *cap = nc;
    return np;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* The end of the word (run of non-blank characters) starting at s. */
static const char *skip_word(const char *s)
{
    while (*s && *s != ' ' && *s != '\t')
        s++;
    return s;
}

/* A decimal float or Inf/NaN with an optional sign; never hex ('x' separates repetitions). */
static bool scan_number(const char **sp, double *out)
{
    const char *s = *sp, *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (strncasecmp(p, "inf", 3) == 0) {
        p += 3;
    } else if (strncasecmp(p, "nan", 3) == 0) {
        p += 3;
    } else {
        const char *d = p;
        while (isdigit((unsigned char)*p))
            p++;
        if (*p == '.') {
            p++;
            while (isdigit((unsigned char)*p))
                p++;
        }
        if (p == d)
            return false;
        if ((*p == 'e' || *p == 'E') && (isdigit((unsigned char)p[1]) ||
                                         ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2])))) {
            p += 2;
            while (isdigit((unsigned char)*p))
                p++;
        }
    }
    if (!em_parse_float(s, (size_t)(p - s), out))
        return false;
    *sp = p;
    return true;
}

static void push_val(runner_t *r, series_def_t *d, double v, bool omitted)
{
    d->vals = grow(&r->a, d->vals, d->n, &d->cap, sizeof *d->vals);
    d->vals[d->n].v = v;
    d->vals[d->n].omitted = omitted;
    d->n++;
}

static bool scan_uint(const char **sp, uint64_t *out)
{
    const char *p = *sp;
    if (!isdigit((unsigned char)*p))
        return false;
    *out = strtoull(p, (char **)&p, 10);
    *sp = p;
    return true;
}

/* One item of the expanding notation. Returns false on a syntax error. */
static bool parse_item(runner_t *r, const char *tok, series_def_t *d)
{
    const char *p = tok;
    uint64_t times;
    if (strncmp(p, "{{", 2) == 0) {
        d->histogram = true;
        return true;
    }
    if (*p == '_') {
        p++;
        if (*p == 'x') {
            p++;
            if (!scan_uint(&p, &times) || *p)
                return false;
            for (uint64_t i = 0; i < times; i++)
                push_val(r, d, 0, true);
            return true;
        }
        if (*p)
            return false;
        push_val(r, d, 0, true);
        return true;
    }
    if (strcmp(p, "stale") == 0) {
        uint64_t b = EM_STALE_NAN_BITS;
        double v;
        memcpy(&v, &b, sizeof v);
        push_val(r, d, v, false);
        return true;
    }
    double a, inc = 0;
    if (!scan_number(&p, &a))
        return false;
    if (*p == '+' || *p == '-') {
        if (!scan_number(&p, &inc))
            return false;
    }
    if (*p == 'x') {
        p++;
        if (!scan_uint(&p, &times) || *p)
            return false;
        for (uint64_t i = 0; i <= times; i++) {
            push_val(r, d, a, false);
            a += inc;
        }
        return true;
    }
    if (*p)
        return false;
    push_val(r, d, a, false);
    return true;
}

/* A Go-style quoted string ("..." or '...' or `...`) at *sp. */
static bool scan_quoted(runner_t *r, const char **sp, const char **out)
{
    const char *p = *sp;
    char q = *p;
    if (q != '"' && q != '\'' && q != '`')
        return false;
    p++;
    em_buf_t b = EM_BUF_INIT;
    while (*p && *p != q) {
        if (*p == '\\' && q != '`') {
            p++;
            switch (*p) {
            case 'n':
                em_buf_putc(&b, '\n');
                break;
            case 't':
                em_buf_putc(&b, '\t');
                break;
            case 'r':
                em_buf_putc(&b, '\r');
                break;
            case '\\':
            case '"':
            case '\'':
                em_buf_putc(&b, *p);
                break;
            case 'x': {
                char h[3] = {p[1], p[2], 0};
                em_buf_putc(&b, (char)strtol(h, NULL, 16));
                p += 2;
                break;
            }
            case 'u': {
                char h[5] = {p[1], p[2], p[3], p[4], 0};
                long cp = strtol(h, NULL, 16);
                if (cp < 0x80) {
                    em_buf_putc(&b, (char)cp);
                } else if (cp < 0x800) {
                    em_buf_putc(&b, (char)(0xC0 | (cp >> 6)));
                    em_buf_putc(&b, (char)(0x80 | (cp & 0x3F)));
                } else {
                    em_buf_putc(&b, (char)(0xE0 | (cp >> 12)));
                    em_buf_putc(&b, (char)(0x80 | ((cp >> 6) & 0x3F)));
                    em_buf_putc(&b, (char)(0x80 | (cp & 0x3F)));
                }
                p += 4;
                break;
            }
            default:
                em_buf_putc(&b, *p);
                break;
            }
            if (*p)
                p++;
            continue;
        }
        em_buf_putc(&b, *p++);
    }
    if (*p != q) {
        em_buf_fini(&b);
        return false;
    }
    *out = em_arena_strndup(&r->a, b.data ? b.data : "", b.len);
    em_buf_fini(&b);
    *sp = p + 1;
    return true;
}

static bool is_name_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':' || (!first && isdigit((unsigned char)c));
}

static const char *scan_ident(runner_t *r, const char **sp)
{
    const char *p = *sp, *s = p;
    if (!is_name_char(*p, true))
        return NULL;
    while (is_name_char(*p, false))
        p++;
    *sp = p;
    return em_arena_strndup(&r->a, s, (size_t)(p - s));
}

/* metric{l="v", ...} values...  (Prometheus's ParseSeriesDesc). */
static bool parse_series_desc(runner_t *r, const char *line, series_def_t *d, bool values_allowed)
{
    memset(d, 0, sizeof *d);
    const char *p = skip_ws(line);
    em_labels_builder_t b;
    em_labels_builder_init(&b, NULL);
    bool ok = false;
    const char *name = scan_ident(r, &p);
    if (name)
        em_labels_builder_set(&b, EM_METRIC_NAME, name);
    if (*p == '{') {
        p++;
        for (;;) {
            p = skip_ws(p);
            if (*p == '}') {
                p++;
                break;
            }
            const char *ln = NULL, *lv = NULL;
            if (*p == '"' || *p == '\'' || *p == '`') {
                if (!scan_quoted(r, &p, &ln))
                    goto out;
            } else if (!(ln = scan_ident(r, &p))) {
                goto out;
            }
            p = skip_ws(p);
            if (*p == '=') {
                p = skip_ws(p + 1);
                if (!scan_quoted(r, &p, &lv))
                    goto out;
                em_labels_builder_set(&b, ln, lv);
            } else {
                em_labels_builder_set(&b, EM_METRIC_NAME, ln); /* {"metric.name", ...} */
            }
            p = skip_ws(p);
            if (*p == ',')
                p++;
        }
    } else if (!name) {
        goto out;
    }
    if (strstr(p, "{{")) {
        /* native histograms: not supported, remembered by label set only */
        d->histogram = true;
        p += strlen(p);
    }
    while (*(p = skip_ws(p))) {
        const char *e = skip_word(p);
        if (!values_allowed)
            goto out;
        char *tok = em_arena_strndup(&r->a, p, (size_t)(e - p));
        if (!parse_item(r, tok, d))
            goto out;
        p = e;
    }
    em_labels_t ls = em_labels_builder_labels(&b);
    d->labels = em_labels_copy(&ls, &r->a);
    ok = true;
out:
    em_labels_builder_fini(&b);
    return ok;
}

/* ---- start timestamps: `metric{...}@st <offsets>` lines ---- */

/* A signed duration at the start of s ("-30s", "+1m", "59999ms"); *rest is what follows it. */
static bool st_duration(const char *s, int64_t *ms, const char **rest)
{
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    const char *b = s;
    while (isdigit((unsigned char)*s))
        s++;
    if (s == b)
        return false;
    while (isalpha((unsigned char)*s) && *s != 'x')
        s++;
    em_err_t err;
    if (em_duration_parse(b, (size_t)(s - b), ms, &err) != EM_OK)
        return false;
    if (neg)
        *ms = -*ms;
    *rest = s;
    return true;
}

/* One item of an offset sequence: `_`, `_xN`, `<dur>`, `<dur>xN` or `<dur>(+|-)<dur>xN` (N+1 values). */
static bool st_item(runner_t *r, const char *it, series_def_t *d)
{
    uint64_t count = 1;
    int64_t base = 0, delta = 0;
    bool omitted = it[0] == '_';
    const char *rest = it + omitted;
    if (!omitted && !st_duration(it, &base, &rest))
        return false;
    if (!omitted && (*rest == '+' || *rest == '-')) {
        bool neg = *rest == '-';
        if (!st_duration(rest + 1, &delta, &rest) || *rest != 'x')
            return false;
        if (neg)
            delta = -delta;
    }
    if (*rest == 'x') {
        char *end;
        errno = 0;
        uint64_t k = strtoull(rest + 1, &end, 10);
        if (errno || *end || end == rest + 1 || k > 1000000 || (omitted && k == 0))
            return false;
        count = omitted ? k : k + 1;
    } else if (*rest || delta) {
        return false;
    }
    for (uint64_t i = 0; i < count; i++) {
        d->vals = grow(&r->a, d->vals, d->n, &d->cap, sizeof *d->vals);
        d->vals[d->n++] = (seqval_t){.v = (double)(base + (int64_t)i * delta), .omitted = omitted};
    }
    return true;
}

/* The `@st` line's labels and offsets, into d (offsets in d->vals). */
/* For a `metric{...}@st <offsets>` line, the end of its first word (just after "@st"); else NULL. */
static const char *st_metric_end(const char *line)
{
    const char *p = skip_ws(line), *sp = skip_word(p);
    return *sp && sp - p >= 3 && strncmp(sp - 3, "@st", 3) == 0 ? sp : NULL;
}

static bool parse_st_line(runner_t *r, const char *line, series_def_t *d)
{
    const char *p = skip_ws(line), *sp = st_metric_end(line);
    if (!sp)
        return false;
    char *metric = em_arena_strndup(&r->a, p, (size_t)(sp - 3 - p));
    if (!parse_series_desc(r, metric, d, false))
        return false;
    for (p = skip_ws(sp); *p; p = skip_ws(p)) {
        const char *e = skip_word(p);
        if (!st_item(r, em_arena_strndup(&r->a, p, (size_t)(e - p)), d))
            return false;
        p = e;
    }
    return d->n > 0;
}

/* ---- the head ---- */

static int head_open(runner_t *r, em_err_t *err)
{
    snprintf(r->dir, sizeof r->dir, "/tmp/ember-promqltest-XXXXXX");
    if (!mkdtemp(r->dir))
        return em_err_sys(err, EM_EIO, errno, "mkdtemp");
    em_head_opts_t o = {.n_shards = 2, .wal_dir = r->dir, .chunk_range_ms = (int64_t)1 << 52};
    return em_head_open(&o, &r->head, err);
}

static void head_close(runner_t *r)
{
    if (!r->head)
        return;
    em_head_close(r->head);
    r->head = NULL;
    em_remove_all(r->dir, NULL);
}

static void fail_line(runner_t *r, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail_line(runner_t *r, int line, const char *expr, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(r->out, "%s:%d: %s: %s\n", r->file, line, expr, buf);
}

static int do_load(runner_t *r, char **lines, size_t n_lines, size_t *i, em_err_t *err)
{
    const char *l = lines[*i];
    bool nhcb = strncmp(l, "load_with_nhcb", 14) == 0;
    const char *ds = skip_ws(l + (nhcb ? 14 : 4));
    int64_t gap;
    if (em_duration_parse(ds, strlen(ds), &gap, err) != EM_OK)
        return em_err_prefix(err, "%s:%zu: invalid load step", r->file, *i + 1);
    if (!r->head) {
        int rc = head_open(r, err);
        if (rc != EM_OK)
            return rc;
    }
    em_batch_t *b = em_batch_new();
    int rc = EM_OK;
    series_def_t *defs = NULL;
    size_t n_defs = 0, cap_defs = 0;
    series_def_t st; /* a pending `@st` line */
    size_t st_line = 0;
    while (*i + 1 < n_lines && lines[*i + 1][0]) {
        (*i)++;
        series_def_t d;
        if (st_metric_end(lines[*i])) {
            if (st_line) {
                rc = em_err_set(err, EM_EINVAL, "%s:%zu: @st line has no following sample line", r->file,
                                st_line);
                break;
            }
            if (!parse_st_line(r, lines[*i], &st)) {
                rc = em_err_set(err, EM_EINVAL, "%s:%zu: invalid @st line: %s", r->file, *i + 1, lines[*i]);
                break;
            }
            st_line = *i + 1;
            continue;
        }
        if (!parse_series_desc(r, lines[*i], &d, true)) {
            rc = em_err_set(err, EM_EINVAL, "%s:%zu: bad series line: %s", r->file, *i + 1, lines[*i]);
            break;
        }
        if (st_line) {
            if (!em_labels_equal(&st.labels, &d.labels)) {
                rc = em_err_set(err, EM_EINVAL,
                                "%s:%zu: @st metric does not match the following sample line metric", r->file,
                                st_line);
                break;
            }
            if (!d.histogram && st.n != d.n) {
                rc = em_err_set(err, EM_EINVAL, "%s:%zu: @st line has %zu values but sample line has %zu",
                                r->file, st_line, st.n, d.n);
                break;
            }
            d.sts = st.vals;
            st_line = 0;
        }
        if (nhcb) {
            /* The converted native-histogram series: the name without _bucket/_count/_sum, no le. */
            em_labels_builder_t lb;
            em_labels_builder_init(&lb, &d.labels);
            const char *nm = em_labels_get(&d.labels, EM_METRIC_NAME);
            if (nm) {
                size_t n = strlen(nm);
                const char *sufs[] = {"_bucket", "_count", "_sum"};
                for (size_t s = 0; s < 3; s++) {
                    size_t k = strlen(sufs[s]);
                    if (n > k && strcmp(nm + n - k, sufs[s]) == 0)
                        n -= k;
                }
                em_labels_builder_set(&lb, EM_METRIC_NAME, em_arena_strndup(&r->a, nm, n));
            }
            em_labels_builder_del(&lb, "le");
            em_labels_t hl = em_labels_builder_labels(&lb);
            r->hist = grow(&r->a, r->hist, r->n_hist, &r->cap_hist, sizeof *r->hist);
            r->hist[r->n_hist++] = em_labels_copy(&hl, &r->a);
            em_labels_builder_fini(&lb);
        }
        if (d.histogram) {
            r->hist = grow(&r->a, r->hist, r->n_hist, &r->cap_hist, sizeof *r->hist);
            r->hist[r->n_hist++] = d.labels;
            continue;
        }
        defs = grow(&r->a, defs, n_defs, &cap_defs, sizeof *defs);
        defs[n_defs++] = d;
    }
    if (rc == EM_OK && st_line)
        rc = em_err_set(err, EM_EINVAL, "%s:%zu: @st line has no following sample line", r->file, st_line);
    /* A series defined twice in one load keeps its last definition (Prometheus keys them by hash). */
    for (size_t k = 0; k < n_defs; k++) {
        bool later = false;
        for (size_t j = k + 1; j < n_defs && !later; j++)
            later = em_labels_equal(&defs[k].labels, &defs[j].labels);
        if (later)
            continue;
        em_batch_add_series(b, &defs[k].labels, true, 0);
        for (size_t v = 0; v < defs[k].n; v++) {
            if (defs[k].vals[v].omitted)
                continue;
            int64_t t = (int64_t)v * gap;
            const seqval_t *s = defs[k].sts ? &defs[k].sts[v] : NULL;
            /* A start timestamp that lands on 0 reads as unknown, as in Prometheus. */
            em_batch_add_sample_st(b, s && !s->omitted ? t + (int64_t)s->v : 0, t, defs[k].vals[v].v);
        }
    }
    if (rc == EM_OK && em_batch_n_samples(b) > 0) {
        rc = em_head_append_wait(r->head, b);
        if (rc != EM_OK)
            em_err_set(err, rc, "%s: load failed: %s", r->file, em_strerror(rc));
        else if (em_batch_result(b)->first_error_sample >= 0)
            fprintf(r->out, "%s:%zu: load: some samples were rejected (out of order or bounds)\n", r->file,
                    *i + 1);
    }
    em_batch_free(b);
    return rc;
}

/* ---- evals ---- */

enum { X_FAIL, X_WARN, X_INFO, X_NO_WARN, X_NO_INFO, X_ORDERED };

typedef struct expect {
    int type;
    const char *msg; /* exact */
    em_regex_t *re;  /* or regex (NULL and no msg: anything) */
} expect_t;

typedef struct evalcmd {
    int line;
    const char *expr;
    bool range;
    int64_t start, end, step, at;
    bool fail, warn, info, ordered; /* old forms */
    expect_t *ex;
    size_t n_ex, cap_ex;
    series_def_t *exp;
    size_t n_exp, cap_exp;
    bool expect_scalar;
    double scalar;
    bool has_string;
    const char *string;
    bool exclude_range;
    const char *skip_reason;
} evalcmd_t;

static bool has_ex(const evalcmd_t *e, int type)
{
    for (size_t i = 0; i < e->n_ex; i++)
        if (e->ex[i].type == type)
            return true;
    return false;
}

static bool is_fail(const evalcmd_t *e)
{
    return e->fail || has_ex(e, X_FAIL);
}

static bool is_ordered(const evalcmd_t *e)
{
    return e->ordered || has_ex(e, X_ORDERED);
}

static bool ex_match(const expect_t *x, const char *s)
{
    if (x->re)
        return em_regex_match(x->re, s, strlen(s));
    if (x->msg)
        return strcmp(x->msg, s) == 0;
    return true;
}

static bool almost_equal(double a, double b)
{
    const double eps = 1e-6, min_normal = 2.2250738585072014e-308;
    uint64_t ab, bb;
    memcpy(&ab, &a, 8);
    memcpy(&bb, &b, 8);
    if (ab == EM_STALE_NAN_BITS || bb == EM_STALE_NAN_BITS)
        return ab == bb;
    if (isnan(a) && isnan(b))
        return true;
    if (a == b)
        return true;
    double s = fabs(a) + fabs(b), d = fabs(a - b);
    if (a == 0 || b == 0 || s < min_normal)
        return d < eps * min_normal;
    return d / fmin(s, 1.7976931348623157e308) < eps;
}

static void fmt_ls(const em_labels_t *ls, char *out, size_t cap)
{
    em_buf_t b = EM_BUF_INIT;
    em_labels_format(ls, &b);
    snprintf(out, cap, "%s", b.data ? b.data : "{}");
    em_buf_fini(&b);
}

/* Go's regexp is unanchored: wrap the pattern so base/regex (anchored) searches. */
static em_regex_t *compile_search(runner_t *r, const char *pat)
{
    char *p = em_arena_alloc(&r->a, strlen(pat) + 16);
    snprintf(p, strlen(pat) + 16, ".*(?:%s).*", pat);
    em_regex_t *re = NULL;
    em_err_t err;
    if (em_regex_compile(p, strlen(p), &re, &err) != EM_OK)
        return NULL;
    return re;
}

/* Compare annotations; returns NULL when fine or a message. */
static const char *check_annos(runner_t *r, const evalcmd_t *e, const em_query_result_t *res, char *buf,
                               size_t cap)
{
    if (e->warn && res->n_warnings == 0)
        return "expected warnings but got none";
    if (e->info && res->n_infos == 0)
        return "expected info annotations but got none";
    for (int pass = 0; pass < 2; pass++) {
        int type = pass == 0 ? X_WARN : X_INFO;
        const char **act = pass == 0 ? res->warnings : res->infos;
        size_t n_act = pass == 0 ? res->n_warnings : res->n_infos;
        bool any = false;
        for (size_t i = 0; i < e->n_ex; i++) {
            if (e->ex[i].type != type)
                continue;
            any = true;
            bool found = false;
            for (size_t j = 0; j < n_act && !found; j++)
                found = ex_match(&e->ex[i], act[j]);
            if (!found) {
                snprintf(buf, cap, "expected %s annotation %s, found %zu: %s", pass == 0 ? "warn" : "info",
                         e->ex[i].msg ? e->ex[i].msg : "(any)", n_act, n_act ? act[0] : "");
                return buf;
            }
        }
        if (any) {
            for (size_t j = 0; j < n_act; j++) {
                bool found = false;
                for (size_t i = 0; i < e->n_ex && !found; i++)
                    found = e->ex[i].type == type && ex_match(&e->ex[i], act[j]);
                if (!found) {
                    snprintf(buf, cap, "unexpected %s annotation %s", pass == 0 ? "warn" : "info", act[j]);
                    return buf;
                }
            }
        }
    }
    if (has_ex(e, X_NO_WARN) && res->n_warnings) {
        snprintf(buf, cap, "unexpected warning: %s", res->warnings[0]);
        return buf;
    }
    if (has_ex(e, X_NO_INFO) && res->n_infos) {
        snprintf(buf, cap, "unexpected info: %s", res->infos[0]);
        return buf;
    }
    (void)r;
    return NULL;
}

static const char *check_fail(const evalcmd_t *e, const char *msg, char *buf, size_t cap)
{
    for (size_t i = 0; i < e->n_ex; i++) {
        if (e->ex[i].type == X_FAIL && !ex_match(&e->ex[i], msg)) {
            snprintf(buf, cap, "expected error %s, got: %s", e->ex[i].msg ? e->ex[i].msg : "(pattern)", msg);
            return buf;
        }
    }
    return NULL;
}

static const series_def_t *find_expected(const evalcmd_t *e, const em_labels_t *ls, size_t *pos)
{
    for (size_t i = 0; i < e->n_exp; i++)
        if (em_labels_equal(&e->exp[i].labels, ls)) {
            *pos = i;
            return &e->exp[i];
        }
    return NULL;
}

/* Compare a vector (one point per series, or the points at time t of a range result). */
static const char *compare_vector(const evalcmd_t *e, const em_qseries_t *s, size_t n, bool ordered,
                                  char *buf, size_t cap)
{
    char lb[512];
    if (e->expect_scalar) {
        snprintf(buf, cap, "expected scalar, got a vector of %zu series", n);
        return buf;
    }
    for (size_t i = 0; i < n; i++) {
        size_t pos;
        const series_def_t *x = find_expected(e, &s[i].labels, &pos);
        fmt_ls(&s[i].labels, lb, sizeof lb);
        char v[EM_FLOAT_BUF];
        em_fmt_float(s[i].pts[0].v, 'g', v);
        if (!x) {
            snprintf(buf, cap, "unexpected series %s = %s", lb, v);
            return buf;
        }
        if (ordered && pos != i) {
            snprintf(buf, cap, "series %s at position %zu, expected %zu", lb, i + 1, pos + 1);
            return buf;
        }
        if (x->n == 0 || x->vals[0].omitted || !almost_equal(x->vals[0].v, s[i].pts[0].v)) {
            char w[EM_FLOAT_BUF];
            em_fmt_float(x->n ? x->vals[0].v : NAN, 'g', w);
            snprintf(buf, cap, "%s: expected %s, got %s", lb, w, v);
            return buf;
        }
    }
    if (n != e->n_exp) {
        for (size_t i = 0; i < e->n_exp; i++) {
            bool seen = false;
            for (size_t j = 0; j < n && !seen; j++)
                seen = em_labels_equal(&e->exp[i].labels, &s[j].labels);
            if (!seen) {
                fmt_ls(&e->exp[i].labels, lb, sizeof lb);
                snprintf(buf, cap, "expected series %s not found (got %zu series)", lb, n);
                return buf;
            }
        }
    }
    return NULL;
}

static const char *compare_matrix(const evalcmd_t *e, const em_query_result_t *res, int64_t start,
                                  int64_t step, int64_t end, char *buf, size_t cap)
{
    char lb[512];
    if (is_ordered(e))
        return "expected ordered result, but query returned a matrix";
    if (e->expect_scalar)
        return "expected scalar result, but got matrix";
    for (size_t i = 0; i + 1 < res->n_series; i++)
        if (em_labels_cmp(&res->series[i].labels, &res->series[i + 1].labels) > 0)
            return "matrix results should always be sorted by labels";
    for (size_t i = 0; i < res->n_series; i++) {
        const em_qseries_t *s = &res->series[i];
        size_t pos;
        fmt_ls(&s->labels, lb, sizeof lb);
        const series_def_t *x = find_expected(e, &s->labels, &pos);
        if (!x) {
            snprintf(buf, cap, "unexpected series %s with %zu points", lb, s->n_pts);
            return buf;
        }
        size_t k = 0;
        for (size_t j = 0; j < x->n; j++) {
            int64_t t = start + (int64_t)j * step;
            if (t > end) {
                snprintf(buf, cap, "expected %zu points for %s, but the range has fewer", x->n, lb);
                return buf;
            }
            if (x->vals[j].omitted)
                continue;
            if (k >= s->n_pts) {
                snprintf(buf, cap, "%s: missing point at t=%" PRId64 " (got %zu points)", lb, t, s->n_pts);
                return buf;
            }
            if (s->pts[k].t_ms != t) {
                snprintf(buf, cap, "%s: point %zu at t=%" PRId64 ", expected t=%" PRId64, lb, k,
                         s->pts[k].t_ms, t);
                return buf;
            }
            if (!almost_equal(x->vals[j].v, s->pts[k].v)) {
                char v[EM_FLOAT_BUF], w[EM_FLOAT_BUF];
                em_fmt_float(s->pts[k].v, 'g', v);
                em_fmt_float(x->vals[j].v, 'g', w);
                snprintf(buf, cap, "%s at t=%" PRId64 ": expected %s, got %s", lb, t, w, v);
                return buf;
            }
            k++;
        }
        if (k != s->n_pts) {
            snprintf(buf, cap, "%s: got %zu points, expected %zu (extra at t=%" PRId64 ")", lb, s->n_pts, k,
                     s->pts[k].t_ms);
            return buf;
        }
    }
    for (size_t i = 0; i < e->n_exp; i++) {
        bool seen = false;
        for (size_t j = 0; j < res->n_series && !seen; j++)
            seen = em_labels_equal(&e->exp[i].labels, &res->series[j].labels);
        if (!seen) {
            fmt_ls(&e->exp[i].labels, lb, sizeof lb);
            snprintf(buf, cap, "expected series %s not found", lb);
            return buf;
        }
    }
    return NULL;
}

static const char *compare_result(const evalcmd_t *e, const em_query_result_t *res, char *buf, size_t cap)
{
    switch (res->type) {
    case EM_VTYPE_MATRIX:
        if (e->range)
            return compare_matrix(e, res, e->start, e->step, e->end, buf, cap);
        return compare_matrix(e, res, e->start, e->step ? e->step : 1, e->end, buf, cap);
    case EM_VTYPE_VECTOR:
        return compare_vector(e, res->series, res->n_series, is_ordered(e), buf, cap);
    case EM_VTYPE_SCALAR:
        if (!e->expect_scalar)
            return "expected vector or matrix result, but got a scalar";
        if (!almost_equal(e->scalar, res->scalar)) {
            char v[EM_FLOAT_BUF], w[EM_FLOAT_BUF];
            em_fmt_float(res->scalar, 'g', v);
            em_fmt_float(e->scalar, 'g', w);
            snprintf(buf, cap, "expected scalar %s, got %s", w, v);
            return buf;
        }
        return NULL;
    case EM_VTYPE_STRING:
        if (!e->has_string || strcmp(e->string, res->str) != 0) {
            snprintf(buf, cap, "expected string \"%s\", got \"%s\"", e->has_string ? e->string : "",
                     res->str);
            return buf;
        }
        return NULL;
    default:
        return "no result";
    }
}

/* Run one query and judge it. Returns NULL on success or the reason. */
static const char *judge(runner_t *r, const evalcmd_t *e, em_query_result_t *res, int rc, char *buf,
                         size_t cap)
{
    (void)r;
    if (rc != EM_OK) {
        if (is_fail(e))
            return check_fail(e, res->err ? res->err : "", buf, cap);
        snprintf(buf, cap, "error: %s", res->err ? res->err : em_strerror(rc));
        return buf;
    }
    if (is_fail(e))
        return "expected an error but got none";
    const char *m = check_annos(r, e, res, buf, cap);
    if (m)
        return m;
    return compare_result(e, res, buf, cap);
}

static const char *range_mode_check(runner_t *r, const evalcmd_t *e, const char *expr, int64_t t, char *buf,
                                    size_t cap)
{
    em_query_result_t *res = NULL;
    int rc = em_query_exec_range(r->engine, em_head_queryable(r->head), expr, strlen(expr), t - 60000,
                                 t + 60000, 60000, 0, NULL, &res);
    const char *m = NULL;
    if (rc != EM_OK) {
        snprintf(buf, cap, "range mode: error: %s", res->err ? res->err : "");
        m = buf;
    } else if (!is_ordered(e)) {
        for (size_t i = 0; i + 1 < res->n_series && !m; i++)
            if (em_labels_cmp(&res->series[i].labels, &res->series[i + 1].labels) > 0)
                m = "range mode: matrix not sorted";
        /* the vector at t */
        em_qseries_t *v = calloc(res->n_series ? res->n_series : 1, sizeof *v);
        size_t n = 0;
        for (size_t i = 0; i < res->n_series && !m; i++)
            for (size_t j = 0; j < res->series[i].n_pts; j++)
                if (res->series[i].pts[j].t_ms == t) {
                    v[n] = res->series[i];
                    v[n].pts = &res->series[i].pts[j];
                    v[n].n_pts = 1;
                    n++;
                    break;
                }
        if (!m) {
            if (e->expect_scalar) {
                if (n == 0 || !almost_equal(e->scalar, v[0].pts[0].v)) {
                    snprintf(buf, cap, "range mode: scalar differs");
                    m = buf;
                }
            } else {
                char tmp[1024];
                const char *d = compare_vector(e, v, n, false, tmp, sizeof tmp);
                if (d) {
                    snprintf(buf, cap, "range mode: %s", d);
                    m = buf;
                }
            }
        }
        free(v);
    }
    em_query_result_free(res);
    return m;
}

static const char *const at_unsafe[] = {
    "days_in_month", "day_of_month",   "day_of_week", "day_of_year", "end",  "hour", "minute",   "month",
    "year",          "predict_linear", "range",       "start",       "step", "time", "timestamp"};

/* Pin every selector (outside subqueries) at t, as Prometheus's atModifierTestCases; false when the
 * expression holds a function that makes this unsafe. */
static bool pin_at(em_node_t *n, int64_t t)
{
    if (!n)
        return true;
    switch (n->kind) {
    case EM_NODE_VECTOR_SEL:
        if (n->vs.at.kind == EM_AT_NONE)
            n->vs.at = (em_at_t){EM_AT_TIME, t};
        return true;
    case EM_NODE_MATRIX_SEL:
        return pin_at(n->ms.vs, t);
    case EM_NODE_SUBQUERY:
        if (n->sq.at.kind == EM_AT_NONE)
            n->sq.at = (em_at_t){EM_AT_TIME, t};
        return true;
    case EM_NODE_CALL: {
        bool ok = true;
        for (size_t i = 0; i < sizeof at_unsafe / sizeof at_unsafe[0]; i++)
            if (strcmp(n->call.func->name, at_unsafe[i]) == 0)
                ok = false;
        for (size_t i = 0; i < n->call.n_args; i++)
            ok = pin_at(n->call.args[i], t) && ok;
        return ok;
    }
    case EM_NODE_AGGREGATE: {
        bool ok = pin_at(n->agg.param, t);
        return pin_at(n->agg.expr, t) && ok;
    }
    case EM_NODE_BINARY: {
        bool ok = pin_at(n->bin.lhs, t);
        return pin_at(n->bin.rhs, t) && ok;
    }
    case EM_NODE_UNARY:
        return pin_at(n->unary.expr, t);
    case EM_NODE_PAREN:
    case EM_NODE_STEP_INVARIANT:
        return pin_at(n->paren.expr, t);
    default:
        return true;
    }
}

static bool matchers_match(const em_vector_sel_t *vs, const em_labels_t *ls)
{
    for (size_t i = 0; i < vs->n_matchers; i++) {
        const char *v = em_labels_get(ls, vs->matchers[i]->name);
        if (!v)
            v = "";
        if (!em_matcher_matches(vs->matchers[i], v, strlen(v)))
            return false;
    }
    return true;
}

/* Does any selector of the tree match a series that holds native histograms? */
static bool touches_hist(const runner_t *r, const em_node_t *n)
{
    if (!n)
        return false;
    switch (n->kind) {
    case EM_NODE_VECTOR_SEL:
        for (size_t i = 0; i < r->n_hist; i++)
            if (matchers_match(&n->vs, &r->hist[i]))
                return true;
        return false;
    case EM_NODE_MATRIX_SEL:
        return touches_hist(r, n->ms.vs);
    case EM_NODE_SUBQUERY:
        return touches_hist(r, n->sq.expr);
    case EM_NODE_CALL:
        for (size_t i = 0; i < n->call.n_args; i++)
            if (touches_hist(r, n->call.args[i]))
                return true;
        return false;
    case EM_NODE_AGGREGATE:
        return touches_hist(r, n->agg.param) || touches_hist(r, n->agg.expr);
    case EM_NODE_BINARY:
        return touches_hist(r, n->bin.lhs) || touches_hist(r, n->bin.rhs);
    case EM_NODE_UNARY:
        return touches_hist(r, n->unary.expr);
    case EM_NODE_PAREN:
    case EM_NODE_STEP_INVARIANT:
        return touches_hist(r, n->paren.expr);
    default:
        return false;
    }
}

static const em_promql_opts_t all_features = {true, true, true, true, true, true};

static void run_eval(runner_t *r, evalcmd_t *e)
{
    char buf[2048];
    if (!r->head) {
        em_err_t err;
        if (head_open(r, &err) != EM_OK) {
            fail_line(r, e->line, e->expr, "cannot open head: %s", err.msg);
            r->st->failed++;
            return;
        }
    }
    em_arena_t pa;
    em_arena_init(&pa);
    em_ast_t *ast = NULL;
    em_err_t perr;
    bool parsed = em_promql_parse(e->expr, strlen(e->expr), &pa, &all_features, &ast, &perr) == EM_OK;
    if (!e->skip_reason && parsed && touches_hist(r, ast->root))
        e->skip_reason = "selects series with native histograms";
    if (e->skip_reason) {
        if (r->verbose)
            fprintf(r->out, "%s:%d: skipped: %s: %s\n", r->file, e->line, e->expr, e->skip_reason);
        r->st->skipped++;
        goto out;
    }
    em_queryable_t *qa = em_head_queryable(r->head);
    em_query_result_t *res = NULL;
    const char *why = NULL;
    int rc;
    if (e->range) {
        rc = em_query_exec_range(r->engine, qa, e->expr, strlen(e->expr), e->start, e->end, e->step, 0, NULL,
                                 &res);
        why = judge(r, e, res, rc, buf, sizeof buf);
        em_query_result_free(res);
    } else {
        rc = em_query_exec_instant(r->engine, qa, e->expr, strlen(e->expr), e->at, 0, NULL, &res);
        why = judge(r, e, res, rc, buf, sizeof buf);
        bool failed_query = rc != EM_OK;
        em_query_result_free(res);
        /* The same with every selector pinned by @ at other evaluation times. */
        const char *variants[1] = {NULL};
        if (!why && parsed && pin_at(ast->root, e->at)) {
            em_buf_t pb = EM_BUF_INIT;
            em_promql_format(ast->root, &pb);
            variants[0] = em_arena_strndup(&r->a, pb.data ? pb.data : "", pb.len);
            em_buf_fini(&pb);
        }
        int64_t ts = e->at;
        int64_t times[5] = {-10 * ts, 0, ts / 5, ts, 10 * ts};
        size_t n_times = 5;
        if (ts == 0) {
            times[0] = -1000;
            times[1] = 0;
            times[2] = 1000;
            n_times = 3;
        }
        if (!why && !failed_query && !e->exclude_range && !strstr(e->expr, "start()") &&
            !strstr(e->expr, "end()") && !strstr(e->expr, "range()") && !strstr(e->expr, "step()"))
            why = range_mode_check(r, e, e->expr, e->at, buf, sizeof buf);
        for (size_t k = 0; !why && variants[0] && k < n_times; k++) {
            rc = em_query_exec_instant(r->engine, qa, variants[0], strlen(variants[0]), times[k], 0, NULL,
                                       &res);
            why = judge(r, e, res, rc, buf, sizeof buf);
            bool qfail = rc != EM_OK;
            em_query_result_free(res);
            if (why) {
                char tmp[2048];
                snprintf(tmp, sizeof tmp, "with @ at t=%" PRId64 " (%s): %s", times[k], variants[0], why);
                memcpy(buf, tmp, sizeof buf);
                why = buf;
                break;
            }
            if (!qfail && !e->exclude_range && !strstr(e->expr, "start()") && !strstr(e->expr, "end()") &&
                !strstr(e->expr, "range()") && !strstr(e->expr, "step()"))
                why = range_mode_check(r, e, variants[0], times[k], buf, sizeof buf);
        }
    }
    if (why) {
        fail_line(r, e->line, e->expr, "%s", why);
        r->st->failed++;
    } else {
        r->st->passed++;
    }
out:
    if (parsed)
        em_ast_fini(ast);
    em_arena_fini(&pa);
}

/* Durations in eval lines: Prometheus's model.ParseDuration, plus a leading '-' . */
static bool parse_dur(const char *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    if (neg) {
        s++;
        n--;
    }
    em_err_t err;
    if (em_duration_parse(s, n, out, &err) != EM_OK)
        return false;
    if (neg)
        *out = -*out;
    return true;
}

static char *trim_dup(runner_t *r, const char *s, size_t n)
{
    while (n && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return em_arena_strndup(&r->a, s, n);
}

/* Parse "eval[...] instant at T EXPR" / "eval[...] range from A to B step S EXPR". */
static bool parse_eval_head(runner_t *r, const char *l, evalcmd_t *e)
{
    const char *p = l + 4;
    if (*p == '_') {
        const char *mods[] = {"fail", "warn", "ordered", "info"};
        p++;
        size_t k;
        for (k = 0; k < 4; k++) {
            size_t n = strlen(mods[k]);
            if (strncmp(p, mods[k], n) == 0 && (p[n] == ' ' || p[n] == '\t')) {
                p += n;
                break;
            }
        }
        if (k == 4)
            return false;
        e->fail = k == 0;
        e->warn = k == 1;
        e->ordered = k == 2;
        e->info = k == 3;
    }
    p = skip_ws(p);
    if (strncmp(p, "instant", 7) == 0) {
        p = skip_ws(p + 7);
        if (strncmp(p, "at", 2) != 0)
            return false;
        p = skip_ws(p + 2);
        const char *t = p;
        p = skip_word(p);
        if (!parse_dur(t, (size_t)(p - t), &e->at))
            return false;
        e->start = e->end = e->at;
        e->expr = trim_dup(r, p, strlen(p));
        return true;
    }
    if (strncmp(p, "range", 5) != 0)
        return false;
    p = skip_ws(p + 5);
    const char *kw[3] = {"from", "to", "step"};
    int64_t *dst[3] = {&e->start, &e->end, &e->step};
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(kw[k]);
        if (strncmp(p, kw[k], n) != 0)
            return false;
        p = skip_ws(p + n);
        const char *t = p;
        p = skip_word(p);
        if (!parse_dur(t, (size_t)(p - t), dst[k]))
            return false;
        p = skip_ws(p);
    }
    e->range = true;
    e->expr = trim_dup(r, p, strlen(p));
    return true;
}

static bool parse_expect(runner_t *r, const char *l, evalcmd_t *e)
{
    const char *p = skip_ws(l + 6);
    static const char *names[] = {"fail", "warn", "info", "no_warn", "no_info", "ordered"};
    int type = -1;
    for (int k = 0; k < 6; k++) {
        size_t n = strlen(names[k]);
        if (strncmp(p, names[k], n) == 0 && (p[n] == 0 || p[n] == ' ' || p[n] == '\t')) {
            type = k;
            p += n;
            break;
        }
    }
    if (type < 0)
        return false;
    expect_t x = {.type = type};
    p = skip_ws(p);
    if (strncmp(p, "msg:", 4) == 0) {
        x.msg = trim_dup(r, p + 4, strlen(p + 4));
    } else if (strncmp(p, "regex:", 6) == 0) {
        const char *pat = trim_dup(r, p + 6, strlen(p + 6));
        x.re = compile_search(r, pat);
        if (!x.re)
            return false;
    } else if (*p) {
        return false;
    }
    e->ex = grow(&r->a, e->ex, e->n_ex, &e->cap_ex, sizeof *e->ex);
    e->ex[e->n_ex++] = x;
    return true;
}

static void free_expects(evalcmd_t *e)
{
    for (size_t i = 0; i < e->n_ex; i++)
        em_regex_free(e->ex[i].re);
}

static int do_eval(runner_t *r, char **lines, size_t n_lines, size_t *i, em_err_t *err)
{
    evalcmd_t e = {.line = (int)*i + 1};
    if (!parse_eval_head(r, lines[*i], &e))
        return em_err_set(err, EM_EINVAL, "%s:%zu: invalid eval command", r->file, *i + 1);
    bool range_vector = false;
    while (*i + 1 < n_lines && lines[*i + 1][0]) {
        (*i)++;
        const char *l = lines[*i];
        if (is_fail(&e) && strncmp(l, "expected_fail_message", 21) == 0) {
            expect_t x = {.type = X_FAIL, .msg = trim_dup(r, l + 21, strlen(l + 21))};
            e.ex = grow(&r->a, e.ex, e.n_ex, &e.cap_ex, sizeof *e.ex);
            e.ex[e.n_ex++] = x;
            break;
        }
        if (is_fail(&e) && strncmp(l, "expected_fail_regexp", 20) == 0) {
            expect_t x = {.type = X_FAIL, .re = compile_search(r, trim_dup(r, l + 20, strlen(l + 20)))};
            e.ex = grow(&r->a, e.ex, e.n_ex, &e.cap_ex, sizeof *e.ex);
            e.ex[e.n_ex++] = x;
            break;
        }
        if (strncmp(l, "expect range vector", 19) == 0) {
            evalcmd_t tmp = {0};
            char head[512];
            snprintf(head, sizeof head, "eval range %s x", skip_ws(l + 19));
            if (!parse_eval_head(r, head, &tmp))
                return em_err_set(err, EM_EINVAL, "%s:%zu: bad range vector line", r->file, *i + 1);
            e.start = tmp.start;
            e.end = tmp.end;
            e.step = tmp.step;
            e.exclude_range = true;
            range_vector = true;
            continue;
        }
        if (strncmp(l, "expect string", 13) == 0) {
            const char *p = skip_ws(l + 13);
            const char *s;
            if (!scan_quoted(r, &p, &s))
                return em_err_set(err, EM_EINVAL, "%s:%zu: bad expect string", r->file, *i + 1);
            e.has_string = true;
            e.string = s;
            e.exclude_range = true;
            continue;
        }
        if (strncmp(l, "expect", 6) == 0 && (l[6] == ' ' || l[6] == '\t' || l[6] == 0)) {
            if (!parse_expect(r, l, &e))
                return em_err_set(err, EM_EINVAL, "%s:%zu: invalid expect line", r->file, *i + 1);
            continue;
        }
        double num;
        if (em_parse_float(l, strlen(l), &num)) {
            e.expect_scalar = true;
            e.scalar = num;
            break;
        }
        series_def_t d;
        if (!parse_series_desc(r, l, &d, true))
            return em_err_set(err, EM_EINVAL, "%s:%zu: bad expected series: %s", r->file, *i + 1, l);
        if (d.histogram && !e.skip_reason)
            e.skip_reason = "expects native histograms";
        e.exp = grow(&r->a, e.exp, e.n_exp, &e.cap_exp, sizeof *e.exp);
        e.exp[e.n_exp++] = d;
    }
    (void)range_vector;
    run_eval(r, &e);
    free_expects(&e);
    return EM_OK;
}

static int run_file(const char *path, const em_promqltest_opts_t *o, em_promqltest_stats_t *st, em_err_t *err)
{
    em_buf_t data = EM_BUF_INIT;
    int rc = em_read_file(path, 64 << 20, &data, err);
    if (rc != EM_OK)
        return rc;
    runner_t r = {.file = path, .out = o->out ? o->out : stdout, .verbose = o->verbose, .st = st};
    em_arena_init(&r.a);
    em_query_engine_opts_t eo = {.lookback_ms = 5 * 60 * 1000,
                                 .timeout_ms = 100 * 1000,
                                 .default_subquery_step_ms = 60 * 1000,
                                 .features = all_features};
    r.engine = em_query_engine_new(&eo);
    /* Split into trimmed lines; comments become empty lines (Prometheus's getLines). */
    size_t n_lines = 1;
    for (size_t i = 0; i < data.len; i++)
        n_lines += data.data[i] == '\n';
    char **lines = em_arena_alloc(&r.a, n_lines * sizeof *lines);
    size_t k = 0;
    const char *p = data.data ? data.data : "";
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *l = trim_dup(&r, p, n);
        size_t ln = strlen(l);
        while (ln && (l[ln - 1] == '\r'))
            l[--ln] = 0;
        if (l[0] == '#')
            l[0] = 0;
        lines[k++] = l;
        if (!nl)
            break;
        p = nl + 1;
    }
    n_lines = k;
    rc = EM_OK;
    for (size_t i = 0; i < n_lines && rc == EM_OK; i++) {
        const char *l = lines[i];
        if (!l[0])
            continue;
        if (strcmp(l, "clear") == 0) {
            head_close(&r);
            r.n_hist = 0;
        } else if (strncmp(l, "load", 4) == 0) {
            rc = do_load(&r, lines, n_lines, &i, err);
        } else if (strncmp(l, "eval", 4) == 0) {
            rc = do_eval(&r, lines, n_lines, &i, err);
        } else {
            rc = em_err_set(err, EM_EINVAL, "%s:%zu: invalid command %s", path, i + 1, l);
        }
    }
    head_close(&r);
    em_query_engine_free(r.engine);
    em_arena_fini(&r.a);
    em_buf_fini(&data);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int em_promqltest_run(const char *const *paths, size_t n_paths, const em_promqltest_opts_t *o,
                      em_promqltest_stats_t *st, em_err_t *err)
{
    int result = EM_OK;
    em_rcu_thread_online();
    for (size_t i = 0; i < n_paths; i++) {
        DIR *d = opendir(paths[i]);
        if (!d) {
            int rc = run_file(paths[i], o, st, err);
            if (rc != EM_OK && result == EM_OK)
                result = rc;
            continue;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            size_t ln = strlen(de->d_name);
            if (ln < 5 || strcmp(de->d_name + ln - 5, ".test") != 0)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                names = realloc(names, cap * sizeof *names);
                if (!names)
                    abort();
            }
            size_t pl = strlen(paths[i]) + ln + 2;
            names[n] = malloc(pl);
            if (!names[n])
                abort();
            size_t dl = strlen(paths[i]);
            while (dl > 1 && paths[i][dl - 1] == '/')
                dl--;
            snprintf(names[n], pl, "%.*s/%s", (int)dl, paths[i], de->d_name);
            n++;
        }
        closedir(d);
        em_qsort(names, n, sizeof *names, cmp_str);
        for (size_t k = 0; k < n; k++) {
            em_err_t e2;
            em_err_clear(&e2);
            int rc = run_file(names[k], o, st, &e2);
            if (rc != EM_OK) {
                fprintf(o->out ? o->out : stdout, "%s: %s\n", names[k], e2.msg);
                if (result == EM_OK) {
                    result = rc;
                    if (err)
                        *err = e2;
                }
            }
            free(names[k]);
        }
        free(names);
    }
    em_rcu_thread_offline();
    return result;
}

int em_promqltest_main(int argc, char **argv)
{
    em_promqltest_opts_t o = {.out = stdout};
    const char **paths = calloc((size_t)argc + 1, sizeof *paths);
    if (!paths)
        abort();
    size_t n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0)
            o.verbose = true;
        else
            paths[n++] = argv[i];
    }
    if (n == 0) {
        fprintf(stderr, "usage: embertool test promql FILE|DIR... [--verbose]\n");
        free(paths);
        return 2;
    }
    em_log_setup(EM_LOG_WARN, EM_LOG_LOGFMT, 2);
    em_promqltest_stats_t st = {0};
    em_err_t err;
    em_err_clear(&err);
    int rc = em_promqltest_run(paths, n, &o, &st, &err);
    free(paths);
    if (rc != EM_OK)
        fprintf(stderr, "error: %s\n", err.msg);
    printf("%zu passed, %zu failed, %zu skipped\n", st.passed, st.failed, st.skipped);
    fflush(stdout);
    if (rc != EM_OK)
        return 2;
    return st.failed ? 1 : 0;
}
