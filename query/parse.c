/* query/parse.c -- the PromQL parser: recursive descent with precedence climbing.
 * Design: see parse.h.
 *
 * Prometheus's grammar is LALR (generated_parser.y); its syntax errors come from `error` productions and
 * name the context of the innermost one still open: "in label matching", "in grouping opts", "in offset",
 * "in @", "in subquery or range selector", "in aggregation", or nothing at the outermost level. Each
 * parse function below passes the context Prometheus would name, so the same input gives the same text.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/duration.h"
#include "base/strconv.h"
#include "query/parse.h"
#include "query/parse_int.h"

/* Deeper trees are refused: evaluation and printing recurse once per level. */
#define MAX_HEIGHT 1000

/* Operator precedence, as generated_parser.y declares it (higher binds tighter). */
enum { PREC_OR = 1, PREC_AND, PREC_CMP, PREC_ADD, PREC_MUL, PREC_POW };

typedef struct parser {
    perr_t pe;
    lexer_t lex;
    const char *in;
    size_t n;
    em_arena_t *a;
    em_ast_t *ast;
    em_promql_opts_t opts;
    token_t tok; /* lookahead; valid when has_tok */
    bool has_tok;
    uint32_t last_end; /* end of the last consumed token */
    int agg_depth;     /* inside how many aggregations: errors then read "... in aggregation" */
    int depth;         /* recursion depth of the parse functions */
} parser_t;

/* ---- errors ---- */

size_t em_promql_pos(const char *expr, size_t len, uint32_t pos, char *out)
{
    if (len == 0)
        return (size_t)snprintf(out, 32, "unknown position");
    if (pos > len)
        return (size_t)snprintf(out, 32, "invalid position");
    long line = 1, last_nl = -1;
    for (uint32_t i = 0; i < pos; i++) {
        if (expr[i] == '\n') {
            line++;
            last_nl = (long)i;
        }
    }
    return (size_t)snprintf(out, 32, "%ld:%ld", line, (long)pos - last_nl);
}

int perr_fail(perr_t *pe, uint32_t pos, const char *fmt, ...)
{
    if (pe->failed)
        return EM_EINVAL;
    pe->failed = true;
    char where[32], msg[EM_ERR_MSG_MAX];
    em_promql_pos(pe->in, pe->n, pos, where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return em_err_set(pe->err, EM_EINVAL, "%s: parse error: %s", where, msg);
}

/* ---- tokens ---- */

static token_t *peek(parser_t *p)
{
    if (!p->has_tok) {
        do {
            lex_next(&p->lex, &p->tok);
        } while (p->tok.type == T_COMMENT);
        p->has_tok = true;
        if (p->tok.type == T_ERROR)
            perr_fail(&p->pe, p->tok.pos, "%s", p->tok.msg);
    }
    return &p->tok;
}

static tok_type_t peek_type(parser_t *p)
{
    return peek(p)->type;
}

static token_t consume(parser_t *p)
{
    token_t t = *peek(p);
    p->last_end = t.pos + t.len;
    p->has_tok = false;
    return t;
}

static bool failed(const parser_t *p)
{
    return p->pe.failed;
}

/* Prometheus's parser.unexpected(context, expected) about the lookahead token. */
static void unexpected(parser_t *p, const char *context, const char *expected)
{
    token_t *t = peek(p);
    if (t->type == T_ERROR || failed(p))
        return; /* the lexer error is already reported */
    em_buf_t b = EM_BUF_INIT;
    tok_desc(p->in, t, &b);
    perr_fail(&p->pe, t->pos, "unexpected %s%s%s%s%s", b.data, context[0] ? " in " : "", context,
              expected[0] ? ", expected " : "", expected);
    em_buf_fini(&b);
}

/* The context of a syntax error not covered by a more specific rule. */
static const char *outer_ctx(const parser_t *p)
{
    return p->agg_depth > 0 ? "aggregation" : "";
}

static char *tok_dup(parser_t *p, const token_t *t)
{
    return em_arena_strndup(p->a, p->in + t->pos, t->len);
}

/* ---- nodes ---- */

static uint32_t height_of(const em_node_t *n)
{
    return n ? n->height : 0;
}

/* Set n's height from its children; fails the parse when the tree gets too deep. */
static bool set_height(parser_t *p, em_node_t *n, const em_node_t *a, const em_node_t *b)
{
    uint32_t ha = height_of(a), hb = height_of(b);
    n->height = (ha > hb ? ha : hb) + 1;
    if (n->height > MAX_HEIGHT) {
        perr_fail(&p->pe, n->pos_start, "expression nests more than %d levels deep", MAX_HEIGHT);
        return false;
    }
    return true;
}

static em_node_t *new_node(parser_t *p, em_node_kind_t kind, uint32_t start, uint32_t end)
{
    em_node_t *n = em_node_new(p->a, kind, start, end);
    n->height = 1;
    return n;
}

/* ---- number literals ---- */

/* Go's underscoreOK: underscores only between digits (or after a base prefix). */
static bool underscores_ok(const char *s, size_t n)
{
    char saw = '^';
    size_t i = 0;
    bool hex = false;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        i = 2;
        saw = '0';
        hex = true;
    }
    for (; i < n; i++) {
        char c = s[i], lc = (char)(c | 0x20);
        if ((c >= '0' && c <= '9') || (hex && lc >= 'a' && lc <= 'f')) {
            saw = '0';
            continue;
        }
        if (c == '_') {
            if (saw != '0')
                return false;
            saw = '_';
            continue;
        }
        if (saw == '_')
            return false;
        saw = '!';
    }
    return saw != '_';
}

/* strconv.ParseInt(s, 0, 64) for what the lexer produces; false when it would fail. */
static bool parse_int_base0(const char *s, size_t n, double *out)
{
    unsigned base = 10;
    size_t i = 0;
    if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16, i = 2;
    } else if (n >= 2 && s[0] == '0') {
        base = 8, i = 1;
    }
    if (i == n)
        return base == 8 ? false : (n == 1 && s[0] == '0' ? (*out = 0, true) : false);
    uint64_t v = 0;
    bool any = false;
    for (; i < n; i++) {
        char c = s[i];
        unsigned d;
        if (c == '_')
            continue;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (unsigned)((c | 0x20) - 'a' + 10);
        else
            return false;
        if (d >= base)
            return false;
        if (v > (UINT64_MAX - d) / base)
            return false;
        v = v * base + d;
        any = true;
    }
    if (!any || v > (uint64_t)INT64_MAX || !underscores_ok(s, n))
        return false;
    *out = (double)(int64_t)v;
    return true;
}

