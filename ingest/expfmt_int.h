/* ingest/expfmt_int.h -- internals of the exposition-format parsers, shared by expfmt*.c and their tests.
 *
 * Design: see expfmt.h. The token and state numbering follows Prometheus's textparse so that the token
 * names in error messages ("INVALID", "BCLOSE", ...) are Prometheus's.
 */
#ifndef EMBER_INGEST_EXPFMT_INT_H
#define EMBER_INGEST_EXPFMT_INT_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/expfmt.h"

/* Tokens, as textparse's token type. */
enum {
    T_INVALID = -1,
    T_EOF = 0,
    T_LINEBREAK,
    T_WHITESPACE,
    T_HELP,
    T_TYPE,
    T_UNIT,
    T_EOFWORD,
    T_TEXT,
    T_COMMENT,
    T_BLANK,
    T_MNAME,
    T_QSTRING,
    T_BOPEN,
    T_BCLOSE,
    T_LNAME,
    T_LVALUE,
    T_COMMA,
    T_EQUAL,
    T_TIMESTAMP,
    T_VALUE,
};

/* Lexer start conditions, as promlex.l / openmetricslex.l. */
enum {
    S_INIT = 0,
    S_COMMENT,
    S_META1,
    S_META2,
    S_LABELS,
    S_LVALUE,
    S_VALUE,
    S_TIMESTAMP,
    S_EXEMPLAR,
    S_EVALUE,
    S_ETIMESTAMP,
};

/* Internal option: never take the fast path (tests and the fuzz target compare both paths). */
#define EM_EXPFMT_NO_FASTPATH (1u << 31)

/* Whether the n bytes at s are valid UTF-8. */
bool em_expfmt__utf8(const char *s, size_t n);

/* Character classes (bit flags in em_expfmt__cc[]). */
enum {
    CC_M = 1,      /* [a-zA-Z_:]     first character of a metric name */
    CC_MD = 2,     /* [a-zA-Z0-9_:]  metric name */
    CC_L = 4,      /* [a-zA-Z_]      first character of a label name */
    CC_LD = 8,     /* [a-zA-Z0-9_]   label name */
    CC_VAL = 16,   /* printable ASCII but '"' and '\\', or any byte >= 0x80: the fast path's label values */
    CC_TVAL = 32,  /* text-format sample value bytes: not NUL, '\t', '\n', ' ', '{' */
    CC_OVAL = 64,  /* OpenMetrics value/timestamp bytes: not NUL, '\n', ' ' */
    CC_VALA = 128, /* CC_VAL restricted to ASCII */
};
extern const uint8_t em_expfmt__cc[256];

static inline bool cc_is(unsigned char c, int cls)
{
    return (em_expfmt__cc[c] & cls) != 0;
}

/* The end of the run of class-cls bytes starting at i in b[0, len): eight table lookups per branch. */
static inline size_t cc_span(const unsigned char *b, size_t i, size_t len, int cls)
{
    const uint8_t *cc = em_expfmt__cc;
    while (i + 8 <= len && (cc[b[i]] & cc[b[i + 1]] & cc[b[i + 2]] & cc[b[i + 3]] & cc[b[i + 4]] &
                            cc[b[i + 5]] & cc[b[i + 6]] & cc[b[i + 7]] & cls))
        i += 8;
    while (i < len && (cc[b[i]] & cls))
        i++;
    return i;
}

/* Scan a label value of the fast paths from i (after the opening quote): printable ASCII, or valid
 * UTF-8, without '"' or '\\'. Returns the position of the byte that ends it (len when the bytes are not
 * valid UTF-8, which makes the caller fall back to the exact path). */
static inline size_t fast_lvalue_end(const unsigned char *b, size_t i, size_t len)
{
    size_t e = cc_span(b, i, len, CC_VALA);
    if (e < len && b[e] >= 0x80) {
        /* Rare: non-ASCII text. Take the whole run, then it must be valid UTF-8. */
        e = cc_span(b, e, len, CC_VAL);
        if (!em_expfmt__utf8((const char *)b + i, e - i))
            return len; /* "not a value": the caller falls back */
    }
    return e;
}

/* The byte at logical position i (i < lx->n): the text format's virtual trailing '\n' at b[len]. */
static inline int lx_at(const em_expfmt_lexer_t *lx, size_t i)
{
    return i < lx->len ? (unsigned char)lx->b[i] : '\n';
}

/* One token of the text format (promlex.l) or of OpenMetrics (openmetricslex.l), advancing lx. The
 * token spans [lx->tok, lx->i); at the end of input T_EOF is returned and lx->tok is left unchanged,
 * as in Prometheus. */
int em_expfmt__prom_lex(em_expfmt_lexer_t *lx);
int em_expfmt__om_lex(em_expfmt_lexer_t *lx);
const char *em_expfmt__tok_name(int tok);

/* Entry parsers of each format (expfmt_text.c, expfmt_om.c). Return an entry kind or EM_EINVAL. */
int em_expfmt__prom_next(em_expfmt_parser_t *p);
int em_expfmt__om_next(em_expfmt_parser_t *p);

/* Match a TYPE word of the format ("untyped" is text-only; "unknown", "gaugehistogram", "info",
 * "stateset" OpenMetrics-only). */
