/* query/ast.h -- the PromQL abstract syntax tree, its value types and the function table.
 *
 * DESIGN. em_promql_parse (query/parse.h) turns an expression into a tree of em_node_t, one struct with
 * a kind tag and a union of per-kind payloads, mirroring Prometheus's promql/parser AST (ast.go):
 *
 *     kind                    payload     Prometheus type        value type
 *     EM_NODE_NUMBER          number      NumberLiteral          scalar
 *     EM_NODE_STRING          string      StringLiteral          string
 *     EM_NODE_VECTOR_SEL      vs          VectorSelector         instant vector
 *     EM_NODE_MATRIX_SEL      ms          MatrixSelector         range vector
 *     EM_NODE_SUBQUERY        sq          SubqueryExpr           range vector
 *     EM_NODE_CALL            call        Call                   the function's return type
 *     EM_NODE_AGGREGATE       agg         AggregateExpr          instant vector
 *     EM_NODE_BINARY          bin         BinaryExpr             scalar if both sides are, else vector
 *     EM_NODE_UNARY           unary       UnaryExpr              its operand's
 *     EM_NODE_PAREN           paren       ParenExpr              its operand's
 *     EM_NODE_STEP_INVARIANT  paren       StepInvariantExpr      its operand's (made by the evaluator)
 *     EM_NODE_DURATION        dur         DurationExpr           scalar (seconds)
 *
 * Duration expressions (Prometheus's promql-duration-expr feature: `foo[5m + step()]`, `offset -(1h/2)`)
 * appear only where a duration is expected: a matrix range, a subquery range or step, an offset. A
 * plain literal there is folded into the *_ms field and the *_expr field stays NULL; otherwise *_expr
 * holds the tree (EM_NODE_DURATION nodes over EM_NODE_NUMBER leaves, values in seconds) and the
 * evaluator resolves it against the query's step and range before it runs.
 *
 * Negative number literals are folded at parse time (`-1` is a NUMBER with value -1), as Prometheus does;
 * other unary minus/plus remain EM_NODE_UNARY.
 *
 * Positions: every node carries the byte range [pos_start, pos_end) it covers in the expression, as
 * Prometheus's PositionRange; em_promql_pos (parse.h) turns a position into the "line:col" that
 * Prometheus prints in errors and annotations.
 *
 * OWNERSHIP. Every node, string and array of a tree lives in the em_arena_t given to the parser. The one
 * exception is the label matchers (engine/matcher.h), whose names, values and compiled regexes are heap
 * memory: em_ast_fini releases them and must run before the arena is reset or finished. After parsing,
 * the tree belongs to its user: the evaluator may rewrite it (wrap step-invariant subtrees, fill in
 * resolved durations) but must allocate any new nodes from the same arena.
 *
 * THREADS. A tree is used by one thread at a time. The function table is immutable: Thread: any.
 */
#ifndef EMBER_QUERY_AST_H
#define EMBER_QUERY_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "engine/matcher.h"

/* ---- value types ---- */

typedef enum {
    EM_VTYPE_NONE = 0,
    EM_VTYPE_SCALAR,
    EM_VTYPE_VECTOR, /* instant vector */
    EM_VTYPE_MATRIX, /* range vector */
    EM_VTYPE_STRING,
} em_vtype_t;

/* Prometheus's DocumentedType: "scalar", "instant vector", "range vector", "string", "none". Returns a
 * static string. Thread: any. */
const char *em_vtype_doc(em_vtype_t t);
/* Prometheus's ValueType string as the API's resultType shows it: "scalar", "vector", "matrix",
 * "string", "none". Returns a static string. Thread: any. */
const char *em_vtype_name(em_vtype_t t);

/* ---- operators ---- */

typedef enum {
    EM_OP_NONE = 0,
    /* arithmetic */
    EM_OP_ADD,
    EM_OP_SUB,
    EM_OP_MUL,
    EM_OP_DIV,
    EM_OP_MOD,
    EM_OP_POW,
    EM_OP_ATAN2,
    /* comparison */
    EM_OP_EQLC, /* == */
    EM_OP_NEQ,  /* != */
    EM_OP_GTR,  /* >  */
    EM_OP_LSS,  /* <  */
    EM_OP_GTE,  /* >= */
    EM_OP_LTE,  /* <= */
    /* native-histogram trimming (Prometheus 3.14); parsed, evaluation reports "not supported" */
    EM_OP_TRIM_UPPER, /* </ */
    EM_OP_TRIM_LOWER, /* >/ */
    /* set */
    EM_OP_LAND,
    EM_OP_LOR,
    EM_OP_LUNLESS,
    /* duration-expression leaves and functions (EM_NODE_DURATION only) */
    EM_OP_STEP,   /* step()  */
    EM_OP_RANGE,  /* range() */
    EM_OP_MIN_OF, /* min_of(a, b) */
    EM_OP_MAX_OF, /* max_of(a, b) */
} em_op_t;

