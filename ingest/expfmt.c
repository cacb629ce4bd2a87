/* Design: see expfmt.h.
 *
 * The parser's public face: set-up, the iterator, accessors, and the on-demand work (labels, exemplars,
 * unescaped metadata) that re-reads bytes em_expfmt_next() has already validated.
 */
#include "ingest/expfmt.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/strconv.h"
#include "ingest/expfmt_int.h"

#define NONE ((size_t)-1)

void em_expfmt_parser_init(em_expfmt_parser_t *p, const char *buf, size_t len, em_expfmt_format_t fmt)
{
    memset(p, 0, offsetof(em_expfmt_parser_t, msg));
    p->msg[0] = '\0';
    p->lx.b = buf;
    p->lx.len = len;
    /* Prometheus appends '\n' to a text page; we pretend b[len] is '\n' instead of copying. */
    p->lx.n = len + (fmt == EM_EXPFMT_TEXT);
    p->lx.state = S_INIT;
    p->fmt = (uint8_t)fmt;
    p->name_a = p->name_b = NONE;
    p->fam_a = p->fam_b = NONE;
    em_buf_init(&p->scratch);
}

void em_expfmt_parser_set_flags(em_expfmt_parser_t *p, unsigned flags)
{
    p->flags = flags;
}

void em_expfmt_parser_fini(em_expfmt_parser_t *p)
{
    em_buf_fini(&p->scratch);
}

int em_expfmt_next(em_expfmt_parser_t *p)
{
    if (p->sticky)
        return p->sticky;
    int r = p->fmt == EM_EXPFMT_TEXT ? em_expfmt__prom_next(p) : em_expfmt__om_next(p);
    if (r == EM_EXPFMT_EOF)
        p->sticky = EM_EXPFMT_EOF;
    return r;
}

const char *em_expfmt_error(const em_expfmt_parser_t *p)
{
    return p->msg;
}

void em_expfmt_series(const em_expfmt_parser_t *p, const char **raw, size_t *raw_len, bool *has_ts,
                      int64_t *t_ms, double *v)
{
    if (raw)
        *raw = p->lx.b + p->start;
    if (raw_len)
        *raw_len = p->series_end - p->start;
    if (has_ts)
        *has_ts = p->has_ts;
    if (t_ms)
        *t_ms = p->has_ts ? p->t_ms : 0;
    if (v)
        *v = p->v;
}

void em_expfmt_series_name(const em_expfmt_parser_t *p, const char **name, size_t *len)
{
    *name = p->lx.b + p->name_a;
    *len = p->name_b - p->name_a;
}

size_t em_expfmt_series_nlabels(const em_expfmt_parser_t *p)
{
    return p->n_labels;
}

/* ---- shared by both formats ---- */

bool em_expfmt__type_word(const char *s, size_t n, bool om, em_expfmt_type_t *t)
{
    static const struct {
        const char *s;
        em_expfmt_type_t t;
        uint8_t formats; /* 1: text, 2: OpenMetrics */
    } types[] = {
        {"counter", EM_EXPFMT_TYPE_COUNTER, 3},
        {"gauge", EM_EXPFMT_TYPE_GAUGE, 3},
        {"histogram", EM_EXPFMT_TYPE_HISTOGRAM, 3},
        {"summary", EM_EXPFMT_TYPE_SUMMARY, 3},
        {"untyped", EM_EXPFMT_TYPE_UNKNOWN, 1},
        {"unknown", EM_EXPFMT_TYPE_UNKNOWN, 2},
        {"gaugehistogram", EM_EXPFMT_TYPE_GAUGEHISTOGRAM, 2},
        {"info", EM_EXPFMT_TYPE_INFO, 2},
        {"stateset", EM_EXPFMT_TYPE_STATESET, 2},
    };
    for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
        if ((types[k].formats & (om ? 2 : 1)) && strlen(types[k].s) == n && memcmp(types[k].s, s, n) == 0) {
            *t = types[k].t;
            return true;
        }
    }
    return false;
}

