/* Design: see expfmt.h.
 *
 * Numbers and error messages, both with Go's semantics because Prometheus's behaviour and texts come
 * from Go's standard library: strconv.ParseFloat (what parses, what overflows), strconv.ParseInt, the
 * %q verb (how excerpts of the page are quoted in messages) and strconv.NumError's wording.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "base/strconv.h"
#include "engine/labels.h"
#include "ingest/expfmt_int.h"

/* ---- numbers ---- */

double em_expfmt__normal_nan(void)
{
    /* value.NormalNaN: Prometheus stores every scraped NaN with these bits. */
    uint64_t bits = 0x7ff8000000000001ull;
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

int64_t em_expfmt__f2i(double f)
{
    /* Go's int64(f) compiles to CVTTSD2SQ on amd64, which yields INT64_MIN for NaN and out-of-range
     * values; C leaves that undefined, so spell it out. */
    if (f >= -9223372036854775808.0 && f < 9223372036854775808.0)
        return (int64_t)f;
    return INT64_MIN;
}

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Go's special(): [+-]?(inf|infinity) or nan (unsigned), any case, covering the whole string. Returns
 * 1 when s is one of them, 0 when it is not a special at all, -1 when it starts like one but is not. */
static int parse_special(const char *s, size_t n, double *out)
{
    size_t i = 0;
    bool neg = false;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
    }
    if (i < n && (s[i] | 0x20) == 'i') {
        size_t rest = n - i;
        if ((rest == 3 && strncasecmp(s + i, "inf", 3) == 0) ||
            (rest == 8 && strncasecmp(s + i, "infinity", 8) == 0)) {
            *out = neg ? -INFINITY : INFINITY;
            return 1;
        }
        return -1;
    }
    if (i == 0 && (s[0] | 0x20) == 'n') {
        if (n == 3 && strncasecmp(s, "nan", 3) == 0) {
            *out = NAN;
            return 1;
        }
        return -1;
    }
    return 0;
}

static int parse_float_slow(const char *s, size_t n, double *out)
{
    char stack[128];
    char *tmp = n < sizeof(stack) ? stack : em_malloc(n + 1);
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    /* The grammar was checked, so strtod consumes everything; it rounds correctly like Go. */
    double d = strtod(tmp, NULL);
    if (tmp != stack)
        free(tmp);
    if (isinf(d))
        return FP_RANGE; /* Go: "value out of range" (underflow to 0 is not an error in Go) */
    *out = d;
    return FP_OK;
}

/* The grammar and value; FP_SYNTAX for anything that is not a Go decimal float or special. */
static int parse_float_grammar(const char *s, size_t n, double *out)
{
    const char *p = s, *e = s + n;
    bool neg = false;
    if (*p == '+' || *p == '-') {
        neg = *p == '-';
        p++;
    }
    if (p < e && (unsigned)(*p - '0') > 9 && *p != '.') {
        int sp = parse_special(s, n, out);
        return sp > 0 ? FP_OK : FP_SYNTAX;
    }
    /* Up to 19 significant digits fit in the mantissa; longer strings go to strtod below. */
    uint64_t mant = 0;
    const char *ds = p;
    for (; p < e && (unsigned)(*p - '0') <= 9; p++)
        mant = mant * 10 + (uint64_t)(*p - '0');
    size_t nint = (size_t)(p - ds), nfrac = 0;
    if (p < e && *p == '.') {
        const char *fs = ++p;
        for (; p < e && (unsigned)(*p - '0') <= 9; p++)
            mant = mant * 10 + (uint64_t)(*p - '0');
        nfrac = (size_t)(p - fs);
    }
    if (nint + nfrac == 0)
        return FP_SYNTAX;
    long exp10 = -(long)nfrac;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        int esign = 1;
        if (p < e && (*p == '+' || *p == '-')) {
            esign = *p == '-' ? -1 : 1;
            p++;
        }
        if (p >= e || (unsigned)(*p - '0') > 9)
            return FP_SYNTAX;
        long x = 0;
        for (; p < e && (unsigned)(*p - '0') <= 9; p++)
            if (x < 100000)
                x = x * 10 + (*p - '0');
        exp10 += esign * x;
    }
    if (p != e)
        return FP_SYNTAX;
    if (nint + nfrac > 19)
        return parse_float_slow(s, n, out);
    if (mant == 0) {
        *out = neg ? -0.0 : 0.0;
        return FP_OK;
    }
    /* Clinger's fast path: an exact mantissa times an exact power of ten rounds once, correctly. */
    if (mant <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)mant;
        d = exp10 < 0 ? d / pow10_exact[-exp10] : d * pow10_exact[exp10];
        *out = neg ? -d : d;
        return FP_OK;
    }
    return parse_float_slow(s, n, out);
}