/* Prometheus's parser.number: ParseInt(val, 0, 64), else ParseFloat(val, 64). */
static bool number_value(parser_t *p, const token_t *t, double *out)
{
    const char *s = p->in + t->pos;
    size_t n = t->len;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    if (parse_int_base0(s, n, out))
        return true;
    const char *why = "invalid syntax";
    bool hexpfx = n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    if (underscores_ok(s, n) && !hexpfx) {
        char *tmp = em_arena_alloc(p->a, n + 1);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (s[i] != '_')
                tmp[k++] = s[i];
        tmp[k] = '\0';
        bool word = (s[0] | 0x20) == 'i' || (s[0] | 0x20) == 'n'; /* Inf, NaN */
        if (word) {
            if (em_parse_float(tmp, k, out))
                return true;
        } else {
            /* strtod, not em_parse_float: literals may be longer than its buffer. The lexer only lets
             * decimal digits, one '.', and an exponent through here. */
            char *end;
            double v = strtod(tmp, &end);
            if (*end == '\0' && end != tmp) {
                if (!isinf(v)) {
                    *out = v;
                    return true;
                }
                why = "value out of range"; /* Go's ParseFloat refuses what overflows to infinity */
            }
        }
    }
    em_buf_t b = EM_BUF_INIT;
    go_quote(&b, s, n, 0);
    perr_fail(&p->pe, t->pos, "error parsing number: strconv.ParseFloat: parsing %s: %s", b.data, why);
    em_buf_fini(&b);
    return false;
}

/* NUMBER or DURATION token -> literal node (value in seconds for durations). */
static em_node_t *number_literal(parser_t *p)
{
    token_t t = consume(p);
    em_node_t *n = new_node(p, EM_NODE_NUMBER, t.pos, t.pos + t.len);
    if (t.type == T_DURATION) {
        int64_t ms;
        em_err_t e;
        if (em_duration_parse(p->in + t.pos, t.len, &ms, &e) != EM_OK) {
            perr_fail(&p->pe, t.pos, "%s", e.msg);
            return NULL;
        }
        n->number.v = (double)ms / 1000.0;
        n->number.is_duration = true;
    } else if (!number_value(p, &t, &n->number.v)) {
        return NULL;
    }
    return n;
}

static bool duration_out_of_range(double v)
{
    return v > 9223372036.854775807 || v < -9223372036.854775808;
}

/* Seconds (as written) to milliseconds the way Prometheus converts: round to nanoseconds, then
 * truncate to milliseconds. */
static int64_t seconds_to_ms(double s)
{
    double ns = round(s * 1e9);
    if (ns >= 9.2233720368547758e18)
        return INT64_MAX / 1000000;
    if (ns <= -9.2233720368547758e18)
        return INT64_MIN / 1000000;
    return (int64_t)ns / 1000000;
}

/* ---- matchers and selectors ---- */

static bool is_match_op(tok_type_t t)
{
    return t == T_EQL || t == T_NEQ || t == T_EQL_REGEX || t == T_NEQ_REGEX;
}

static em_match_type_t match_type(tok_type_t t)
{
    switch (t) {
    case T_NEQ:
        return EM_MATCH_NEQ;
    case T_EQL_REGEX:
        return EM_MATCH_RE;
    case T_NEQ_REGEX:
        return EM_MATCH_NRE;
    default:
        return EM_MATCH_EQ;
    }
}

static char *unquote_tok(parser_t *p, const token_t *t, size_t *len)
{
    em_buf_t b = EM_BUF_INIT;
    promql_unquote(p->in + t->pos, t->len, &b);
    char *s = em_arena_strndup(p->a, b.data ? b.data : "", b.len);
    if (len)
        *len = b.len;
    em_buf_fini(&b);
    return s;
}

static em_matcher_t *new_matcher(parser_t *p, em_match_type_t type, const char *name, const char *value,
                                 uint32_t pos)
{
    em_matcher_t *m = em_arena_alloc(p->a, sizeof(*m));
    em_err_t e;
    if (em_matcher_init(m, type, name, value, &e) != EM_OK) {
        perr_fail(&p->pe, pos, "%s", e.msg);
        return NULL;
    }
    em_ast_own_matcher(p->ast, p->a, m);
    return m;
}

/* Room for one more element in an arena-backed array of n elements of 'size' bytes with capacity *cap:
 * returns the array to use (a doubled copy when full; the old one stays in the arena). */
static void *arena_reserve(parser_t *p, void *v, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return v;
    size_t nc = *cap ? *cap * 2 : 4;
    void *nv = em_arena_alloc(p->a, nc * size);
    if (n)
        memcpy(nv, v, n * size);
    *cap = nc;
    return nv;
}

typedef struct mlist {
    em_matcher_t **v;
    size_t n, cap;
} mlist_t;

static void mlist_push(parser_t *p, mlist_t *l, em_matcher_t *m)
{
    l->v = arena_reserve(p, l->v, l->n, &l->cap, sizeof(*l->v));
    l->v[l->n++] = m;
}

/* One label_matcher of generated_parser.y. */
static bool parse_matcher(parser_t *p, mlist_t *l)
{
    token_t t = *peek(p);
    if (t.type != T_IDENTIFIER && t.type != T_STRING) {
        unexpected(p, "label matching", "identifier or \"}\"");
        return false;
    }
    consume(p);
    const char *name = t.type == T_IDENTIFIER ? tok_dup(p, &t) : unquote_tok(p, &t, NULL);
    if (!is_match_op(peek_type(p))) {
        if (t.type == T_IDENTIFIER) {
            unexpected(p, "label matching", "label matching operator");
            return false;
        }
        em_matcher_t *m = new_matcher(p, EM_MATCH_EQ, "__name__", name, t.pos);
        if (m)
            mlist_push(p, l, m);
        return m != NULL;
    }
    token_t op = consume(p);
    if (peek_type(p) != T_STRING) {
        unexpected(p, "label matching", "string");
        return false;
    }
    token_t v = consume(p);
    em_matcher_t *m = new_matcher(p, match_type(op.type), name, unquote_tok(p, &v, NULL), t.pos);
    if (m)
        mlist_push(p, l, m);
    return m != NULL;
}

/* '{' matchers '}' ; the '{' is the lookahead. */
static bool parse_label_matchers(parser_t *p, mlist_t *l)
{
    consume(p);
    for (;;) {
        if (peek_type(p) == T_RIGHT_BRACE) {
            consume(p);
            return true;
        }
        if (!parse_matcher(p, l))
            return false;
        tok_type_t t = peek_type(p);
        if (t == T_COMMA) {
            consume(p);
        } else if (t == T_RIGHT_BRACE) {
            consume(p);
            return true;
        } else {
            unexpected(p, "label matching", "\",\" or \"}\"");
            return false;
        }
    }
}

