/* query/lex.c -- the PromQL lexer.
 * Design: see parse_int.h and parse.h. The states and error texts follow Prometheus's lex.go. */
#include <stdio.h>
#include <string.h>

#include "query/parse_int.h"

#define EOF_RUNE (-1)
#define RUNE_ERROR 0xFFFD

enum { ST_STATEMENTS = 0, ST_DURATION, ST_DONE };

/* ---- UTF-8 ---- */

/* Decode one rune at s[0..n); sets *w to its width (1 for invalid bytes, which give RUNE_ERROR). */
static int32_t decode_rune(const unsigned char *s, size_t n, size_t *w)
{
    if (n == 0) {
        *w = 0;
        return EOF_RUNE;
    }
    unsigned c = s[0];
    *w = 1;
    if (c < 0x80)
        return (int32_t)c;
    size_t need;
    uint32_t r, min;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1, r = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2, r = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3, r = c & 0x07, min = 0x10000;
    } else {
        return RUNE_ERROR;
    }
    if (n < need + 1)
        return RUNE_ERROR;
    for (size_t i = 1; i <= need; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return RUNE_ERROR;
        r = (r << 6) | (s[i] & 0x3F);
    }
    if (r < min || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000))
        return RUNE_ERROR;
    *w = need + 1;
    return (int32_t)r;
}

bool utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t w;
        int32_t r = decode_rune(p + i, n - i, &w);
        if (r == RUNE_ERROR && !(w == 3 && p[i] == 0xEF && p[i + 1] == 0xBF && p[i + 2] == 0xBD))
            return false;
        i += w;
    }
    return true;
}

