/* query/parse.h -- the PromQL parser and printer.
 *
 * DESIGN. A hand-written lexer (query/lex.c) feeds a recursive-descent parser with precedence climbing
 * for binary operators (query/parse.c); the tree it builds is described in query/ast.h. The grammar,
 * the type checks and the error texts follow Prometheus's promql/parser (generated_parser.y, parse.go,
 * lex.go, version 3): an error reads
 *
 *     1:14: parse error: unexpected <op:*> in ..., expected ...
 *
 * with the 1-based line and byte column of the offending token. Like Prometheus, only the first error
 * is reported. Operator precedence, lowest first:
 *
 *     or  <  and unless  <  == != <= < >= > </ >/  <  + -  <  * / % atan2  <  unary + -  <  ^ (right)
 *
 * and `offset`, `@`, `[range]`, `[range:step]`, `anchored`, `smoothed` bind tighter than any operator.
 *
 * Feature flags mirror Prometheus's --enable-feature values; each defaults to off.
 *
 * The printer writes Prometheus's canonical String() form (`sum by (job) (rate(x[5m]))`), and
 * em_promql_pretty its Pretty(0) form as /api/v1/format_query returns it (100 columns, two-space
 * indentation). Parsing a printed tree gives back the same tree (round trip).
 *
 * Thread: every function here may be called from any thread; the arguments belong to the caller.
 */
#ifndef EMBER_QUERY_PARSE_H
#define EMBER_QUERY_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "query/ast.h"

typedef struct em_promql_opts {
    bool experimental_functions;   /* promql-experimental-functions */
    bool duration_expr;            /* promql-duration-expr */
    bool extended_range_selectors; /* promql-extended-range-selectors: anchored, smoothed */
    bool binop_fill_modifiers;     /* promql-binop-fill-modifiers: fill(), fill_left(), fill_right() */
    bool delayed_name_removal;     /* promql-delayed-name-removal (evaluation only; the parser ignores it) */
    bool use_start_timestamps;     /* use-start-timestamps: rate, irate, increase, resets read samples'
                                    * start timestamps (evaluation only) */
} em_promql_opts_t;

/* Parse the expression in expr[0..len) with 'opts' (NULL: all features off). On success returns EM_OK
 * and sets *out to a tree allocated in 'a' (release it with em_ast_fini before resetting 'a'). On a
 * syntax or type error returns EM_EINVAL with Prometheus's message ("1:5: parse error: ...") in err;
 * *out is untouched and nothing needs releasing (arena memory stays until the arena's reset).
 * Thread: any. */
int em_promql_parse(const char *expr, size_t len, em_arena_t *a, const em_promql_opts_t *opts, em_ast_t **out,
                    em_err_t *err);

/* Parse a series selector as the API's match[] parameter takes it (`up{job="x"}`, `{__name__=~"a.*"}`),
 * Prometheus's ParseMetricSelector: the root of *out is an EM_NODE_VECTOR_SEL with no offset or @.
 * Returns EM_OK or EM_EINVAL (message as Prometheus's), as em_promql_parse. Thread: any. */
int em_promql_parse_selector(const char *s, size_t len, em_arena_t *a, em_ast_t **out, em_err_t *err);

/* Append the canonical PromQL text of 'n' (Prometheus's String()) to 'out'. Thread: any. */
void em_promql_format(const em_node_t *n, em_buf_t *out);

/* Append the prettified text of 'n' (Prometheus's Pretty(0), as format_query returns it). Thread: any. */
void em_promql_pretty(const em_node_t *n, em_buf_t *out);

/* Write "line:col" for byte position 'pos' of expr[0..len) into out (32 bytes), as Prometheus's
 * PositionRange.StartPosInput: lines and columns from 1, columns in bytes. Returns the length. */
size_t em_promql_pos(const char *expr, size_t len, uint32_t pos, char *out);

#endif
