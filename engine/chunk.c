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

/* ---- samples after the second ----
 *
 * One sample's length decides where the next begins, so decoding is a chain from a sample's first load
 * to the next's; everything else hangs off it. The chain is kept short and branch-free, because the
 * forms of consecutive samples are unpredictable in real data (millisecond jitter flips the dod between
 * '0' and '10'; counters flip values between '10' and '11'):
 *   - the dod form ('0' or '10', the usual two) picks the value's start with a cmov;
 *   - the end of the value is picked from three candidates computed side by side ('0', '10' + window,
 *     '11' + new window);
 *   - the payload read and the timestamp arithmetic are off the chain.
 * Wider dods (missed scrapes, restarts) take a branch to dod_wide. An impossible window (leading +
 * significant bits > 64) leaves 'trail' negative, which the callers check once per sample. */

/* Branch-free selects: compilers turn plain ternaries into branches here (even when told the condition
 * is unpredictable), so on x86-64 the cmovs are written out, one flag test feeding each group. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(EMBER_CHUNK_PORTABLE)
#define SEL_IF_NEG2(cond_, a1, b1, a2, b2)                                                                   \
    __asm__("test %[cc_], %[cc_]\n\tcmovs %[x1], %[y1]\n\tcmovs %[x2], %[y2]"                                \
            : [y1] "+r"(b1), [y2] "+r"(b2)                                                                   \
            : [x1] "r"(a1), [x2] "r"(a2), [cc_] "r"(cond_)                                                   \
            : "cc")
#define SEL_IF_NONNEG2(cond_, a1, b1, a2, b2)                                                                \
    __asm__("test %[cc_], %[cc_]\n\tcmovns %[x1], %[y1]\n\tcmovns %[x2], %[y2]"                              \
            : [y1] "+r"(b1), [y2] "+r"(b2)                                                                   \
            : [x1] "r"(a1), [x2] "r"(a2), [cc_] "r"(cond_)                                                   \
            : "cc")
#define SEL_IF_EQ3(x, k, a1, b1, a2, b2, a3, b3)                                                             \
    __asm__("cmp %[kk], %[xx]\n\tcmove %[x1], %[y1]\n\tcmove %[x2], %[y2]\n\tcmove %[x3], %[y3]"             \
            : [y1] "+r"(b1), [y2] "+r"(b2), [y3] "+r"(b3)                                                    \
            : [x1] "r"(a1), [x2] "r"(a2), [x3] "r"(a3), [xx] "r"(x), [kk] "i"(k)                             \
            : "cc")
#else
#define SEL_IF_NEG2(cond_, a1, b1, a2, b2)                                                                   \
    do {                                                                                                     \
        if ((int64_t)(cond_) < 0)                                                                            \
            (b1) = (a1), (b2) = (a2);                                                                        \
    } while (0)
#define SEL_IF_NONNEG2(cond_, a1, b1, a2, b2)                                                                \
    do {                                                                                                     \
        if ((int64_t)(cond_) >= 0)                                                                           \
            (b1) = (a1), (b2) = (a2);                                                                        \
    } while (0)
#define SEL_IF_EQ3(x, k, a1, b1, a2, b2, a3, b3)                                                             \
    do {                                                                                                     \
        if ((x) == (k))                                                                                      \
            (b1) = (a1), (b2) = (a2), (b3) = (a3);                                                           \
    } while (0)
#endif

typedef struct dstate {
    uint64_t pos; /* bit offset relative to the iterator's base */
    uint64_t t, t_delta, v_bits;
    uint64_t sig, trail; /* XOR window: significant bits and trailing zeros; trail < 0 (signed): corrupt */
} dstate_t;

/* A 17-, 20- or 64-bit dod (w starts with '11'), kept out of line. Sets *used to the bits taken and *wv
 * to >= 13 valid bits of what follows; returns the dod. */
static __attribute__((noinline)) uint64_t dod_wide(const uint8_t *base, uint64_t pos, uint64_t w,
                                                   uint64_t *used, uint64_t *wv)
{
    unsigned pre, sz;
    if (!(w & (1ull << 61))) {
        pre = 3, sz = 17;
    } else if (!(w & (1ull << 60))) {
        pre = 4, sz = 20;
    } else {
        *used = 68;
        *wv = peek57(base, pos + 68);
        return peek64(base, pos + 4);
    }
    *used = pre + sz;
    *wv = w << (pre + sz);
    /* Prometheus reads n bits x and takes x - 2^n when x > 2^(n-1): that is sign_extend(x - 1) + 1. */
    return (uint64_t)(((int64_t)((w << pre) - (1ull << (64 - sz))) >> (64 - sz)) + 1);
}