static void put_rune(em_buf_t *b, uint32_t r)
{
    char u[4];
    size_t n;
    if (r < 0x80) {
        u[0] = (char)r, n = 1;
    } else if (r < 0x800) {
        u[0] = (char)(0xC0 | (r >> 6)), u[1] = (char)(0x80 | (r & 0x3F)), n = 2;
    } else if (r < 0x10000) {
        u[0] = (char)(0xE0 | (r >> 12)), u[1] = (char)(0x80 | ((r >> 6) & 0x3F));
        u[2] = (char)(0x80 | (r & 0x3F)), n = 3;
    } else {
        u[0] = (char)(0xF0 | (r >> 18)), u[1] = (char)(0x80 | ((r >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((r >> 6) & 0x3F)), u[3] = (char)(0x80 | (r & 0x3F)), n = 4;
    }
    em_buf_append(b, u, n);
}

/* An approximation of Go's unicode.IsPrint for non-ASCII runes: everything but the C1 controls and
 * the format, separator and private-use characters one meets in practice. */
static bool rune_printable(int32_t r)
{
    if (r < 0x20 || r == 0x7F)
        return false;
    if (r < 0x7F)
        return true;
    if (r < 0xA0 || r == 0xAD)
        return false;
    if ((r >= 0x200B && r <= 0x200F) || (r >= 0x2028 && r <= 0x202E) || (r >= 0x2060 && r <= 0x206F))
        return false;
    if (r == 0xFEFF || (r >= 0xFFF9 && r <= 0xFFFB) || (r >= 0xE000 && r <= 0xF8FF) || r >= 0xF0000)
        return false;
    if (r == 0x3000 || (r >= 0x2000 && r <= 0x200A) || r == 0x1680 || r == 0x205F)
        return false; /* spaces other than ASCII space are not "graphic" in Go's IsPrint */
    return true;
}

static void quote_rune_body(em_buf_t *b, int32_t r, char quote)
{
    switch (r) {
    case '\a':
        em_buf_puts(b, "\\a");
        return;
    case '\b':
        em_buf_puts(b, "\\b");
        return;
    case '\f':
        em_buf_puts(b, "\\f");
        return;
    case '\n':
        em_buf_puts(b, "\\n");
        return;
    case '\r':
        em_buf_puts(b, "\\r");
        return;
    case '\t':
        em_buf_puts(b, "\\t");
        return;
    case '\v':
        em_buf_puts(b, "\\v");
        return;
    case '\\':
        em_buf_puts(b, "\\\\");
        return;
    }
    if (r == quote) {
        em_buf_putc(b, '\\');
        em_buf_putc(b, quote);
        return;
    }
    if (rune_printable(r)) {
        put_rune(b, (uint32_t)r);
    } else if (r < 0x20 || r == 0x7F) {
        em_buf_printf(b, "\\x%02x", (unsigned)r);
    } else if (r < 0x10000) {
        em_buf_printf(b, "\\u%04x", (unsigned)r);
    } else {
        em_buf_printf(b, "\\U%08x", (unsigned)r);
    }
}

void go_quote(em_buf_t *out, const char *s, size_t n, size_t max_runes)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, runes = 0;
    em_buf_putc(out, '"');
    while (i < n && (max_runes == 0 || runes < max_runes)) {
        size_t w;
        int32_t r = decode_rune(p + i, n - i, &w);
        if (r == RUNE_ERROR && w == 1)
            em_buf_printf(out, "\\x%02x", p[i]);
        else
            quote_rune_body(out, r, '"');
        i += w;
        runes++;
    }
    em_buf_putc(out, '"');
}

/* Go's %q of a rune. */
static void quote_rune(em_buf_t *b, int32_t r)
{
    if (r < 0 || r > 0x10FFFF || (r >= 0xD800 && r < 0xE000))
        r = RUNE_ERROR;
    em_buf_putc(b, '\'');
    quote_rune_body(b, r, '\'');
    em_buf_putc(b, '\'');
}

/* Go's %#U of a rune: "U+0041 'A'" (the quoted form only for printable runes). */
static void fmt_U(em_buf_t *b, int32_t r)
{
    em_buf_printf(b, "U+%04X", (unsigned)r);
    if (rune_printable(r)) {
        em_buf_puts(b, " '");
        put_rune(b, (uint32_t)r);
        em_buf_putc(b, '\'');
    }
}

/* ---- unquoting ---- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 16;
}

void promql_unquote(const char *s, size_t n, em_buf_t *out)
{
    if (n < 2)
        return;
    if (s[0] == '`') {
        em_buf_append(out, s + 1, n - 2);
        return;
    }
    size_t i = 1, end = n - 1;
    while (i < end) {
        char c = s[i];
        if (c != '\\') {
            em_buf_putc(out, c);
            i++;
            continue;
        }
        char e = i + 1 < end ? s[i + 1] : 0;
        i += 2;
        switch (e) {
        case 'a':
            em_buf_putc(out, '\a');
            break;
        case 'b':
            em_buf_putc(out, '\b');
            break;
        case 'f':
            em_buf_putc(out, '\f');
            break;
        case 'n':
            em_buf_putc(out, '\n');
            break;
        case 'r':
            em_buf_putc(out, '\r');
            break;
        case 't':
            em_buf_putc(out, '\t');
            break;
        case 'v':
            em_buf_putc(out, '\v');
            break;
        case 'x':
        case 'u':
        case 'U': {
            size_t nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t v = 0;
            for (size_t k = 0; k < nd && i < end; k++, i++)
                v = v * 16 + (uint32_t)hexval((unsigned char)s[i]);
            if (e == 'x')
                em_buf_putc(out, (char)v);
            else
                put_rune(out, v);
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                uint32_t v = (uint32_t)(e - '0');
                for (size_t k = 0; k < 2 && i < end; k++, i++)
                    v = v * 8 + (uint32_t)(s[i] - '0');
                em_buf_putc(out, (char)v);
            } else {
                em_buf_putc(out, e); /* \\ \' \" */
            }
        }
    }
}

/* ---- keywords ---- */

static const struct {
    const char *w;
    tok_type_t t;
} keywords[] = {
    {"and", T_LAND},
    {"or", T_LOR},
    {"unless", T_LUNLESS},
    {"atan2", T_ATAN2},
    {"sum", T_SUM},
    {"avg", T_AVG},
    {"count", T_COUNT},
    {"min", T_MIN},
    {"max", T_MAX},
    {"group", T_GROUP},
    {"stddev", T_STDDEV},
    {"stdvar", T_STDVAR},
    {"topk", T_TOPK},
    {"bottomk", T_BOTTOMK},
    {"count_values", T_COUNT_VALUES},
    {"quantile", T_QUANTILE},
    {"limitk", T_LIMITK},
    {"limit_ratio", T_LIMIT_RATIO},
    {"offset", T_OFFSET},
    {"smoothed", T_SMOOTHED},
    {"anchored", T_ANCHORED},
    {"by", T_BY},
    {"without", T_WITHOUT},
    {"on", T_ON},
    {"ignoring", T_IGNORING},
    {"group_left", T_GROUP_LEFT},
    {"group_right", T_GROUP_RIGHT},
    {"fill", T_FILL},
    {"fill_left", T_FILL_LEFT},
    {"fill_right", T_FILL_RIGHT},
    {"bool", T_BOOL},
    {"start", T_START},
    {"end", T_END},
    {"step", T_STEP},
    {"range", T_RANGE},
    {"max_of", T_MAX_OF},
    {"min_of", T_MIN_OF},
    {"inf", T_NUMBER},
    {"nan", T_NUMBER},
};

