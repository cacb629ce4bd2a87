/* ingest/remote_int.h -- protobuf wire primitives shared by the remote write/read codecs.
 * Included only by ingest/remote*.c and their tests. Design: see remote.h.
 *
 * Protobuf wire format, as far as these codecs need it: a message is a sequence of fields, each a tag
 * varint (field_number << 3 | wire_type) followed by its payload:
 *     wire type 0 VARINT  LEB128, at most 10 bytes (int64 negatives take 10)
 *     wire type 1 I64     8 bytes little-endian (double)
 *     wire type 2 LEN     varint length, then that many bytes (strings, bytes, messages, packed scalars)
 *     wire type 5 I32     4 bytes little-endian
 *     wire types 3/4 (groups) are legacy and rejected; 6 and 7 do not exist.
 */
#ifndef EMBER_INGEST_REMOTE_INT_H
#define EMBER_INGEST_REMOTE_INT_H

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "engine/labels.h"
#include "ingest/remote.h"

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_SGROUP = 3, PB_EGROUP = 4, PB_I32 = 5 };

#define PB_TAG(field, wt) ((uint32_t)(((field) << 3) | (wt)))

/* Where a decoder is, for error messages: the message being read and the start of the whole buffer. */
typedef struct pb_where {
    const uint8_t *base; /* start of the decompressed message: offsets in errors count from here */
    const char *msg;     /* protobuf message being decoded ("TimeSeries") */
    const char *ctx_fmt; /* optional extra context, e.g. "timeseries %zu" */
    size_t ctx_i;
} pb_where_t;

/* Record "proto: <what> in <msg> at byte <off> (<ctx>)" in err and return EM_ECORRUPT. */
int remote_pb_fail(em_err_t *err, const pb_where_t *w, const uint8_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Read a varint at *pp (< end). Returns 0 and advances, or -1 (truncated) / -2 (overflow). */
static inline int pb_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *p = *pp;
    if (p < end && *p < 0x80) {
        *v = *p;
        *pp = p + 1;
        return 0;
    }
    uint64_t x = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (p + i >= end)
            return -1;
        uint8_t c = p[i];
        if (i == 9 && c > 1)
            return -2;
        x |= (uint64_t)(c & 0x7f) << (7 * i);
        if (c < 0x80) {
            *v = x;
            *pp = p + i + 1;
            return 0;
        }
    }
    return -2;
}

/* Read a varint with error reporting. Returns EM_OK or EM_ECORRUPT. */
int remote_pb_read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v, const pb_where_t *w,
                          em_err_t *err);
/* Read a field tag: EM_OK with *field and *wt set, or EM_ECORRUPT (bad varint, field 0, field number over
 * 2^29-1, wire type 6/7). */
int remote_pb_read_tag(const uint8_t **pp, const uint8_t *end, uint32_t *field, uint32_t *wt,
                       const pb_where_t *w, em_err_t *err);
/* Read a LEN payload's length and check it fits: sets *body and *body_end. EM_OK or EM_ECORRUPT. */
int remote_pb_read_len(const uint8_t **pp, const uint8_t *end, const uint8_t **body, const uint8_t **body_end,
                       const pb_where_t *w, em_err_t *err);
/* Skip the payload of a field of wire type wt (its tag already read at 'at'). EM_OK or EM_ECORRUPT. */
int remote_pb_skip(const uint8_t **pp, const uint8_t *end, uint32_t wt, const uint8_t *at,
                   const pb_where_t *w, em_err_t *err);
/* Error for a known field with the wrong wire type. */
int remote_pb_wrong_wt(em_err_t *err, const pb_where_t *w, const uint8_t *at, uint32_t field,
                       const char *name, uint32_t wt);

static inline double pb_le_double(const uint8_t *p)
{
    uint64_t u = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
                 (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* ---- encoding: callers reserve room first, then write through a cursor ---- */

static inline uint8_t *pb_put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint8_t *pb_put_double(uint8_t *p, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(u >> (8 * i));
    return p + 8;
}

/* Size of a LEN field with a one-byte tag and an n-byte payload. */
static inline size_t pb_len_field_size(size_t n)
{
    return 1 + em_uvarint_len(n) + n;
}

/* Encoded size of one Sample message body. Protobuf 3 omits default values: +0.0 and timestamp 0. */
static inline size_t pb_sample_size(const em_remote_sample_t *s)
{
    uint64_t bits;
    memcpy(&bits, &s->v, 8);
    return (bits ? 9 : 0) + (s->t_ms ? 1 + em_uvarint_len((uint64_t)s->t_ms) : 0);
}

/* Size of the Label fields (field number 'field') for a label set, and the label lengths. */
size_t remote_pb_labels_size(const em_labels_t *ls);
/* Append Label fields (tag 'field') for ls to b. */
void remote_pb_put_labels(em_buf_t *b, uint32_t field, const em_labels_t *ls);
/* Append a TimeSeries field (tag 'field': 1 in WriteRequest and QueryResult) with labels and samples. */
void remote_pb_put_timeseries(em_buf_t *b, uint32_t field, const em_labels_t *ls, const em_remote_sample_t *s,
                              size_t n);
/* Append a LEN field with the given payload. */
void remote_pb_put_len_field(em_buf_t *b, uint32_t field, const void *p, size_t n);
/* Append a VARINT field; omitted when v == 0 (protobuf 3 default). */
void remote_pb_put_varint_field(em_buf_t *b, uint32_t field, uint64_t v);

/* Snappy helpers: decompress 'body' into b (resetting it), refusing declared lengths over max. On success
 * b->len is the decompressed length and b->data has one spare byte after it. EM_OK, EM_ELIMIT or
 * EM_ECORRUPT ("snappy: corrupt input", as Go's snappy package says). */
int remote_snappy_decode(const void *body, size_t len, size_t max, em_buf_t *b, em_err_t *err);
/* Snappy-compress [p, p+n) into out (reset first). */
void remote_snappy_encode(const void *p, size_t n, em_buf_t *out);

#endif
