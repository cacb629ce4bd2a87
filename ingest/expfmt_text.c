/* Design: see expfmt.h.
 *
 * The text format 0.0.4: the entry parser (Prometheus's PromParser.Next, same decisions and messages)
 * and the fast path for ordinary series lines.
 */
#include <math.h>
#include <string.h>

#include "ingest/expfmt_int.h"

#define NONE ((size_t)-1)

static int tok(em_expfmt_parser_t *p)
{
    int t;
    while ((t = em_expfmt__prom_lex(&p->lx)) == T_WHITESPACE)
        ;
    return t;
}

/* The metric name token [lx->tok, lx->i), without its quotes when quoted. */
static void set_name_from_token(em_expfmt_parser_t *p)
{
    const em_expfmt_lexer_t *lx = &p->lx;
    size_t a = lx->tok, b = lx->i;
    bool quoted = lx_at(lx, a) == '"' && lx_at(lx, b - 1) == '"';
    if (quoted) {
        a++;
        b--;
    }
    p->name_a = a;
    p->name_b = b;
    p->name_esc = quoted && memchr(lx->b + a, '\\', b - a) != NULL;
}

static int parse_type_text(em_expfmt_parser_t *p)
{
    if (em_expfmt__type_word(p->lx.b + p->text_a, p->text_b - p->text_a, false, &p->mtype))
        return EM_OK;
    return em_expfmt__errf(p, "invalid metric type %Q", p->text_a, p->text_b);
}

/* After "# HELP " or "# TYPE ": name, text, linebreak. */
static int parse_meta(em_expfmt_parser_t *p, int t)
{
    em_expfmt_lexer_t *lx = &p->lx;
    int t2 = tok(p);
    if (t2 != T_MNAME)
        return em_expfmt__err_parse(
            p, t == T_HELP ? "expected metric name after HELP" : "expected metric name after TYPE", t2);
    set_name_from_token(p);
    t2 = tok(p);
    if (t2 != T_TEXT)
        return em_expfmt__errf(p, "expected text in %T, got %T", t, t2);
    /* Prometheus drops the first byte of the text token (the blank after the name). */
    p->text_a = lx->i - lx->tok > 1 ? lx->tok + 1 : lx->i;
    p->text_b = lx->i;
    if (t == T_TYPE) {
        int rc = parse_type_text(p);
        if (rc)
            return rc;
    } else if (!em_expfmt__utf8(lx->b + p->text_a, p->text_b - p->text_a)) {
        return em_expfmt__errf(p, "help text %Q is not a valid utf8 string", p->text_a, p->text_b);
    }
    int t3 = tok(p);
    if (t3 != T_LINEBREAK)
        return em_expfmt__err_parse(p, "linebreak expected after metadata", t3);
    return t == T_HELP ? EM_EXPFMT_HELP : EM_EXPFMT_TYPE;
}

/* The inside of {...}, the opening brace consumed. */
static int parse_lvals(em_expfmt_parser_t *p)
{
    em_expfmt_lexer_t *lx = &p->lx;
    int t = tok(p);
    for (;;) {
        size_t ca = lx->tok, cb = lx->i;
        bool quoted = t == T_QSTRING;
        if (t == T_BCLOSE)
            return EM_OK;
        if (t != T_LNAME && !quoted)
            return em_expfmt__err_parse(p, "expected label name", t);
        t = tok(p);
        /* A quoted string followed by ',' or '}' is the metric name. */
        if (quoted && (t == T_COMMA || t == T_BCLOSE)) {
            if (p->name_a != NONE)
                return em_expfmt__errf(p, "metric name already set while parsing: %Q", p->start, lx->i);
            p->name_a = ca + 1;
            p->name_b = cb - 1;
            p->name_esc = memchr(lx->b + ca, '\\', cb - ca) != NULL;
            if (t == T_BCLOSE)
                return EM_OK;
            t = tok(p);
            continue;
        }
        p->n_labels++;
        if (t != T_EQUAL)
            return em_expfmt__err_parse(p, "expected equal", t);
        t = tok(p);
        if (t != T_LVALUE)
            return em_expfmt__err_parse(p, "expected label value", t);
        if (!em_expfmt__utf8(lx->b + lx->tok, lx->i - lx->tok))
            return em_expfmt__errf(p, "invalid UTF-8 label value: %Q", lx->tok, lx->i);
        /* Free trailing commas are allowed, and blanks between pairs (unlike OpenMetrics). */
        t = tok(p);
        if (t == T_COMMA)
            t = tok(p);
    }
}

