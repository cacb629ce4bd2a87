/* base/json.h -- a small strict JSON parser (RFC 8259) into a tree allocated in an arena.
 *
 * DESIGN. For reading small documents from disk or configuration (a block's meta.json, ...), not bulk
 * data: the whole input is parsed at once into em_json_t nodes allocated in a caller's arena, so one
 * em_arena_fini frees everything. Strict means: exactly one value, surrounded only by whitespace; no
 * comments, trailing commas, single quotes, leading zeros, NaN or bare control characters in strings;
 * strings must be valid UTF-8 and \u escapes must pair surrogates correctly. Duplicate object keys are
 * kept in order (em_json_get returns the last, as Go's encoding/json does).
 *
 * NUMBERS keep their source text (num_raw) beside the double, so integers beyond 2^53 (timestamps are
 * fine, sample counts may not be) are read exactly with em_json_int64 / em_json_uint64.
 *
 * BOUNDS. Nesting deeper than max_depth fails with EM_ELIMIT; the input size is the caller's bound.
 * Errors name the byte offset. Writing JSON is em_buf_put_json_str (base/buf.h) and em_buf_printf.
 */
#ifndef EMBER_BASE_JSON_H
#define EMBER_BASE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"

typedef enum {
    EM_JSON_NULL = 0,
    EM_JSON_BOOL,
    EM_JSON_NUMBER,
    EM_JSON_STRING,
    EM_JSON_ARRAY,
    EM_JSON_OBJECT,
} em_json_type_t;

typedef struct em_json em_json_t;
struct em_json {
    em_json_type_t type;
    bool b;              /* BOOL */
    double num;          /* NUMBER */
    const char *num_raw; /* NUMBER: its source text (not NUL-terminated), num_raw_len bytes */
    size_t num_raw_len;
    const char *str; /* STRING: decoded, NUL-terminated (may contain NULs from \u0000: use str_len) */
    size_t str_len;
    em_json_t *items;  /* ARRAY elements / OBJECT values, n of them */
    const char **keys; /* OBJECT: decoded keys, NUL-terminated */
    size_t *key_lens;
    size_t n;
};

#define EM_JSON_DEFAULT_DEPTH 64

/* Parse s[0, n) into a tree in 'a' (nodes and strings live as long as the arena). Returns EM_OK (*out
 * set), EM_EINVAL with "offset N: ..." for malformed input, or EM_ELIMIT past max_depth. Thread: any. */
int em_json_parse(const char *s, size_t n, em_arena_t *a, size_t max_depth, const em_json_t **out,
                  em_err_t *err);

/* The value of 'key' in an object (the last one if repeated), or NULL when absent or v is not an
 * object. Thread: any. */
const em_json_t *em_json_get(const em_json_t *v, const char *key);

/* An integral NUMBER in range: EM_OK, else EM_EINVAL (not a number, a fraction or exponent that is not
 * integral, out of range). Thread: any. */
int em_json_int64(const em_json_t *v, int64_t *out);
int em_json_uint64(const em_json_t *v, uint64_t *out);

#endif
