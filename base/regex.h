/* base/regex.h -- Prometheus regular expressions on PCRE2.
 *
 * DESIGN. Prometheus uses Go's RE2 syntax, always fully anchored (a matcher `=~"foo"` means
 * ^(?:foo)$), and since Prometheus 3 '.' also matches a newline. We compile with PCRE2 in UTF mode with
 * PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL and JIT, and reject the Perl constructs RE2 refuses
 * (lookaround, backreferences, possessive quantifiers, atomic groups, recursion), with RE2's message,
 * so the same expressions are valid in both. Matching uses a thread-local match-data block, so a compiled
 * regex may be shared by any number of threads.
 */
#ifndef EMBER_BASE_REGEX_H
#define EMBER_BASE_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/err.h"

typedef struct em_regex em_regex_t;

/* Compile 'pattern' (n bytes). Returns EM_OK and sets *out (free with em_regex_free), or EM_EINVAL with
 * "error parsing regexp: ..." in err. Thread: any. */
int em_regex_compile(const char *pattern, size_t n, em_regex_t **out, em_err_t *err);
void em_regex_free(em_regex_t *re);

/* The source pattern (NUL-terminated), as given. */
const char *em_regex_pattern(const em_regex_t *re);

/* True when the whole of s[0..n) matches. Thread: any. */
bool em_regex_match(const em_regex_t *re, const char *s, size_t n);

/* If the whole of s[0..n) matches, append the expansion of 'tmpl' to 'out' and return true; otherwise
 * append nothing and return false. The template follows Go's Regexp.Expand, as Prometheus's relabelling
 * and label_replace use it: $1, ${1}, $name, ${name}; a name is the longest run of letters, digits and
 * '_' ("$1x" means group "1x"); unknown or unmatched groups expand to ""; "$$" is a literal '$'.
 * Thread: any. */
bool em_regex_replace(const em_regex_t *re, const char *s, size_t n, const char *tmpl, size_t tmpl_len,
                      em_buf_t *out);

#endif
