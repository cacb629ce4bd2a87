/* base/ulid.h -- ULIDs: the names of block directories.
 *
 * DESIGN. A ULID (github.com/ulid/spec, Go's oklog/ulid as Prometheus uses it) is 128 bits: a 48-bit
 * big-endian millisecond Unix time followed by 80 random bits. Its text form is 26 characters of
 * Crockford's base32 (0-9 A-Z without I L O U), most significant first; the first character carries only
 * 3 bits, so it is at most '7'. Because the time comes first, ULIDs sort by creation time both as bytes
 * and as text, which is how Prometheus orders blocks that share a time range.
 *
 *     byte    0..5            6..15
 *             time_ms (BE)    entropy
 *
 * MONOTONICITY. em_ulid_new keeps a process-wide last ULID under a mutex: a ULID made in the same
 * millisecond as (or, after a clock step back, earlier than) the previous one reuses its time and
 * increments its entropy by one, so ULIDs made by one process strictly increase (oklog's
 * ulid.Monotonic with an increment of 1). Entropy comes from getrandom(2).
 *
 * Parsing accepts lower case as oklog does, and rejects the wrong length, characters outside the
 * alphabet and a first character above '7' (overflow).
 */
#ifndef EMBER_BASE_ULID_H
#define EMBER_BASE_ULID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define EM_ULID_STR_LEN 26

typedef struct em_ulid {
    uint8_t b[16];
} em_ulid_t;

/* A new ULID for time t_ms (milliseconds since the epoch; the wall clock when t_ms < 0), strictly
 * greater than every ULID this process made before. Thread: any (a mutex guards the last ULID). */
em_ulid_t em_ulid_new(int64_t t_ms);

/* A ULID from its parts (time truncated to 48 bits). Thread: any. */
em_ulid_t em_ulid_make(uint64_t t_ms, const uint8_t entropy[10]);

/* The time part. Thread: any. */
uint64_t em_ulid_time_ms(const em_ulid_t *u);

/* Write the 26-character text form and a NUL into out. Thread: any. */
void em_ulid_format(const em_ulid_t *u, char out[EM_ULID_STR_LEN + 1]);

/* Parse s[0, n): EM_OK (out set) or EM_EINVAL with a message. Thread: any. */
int em_ulid_parse(const char *s, size_t n, em_ulid_t *out, em_err_t *err);

/* Byte order, which is time order: <0, 0, >0. Thread: any. */
int em_ulid_cmp(const em_ulid_t *a, const em_ulid_t *b);

#endif