bool em_expfmt__type_word(const char *s, size_t n, bool om, em_expfmt_type_t *t);
/* Fast path for "# HELP name text\n" and "# TYPE name type\n" at p->start: returns EM_EXPFMT_HELP or
 * EM_EXPFMT_TYPE having consumed the line, or 0 (nothing touched) to let the exact path read it. */
int em_expfmt__fast_meta(em_expfmt_parser_t *p);

/* Go's strconv.ParseFloat as Prometheus's parseFloat calls it (no 'p', 'P' or '_'). */
enum { FP_OK = 0, FP_SYNTAX, FP_RANGE, FP_UNSUPPORTED };
int em_expfmt__parse_float(const char *s, size_t n, double *out);
/* Go's strconv.ParseInt(s, 10, 64) on a string of decimal digits. Returns FP_OK or FP_RANGE. */
int em_expfmt__parse_digits(const char *s, size_t n, int64_t *out);
/* NaN as Prometheus stores it (value.NormalNaN). */
double em_expfmt__normal_nan(void);
/* int64(f) as Go on amd64 computes it: out-of-range values become INT64_MIN. */
int64_t em_expfmt__f2i(double f);

/* Errors. All set p->sticky = EM_EINVAL and p->msg = "line N: ..." and return EM_EINVAL. */
/* Prometheus's parseError: "<exp>, got %q (%q) while parsing: %q". */
int em_expfmt__err_parse(em_expfmt_parser_t *p, const char *exp, int tok);
/* A message with "%q"-quoted ranges of the page: fmt uses %Q for a quoted logical range (two size_t
 * arguments: from, to), %s for a C string, %T for a token name (int). */
int em_expfmt__errf(em_expfmt_parser_t *p, const char *fmt, ...);
/* The float-parse failure of code rc on b[a, b), then " while parsing: %q" of [p->start, end). */
int em_expfmt__err_float(em_expfmt_parser_t *p, int rc, const char *fn, size_t a, size_t b, size_t end);

/* Set p->msg to "line N: <msg>" for the current entry without making the error sticky (problems found
 * after em_expfmt_next(): in em_expfmt_labels() and em_expfmt_exemplar()). Returns code. */
int em_expfmt__note(em_expfmt_parser_t *p, int code, const char *msg);
/* Go's fmt %.<max_runes>q of the C string s, into out (cap bytes, truncated if needed). */
void em_expfmt__quote_str(char *out, size_t cap, const char *s, size_t max_runes);
/* Bytes of the first max_runes runes of s (Go's %.Ns precision counts runes). */
size_t em_expfmt__rune_prefix(const char *s, size_t max_runes);

/* OpenMetrics float text of v (FormatOpenMetricsFloat): "1.0", "0.0", "+Inf", "1e-05", ... */
size_t em_expfmt__fmt_om_float(double v, char *out);

/* ---- the fast paths' common part (fast_series in expfmt_text.c and expfmt_om.c) ---- */

/* What the head of a usual sample line holds. */
typedef struct fast_line {
    size_t name_b, series_end; /* end of the name; end of the name and labels */
    uint32_t n_labels;
    double v;
} fast_line_t;

/* The head of the usual line, `name{a="b",...} value`, from p->start: plain label names, values without
 * escapes, the value made of val_cls bytes (the format's value class). Returns the index just past the
 * value, or 0 when the line is anything else (then the exact path reads it). */
static inline size_t fast_head(const em_expfmt_parser_t *p, int val_cls, fast_line_t *out)
{
    const unsigned char *b = (const unsigned char *)p->lx.b;
    size_t len = p->lx.len, i = p->start + 1;
    uint32_t nl = 0;
    i = cc_span(b, i, len, CC_MD);
    out->name_b = i;
    if (i < len && b[i] == '{') {
        i++;
        while (i < len && b[i] != '}') {
            if (!cc_is(b[i], CC_L))
                return 0;
            i = cc_span(b, i + 1, len, CC_LD);
            if (i + 1 >= len || b[i] != '=' || b[i + 1] != '"')
                return 0;
            i += 2;
            i = fast_lvalue_end(b, i, len);
            if (i + 1 >= len || b[i] != '"')
                return 0;
            i++;
            nl++;
            if (b[i] == ',')
                i++;
            else if (b[i] != '}')
                return 0;
        }
        if (i >= len)
            return 0;
        i++;
    }
    out->series_end = i;
    out->n_labels = nl;
    if (i >= len || b[i] != ' ')
        return 0;
    size_t va = ++i;
    i = cc_span(b, i, len, val_cls);
    if (i >= len || i == va || em_expfmt__parse_float((const char *)b + va, i - va, &out->v) != FP_OK)
        return 0;
    return i;
}

/* Take the line fast_head read, whose newline is at eol: the next entry starts after it. */
static inline bool fast_take(em_expfmt_parser_t *p, const fast_line_t *f, size_t eol, bool has_ts,
                             int64_t t_ms)
{
    p->lx.i = eol + 1;
    p->lx.tok = eol;
    p->lx.state = S_INIT;
    p->series_end = f->series_end;
    p->name_a = p->start;
    p->name_b = f->name_b;
    p->name_esc = false;
    p->fastpath = true;
    p->n_labels = f->n_labels;
    p->v = isnan(f->v) ? em_expfmt__normal_nan() : f->v;
    p->has_ts = has_ts;
    p->t_ms = t_ms;
    return true;
}

#endif
