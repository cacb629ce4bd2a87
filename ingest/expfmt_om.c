/* Design: see expfmt.h.
 *
 * OpenMetrics 1.0: the entry parser (Prometheus's OpenMetricsParser.Next, same decisions and messages,
 * including its quirks: a bad token after a value is not reported on that line but as "expected a valid
 * start token" on the next call), the fast path for ordinary series lines, and the optional strict
 * family checks.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ingest/expfmt_int.h"

#define NONE ((size_t)-1)

static int lex(em_expfmt_parser_t *p)
{
    return em_expfmt__om_lex(&p->lx);
}

static int parse_type_text(em_expfmt_parser_t *p)
{
    if (em_expfmt__type_word(p->lx.b + p->text_a, p->text_b - p->text_a, true, &p->mtype))
        return EM_OK;
    return em_expfmt__errf(p, "invalid metric type %Q", p->text_a, p->text_b);
}

/* A UNIT must be the name's suffix after an underscore. */
static int check_unit(em_expfmt_parser_t *p)
{
    const char *b = p->lx.b;
    size_t ul = p->text_b - p->text_a, ml = p->name_b - p->name_a;
    if (ul == 0)
        return EM_OK;
    if (ml < ul + 1 || memcmp(b + p->name_b - ul, b + p->text_a, ul) != 0 || b[p->name_b - ul - 1] != '_')
        return em_expfmt__errf(p, "unit %Q not a suffix of metric %Q", p->text_a, p->text_b, p->name_a,
                               p->name_b);
    return EM_OK;
}

static void set_family(em_expfmt_parser_t *p, bool is_type)
{
    size_t n = p->name_b - p->name_a;
    bool same = p->fam_b != NONE && p->fam_b - p->fam_a == n &&
                memcmp(p->lx.b + p->fam_a, p->lx.b + p->name_a, n) == 0;
    if (!same)
        p->fam_type = EM_EXPFMT_TYPE_UNKNOWN;
    if (is_type)
        p->fam_type = p->mtype;
    p->fam_a = p->name_a;
    p->fam_b = p->name_b;
}

/* After "# HELP ", "# TYPE " or "# UNIT ". */
static int parse_meta(em_expfmt_parser_t *p, int t)
{
    em_expfmt_lexer_t *lx = &p->lx;
    int t2 = lex(p);
    if (t2 != T_MNAME) {
        const char *exp = t == T_HELP   ? "expected metric name after HELP"
                          : t == T_TYPE ? "expected metric name after TYPE"
                                        : "expected metric name after UNIT";
        return em_expfmt__err_parse(p, exp, t2);
    }
    size_t a = lx->tok, b = lx->i;
    bool quoted = lx->b[a] == '"' && lx->b[b - 1] == '"';
    p->name_a = a + quoted;
    p->name_b = b - quoted;
    p->name_esc = quoted && memchr(lx->b + a, '\\', b - a) != NULL;
    if (lex(p) != T_TEXT)
        return em_expfmt__errf(p, "expected text in %T", t);
    /* The token is " text\n". */
    p->text_a = lx->tok + 1;
    p->text_b = lx->i - 1;
    int rc = EM_OK;
    if (t == T_TYPE)
        rc = parse_type_text(p);
    else if (t == T_HELP && !em_expfmt__utf8(lx->b + p->text_a, p->text_b - p->text_a))
        rc = em_expfmt__errf(p, "help text %Q is not a valid utf8 string", p->text_a, p->text_b);
    else if (t == T_UNIT)
        rc = check_unit(p);
    if (rc)
        return rc;
    set_family(p, t == T_TYPE);
    return t == T_HELP ? EM_EXPFMT_HELP : t == T_TYPE ? EM_EXPFMT_TYPE : EM_EXPFMT_UNIT;
}

