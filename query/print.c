/* query/print.c -- PromQL text from a tree: Prometheus's String() and Pretty() forms.
 * Design: see parse.h. Mirrors printer.go and prettier.go of Prometheus 3. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/duration.h"
#include "base/mem.h"
#include "base/strconv.h"
#include "query/parse.h"
#include "query/parse_int.h"

#define MAX_LINE 100 /* Prometheus's maxCharactersPerLine */

static void put_duration_ms(em_buf_t *b, int64_t ms)
{
    char d[32];
    em_duration_format(ms, d);
    em_buf_puts(b, d);
}

/* model.Duration(s seconds).String(), Prometheus's way of printing a duration literal. */
static void put_duration_seconds(em_buf_t *b, double s)
{
    if (s < 0) {
        em_buf_putc(b, '-');
        s = -s;
    }
    /* Literals hold whole milliseconds as seconds; round back (Prometheus truncates nanoseconds, which
     * loses a millisecond on very long durations). */
    double ms = s * 1000.0;
    put_duration_ms(b, ms >= 9.2233720368547758e18 ? INT64_MAX : (int64_t)llround(ms));
}

static void put_label(em_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    if (legacy_label_name(s, n))
        em_buf_append(b, s, n);
    else
        go_quote(b, s, n, 0);
}

static void put_labels(em_buf_t *b, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            em_buf_puts(b, ", ");
        put_label(b, v[i]);
    }
}

static void put_at(em_buf_t *b, const em_at_t *at)
{
    switch (at->kind) {
    case EM_AT_TIME: {
        int64_t t = at->t_ms;
        uint64_t u = t < 0 ? (uint64_t)0 - (uint64_t)t : (uint64_t)t;
        em_buf_printf(b, " @ %s%llu.%03llu", t < 0 ? "-" : "", (unsigned long long)(u / 1000),
                      (unsigned long long)(u % 1000));
        break;
    }
    case EM_AT_START:
        em_buf_puts(b, " @ start()");
        break;
    case EM_AT_END:
        em_buf_puts(b, " @ end()");
        break;
    case EM_AT_NONE:
        break;
    }
}