/* vector_selector: [name] ['{' ... '}']. 'name' is the consumed metric identifier or NULL. */
static em_node_t *parse_vector_selector(parser_t *p, const token_t *name)
{
    uint32_t start = name ? name->pos : peek(p)->pos;
    mlist_t l = {0};
    if (peek_type(p) == T_LEFT_BRACE) {
        if (!parse_label_matchers(p, &l))
            return NULL;
    } else if (!name) {
        unexpected(p, outer_ctx(p), "");
        return NULL;
    }
    em_node_t *n = new_node(p, EM_NODE_VECTOR_SEL, start, p->last_end);
    n->vs.name = name ? tok_dup(p, name) : "";
    if (name) {
        em_matcher_t *m = new_matcher(p, EM_MATCH_EQ, "__name__", n->vs.name, name->pos);
        if (!m)
            return NULL;
        mlist_push(p, &l, m);
    }
    n->vs.matchers = l.v;
    n->vs.n_matchers = l.n;
    return n;
}

/* ---- grouping labels ---- */

static bool is_maybe_label(tok_type_t t)
{
    return t == T_IDENTIFIER || t == T_METRIC_IDENTIFIER || (t > T_AGGS_START && t < T_AGGS_END) ||
           (t > T_KEYWORDS_START && t < T_KEYWORDS_END) || t == T_LAND || t == T_LOR || t == T_LUNLESS ||
           t == T_ATAN2 || t == T_START || t == T_END || t == T_STEP || t == T_RANGE || t == T_MAX_OF ||
           t == T_MIN_OF;
}

typedef struct slist {
    const char **v;
    size_t n, cap;
} slist_t;

static void slist_push(parser_t *p, slist_t *l, const char *s)
{
    l->v = arena_reserve(p, l->v, l->n, &l->cap, sizeof(*l->v));
    l->v[l->n++] = s;
}

static bool grouping_label(parser_t *p, slist_t *l)
{
    token_t t = *peek(p);
    const char *name;
    size_t len;
    if (is_maybe_label(t.type)) {
        name = tok_dup(p, &t);
        len = t.len;
    } else if (t.type == T_STRING) {
        name = unquote_tok(p, &t, &len);
    } else {
        unexpected(p, "grouping opts", "label");
        return false;
    }
    consume(p);
    /* Names are kept as C strings: one with a NUL in it is refused rather than silently cut. */
    if (len == 0 || !utf8_valid(name, len) || memchr(name, '\0', len)) {
        em_buf_t b = EM_BUF_INIT;
        go_quote(&b, name, len, 0);
        perr_fail(&p->pe, t.pos, "invalid label name for grouping: %s", b.data);
        em_buf_fini(&b);
        return false;
    }
    slist_push(p, l, name);
    return true;
}

/* grouping_labels: '(' label, ... ')'; the keyword before it was consumed. */
static bool parse_grouping(parser_t *p, slist_t *l)
{
    if (peek_type(p) != T_LEFT_PAREN) {
        unexpected(p, "grouping opts", "\"(\"");
        return false;
    }
    consume(p);
    if (peek_type(p) == T_RIGHT_PAREN) {
        consume(p);
        return true;
    }
    for (;;) {
        if (!grouping_label(p, l))
            return false;
        tok_type_t t = peek_type(p);
        if (t == T_RIGHT_PAREN) {
            consume(p);
            return true;
        }
        if (t != T_COMMA) {
            unexpected(p, "grouping opts", "\",\" or \")\"");
            return false;
        }
        consume(p);
        if (peek_type(p) == T_RIGHT_PAREN) {
            consume(p);
            return true;
        }
    }
}

/* ---- duration expressions (ranges, subquery steps, offsets) ---- */

static em_node_t *parse_dur(parser_t *p, int min_prec, const char *ctx, const char *exp);

static bool experimental_dur(parser_t *p, const em_node_t *e)
{
    if (p->opts.duration_expr)
        return true;
    perr_fail(&p->pe, e->pos_start, "experimental duration expression is not enabled");
    return false;
}

static bool starts_duration(tok_type_t t)
{
    return t == T_NUMBER || t == T_DURATION || t == T_ADD || t == T_SUB || t == T_STEP || t == T_RANGE ||
           t == T_MAX_OF || t == T_MIN_OF || t == T_LEFT_PAREN;
}

/* number_duration_literal with the "duration out of range" check of duration_expr. */
static em_node_t *dur_literal(parser_t *p)
{
    em_node_t *n = number_literal(p);
    if (n && duration_out_of_range(n->number.v)) {
        perr_fail(&p->pe, n->pos_start, "duration out of range");
        return NULL;
    }
    return n;
}

static bool expect(parser_t *p, tok_type_t t, const char *ctx, const char *exp)
{
    if (peek_type(p) != t) {
        unexpected(p, ctx, exp);
        return false;
    }
    consume(p);
    return true;
}

/* step() / range() / min_of(a, b) / max_of(a, b); the keyword is the lookahead. */
static em_node_t *dur_func(parser_t *p, const char *ctx, const char *exp, bool check_experimental)
{
    token_t kw = consume(p);
    em_node_t *n = new_node(p, EM_NODE_DURATION, kw.pos, 0);
    n->dur.op = kw.type == T_STEP     ? EM_OP_STEP
                : kw.type == T_RANGE  ? EM_OP_RANGE
                : kw.type == T_MIN_OF ? EM_OP_MIN_OF
                                      : EM_OP_MAX_OF;
    if (!expect(p, T_LEFT_PAREN, ctx, exp))
        return NULL;
    if (n->dur.op == EM_OP_MIN_OF || n->dur.op == EM_OP_MAX_OF) {
        n->dur.lhs = parse_dur(p, 0, ctx, exp);
        if (!n->dur.lhs || !expect(p, T_COMMA, ctx, exp))
            return NULL;
        n->dur.rhs = parse_dur(p, 0, ctx, exp);
        if (!n->dur.rhs)
            return NULL;
    }
    if (!expect(p, T_RIGHT_PAREN, ctx, exp))
        return NULL;
    n->pos_end = p->last_end;
    if (!set_height(p, n, n->dur.lhs, n->dur.rhs) || (check_experimental && !experimental_dur(p, n)))
        return NULL;
    return n;
}

/* paren_duration_expr: '(' duration_expr ')'; the '(' is the lookahead. */
static em_node_t *dur_paren(parser_t *p, const char *ctx, const char *exp, bool check_experimental)
{
    consume(p);
    em_node_t *e = parse_dur(p, 0, ctx, exp);
    if (!e || !expect(p, T_RIGHT_PAREN, ctx, exp))
        return NULL;
    if (check_experimental && !experimental_dur(p, e))
        return NULL;
    if (e->kind == EM_NODE_DURATION)
        e->dur.wrapped = true;
    return e;
}