int em_expfmt__parse_float(const char *s, size_t n, double *out)
{
    if (n == 0)
        return FP_SYNTAX;
    int rc = parse_float_grammar(s, n, out);
    if (rc == FP_OK)
        return rc; /* the grammar admits no 'p', 'P' or '_' */
    /* Prometheus checks these first: "Keep to pre-Go 1.13 float formats." */
    for (size_t k = 0; k < n; k++)
        if (s[k] == 'p' || s[k] == 'P' || s[k] == '_')
            return FP_UNSUPPORTED;
    return rc;
}

int em_expfmt__parse_digits(const char *s, size_t n, int64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_C(9223372036854775807) - d) / 10)
            return FP_RANGE;
        v = v * 10 + d;
    }
    *out = (int64_t)v;
    return FP_OK;
}

size_t em_expfmt__fmt_om_float(double v, char *out)
{
    /* labels.FormatOpenMetricsFloat: Go's %g, with ".0" added to integral values. */
    if (v == 0) {
        memcpy(out, "0.0", 4);
        return 3;
    }
    size_t n = em_fmt_float(v, 'g', out);
    if (isnan(v) || isinf(v) || memchr(out, '.', n) || memchr(out, 'e', n))
        return n;
    memcpy(out + n, ".0", 3);
    return n + 2;
}

bool em_expfmt__utf8(const char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ull)
            break;
    }
    for (; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return em_utf8_valid(s + i, n - i);
    return true;
}

/* ---- messages ---- */

typedef struct {
    char *buf;
    size_t cap, len; /* len < cap; buf[len] == '\0' */
} mw_t;

static void mw_putc(mw_t *w, char c)
{
    if (w->len + 1 < w->cap) {
        w->buf[w->len++] = c;
        w->buf[w->len] = '\0';
    }
}

static void mw_puts(mw_t *w, const char *s)
{
    for (; *s; s++)
        mw_putc(w, *s);
}

static void mw_hex(mw_t *w, const char *prefix, uint32_t v, int digits)
{
    static const char hex[] = "0123456789abcdef";
    mw_puts(w, prefix);
    for (int k = digits - 1; k >= 0; k--)
        mw_putc(w, hex[(v >> (4 * k)) & 15]);
}

/* utf8.DecodeRune: the rune at s (n > 0 bytes) and its width; width 1 with r = -1 when invalid. */
static int decode_rune(const unsigned char *s, size_t n, int32_t *r)
{
    unsigned c = s[0];
    int w = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if (c < 0x80) {
        *r = (int32_t)c;
        return 1;
    }
    if (c < 0xc2 || c > 0xf4 || (size_t)w > n || !em_utf8_valid((const char *)s, (size_t)w)) {
        *r = -1;
        return 1;
    }
    uint32_t v = w == 2 ? c & 0x1f : w == 3 ? c & 0x0f : c & 0x07;
    for (int k = 1; k < w; k++)
        v = (v << 6) | (s[k] & 0x3f);
    *r = (int32_t)v;
    return w;
}

/* unicode.IsPrint for runes >= 0x80, approximated: separators, format and private-use characters and
 * the C1 controls are not printable; everything else is. */
static bool rune_printable(int32_t r)
{
    if (r <= 0xa0 || r == 0xad || r == 0x1680 || r == 0x3000 || r == 0xfeff)
        return false;
    if ((r >= 0x2000 && r <= 0x200f) || (r >= 0x2028 && r <= 0x202f) || (r >= 0x205f && r <= 0x206f))
        return false;
    if ((r >= 0xe000 && r <= 0xf8ff) || (r >= 0xfff9 && r <= 0xfffb) || (r & 0xfffe) == 0xfffe ||
        r >= 0xf0000)
        return false;
    return true;
}

/* Append Go's strconv.Quote of the n bytes at s, without the surrounding quotes. */
static void quote_bytes(mw_t *w, const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        int32_t r;
        int width = decode_rune(s + i, n - i, &r);
        if (r < 0) {
            mw_hex(w, "\\x", s[i], 2);
        } else if (r == '"' || r == '\\') {
            mw_putc(w, '\\');
            mw_putc(w, (char)r);
        } else if (r >= 0x20 && r < 0x7f) {
            mw_putc(w, (char)r);
        } else if (r >= 0x80 && rune_printable(r)) {
            if (w->len + (size_t)width < w->cap) {
                memcpy(w->buf + w->len, s + i, (size_t)width);
                w->len += (size_t)width;
                w->buf[w->len] = '\0';
            }
        } else {
            static const char esc[] = "abtnvfr";
            if (r >= 7 && r <= 13) {
                mw_putc(w, '\\');
                mw_putc(w, esc[r - 7]);
            } else if (r < 0x20 || r == 0x7f) {
                mw_hex(w, "\\x", (uint32_t)r, 2);
            } else if (r < 0x10000) {
                mw_hex(w, "\\u", (uint32_t)r, 4);
            } else {
                mw_hex(w, "\\U", (uint32_t)r, 8);
            }
        }
        i += (size_t)width;
    }
}

