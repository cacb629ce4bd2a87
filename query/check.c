/* query/check.c -- the type checks Prometheus runs after a successful parse (parse.go's checkAST).
 * Design: see parse.h. The order of the checks matters: only the first error is reported. */
#include <string.h>

#include "base/buf.h"
#include "query/parse_int.h"

static em_vtype_t check(perr_t *pe, em_node_t *n);

static void expect_type(perr_t *pe, em_node_t *n, em_vtype_t want, const char *context)
{
    em_vtype_t t = check(pe, n);
    if (t != want)
        perr_fail(pe, n->pos_start, "expected type %s in %s, got %s", em_vtype_doc(want), context,
                  em_vtype_doc(t));
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Where the operator of a binary expression starts: the first non-space after the left operand. */
static uint32_t op_pos(const perr_t *pe, const em_node_t *n)
{
    uint32_t i = n->bin.lhs->pos_end;
    while (i < pe->n && is_space(pe->in[i]))
        i++;
    return i;
}

static void quoted_op(em_buf_t *b, em_op_t op)
{
    const char *s = em_op_str(op);
    go_quote(b, s, strlen(s), 0);
}

static void check_matching(perr_t *pe, em_node_t *n, em_vtype_t lt, em_vtype_t rt)
{
    em_vector_matching_t *m = n->bin.matching;
    em_op_t op = n->bin.op;
    bool fill = m && (m->has_fill_lhs || m->has_fill_rhs);
    em_buf_t q = EM_BUF_INIT;
    quoted_op(&q, op);
    if ((lt != EM_VTYPE_VECTOR || rt != EM_VTYPE_VECTOR) && m) {
        if (m->n_labels > 0)
            perr_fail(pe, n->pos_start, "vector matching only allowed between instant vectors");
        if (fill)
            perr_fail(pe, n->pos_start, "filling in missing series only allowed between instant vectors");
        n->bin.matching = NULL;
    } else if (em_op_is_set(op) && m) {
        if (m->card == EM_CARD_ONE_TO_MANY || m->card == EM_CARD_MANY_TO_ONE)
            perr_fail(pe, n->pos_start, "no grouping allowed for %s operation", q.data);
        if (m->card != EM_CARD_MANY_TO_MANY)
            perr_fail(pe, n->pos_start, "set operations must always be many-to-many");
        if (fill)
            perr_fail(pe, n->pos_start, "filling in missing series not allowed for set operators");
    }
    if ((lt == EM_VTYPE_SCALAR || rt == EM_VTYPE_SCALAR) && em_op_is_set(op))
        perr_fail(pe, n->pos_start, "set operator %s not allowed in binary scalar expression", q.data);
    em_buf_fini(&q);
}

static void check_binary(perr_t *pe, em_node_t *n)
{
    em_vtype_t lt = check(pe, n->bin.lhs);
    em_vtype_t rt = check(pe, n->bin.rhs);
    em_op_t op = n->bin.op;
    em_vector_matching_t *m = n->bin.matching;
    if (n->bin.return_bool && !em_op_is_comparison(op))
        perr_fail(pe, op_pos(pe, n), "bool modifier can only be used on comparison operators");
    if (em_op_is_comparison(op) && !n->bin.return_bool && em_node_type(n->bin.rhs) == EM_VTYPE_SCALAR &&
        em_node_type(n->bin.lhs) == EM_VTYPE_SCALAR)
        perr_fail(pe, op_pos(pe, n), "comparisons between scalars must use BOOL modifier");
    if (m && em_op_is_set(op) && m->card == EM_CARD_ONE_TO_ONE)
        m->card = EM_CARD_MANY_TO_MANY;
    if (m && m->on) {
        for (size_t i = 0; i < m->n_labels; i++) {
            for (size_t j = 0; j < m->n_include; j++) {
                if (strcmp(m->labels[i], m->include[j]) != 0)
                    continue;
                em_buf_t q = EM_BUF_INIT;
                go_quote(&q, m->labels[i], strlen(m->labels[i]), 0);
                perr_fail(pe, op_pos(pe, n), "label %s must not occur in ON and GROUP clause at once",
                          q.data);
                em_buf_fini(&q);
            }
        }
    }
    if (lt != EM_VTYPE_SCALAR && lt != EM_VTYPE_VECTOR)
        perr_fail(pe, n->bin.lhs->pos_start,
                  "binary expression must contain only scalar and instant vector types");
    if (rt != EM_VTYPE_SCALAR && rt != EM_VTYPE_VECTOR)
        perr_fail(pe, n->bin.rhs->pos_start,
                  "binary expression must contain only scalar and instant vector types");
    check_matching(pe, n, lt, rt);
}

static void check_info(perr_t *pe, em_node_t *n)
{
    em_node_t *arg = n->call.args[1];
    if (em_node_type(arg) != EM_VTYPE_VECTOR)
        perr_fail(pe, n->pos_start, "expected type %s in call to function \"info\", got %s",
                  em_vtype_doc(EM_VTYPE_VECTOR), em_vtype_doc(em_node_type(arg)));
    if (arg->kind == EM_NODE_VECTOR_SEL && arg->vs.name[0] != '\0')
        perr_fail(pe, arg->pos_start, "expected label selectors only, got vector selector instead");
    else if (arg->kind == EM_NODE_VECTOR_SEL)
        arg->vs.bypass_empty_check = true;
    else
        perr_fail(pe, arg->pos_start, "expected label selectors only");
}

static void check_call(perr_t *pe, em_node_t *n)
{
    const em_func_t *f = n->call.func;
    size_t nargs = (size_t)f->n_args, got = n->call.n_args;
    em_buf_t q = EM_BUF_INIT;
    go_quote(&q, f->name, strlen(f->name), 0);
    if (f->variadic == 0) {
        if (nargs != got)
            perr_fail(pe, n->pos_start, "expected %zu argument(s) in call to %s, got %zu", nargs, q.data,
                      got);
    } else {
        size_t na = nargs - 1;
        if (na > got)
            perr_fail(pe, n->pos_start, "expected at least %zu argument(s) in call to %s, got %zu", na,
                      q.data, got);
        else if (f->variadic > 0 && na + (size_t)f->variadic < got)
            perr_fail(pe, n->pos_start, "expected at most %zu argument(s) in call to %s, got %zu",
                      na + (size_t)f->variadic, q.data, got);
    }
    if (f->id == EM_FN_INFO && got > 1)
        check_info(pe, n);
    for (size_t i = 0; i < got; i++) {
        size_t k = i;
        if (k >= nargs) {
            if (f->variadic == 0)
                break;
            k = nargs - 1;
        }
        em_vtype_t t = check(pe, n->call.args[i]);
        if (t != f->arg_types[k])
            perr_fail(pe, n->call.args[i]->pos_start, "expected type %s in call to function %s, got %s",
                      em_vtype_doc(f->arg_types[k]), q.data, em_vtype_doc(t));
    }
    em_buf_fini(&q);
}

static void check_selector(perr_t *pe, em_node_t *n)
{
    const em_vector_sel_t *vs = &n->vs;
    if (vs->name[0] != '\0') {
        for (size_t i = 0; i + 1 < vs->n_matchers; i++) {
            const em_matcher_t *m = vs->matchers[i];
            if (strcmp(m->name, "__name__") != 0)
                continue;
            em_buf_t a = EM_BUF_INIT, b = EM_BUF_INIT;
            go_quote(&a, vs->name, strlen(vs->name), 0);
            go_quote(&b, m->value, m->value_len, 0);
            perr_fail(pe, n->pos_start, "metric name must not be set twice: %s or %s", a.data, b.data);
            em_buf_fini(&a);
            em_buf_fini(&b);
        }
        return;
    }
    if (vs->bypass_empty_check)
        return;
    for (size_t i = 0; i < vs->n_matchers; i++)
        if (!em_matcher_matches_empty(vs->matchers[i]))
            return;
    perr_fail(pe, n->pos_start, "vector selector must contain at least one non-empty matcher");
}

static em_vtype_t check(perr_t *pe, em_node_t *n)
{
    em_vtype_t typ = em_node_type(n);
    switch (n->kind) {
    case EM_NODE_AGGREGATE: {
        em_agg_op_t op = n->agg.op;
        expect_type(pe, n->agg.expr, EM_VTYPE_VECTOR, "aggregation expression");
        if (op == EM_AGG_TOPK || op == EM_AGG_BOTTOMK || op == EM_AGG_QUANTILE || op == EM_AGG_LIMITK ||
            op == EM_AGG_LIMIT_RATIO)
            expect_type(pe, n->agg.param, EM_VTYPE_SCALAR, "aggregation parameter");
        if (op == EM_AGG_COUNT_VALUES)
            expect_type(pe, n->agg.param, EM_VTYPE_STRING, "aggregation parameter");
        break;
    }
    case EM_NODE_BINARY:
        check_binary(pe, n);
        break;
    case EM_NODE_CALL:
        check_call(pe, n);
        break;
    case EM_NODE_PAREN:
    case EM_NODE_STEP_INVARIANT:
        check(pe, n->paren.expr);
        break;
    case EM_NODE_UNARY: {
        em_vtype_t t = check(pe, n->unary.expr);
        if (t != EM_VTYPE_SCALAR && t != EM_VTYPE_VECTOR)
            perr_fail(
                pe, n->pos_start,
                "unary expression only allowed on expressions of type scalar or instant vector, got \"%s\"",
                em_vtype_doc(t));
        break;
    }
    case EM_NODE_SUBQUERY: {
        em_vtype_t t = check(pe, n->sq.expr);
        if (t != EM_VTYPE_VECTOR)
            perr_fail(pe, n->pos_start, "subquery is only allowed on instant vector, got %s instead",
                      em_vtype_name(t));
        break;
    }
    case EM_NODE_MATRIX_SEL:
        check(pe, n->ms.vs);
        break;
    case EM_NODE_VECTOR_SEL:
        check_selector(pe, n);
        break;
    case EM_NODE_NUMBER:
    case EM_NODE_STRING:
    case EM_NODE_DURATION:
        break;
    }
    return typ;
}

int promql_check(perr_t *pe, em_node_t *root)
{
    check(pe, root);
    return pe->failed ? EM_EINVAL : EM_OK;
}