/* Decode the sample at s->pos. The caller guarantees the reads stay inside base's buffer: the sample
 * starts below fast_end, or base is the padded tail copy. */
static ALWAYS_INLINE void decode_sample(const uint8_t *base, dstate_t *s)
{
    uint64_t pos = s->pos;
    uint64_t w = peek57(base, pos);
    uint64_t p0, wv, dod; /* p0: where the value starts; wv: the bits from there */
    if (LIKELY((w >> 62) != 3)) {
        /* '0': dod 0, one bit; '10': 14-bit dod (the sign_extend(x - 1) + 1 of dod_wide) */
        uint64_t w16 = w << 16, p16 = pos + 16;
        p0 = pos + 1;
        wv = w << 1;
        SEL_IF_NEG2(w, p16, p0, w16, wv);
        dod = (uint64_t)(((int64_t)((w << 2) - (1ull << 50)) >> 50) + 1) & (uint64_t)((int64_t)w >> 63);
    } else {
        uint64_t used, wv_wide; /* separate, so that wv's address never escapes (it would be spilled) */
        dod = dod_wide(base, pos, w, &used, &wv_wide);
        p0 = pos + used;
        wv = wv_wide;
    }
    s->t_delta += dod;
    s->t += s->t_delta;

    /* '0' same | '10' + window bits | '11' + leading (5) + significant count (6, 0 = 64) + bits */
    uint64_t hdr13 = wv >> 51, top2 = wv >> 62;
    uint64_t sig_new_m1 = (hdr13 - 1) & 63;
    uint64_t trail_new = 63 - ((hdr13 >> 6) & 31) - sig_new_m1; /* wraps negative if impossible */
    uint64_t next_new = p0 + 14 + sig_new_m1, sig_new = sig_new_m1 + 1;
    uint64_t sig = s->sig, trail = s->trail;
    uint64_t next = p0 + 2 + sig;
    SEL_IF_EQ3(top2, 3, next_new, next, sig_new, sig, trail_new, trail);
    uint64_t pp = next - sig, same = p0 + 1; /* pp: the window bits; for '0', anything in bounds */
    SEL_IF_NONNEG2(wv, same, next, same, pp);
    /* For '0' the payload is masked off, so it is read the cheap way even when the window is 64 bits
     * wide, as it stays in a series whose value never changes. */
    uint64_t changed = (uint64_t)((int64_t)wv >> 63);
    uint64_t payload;
    if (LIKELY((sig & changed) <= 57))
        payload = peek57(base, pp) >> (64 - sig);
    else
        payload = peek64(base, pp) >> (64 - sig);
    s->v_bits ^= (payload & changed) << (trail & 63);
    s->sig = sig;
    s->trail = trail;
    s->pos = next;
}

/* Decode up to 'max' (>= 1) samples after the second into ts_ms[] and vs[]; the caller has checked they
 * remain. Returns how many were good: fewer than max means the data is corrupt. Inlined into next();
 * iter_run_bulk is the out-of-line copy for batches, whose loop gets the registers to itself. */
/* The loop state of an iterator, and back. */
static ALWAYS_INLINE dstate_t state_load(const em_xor_iter_t *it)
{
    return (dstate_t){
        it->pos, (uint64_t)it->t_ms, it->t_delta, it->v_bits, 64u - it->leading - it->trailing, it->trailing};
}

static ALWAYS_INLINE void state_save(em_xor_iter_t *it, dstate_t s)
{
    it->pos = s.pos;
    it->t_ms = (int64_t)s.t;
    it->t_delta = s.t_delta;
    it->v_bits = s.v_bits;
    s.trail &= 63;
    it->trailing = (uint8_t)s.trail;
    it->leading = (uint8_t)(64u - s.sig - s.trail);
}

/* After decode_sample left s->pos at or past *fast_end or the window impossible: switch to the tail copy
 * when the reader only reached the last bytes. Returns false when the sample is bad (corrupt, or past
 * the end); the caller then stops this stream. */