int em_expfmt__fast_meta(em_expfmt_parser_t *p)
{
    const char *b = p->lx.b;
    size_t len = p->lx.len, i = p->start;
    bool om = p->fmt == EM_EXPFMT_OPENMETRICS;
    if (len - i < 9 || b[i + 1] != ' ')
        return 0;
    bool help = memcmp(b + i + 2, "HELP ", 5) == 0;
    if (!help && memcmp(b + i + 2, "TYPE ", 5) != 0)
        return 0;
    i += 7;
    if (!cc_is((unsigned char)b[i], CC_M))
        return 0;
    size_t na = i;
    i = cc_span((const unsigned char *)b, i + 1, len, CC_MD);
    size_t nb = i;
    if (i >= len || b[i] != ' ')
        return 0;
    size_t ta = ++i;
    const char *nl = memchr(b + ta, '\n', len - ta);
    if (!nl)
        return 0;
    size_t tb = (size_t)(nl - b);
    /* Text format: a text of blanks only is no text at all there; leave blank-led texts to it. */
    if (!om && ta < tb && (b[ta] == ' ' || b[ta] == '\t'))
        return 0;
    if (memchr(b + ta, '\0', tb - ta))
        return 0;
    if (help) {
        if (!em_expfmt__utf8(b + ta, tb - ta))
            return 0;
    } else if (!em_expfmt__type_word(b + ta, tb - ta, om, &p->mtype)) {
        return 0;
    }
    p->name_a = na;
    p->name_b = nb;
    p->name_esc = false;
    p->text_a = ta;
    p->text_b = tb;
    /* OpenMetrics reads the newline as part of the text token, still in the help-text condition,
     * where the lexer steps over NUL bytes (and Prometheus then cuts the text one byte short): leave
     * that to the exact path. */
    if (om && tb + 1 < len && b[tb + 1] == '\0')
        return 0;
    p->lx.i = tb + 1;
    p->lx.tok = tb;
    p->lx.state = S_INIT;
    return help ? EM_EXPFMT_HELP : EM_EXPFMT_TYPE;
}

/* ---- labels ---- */

/* Copy s[0, n) into the arena as a C string, resolving \\ \" and \n (Prometheus's lvalReplacer: other
 * backslash sequences stay as written). *nul is set when the result would hold a NUL byte. */
static char *unescape_to(em_arena_t *a, const char *s, size_t n, bool *nul)
{
    char *d = em_arena_alloc(a, n + 1);
    if (!memchr(s, '\\', n)) {
        memcpy(d, s, n);
        d[n] = '\0';
        if (memchr(s, '\0', n))
            *nul = true;
        return d;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < n && (s[i + 1] == '\\' || s[i + 1] == '"' || s[i + 1] == 'n')) {
            c = s[i + 1] == 'n' ? '\n' : s[i + 1];
            i++;
        }
        if (c == '\0')
            *nul = true;
        d[o++] = c;
    }
    d[o] = '\0';
    return d;
}

static int lex_tok(const em_expfmt_parser_t *p, em_expfmt_lexer_t *lx)
{
    if (p->fmt == EM_EXPFMT_OPENMETRICS)
        return em_expfmt__om_lex(lx);
    int t;
    while ((t = em_expfmt__prom_lex(lx)) == T_WHITESPACE)
        ;
    return t;
}

/* Re-read the label pairs of an already validated {...} whose first token is current in lx (state
 * S_LABELS or S_EXEMPLAR): append up to cap - *n pairs to v, skipping a quoted metric name. */
static void collect_pairs(const em_expfmt_parser_t *p, em_expfmt_lexer_t *lx, em_arena_t *a, em_label_t *v,
                          size_t *n, size_t cap, bool *nul)
{
    int t = lex_tok(p, lx);
    while (t == T_LNAME || t == T_QSTRING) {
        bool quoted = t == T_QSTRING;
        size_t ca = lx->tok + quoted, cb = lx->i - quoted;
        t = lex_tok(p, lx);
        if (quoted && (t == T_COMMA || t == T_BCLOSE)) {
            t = t == T_COMMA ? lex_tok(p, lx) : t;
            continue;
        }
        if (t != T_EQUAL || lex_tok(p, lx) != T_LVALUE)
            break; /* cannot happen: em_expfmt_next() accepted these bytes */
        if (*n < cap) {
            v[*n].name = unescape_to(a, lx->b + ca, cb - ca, nul);
            v[*n].value = unescape_to(a, lx->b + lx->tok + 1, lx->i - lx->tok - 2, nul);
            (*n)++;
        }
        t = lex_tok(p, lx);
        if (t == T_COMMA)
            t = lex_tok(p, lx);
    }
}