/* Prometheus's applyUnaryOpToDurationExpr. */
static em_node_t *dur_apply_unary(parser_t *p, const token_t *op, em_node_t *e)
{
    if (e->kind == EM_NODE_NUMBER) {
        if (op->type == T_SUB)
            e->number.v = -e->number.v;
        if (duration_out_of_range(e->number.v)) {
            perr_fail(&p->pe, op->pos, "duration out of range");
            return NULL;
        }
        e->pos_start = op->pos;
        return e;
    }
    if (op->type == T_ADD)
        return e;
    em_node_t *n = new_node(p, EM_NODE_DURATION, op->pos, e->pos_end);
    n->dur.op = EM_OP_SUB;
    n->dur.rhs = e;
    return set_height(p, n, e, NULL) ? n : NULL;
}

static em_node_t *parse_dur_unary(parser_t *p, const char *ctx, const char *exp)
{
    if (++p->depth > MAX_HEIGHT) {
        perr_fail(&p->pe, peek(p)->pos, "expression nests more than %d levels deep", MAX_HEIGHT);
        return NULL;
    }
    em_node_t *r = NULL;
    tok_type_t t = peek_type(p);
    if (t == T_ADD || t == T_SUB) {
        token_t op = consume(p);
        em_node_t *e = parse_dur(p, PREC_POW, ctx, exp);
        r = e ? dur_apply_unary(p, &op, e) : NULL;
    } else if (t == T_NUMBER || t == T_DURATION) {
        r = dur_literal(p);
    } else if (t == T_STEP || t == T_RANGE || t == T_MAX_OF || t == T_MIN_OF) {
        r = dur_func(p, ctx, exp, true);
    } else if (t == T_LEFT_PAREN) {
        r = dur_paren(p, ctx, exp, true);
    } else {
        unexpected(p, ctx, exp);
    }
    p->depth--;
    return r;
}

static int bin_prec(tok_type_t t);
static em_op_t arith_op(tok_type_t t);

/* Durations take the arithmetic operators, at their usual precedence. */
static int dur_prec(tok_type_t t)
{
    return arith_op(t) != EM_OP_NONE ? bin_prec(t) : 0;
}

static em_op_t arith_op(tok_type_t t)
{
    switch (t) {
    case T_ADD:
        return EM_OP_ADD;
    case T_SUB:
        return EM_OP_SUB;
    case T_MUL:
        return EM_OP_MUL;
    case T_DIV:
        return EM_OP_DIV;
    case T_MOD:
        return EM_OP_MOD;
    case T_POW:
        return EM_OP_POW;
    default:
        return EM_OP_NONE;
    }
}

/* duration_expr with precedence climbing; errors inside read "... in <ctx>, expected <exp>". */
static em_node_t *parse_dur(parser_t *p, int min_prec, const char *ctx, const char *exp)
{
    em_node_t *lhs = parse_dur_unary(p, ctx, exp);
    while (lhs) {
        tok_type_t t = peek_type(p);
        int prec = dur_prec(t);
        if (prec == 0 || prec < min_prec)
            break;
        token_t op = consume(p);
        em_node_t *rhs = parse_dur(p, t == T_POW ? prec : prec + 1, ctx, exp);
        if (!rhs || !experimental_dur(p, lhs))
            return NULL;
        if ((t == T_DIV || t == T_MOD) && rhs->kind == EM_NODE_NUMBER && rhs->number.v == 0) {
            perr_fail(&p->pe, op.pos, t == T_DIV ? "division by zero" : "modulo by zero");
            return NULL;
        }
        em_node_t *n = new_node(p, EM_NODE_DURATION, lhs->pos_start, rhs->pos_end);
        n->dur.op = arith_op(t);
        n->dur.lhs = lhs;
        n->dur.rhs = rhs;
        if (!set_height(p, n, lhs, rhs))
            return NULL;
        lhs = n;
    }
    return lhs;
}

/* positive_duration_expr */
static em_node_t *parse_positive_dur(parser_t *p, const char *ctx, const char *exp)
{
    em_node_t *e = parse_dur(p, 0, ctx, exp);
    if (e && e->kind == EM_NODE_NUMBER && !(e->number.v > 0)) {
        perr_fail(&p->pe, e->pos_start, "duration must be greater than 0");
        return NULL;
    }
    return e;
}

/* offset_duration_expr: a signed literal, step()/range()/min_of/max_of, or a parenthesised
 * duration expression; binary operators after it belong to the enclosing expression. */
static em_node_t *parse_offset_dur(parser_t *p)
{
    static const char ctx[] = "offset", exp[] = "number, duration, step(), or range()";
    tok_type_t t = peek_type(p);
    if (t == T_NUMBER || t == T_DURATION)
        return dur_literal(p);
    if (t == T_STEP || t == T_RANGE || t == T_MAX_OF || t == T_MIN_OF)
        return dur_func(p, ctx, exp, true);
    if (t == T_LEFT_PAREN)
        return dur_paren(p, ctx, exp, true);
    if (t != T_ADD && t != T_SUB) {
        unexpected(p, ctx, exp);
        return NULL;
    }
    token_t op = consume(p);
    t = peek_type(p);
    em_node_t *e;
    if (t == T_NUMBER || t == T_DURATION) {
        e = number_literal(p);
        return e ? dur_apply_unary(p, &op, e) : NULL;
    }
    if (t == T_STEP || t == T_RANGE || t == T_MAX_OF || t == T_MIN_OF) {
        /* Prometheus checks the feature on the signed node here, not on the function. */
        e = dur_func(p, ctx, exp, false);
        if (!e)
            return NULL;
        em_node_t *n = new_node(p, EM_NODE_DURATION, op.pos, e->pos_end);
        n->dur.op = op.type == T_SUB ? EM_OP_SUB : EM_OP_ADD;
        n->dur.rhs = e;
        if (!set_height(p, n, e, NULL) || !experimental_dur(p, n))
            return NULL;
        return n;
    }
    if (t == T_LEFT_PAREN) {
        e = dur_paren(p, ctx, exp, false);
        return e ? dur_apply_unary(p, &op, e) : NULL;
    }
    unexpected(p, ctx, exp);
    return NULL;
}

/* ---- modifiers: offset, @, anchored/smoothed, ranges, subqueries ---- */

static const char preceded_msg[] =
    "modifier must be preceded by an instant vector selector or range vector selector or a subquery";

