/* Tests for query/parse.h: a table of valid expressions with their canonical form, a table of invalid
 * ones with Prometheus's error text, round trips (parse(print(tree)) has the same structure), and the
 * shape of trees where precedence, modifiers and folding matter. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "query/parse.h"

#define ALL 1 /* every feature flag on */

typedef struct {
    const char *in;
    int flags;
    const char *out; /* canonical String() form */
} valid_case_t;

typedef struct {
    const char *in;
    int flags;
    const char *err; /* the whole error text */
} invalid_case_t;

#include "parse_cases.inc"

static const em_promql_opts_t all_opts = {true, true, true, true, true, true};

static int parse(const char *s, int flags, em_arena_t *a, em_ast_t **out, em_err_t *err)
{
    return em_promql_parse(s, strlen(s), a, flags ? &all_opts : NULL, out, err);
}

static char *format(const em_node_t *n)
{
    em_buf_t b = EM_BUF_INIT;
    em_promql_format(n, &b);
    em_buf_putc(&b, '\0');
    return em_buf_detach(&b, NULL);
}

/* Structural equality of two trees (positions aside). */
static bool same_tree(const em_node_t *a, const em_node_t *b);

static bool same_strs(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return true;
}

static bool same_at(const em_at_t *a, const em_at_t *b)
{
    return a->kind == b->kind && (a->kind != EM_AT_TIME || a->t_ms == b->t_ms);
}

static bool same_opt(const em_node_t *a, const em_node_t *b)
{
    return (!a && !b) || (a && b && same_tree(a, b));
}

static bool same_selector(const em_vector_sel_t *a, const em_vector_sel_t *b)
{
    if (strcmp(a->name, b->name) != 0 || a->n_matchers != b->n_matchers || a->offset_ms != b->offset_ms ||
        !same_opt(a->offset_expr, b->offset_expr) || !same_at(&a->at, &b->at) || a->anchored != b->anchored ||
        a->smoothed != b->smoothed)
        return false;
    for (size_t i = 0; i < a->n_matchers; i++) {
        /* The printer sorts matchers; compare as sets. */
        bool found = false;
        for (size_t j = 0; j < b->n_matchers && !found; j++)
            found = a->matchers[i]->type == b->matchers[j]->type &&
                    strcmp(a->matchers[i]->name, b->matchers[j]->name) == 0 &&
                    strcmp(a->matchers[i]->value, b->matchers[j]->value) == 0;
        if (!found)
            return false;
    }
    return true;
}

static bool same_matching(const em_vector_matching_t *a, const em_vector_matching_t *b)
{
    if (!a || !b)
        return !a && !b;
    return a->card == b->card && a->on == b->on &&
           same_strs(a->labels, a->n_labels, b->labels, b->n_labels) &&
           same_strs(a->include, a->n_include, b->include, b->n_include) &&
           a->has_fill_lhs == b->has_fill_lhs && a->has_fill_rhs == b->has_fill_rhs &&
           (!a->has_fill_lhs || a->fill_lhs == b->fill_lhs) &&
           (!a->has_fill_rhs || a->fill_rhs == b->fill_rhs);
}