static ALWAYS_INLINE bool stream_recover(em_xor_iter_t *it, dstate_t *s, const uint8_t **base,
                                         uint64_t *fast_end)
{
    if ((int64_t)s->trail < 0)
        return false;
    it->pos = s->pos;
    if (!iter_reposition(it))
        return false;
    *base = it->base;
    s->pos = it->pos;
    *fast_end = it->fast_end;
    return true;
}

static ALWAYS_INLINE size_t iter_run(em_xor_iter_t *it, int64_t *ts_ms, double *vs, size_t max)
{
    const uint8_t *base = it->base;
    uint64_t fast_end = it->fast_end;
    dstate_t s = state_load(it);
    int64_t *ts = ts_ms, *const ts_end = ts_ms + max;
    double *v_out = vs;
    while (ts < ts_end) {
        decode_sample(base, &s);
        if (UNLIKELY(s.pos >= fast_end || (int64_t)s.trail < 0) && !stream_recover(it, &s, &base, &fast_end))
            break;
        *ts++ = (int64_t)s.t;
        *v_out++ = bits_f64(s.v_bits);
    }
    state_save(it, s);
    return (size_t)(ts - ts_ms);
}

/* CPUs with BMI2 and MOVBE shift by any register and load big-endian in one instruction, which frees
 * registers in this loop; it is also compiled for them and the variant is picked once at load time. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(EMBER_SANITIZED)
#define BULK_FN __attribute__((target_clones("default", "arch=x86-64-v3"))) /* never inlined */
#else
#define BULK_FN __attribute__((noinline))
#endif

static BULK_FN size_t iter_run_bulk(em_xor_iter_t *it, int64_t *ts_ms, double *vs, size_t max)
{
    return iter_run(it, ts_ms, vs, max);
}

/* ---- two chunks at once ----
 *
 * A chunk's samples form one dependency chain (see above), which leaves most of the core idle. Two
 * chunks are independent chains, so decoding them in one loop lets the CPU run both side by side. Each
 * stream keeps its own state and tail switch; the loop stops at the first bad sample of either, and the
 * callers finish the other stream (and whatever remains of the longer chunk) with the one-stream loop. */

/* Decode up to 'max' samples after the second from each of a and b, in step, into their arrays. Sets
 * *got_a and *got_b to the good samples of each. A stream that hit a bad sample gets err EM_ECORRUPT; the
 * other one may also have stopped short of max (after the bad sample's step) and can be continued. */
static BULK_FN void iter_run_pair(em_xor_iter_t *ia, int64_t *ts_a, double *vs_a, em_xor_iter_t *ib,
                                  int64_t *ts_b, double *vs_b, size_t max, size_t *got_a, size_t *got_b)
{
    const uint8_t *base_a = ia->base, *base_b = ib->base;
    uint64_t fast_end_a = ia->fast_end, fast_end_b = ib->fast_end;
    dstate_t a = state_load(ia), b = state_load(ib);
    bool ok_a = true, ok_b = true;
    size_t i;
    for (i = 0; i < max; i++) {
        decode_sample(base_a, &a);
        decode_sample(base_b, &b);
        if (UNLIKELY((a.pos >= fast_end_a) | (b.pos >= fast_end_b) | ((int64_t)(a.trail | b.trail) < 0))) {
            if (a.pos >= fast_end_a || (int64_t)a.trail < 0)
                ok_a = stream_recover(ia, &a, &base_a, &fast_end_a);
            if (b.pos >= fast_end_b || (int64_t)b.trail < 0)
                ok_b = stream_recover(ib, &b, &base_b, &fast_end_b);
            if (!ok_a || !ok_b)
                break;
        }
        ts_a[i] = (int64_t)a.t;
        vs_a[i] = bits_f64(a.v_bits);
        ts_b[i] = (int64_t)b.t;
        vs_b[i] = bits_f64(b.v_bits);
    }
    /* Stopped early: the stream still good has sample i decoded too. */
    size_t n_a = i, n_b = i;
    if (i < max && ok_a) {
        ts_a[i] = (int64_t)a.t;
        vs_a[i] = bits_f64(a.v_bits);
        n_a++;
    }
    if (i < max && ok_b) {
        ts_b[i] = (int64_t)b.t;
        vs_b[i] = bits_f64(b.v_bits);
        n_b++;
    }
    state_save(ia, a);
    state_save(ib, b);
    if (!ok_a)
        ia->err = EM_ECORRUPT;
    if (!ok_b)
        ib->err = EM_ECORRUPT;
    *got_a = n_a;
    *got_b = n_b;
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
    while (left > 0) {
        /* Callers that skip an output still get it decoded, into a scratch array. */
        int64_t ts_tmp[64];
        double vs_tmp[64];
        size_t chunk = left;
        if ((!ts_ms || !vs) && chunk > 64)
            chunk = 64;
        size_t got = iter_run_bulk(it, ts_ms ? ts_ms + k : ts_tmp, vs ? vs + k : vs_tmp, chunk);
        it->n_read += (uint32_t)got;
        k += got;
        if (got < chunk)
            goto corrupt;
        left -= got;
    }
    *rc = k > 0 || max == 0 ? EM_OK : EM_DONE;
    return k;
corrupt:
    it->err = EM_ECORRUPT;
    *rc = EM_ECORRUPT;
    return k;
}