static bool metric_name_ok(const char *s, bool utf8)
{
    if (!s[0])
        return false;
    if (utf8)
        return em_utf8_valid(s, strlen(s));
    if (!cc_is((unsigned char)s[0], CC_M))
        return false;
    for (const char *q = s + 1; *q; q++)
        if (!cc_is((unsigned char)*q, CC_MD))
            return false;
    return true;
}

static bool label_name_ok(const char *s, bool utf8)
{
    size_t n = strlen(s);
    return utf8 ? n > 0 && em_utf8_valid(s, n) : em_label_name_valid(s, n);
}

/* Prometheus 3 (normalizeFloatsInLabelValues): histogram "le" and summary "quantile" values are
 * rewritten in OpenMetrics float form, so that le="1" and le="1.0" are one series. */
static void normalize_float_label(const em_expfmt_parser_t *p, em_arena_t *a, em_label_t *l)
{
    bool le = p->mtype == EM_EXPFMT_TYPE_HISTOGRAM && strcmp(l->name, "le") == 0;
    bool q = p->mtype == EM_EXPFMT_TYPE_SUMMARY && strcmp(l->name, "quantile") == 0;
    double f;
    if (!(le || q) || em_expfmt__parse_float(l->value, strlen(l->value), &f) != FP_OK)
        return;
    char tmp[EM_FLOAT_BUF + 4];
    size_t n = em_expfmt__fmt_om_float(f, tmp);
    if (n != strlen(l->value) || memcmp(tmp, l->value, n) != 0)
        l->value = em_arena_strndup(a, tmp, n);
}

/* The label pairs of a series the fast path read: plain names, values without escapes or NULs. */
static size_t fast_pairs(const em_expfmt_parser_t *p, em_arena_t *a, em_label_t *v, size_t n, size_t cap)
{
    const char *b = p->lx.b;
    size_t i = p->name_b, end = p->series_end;
    if (i >= end || b[i] != '{')
        return n;
    for (i++; b[i] != '}' && n < cap;) {
        size_t na = i;
        i = cc_span((const unsigned char *)b, i, end, CC_LD);
        size_t nb = i, va = i + 2;
        const char *q = memchr(b + va, '"', end - va);
        assert(q != NULL); /* the fast path saw the closing quote */
        i = (size_t)(q - b) + 1;
        i += b[i] == ',';
        v[n].name = em_arena_strndup(a, b + na, nb - na);
        v[n].value = em_arena_strndup(a, b + va, (size_t)(q - b) - va);
        n++;
    }
    return n;
}

/* Drop empty values, validate names (unless the fast path vouches for them), sort, reject duplicates.
 * 'series' tells a series' set (with __name__ first) from an exemplar's. */
static int finish_set(em_expfmt_parser_t *p, em_label_t *v, size_t *np, bool series)
{
    bool utf8 = (p->flags & EM_EXPFMT_UTF8_NAMES) != 0;
    size_t n = 0;
    for (size_t k = 0; k < *np; k++)
        if (v[k].value[0])
            v[n++] = v[k];
    *np = n;
    if (series && (n == 0 || strcmp(v[0].name, EM_METRIC_NAME) != 0))
        return em_expfmt__note(p, EM_EINVAL, "missing metric name (__name__ label)");
    for (size_t k = 0; k < n && !(series && p->fastpath); k++) {
        bool ok = series && k == 0 ? metric_name_ok(v[k].value, utf8) : label_name_ok(v[k].name, utf8);
        if (!ok) {
            em_labels_t ls = {v, n};
            em_buf_t b = EM_BUF_INIT;
            em_buf_puts(&b,
                        series ? "invalid metric name or label names: " : "invalid exemplar label names: ");
            em_labels_format(&ls, &b);
            int rc = em_expfmt__note(p, EM_EINVAL, b.data);
            em_buf_fini(&b);
            return rc;
        }
    }
    em_labels_sort(v, n);
    for (size_t k = 1; k < n; k++) {
        if (strcmp(v[k - 1].name, v[k].name) == 0) {
            char msg[EM_EXPFMT_MSG_MAX];
            snprintf(msg, sizeof(msg), "label name \"%.200s\" is not unique: invalid sample", v[k].name);
            return em_expfmt__note(p, EM_EINVAL, msg);
        }
    }
    return EM_OK;
}