/* Prometheus's addOffset / addOffsetExpr. */
static bool add_offset(parser_t *p, em_node_t *e, em_node_t *d)
{
    int64_t *off;
    em_node_t **off_expr;
    if (e->kind == EM_NODE_VECTOR_SEL) {
        off = &e->vs.offset_ms, off_expr = &e->vs.offset_expr;
    } else if (e->kind == EM_NODE_MATRIX_SEL) {
        off = &e->ms.vs->vs.offset_ms, off_expr = &e->ms.vs->vs.offset_expr;
    } else if (e->kind == EM_NODE_SUBQUERY) {
        off = &e->sq.offset_ms, off_expr = &e->sq.offset_expr;
    } else {
        perr_fail(&p->pe, e->pos_start, "offset %s", preceded_msg);
        return false;
    }
    if (*off != 0 || *off_expr) {
        perr_fail(&p->pe, e->pos_start, "offset may not be set multiple times");
        return false;
    }
    if (d->kind == EM_NODE_NUMBER)
        *off = seconds_to_ms(d->number.v);
    else
        *off_expr = d;
    e->pos_end = p->last_end;
    if (e->kind == EM_NODE_MATRIX_SEL)
        e->ms.vs->pos_end = p->last_end;
    return true;
}

static em_at_t *at_of(parser_t *p, em_node_t *e)
{
    if (e->kind == EM_NODE_VECTOR_SEL)
        return &e->vs.at;
    if (e->kind == EM_NODE_MATRIX_SEL)
        return &e->ms.vs->vs.at;
    if (e->kind == EM_NODE_SUBQUERY)
        return &e->sq.at;
    perr_fail(&p->pe, e->pos_start, "@ %s", preceded_msg);
    return NULL;
}

static bool parse_at(parser_t *p, em_node_t *e)
{
    consume(p); /* @ */
    tok_type_t t = peek_type(p);
    if (t == T_START || t == T_END) {
        consume(p);
        if (!expect(p, T_LEFT_PAREN, "@", "timestamp") || !expect(p, T_RIGHT_PAREN, "@", "timestamp"))
            return false;
        em_at_t *at = at_of(p, e);
        if (!at)
            return false;
        if (at->kind != EM_AT_NONE) {
            perr_fail(&p->pe, e->pos_start, "@ <timestamp> may not be set multiple times");
            return false;
        }
        at->kind = t == T_START ? EM_AT_START : EM_AT_END;
        e->pos_end = p->last_end;
        return true;
    }
    bool neg = false;
    if (t == T_ADD || t == T_SUB) {
        neg = t == T_SUB;
        consume(p);
        t = peek_type(p);
    }
    if (t != T_NUMBER && t != T_DURATION) {
        unexpected(p, "@", "timestamp");
        return false;
    }
    em_node_t *num = number_literal(p);
    if (!num)
        return false;
    double ts = neg ? -num->number.v : num->number.v;
    if (isnan(ts) || isinf(ts) || ts >= 9.2233720368547758e18 || ts <= -9.2233720368547758e18) {
        char buf[EM_FLOAT_BUF + 8];
        if (isnan(ts) || isinf(ts))
            em_fmt_float(ts, 'f', buf);
        else
            snprintf(buf, sizeof(buf), "%f", ts);
        perr_fail(&p->pe, e->pos_start, "timestamp out of bounds for @ modifier: %s", buf);
        return false;
    }
    em_at_t *at = at_of(p, e);
    if (!at)
        return false;
    if (at->kind != EM_AT_NONE) {
        perr_fail(&p->pe, e->pos_start, "@ <timestamp> may not be set multiple times");
        return false;
    }
    at->kind = EM_AT_TIME;
    at->t_ms = (int64_t)llround(ts * 1000.0);
    e->pos_end = p->last_end;
    return true;
}

static bool set_extended(parser_t *p, em_node_t *e, bool anchored)
{
    const char *what = anchored ? "anchored" : "smoothed";
    if (!p->opts.extended_range_selectors) {
        perr_fail(&p->pe, e->pos_start, "%s modifier is experimental and not enabled", what);
        return false;
    }
    em_vector_sel_t *vs = NULL;
    if (e->kind == EM_NODE_VECTOR_SEL)
        vs = &e->vs;
    else if (e->kind == EM_NODE_MATRIX_SEL)
        vs = &e->ms.vs->vs;
    else if (e->kind == EM_NODE_SUBQUERY)
        return perr_fail(&p->pe, e->pos_start, "%s modifier is not supported for subqueries", what), false;
    else
        return perr_fail(&p->pe, e->pos_start, "%s modifier not implemented", what), false;
    if (anchored)
        vs->anchored = true;
    else
        vs->smoothed = true;
    if (vs->anchored && vs->smoothed) {
        perr_fail(&p->pe, e->pos_start, "anchored and smoothed modifiers cannot be used together");
        return false;
    }
    return true;
}

static void set_range(em_node_t *d, int64_t *ms, em_node_t **expr)
{
    if (d->kind == EM_NODE_NUMBER)
        *ms = seconds_to_ms(d->number.v);
    else
        *expr = d;
}

/* '[' range ']' or '[' range ':' [step] ']'; the '[' is the lookahead. */
static em_node_t *parse_range(parser_t *p, em_node_t *e)
{
    token_t lb = consume(p);
    static const char ctx1[] = "subquery or range selector", exp1[] = "number, duration, step(), or range()";
    if (!starts_duration(peek_type(p))) {
        unexpected(p, ctx1, exp1);
        return NULL;
    }
    em_node_t *range = parse_positive_dur(p, ctx1, exp1);
    if (!range)
        return NULL;
    tok_type_t t = peek_type(p);
    if (t == T_RIGHT_BRACKET) {
        consume(p);
        const char *msg = NULL;
        if (e->kind != EM_NODE_VECTOR_SEL)
            msg = "ranges only allowed for vector selectors";
        else if (e->vs.offset_ms != 0)
            msg = "no offset modifiers allowed before range";
        else if (e->vs.at.kind == EM_AT_TIME)
            msg = "no @ modifiers allowed before range";
        if (msg) {
            perr_fail(&p->pe, lb.pos, "%s", msg);
            return NULL;
        }
        em_node_t *n = new_node(p, EM_NODE_MATRIX_SEL, e->pos_start, p->last_end);
        n->ms.vs = e;
        set_range(range, &n->ms.range_ms, &n->ms.range_expr);
        return set_height(p, n, e, NULL) ? n : NULL;
    }
    if (t != T_COLON) {
        unexpected(p, "subquery or range", "\":\" or \"]\"");
        return NULL;
    }
    consume(p);
    em_node_t *n = new_node(p, EM_NODE_SUBQUERY, e->pos_start, 0);
    n->sq.expr = e;
    set_range(range, &n->sq.range_ms, &n->sq.range_expr);
    static const char ctx2[] = "subquery selector";
    if (peek_type(p) != T_RIGHT_BRACKET) {
        if (!starts_duration(peek_type(p))) {
            unexpected(p, ctx2, "number, duration, step(), range(), or \"]\"");
            return NULL;
        }
        em_node_t *step = parse_positive_dur(p, ctx2, "number, duration, step(), range(), or \"]\"");
        if (!step)
            return NULL;
        set_range(step, &n->sq.step_ms, &n->sq.step_expr);
        if (!expect(p, T_RIGHT_BRACKET, ctx2, "\"]\""))
            return NULL;
    } else {
        consume(p);
    }
    n->pos_end = p->last_end;
    return set_height(p, n, e, NULL) ? n : NULL;
}

