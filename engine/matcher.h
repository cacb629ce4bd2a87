/* engine/matcher.h -- label matchers: =, !=, =~, !~ with Prometheus's semantics.
 *
 * DESIGN. A matcher tests one label's value. A missing label has the value "", so `job=""` and
 * `job!~".+"` select series without a 'job' label. Regexes are fully anchored (base/regex.h). Because
 * matchers run over every value of a label in the index, init() classifies the pattern into a fast
 * path where it can, and only falls back to PCRE2 otherwise:
 *     literal        "foo"            -> string compare
 *     set            "a|b|c"          -> membership in a small sorted list
 *     prefix         "foo.*"          -> prefix compare
 *     suffix / contains ".*foo", ".*foo.*"
 *     any            ".*"             -> always true
 *     non-empty      ".+"             -> value != ""
 * A fast path must give exactly the answer PCRE2 would (tests compare both on random inputs).
 *
 * OWNERSHIP. em_matcher_init copies name and value; em_matcher_fini frees them and the compiled regex.
 * A matcher is immutable after init: any number of threads may use it concurrently.
 */
#ifndef EMBER_ENGINE_MATCHER_H
#define EMBER_ENGINE_MATCHER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "base/regex.h"

typedef enum {
    EM_MATCH_EQ = 0, /* =  */
    EM_MATCH_NEQ,    /* != */
    EM_MATCH_RE,     /* =~ */
    EM_MATCH_NRE,    /* !~ */
} em_match_type_t;

typedef enum {
    EM_MATCH_FAST_NONE = 0, /* PCRE2 */
    EM_MATCH_FAST_LITERAL,
    EM_MATCH_FAST_SET,
    EM_MATCH_FAST_PREFIX,
    EM_MATCH_FAST_SUFFIX,
    EM_MATCH_FAST_CONTAINS,
    EM_MATCH_FAST_ANY,
    EM_MATCH_FAST_NONEMPTY,
} em_match_fast_t;

typedef struct em_matcher {
    em_match_type_t type;
    char *name;
    char *value;       /* the literal or the regex source */
    size_t value_len;
    em_regex_t *re;    /* EM_MATCH_RE / EM_MATCH_NRE only */
    em_match_fast_t fast;
    char **set;        /* EM_MATCH_FAST_SET: sorted, unique */
    size_t n_set;
    char *affix;       /* PREFIX / SUFFIX / CONTAINS: the literal part */
    size_t affix_len;
} em_matcher_t;

/* Initialise 'm' (storage owned by the caller). Returns EM_OK, or EM_EINVAL for a bad regex (message as
 * base/regex.h words it). Thread: any. */
int em_matcher_init(em_matcher_t *m, em_match_type_t type, const char *name, const char *value, em_err_t *err);
void em_matcher_fini(em_matcher_t *m);

/* Does the label value v (n bytes; "" for a missing label) satisfy the matcher? Thread: any. */
bool em_matcher_matches(const em_matcher_t *m, const char *v, size_t n);

/* True when the matcher accepts the empty value, i.e. it also selects series lacking the label. */
bool em_matcher_matches_empty(const em_matcher_t *m);

/* "=", "!=", "=~", "!~" */
const char *em_match_type_str(em_match_type_t t);

/* The literal values a matcher can only match, if it is EQ or an RE with the literal/set fast path:
 * fills values and n (borrowed from m) and returns true. Lets the index look values up directly instead of
 * scanning them all. */
bool em_matcher_set_values(const em_matcher_t *m, const char *const **values, size_t *n);

#endif