int em_expfmt_labels(em_expfmt_parser_t *p, em_arena_t *a, em_labels_t *out)
{
    size_t cap = (size_t)p->n_labels + 1, n = 0;
    em_label_t *v = em_arena_alloc(a, cap * sizeof(*v));
    bool nul = false;
    v[n].name = EM_METRIC_NAME;
    v[n++].value = unescape_to(a, p->lx.b + p->name_a, p->name_b - p->name_a, &nul);

    if (p->fastpath) {
        n = fast_pairs(p, a, v, n, cap);
    } else {
        em_expfmt_lexer_t lx = p->lx;
        lx.i = p->start;
        lx.state = S_INIT;
        int t = lex_tok(p, &lx);
        if (t == T_MNAME && lx.i < p->series_end)
            t = lex_tok(p, &lx);
        if (t == T_BOPEN)
            collect_pairs(p, &lx, a, v, &n, cap, &nul);
    }
    if (nul)
        return em_expfmt__note(p, EM_EINVAL, "label names and values may not contain NUL bytes");
    for (size_t k = 1; k < n; k++)
        normalize_float_label(p, a, &v[k]);
    int rc = finish_set(p, v, &n, true);
    if (rc)
        return rc;
    out->v = v;
    out->n = n;
    return EM_OK;
}

static size_t rune_count(const char *s)
{
    size_t r = 0;
    for (; *s; s++)
        r += ((unsigned char)*s & 0xc0) != 0x80;
    return r;
}

int em_expfmt_exemplar(em_expfmt_parser_t *p, em_arena_t *a, em_labels_t *labels, double *v, bool *has_ts,
                       int64_t *t_ms)
{
    if (!p->has_ex)
        return EM_ENOTFOUND;
    size_t cap = p->ex_n ? p->ex_n : 1, n = 0;
    em_label_t *ls = em_arena_alloc(a, cap * sizeof(*ls));
    bool nul = false;
    em_expfmt_lexer_t lx = p->lx;
    lx.i = p->ex_a;
    lx.state = S_EXEMPLAR;
    collect_pairs(p, &lx, a, ls, &n, cap, &nul);
    if (nul)
        return em_expfmt__note(p, EM_EINVAL, "label names and values may not contain NUL bytes");
    size_t runes = 0;
    for (size_t k = 0; k < n; k++)
        runes += rune_count(ls[k].name) + rune_count(ls[k].value);
    if (runes > EM_EXPFMT_EXEMPLAR_MAX_RUNES)
        return em_expfmt__note(p, EM_ELIMIT,
                               "label length for exemplar exceeds maximum of 128 UTF-8 characters");
    int rc = finish_set(p, ls, &n, false);
    if (rc)
        return rc;
    if (labels) {
        labels->v = ls;
        labels->n = n;
    }
    if (v)
        *v = p->ex_v;
    if (has_ts)
        *has_ts = p->ex_has_ts;
    if (t_ms)
        *t_ms = p->ex_has_ts ? p->ex_t_ms : 0;
    return EM_OK;
}

/* ---- metadata ---- */

/* Append s[0, n) to b resolving backslash escapes: \\ and \n, and \" when 'quote'. */
static void unescape_buf(em_buf_t *b, const char *s, size_t n, bool quote)
{
    const char *bs;
    while (n && (bs = memchr(s, '\\', n)) != NULL) {
        size_t k = (size_t)(bs - s);
        em_buf_append(b, s, k);
        s += k;
        n -= k;
        if (n >= 2 && (s[1] == '\\' || s[1] == 'n' || (quote && s[1] == '"'))) {
            em_buf_putc(b, s[1] == 'n' ? '\n' : s[1]);
            s += 2;
            n -= 2;
        } else {
            em_buf_putc(b, '\\');
            s++;
            n--;
        }
    }
    em_buf_append(b, s, n);
}

/* The family name of a metadata entry, unescaped into the scratch buffer when it was quoted with
 * escapes; returns the offset in scratch, or NONE when it can be used in place. */
