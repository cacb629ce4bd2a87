/* Design: see remote.h (wire primitives: remote_int.h) */
#include "ingest/remote_int.h"

#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/mem.h"

int remote_pb_fail(em_err_t *err, const pb_where_t *w, const uint8_t *at, const char *fmt, ...)
{
    if (!err)
        return EM_ECORRUPT;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    char ctx[64] = "";
    if (w->ctx_fmt) {
        char c[48];
        snprintf(c, sizeof(c), w->ctx_fmt, w->ctx_i);
        snprintf(ctx, sizeof(ctx), " (%s)", c);
    }
    return em_err_set(err, EM_ECORRUPT, "proto: %s in %s at byte %zu%s", what, w->msg, (size_t)(at - w->base),
                      ctx);
}

int remote_pb_read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v, const pb_where_t *w,
                          em_err_t *err)
{
    const uint8_t *at = *pp;
    int rc = pb_varint(pp, end, v);
    if (rc == -1)
        return remote_pb_fail(err, w, at, "truncated varint");
    if (rc == -2)
        return remote_pb_fail(err, w, at, "varint overflows 64 bits");
    return EM_OK;
}

int remote_pb_read_tag(const uint8_t **pp, const uint8_t *end, uint32_t *field, uint32_t *wt,
                       const pb_where_t *w, em_err_t *err)
{
    const uint8_t *at = *pp;
    uint64_t tag;
    int rc = remote_pb_read_varint(pp, end, &tag, w, err);
    if (rc)
        return rc;
    if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff)
        return remote_pb_fail(err, w, at, "illegal field number %llu", (unsigned long long)(tag >> 3));
    if ((tag & 7) > PB_I32)
        return remote_pb_fail(err, w, at, "illegal wire type %u", (unsigned)(tag & 7));
    *field = (uint32_t)(tag >> 3);
    *wt = (uint32_t)(tag & 7);
    return EM_OK;
}

int remote_pb_read_len(const uint8_t **pp, const uint8_t *end, const uint8_t **body, const uint8_t **body_end,
                       const pb_where_t *w, em_err_t *err)
{
    const uint8_t *at = *pp;
    uint64_t n;
    int rc = remote_pb_read_varint(pp, end, &n, w, err);
    if (rc)
        return rc;
    if (n > (uint64_t)(end - *pp))
        return remote_pb_fail(err, w, at, "length %llu past the end of the message (%zu bytes left)",
                              (unsigned long long)n, (size_t)(end - *pp));
    *body = *pp;
    *body_end = *pp + n;
    *pp = *body_end;
    return EM_OK;
}

int remote_pb_skip(const uint8_t **pp, const uint8_t *end, uint32_t wt, const uint8_t *at,
                   const pb_where_t *w, em_err_t *err)
{
    uint64_t v = 0;
    const uint8_t *b, *be;
    switch (wt) {
    case PB_VARINT:
        return remote_pb_read_varint(pp, end, &v, w, err);
    case PB_I64:
    case PB_I32: {
        size_t n = wt == PB_I64 ? 8 : 4;
        if ((size_t)(end - *pp) < n)
            return remote_pb_fail(err, w, at, "truncated %zu-byte field", n);
        *pp += n;
        return EM_OK;
    }
    case PB_LEN:
        return remote_pb_read_len(pp, end, &b, &be, w, err);
    default:
        return remote_pb_fail(err, w, at, "groups are not supported (wire type %u)", (unsigned)wt);
    }
}

int remote_pb_wrong_wt(em_err_t *err, const pb_where_t *w, const uint8_t *at, uint32_t field,
                       const char *name, uint32_t wt)
{
    return remote_pb_fail(err, w, at, "wrong wire type %u for field %u (%s)", (unsigned)wt, (unsigned)field,
                          name);
}

/* ---- encoding ---- */

size_t remote_pb_labels_size(const em_labels_t *ls)
{
    size_t total = 0;
    for (size_t i = 0; i < ls->n; i++) {
        size_t nl = strlen(ls->v[i].name), vl = strlen(ls->v[i].value);
        size_t body = (nl ? pb_len_field_size(nl) : 0) + (vl ? pb_len_field_size(vl) : 0);
        total += pb_len_field_size(body);
    }
    return total;
}

static uint8_t *put_str_field(uint8_t *p, uint32_t field, const char *s, size_t n)
{
    *p++ = (uint8_t)PB_TAG(field, PB_LEN);
    p = pb_put_varint(p, n);
    memcpy(p, s, n);
    return p + n;
}