static bool same_tree(const em_node_t *a, const em_node_t *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case EM_NODE_NUMBER:
        return (a->number.v == b->number.v || (isnan(a->number.v) && isnan(b->number.v))) &&
               a->number.is_duration == b->number.is_duration;
    case EM_NODE_STRING:
        return a->string.len == b->string.len && memcmp(a->string.s, b->string.s, a->string.len) == 0;
    case EM_NODE_VECTOR_SEL:
        return same_selector(&a->vs, &b->vs);
    case EM_NODE_MATRIX_SEL:
        return a->ms.range_ms == b->ms.range_ms && same_opt(a->ms.range_expr, b->ms.range_expr) &&
               same_tree(a->ms.vs, b->ms.vs);
    case EM_NODE_SUBQUERY:
        return a->sq.range_ms == b->sq.range_ms && a->sq.step_ms == b->sq.step_ms &&
               a->sq.offset_ms == b->sq.offset_ms && same_opt(a->sq.range_expr, b->sq.range_expr) &&
               same_opt(a->sq.step_expr, b->sq.step_expr) && same_opt(a->sq.offset_expr, b->sq.offset_expr) &&
               same_at(&a->sq.at, &b->sq.at) && same_tree(a->sq.expr, b->sq.expr);
    case EM_NODE_CALL:
        if (a->call.func != b->call.func || a->call.n_args != b->call.n_args)
            return false;
        for (size_t i = 0; i < a->call.n_args; i++)
            if (!same_tree(a->call.args[i], b->call.args[i]))
                return false;
        return true;
    case EM_NODE_AGGREGATE:
        return a->agg.op == b->agg.op && a->agg.without == b->agg.without &&
               same_strs(a->agg.grouping, a->agg.n_grouping, b->agg.grouping, b->agg.n_grouping) &&
               same_opt(a->agg.param, b->agg.param) && same_tree(a->agg.expr, b->agg.expr);
    case EM_NODE_BINARY:
        return a->bin.op == b->bin.op && a->bin.return_bool == b->bin.return_bool &&
               same_matching(a->bin.matching, b->bin.matching) && same_tree(a->bin.lhs, b->bin.lhs) &&
               same_tree(a->bin.rhs, b->bin.rhs);
    case EM_NODE_UNARY:
        return a->unary.op == b->unary.op && same_tree(a->unary.expr, b->unary.expr);
    case EM_NODE_PAREN:
    case EM_NODE_STEP_INVARIANT:
        return same_tree(a->paren.expr, b->paren.expr);
    case EM_NODE_DURATION:
        return a->dur.op == b->dur.op && a->dur.wrapped == b->dur.wrapped &&
               same_opt(a->dur.lhs, b->dur.lhs) && same_opt(a->dur.rhs, b->dur.rhs);
    }
    return false;
}

Test(query_parse, table_has_enough_cases)
{
    size_t n =
        sizeof(valid_cases) / sizeof(valid_cases[0]) + sizeof(invalid_cases) / sizeof(invalid_cases[0]);
    cr_assert_geq(n, 150, "only %zu cases", n);
}

Test(query_parse, valid_expressions_print_canonically)
{
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const valid_case_t *c = &valid_cases[i];
        em_arena_t a;
        em_arena_init(&a);
        em_ast_t *ast = NULL;
        em_err_t err = {0};
        int rc = parse(c->in, c->flags, &a, &ast, &err);
        cr_assert_eq(rc, EM_OK, "%s: %s", c->in, err.msg);
        char *s = format(ast->root);
        cr_expect_str_eq(s, c->out, "input %s", c->in);
        free(s);
        em_ast_fini(ast);
        em_arena_fini(&a);
    }
}

Test(query_parse, invalid_expressions_give_prometheus_errors)
{
    for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
        const invalid_case_t *c = &invalid_cases[i];
        em_arena_t a;
        em_arena_init(&a);
        em_ast_t *ast = NULL;
        em_err_t err = {0};
        int rc = parse(c->in, c->flags, &a, &ast, &err);
        cr_expect_eq(rc, EM_EINVAL, "%s parsed", c->in);
        cr_expect_null(ast, "%s: out set on error", c->in);
        cr_expect_str_eq(err.msg, c->err, "input %s", c->in);
        em_arena_fini(&a);
    }
}

Test(query_parse, printed_trees_parse_back_to_the_same_tree)
{
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const valid_case_t *c = &valid_cases[i];
        em_arena_t a;
        em_arena_init(&a);
        em_ast_t *t1 = NULL, *t2 = NULL;
        em_err_t err = {0};
        cr_assert_eq(parse(c->in, c->flags, &a, &t1, &err), EM_OK, "%s: %s", c->in, err.msg);
        char *s = format(t1->root);
        cr_assert_eq(parse(s, c->flags, &a, &t2, &err), EM_OK, "reparse %s: %s", s, err.msg);
        cr_expect(same_tree(t1->root, t2->root), "%s -> %s parses to another tree", c->in, s);
        char *s2 = format(t2->root);
        cr_expect_str_eq(s2, s);
        free(s);
        free(s2);
        em_ast_fini(t1);
        em_ast_fini(t2);
        em_arena_fini(&a);
    }
}

