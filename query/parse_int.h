/* query/parse_int.h -- the PromQL lexer and helpers shared by the parser and the printer.
 * Design: see parse.h.
 *
 * The lexer mirrors the state machine of Prometheus's promql/parser/lex.go, because several error
 * messages come from it and depend on its state: inside braces label names are plain identifiers and
 * keywords are not recognised; right after '[' a duration expression is expected; a '(' or '[' left open
 * at the end reports "unclosed left parenthesis" / "unclosed left bracket".
 */
#ifndef EMBER_QUERY_PARSE_INT_H
#define EMBER_QUERY_PARSE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "query/ast.h"

typedef enum {
    T_EOF = 0,
    T_ERROR,
    T_COMMENT,
    T_COMMA,
    T_COLON,
    T_EQL, /* '=' in matchers */
    T_LEFT_PAREN,
    T_RIGHT_PAREN,
    T_LEFT_BRACE,
    T_RIGHT_BRACE,
    T_LEFT_BRACKET,
    T_RIGHT_BRACKET,
    T_IDENTIFIER,
    T_METRIC_IDENTIFIER,
    T_NUMBER,
    T_DURATION,
    T_STRING,
    /* operators */
    T_OPS_START,
    T_ADD,
    T_SUB,
    T_MUL,
    T_DIV,
    T_MOD,
    T_POW,
    T_EQLC,
    T_NEQ,
    T_LTE,
    T_LSS,
    T_GTE,
    T_GTR,
    T_TRIM_UPPER,
    T_TRIM_LOWER,
    T_EQL_REGEX,
    T_NEQ_REGEX,
    T_AT,
    T_ATAN2,
    T_LAND,
    T_LOR,
    T_LUNLESS,
    T_OPS_END,
    /* aggregators */
    T_AGGS_START,
    T_AVG,
    T_BOTTOMK,
    T_COUNT,
    T_COUNT_VALUES,
    T_GROUP,
    T_MAX,
    T_MIN,
    T_QUANTILE,
    T_STDDEV,
    T_STDVAR,
    T_SUM,
    T_TOPK,
    T_LIMITK,
    T_LIMIT_RATIO,
    T_AGGS_END,
    /* keywords */
    T_KEYWORDS_START,
    T_BOOL,
    T_BY,
    T_GROUP_LEFT,
    T_GROUP_RIGHT,
    T_FILL,
    T_FILL_LEFT,
    T_FILL_RIGHT,
    T_IGNORING,
    T_OFFSET,
    T_SMOOTHED,
    T_ANCHORED,
    T_ON,
    T_WITHOUT,
    T_KEYWORDS_END,
    /* preprocessors (also function names) */
    T_START,
    T_END,
    T_STEP,
    T_RANGE,
    T_MAX_OF,
    T_MIN_OF,
} tok_type_t;

typedef struct token {
    tok_type_t type;
    uint32_t pos;  /* byte offset of the first character */
    uint32_t len;  /* bytes of source text; for T_ERROR: the position where Prometheus reports it */
    char msg[160]; /* T_ERROR only */
} token_t;

typedef struct lexer {
    const char *in;
    size_t n;
    size_t pos;   /* next byte to read */
    size_t start; /* start of the token being scanned */
    int state;    /* internal */
    int paren_depth;
    bool brace_open, bracket_open, got_colon, got_duration;
    char string_open;
} lexer_t;

void lex_init(lexer_t *l, const char *in, size_t n);
/* Scan the next token (comments included). After T_EOF or T_ERROR keeps returning T_EOF. */
void lex_next(lexer_t *l, token_t *t);

/* Error reporting shared by the parser and the type checker: the first error wins, as Prometheus
 * reports only the first of its ParseErrors. */
typedef struct perr {
    const char *in;
    size_t n;
    em_err_t *err;
    bool failed;
} perr_t;

/* Record "<line:col>: parse error: <message>" unless an error was recorded already. Returns EM_EINVAL. */
int perr_fail(perr_t *pe, uint32_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Type-check a parsed tree as Prometheus's checkAST does (also fixes up vector matching: set operators
 * become many-to-many; matching is dropped where a side is not an instant vector). EM_OK or EM_EINVAL. */
int promql_check(perr_t *pe, em_node_t *root);

/* Unquote a string token (quotes included) as Go's strconv.Unquote, also for multi-character
 * single-quoted strings. The lexer has validated it, so this cannot fail. Appends to out. */
void promql_unquote(const char *s, size_t n, em_buf_t *out);

/* Go's strconv.Quote of s[0..n) appended to out; with max_runes > 0 only the first max_runes runes are
 * quoted (Go's "%.Nq"). */
void go_quote(em_buf_t *out, const char *s, size_t n, size_t max_runes);

/* How Prometheus names a token in "unexpected ..." messages (Item.desc()). */
void tok_desc(const char *in, const token_t *t, em_buf_t *out);

/* The token type of a keyword (case-insensitive), or T_EOF if 'w' is none. T_NUMBER for inf / nan. */
tok_type_t keyword_lookup(const char *w, size_t n);

/* A label name Prometheus prints without quotes: [a-zA-Z_][a-zA-Z0-9_]*. */
bool legacy_label_name(const char *s, size_t n);
/* Valid UTF-8. */
bool utf8_valid(const char *s, size_t n);

#endif