static size_t meta_name(em_expfmt_parser_t *p)
{
    if (!p->name_esc)
        return NONE;
    size_t off = p->scratch.len;
    unescape_buf(&p->scratch, p->lx.b + p->name_a, p->name_b - p->name_a, true);
    return off;
}

static void put_name(em_expfmt_parser_t *p, size_t off, size_t end, const char **name, size_t *len)
{
    if (off == NONE) {
        *name = p->lx.b + p->name_a;
        *len = p->name_b - p->name_a;
    } else {
        *name = p->scratch.data + off;
        *len = end - off;
    }
}

void em_expfmt_help(em_expfmt_parser_t *p, const char **name, size_t *name_len, const char **text,
                    size_t *text_len)
{
    em_buf_reset(&p->scratch);
    size_t noff = meta_name(p), nend = p->scratch.len;
    const char *t = p->lx.b + p->text_a;
    size_t tn = p->text_b - p->text_a;
    size_t toff = NONE;
    if (memchr(t, '\\', tn)) {
        toff = p->scratch.len;
        /* Text format: helpReplacer (\\ and \n); OpenMetrics: lvalReplacer (also \"). */
        unescape_buf(&p->scratch, t, tn, p->fmt == EM_EXPFMT_OPENMETRICS);
    }
    put_name(p, noff, nend, name, name_len);
    if (toff == NONE) {
        *text = t;
        *text_len = tn;
    } else {
        *text = p->scratch.data + toff;
        *text_len = p->scratch.len - toff;
    }
}

em_expfmt_type_t em_expfmt_type(em_expfmt_parser_t *p, const char **name, size_t *name_len)
{
    em_buf_reset(&p->scratch);
    size_t noff = meta_name(p);
    if (name)
        put_name(p, noff, p->scratch.len, name, name_len);
    return p->mtype;
}

void em_expfmt_unit(em_expfmt_parser_t *p, const char **name, size_t *name_len, const char **unit,
                    size_t *unit_len)
{
    em_buf_reset(&p->scratch);
    size_t noff = meta_name(p);
    put_name(p, noff, p->scratch.len, name, name_len);
    *unit = p->lx.b + p->text_a;
    *unit_len = p->text_b - p->text_a;
}

void em_expfmt_comment(const em_expfmt_parser_t *p, const char **text, size_t *len)
{
    *text = p->lx.b + p->text_a;
    *len = p->text_b - p->text_a;
}

const char *em_expfmt_type_name(em_expfmt_type_t t)
{
    switch (t) {
    case EM_EXPFMT_TYPE_COUNTER:
        return "counter";
    case EM_EXPFMT_TYPE_GAUGE:
        return "gauge";
    case EM_EXPFMT_TYPE_HISTOGRAM:
        return "histogram";
    case EM_EXPFMT_TYPE_GAUGEHISTOGRAM:
        return "gaugehistogram";
    case EM_EXPFMT_TYPE_SUMMARY:
        return "summary";
    case EM_EXPFMT_TYPE_INFO:
        return "info";
    case EM_EXPFMT_TYPE_STATESET:
        return "stateset";
    case EM_EXPFMT_TYPE_UNKNOWN:
        break;
    }
    return "unknown";
}

/* ---- Content-Type ---- */

/* The media type of ct ("type/subtype", trimmed, lower-cased) into out. Returns NULL on success or Go
 * mime.ParseMediaType's complaint. */
static const char *media_type(const char *ct, char *out, size_t cap)
{
    static const char tspecials[] = "()<>@,;:\\\"/[]?=";
    size_t o = 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    const char *end = strchr(ct, ';');
    if (!end)
        end = ct + strlen(ct);
    while (end > ct && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end == ct)
        return "mime: no media type";
    int part = 0;
    for (const char *q = ct; q < end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c == '/' && part == 0 && o > 0) {
            part = 1;
        } else if (c <= ' ' || c >= 0x7f || strchr(tspecials, c)) {
            return part == 0 ? "mime: expected slash after first token"
                             : "mime: unexpected content after media subtype";
        }
        if (o + 1 < cap)
            out[o++] = (char)tolower(c);
    }
    out[o] = '\0';
    if (part == 0)
        return "mime: expected slash after first token";
    if (out[o - 1] == '/')
        return "mime: expected token after slash";
    return NULL;
}