Test(query_parse, pretty_output_parses_back_to_the_same_tree)
{
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const valid_case_t *c = &valid_cases[i];
        em_arena_t a;
        em_arena_init(&a);
        em_ast_t *t1 = NULL, *t2 = NULL;
        em_err_t err = {0};
        cr_assert_eq(parse(c->in, c->flags, &a, &t1, &err), EM_OK);
        em_buf_t b = EM_BUF_INIT;
        em_promql_pretty(t1->root, &b);
        cr_assert_eq(em_promql_parse(b.data, b.len, &a, c->flags ? &all_opts : NULL, &t2, &err), EM_OK,
                     "reparse %s: %s", b.data, err.msg);
        cr_expect(same_tree(t1->root, t2->root), "%s -> %s", c->in, b.data);
        em_buf_fini(&b);
        em_ast_fini(t1);
        em_ast_fini(t2);
        em_arena_fini(&a);
    }
}

/* ---- tree shapes ---- */

typedef struct {
    em_arena_t a;
    em_ast_t *ast;
} fixture_t;

static const em_node_t *must_parse(fixture_t *f, const char *s, int flags)
{
    em_arena_init(&f->a);
    em_err_t err = {0};
    int rc = parse(s, flags, &f->a, &f->ast, &err);
    cr_assert_eq(rc, EM_OK, "%s: %s", s, err.msg);
    return f->ast->root;
}

static void done(fixture_t *f)
{
    em_ast_fini(f->ast);
    em_arena_fini(&f->a);
}

Test(query_parse, power_is_right_associative_and_binds_tighter_than_unary_minus)
{
    fixture_t f;
    const em_node_t *n = must_parse(&f, "-2 ^ 3 ^ 2", 0);
    cr_assert_eq(n->kind, EM_NODE_UNARY);
    const em_node_t *p = n->unary.expr;
    cr_assert_eq(p->kind, EM_NODE_BINARY);
    cr_assert_eq(p->bin.op, EM_OP_POW);
    cr_assert_eq(p->bin.lhs->kind, EM_NODE_NUMBER);
    cr_assert_eq(p->bin.rhs->kind, EM_NODE_BINARY, "3 ^ 2 groups to the right");
    done(&f);
}

Test(query_parse, arithmetic_precedence_and_left_associativity)
{
    fixture_t f;
    const em_node_t *n = must_parse(&f, "a - b - c * d or e and f", 0);
    cr_assert_eq(n->bin.op, EM_OP_LOR);
    const em_node_t *l = n->bin.lhs; /* (a - b) - (c * d) */
    cr_assert_eq(l->bin.op, EM_OP_SUB);
    cr_assert_eq(l->bin.lhs->bin.op, EM_OP_SUB);
    cr_assert_eq(l->bin.rhs->bin.op, EM_OP_MUL);
    cr_assert_eq(n->bin.rhs->bin.op, EM_OP_LAND);
    cr_assert_eq(n->bin.matching->card, EM_CARD_MANY_TO_MANY, "set operators are many-to-many");
    done(&f);
}

Test(query_parse, negative_literals_fold_but_parenthesised_ones_do_not)
{
    fixture_t f;
    const em_node_t *n = must_parse(&f, "-5m", 0);
    cr_assert_eq(n->kind, EM_NODE_NUMBER);
    cr_assert_float_eq(n->number.v, -300.0, 1e-9);
    cr_assert(n->number.is_duration);
    done(&f);
    n = must_parse(&f, "-(5)", 0);
    cr_assert_eq(n->kind, EM_NODE_UNARY);
    cr_assert_eq(n->unary.expr->kind, EM_NODE_PAREN);
    done(&f);
}