/* The operator as PromQL spells it ("+", "and", "atan2", "step", ...); a static string, "" for
 * EM_OP_NONE. Thread: any. */
const char *em_op_str(em_op_t op);
/* == != > < >= <= */
bool em_op_is_comparison(em_op_t op);
/* and or unless */
bool em_op_is_set(em_op_t op);

typedef enum {
    EM_AGG_SUM = 0,
    EM_AGG_AVG,
    EM_AGG_COUNT,
    EM_AGG_MIN,
    EM_AGG_MAX,
    EM_AGG_GROUP,
    EM_AGG_STDDEV,
    EM_AGG_STDVAR,
    EM_AGG_TOPK,
    EM_AGG_BOTTOMK,
    EM_AGG_COUNT_VALUES,
    EM_AGG_QUANTILE,
    EM_AGG_LIMITK,      /* experimental */
    EM_AGG_LIMIT_RATIO, /* experimental */
    EM_AGG__COUNT
} em_agg_op_t;

/* The aggregation's name ("sum", "count_values", ...); a static string. Thread: any. */
const char *em_agg_op_str(em_agg_op_t op);
/* topk, bottomk, count_values, quantile, limitk, limit_ratio take a parameter before the vector.
 * Thread: any. */
bool em_agg_op_has_param(em_agg_op_t op);

/* ---- functions ---- */

/* One id per PromQL function. The evaluator attaches bodies with its own array indexed by this id
 * (e.g. `static const fn_impl_t impls[EM_FN__COUNT]`), so the table below stays a pure description. */
typedef enum {
    EM_FN_ABS = 0,
    EM_FN_ABSENT,
    EM_FN_ABSENT_OVER_TIME,
    EM_FN_ACOS,
    EM_FN_ACOSH,
    EM_FN_ASIN,
    EM_FN_ASINH,
    EM_FN_ATAN,
    EM_FN_ATANH,
    EM_FN_AVG_OVER_TIME,
    EM_FN_CEIL,
    EM_FN_CHANGES,
    EM_FN_CLAMP,
    EM_FN_CLAMP_MAX,
    EM_FN_CLAMP_MIN,
    EM_FN_COS,
    EM_FN_COSH,
    EM_FN_COUNT_OVER_TIME,
    EM_FN_DAYS_IN_MONTH,
    EM_FN_DAY_OF_MONTH,
    EM_FN_DAY_OF_WEEK,
    EM_FN_DAY_OF_YEAR,
    EM_FN_DEG,
    EM_FN_DELTA,
    EM_FN_DERIV,
    EM_FN_DOUBLE_EXPONENTIAL_SMOOTHING,
    EM_FN_END,
    EM_FN_EXP,
    EM_FN_FIRST_OVER_TIME,
    EM_FN_FLOOR,
    EM_FN_HISTOGRAM_AVG,
    EM_FN_HISTOGRAM_COUNT,
    EM_FN_HISTOGRAM_FRACTION,
    EM_FN_HISTOGRAM_QUANTILE,
    EM_FN_HISTOGRAM_QUANTILES,
    EM_FN_HISTOGRAM_STDDEV,
    EM_FN_HISTOGRAM_STDVAR,
    EM_FN_HISTOGRAM_SUM,
    EM_FN_HOUR,
    EM_FN_IDELTA,
    EM_FN_INCREASE,
    EM_FN_INFO,
    EM_FN_IRATE,
    EM_FN_LABEL_JOIN,
    EM_FN_LABEL_REPLACE,
    EM_FN_LAST_OVER_TIME,
    EM_FN_LN,
    EM_FN_LOG10,
    EM_FN_LOG2,
    EM_FN_MAD_OVER_TIME,
    EM_FN_MAX_OF,
    EM_FN_MAX_OVER_TIME,
    EM_FN_MIN_OF,
    EM_FN_MIN_OVER_TIME,
    EM_FN_MINUTE,
    EM_FN_MONTH,
    EM_FN_PI,
    EM_FN_PREDICT_LINEAR,
    EM_FN_PRESENT_OVER_TIME,
    EM_FN_QUANTILE_OVER_TIME,
    EM_FN_RAD,
    EM_FN_RANGE,
    EM_FN_RATE,
    EM_FN_RESETS,
    EM_FN_ROUND,
    EM_FN_SCALAR,
    EM_FN_SGN,
    EM_FN_SIN,
    EM_FN_SINH,
    EM_FN_SORT,
    EM_FN_SORT_BY_LABEL,
    EM_FN_SORT_BY_LABEL_DESC,
    EM_FN_SORT_DESC,
    EM_FN_SQRT,
    EM_FN_START,
    EM_FN_START_TIMESTAMP,
    EM_FN_STDDEV_OVER_TIME,
    EM_FN_STDVAR_OVER_TIME,
    EM_FN_STEP,
    EM_FN_SUM_OVER_TIME,
    EM_FN_TAN,
    EM_FN_TANH,
    EM_FN_TIME,
    EM_FN_TIMESTAMP,
    EM_FN_TS_OF_FIRST_OVER_TIME,
    EM_FN_TS_OF_LAST_OVER_TIME,
    EM_FN_TS_OF_MAX_OVER_TIME,
    EM_FN_TS_OF_MIN_OVER_TIME,
    EM_FN_VECTOR,
    EM_FN_YEAR,
    EM_FN__COUNT
} em_func_id_t;

