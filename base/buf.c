/* Design: see buf.h */
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void em_buf_init(em_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void em_buf_fini(em_buf_t *b)
{
    free(b->data);
    em_buf_init(b);
}

void em_buf_reset(em_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void em_buf_reserve(em_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1; /* +1 keeps room for the NUL */
    if (need <= b->cap)
        return;
    size_t c = b->cap ? b->cap : 64;
    while (c < need)
        c *= 2;
    b->data = em_realloc(b->data, c);
    b->cap = c;
}

char *em_buf_detach(em_buf_t *b, size_t *len)
{
    em_buf_reserve(b, 0);
    char *p = b->data;
    if (len)
        *len = b->len;
    em_buf_init(b);
    return p;
}

void em_buf_append(em_buf_t *b, const void *p, size_t n)
{
    em_buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void em_buf_puts(em_buf_t *b, const char *s)
{
    em_buf_append(b, s, strlen(s));
}

void em_buf_putc(em_buf_t *b, char c)
{
    em_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void em_buf_printf(em_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        em_buf_append(b, small, (size_t)n);
        return;
    }
    em_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void em_buf_put_json_str(em_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    em_buf_reserve(b, n + 2);
    em_buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && u[run] >= 0x20 && u[run] < 0x80 && u[run] != '"' && u[run] != '\\' &&
               u[run] != '<' && u[run] != '>' && u[run] != '&')
            run++;
        if (run > i) {
            em_buf_append(b, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            em_buf_append(b, e, 2);
            i++;
        } else if (c == '\n') {
            em_buf_append(b, "\\n", 2);
            i++;
        } else if (c == '\r') {
            em_buf_append(b, "\\r", 2);
            i++;
        } else if (c == '\t') {
            em_buf_append(b, "\\t", 2);
            i++;
        } else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            /* Go's encoding/json escapes <, > and & as \u003c etc.; Prometheus's API does too. */
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            em_buf_append(b, e, 6);
            i++;
        } else {
            size_t l = utf8_seq(u + i, n - i);
            if (l == 0) {
                em_buf_append(b, "\\ufffd", 6);
                i++;
            } else {
                em_buf_append(b, s + i, l);
                i += l;
            }
        }
    }
    em_buf_putc(b, '"');
}

void em_buf_put_u8(em_buf_t *b, uint8_t v)
{
    em_buf_putc(b, (char)v);
}

void em_buf_put_be16(em_buf_t *b, uint16_t v)
{
    uint8_t t[2];
    em_put_be16(t, v);
    em_buf_append(b, t, 2);
}

void em_buf_put_be32(em_buf_t *b, uint32_t v)
{
    uint8_t t[4];
    em_put_be32(t, v);
    em_buf_append(b, t, 4);
}

void em_buf_put_be64(em_buf_t *b, uint64_t v)
{
    uint8_t t[8];
    em_put_be64(t, v);
    em_buf_append(b, t, 8);
}

void em_buf_set_be32(em_buf_t *b, size_t off, uint32_t v)
{
    em_put_be32((uint8_t *)b->data + off, v);
}

size_t em_uvarint_put(uint8_t *dst, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        dst[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    dst[i++] = (uint8_t)v;
    return i;
}

size_t em_uvarint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t em_uvarint_get(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    unsigned shift = 0;
    for (size_t i = 0; p + i < end && i < 10; i++) {
        uint8_t c = p[i];
        if (c < 0x80) {
            if (i == 9 && c > 1)
                return 0; /* overflows 64 bits */
            *v = x | ((uint64_t)c << shift);
            return i + 1;
        }
        x |= (uint64_t)(c & 0x7f) << shift;
        shift += 7;
    }
    return 0;
}

void em_buf_put_uvarint(em_buf_t *b, uint64_t v)
{
    uint8_t t[10];
    em_buf_append(b, t, em_uvarint_put(t, v));
}

void em_buf_put_varint(em_buf_t *b, int64_t v)
{
    em_buf_put_uvarint(b, em_zigzag(v));
}

static inline const uint8_t *take(em_dec_t *d, size_t n)
{
    if (d->err || (size_t)(d->end - d->p) < n) {
        d->err = EM_ECORRUPT;
        return NULL;
    }
    const uint8_t *p = d->p;
    d->p += n;
    return p;
}

uint8_t em_dec_u8(em_dec_t *d)
{
    const uint8_t *p = take(d, 1);
    return p ? p[0] : 0;
}

uint16_t em_dec_be16(em_dec_t *d)
{
    const uint8_t *p = take(d, 2);
    return p ? em_be16(p) : 0;
}

uint32_t em_dec_be32(em_dec_t *d)
{
    const uint8_t *p = take(d, 4);
    return p ? em_be32(p) : 0;
}

uint64_t em_dec_be64(em_dec_t *d)
{
    const uint8_t *p = take(d, 8);
    return p ? em_be64(p) : 0;
}

uint64_t em_dec_uvarint(em_dec_t *d)
{
    uint64_t v = 0;
    if (d->err)
        return 0;
    size_t n = em_uvarint_get(d->p, d->end, &v);
    if (n == 0) {
        d->err = EM_ECORRUPT;
        return 0;
    }
    d->p += n;
    return v;
}

int64_t em_dec_varint(em_dec_t *d)
{
    return em_unzigzag(em_dec_uvarint(d));
}

const uint8_t *em_dec_bytes(em_dec_t *d, size_t n)
{
    return take(d, n);
}

const uint8_t *em_dec_uvarint_bytes(em_dec_t *d, size_t *n)
{
    uint64_t l = em_dec_uvarint(d);
    if (d->err)
        return NULL;
    if (l > (uint64_t)(d->end - d->p)) {
        d->err = EM_ECORRUPT;
        return NULL;
    }
    *n = (size_t)l;
    return take(d, (size_t)l);
}