static em_node_t *parse_postfix(parser_t *p, em_node_t *e)
{
    while (e && !failed(p)) {
        tok_type_t t = peek_type(p);
        if (t == T_LEFT_BRACKET) {
            e = parse_range(p, e);
        } else if (t == T_OFFSET) {
            consume(p);
            em_node_t *d = parse_offset_dur(p);
            if (!d || !add_offset(p, e, d))
                return NULL;
        } else if (t == T_AT) {
            if (!parse_at(p, e))
                return NULL;
        } else if (t == T_ANCHORED || t == T_SMOOTHED) {
            consume(p);
            if (!set_extended(p, e, t == T_ANCHORED))
                return NULL;
        } else {
            break;
        }
    }
    return failed(p) ? NULL : e;
}

/* ---- expressions ---- */

static em_node_t *parse_expr(parser_t *p, int min_prec);

typedef struct nlist {
    em_node_t **v;
    size_t n, cap;
} nlist_t;

static void nlist_push(parser_t *p, nlist_t *l, em_node_t *e)
{
    l->v = arena_reserve(p, l->v, l->n, &l->cap, sizeof(*l->v));
    l->v[l->n++] = e;
}

/* function_call_body: '(' [expr {',' expr}] ')'; the '(' is the lookahead. */
static bool parse_call_body(parser_t *p, nlist_t *args, uint32_t *height)
{
    consume(p);
    *height = 0;
    if (peek_type(p) == T_RIGHT_PAREN) {
        consume(p);
        return true;
    }
    for (;;) {
        em_node_t *e = parse_expr(p, 0);
        if (!e)
            return false;
        nlist_push(p, args, e);
        if (e->height > *height)
            *height = e->height;
        tok_type_t t = peek_type(p);
        if (t == T_RIGHT_PAREN) {
            consume(p);
            return true;
        }
        if (t != T_COMMA) {
            unexpected(p, outer_ctx(p), "");
            return false;
        }
        token_t comma = consume(p);
        if (peek_type(p) == T_RIGHT_PAREN) {
            perr_fail(&p->pe, comma.pos, "trailing commas not allowed in function call args");
            return false;
        }
    }
}

static em_node_t *parse_call(parser_t *p, const token_t *name)
{
    nlist_t args = {0};
    uint32_t h;
    if (!parse_call_body(p, &args, &h))
        return NULL;
    const em_func_t *f = em_func_lookup(p->in + name->pos, name->len);
    em_buf_t q = EM_BUF_INIT;
    go_quote(&q, p->in + name->pos, name->len, 0);
    if (!f)
        perr_fail(&p->pe, name->pos, "unknown function with name %s", q.data);
    else if (f->experimental && !p->opts.experimental_functions)
        perr_fail(&p->pe, name->pos, "function %s is not enabled", q.data);
    em_buf_fini(&q);
    if (failed(p))
        return NULL;
    em_node_t *n = new_node(p, EM_NODE_CALL, name->pos, p->last_end);
    n->call.func = f;
    n->call.args = args.v;
    n->call.n_args = args.n;
    n->height = h;
    return set_height(p, n, n, NULL) ? n : NULL;
}

static em_agg_op_t agg_op(tok_type_t t)
{
    switch (t) {
    case T_AVG:
        return EM_AGG_AVG;
    case T_BOTTOMK:
        return EM_AGG_BOTTOMK;
    case T_COUNT:
        return EM_AGG_COUNT;
    case T_COUNT_VALUES:
        return EM_AGG_COUNT_VALUES;
    case T_GROUP:
        return EM_AGG_GROUP;
    case T_MAX:
        return EM_AGG_MAX;
    case T_MIN:
        return EM_AGG_MIN;
    case T_QUANTILE:
        return EM_AGG_QUANTILE;
    case T_STDDEV:
        return EM_AGG_STDDEV;
    case T_STDVAR:
        return EM_AGG_STDVAR;
    case T_TOPK:
        return EM_AGG_TOPK;
    case T_LIMITK:
        return EM_AGG_LIMITK;
    case T_LIMIT_RATIO:
        return EM_AGG_LIMIT_RATIO;
    default:
        return EM_AGG_SUM;
    }
}

static bool parse_agg_modifier(parser_t *p, em_node_t *n)
{
    token_t kw = consume(p);
    n->agg.without = kw.type == T_WITHOUT;
    slist_t l = {0};
    if (!parse_grouping(p, &l))
        return false;
    n->agg.grouping = l.v;
    n->agg.n_grouping = l.n;
    return true;
}

/* Prometheus's newAggregateExpr: distribute the arguments over param and expr. */
static bool agg_args(parser_t *p, em_node_t *n, nlist_t *args)
{
    em_agg_op_t op = n->agg.op;
    if (args->n == 0) {
        perr_fail(&p->pe, n->pos_start, "no arguments for aggregate expression provided");
        return false;
    }
    size_t want = 1;
    if (em_agg_op_has_param(op)) {
        if (!p->opts.experimental_functions && (op == EM_AGG_LIMITK || op == EM_AGG_LIMIT_RATIO)) {
            perr_fail(&p->pe, n->pos_start,
                      "%s() is experimental and must be enabled with "
                      "--enable-feature=promql-experimental-functions",
                      em_agg_op_str(op));
            return false;
        }
        want = 2;
        n->agg.param = args->v[0];
    }
    if (args->n != want) {
        perr_fail(&p->pe, n->pos_start,
                  "wrong number of arguments for aggregate expression provided, expected %zu, got %zu", want,
                  args->n);
        return false;
    }
    n->agg.expr = args->v[want - 1];
    return true;
}