/* The body of em_xor_iter_next, compiled like iter_run_bulk. */
static BULK_FN int iter_step(em_xor_iter_t *it)
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
    int64_t t;
    double v;
    if (iter_run(it, &t, &v, 1) != 1)
        return it->err = EM_ECORRUPT;
    it->n_read++;
    return EM_OK;
}

int em_xor_iter_next(em_xor_iter_t *it)
{
    return iter_step(it);
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

/* One job's first two samples; leaves the iterator at the first sample the loops decode. */
static void job_start(em_xor_decode_job_t *j, em_xor_iter_t *it)
{
    em_xor_iter_init(it, j->data, j->len);
    j->n = em_xor_iter_next_n(it, j->ts_ms, j->vs, j->max < 2 ? j->max : 2, &j->rc);
}

/* Samples left for the loops, or 0 when the job is done or failed. */
static size_t job_left(const em_xor_decode_job_t *j, const em_xor_iter_t *it)
{
    if (j->rc == EM_ECORRUPT || it->err != EM_OK)
        return 0;
    size_t left = it->n_total - it->n_read;
    return j->max - j->n < left ? j->max - j->n : left;
}

/* Whatever the pair loop left of one job, with the one-stream path. */
static void job_finish(em_xor_decode_job_t *j, em_xor_iter_t *it)
{
    int rc;
    if (j->rc == EM_ECORRUPT)
        return;
    j->n += em_xor_iter_next_n(it, j->ts_ms + j->n, j->vs + j->n, j->max - j->n, &rc);
    j->rc = rc == EM_ECORRUPT ? EM_ECORRUPT : EM_OK;
}

static void decode_pair(em_xor_decode_job_t *a, em_xor_decode_job_t *b)
{
    em_xor_iter_t ia, ib;
    job_start(a, &ia);
    job_start(b, &ib);
    size_t left_a = job_left(a, &ia), left_b = job_left(b, &ib);
    size_t common = left_a < left_b ? left_a : left_b;
    if (common > 0) {
        size_t got_a, got_b;
        iter_run_pair(&ia, a->ts_ms + a->n, a->vs + a->n, &ib, b->ts_ms + b->n, b->vs + b->n, common, &got_a,
                      &got_b);
        ia.n_read += (uint32_t)got_a;
        ib.n_read += (uint32_t)got_b;
        a->n += got_a;
        b->n += got_b;
    }
    job_finish(a, &ia);
    job_finish(b, &ib);
}

void em_xor_decode_batch(em_xor_decode_job_t *jobs, size_t n_jobs)
{
    /* Jobs that skip an output take the one-stream path, which decodes into scratch. */
    em_xor_decode_job_t *pending = NULL;
    for (size_t i = 0; i < n_jobs; i++) {
        em_xor_decode_job_t *j = &jobs[i];
        if (!j->ts_ms || !j->vs) {
            j->n = em_xor_decode_all(j->data, j->len, j->ts_ms, j->vs, j->max, &j->rc);
            continue;
        }
        if (!pending) {
            pending = j;
            continue;
        }
        decode_pair(pending, j);
        pending = NULL;
    }
    if (pending)
        pending->n = em_xor_decode_all(pending->data, pending->len, pending->ts_ms, pending->vs, pending->max,
                                       &pending->rc);
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

/* Samples are decoded in batches through the bulk path and handed out from the batch, so a query pays
 * the bulk cost per sample plus a few instructions. */
#define XSI_BATCH 64

typedef struct xor_sample_iter {
    em_sample_iter_t super;
    int64_t mint_ms, maxt_ms;
    uint32_t i, n;  /* the current sample is ts[i - 1]; ts[i..n) are decoded but not yet returned */
    bool started;   /* a sample was returned (ts[i - 1] is valid) */
    int rc_pending; /* what follows the batch: EM_OK (decode more), EM_DONE or EM_ECORRUPT */
    int rc_done;    /* EM_OK while iterating; then what next() and seek() keep returning */
    em_xor_iter_t it;
    int64_t ts[XSI_BATCH];
    double vs[XSI_BATCH];
} xor_sample_iter_t;

/* Decode the next batch (ts[i..n) is used up). Returns EM_OK, or EM_DONE / EM_ECORRUPT (sticky). */
static __attribute__((noinline)) int xsi_refill(xor_sample_iter_t *s)
{
    if (s->rc_pending != EM_OK)
        return s->rc_done = s->rc_pending;
    /* keep the current sample at ts[0] so at() and the order check still see it */
    uint32_t keep = s->started ? 1 : 0;
    if (keep) {
        s->ts[0] = s->ts[s->i - 1];
        s->vs[0] = s->vs[s->i - 1];
    }
    int rc;
    size_t got = em_xor_iter_next_n(&s->it, s->ts + keep, s->vs + keep, XSI_BATCH - keep, &rc);
    s->i = keep;
    s->n = keep + (uint32_t)got;
    if (rc != EM_OK)
        s->rc_pending = rc;
    if (got == 0)
        return s->rc_done = rc == EM_OK ? EM_DONE : rc;
    return EM_OK;
}

/* Step to ts[i], applying the order and range rules. */
/* Make ts[i] available. */
static inline int xsi_fill(xor_sample_iter_t *s)
{
    return s->i < s->n ? EM_OK : xsi_refill(s);
}

static int xsi_take(xor_sample_iter_t *s)
{
    /* Readers rely on strictly ascending time; only a damaged chunk breaks it. */
    if (s->started && s->ts[s->i] <= s->ts[s->i - 1])
        return s->rc_done = EM_ECORRUPT;
    s->i++;
    s->started = true;
    if (s->ts[s->i - 1] > s->maxt_ms)
        return s->rc_done = EM_DONE;
    return EM_OK;
}

static int xsi_seek(em_sample_iter_t *self, int64_t t_ms)
{
    xor_sample_iter_t *s = (xor_sample_iter_t *)self;
    if (t_ms < s->mint_ms)
        t_ms = s->mint_ms;
    if (s->rc_done != EM_OK)
        return s->rc_done;
    if (s->started && s->ts[s->i - 1] >= t_ms)
        return EM_OK;
    for (;;) {
        int rc = xsi_fill(s);
        if (rc != EM_OK)
            return rc;
        if (s->ts[s->i] >= t_ms || (s->started && s->ts[s->i] <= s->ts[s->i - 1]))
            return xsi_take(s);
        s->i++;
        s->started = true;
    }
}

static int xsi_next(em_sample_iter_t *self)
{
    xor_sample_iter_t *s = (xor_sample_iter_t *)self;
    if (!s->started)
        return xsi_seek(self, s->mint_ms);
    if (s->rc_done != EM_OK)
        return s->rc_done;
    int rc = xsi_fill(s);
    return rc != EM_OK ? rc : xsi_take(s);
}

static void xsi_at(const em_sample_iter_t *self, int64_t *t_ms, double *v)
{
    const xor_sample_iter_t *s = (const xor_sample_iter_t *)self;
    *t_ms = s->ts[s->i - 1];
    *v = s->vs[s->i - 1];
}

static void xsi_free(em_sample_iter_t *self)
{
    free(self);
}

static const em_sample_iter_ops_t xsi_ops = {xsi_next, xsi_seek, xsi_at, xsi_free, NULL};

em_sample_iter_t *em_xor_sample_iter_new(const uint8_t *data, size_t len, size_t n_samples, int64_t mint_ms,
                                         int64_t maxt_ms)
{
    xor_sample_iter_t *s = em_malloc(sizeof(*s));
    s->super.ops = &xsi_ops;
    s->mint_ms = mint_ms;
    s->maxt_ms = maxt_ms;
    s->i = s->n = 0;
    s->started = false;
    s->rc_pending = EM_OK;
    s->rc_done = EM_OK;
    if (n_samples == 0)
        em_xor_iter_init(&s->it, data, len);
    else
        em_xor_iter_init_n(&s->it, data, len, n_samples);
    return &s->super;
}
