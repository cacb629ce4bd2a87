/* base/buf.h -- growable byte buffers for output, and bounded decoders for untrusted input.
 *
 * DESIGN. em_buf_t owns a heap array that grows by doubling; 'data' stays NUL-terminated after every
 * append (the NUL is not counted in 'len'), so text built in a buffer can be used as a C string.
 * em_dec_t reads from memory it does not own and never reads past 'end': every getter checks the bound
 * and on overrun sets a sticky error (EM_ECORRUPT) and returns 0, so a decoder can read a whole record
 * and check em_dec_err() once at the end (the LMDB/SQLite "sticky error" style).
 *
 * Varints are Go's encoding/binary varints (LEB128; signed values zig-zag encoded), as Prometheus's
 * WAL, index and chunk formats use them. Fixed-width integers are big-endian unless named _le.
 */
#ifndef EMBER_BASE_BUF_H
#define EMBER_BASE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct em_buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
} em_buf_t;

#define EM_BUF_INIT {NULL, 0, 0}

void em_buf_init(em_buf_t *b);
void em_buf_fini(em_buf_t *b); /* frees data; the buffer may be reused after em_buf_init */
void em_buf_reset(em_buf_t *b); /* len = 0, keeps the memory */
void em_buf_reserve(em_buf_t *b, size_t extra); /* ensure room for 'extra' more bytes */
/* Hand the heap array to the caller (who frees it with free()); the buffer becomes empty. */
char *em_buf_detach(em_buf_t *b, size_t *len);

void em_buf_append(em_buf_t *b, const void *p, size_t n);
void em_buf_puts(em_buf_t *b, const char *s);
void em_buf_putc(em_buf_t *b, char c);
void em_buf_printf(em_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append a JSON string literal (with quotes) for the n bytes at s; invalid UTF-8 becomes U+FFFD. */
void em_buf_put_json_str(em_buf_t *b, const char *s, size_t n);

void em_buf_put_u8(em_buf_t *b, uint8_t v);
void em_buf_put_be16(em_buf_t *b, uint16_t v);
void em_buf_put_be32(em_buf_t *b, uint32_t v);
void em_buf_put_be64(em_buf_t *b, uint64_t v);
void em_buf_put_uvarint(em_buf_t *b, uint64_t v);
void em_buf_put_varint(em_buf_t *b, int64_t v);
/* Overwrite 4 bytes at offset 'off' (already written) with big-endian v. */
void em_buf_set_be32(em_buf_t *b, size_t off, uint32_t v);

/* Raw varint coding. em_uvarint_put writes at most 10 bytes and returns the count. em_uvarint_get
 * returns the number of bytes read, or 0 if the input ends first or the value overflows 64 bits. */
size_t em_uvarint_put(uint8_t *dst, uint64_t v);
size_t em_uvarint_get(const uint8_t *p, const uint8_t *end, uint64_t *v);
size_t em_uvarint_len(uint64_t v);

static inline uint64_t em_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t em_unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static inline uint16_t em_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t em_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t em_be64(const uint8_t *p)
{
    return ((uint64_t)em_be32(p) << 32) | em_be32(p + 4);
}
static inline void em_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void em_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void em_put_be64(uint8_t *p, uint64_t v)
{
    em_put_be32(p, (uint32_t)(v >> 32));
    em_put_be32(p + 4, (uint32_t)v);
}

/* Bounded decoder over [p, end). */
typedef struct em_dec {
    const uint8_t *p;
    const uint8_t *end;
    int err; /* EM_OK, or EM_ECORRUPT after the first overrun or bad varint (sticky) */
} em_dec_t;

static inline void em_dec_init(em_dec_t *d, const void *p, size_t n)
{
    d->p = (const uint8_t *)p;
    d->end = d->p + n;
    d->err = 0;
}
static inline size_t em_dec_left(const em_dec_t *d)
{
    return (size_t)(d->end - d->p);
}
static inline int em_dec_err(const em_dec_t *d)
{
    return d->err;
}
uint8_t em_dec_u8(em_dec_t *d);
uint16_t em_dec_be16(em_dec_t *d);
uint32_t em_dec_be32(em_dec_t *d);
uint64_t em_dec_be64(em_dec_t *d);
uint64_t em_dec_uvarint(em_dec_t *d);
int64_t em_dec_varint(em_dec_t *d);
/* Return a pointer to the next n bytes and skip them, or NULL (and set the error) if fewer remain. */
const uint8_t *em_dec_bytes(em_dec_t *d, size_t n);
/* A uvarint length followed by that many bytes (Prometheus's "len string"). */
const uint8_t *em_dec_uvarint_bytes(em_dec_t *d, size_t *n);

#endif