#define EM_FUNC_MAX_ARGS 5

/* A function's signature, as Prometheus's parser.Function. 'variadic' is 0 for a fixed arity; N > 0
 * means the last argument type may be left out or repeated up to N times in all (the arguments number
 * n_args - 1 .. n_args - 1 + N); -1 means the last type repeats without bound (n_args - 1 or more). */
typedef struct em_func {
    em_func_id_t id;
    const char *name;
    em_vtype_t arg_types[EM_FUNC_MAX_ARGS];
    int n_args;
    int variadic;
    em_vtype_t ret;
    bool experimental; /* needs --enable-feature=promql-experimental-functions */
} em_func_t;

/* The descriptor named by the n bytes at name, or NULL. Thread: any. */
const em_func_t *em_func_lookup(const char *name, size_t n);
/* The descriptor of 'id' (< EM_FN__COUNT). Thread: any. */
const em_func_t *em_func_get(em_func_id_t id);

/* ---- nodes ---- */

typedef enum {
    EM_NODE_NUMBER = 1,
    EM_NODE_STRING,
    EM_NODE_VECTOR_SEL,
    EM_NODE_MATRIX_SEL,
    EM_NODE_SUBQUERY,
    EM_NODE_CALL,
    EM_NODE_AGGREGATE,
    EM_NODE_BINARY,
    EM_NODE_UNARY,
    EM_NODE_PAREN,
    EM_NODE_STEP_INVARIANT,
    EM_NODE_DURATION,
} em_node_kind_t;

typedef struct em_node em_node_t;

/* The @ modifier. */
typedef enum {
    EM_AT_NONE = 0,
    EM_AT_TIME,  /* @ <t_ms> */
    EM_AT_START, /* @ start() */
    EM_AT_END,   /* @ end() */
} em_at_kind_t;

typedef struct em_at {
    em_at_kind_t kind;
    int64_t t_ms; /* EM_AT_TIME: seconds * 1000 rounded as Prometheus's timestamp.FromFloatSeconds */
} em_at_t;

typedef struct em_vector_sel {
    const char *name; /* the metric name written before the braces, or "" */
    /* All matchers in source order; a name written before the braces is the last one (__name__=...),
     * as Prometheus's assembleVectorSelector appends it. Each points into the arena; see OWNERSHIP. */
    em_matcher_t **matchers;
    size_t n_matchers;
    int64_t offset_ms;      /* `offset` as written (negative allowed); 0 when absent */
    em_node_t *offset_expr; /* a duration expression instead of a literal, or NULL */
    em_at_t at;
    bool anchored;           /* `anchored` (promql-extended-range-selectors) */
    bool smoothed;           /* `smoothed` (promql-extended-range-selectors) */
    bool bypass_empty_check; /* the second argument of info(): may match the empty string */
} em_vector_sel_t;

typedef enum {
    EM_CARD_ONE_TO_ONE = 0,
    EM_CARD_MANY_TO_ONE,  /* group_left */
    EM_CARD_ONE_TO_MANY,  /* group_right */
    EM_CARD_MANY_TO_MANY, /* set operators */
} em_card_t;