static bool ieq(const char *a, size_t n, const char *kw)
{
    size_t i = 0;
    for (; i < n && kw[i]; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != kw[i])
            return false;
    }
    return i == n && kw[i] == '\0';
}

tok_type_t keyword_lookup(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (ieq(w, n, keywords[i].w))
            return keywords[i].t;
    return T_EOF;
}

/* ---- character classes ---- */

static bool is_space(int32_t r)
{
    return r == ' ' || r == '\t' || r == '\n' || r == '\r';
}
static bool is_digit(int32_t r)
{
    return r >= '0' && r <= '9';
}
static bool is_alpha(int32_t r)
{
    return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
}
static bool is_alnum(int32_t r)
{
    return is_alpha(r) || is_digit(r);
}

bool legacy_label_name(const char *s, size_t n)
{
    if (n == 0 || !is_alpha((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!is_alnum((unsigned char)s[i]))
            return false;
    return true;
}

/* ---- scanning primitives (Prometheus's next/peek/backup/accept) ---- */

typedef struct {
    lexer_t *l;
    token_t *t;
    size_t width; /* width of the last rune read */
    bool done;
} scan_t;

static int32_t next(scan_t *s)
{
    lexer_t *l = s->l;
    int32_t r = decode_rune((const unsigned char *)l->in + l->pos, l->n - l->pos, &s->width);
    l->pos += s->width;
    return r;
}
static void backup(scan_t *s)
{
    s->l->pos -= s->width;
}
static int32_t peek(scan_t *s)
{
    int32_t r = next(s);
    backup(s);
    return r;
}
static bool accept(scan_t *s, const char *valid)
{
    int32_t r = next(s);
    if (r > 0 && r < 0x80 && strchr(valid, (int)r))
        return true;
    backup(s);
    return false;
}
static bool is(scan_t *s, const char *valid)
{
    int32_t r = peek(s);
    return r > 0 && r < 0x80 && strchr(valid, (int)r);
}
static void accept_run(scan_t *s, const char *valid)
{
    while (accept(s, valid)) {
    }
}

static void emit(scan_t *s, tok_type_t type)
{
    lexer_t *l = s->l;
    s->t->type = type;
    s->t->pos = (uint32_t)l->start;
    s->t->len = (uint32_t)(l->pos - l->start);
    s->t->msg[0] = '\0';
    l->start = l->pos;
    s->done = true;
}

static void ignore(scan_t *s)
{
    s->l->start = s->l->pos;
}

/* Report a lexer error. Prometheus reports it at the lexer's current item start. */
static void errorb(scan_t *s, em_buf_t *b)
{
    lexer_t *l = s->l;
    s->t->type = T_ERROR;
    s->t->pos = (uint32_t)l->start;
    s->t->len = 0;
    snprintf(s->t->msg, sizeof(s->t->msg), "%s", b->data ? b->data : "");
    em_buf_fini(b);
    l->state = ST_DONE;
    s->done = true;
}

static void errorf(scan_t *s, const char *msg)
{
    em_buf_t b = EM_BUF_INIT;
    em_buf_puts(&b, msg);
    errorb(s, &b);
}

/* "<prefix><%q of r><suffix>" */
static void error_rune(scan_t *s, const char *prefix, int32_t r, const char *suffix)
{
    em_buf_t b = EM_BUF_INIT;
    em_buf_puts(&b, prefix);
    quote_rune(&b, r);
    em_buf_puts(&b, suffix);
    errorb(s, &b);
}

/* ---- numbers and durations ---- */

static bool scan_number(scan_t *s)
{
    lexer_t *l = s->l;
    size_t initial = l->pos;
    const char *digits = "0123456789";
    bool hex = false;
    if (accept(s, "0") && accept(s, "xX")) {
        accept(s, "_");
        digits = "0123456789abcdefABCDEF";
        hex = true;
    }
    char pattern[40];
    snprintf(pattern, sizeof(pattern), "%s._eE", digits);
    accept(s, ".");
    accept(s, digits);
    bool dot = false, exp = false;
    while (is(s, pattern)) {
        if (is(s, ".") && dot) {
            accept(s, ".");
            return false;
        }
        if (is(s, "eE") && exp) {
            accept(s, "eE");
            return false;
        }
        if (accept(s, ".")) {
            dot = true;
            if (accept(s, "_.") || hex)
                return false;
            continue;
        }
        if (accept(s, "eE")) {
            exp = true;
            accept(s, "+-");
            if (accept(s, "._eE") || peek(s) == EOF_RUNE)
                return false;
            continue;
        }
        if (accept(s, "_")) {
            if (accept(s, "._eE") || peek(s) == EOF_RUNE)
                return false;
            continue;
        }
        accept_run(s, digits);
    }
    if (l->pos == initial)
        return false;
    return !is_alnum(peek(s));
}

static bool accept_remaining_duration(scan_t *s)
{
    if (!accept(s, "smhdwy"))
        return false;
    accept(s, "s");
    while (accept(s, "0123456789")) {
        accept_run(s, "0123456789");
        if (!accept(s, "smhdw"))
            return false;
        accept(s, "s");
    }
    return !is_alnum(next(s));
}

static void lex_number_or_duration(scan_t *s)
{
    if (scan_number(s)) {
        emit(s, T_NUMBER);
        return;
    }
    if (accept_remaining_duration(s)) {
        backup(s);
        emit(s, T_DURATION);
        return;
    }
    em_buf_t b = EM_BUF_INIT;
    em_buf_puts(&b, "bad number or duration syntax: ");
    go_quote(&b, s->l->in + s->l->start, s->l->pos - s->l->start, 0);
    errorb(s, &b);
}

/* ---- strings ---- */

static void lex_escape(scan_t *s)
{
    int32_t ch = next(s);
    int n;
    uint32_t base, max;
    switch (ch) {
    case 'a':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
    case 'v':
    case '\\':
        return;
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
        n = 3, base = 8, max = 255;
        break;
    case 'x':
        ch = next(s);
        n = 2, base = 16, max = 255;
        break;
    case 'u':
        ch = next(s);
        n = 4, base = 16, max = 0x10FFFF;
        break;
    case 'U':
        ch = next(s);
        n = 8, base = 16, max = 0x10FFFF;
        break;
    case EOF_RUNE:
        errorf(s, "escape sequence not terminated");
        return;
    default:
        if (ch == s->l->string_open)
            return;
        {
            em_buf_t b = EM_BUF_INIT;
            em_buf_puts(&b, "unknown escape sequence ");
            fmt_U(&b, ch);
            errorb(s, &b);
        }
        return;
    }
    uint32_t x = 0;
    while (n > 0) {
        uint32_t d = ch >= 0 && ch < 0x80 ? (uint32_t)hexval((int)ch) : 16;
        if (d >= base) {
            if (ch == EOF_RUNE) {
                errorf(s, "escape sequence not terminated");
                return;
            }
            em_buf_t b = EM_BUF_INIT;
            em_buf_puts(&b, "illegal character ");
            fmt_U(&b, ch);
            em_buf_puts(&b, " in escape sequence");
            errorb(s, &b);
            return;
        }
        x = x * base + d;
        n--;
        if (n > 0)
            ch = next(s);
    }
    if (x > max || (x >= 0xD800 && x < 0xE000))
        errorf(s, "escape sequence is an invalid Unicode code point");
}

static void lex_string(scan_t *s)
{
    for (;;) {
        int32_t r = next(s);
        if (r == '\\') {
            lex_escape(s);
            if (s->done)
                return;
        } else if (r == RUNE_ERROR) {
            errorf(s, "invalid UTF-8 rune");
            return;
        } else if (r == EOF_RUNE || r == '\n') {
            errorf(s, "unterminated quoted string");
            return;
        } else if (r == s->l->string_open) {
            break;
        }
    }
    emit(s, T_STRING);
}

static void lex_raw_string(scan_t *s)
{
    for (;;) {
        int32_t r = next(s);
        if (r == RUNE_ERROR) {
            errorf(s, "invalid UTF-8 rune");
            return;
        }
        if (r == EOF_RUNE) {
            errorf(s, "unterminated raw string");
            return;
        }
        if (r == s->l->string_open)
            break;
    }
    emit(s, T_STRING);
}

static void lex_comment(scan_t *s)
{
    s->l->pos++; /* '#' */
    int32_t r;
    do {
        r = next(s);
    } while (r != '\r' && r != '\n' && r != EOF_RUNE);
    backup(s);
    emit(s, T_COMMENT);
}

static void lex_space(scan_t *s)
{
    while (is_space(peek(s)))
        next(s);
    ignore(s);
}

/* ---- identifiers and keywords ---- */

static bool followed_by_left_paren(const lexer_t *l)
{
    for (size_t p = l->pos; p < l->n; p++) {
        char c = l->in[p];
        if (!is_space((unsigned char)c))
            return c == '(';
    }
    return false;
}

static void lex_keyword_or_identifier(scan_t *s)
{
    lexer_t *l = s->l;
    int32_t r;
    do {
        r = next(s);
    } while (is_alnum(r) || r == ':');
    backup(s);
    const char *w = l->in + l->start;
    size_t n = l->pos - l->start;
    tok_type_t kw = keyword_lookup(w, n);
    if (kw != T_EOF) {
        if ((kw == T_FILL || kw == T_FILL_LEFT || kw == T_FILL_RIGHT) && !followed_by_left_paren(l))
            emit(s, T_IDENTIFIER);
        else
            emit(s, kw);
    } else if (memchr(w, ':', n)) {
        emit(s, T_METRIC_IDENTIFIER);
    } else {
        emit(s, T_IDENTIFIER);
    }
}

static bool duration_keyword_start(int32_t r)
{
    return r == 's' || r == 'S' || r == 'r' || r == 'R' || r == 'm' || r == 'M';
}

/* After the first letter was read: read the word; emit it if it is step/range/max_of/min_of. */
static bool scan_duration_keyword(scan_t *s)
{
    int32_t r;
    do {
        r = next(s);
    } while (is_alpha(r));
    backup(s);
    const char *w = s->l->in + s->l->start;
    size_t n = s->l->pos - s->l->start;
    tok_type_t kw = keyword_lookup(w, n);
    if (kw == T_STEP || kw == T_RANGE || kw == T_MAX_OF || kw == T_MIN_OF) {
        emit(s, kw);
        return true;
    }
    return false;
}

/* ---- states ---- */

static void lex_inside_braces(scan_t *s)
{
    lexer_t *l = s->l;
    if (l->pos < l->n && l->in[l->pos] == '#') {
        lex_comment(s);
        return;
    }
    int32_t r = next(s);
    if (r == EOF_RUNE) {
        errorf(s, "unexpected end of input inside braces");
    } else if (is_space(r)) {
        lex_space(s);
    } else if (is_alpha(r)) {
        do {
            r = next(s);
        } while (is_alnum(r));
        backup(s);
        emit(s, T_IDENTIFIER);
    } else if (r == ',') {
        emit(s, T_COMMA);
    } else if (r == '"' || r == '\'') {
        l->string_open = (char)r;
        lex_string(s);
    } else if (r == '`') {
        l->string_open = (char)r;
        lex_raw_string(s);
    } else if (r == '=') {
        if (next(s) == '~') {
            emit(s, T_EQL_REGEX);
        } else {
            backup(s);
            emit(s, T_EQL);
        }
    } else if (r == '!') {
        int32_t nr = next(s);
        if (nr == '~')
            emit(s, T_NEQ_REGEX);
        else if (nr == '=')
            emit(s, T_NEQ);
        else
            error_rune(s, "unexpected character after '!' inside braces: ", nr, "");
    } else if (r == '{') {
        error_rune(s, "unexpected left brace ", r, "");
    } else if (r == '}') {
        emit(s, T_RIGHT_BRACE);
        l->brace_open = false;
    } else {
        error_rune(s, "unexpected character inside braces: ", r, "");
    }
}

static void lex_duration_expr(scan_t *s)
{
    lexer_t *l = s->l;
    int32_t r = next(s);
    if (r == EOF_RUNE) {
        errorf(s, "unexpected end of input in duration expression");
    } else if (r == ']') {
        emit(s, T_RIGHT_BRACKET);
        l->bracket_open = false;
        l->got_colon = false;
        l->state = ST_STATEMENTS;
    } else if (r == ':') {
        emit(s, T_COLON);
        if (!l->got_duration)
            errorf(s, "unexpected colon before duration in duration expression");
        else if (l->got_colon)
            errorf(s, "unexpected repeated colon in duration expression");
        l->got_colon = true;
    } else if (r == '(') {
        emit(s, T_LEFT_PAREN);
        l->paren_depth++;
    } else if (r == ')') {
        emit(s, T_RIGHT_PAREN);
        if (--l->paren_depth < 0)
            error_rune(s, "unexpected right parenthesis ", r, "");
    } else if (is_space(r)) {
        lex_space(s);
    } else if (r == '+' || r == '-' || r == '*' || r == '/' || r == '%' || r == '^' || r == ',') {
        static const char ops[] = "+-*/%^,";
        static const tok_type_t types[] = {T_ADD, T_SUB, T_MUL, T_DIV, T_MOD, T_POW, T_COMMA};
        emit(s, types[strchr(ops, (int)r) - ops]);
    } else if (duration_keyword_start(r)) {
        if (!scan_duration_keyword(s))
            error_rune(s, "unexpected character in duration expression: ", r, "");
    } else if (is_digit(r) || (r == '.' && is_digit(peek(s)))) {
        backup(s);
        l->got_duration = true;
        l->state = ST_STATEMENTS;
        lex_number_or_duration(s);
    } else {
        error_rune(s, "unexpected character in duration expression: ", r, "");
    }
}

static void lex_operator(scan_t *s, int32_t r)
{
    switch (r) {
    case '=':
        if (peek(s) == '=') {
            next(s);
            emit(s, T_EQLC);
        } else if (peek(s) == '~') {
            error_rune(s, "unexpected character after '=': ", '~', "");
        } else {
            emit(s, T_EQL);
        }
        return;
    case '!': {
        int32_t t = next(s);
        if (t != '=')
            error_rune(s, "unexpected character after '!': ", t, "");
        else
            emit(s, T_NEQ);
        return;
    }
    case '<':
        if (accept(s, "="))
            emit(s, T_LTE);
        else if (accept(s, "/"))
            emit(s, T_TRIM_UPPER);
        else
            emit(s, T_LSS);
        return;
    case '>':
        if (accept(s, "="))
            emit(s, T_GTE);
        else if (accept(s, "/"))
            emit(s, T_TRIM_LOWER);
        else
            emit(s, T_GTR);
        return;
    }
    static const char ops[] = ",*/%+-^@";
    static const tok_type_t types[] = {T_COMMA, T_MUL, T_DIV, T_MOD, T_ADD, T_SUB, T_POW, T_AT};
    emit(s, types[strchr(ops, (int)r) - ops]);
}

static void lex_bracket_word(scan_t *s, int32_t r)
{
    lexer_t *l = s->l;
    if (r == ':') {
        if (l->got_colon) {
            error_rune(s, "unexpected colon ", r, "");
            return;
        }
        emit(s, T_COLON);
        l->got_colon = true;
        return;
    }
    if (duration_keyword_start(r) && scan_duration_keyword(s))
        return;
    em_buf_t b = EM_BUF_INIT;
    em_buf_puts(&b, "unexpected character: ");
    quote_rune(&b, r);
    em_buf_puts(&b, ", expected ':'");
    errorb(s, &b);
}

static void lex_statements(scan_t *s)
{
    lexer_t *l = s->l;
    if (l->brace_open) {
        lex_inside_braces(s);
        return;
    }
    if (l->pos < l->n && l->in[l->pos] == '#') {
        lex_comment(s);
        return;
    }
    int32_t r = next(s);
    if (r == EOF_RUNE) {
        if (l->paren_depth != 0)
            errorf(s, "unclosed left parenthesis");
        else if (l->bracket_open)
            errorf(s, "unclosed left bracket");
        else {
            emit(s, T_EOF);
            l->state = ST_DONE;
        }
    } else if (is_space(r)) {
        lex_space(s);
    } else if (r < 0x80 && r > 0 && strchr(",*/%+-^@=!<>", (int)r)) {
        lex_operator(s, r);
    } else if (is_digit(r) || (r == '.' && is_digit(peek(s)))) {
        backup(s);
        lex_number_or_duration(s);
    } else if (r == '"' || r == '\'') {
        l->string_open = (char)r;
        lex_string(s);
    } else if (r == '`') {
        l->string_open = (char)r;
        lex_raw_string(s);
    } else if (is_alpha(r) || r == ':') {
        if (!l->bracket_open) {
            backup(s);
            lex_keyword_or_identifier(s);
        } else {
            lex_bracket_word(s, r);
        }
    } else if (r == '(') {
        emit(s, T_LEFT_PAREN);
        l->paren_depth++;
    } else if (r == ')') {
        emit(s, T_RIGHT_PAREN);
        if (--l->paren_depth < 0)
            error_rune(s, "unexpected right parenthesis ", r, "");
    } else if (r == '{') {
        emit(s, T_LEFT_BRACE);
        l->brace_open = true;
    } else if (r == '[') {
        if (l->bracket_open) {
            error_rune(s, "unexpected left bracket ", r, "");
            return;
        }
        l->got_colon = false;
        emit(s, T_LEFT_BRACKET);
        lex_space(s);
        l->bracket_open = true;
        l->state = ST_DURATION;
    } else if (r == ']') {
        if (!l->bracket_open) {
            error_rune(s, "unexpected right bracket ", r, "");
            return;
        }
        emit(s, T_RIGHT_BRACKET);
        l->bracket_open = false;
    } else {
        error_rune(s, "unexpected character: ", r, "");
    }
}

void lex_init(lexer_t *l, const char *in, size_t n)
{
    memset(l, 0, sizeof(*l));
    l->in = in;
    l->n = n;
    l->state = ST_STATEMENTS;
}

void lex_next(lexer_t *l, token_t *t)
{
    scan_t s = {.l = l, .t = t, .width = 0, .done = false};
    if (l->state == ST_DONE) {
        t->type = T_EOF;
        t->pos = (uint32_t)l->n;
        t->len = 0;
        t->msg[0] = '\0';
        return;
    }
    while (!s.done) {
        if (l->state == ST_DURATION && !l->brace_open)
            lex_duration_expr(&s);
        else
            lex_statements(&s);
    }
}

/* ---- token descriptions ---- */

static const char *tok_fixed_str(tok_type_t t)
{
    switch (t) {
    case T_LEFT_PAREN:
        return "(";
    case T_RIGHT_PAREN:
        return ")";
    case T_LEFT_BRACE:
        return "{";
    case T_RIGHT_BRACE:
        return "}";
    case T_LEFT_BRACKET:
        return "[";
    case T_RIGHT_BRACKET:
        return "]";
    case T_COMMA:
        return ",";
    case T_EQL:
        return "=";
    case T_COLON:
        return ":";
    default:
        return NULL;
    }
}

void tok_desc(const char *in, const token_t *t, em_buf_t *out)
{
    const char *val = in + t->pos;
    size_t n = t->len;
    bool in_table = tok_fixed_str(t->type) || (t->type > T_OPS_START && t->type != T_NUMBER);
    if (t->type == T_EOF) {
        em_buf_puts(out, "end of input");
        return;
    }
    if (t->type == T_ERROR) {
        em_buf_puts(out, t->msg);
        return;
    }
    if (!in_table) {
        switch (t->type) {
        case T_IDENTIFIER:
            em_buf_puts(out, "identifier ");
            break;
        case T_METRIC_IDENTIFIER:
            em_buf_puts(out, "metric identifier ");
            break;
        case T_STRING:
            em_buf_puts(out, "string ");
            break;
        case T_NUMBER:
            em_buf_puts(out, "number ");
            break;
        case T_DURATION:
            em_buf_puts(out, "duration ");
            break;
        case T_COMMENT:
            em_buf_puts(out, "comment ");
            break;
        default:
            break;
        }
        if (t->type == T_IDENTIFIER || t->type == T_METRIC_IDENTIFIER) {
            go_quote(out, val, n, 0);
            return;
        }
    } else if (t->type > T_KEYWORDS_START && t->type < T_KEYWORDS_END) {
        em_buf_putc(out, '<');
        em_buf_append(out, val, n);
        em_buf_putc(out, '>');
        return;
    } else if (t->type > T_OPS_START && t->type < T_OPS_END) {
        em_buf_puts(out, "<op:");
        em_buf_append(out, val, n);
        em_buf_putc(out, '>');
        return;
    } else if (t->type > T_AGGS_START && t->type < T_AGGS_END) {
        em_buf_puts(out, "<aggr:");
        em_buf_append(out, val, n);
        em_buf_putc(out, '>');
        return;
    }
    if (n > 10) {
        go_quote(out, val, n, 10);
        em_buf_puts(out, "...");
    } else {
        go_quote(out, val, n, 0);
    }
}