em_expfmt_format_t em_expfmt_format_from_content_type(const char *ct)
{
    char mt[128];
    if (ct && !media_type(ct, mt, sizeof(mt)) && strcmp(mt, "application/openmetrics-text") == 0)
        return EM_EXPFMT_OPENMETRICS;
    return EM_EXPFMT_TEXT;
}

static const char *fallback_name(int f)
{
    return f == EM_EXPFMT_OPENMETRICS ? "OpenMetricsText1.0.0" : "PrometheusText0.0.4";
}

int em_expfmt_format_negotiate(const char *ct, int fallback, em_expfmt_format_t *out, em_err_t *err)
{
    bool have_fb = fallback == EM_EXPFMT_TEXT || fallback == EM_EXPFMT_OPENMETRICS;
    char mt[128];
    em_err_clear(err);
    if (!ct || !ct[0]) {
        if (!have_fb)
            return em_err_set(err, EM_EUNSUPPORTED,
                              "non-compliant scrape target sending blank Content-Type and no "
                              "fallback_scrape_protocol specified for target");
        *out = (em_expfmt_format_t)fallback;
        em_err_set(err, EM_OK,
                   "non-compliant scrape target sending blank Content-Type, using fallback_scrape_protocol "
                   "\"%s\"",
                   fallback_name(fallback));
        return EM_OK;
    }
    const char *perr = media_type(ct, mt, sizeof(mt));
    if (perr) {
        if (!have_fb)
            return em_err_set(
                err, EM_EUNSUPPORTED,
                "cannot parse Content-Type \"%.200s\" and no fallback_scrape_protocol for target\n%s", ct,
                perr);
        *out = (em_expfmt_format_t)fallback;
        em_err_set(
            err, EM_OK,
            "could not parse received Content-Type \"%.200s\", using fallback_scrape_protocol \"%s\"\n%s", ct,
            fallback_name(fallback), perr);
        return EM_OK;
    }
    if (strcmp(mt, "application/openmetrics-text") == 0 || strcmp(mt, "text/plain") == 0) {
        *out = mt[0] == 'a' ? EM_EXPFMT_OPENMETRICS : EM_EXPFMT_TEXT;
        return EM_OK;
    }
    if (!have_fb)
        return em_err_set(
            err, EM_EUNSUPPORTED,
            "received unsupported Content-Type \"%.200s\" and no fallback_scrape_protocol specified for "
            "target",
            ct);
    *out = (em_expfmt_format_t)fallback;
    em_err_set(err, EM_OK,
               "received unsupported Content-Type \"%.200s\", using fallback_scrape_protocol \"%s\"", ct,
               fallback_name(fallback));
    return EM_OK;
}

/* ---- limits ---- */

int em_expfmt_check_limits(const em_labels_t *ls, const em_expfmt_limits_t *lim, em_err_t *err)
{
    const char *met = em_labels_get(ls, EM_METRIC_NAME);
    if (!met)
        met = "";
    int ml = (int)em_expfmt__rune_prefix(met, 50);
    if (lim->label_limit && ls->n > lim->label_limit)
        return em_err_set(err, EM_ELIMIT,
                          "label_limit exceeded (metric: %.*s, number of labels: %zu, limit: %zu)", ml, met,
                          ls->n, lim->label_limit);
    for (size_t k = 0; k < ls->n; k++) {
        const char *name = ls->v[k].name, *value = ls->v[k].value;
        size_t nl = strlen(name), vl = strlen(value);
        int nn = (int)em_expfmt__rune_prefix(name, 50);
        if (lim->label_name_length_limit && nl > lim->label_name_length_limit)
            return em_err_set(
                err, EM_ELIMIT,
                "label_name_length_limit exceeded (metric: %.*s, label name: %.*s, length: %zu, limit: "
                "%zu)",
                ml, met, nn, name, nl, lim->label_name_length_limit);
        if (lim->label_value_length_limit && vl > lim->label_value_length_limit) {
            char q[256];
            em_expfmt__quote_str(q, sizeof(q), value, 50);
            return em_err_set(
                err, EM_ELIMIT,
                "label_value_length_limit exceeded (metric: %.*s, label name: %.*s, value: %s, length: "
                "%zu, limit: %zu)",
                ml, met, nn, name, q, vl, lim->label_value_length_limit);
        }
    }
    return EM_OK;
}