/* Vector matching of a binary operator between two instant vectors (Prometheus's VectorMatching). */
typedef struct em_vector_matching {
    em_card_t card;
    bool on;             /* on(...) rather than ignoring(...) */
    const char **labels; /* the on/ignoring list */
    size_t n_labels;
    const char **include; /* the group_left/group_right list */
    size_t n_include;
    bool has_fill_lhs, has_fill_rhs; /* fill(), fill_left(), fill_right() (promql-binop-fill-modifiers) */
    double fill_lhs, fill_rhs;
} em_vector_matching_t;

struct em_node {
    em_node_kind_t kind;
    uint32_t pos_start, pos_end; /* byte range in the expression */
    uint32_t height;             /* levels of nodes below and including this one (the parser bounds it) */
    union {
        struct {
            double v;
            bool is_duration; /* written as a duration ("5m"): printed back as one */
        } number;
        struct {
            const char *s; /* unquoted, NUL-terminated (may also contain NULs: use len) */
            size_t len;
        } string;
        em_vector_sel_t vs;
        struct {
            em_node_t *vs; /* an EM_NODE_VECTOR_SEL; offset and @ are kept there */
            int64_t range_ms;
            em_node_t *range_expr; /* duration expression, or NULL */
        } ms;
        struct {
            em_node_t *expr;
            int64_t range_ms;
            em_node_t *range_expr;
            int64_t step_ms; /* 0: the default (the evaluation interval) */
            em_node_t *step_expr;
            int64_t offset_ms;
            em_node_t *offset_expr;
            em_at_t at;
        } sq;
        struct {
            const em_func_t *func;
            em_node_t **args;
            size_t n_args;
        } call;
        struct {
            em_agg_op_t op;
            em_node_t *expr;
            em_node_t *param; /* NULL unless em_agg_op_has_param(op) */
            const char **grouping;
            size_t n_grouping;
            bool without;
        } agg;
        struct {
            em_op_t op;
            em_node_t *lhs, *rhs;
            bool return_bool;
            em_vector_matching_t *matching; /* NULL unless both sides are instant vectors */
        } bin;
        struct {
            em_op_t op; /* EM_OP_ADD or EM_OP_SUB */
            em_node_t *expr;
        } unary;
        struct {
            em_node_t *expr;
        } paren; /* also EM_NODE_STEP_INVARIANT */
        struct {
            em_op_t op;     /* arithmetic, or EM_OP_STEP / RANGE / MIN_OF / MAX_OF */
            em_node_t *lhs; /* NULL for unary minus/plus and for step()/range() */
            em_node_t *rhs; /* NULL for step()/range() */
            bool wrapped;   /* written in parentheses */
        } dur;
    };
};

/* A parsed expression: the tree and what em_ast_fini must release. */
typedef struct em_ast {
    em_node_t *root;
    const char *expr; /* the source text (arena copy, NUL-terminated), for positions in messages */
    size_t expr_len;
    struct em_ast_matcher_list *matchers; /* internal: every matcher to release */
} em_ast_t;

/* Release the matchers of 'ast' (names, values, compiled regexes). The nodes stay in the arena until
 * its reset. NULL accepted. Thread: owner. */
void em_ast_fini(em_ast_t *ast);

/* The value type 'n' evaluates to (Prometheus's Expr.Type()); EM_VTYPE_NONE for NULL. Thread: any. */
em_vtype_t em_node_type(const em_node_t *n);

/* Allocate a zeroed node of 'kind' in 'a' (for the parser and for evaluator rewrites); never NULL (the
 * arena aborts on out of memory). The node lives until the arena's reset. Thread: owner of 'a'. */
em_node_t *em_node_new(em_arena_t *a, em_node_kind_t kind, uint32_t pos_start, uint32_t pos_end);

/* Register a matcher initialised in memory from the tree's arena 'a', so em_ast_fini releases what
 * em_matcher_init allocated; the tree takes that responsibility. Thread: owner. */
void em_ast_own_matcher(em_ast_t *ast, em_arena_t *a, em_matcher_t *m);

/* Strip EM_NODE_PAREN and EM_NODE_STEP_INVARIANT wrappers; returns a node of the same tree (NULL for
 * NULL). Thread: any. */
const em_node_t *em_node_unwrap(const em_node_t *n);

#endif