/* The inside of {...} of a series (exemplar false) or of an exemplar, the opening brace consumed. */
static int parse_lvals(em_expfmt_parser_t *p, bool exemplar)
{
    em_expfmt_lexer_t *lx = &p->lx;
    int t = lex(p);
    for (;;) {
        size_t ca = lx->tok, cb = lx->i;
        bool quoted = t == T_QSTRING;
        if (t == T_BCLOSE)
            return EM_OK;
        if (t != T_LNAME && !quoted)
            return em_expfmt__err_parse(p, "expected label name", t);
        t = lex(p);
        if (quoted && (t == T_COMMA || t == T_BCLOSE)) {
            if (exemplar)
                return em_expfmt__err_parse(p, "expected label name", t);
            if (p->name_a != NONE)
                return em_expfmt__errf(p, "metric name already set while parsing: %Q", p->start, lx->i);
            p->name_a = ca + 1;
            p->name_b = cb - 1;
            p->name_esc = memchr(lx->b + ca, '\\', cb - ca) != NULL;
            if (t == T_BCLOSE)
                return EM_OK;
            t = lex(p);
            continue;
        }
        if (exemplar)
            p->ex_n++;
        else
            p->n_labels++;
        if (t != T_EQUAL)
            return em_expfmt__err_parse(p, "expected equal", t);
        t = lex(p);
        if (t != T_LVALUE)
            return em_expfmt__err_parse(p, "expected label value", t);
        if (!em_expfmt__utf8(lx->b + lx->tok, lx->i - lx->tok))
            return em_expfmt__errf(p, "invalid UTF-8 label value: %Q", lx->tok, lx->i);
        t = lex(p);
        if (t == T_COMMA)
            t = lex(p);
        else if (t != T_BCLOSE)
            return em_expfmt__err_parse(p, "expected comma or brace close", t);
    }
}

/* " value" token t; after names "metric" or "exemplar labels". */
static int get_value(em_expfmt_parser_t *p, int t, const char *after, double *v)
{
    em_expfmt_lexer_t *lx = &p->lx;
    if (t != T_VALUE)
        return em_expfmt__err_parse(p, after, t);
    int rc = em_expfmt__parse_float(lx->b + lx->tok + 1, lx->i - lx->tok - 1, v);
    if (rc)
        return em_expfmt__err_float(p, rc, "ParseFloat", lx->tok + 1, lx->i, lx->i);
    if (isnan(*v))
        *v = em_expfmt__normal_nan();
    return EM_OK;
}

/* " ts" token (float seconds) -> milliseconds, truncated like Go's int64(ts * 1000). */
static int get_ts(em_expfmt_parser_t *p, const char *what, int64_t *t_ms)
{
    em_expfmt_lexer_t *lx = &p->lx;
    double ts;
    int rc = em_expfmt__parse_float(lx->b + lx->tok + 1, lx->i - lx->tok - 1, &ts);
    if (rc)
        return em_expfmt__err_float(p, rc, "ParseFloat", lx->tok + 1, lx->i, lx->i);
    if (isnan(ts) || isinf(ts))
        return em_expfmt__errf(p, "%s %s", what, isnan(ts) ? "NaN" : ts > 0 ? "+Inf" : "-Inf");
    *t_ms = em_expfmt__f2i(ts * 1000.0);
    return EM_OK;
}

/* After " # {": exemplar labels, value, optional timestamp, linebreak. */
static int parse_exemplar(em_expfmt_parser_t *p)
{
    em_expfmt_lexer_t *lx = &p->lx;
    p->ex_a = lx->i;
    int rc = parse_lvals(p, true);
    if (rc)
        return rc;
    p->ex_b = lx->i;
    if ((rc = get_value(p, lex(p), "expected value after exemplar labels", &p->ex_v)) != EM_OK)
        return rc;
    p->ex_has_ts = false;
    int t = lex(p);
    if (t == T_EOF)
        return em_expfmt__errf(p, "data does not end with # EOF");
    if (t == T_TIMESTAMP) {
        p->ex_has_ts = true;
        if ((rc = get_ts(p, "invalid exemplar timestamp", &p->ex_t_ms)) != EM_OK)
            return rc;
        t = lex(p);
        if (t != T_LINEBREAK)
            return em_expfmt__err_parse(p, "expected next entry after exemplar timestamp", t);
    } else if (t != T_LINEBREAK) {
        return em_expfmt__err_parse(p, "expected timestamp or comment", t);
    }
    p->has_ex = true;
    return EM_OK;
}

