/* query/ast.c -- node helpers, type names and operator spellings.
 * Design: see ast.h. */
#include <assert.h>
#include <string.h>

#include "query/ast.h"

struct em_ast_matcher_list {
    em_matcher_t *m;
    struct em_ast_matcher_list *next;
};

const char *em_vtype_doc(em_vtype_t t)
{
    switch (t) {
    case EM_VTYPE_SCALAR:
        return "scalar";
    case EM_VTYPE_VECTOR:
        return "instant vector";
    case EM_VTYPE_MATRIX:
        return "range vector";
    case EM_VTYPE_STRING:
        return "string";
    case EM_VTYPE_NONE:
        break;
    }
    return "none";
}

const char *em_vtype_name(em_vtype_t t)
{
    switch (t) {
    case EM_VTYPE_SCALAR:
        return "scalar";
    case EM_VTYPE_VECTOR:
        return "vector";
    case EM_VTYPE_MATRIX:
        return "matrix";
    case EM_VTYPE_STRING:
        return "string";
    case EM_VTYPE_NONE:
        break;
    }
    return "none";
}

const char *em_op_str(em_op_t op)
{
    static const char *const s[] = {
        [EM_OP_NONE] = "",          [EM_OP_ADD] = "+",         [EM_OP_SUB] = "-",
        [EM_OP_MUL] = "*",          [EM_OP_DIV] = "/",         [EM_OP_MOD] = "%",
        [EM_OP_POW] = "^",          [EM_OP_ATAN2] = "atan2",   [EM_OP_EQLC] = "==",
        [EM_OP_NEQ] = "!=",         [EM_OP_GTR] = ">",         [EM_OP_LSS] = "<",
        [EM_OP_GTE] = ">=",         [EM_OP_LTE] = "<=",        [EM_OP_TRIM_UPPER] = "</",
        [EM_OP_TRIM_LOWER] = ">/",  [EM_OP_LAND] = "and",      [EM_OP_LOR] = "or",
        [EM_OP_LUNLESS] = "unless", [EM_OP_STEP] = "step",     [EM_OP_RANGE] = "range",
        [EM_OP_MIN_OF] = "min_of",  [EM_OP_MAX_OF] = "max_of",
    };
    return (unsigned)op < sizeof(s) / sizeof(s[0]) && s[op] ? s[op] : "";
}

bool em_op_is_comparison(em_op_t op)
{
    return op == EM_OP_EQLC || op == EM_OP_NEQ || op == EM_OP_GTR || op == EM_OP_LSS || op == EM_OP_GTE ||
           op == EM_OP_LTE;
}

bool em_op_is_set(em_op_t op)
{
    return op == EM_OP_LAND || op == EM_OP_LOR || op == EM_OP_LUNLESS;
}

const char *em_agg_op_str(em_agg_op_t op)
{
    static const char *const s[EM_AGG__COUNT] = {
        [EM_AGG_SUM] = "sum",
        [EM_AGG_AVG] = "avg",
        [EM_AGG_COUNT] = "count",
        [EM_AGG_MIN] = "min",
        [EM_AGG_MAX] = "max",
        [EM_AGG_GROUP] = "group",
        [EM_AGG_STDDEV] = "stddev",
        [EM_AGG_STDVAR] = "stdvar",
        [EM_AGG_TOPK] = "topk",
        [EM_AGG_BOTTOMK] = "bottomk",
        [EM_AGG_COUNT_VALUES] = "count_values",
        [EM_AGG_QUANTILE] = "quantile",
        [EM_AGG_LIMITK] = "limitk",
        [EM_AGG_LIMIT_RATIO] = "limit_ratio",
    };
    return (unsigned)op < EM_AGG__COUNT ? s[op] : "";
}

bool em_agg_op_has_param(em_agg_op_t op)
{
    return op == EM_AGG_TOPK || op == EM_AGG_BOTTOMK || op == EM_AGG_COUNT_VALUES || op == EM_AGG_QUANTILE ||
           op == EM_AGG_LIMITK || op == EM_AGG_LIMIT_RATIO;
}

em_vtype_t em_node_type(const em_node_t *n)
{
    if (!n)
        return EM_VTYPE_NONE;
    switch (n->kind) {
    case EM_NODE_NUMBER:
    case EM_NODE_DURATION:
        return EM_VTYPE_SCALAR;
    case EM_NODE_STRING:
        return EM_VTYPE_STRING;
    case EM_NODE_VECTOR_SEL:
    case EM_NODE_AGGREGATE:
        return EM_VTYPE_VECTOR;
    case EM_NODE_MATRIX_SEL:
    case EM_NODE_SUBQUERY:
        return EM_VTYPE_MATRIX;
    case EM_NODE_CALL:
        return n->call.func ? n->call.func->ret : EM_VTYPE_NONE;
    case EM_NODE_BINARY:
        if (em_node_type(n->bin.lhs) == EM_VTYPE_SCALAR && em_node_type(n->bin.rhs) == EM_VTYPE_SCALAR)
            return EM_VTYPE_SCALAR;
        return EM_VTYPE_VECTOR;
    case EM_NODE_UNARY:
        return em_node_type(n->unary.expr);
    case EM_NODE_PAREN:
    case EM_NODE_STEP_INVARIANT:
        return em_node_type(n->paren.expr);
    }
    return EM_VTYPE_NONE;
}

em_node_t *em_node_new(em_arena_t *a, em_node_kind_t kind, uint32_t pos_start, uint32_t pos_end)
{
    em_node_t *n = em_arena_alloc(a, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->pos_start = pos_start;
    n->pos_end = pos_end;
    return n;
}

void em_ast_own_matcher(em_ast_t *ast, em_arena_t *a, em_matcher_t *m)
{
    struct em_ast_matcher_list *l = em_arena_alloc(a, sizeof(*l));
    l->m = m;
    l->next = ast->matchers;
    ast->matchers = l;
}

void em_ast_fini(em_ast_t *ast)
{
    if (!ast)
        return;
    for (struct em_ast_matcher_list *l = ast->matchers; l; l = l->next)
        em_matcher_fini(l->m);
    ast->matchers = NULL;
}

const em_node_t *em_node_unwrap(const em_node_t *n)
{
    while (n && (n->kind == EM_NODE_PAREN || n->kind == EM_NODE_STEP_INVARIANT))
        n = n->paren.expr;
    return n;
}