Test(query_parse, selector_keeps_matchers_and_appends_the_name)
{
    fixture_t f;
    const em_node_t *n =
        must_parse(&f, "http_requests_total{job=\"api\",code=~\"5..\"} offset -5m @ 100.5", 0);
    cr_assert_eq(n->kind, EM_NODE_VECTOR_SEL);
    cr_assert_str_eq(n->vs.name, "http_requests_total");
    cr_assert_eq(n->vs.n_matchers, 3);
    cr_assert_str_eq(n->vs.matchers[0]->name, "job");
    cr_assert_eq(n->vs.matchers[1]->type, EM_MATCH_RE);
    cr_assert_str_eq(n->vs.matchers[2]->name, "__name__");
    cr_assert_str_eq(n->vs.matchers[2]->value, "http_requests_total");
    cr_assert_eq(n->vs.offset_ms, -300000);
    cr_assert_eq(n->vs.at.kind, EM_AT_TIME);
    cr_assert_eq(n->vs.at.t_ms, 100500);
    done(&f);
}

Test(query_parse, quoted_utf8_names_become_name_matchers)
{
    fixture_t f;
    const em_node_t *n = must_parse(&f, "{\"foo.bar\", \"service.name\"=\"x\"}", 0);
    cr_assert_str_eq(n->vs.name, "");
    cr_assert_eq(n->vs.n_matchers, 2);
    cr_assert_str_eq(n->vs.matchers[0]->name, "__name__");
    cr_assert_str_eq(n->vs.matchers[0]->value, "foo.bar");
    cr_assert_str_eq(n->vs.matchers[1]->name, "service.name");
    done(&f);
}

Test(query_parse, subquery_with_default_step_and_modifiers)
{
    fixture_t f;
    const em_node_t *n = must_parse(&f, "rate(x[5m])[1h:] @ end() offset 10m", 0);
    cr_assert_eq(n->kind, EM_NODE_SUBQUERY);
    cr_assert_eq(n->sq.range_ms, 3600000);
    cr_assert_eq(n->sq.step_ms, 0);
    cr_assert_null(n->sq.step_expr);
    cr_assert_eq(n->sq.at.kind, EM_AT_END);
    cr_assert_eq(n->sq.offset_ms, 600000);
    cr_assert_eq(n->sq.expr->kind, EM_NODE_CALL);
    cr_assert_eq(n->sq.expr->call.func->id, EM_FN_RATE);
    cr_assert_eq(n->sq.expr->call.args[0]->ms.range_ms, 300000);
    done(&f);
}

Test(query_parse, duration_expressions_stay_trees_for_the_evaluator)
{
    fixture_t f;
    const em_node_t *n = must_parse(&f, "x[5m + step()] offset -(1h / 2)", ALL);
    cr_assert_eq(n->kind, EM_NODE_MATRIX_SEL);
    cr_assert_not_null(n->ms.range_expr);
    cr_assert_eq(n->ms.range_expr->dur.op, EM_OP_ADD);
    cr_assert_eq(n->ms.range_expr->dur.rhs->dur.op, EM_OP_STEP);
    const em_node_t *off = n->ms.vs->vs.offset_expr;
    cr_assert_not_null(off);
    cr_assert_eq(off->dur.op, EM_OP_SUB);
    cr_assert_null(off->dur.lhs, "unary minus");
    cr_assert(off->dur.rhs->dur.wrapped);
    done(&f);
    n = must_parse(&f, "x[90]", 0);
    cr_assert_null(n->ms.range_expr, "a literal is folded");
    cr_assert_eq(n->ms.range_ms, 90000);
    done(&f);
}

Test(query_parse, vector_matching_and_bool)
{
    fixture_t f;
    const em_node_t *n = must_parse(&f, "a > bool on(job, instance) group_left(version) b", 0);
    cr_assert(n->bin.return_bool);
    const em_vector_matching_t *m = n->bin.matching;
    cr_assert_not_null(m);
    cr_assert(m->on);
    cr_assert_eq(m->card, EM_CARD_MANY_TO_ONE);
    cr_assert_eq(m->n_labels, 2);
    cr_assert_str_eq(m->labels[1], "instance");
    cr_assert_eq(m->n_include, 1);
    cr_assert_str_eq(m->include[0], "version");
    done(&f);
    n = must_parse(&f, "a + 1", 0);
    cr_assert_null(n->bin.matching, "no matching with a scalar side");
    done(&f);
}

