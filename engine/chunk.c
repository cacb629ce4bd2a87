/* engine/chunk.c -- Prometheus XOR chunks. Design: see chunk.h. */
#include "engine/chunk.h"

#include <assert.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/mem.h"

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define ALWAYS_INLINE inline __attribute__((always_inline))

/* Bytes kept between the fast reader and the end of the input: a sample starting before this margin
 * reads at most 157 bits (20 bytes) plus the 9-byte window of its last field. */
#define TAIL_MARGIN 32u

static ALWAYS_INLINE uint64_t load_be64(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof(x));
    return __builtin_bswap64(x);
}

static ALWAYS_INLINE void store_be64(uint8_t *p, uint64_t x)
{
    x = __builtin_bswap64(x);
    memcpy(p, &x, sizeof(x));
}

static ALWAYS_INLINE uint64_t f64_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static ALWAYS_INLINE double bits_f64(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

/* ------------------------------------------------------------------------------------------------ */
/* Encoder                                                                                          */
/* ------------------------------------------------------------------------------------------------ */

/* Write the low n bits of v (1 <= n <= 57, v < 2^n) at bit offset *pos of s, most significant first.
 * One 8-byte store from byte *pos/8: it keeps the (*pos % 8) bits already in that byte and zeroes
 * whatever follows the new bits, so nothing past the data needs to be clean beforehand. */
static ALWAYS_INLINE void put_bits(uint8_t *s, uint64_t *pos, uint64_t v, unsigned n)
{
    uint8_t *q = s + (*pos >> 3);
    unsigned off = (unsigned)(*pos & 7);
    uint64_t keep = (uint64_t)(q[0] & (uint8_t)(0xff00u >> off)) << 56;
    store_be64(q, keep | (v << (64 - n - off)));
    *pos += n;
}

/* As put_bits for 1 <= n <= 64. */
static ALWAYS_INLINE void put_bits64(uint8_t *s, uint64_t *pos, uint64_t v, unsigned n)
{
    if (n <= 57) {
        put_bits(s, pos, v, n);
    } else {
        put_bits(s, pos, v >> 32, n - 32);
        put_bits(s, pos, v & 0xffffffffu, 32);
    }
}

/* Byte-aligned varint bytes (only the first two samples have them). */
static void put_varint_bytes(uint8_t *s, uint64_t *pos, uint64_t u)
{
    assert((*pos & 7) == 0);
    size_t k = em_uvarint_put(s + (*pos >> 3), u);
    *pos += 8 * (uint64_t)k;
}

/* Prometheus: the dod buckets of xorAppender.Append; bitRange(x, n) is -(2^(n-1)-1) <= x <= 2^(n-1). */
static void put_dod(uint8_t *s, uint64_t *pos, int64_t dod)
{
    uint64_t u = (uint64_t)dod;
    if (dod == 0)
        put_bits(s, pos, 0, 1);
    else if (dod >= -8191 && dod <= 8192)
        put_bits(s, pos, (0x2u << 14) | (u & 0x3fff), 16);
    else if (dod >= -65535 && dod <= 65536)
        put_bits(s, pos, (0x6u << 17) | (u & 0x1ffff), 20);
    else if (dod >= -524287 && dod <= 524288)
        put_bits(s, pos, (0xeu << 20) | (u & 0xfffff), 24);
    else {
        put_bits(s, pos, 0xf, 4);
        put_bits64(s, pos, u, 64);
    }
}

/* Prometheus: xorWrite. */
static void put_xor(em_xor_enc_t *e, uint8_t *s, uint64_t *pos, uint64_t vb)
{
    uint64_t x = vb ^ e->v_bits;
    if (x == 0) {
        put_bits(s, pos, 0, 1);
        e->byte_tail = false;
        return;
    }
    unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
    if (lead > 31) /* Prometheus clamps: the field has 5 bits */
        lead = 31;
    if (e->leading != 0xff && lead >= e->leading && trail >= e->trailing) {
        unsigned sig = 64u - e->leading - e->trailing;
        e->byte_tail = (sig & 7) == 0; /* Prometheus 2.x wrote the significant bits byte by byte */
        uint64_t payload = x >> e->trailing;
        if (sig <= 55) {
            put_bits(s, pos, (0x2ull << sig) | payload, sig + 2);
        } else {
            put_bits(s, pos, 0x2, 2);
            put_bits64(s, pos, payload, sig);
        }
        return;
    }
    e->leading = (uint8_t)lead;
    e->trailing = (uint8_t)trail;
    unsigned sig = 64u - lead - trail;
    e->byte_tail = (sig & 7) == 0;
    /* '11', 5 bits leading, 6 bits significant count where 64 is stored as 0 */
    uint64_t hdr = (0x3ull << 11) | ((uint64_t)lead << 6) | (sig & 63);
    uint64_t payload = x >> trail;
    if (sig <= 44) {
        put_bits(s, pos, (hdr << sig) | payload, 13 + sig);
    } else {
        put_bits(s, pos, hdr, 13);
        put_bits64(s, pos, payload, sig);
    }
}

void em_xor_enc_init(em_xor_enc_t *e, uint8_t *buf, size_t cap)
{
    assert(cap >= EM_XOR_HEADER_BYTES);
    memset(e, 0, sizeof(*e));
    e->buf = buf;
    e->cap = cap;
    e->leading = 0xff;
    em_put_be16(buf, 0);
}

int em_xor_enc_append(em_xor_enc_t *e, int64_t t_ms, double v)
{
    if (UNLIKELY(e->n >= EM_XOR_MAX_SAMPLES || e->cap < em_xor_enc_bytes(e) ||
                 e->cap - em_xor_enc_bytes(e) < EM_XOR_MAX_SAMPLE_BYTES))
        return EM_ELIMIT;
    uint8_t *s = e->buf + EM_XOR_HEADER_BYTES;
    uint64_t pos = e->bits;
    uint64_t vb = f64_bits(v);
    uint64_t t_delta = 0;
    if (e->n == 0) {
        put_varint_bytes(s, &pos, em_zigzag(t_ms));
        put_bits(s, &pos, vb >> 32, 32);
        put_bits(s, &pos, vb & 0xffffffffu, 32);
        e->byte_tail = true;
    } else if (e->n == 1) {
        t_delta = (uint64_t)t_ms - (uint64_t)e->t_ms; /* wraps like Go's int64 arithmetic */
        put_varint_bytes(s, &pos, t_delta);
        put_xor(e, s, &pos, vb);
    } else {
        t_delta = (uint64_t)t_ms - (uint64_t)e->t_ms;
        put_dod(s, &pos, (int64_t)(t_delta - e->t_delta));
        put_xor(e, s, &pos, vb);
    }
    assert(pos - e->bits <= 157);
    e->t_ms = t_ms;
    e->v_bits = vb;
    e->t_delta = t_delta;
    e->ends[e->n % EM_XOR_ENC_RING] = (uint32_t)pos;
    e->bits = pos;
    e->n++;
    em_put_be16(e->buf, (uint16_t)e->n);
    return EM_OK;
}

void em_xor_enc_rebase(em_xor_enc_t *e, uint8_t *newbuf, size_t newcap)
{
    assert(newcap >= em_xor_enc_bytes(e));
    e->buf = newbuf;
    e->cap = newcap;
}

size_t em_xor_enc_stable_samples(const em_xor_enc_t *e, size_t *stable_bytes)
{
    /* Later appends write from the byte holding bit 'bits' on; everything before it is final. Every
     * sample is at least 2 bits long, so at most 4 samples end inside the partial last byte. */
    uint64_t final_bits = e->bits & ~(uint64_t)7;
    size_t k = e->n;
    while (k > 0 && e->ends[(k - 1) % EM_XOR_ENC_RING] > final_bits)
        k--;
    assert(e->n - k <= 4);
    *stable_bytes = EM_XOR_HEADER_BYTES + (k ? (size_t)((e->ends[(k - 1) % EM_XOR_ENC_RING] + 7) >> 3) : 0);
    return k;
}

/* ------------------------------------------------------------------------------------------------ */
/* Decoder                                                                                          */
/* ------------------------------------------------------------------------------------------------ */

/* At least 57 valid bits starting at bit 'pos' of base, left-aligned. Reads base[pos/8 .. +8). */
static ALWAYS_INLINE uint64_t peek57(const uint8_t *base, uint64_t pos)
{
    return load_be64(base + (pos >> 3)) << (pos & 7);
}

/* 64 valid bits starting at bit 'pos', left-aligned. Reads base[pos/8 .. +9). */
static ALWAYS_INLINE uint64_t peek64(const uint8_t *base, uint64_t pos)
{
    const uint8_t *q = base + (pos >> 3);
    unsigned sh = (unsigned)(pos & 7);
    return (load_be64(q) << sh) | (uint64_t)(q[8] >> (8 - sh));
}

static void iter_setup(em_xor_iter_t *it, const uint8_t *data, size_t len, size_t n)
{
    it->data = data;
    it->len = len;
    it->n_total = (uint32_t)n;
    it->n_read = 0;
    it->err = EM_OK;
    it->leading = 0;
    it->trailing = 0;
    it->t_ms = 0;
    it->v_bits = 0;
    it->t_delta = 0;
    it->pos = 0;
    it->tail_off = 0;
    if (len < EM_XOR_HEADER_BYTES) {
        it->err = EM_ECORRUPT;
        it->base = it->tail;
        it->fast_end = it->end_bits = 0;
        return;
    }
    size_t slen = len - EM_XOR_HEADER_BYTES;
    it->base = data + EM_XOR_HEADER_BYTES;
    it->end_bits = (uint64_t)slen * 8;
    it->fast_end = slen > TAIL_MARGIN ? (uint64_t)(slen - TAIL_MARGIN) * 8 : 0;
}

/* Called when pos >= fast_end. In fast mode: continue from a zero-padded copy of the remaining bytes
 * (fewer than TAIL_MARGIN + 1). In tail mode: pos ran past the real end. Returns false then. */
static bool iter_reposition(em_xor_iter_t *it)
{
    if (it->base == it->tail)
        return it->pos <= it->end_bits;
    size_t b = (size_t)(it->pos >> 3);
    size_t slen = it->len - EM_XOR_HEADER_BYTES;
    size_t rest = slen - b;
    assert(b <= slen && rest <= TAIL_MARGIN);
    memcpy(it->tail, it->data + EM_XOR_HEADER_BYTES + b, rest);
    memset(it->tail + rest, 0, sizeof(it->tail) - rest);
    it->base = it->tail;
    it->tail_off = (uint32_t)b;
    it->pos -= (uint64_t)b * 8;
    it->end_bits = (uint64_t)rest * 8;
    it->fast_end = it->end_bits + 1;
    return true;
}

void em_xor_iter_init(em_xor_iter_t *it, const uint8_t *data, size_t len)
{
    iter_setup(it, data, len, em_xor_num_samples(data, len));
    if (it->err == EM_OK && it->pos >= it->fast_end)
        iter_reposition(it);
}

void em_xor_iter_init_n(em_xor_iter_t *it, const uint8_t *data, size_t len, size_t n_samples)
{
    if (n_samples > EM_XOR_MAX_SAMPLES)
        n_samples = EM_XOR_MAX_SAMPLES;
    iter_setup(it, data, len, n_samples);
    if (it->err == EM_OK && it->pos >= it->fast_end)
        iter_reposition(it);
}

/* Samples 0 and 1 start with byte-aligned varints; read them with explicit bounds. Returns EM_OK or
 * EM_ECORRUPT. */
static int iter_head_sample(em_xor_iter_t *it)
{
    const uint8_t *p = it->base + (it->pos >> 3);
    const uint8_t *end = it->base + (it->end_bits >> 3);
    uint64_t u;
    size_t k = em_uvarint_get(p, end, &u);
    if (k == 0)
        return EM_ECORRUPT;
    it->pos += 8 * (uint64_t)k;
    if (it->n_read == 0) {
        if ((it->end_bits - it->pos) < 64)
            return EM_ECORRUPT;
        it->t_ms = em_unzigzag(u);
        it->v_bits = load_be64(it->base + (it->pos >> 3));
        it->pos += 64;
    } else {
        it->t_delta = u;
        it->t_ms = (int64_t)((uint64_t)it->t_ms + u);
        /* The value follows as in later samples: the sample began before fast_end (or in the tail copy),
         * so the window reads below stay in bounds. Its length is checked by the caller. */
        uint64_t pos = it->pos;
        uint64_t w = peek57(it->base, pos);
        uint64_t b0 = w >> 63, b1 = (w >> 62) & 1;
        if (b0) {
            if (b1) {
                unsigned nl = (unsigned)(w >> 57) & 31, ns = (unsigned)(w >> 51) & 63;
                if (ns == 0)
                    ns = 64;
                if (nl + ns > 64)
                    return EM_ECORRUPT;
                it->leading = (uint8_t)nl;
                it->trailing = (uint8_t)(64 - nl - ns);
                pos += 13;
            } else {
                pos += 2;
            }
            unsigned sig = 64u - it->leading - it->trailing;
            it->v_bits ^= (peek64(it->base, pos) >> (64 - sig)) << it->trailing;
            pos += sig;
        } else {
            pos += 1;
        }
        it->pos = pos;
    }
    return EM_OK;
}

/* Bucket widths of the dod prefixes by number of leading ones (0..3), one per byte: 0, 14, 17, 20. */
#define DOD_WIDTHS 0x14110e00u

/* Decode samples 2.. into ts_ms/vs with the state in registers. The caller has checked n_read >= 2 and
 * that there are 'max' samples left. Returns the number decoded; sets *bad on a corrupt field. */
static ALWAYS_INLINE size_t iter_run(em_xor_iter_t *it, int64_t *ts_ms, double *vs, size_t max, int *bad)
{
    const uint8_t *base = it->base;
    uint64_t pos = it->pos, fast_end = it->fast_end;
    uint64_t v_bits = it->v_bits, t_delta = it->t_delta;
    uint64_t t = (uint64_t)it->t_ms;
    unsigned lead = it->leading, trail = it->trailing;
    size_t k = 0;
    *bad = 0;
    while (k < max) {
        /* ---- timestamp: delta of delta ---- */
        uint64_t w = peek57(base, pos);
        unsigned ones = (unsigned)__builtin_clzll(~w | (1ull << 59)); /* leading ones, at most 4 */
        uint64_t dod;
        if (LIKELY(ones < 4)) {
            unsigned pre = ones + 1;
            unsigned sz = (DOD_WIDTHS >> (ones * 8)) & 0xff;
            uint64_t raw = ((w << pre) >> 1) >> (63 - sz); /* 0 when sz == 0 */
            uint64_t half = (1ull << sz) >> 1;
            dod = raw - (raw > half ? (half << 1) : 0);
            pos += pre + sz;
            w <<= pre + sz; /* at most 24 bits used: >= 33 valid remain */
        } else {
            dod = peek64(base, pos + 4);
            pos += 68;
            w = peek57(base, pos);
        }
        t_delta += dod;
        t += t_delta;

        /* ---- value: '0' | '10' window | '11' lead(5) sig(6) window ---- */
        unsigned b0 = (unsigned)(w >> 63), b1 = (unsigned)(w >> 62) & 1;
        unsigned is_new = b0 & b1;
        unsigned nl = (unsigned)(w >> 57) & 31;
        unsigned ns = (((unsigned)(w >> 51) - 1) & 63) + 1; /* 0 means 64 */
        *bad |= is_new & (nl + ns > 64);
        lead = is_new ? nl : lead;
        trail = is_new ? ((64 - nl - ns) & 63) : trail;
        unsigned sig = 64 - lead - trail;
        pos += 1 + b0 + 11 * is_new;
        uint64_t payload = (peek64(base, pos) >> ((64 - sig) & 63)) & (0 - (uint64_t)b0);
        v_bits ^= payload << trail;
        pos += sig & (0 - b0);

        if (ts_ms)
            ts_ms[k] = (int64_t)t;
        if (vs)
            vs[k] = bits_f64(v_bits);
        k++;
        if (UNLIKELY(*bad))
            break;
        if (UNLIKELY(pos >= fast_end)) {
            it->pos = pos;
            if (!iter_reposition(it)) {
                *bad = 1;
                break;
            }
            base = it->base;
            pos = it->pos;
            fast_end = it->fast_end;
        }
    }
    it->pos = pos;
    it->v_bits = v_bits;
    it->t_delta = t_delta;
    it->t_ms = (int64_t)t;
    it->leading = (uint8_t)lead;
    it->trailing = (uint8_t)trail;
    return k;
}

size_t em_xor_iter_next_n(em_xor_iter_t *it, int64_t *ts_ms, double *vs, size_t max, int *rc)
{
    size_t k = 0;
    if (it->err != EM_OK) {
        *rc = it->err;
        return 0;
    }
    while (k < max && it->n_read < 2 && it->n_read < it->n_total) {
        if (iter_head_sample(it) != EM_OK || (it->pos >= it->fast_end && !iter_reposition(it)))
            goto corrupt;
        it->n_read++;
        if (ts_ms)
            ts_ms[k] = it->t_ms;
        if (vs)
            vs[k] = bits_f64(it->v_bits);
        k++;
    }
    size_t left = it->n_total - it->n_read;
    if (max - k < left)
        left = max - k;
    if (left > 0) {
        int bad;
        size_t got = iter_run(it, ts_ms ? ts_ms + k : NULL, vs ? vs + k : NULL, left, &bad);
        if (bad) {
            it->n_read += (uint32_t)got - 1;
            k += got - 1;
            goto corrupt;
        }
        it->n_read += (uint32_t)got;
        k += got;
    }
    *rc = k > 0 || max == 0 ? EM_OK : EM_DONE;
    return k;
corrupt:
    it->err = EM_ECORRUPT;
    *rc = EM_ECORRUPT;
    return k;
}

int em_xor_iter_next(em_xor_iter_t *it)
{
    if (it->err != EM_OK)
        return it->err;
    if (it->n_read >= it->n_total)
        return EM_DONE;
    if (it->n_read < 2) {
        if (iter_head_sample(it) != EM_OK || (it->pos >= it->fast_end && !iter_reposition(it)))
            return it->err = EM_ECORRUPT;
        it->n_read++;
        return EM_OK;
    }
    int bad;
    iter_run(it, NULL, NULL, 1, &bad);
    if (bad)
        return it->err = EM_ECORRUPT;
    it->n_read++;
    return EM_OK;
}

int em_xor_iter_seek(em_xor_iter_t *it, int64_t t_ms)
{
    if (it->err != EM_OK)
        return it->err;
    if (it->n_read > 0 && it->t_ms >= t_ms)
        return EM_OK;
    for (;;) {
        int rc = em_xor_iter_next(it);
        if (rc != EM_OK)
            return rc;
        if (it->t_ms >= t_ms)
            return EM_OK;
    }
}

size_t em_xor_decode_all(const uint8_t *data, size_t len, int64_t *ts_ms, double *vs, size_t max, int *rc)
{
    em_xor_iter_t it;
    int r;
    em_xor_iter_init(&it, data, len);
    size_t n = em_xor_iter_next_n(&it, ts_ms, vs, max, &r);
    if (rc)
        *rc = r == EM_ECORRUPT ? EM_ECORRUPT : EM_OK;
    return n;
}

/* ------------------------------------------------------------------------------------------------ */
/* Resuming an encoder                                                                              */
/* ------------------------------------------------------------------------------------------------ */

int em_xor_enc_resume(em_xor_enc_t *e, uint8_t *buf, size_t len, size_t cap)
{
    if (cap < len)
        return EM_EINVAL;
    if (len < EM_XOR_HEADER_BYTES)
        return EM_ECORRUPT;
    em_xor_enc_t r;
    em_xor_iter_t it;
    em_xor_iter_init(&it, buf, len);
    memset(&r, 0, sizeof(r));
    for (;;) {
        uint64_t prev = it.v_bits;
        int rc = em_xor_iter_next(&it);
        if (rc == EM_DONE)
            break;
        if (rc != EM_OK)
            return EM_ECORRUPT;
        r.ends[(it.n_read - 1) % EM_XOR_ENC_RING] = (uint32_t)(it.pos + (uint64_t)it.tail_off * 8);
        if (it.n_read == 1)
            r.byte_tail = true;
        else
            r.byte_tail = it.v_bits != prev && ((64u - it.leading - it.trailing) & 7) == 0;
    }
    r.n = it.n_total;
    r.bits = r.n ? r.ends[(r.n - 1) % EM_XOR_ENC_RING] : 0;
    size_t exact = EM_XOR_HEADER_BYTES + (size_t)((r.bits + 7) >> 3);
    if (len != exact && !(len == exact + 1 && buf[exact] == 0 && (r.bits & 7) == 0))
        return EM_ECORRUPT;
    r.buf = buf;
    r.cap = cap;
    r.t_ms = it.t_ms;
    r.v_bits = it.v_bits;
    r.t_delta = it.t_delta;
    /* Prometheus's Appender() takes the window from its iterator and only marks "no window" (0xff) for
     * an empty chunk. */
    r.leading = r.n == 0 ? 0xff : it.leading;
    r.trailing = it.trailing;
    *e = r;
    return EM_OK;
}

/* ------------------------------------------------------------------------------------------------ */
/* em_sample_iter_t adapter                                                                         */
/* ------------------------------------------------------------------------------------------------ */

typedef struct xor_sample_iter {
    em_sample_iter_t super;
    int64_t mint_ms, maxt_ms;
    int64_t last_t_ms; /* the sample returned last, when n_returned > 0 */
    uint32_t n_returned;
    int rc_done; /* EM_OK while iterating; then what next() keeps returning: EM_DONE or the error */
    em_xor_iter_t it;
} xor_sample_iter_t;

/* Apply the range and ordering rules to the chunk iterator's answer 'rc' after it moved (or not). */
static int xsi_finish(xor_sample_iter_t *s, int rc, uint32_t n_read_before)
{
    if (rc == EM_OK && s->it.n_read != n_read_before) {
        /* Readers rely on strictly ascending time; only a damaged chunk breaks it. */
        if (s->n_returned > 0 && s->it.t_ms <= s->last_t_ms)
            rc = EM_ECORRUPT;
        else if (s->it.t_ms > s->maxt_ms)
            rc = EM_DONE;
        s->last_t_ms = s->it.t_ms;
        s->n_returned++;
    }
    if (rc != EM_OK)
        s->rc_done = rc;
    return rc;
}

static int xsi_seek(em_sample_iter_t *self, int64_t t_ms)
{
    xor_sample_iter_t *s = (xor_sample_iter_t *)self;
    if (s->rc_done != EM_OK)
        return s->rc_done;
    uint32_t before = s->it.n_read;
    return xsi_finish(s, em_xor_iter_seek(&s->it, t_ms > s->mint_ms ? t_ms : s->mint_ms), before);
}

static int xsi_next(em_sample_iter_t *self)
{
    xor_sample_iter_t *s = (xor_sample_iter_t *)self;
    if (s->rc_done != EM_OK)
        return s->rc_done;
    uint32_t before = s->it.n_read;
    if (before == 0)
        return xsi_finish(s, em_xor_iter_seek(&s->it, s->mint_ms), before);
    return xsi_finish(s, em_xor_iter_next(&s->it), before);
}

static void xsi_at(const em_sample_iter_t *self, int64_t *t_ms, double *v)
{
    const xor_sample_iter_t *s = (const xor_sample_iter_t *)self;
    em_xor_iter_at(&s->it, t_ms, v);
}

static void xsi_free(em_sample_iter_t *self)
{
    free(self);
}

static const em_sample_iter_ops_t xsi_ops = {xsi_next, xsi_seek, xsi_at, xsi_free};

em_sample_iter_t *em_xor_sample_iter_new(const uint8_t *data, size_t len, size_t n_samples, int64_t mint_ms,
                                         int64_t maxt_ms)
{
    xor_sample_iter_t *s = em_malloc(sizeof(*s));
    s->super.ops = &xsi_ops;
    s->mint_ms = mint_ms;
    s->maxt_ms = maxt_ms;
    s->last_t_ms = 0;
    s->n_returned = 0;
    s->rc_done = EM_OK;
    if (n_samples == 0)
        em_xor_iter_init(&s->it, data, len);
    else
        em_xor_iter_init_n(&s->it, data, len, n_samples);
    return &s->super;
}
