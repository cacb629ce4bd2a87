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
 * A fast path must give exactly the answer PCRE2 would (tests compare both on random inputs). The
 * classifier first removes groups enclosing the whole pattern ("(a|b)", "(?:a|b)") and reads "\." and
 * other escaped ASCII punctuation as the literal character; anything else -- flags such as (?i), classes,
 * repetitions other than a leading or trailing ".*", anchors, \d-style escapes -- goes to PCRE2.
 * (Values in the index are valid UTF-8; on invalid UTF-8 the fast paths treat bytes as characters, as
 * Go's regexp does, where PCRE2 would refuse the match.)
 *
 * Other regexes keep the literal prefix every match must start with ("host-0[0-9]+" -> "host-0"), so values
 * without it are rejected before PCRE2 runs.
 *
 * EQ and NEQ always use the LITERAL path on 'value'. The literal values of a matcher (EQ/NEQ's value, a
 * regex's literal or set) let the index look values up directly instead of scanning them all.
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
    char *value; /* the literal or the regex source */
    size_t value_len;
    em_regex_t *re; /* EM_MATCH_RE / EM_MATCH_NRE only */
    em_match_fast_t fast;
    char **set;      /* EM_MATCH_FAST_SET: sorted (strcmp), unique; may contain "" */
    size_t *set_len; /* strlen of each set[i] */
    size_t n_set;
    char *affix; /* regex LITERAL: the unescaped literal; PREFIX / SUFFIX / CONTAINS: the literal part */
    size_t affix_len;
    char *prefix; /* EM_MATCH_FAST_NONE: a literal every match starts with (prefilter), or NULL */
    size_t prefix_len;
} em_matcher_t;

/* Initialise 'm' (storage owned by the caller; name and value are copied). Returns EM_OK, or EM_EINVAL
 * for a bad regex (message as base/regex.h words it) or an unknown type; on error 'm' is left zeroed and
 * needs no fini. Thread: any. */
int em_matcher_init(em_matcher_t *m, em_match_type_t type, const char *name, const char *value,
                    em_err_t *err);
/* Free what init allocated and zero 'm'. NULL and a zeroed matcher are accepted. Thread: owner. */
void em_matcher_fini(em_matcher_t *m);

/* Does the label value v (n bytes; "" for a missing label) satisfy the matcher? Thread: any. */
bool em_matcher_matches(const em_matcher_t *m, const char *v, size_t n);
/* The same answer computed by PCRE2 alone, ignoring the fast path (for tests). Thread: any. */
bool em_matcher_matches_slow(const em_matcher_t *m, const char *v, size_t n);

/* True when the matcher accepts the empty value, i.e. it also selects series lacking the label. */
bool em_matcher_matches_empty(const em_matcher_t *m);
/* True when the matcher accepts every value, present or not (=~".*"): it selects nothing away. */
bool em_matcher_matches_everything(const em_matcher_t *m);

/* "=", "!=", "=~", "!~" */
const char *em_match_type_str(em_match_type_t t);

/* The literal values a matcher can only match, if it is EQ or an RE with the literal/set fast path:
 * fills values and n (borrowed from m, sorted for sets, possibly including "") and returns true; false
 * otherwise. Lets the index look values up directly instead of scanning them all. Thread: any. */
bool em_matcher_set_values(const em_matcher_t *m, const char *const **values, size_t *n);
/* As em_matcher_set_values, but for the positive form of every type: NEQ's value and NRE's literal or
 * set too (the values a negative matcher excludes). Thread: any. */
bool em_matcher_literal_values(const em_matcher_t *m, const char *const **values, size_t *n);

#endif