Test(query_parse, aggregation_parameters_and_grouping)
{
    fixture_t f;
    const em_node_t *n = must_parse(&f, "topk without (a) (5, x)", 0);
    cr_assert_eq(n->agg.op, EM_AGG_TOPK);
    cr_assert(n->agg.without);
    cr_assert_eq(n->agg.param->kind, EM_NODE_NUMBER);
    cr_assert_eq(n->agg.expr->kind, EM_NODE_VECTOR_SEL);
    cr_assert_eq(em_node_type(n), EM_VTYPE_VECTOR);
    done(&f);
}

Test(query_parse, node_types_follow_prometheus)
{
    static const struct {
        const char *in;
        em_vtype_t t;
    } cases[] = {
        {"1", EM_VTYPE_SCALAR},      {"1 + 1", EM_VTYPE_SCALAR},     {"x + 1", EM_VTYPE_VECTOR},
        {"x[5m]", EM_VTYPE_MATRIX},  {"x[5m:]", EM_VTYPE_MATRIX},    {"\"s\"", EM_VTYPE_STRING},
        {"time()", EM_VTYPE_SCALAR}, {"scalar(x)", EM_VTYPE_SCALAR}, {"-(x)", EM_VTYPE_VECTOR},
        {"(1)", EM_VTYPE_SCALAR},    {"sum(x)", EM_VTYPE_VECTOR},    {"rate(x[1m])", EM_VTYPE_VECTOR},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fixture_t f;
        const em_node_t *n = must_parse(&f, cases[i].in, 0);
        cr_expect_eq(em_node_type(n), cases[i].t, "%s", cases[i].in);
        done(&f);
    }
}

Test(query_parse, empty_info_selector_prints_as_braces)
{
    /* Regression (found by fuzzing): info(x, {}) printed as "info(x, )", which does not parse. */
    fixture_t f;
    const em_node_t *n = must_parse(&f, "info(x, {})", ALL);
    char *s = format(n);
    cr_assert_str_eq(s, "info(x, {})");
    free(s);
    done(&f);
}

Test(query_parse, every_function_is_in_the_table_with_its_id)
{
    for (int i = 0; i < EM_FN__COUNT; i++) {
        const em_func_t *f = em_func_get((em_func_id_t)i);
        cr_assert_not_null(f->name, "function %d has no descriptor", i);
        cr_assert_eq(f->id, (em_func_id_t)i);
        cr_assert_eq(em_func_lookup(f->name, strlen(f->name)), f);
    }
    cr_assert_null(em_func_lookup("holt_winters", 12), "removed in Prometheus 3");
    cr_assert_null(em_func_lookup("rat", 3));
}

Test(query_parse, regex_errors_point_at_the_matcher)
{
    em_arena_t a;
    em_arena_init(&a);
    em_ast_t *ast = NULL;
    em_err_t err = {0};
    cr_assert_eq(parse("up{job=~\"(\"}", 0, &a, &ast, &err), EM_EINVAL);
    cr_assert(strncmp(err.msg, "1:4: parse error: error parsing regexp: ", 40) == 0, "%s", err.msg);
    em_arena_fini(&a);
}

Test(query_parse, deep_nesting_is_refused_not_crashing)
{
    size_t n = 5000;
    char *s = malloc(2 * n + 2);
    memset(s, '(', n);
    s[n] = '1';
    memset(s + n + 1, ')', n);
    s[2 * n + 1] = '\0';
    em_arena_t a;
    em_arena_init(&a);
    em_ast_t *ast = NULL;
    em_err_t err = {0};
    cr_assert_eq(parse(s, 0, &a, &ast, &err), EM_EINVAL);
    cr_assert(strstr(err.msg, "levels deep") != NULL, "%s", err.msg);
    /* A long flat chain builds a deep tree too. */
    em_buf_t b = EM_BUF_INIT;
    em_buf_puts(&b, "1");
    for (size_t i = 0; i < n; i++)
        em_buf_puts(&b, "+1");
    cr_assert_eq(em_promql_parse(b.data, b.len, &a, NULL, &ast, &err), EM_EINVAL);
    em_buf_fini(&b);
    em_arena_fini(&a);
    free(s);
}