#define QUOTE_MAX 160

/* %q of the logical range [a, b) of the page (the text format's virtual '\n' included). */
static void quote_range(mw_t *w, const em_expfmt_lexer_t *lx, size_t a, size_t b)
{
    mw_putc(w, '"');
    if (b > a + QUOTE_MAX) {
        mw_puts(w, "...");
        a = b - QUOTE_MAX;
    }
    size_t real_end = b < lx->len ? b : lx->len;
    if (a < real_end)
        quote_bytes(w, (const unsigned char *)lx->b + a, real_end - a);
    if (b > lx->len)
        mw_puts(w, "\\n");
    mw_putc(w, '"');
}

/* 1-based line of logical position pos; the end of a page that ends in '\n' counts as its last line. */
static size_t line_of(const em_expfmt_lexer_t *lx, size_t pos)
{
    size_t end = pos < lx->len ? pos : lx->len, line = 1;
    const char *q = lx->b, *e = lx->b + end;
    while (q < e && (q = memchr(q, '\n', (size_t)(e - q))) != NULL) {
        line++;
        q++;
    }
    if (pos >= lx->len && lx->len > 0 && lx->b[lx->len - 1] == '\n')
        line--;
    return line;
}

static void begin_msg(em_expfmt_parser_t *p, mw_t *w)
{
    w->buf = p->msg;
    w->cap = sizeof(p->msg);
    w->len = 0;
    char pre[40];
    snprintf(pre, sizeof(pre), "line %zu: ", line_of(&p->lx, p->start));
    mw_puts(w, pre);
}

int em_expfmt__errf(em_expfmt_parser_t *p, const char *fmt, ...)
{
    mw_t w;
    begin_msg(p, &w);
    va_list ap;
    va_start(ap, fmt);
    for (const char *f = fmt; *f; f++) {
        if (*f != '%' || !f[1]) {
            mw_putc(&w, *f);
            continue;
        }
        f++;
        if (*f == 'Q') {
            size_t a = va_arg(ap, size_t), b = va_arg(ap, size_t);
            quote_range(&w, &p->lx, a, b);
        } else if (*f == 's') {
            mw_puts(&w, va_arg(ap, const char *));
        } else if (*f == 'T') {
            mw_puts(&w, em_expfmt__tok_name(va_arg(ap, int)));
        } else {
            mw_putc(&w, *f);
        }
    }
    va_end(ap);
    p->sticky = EM_EINVAL;
    return EM_EINVAL;
}

int em_expfmt__err_parse(em_expfmt_parser_t *p, const char *exp, int tok)
{
    /* Prometheus's parseError shows one byte past the token ("e := min(len, l.i+1)"). */
    const em_expfmt_lexer_t *lx = &p->lx;
    size_t e = lx->i + 1 < lx->n ? lx->i + 1 : lx->n;
    size_t ts = lx->tok < e ? lx->tok : e;
    size_t ps = p->start < e ? p->start : e;
    mw_t w;
    begin_msg(p, &w);
    mw_puts(&w, exp);
    mw_puts(&w, ", got ");
    quote_range(&w, lx, ts, e);
    mw_puts(&w, " (\"");
    mw_puts(&w, em_expfmt__tok_name(tok));
    mw_puts(&w, "\") while parsing: ");
    quote_range(&w, lx, ps, e);
    p->sticky = EM_EINVAL;
    return EM_EINVAL;
}

int em_expfmt__err_float(em_expfmt_parser_t *p, int rc, const char *fn, size_t a, size_t b, size_t end)
{
    if (rc == FP_UNSUPPORTED)
        return em_expfmt__errf(p, "unsupported character in float while parsing: %Q", p->start, end);
    return em_expfmt__errf(p, "strconv.%s: parsing %Q: %s while parsing: %Q", fn, a, b,
                           rc == FP_RANGE ? "value out of range" : "invalid syntax", p->start, end);
}

int em_expfmt__note(em_expfmt_parser_t *p, int code, const char *msg)
{
    mw_t w;
    begin_msg(p, &w);
    mw_puts(&w, msg);
    return code;
}

void em_expfmt__quote_str(char *out, size_t cap, const char *s, size_t max_runes)
{
    mw_t w = {out, cap, 0};
    out[0] = '\0';
    size_t i = em_expfmt__rune_prefix(s, max_runes);
    mw_putc(&w, '"');
    quote_bytes(&w, (const unsigned char *)s, i);
    mw_putc(&w, '"');
}

size_t em_expfmt__rune_prefix(const char *s, size_t max_runes)
{
    size_t n = strlen(s), i = 0, runes = 0;
    while (i < n && runes < max_runes) {
        int32_t r;
        i += (size_t)decode_rune((const unsigned char *)s + i, n - i, &r);
        runes++;
    }
    return i;
}