/* Write Label fields; the caller reserved remote_pb_labels_size(ls) bytes. */
static uint8_t *put_labels(uint8_t *p, uint32_t field, const em_labels_t *ls)
{
    for (size_t i = 0; i < ls->n; i++) {
        size_t nl = strlen(ls->v[i].name), vl = strlen(ls->v[i].value);
        size_t body = (nl ? pb_len_field_size(nl) : 0) + (vl ? pb_len_field_size(vl) : 0);
        *p++ = (uint8_t)PB_TAG(field, PB_LEN);
        p = pb_put_varint(p, body);
        if (nl)
            p = put_str_field(p, 1, ls->v[i].name, nl);
        if (vl)
            p = put_str_field(p, 2, ls->v[i].value, vl);
    }
    return p;
}

void remote_pb_put_labels(em_buf_t *b, uint32_t field, const em_labels_t *ls)
{
    size_t n = remote_pb_labels_size(ls);
    em_buf_reserve(b, n);
    uint8_t *p = (uint8_t *)b->data + b->len;
    uint8_t *e = put_labels(p, field, ls);
    b->len += (size_t)(e - p);
    b->data[b->len] = '\0';
}

void remote_pb_put_timeseries(em_buf_t *b, uint32_t field, const em_labels_t *ls, const em_remote_sample_t *s,
                              size_t n)
{
    size_t body = remote_pb_labels_size(ls);
    for (size_t i = 0; i < n; i++)
        body += pb_len_field_size(pb_sample_size(&s[i]));
    em_buf_reserve(b, 1 + 10 + body);
    uint8_t *p0 = (uint8_t *)b->data + b->len, *p = p0;
    *p++ = (uint8_t)PB_TAG(field, PB_LEN);
    p = pb_put_varint(p, body);
    p = put_labels(p, 1, ls);
    for (size_t i = 0; i < n; i++) {
        *p++ = (uint8_t)PB_TAG(2, PB_LEN);
        *p++ = (uint8_t)pb_sample_size(&s[i]); /* at most 9 + 11 = 20: one byte */
        uint64_t bits;
        memcpy(&bits, &s[i].v, 8);
        if (bits) {
            *p++ = (uint8_t)PB_TAG(1, PB_I64);
            p = pb_put_double(p, s[i].v);
        }
        if (s[i].t_ms) {
            *p++ = (uint8_t)PB_TAG(2, PB_VARINT);
            p = pb_put_varint(p, (uint64_t)s[i].t_ms);
        }
    }
    b->len += (size_t)(p - p0);
    b->data[b->len] = '\0';
}

void remote_pb_put_len_field(em_buf_t *b, uint32_t field, const void *p, size_t n)
{
    uint8_t hdr[16];
    uint8_t *h = hdr;
    h = pb_put_varint(h, PB_TAG(field, PB_LEN));
    h = pb_put_varint(h, n);
    em_buf_append(b, hdr, (size_t)(h - hdr));
    em_buf_append(b, p, n);
}

void remote_pb_put_varint_field(em_buf_t *b, uint32_t field, uint64_t v)
{
    if (!v)
        return;
    uint8_t t[24];
    uint8_t *h = pb_put_varint(t, PB_TAG(field, PB_VARINT));
    h = pb_put_varint(h, v);
    em_buf_append(b, t, (size_t)(h - t));
}

/* ---- snappy ---- */

int remote_snappy_decode(const void *body, size_t len, size_t max, em_buf_t *b, em_err_t *err)
{
    size_t n = 0;
    em_buf_reset(b);
    if (snappy_uncompressed_length(body, len, &n) != SNAPPY_OK)
        return em_err_set(err, EM_ECORRUPT, "snappy: corrupt input");
    if (n > max)
        return em_err_set(err, EM_ELIMIT, "snappy: decoded length %zu exceeds the limit of %zu bytes", n,
                          max);
    em_buf_reserve(b, n);
    size_t got = n;
    if (snappy_uncompress(body, len, b->data, &got) != SNAPPY_OK || got != n)
        return em_err_set(err, EM_ECORRUPT, "snappy: corrupt input");
    b->len = n;
    b->data[n] = '\0';
    return EM_OK;
}

void remote_snappy_encode(const void *p, size_t n, em_buf_t *out)
{
    em_buf_reset(out);
    size_t cap = snappy_max_compressed_length(n);
    em_buf_reserve(out, cap);
    size_t got = cap;
    snappy_status st = snappy_compress(p, n, out->data, &got);
    if (st != SNAPPY_OK) {
        /* Only possible if cap were too small, which snappy_max_compressed_length rules out. */
        fprintf(stderr, "ember: snappy_compress failed (%d)\n", (int)st);
        abort();
    }
    out->len = got;
    out->data[got] = '\0';
}