Test(query_parse, positions_count_lines_and_bytes)
{
    char out[32];
    const char *q = "foo +\n  bar baz";
    em_promql_pos(q, strlen(q), 12, out);
    cr_assert_str_eq(out, "2:7");
    em_promql_pos(q, strlen(q), 0, out);
    cr_assert_str_eq(out, "1:1");
    em_promql_pos("", 0, 0, out);
    cr_assert_str_eq(out, "unknown position");
    em_arena_t a;
    em_arena_init(&a);
    em_ast_t *ast = NULL;
    em_err_t err = {0};
    cr_assert_eq(parse(q, 0, &a, &ast, &err), EM_EINVAL);
    cr_assert_str_eq(err.msg, "2:7: parse error: unexpected identifier \"baz\"");
    em_arena_fini(&a);
}

/* ---- selectors for match[] ---- */

Test(query_parse, selector_parser_accepts_what_match_params_use)
{
    static const char *ok[] = {"up",        "up{job=\"x\"}", "{__name__=~\"a.*\"}",  "{}",
                               "{\"a.b\"}", "sum",           "foo{__name__=\"bar\"}"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        em_arena_t a;
        em_arena_init(&a);
        em_ast_t *ast = NULL;
        em_err_t err = {0};
        cr_expect_eq(em_promql_parse_selector(ok[i], strlen(ok[i]), &a, &ast, &err), EM_OK, "%s: %s", ok[i],
                     err.msg);
        if (ast) {
            cr_expect_eq(ast->root->kind, EM_NODE_VECTOR_SEL);
            em_ast_fini(ast);
        }
        em_arena_fini(&a);
    }
    static const struct {
        const char *in, *err;
    } bad[] = {
        {"up offset 5m", "1:4: parse error: unexpected <offset>"},
        {"rate(x[5m])", "1:5: parse error: unexpected \"(\""},
        {"up[5m]", "1:3: parse error: unexpected \"[\""},
        {"1", "1:1: parse error: unexpected number \"1\""},
        {"up{a=}", "1:6: parse error: unexpected \"}\" in label matching, expected string"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        em_arena_t a;
        em_arena_init(&a);
        em_ast_t *ast = NULL;
        em_err_t err = {0};
        cr_expect_eq(em_promql_parse_selector(bad[i].in, strlen(bad[i].in), &a, &ast, &err), EM_EINVAL);
        cr_expect_str_eq(err.msg, bad[i].err, "%s", bad[i].in);
        em_arena_fini(&a);
    }
}

/* ---- pretty printing ---- */

Test(query_parse, pretty_splits_long_expressions_like_prometheus)
{
    fixture_t f;
    const em_node_t *n = must_parse(
        &f,
        "sum by (job) (rate(http_requests_total{job=\"apiserver\",code=~\"5..\"}[5m])) / sum by (job) "
        "(rate(http_requests_total{job=\"apiserver\"}[5m]))",
        0);
    em_buf_t b = EM_BUF_INIT;
    em_promql_pretty(n, &b);
    cr_assert_str_eq(b.data,
                     "  sum by (job) (rate(http_requests_total{code=~\"5..\",job=\"apiserver\"}[5m]))\n"
                     "/\n"
                     "  sum by (job) (rate(http_requests_total{job=\"apiserver\"}[5m]))");
    em_buf_fini(&b);
    done(&f);
    n = must_parse(&f, "sum(x)", 0);
    em_promql_pretty(n, &b);
    cr_assert_str_eq(b.data, "sum(x)");
    em_buf_fini(&b);
    done(&f);
}