static void put_offset(em_buf_t *b, int64_t ms, const em_node_t *expr)
{
    if (expr) {
        em_buf_puts(b, " offset ");
        em_promql_format(expr, b);
    } else if (ms != 0) {
        em_buf_puts(b, " offset ");
        put_duration_ms(b, ms);
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One matcher as labels.Matcher.String(). */
static char *matcher_str(const em_matcher_t *m)
{
    em_buf_t b = EM_BUF_INIT;
    put_label(&b, m->name);
    em_buf_puts(&b, em_match_type_str(m->type));
    go_quote(&b, m->value, m->value_len, 0);
    return em_buf_detach(&b, NULL);
}

static void put_selector(em_buf_t *b, const em_node_t *n, bool modifiers)
{
    const em_vector_sel_t *vs = &n->vs;
    char **strs = calloc(vs->n_matchers ? vs->n_matchers : 1, sizeof(*strs));
    size_t k = 0;
    for (size_t i = 0; i < vs->n_matchers; i++) {
        const em_matcher_t *m = vs->matchers[i];
        if (strcmp(m->name, "__name__") == 0 && m->type == EM_MATCH_EQ && strcmp(m->value, vs->name) == 0 &&
            m->value[0] != '\0')
            continue;
        strs[k++] = matcher_str(m);
    }
    em_buf_puts(b, vs->name);
    /* A selector with neither name nor matchers (info()'s `{}`) prints as "{}"; Prometheus prints
     * nothing, which does not parse back. */
    if (k || vs->name[0] == '\0') {
        em_qsort(strs, k, sizeof(*strs), cmp_str);
        em_buf_putc(b, '{');
        for (size_t i = 0; i < k; i++) {
            if (i)
                em_buf_putc(b, ',');
            em_buf_puts(b, strs[i]);
        }
        em_buf_putc(b, '}');
    }
    for (size_t i = 0; i < k; i++)
        free(strs[i]);
    free(strs);
    if (!modifiers)
        return;
    put_at(b, &vs->at);
    if (vs->anchored)
        em_buf_puts(b, " anchored");
    else if (vs->smoothed)
        em_buf_puts(b, " smoothed");
    put_offset(b, vs->offset_ms, vs->offset_expr);
}

static void put_number(em_buf_t *b, const em_node_t *n)
{
    if (n->number.is_duration) {
        put_duration_seconds(b, n->number.v);
        return;
    }
    /* Prometheus prints +Inf as "+Inf", which parses back as a unary plus (and `+Inf ^ 2` grows a '+'
     * with every round trip); "Inf" is the same number and keeps the round trip exact. */
    if (isinf(n->number.v) && n->number.v > 0) {
        em_buf_puts(b, "Inf");
        return;
    }
    char f[EM_FLOAT_BUF];
    em_buf_append(b, f, em_fmt_float(n->number.v, 'f', f));
}

static void put_range(em_buf_t *b, int64_t ms, const em_node_t *expr)
{
    if (expr)
        em_promql_format(expr, b);
    else
        put_duration_ms(b, ms);
}

static void put_matching(em_buf_t *b, const em_node_t *n)
{
    const em_vector_matching_t *m = n->bin.matching;
    if (!m)
        return;
    bool grouped = m->card == EM_CARD_MANY_TO_ONE || m->card == EM_CARD_ONE_TO_MANY;
    if (m->n_labels > 0 || m->on || grouped) {
        em_buf_puts(b, m->on ? " on (" : " ignoring (");
        put_labels(b, m->labels, m->n_labels);
        em_buf_putc(b, ')');
    }
    if (grouped) {
        em_buf_puts(b, m->card == EM_CARD_MANY_TO_ONE ? " group_left (" : " group_right (");
        put_labels(b, m->include, m->n_include);
        em_buf_putc(b, ')');
    }
    char f[EM_FLOAT_BUF];
    if (m->has_fill_lhs && m->has_fill_rhs && m->fill_lhs == m->fill_rhs) {
        em_buf_puts(b, " fill (");
        em_buf_append(b, f, em_fmt_float(m->fill_lhs, 'g', f));
        em_buf_putc(b, ')');
        return;
    }
    if (m->has_fill_lhs) {
        em_buf_puts(b, " fill_left (");
        em_buf_append(b, f, em_fmt_float(m->fill_lhs, 'g', f));
        em_buf_putc(b, ')');
    }
    if (m->has_fill_rhs) {
        em_buf_puts(b, " fill_right (");
        em_buf_append(b, f, em_fmt_float(m->fill_rhs, 'g', f));
        em_buf_putc(b, ')');
    }
}

/* The operator part of a binary expression: "+", "== bool on (a)" ... */
static void put_binop(em_buf_t *b, const em_node_t *n)
{
    em_buf_puts(b, em_op_str(n->bin.op));
    if (n->bin.return_bool)
        em_buf_puts(b, " bool");
    put_matching(b, n);
}

/* The aggregation operator with its grouping: "sum by (job) " / "sum". */
static void put_agg_op(em_buf_t *b, const em_node_t *n)
{
    em_buf_puts(b, em_agg_op_str(n->agg.op));
    if (n->agg.without) {
        em_buf_puts(b, " without (");
        put_labels(b, n->agg.grouping, n->agg.n_grouping);
        em_buf_puts(b, ") ");
    } else if (n->agg.n_grouping > 0) {
        em_buf_puts(b, " by (");
        put_labels(b, n->agg.grouping, n->agg.n_grouping);
        em_buf_puts(b, ") ");
    }
}

static void put_subquery_suffix(em_buf_t *b, const em_node_t *n)
{
    em_buf_putc(b, '[');
    put_range(b, n->sq.range_ms, n->sq.range_expr);
    em_buf_putc(b, ':');
    if (n->sq.step_ms != 0)
        put_duration_ms(b, n->sq.step_ms);
    else if (n->sq.step_expr)
        em_promql_format(n->sq.step_expr, b);
    em_buf_putc(b, ']');
    put_at(b, &n->sq.at);
    put_offset(b, n->sq.offset_ms, n->sq.offset_expr);
}

static void put_duration_expr(em_buf_t *b, const em_node_t *n)
{
    if (n->dur.wrapped)
        em_buf_putc(b, '(');
    switch (n->dur.op) {
    case EM_OP_STEP:
        em_buf_puts(b, "step()");
        break;
    case EM_OP_RANGE:
        em_buf_puts(b, "range()");
        break;
    case EM_OP_MIN_OF:
    case EM_OP_MAX_OF:
        em_buf_puts(b, em_op_str(n->dur.op));
        em_buf_putc(b, '(');
        em_promql_format(n->dur.lhs, b);
        em_buf_puts(b, ", ");
        em_promql_format(n->dur.rhs, b);
        em_buf_putc(b, ')');
        break;
    default:
        if (!n->dur.lhs) {
            if (n->dur.op == EM_OP_SUB)
                em_buf_putc(b, '-');
            em_promql_format(n->dur.rhs, b);
        } else {
            em_promql_format(n->dur.lhs, b);
            em_buf_putc(b, ' ');
            em_buf_puts(b, em_op_str(n->dur.op));
            em_buf_putc(b, ' ');
            em_promql_format(n->dur.rhs, b);
        }
    }
    if (n->dur.wrapped)
        em_buf_putc(b, ')');
}

void em_promql_format(const em_node_t *n, em_buf_t *b)
{
    switch (n->kind) {
    case EM_NODE_NUMBER:
        put_number(b, n);
        break;
    case EM_NODE_STRING:
        go_quote(b, n->string.s, n->string.len, 0);
        break;
    case EM_NODE_VECTOR_SEL:
        put_selector(b, n, true);
        break;
    case EM_NODE_MATRIX_SEL: {
        const em_vector_sel_t *vs = &n->ms.vs->vs;
        put_selector(b, n->ms.vs, false);
        em_buf_putc(b, '[');
        put_range(b, n->ms.range_ms, n->ms.range_expr);
        em_buf_putc(b, ']');
        if (vs->anchored)
            em_buf_puts(b, " anchored");
        else if (vs->smoothed)
            em_buf_puts(b, " smoothed");
        put_at(b, &vs->at);
        put_offset(b, vs->offset_ms, vs->offset_expr);
        break;
    }
    case EM_NODE_SUBQUERY:
        em_promql_format(n->sq.expr, b);
        put_subquery_suffix(b, n);
        break;
    case EM_NODE_CALL:
        em_buf_puts(b, n->call.func->name);
        em_buf_putc(b, '(');
        for (size_t i = 0; i < n->call.n_args; i++) {
            if (i)
                em_buf_puts(b, ", ");
            em_promql_format(n->call.args[i], b);
        }
        em_buf_putc(b, ')');
        break;
    case EM_NODE_AGGREGATE:
        put_agg_op(b, n);
        em_buf_putc(b, '(');
        if (n->agg.param) {
            em_promql_format(n->agg.param, b);
            em_buf_puts(b, ", ");
        }
        em_promql_format(n->agg.expr, b);
        em_buf_putc(b, ')');
        break;
    case EM_NODE_BINARY:
        em_promql_format(n->bin.lhs, b);
        em_buf_putc(b, ' ');
        put_binop(b, n);
        em_buf_putc(b, ' ');
        em_promql_format(n->bin.rhs, b);
        break;
    case EM_NODE_UNARY:
        em_buf_puts(b, em_op_str(n->unary.op));
        em_promql_format(n->unary.expr, b);
        break;
    case EM_NODE_PAREN:
        em_buf_putc(b, '(');
        em_promql_format(n->paren.expr, b);
        em_buf_putc(b, ')');
        break;
    case EM_NODE_STEP_INVARIANT:
        em_promql_format(n->paren.expr, b);
        break;
    case EM_NODE_DURATION:
        put_duration_expr(b, n);
        break;
    }
}

/* ---- Pretty ---- */

static void indent(em_buf_t *b, int level)
{
    for (int i = 0; i < level; i++)
        em_buf_puts(b, "  ");
}

/* needsSplit: the one-line form is longer than MAX_LINE. */
static bool needs_split(const em_node_t *n)
{
    em_buf_t s = EM_BUF_INIT;
    em_promql_format(n, &s);
    bool split = s.len > MAX_LINE;
    em_buf_fini(&s);
    return split;
}

static void pretty(const em_node_t *n, int level, em_buf_t *b);

static void pretty_unary(const em_node_t *n, int level, em_buf_t *b)
{
    /* Prometheus prints the child at the same level, then trims its leading indentation. */
    em_buf_t child = EM_BUF_INIT;
    pretty(n->unary.expr, level, &child);
    size_t s = 0, e = child.len;
    while (s < e && (child.data[s] == ' ' || child.data[s] == '\n' || child.data[s] == '\t'))
        s++;
    while (e > s && (child.data[e - 1] == ' ' || child.data[e - 1] == '\n' || child.data[e - 1] == '\t'))
        e--;
    indent(b, level);
    em_buf_puts(b, em_op_str(n->unary.op));
    em_buf_append(b, child.data + s, e - s);
    em_buf_fini(&child);
}

static void pretty(const em_node_t *n, int level, em_buf_t *b)
{
    switch (n->kind) {
    case EM_NODE_AGGREGATE:
        indent(b, level);
        if (!needs_split(n)) {
            em_promql_format(n, b);
            return;
        }
        put_agg_op(b, n);
        em_buf_puts(b, "(\n");
        if (em_agg_op_has_param(n->agg.op) && n->agg.param) {
            pretty(n->agg.param, level + 1, b);
            em_buf_puts(b, ",\n");
        }
        pretty(n->agg.expr, level + 1, b);
        em_buf_putc(b, '\n');
        indent(b, level);
        em_buf_putc(b, ')');
        return;
    case EM_NODE_BINARY:
        if (!needs_split(n)) {
            indent(b, level);
            em_promql_format(n, b);
            return;
        }
        pretty(n->bin.lhs, level + 1, b);
        em_buf_putc(b, '\n');
        indent(b, level);
        put_binop(b, n);
        em_buf_putc(b, '\n');
        pretty(n->bin.rhs, level + 1, b);
        return;
    case EM_NODE_CALL:
        indent(b, level);
        if (!needs_split(n)) {
            em_promql_format(n, b);
            return;
        }
        em_buf_puts(b, n->call.func->name);
        em_buf_puts(b, "(\n");
        for (size_t i = 0; i < n->call.n_args; i++) {
            if (i)
                em_buf_puts(b, ",\n");
            pretty(n->call.args[i], level + 1, b);
        }
        em_buf_putc(b, '\n');
        indent(b, level);
        em_buf_putc(b, ')');
        return;
    case EM_NODE_PAREN:
        indent(b, level);
        if (!needs_split(n)) {
            em_promql_format(n, b);
            return;
        }
        em_buf_puts(b, "(\n");
        pretty(n->paren.expr, level + 1, b);
        em_buf_putc(b, '\n');
        indent(b, level);
        em_buf_putc(b, ')');
        return;
    case EM_NODE_STEP_INVARIANT:
        pretty(n->paren.expr, level, b);
        return;
    case EM_NODE_SUBQUERY:
        /* Prometheus adds no indentation here when the subquery fits on a line. */
        if (!needs_split(n)) {
            em_promql_format(n, b);
            return;
        }
        pretty(n->sq.expr, level, b);
        put_subquery_suffix(b, n);
        return;
    case EM_NODE_UNARY:
        pretty_unary(n, level, b);
        return;
    default:
        indent(b, level);
        em_promql_format(n, b);
        return;
    }
}

void em_promql_pretty(const em_node_t *n, em_buf_t *out)
{
    pretty(n, 0, out);
}