/* Value, optional timestamp, optional exemplar, linebreak; t is the token after name{labels}. */
static int parse_eol(em_expfmt_parser_t *p, int t)
{
    em_expfmt_lexer_t *lx = &p->lx;
    if (p->name_a == NONE)
        return em_expfmt__errf(p, "metric name not set while parsing: %Q", p->start, lx->i);
    int rc = get_value(p, t, "expected value after metric", &p->v);
    if (rc)
        return rc;
    p->has_ts = false;
    t = lex(p);
    switch (t) {
    case T_EOF:
        return em_expfmt__errf(p, "data does not end with # EOF");
    case T_COMMENT:
        return parse_exemplar(p);
    case T_TIMESTAMP:
        p->has_ts = true;
        if ((rc = get_ts(p, "invalid timestamp", &p->t_ms)) != EM_OK)
            return rc;
        t = lex(p);
        if (t == T_COMMENT)
            return parse_exemplar(p);
        if (t != T_LINEBREAK)
            return em_expfmt__err_parse(p, "expected next entry after timestamp", t);
        return EM_OK;
    default:
        /* Prometheus: any other token ends the sample without complaint; the bytes left over are
         * then rejected as the start of the next entry. */
        return EM_OK;
    }
}

static int parse_series(em_expfmt_parser_t *p, int t)
{
    em_expfmt_lexer_t *lx = &p->lx;
    int rc;
    if (t == T_BOPEN) {
        p->name_a = p->name_b = NONE;
    } else {
        p->name_a = p->start;
        p->name_b = lx->i;
        p->name_esc = false;
        p->series_end = lx->i;
        t = lex(p);
        if (t != T_BOPEN)
            return parse_eol(p, t);
    }
    if ((rc = parse_lvals(p, false)) != EM_OK)
        return rc;
    p->series_end = lx->i;
    return parse_eol(p, lex(p));
}

/* The common shape `name{a="b",...} value[ ts]\n`; see expfmt_text.c's fast_series. Exemplars and
 * anything unusual go to the exact path. */
static bool fast_series(em_expfmt_parser_t *p)
{
    fast_line_t f;
    size_t i = fast_head(p, CC_OVAL, &f);
    if (i == 0)
        return false;
    const unsigned char *b = (const unsigned char *)p->lx.b;
    size_t len = p->lx.len;
    bool has_ts = false;
    int64_t t_ms = 0;
    if (b[i] == ' ') {
        size_t ta = ++i;
        if (i < len && b[i] == '#')
            return false;
        i = cc_span(b, i, len, CC_OVAL);
        double ts;
        if (i >= len || i == ta || b[i] != '\n' ||
            em_expfmt__parse_float((const char *)b + ta, i - ta, &ts) != FP_OK || !isfinite(ts))
            return false;
        has_ts = true;
        t_ms = em_expfmt__f2i(ts * 1000.0);
    } else if (b[i] != '\n') {
        return false;
    }
    return fast_take(p, &f, i, has_ts, t_ms);
}

static bool is_created(const em_expfmt_parser_t *p)
{
    if (p->mtype != EM_EXPFMT_TYPE_COUNTER && p->mtype != EM_EXPFMT_TYPE_SUMMARY &&
        p->mtype != EM_EXPFMT_TYPE_HISTOGRAM)
        return false;
    size_t n = p->name_b - p->name_a;
    return n >= 8 && memcmp(p->lx.b + p->name_b - 8, "_created", 8) == 0;
}