/* Value, optional timestamp and the linebreak after name{labels}; t is the token after them. */
static int parse_suffix(em_expfmt_parser_t *p, int t)
{
    em_expfmt_lexer_t *lx = &p->lx;
    if (p->name_a == NONE)
        return em_expfmt__errf(p, "metric name not set while parsing: %Q", p->start, lx->i);
    if (t != T_VALUE)
        return em_expfmt__err_parse(p, "expected value after metric", t);
    int rc = em_expfmt__parse_float(lx->b + lx->tok, lx->i - lx->tok, &p->v);
    if (rc)
        return em_expfmt__err_float(p, rc, "ParseFloat", lx->tok, lx->i, lx->i);
    if (isnan(p->v))
        p->v = em_expfmt__normal_nan();
    p->has_ts = false;
    t = tok(p);
    if (t == T_LINEBREAK)
        return EM_EXPFMT_SERIES;
    if (t != T_TIMESTAMP)
        return em_expfmt__err_parse(p, "expected timestamp or new record", t);
    p->has_ts = true;
    rc = em_expfmt__parse_digits(lx->b + lx->tok, lx->i - lx->tok, &p->t_ms);
    if (rc)
        return em_expfmt__err_float(p, rc, "ParseInt", lx->tok, lx->i, lx->i);
    t = tok(p);
    if (t != T_LINEBREAK)
        return em_expfmt__err_parse(p, "expected next entry after timestamp", t);
    return EM_EXPFMT_SERIES;
}

/* The common shape `name{a="b",...} value[ ts]\n` in one pass over printable ASCII / UTF-8 label
 * values without escapes. Returns false, touching nothing, when the line is anything else (then the
 * exact path re-reads it): every line accepted here is one the exact path accepts the same way. */
static bool fast_series(em_expfmt_parser_t *p)
{
    fast_line_t f;
    size_t i = fast_head(p, CC_TVAL, &f);
    if (i == 0)
        return false;
    const unsigned char *b = (const unsigned char *)p->lx.b;
    size_t len = p->lx.len;
    bool has_ts = false;
    int64_t ts = 0;
    if (b[i] == ' ') {
        size_t ta = ++i;
        for (; i < len && b[i] >= '0' && b[i] <= '9' && i - ta < 18; i++)
            ts = ts * 10 + (b[i] - '0');
        if (i == ta || i >= len || b[i] != '\n')
            return false;
        has_ts = true;
    } else if (b[i] != '\n') {
        return false;
    }
    return fast_take(p, &f, i, has_ts, ts);
}

static int parse_series(em_expfmt_parser_t *p, int t)
{
    em_expfmt_lexer_t *lx = &p->lx;
    int rc;
    if (t == T_BOPEN) {
        /* The metric name must then come as a quoted string inside the braces. */
        p->name_a = p->name_b = NONE;
        if ((rc = parse_lvals(p)) != EM_OK)
            return rc;
        p->series_end = lx->i;
        return parse_suffix(p, tok(p));
    }
    /* Prometheus takes the name from the entry start, so leading blanks become part of it. */
    p->name_a = p->start;
    p->name_b = lx->i;
    p->name_esc = false;
    p->series_end = lx->i;
    t = tok(p);
    if (t == T_BOPEN) {
        if ((rc = parse_lvals(p)) != EM_OK)
            return rc;
        p->series_end = lx->i;
        t = tok(p);
    }
    return parse_suffix(p, t);
}

int em_expfmt__prom_next(em_expfmt_parser_t *p)
{
    em_expfmt_lexer_t *lx = &p->lx;
    bool fast = !(p->flags & EM_EXPFMT_NO_FASTPATH);
    for (;;) {
        p->start = lx->i;
        p->n_labels = 0;
        p->fastpath = false;
        if (fast && lx->state == S_INIT && lx->i < lx->len) {
            unsigned char c = (unsigned char)lx->b[lx->i];
            if (cc_is(c, CC_M) && fast_series(p))
                return EM_EXPFMT_SERIES;
            int k;
            if (c == '#' && (k = em_expfmt__fast_meta(p)) != 0)
                return k;
        }
        int t = tok(p);
        switch (t) {
        case T_EOF:
            return EM_EXPFMT_EOF;
        case T_LINEBREAK:
            continue; /* blank line */
        case T_HELP:
        case T_TYPE:
            return parse_meta(p, t);
        case T_COMMENT:
            p->text_a = lx->tok;
            p->text_b = lx->i;
            t = tok(p);
            if (t != T_LINEBREAK)
                return em_expfmt__err_parse(p, "linebreak expected after comment", t);
            return EM_EXPFMT_COMMENT;
        case T_BOPEN:
        case T_MNAME:
            return parse_series(p, t);
        default:
            return em_expfmt__err_parse(p, "expected a valid start token", t);
        }
    }
}