/* aggregate_expr; the operator was consumed and the lookahead is '(' or by/without. */
static em_node_t *parse_aggregate(parser_t *p, const token_t *op)
{
    em_node_t *n = new_node(p, EM_NODE_AGGREGATE, op->pos, 0);
    n->agg.op = agg_op(op->type);
    nlist_t args = {0};
    uint32_t h = 0;
    p->agg_depth++;
    bool ok;
    tok_type_t t = peek_type(p);
    if (t == T_BY || t == T_WITHOUT) {
        ok = parse_agg_modifier(p, n);
        if (ok && peek_type(p) != T_LEFT_PAREN) {
            unexpected(p, "aggregation", "");
            ok = false;
        }
        ok = ok && parse_call_body(p, &args, &h);
    } else {
        ok = parse_call_body(p, &args, &h);
        t = ok ? peek_type(p) : T_EOF;
        if (ok && (t == T_BY || t == T_WITHOUT))
            ok = parse_agg_modifier(p, n);
    }
    p->agg_depth--;
    if (!ok || !agg_args(p, n, &args))
        return NULL;
    n->pos_end = p->last_end;
    n->height = h;
    return set_height(p, n, n, NULL) ? n : NULL;
}

static bool is_agg(tok_type_t t)
{
    return t > T_AGGS_START && t < T_AGGS_END;
}

/* Tokens generated_parser.y accepts as a metric name (metric_identifier). */
static bool is_metric_identifier(tok_type_t t)
{
    return t == T_IDENTIFIER || t == T_METRIC_IDENTIFIER || is_agg(t) || t == T_BY || t == T_WITHOUT ||
           t == T_FILL || t == T_FILL_LEFT || t == T_FILL_RIGHT || t == T_LAND || t == T_LOR ||
           t == T_LUNLESS || t == T_OFFSET || t == T_START || t == T_END || t == T_STEP || t == T_RANGE ||
           t == T_ANCHORED || t == T_SMOOTHED || t == T_MAX_OF || t == T_MIN_OF;
}

static em_node_t *parse_primary(parser_t *p)
{
    token_t t = *peek(p);
    switch (t.type) {
    case T_NUMBER:
    case T_DURATION:
        return number_literal(p);
    case T_STRING: {
        consume(p);
        em_node_t *n = new_node(p, EM_NODE_STRING, t.pos, t.pos + t.len);
        n->string.s = unquote_tok(p, &t, &n->string.len);
        return n;
    }
    case T_LEFT_PAREN: {
        consume(p);
        em_node_t *e = parse_expr(p, 0);
        if (!e)
            return NULL;
        if (peek_type(p) != T_RIGHT_PAREN) {
            unexpected(p, outer_ctx(p), "");
            return NULL;
        }
        consume(p);
        em_node_t *n = new_node(p, EM_NODE_PAREN, t.pos, p->last_end);
        n->paren.expr = e;
        return set_height(p, n, e, NULL) ? n : NULL;
    }
    case T_LEFT_BRACE:
        return parse_vector_selector(p, NULL);
    default:
        break;
    }
    if (!is_metric_identifier(t.type)) {
        unexpected(p, outer_ctx(p), "");
        return NULL;
    }
    consume(p);
    tok_type_t next = peek_type(p);
    if (is_agg(t.type) && (next == T_LEFT_PAREN || next == T_BY || next == T_WITHOUT))
        return parse_aggregate(p, &t);
    if (next == T_LEFT_PAREN &&
        (t.type == T_IDENTIFIER || t.type == T_START || t.type == T_END || t.type == T_STEP ||
         t.type == T_RANGE || t.type == T_MAX_OF || t.type == T_MIN_OF))
        return parse_call(p, &t);
    return parse_vector_selector(p, &t);
}

static em_node_t *parse_unary(parser_t *p)
{
    tok_type_t t = peek_type(p);
    if (t != T_ADD && t != T_SUB)
        return parse_postfix(p, parse_primary(p));
    token_t op = consume(p);
    /* unary_op expr %prec MUL: the operand takes only what binds tighter than '*', i.e. '^'. */
    em_node_t *e = parse_expr(p, PREC_POW);
    if (!e)
        return NULL;
    if (e->kind == EM_NODE_NUMBER) {
        if (op.type == T_SUB)
            e->number.v = -e->number.v;
        e->pos_start = op.pos;
        return e;
    }
    em_node_t *n = new_node(p, EM_NODE_UNARY, op.pos, e->pos_end);
    n->unary.op = op.type == T_SUB ? EM_OP_SUB : EM_OP_ADD;
    n->unary.expr = e;
    return set_height(p, n, e, NULL) ? n : NULL;
}

static int bin_prec(tok_type_t t)
{
    switch (t) {
    case T_LOR:
        return PREC_OR;
    case T_LAND:
    case T_LUNLESS:
        return PREC_AND;
    case T_EQLC:
    case T_NEQ:
    case T_LTE:
    case T_LSS:
    case T_GTE:
    case T_GTR:
    case T_TRIM_UPPER:
    case T_TRIM_LOWER:
        return PREC_CMP;
    case T_ADD:
    case T_SUB:
        return PREC_ADD;
    case T_MUL:
    case T_DIV:
    case T_MOD:
    case T_ATAN2:
        return PREC_MUL;
    case T_POW:
        return PREC_POW;
    default:
        return 0;
    }
}

static em_op_t bin_op(tok_type_t t)
{
    switch (t) {
    case T_LOR:
        return EM_OP_LOR;
    case T_LAND:
        return EM_OP_LAND;
    case T_LUNLESS:
        return EM_OP_LUNLESS;
    case T_EQLC:
        return EM_OP_EQLC;
    case T_NEQ:
        return EM_OP_NEQ;
    case T_LTE:
        return EM_OP_LTE;
    case T_LSS:
        return EM_OP_LSS;
    case T_GTE:
        return EM_OP_GTE;
    case T_GTR:
        return EM_OP_GTR;
    case T_TRIM_UPPER:
        return EM_OP_TRIM_UPPER;
    case T_TRIM_LOWER:
        return EM_OP_TRIM_LOWER;
    case T_ATAN2:
        return EM_OP_ATAN2;
    default:
        return arith_op(t);
    }
}

/* fill_value: '(' [+|-] number ')' ; the fill keyword was consumed. */
static bool parse_fill_value(parser_t *p, double *v)
{
    const char *ctx = outer_ctx(p);
    if (!expect(p, T_LEFT_PAREN, ctx, ""))
        return false;
    bool neg = false;
    tok_type_t t = peek_type(p);
    if (t == T_ADD || t == T_SUB) {
        neg = t == T_SUB;
        consume(p);
        t = peek_type(p);
    }
    if (t != T_NUMBER && t != T_DURATION) {
        unexpected(p, ctx, "");
        return false;
    }
    em_node_t *n = number_literal(p);
    if (!n || !expect(p, T_RIGHT_PAREN, ctx, ""))
        return false;
    *v = neg ? -n->number.v : n->number.v;
    return true;
}