/* EM_EXPFMT_OM_STRICT: a sample named after the current family must carry a suffix its type allows. */
static int check_family(em_expfmt_parser_t *p)
{
    static const char *const allowed[] = {
        [EM_EXPFMT_TYPE_UNKNOWN] = "||",
        [EM_EXPFMT_TYPE_COUNTER] = "|_total|_created|",
        [EM_EXPFMT_TYPE_GAUGE] = "||",
        [EM_EXPFMT_TYPE_HISTOGRAM] = "|_bucket|_count|_sum|_created|",
        [EM_EXPFMT_TYPE_GAUGEHISTOGRAM] = "|_bucket|_gcount|_gsum|",
        [EM_EXPFMT_TYPE_SUMMARY] = "||_count|_sum|_created|",
        [EM_EXPFMT_TYPE_INFO] = "|_info|",
        [EM_EXPFMT_TYPE_STATESET] = "||",
    };
    static const char reserved[] = "||_total|_created|_bucket|_count|_sum|_gcount|_gsum|_info|";
    if (p->fam_b == NONE)
        return EM_OK;
    const char *b = p->lx.b;
    size_t fl = p->fam_b - p->fam_a, nl = p->name_b - p->name_a;
    if (nl < fl || memcmp(b + p->name_a, b + p->fam_a, fl) != 0)
        return EM_OK;
    /* "|<suffix>|" to look up; a suffix that no type reserves names another family. */
    char key[16];
    size_t sl = nl - fl;
    if (sl + 3 > sizeof(key))
        return EM_OK;
    key[0] = '|';
    memcpy(key + 1, b + p->name_a + fl, sl);
    key[sl + 1] = '|';
    key[sl + 2] = '\0';
    if (!strstr(reserved, key) || strstr(allowed[p->fam_type], key))
        return EM_OK;
    const char *tn = em_expfmt_type_name(p->fam_type);
    return em_expfmt__errf(p, "sample %Q does not belong to %s metric family %Q (allowed suffixes %s)",
                           p->name_a, p->name_b, tn, p->fam_a, p->fam_b, allowed[p->fam_type]);
}

int em_expfmt__om_next(em_expfmt_parser_t *p)
{
    em_expfmt_lexer_t *lx = &p->lx;
    bool fast = !(p->flags & EM_EXPFMT_NO_FASTPATH);
    for (;;) {
        int rc;
        p->start = lx->i;
        p->n_labels = p->ex_n = 0;
        p->fastpath = false;
        p->has_ex = false;
        int k = 0;
        if (fast && lx->state == S_INIT && lx->i < lx->len && lx->b[lx->i] == '#' &&
            (k = em_expfmt__fast_meta(p)) != 0) {
            set_family(p, k == EM_EXPFMT_TYPE);
            return k;
        }
        if (fast && lx->state == S_INIT && lx->i < lx->len && cc_is((unsigned char)lx->b[lx->i], CC_M) &&
            fast_series(p)) {
            rc = EM_OK;
        } else {
            int t = lex(p);
            switch (t) {
            case T_EOFWORD:
                if (lex(p) != T_EOF)
                    return em_expfmt__errf(p, "unexpected data after # EOF");
                return EM_EXPFMT_EOF;
            case T_EOF:
                return em_expfmt__errf(p, "data does not end with # EOF");
            case T_HELP:
            case T_TYPE:
            case T_UNIT:
                return parse_meta(p, t);
            case T_BOPEN:
            case T_MNAME:
                rc = parse_series(p, t);
                break;
            default:
                return em_expfmt__err_parse(p, "expected a valid start token", t);
            }
        }
        if (rc)
            return rc;
        if ((p->flags & EM_EXPFMT_OM_STRICT) && (rc = check_family(p)) != EM_OK)
            return rc;
        if ((p->flags & EM_EXPFMT_SKIP_CREATED) && is_created(p))
            continue;
        return EM_EXPFMT_SERIES;
    }
}