static bool parse_fill(parser_t *p, em_vector_matching_t *m)
{
    tok_type_t t = peek_type(p);
    if (t != T_FILL && t != T_FILL_LEFT && t != T_FILL_RIGHT)
        return true;
    consume(p);
    double v;
    if (!parse_fill_value(p, &v))
        return false;
    if (t == T_FILL) {
        m->has_fill_lhs = m->has_fill_rhs = true;
        m->fill_lhs = m->fill_rhs = v;
        return true;
    }
    bool left = t == T_FILL_LEFT;
    if (left)
        m->has_fill_lhs = true, m->fill_lhs = v;
    else
        m->has_fill_rhs = true, m->fill_rhs = v;
    tok_type_t other = left ? T_FILL_RIGHT : T_FILL_LEFT;
    if (peek_type(p) != other)
        return true;
    consume(p);
    if (!parse_fill_value(p, &v))
        return false;
    if (left)
        m->has_fill_rhs = true, m->fill_rhs = v;
    else
        m->has_fill_lhs = true, m->fill_lhs = v;
    return true;
}

/* bin_modifier: [bool] [on|ignoring (...) [group_left|group_right [(...)]]] [fill...] */
static bool parse_bin_modifiers(parser_t *p, em_node_t *n)
{
    em_vector_matching_t *m = em_arena_alloc(p->a, sizeof(*m));
    memset(m, 0, sizeof(*m));
    n->bin.matching = m;
    if (peek_type(p) == T_BOOL) {
        consume(p);
        n->bin.return_bool = true;
    }
    tok_type_t t = peek_type(p);
    if (t == T_ON || t == T_IGNORING) {
        consume(p);
        m->on = t == T_ON;
        slist_t l = {0};
        if (!parse_grouping(p, &l))
            return false;
        m->labels = l.v;
        m->n_labels = l.n;
        t = peek_type(p);
        if (t == T_GROUP_LEFT || t == T_GROUP_RIGHT) {
            consume(p);
            m->card = t == T_GROUP_LEFT ? EM_CARD_MANY_TO_ONE : EM_CARD_ONE_TO_MANY;
            if (peek_type(p) == T_LEFT_PAREN) {
                slist_t inc = {0};
                if (!parse_grouping(p, &inc))
                    return false;
                m->include = inc.v;
                m->n_include = inc.n;
            }
        }
    }
    return parse_fill(p, m);
}

static em_node_t *parse_expr(parser_t *p, int min_prec)
{
    if (++p->depth > MAX_HEIGHT) {
        perr_fail(&p->pe, peek(p)->pos, "expression nests more than %d levels deep", MAX_HEIGHT);
        return NULL;
    }
    em_node_t *lhs = parse_unary(p);
    while (lhs) {
        tok_type_t t = peek_type(p);
        int prec = bin_prec(t);
        if (prec == 0 || prec < min_prec)
            break;
        consume(p);
        em_node_t *n = new_node(p, EM_NODE_BINARY, lhs->pos_start, 0);
        n->bin.op = bin_op(t);
        n->bin.lhs = lhs;
        if (!parse_bin_modifiers(p, n)) {
            lhs = NULL;
            break;
        }
        em_node_t *rhs = parse_expr(p, t == T_POW ? prec : prec + 1);
        if (!rhs) {
            lhs = NULL;
            break;
        }
        n->bin.rhs = rhs;
        n->pos_end = rhs->pos_end;
        const em_vector_matching_t *m = n->bin.matching;
        if (!p->opts.binop_fill_modifiers && (m->has_fill_lhs || m->has_fill_rhs)) {
            perr_fail(&p->pe, n->pos_start, "binop fill modifiers are experimental and not enabled");
            lhs = NULL;
            break;
        }
        lhs = set_height(p, n, lhs, rhs) ? n : NULL;
    }
    p->depth--;
    return lhs;
}

/* ---- entry points ---- */

static void parser_init(parser_t *p, const char *expr, size_t len, em_arena_t *a,
                        const em_promql_opts_t *opts, em_err_t *err)
{
    memset(p, 0, sizeof(*p));
    p->a = a;
    p->in = em_arena_strndup(a, expr, len);
    p->n = len;
    p->pe.in = p->in;
    p->pe.n = len;
    p->pe.err = err;
    if (opts)
        p->opts = *opts;
    lex_init(&p->lex, p->in, len);
    p->ast = em_arena_alloc(a, sizeof(*p->ast));
    memset(p->ast, 0, sizeof(*p->ast));
    p->ast->expr = p->in;
    p->ast->expr_len = len;
}

/* On failure release what was built so far; the caller then sees only the error. */
static int parser_finish(parser_t *p, em_node_t *root, em_ast_t **out)
{
    if (!failed(p) && root) {
        p->ast->root = root;
        *out = p->ast;
        return EM_OK;
    }
    em_ast_fini(p->ast);
    return EM_EINVAL;
}

int em_promql_parse(const char *expr, size_t len, em_arena_t *a, const em_promql_opts_t *opts, em_ast_t **out,
                    em_err_t *err)
{
    parser_t p;
    em_node_t *root = NULL;
    if (len > UINT32_MAX / 2)
        return em_err_set(err, EM_ELIMIT, "query too long");
    parser_init(&p, expr, len, a, opts, err);
    if (peek_type(&p) == T_EOF) {
        perr_fail(&p.pe, 0, "no expression found in input");
        goto out;
    }
    root = parse_expr(&p, 0);
    if (!root)
        goto out;
    if (peek_type(&p) != T_EOF) {
        unexpected(&p, "", "");
        goto out;
    }
    promql_check(&p.pe, root);
out:
    return parser_finish(&p, root, out);
}

int em_promql_parse_selector(const char *s, size_t len, em_arena_t *a, em_ast_t **out, em_err_t *err)
{
    parser_t p;
    em_node_t *root = NULL;
    if (len > UINT32_MAX / 2)
        return em_err_set(err, EM_ELIMIT, "selector too long");
    parser_init(&p, s, len, a, NULL, err);
    token_t t = *peek(&p);
    if (is_metric_identifier(t.type)) {
        consume(&p);
        root = parse_vector_selector(&p, &t);
    } else if (t.type == T_LEFT_BRACE) {
        root = parse_vector_selector(&p, NULL);
    } else {
        unexpected(&p, "", "");
    }
    if (root && peek_type(&p) != T_EOF)
        unexpected(&p, "", "");
    return parser_finish(&p, root, out);
}
