/* Unit tests of the XOR chunk codec (engine/chunk.h). Every decode runs on an exact-size heap copy of
 * the chunk, so AddressSanitizer reports any read at or past 'len'. Random series use fixed seeds that
 * the failure messages print. */
#include <criterion/criterion.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "common/rng.h"
#include "engine/chunk.h"

typedef struct {
    int64_t t;
    uint64_t v; /* bits */
} smp_t;

static uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

static double bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, 8);
    return v;
}

/* Encode into a roomy buffer and return an exact-size heap copy of the chunk. */
static uint8_t *encode(const smp_t *s, size_t n, size_t *len)
{
    size_t cap = EM_XOR_MIN_CAP + n * 20 + 64;
    uint8_t *buf = em_malloc(cap);
    em_xor_enc_t e;
    em_xor_enc_init(&e, buf, cap);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(em_xor_enc_append(&e, s[i].t, bitsd(s[i].v)), EM_OK, "append %zu", i);
    cr_assert_eq(em_xor_enc_num_samples(&e), n);
    *len = em_xor_enc_bytes(&e);
    uint8_t *out = em_malloc(*len);
    memcpy(out, buf, *len);
    free(buf);
    return out;
}

/* Decode with every entry point and compare with s[0, n). 'what' names the series for messages. */
static void check_decode(const uint8_t *data, size_t len, const smp_t *s, size_t n, const char *what)
{
    em_xor_iter_t it;
    cr_assert_eq(em_xor_num_samples(data, len), n, "%s: header count", what);

    /* one by one */
    em_xor_iter_init(&it, data, len);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(em_xor_iter_next(&it), EM_OK, "%s: next at %zu", what, i);
        int64_t t;
        double v;
        em_xor_iter_at(&it, &t, &v);
        cr_assert_eq(t, s[i].t, "%s: sample %zu: t %" PRId64 " want %" PRId64, what, i, t, s[i].t);
        cr_assert_eq(dbits(v), s[i].v, "%s: sample %zu: v %016" PRIx64 " want %016" PRIx64, what, i, dbits(v),
                     s[i].v);
    }
    cr_assert_eq(em_xor_iter_next(&it), EM_DONE, "%s: end", what);
    cr_assert_eq(em_xor_iter_next(&it), EM_DONE, "%s: end is sticky", what);

    /* bulk */
    int64_t *ts = em_malloc((n + 1) * sizeof(*ts));
    double *vs = em_malloc((n + 1) * sizeof(*vs));
    int rc = -100;
    cr_assert_eq(em_xor_decode_all(data, len, ts, vs, n + 1, &rc), n, "%s: bulk count", what);
    cr_assert_eq(rc, EM_OK, "%s", what);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ts[i], s[i].t, "%s: bulk sample %zu", what, i);
        cr_assert_eq(dbits(vs[i]), s[i].v, "%s: bulk sample %zu", what, i);
    }

    /* batches of varying size, mixed with single steps */
    em_xor_iter_init_n(&it, data, len, n);
    size_t got = 0, step = 1;
    while (got < n) {
        size_t k;
        if (step % 3 == 0) {
            cr_assert_eq(em_xor_iter_next(&it), EM_OK, "%s", what);
            em_xor_iter_at(&it, &ts[got], &vs[got]);
            k = 1;
        } else {
            k = em_xor_iter_next_n(&it, ts + got, vs + got, step, &rc);
            cr_assert_eq(rc, EM_OK, "%s: next_n at %zu", what, got);
            cr_assert_gt(k, 0, "%s", what);
            int64_t t;
            double v;
            em_xor_iter_at(&it, &t, &v);
            cr_assert_eq(t, ts[got + k - 1], "%s: at() after next_n is the last decoded", what);
        }
        got += k;
        step = step * 2 + 1;
        if (step > 64)
            step = 1;
    }
    cr_assert_eq(got, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ts[i], s[i].t, "%s: batched sample %zu", what, i);
        cr_assert_eq(dbits(vs[i]), s[i].v, "%s: batched sample %zu", what, i);
    }
    cr_assert_eq(em_xor_iter_next_n(&it, ts, vs, 4, &rc), 0);
    cr_assert_eq(rc, EM_DONE);
    free(ts);
    free(vs);
}

static void roundtrip(const smp_t *s, size_t n, const char *what)
{
    size_t len;
    uint8_t *c = encode(s, n, &len);
    check_decode(c, len, s, n, what);
    free(c);
}

/* ---- the format, bit by bit ---- */

Test(engine_chunk, xor_encoding_matches_hand_computed_bits)
{
    /* The worked example of chunk.h. */
    smp_t s[] = {{1000, dbits(1.0)}, {16000, dbits(1.0)}, {31001, dbits(2.0)}, {46002, dbits(0.5)}};
    static const uint8_t want[] = {0x00, 0x04, 0xd0, 0x0f, 0x3f, 0xf0, 0x00, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x98, 0x75, 0x40, 0x00, 0xe1, 0x2f, 0xff, 0xaf, 0xfc};
    size_t len;
    uint8_t *c = encode(s, 4, &len);
    cr_assert_eq(len, sizeof(want));
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(c[i], want[i], "byte %zu: %02x, want %02x", i, c[i], want[i]);
    check_decode(c, len, s, 4, "worked example");
    free(c);
}

/* Bits the encoder spends on one appended sample. */
static uint64_t bits_of_append(em_xor_enc_t *e, int64_t t, double v)
{
    uint64_t before = em_xor_enc_bits(e);
    cr_assert_eq(em_xor_enc_append(e, t, v), EM_OK);
    return em_xor_enc_bits(e) - before;
}

Test(engine_chunk, xor_dod_buckets_switch_exactly_at_prometheus_bit_ranges)
{
    /* dod value -> bits for the timestamp (value unchanged: +1 bit) */
    static const struct {
        int64_t dod;
        unsigned bits;
    } cases[] = {
        {0, 1},
        {1, 16},
        {-1, 16},
        {8192, 16},
        {-8191, 16},
        {8193, 20},
        {-8192, 20},
        {65536, 20},
        {-65535, 20},
        {65537, 24},
        {-65536, 24},
        {524288, 24},
        {-524287, 24},
        {524289, 68},
        {-524288, 68},
        {INT64_C(1) << 40, 68},
        {-(INT64_C(1) << 40), 68},
    };
    for (size_t i = 0; i < EM_ARRAY_LEN(cases); i++) {
        uint8_t buf[256];
        em_xor_enc_t e;
        em_xor_enc_init(&e, buf, sizeof(buf));
        int64_t base = 1700000000000, delta = 15000;
        smp_t s[3] = {
            {base, dbits(1.5)}, {base + delta, dbits(1.5)}, {base + 2 * delta + cases[i].dod, dbits(1.5)}};
        bits_of_append(&e, s[0].t, 1.5);
        bits_of_append(&e, s[1].t, 1.5);
        cr_assert_eq(bits_of_append(&e, s[2].t, 1.5), cases[i].bits + 1, "dod %" PRId64, cases[i].dod);
        uint8_t *c = em_malloc(em_xor_enc_bytes(&e));
        memcpy(c, buf, em_xor_enc_bytes(&e));
        check_decode(c, em_xor_enc_bytes(&e), s, 3, "dod bucket");
        free(c);
    }
}

Test(engine_chunk, xor_value_window_rules_match_prometheus)
{
    uint8_t buf[256];
    em_xor_enc_t e;
    em_xor_enc_init(&e, buf, sizeof(buf));
    cr_assert_eq(bits_of_append(&e, 1000, 1.0), 16 + 64); /* varint(1000) is 2 bytes, then 64 raw bits */
    /* 2.0 ^ 1.0 = 0x7ff0...: '11' + 5 + 6 + 11 significant bits; delta 1000 is a 2-byte uvarint */
    cr_assert_eq(bits_of_append(&e, 2000, 2.0), 16 + 2 + 11 + 11);
    /* 0.5 ^ 2.0 = 0x7fe0...: fits the window (leading 1, trailing 52): '10' + 11 bits */
    cr_assert_eq(bits_of_append(&e, 3000, 0.5), 1 + 2 + 11);
    /* same value: '0' */
    cr_assert_eq(bits_of_append(&e, 4000, 0.5), 1 + 1);
    /* 0.5 ^ -0.5 = 0x8000...: leading 0 < 1 -> new window, 1 significant bit */
    cr_assert_eq(bits_of_append(&e, 5000, -0.5), 1 + 2 + 11 + 1);
    /* x = 1: 63 leading zeros clamp to 31, so 33 significant bits */
    cr_assert_eq(bits_of_append(&e, 6000, bitsd(dbits(-0.5) ^ 1)), 1 + 2 + 11 + 33);
    /* x = 0x8000000000000001: 64 significant bits, written as 0 in the 6-bit field */
    uint64_t before = em_xor_enc_bits(&e);
    uint64_t v7 = dbits(-0.5) ^ 1 ^ 0x8000000000000001ull;
    cr_assert_eq(bits_of_append(&e, 7000, bitsd(v7)), 1 + 2 + 11 + 64);
    /* the 6-bit count field, after '0' (dod) '11' and 5 bits of leading, is 0 */
    uint64_t field = before + 1 + 2 + 5;
    unsigned six = 0;
    for (unsigned b = 0; b < 6; b++) {
        uint64_t bit = field + b;
        six = (six << 1) | ((buf[2 + bit / 8] >> (7 - bit % 8)) & 1);
    }
    cr_assert_eq(six, 0, "64 significant bits are stored as 0");
    /* the window is now (0, 0): any change fits it, '10' + 64 bits */
    cr_assert_eq(bits_of_append(&e, 8000, 3.0), 1 + 2 + 64);

    smp_t s[] = {{1000, dbits(1.0)},  {2000, dbits(2.0)},      {3000, dbits(0.5)}, {4000, dbits(0.5)},
                 {5000, dbits(-0.5)}, {6000, dbits(-0.5) ^ 1}, {7000, v7},         {8000, dbits(3.0)}};
    uint8_t *c = em_malloc(em_xor_enc_bytes(&e));
    memcpy(c, buf, em_xor_enc_bytes(&e));
    check_decode(c, em_xor_enc_bytes(&e), s, EM_ARRAY_LEN(s), "window rules");
    free(c);
}

Test(engine_chunk, xor_prometheus2_length_adds_the_spare_byte_only_after_aligned_byte_writes)
{
    uint8_t buf[256];
    em_xor_enc_t e;
    em_xor_enc_init(&e, buf, sizeof(buf));
    cr_assert_eq(em_xor_enc_bytes_prom2(&e), 2, "empty chunk");
    em_xor_enc_append(&e, 0, 1.0); /* varint + 64 bits written as bytes, aligned */
    cr_assert_eq(em_xor_enc_bytes(&e), 2 + 1 + 8);
    cr_assert_eq(em_xor_enc_bytes_prom2(&e), 2 + 1 + 8 + 1);
    em_xor_enc_append(&e, 10, 1.0); /* 1-byte uvarint and a '0' bit: not aligned */
    cr_assert_eq(em_xor_enc_bytes_prom2(&e), em_xor_enc_bytes(&e));
}

/* ---- round trips ---- */

typedef enum { GEN_CONST, GEN_COUNTER, GEN_WALK, GEN_INT_GAUGE, GEN_RANDOM_BITS, GEN_SPECIALS, GEN_N } gen_t;

static void gen_series(gen_t g, uint64_t seed, smp_t *s, size_t n)
{
    rng_seed(seed);
    int64_t t = 1699999200000 + (int64_t)(rng() % 100000);
    double v = (double)(rng() % 1000);
    static const uint64_t specials[] = {
        0x7ff8000000000000ull,                        /* NaN */
        EM_STALE_NAN_BITS,     0x7ff0000000000001ull, /* signalling NaN */
        0xfff8000000000123ull,                        /* negative NaN with payload */
        0x7fffffffffffffffull,                        /* NaN, all payload bits */
        0x7ff0000000000000ull,                        /* +Inf */
        0xfff0000000000000ull,                        /* -Inf */
        0x8000000000000000ull,                        /* -0.0 */
        0x0000000000000000ull,                        /* +0.0 */
        0x0000000000000001ull,                        /* smallest denormal */
        0x000fffffffffffffull,                        /* largest denormal */
        0x8000000000000001ull,                        /* negative denormal */
        0x7fefffffffffffffull,                        /* DBL_MAX */
    };
    for (size_t i = 0; i < n; i++) {
        /* 15 s scrape interval with millisecond jitter, sometimes a missed scrape */
        int64_t jitter = (int64_t)(rng() % 7) - 3;
        t += 15000 + jitter + ((rng() % 50) == 0 ? 15000 : 0);
        switch (g) {
        case GEN_CONST:
            break;
        case GEN_COUNTER:
            v += (double)(rng() % 100000) / 100.0;
            break;
        case GEN_WALK:
            v += ((double)(int64_t)(rng() % 2001) - 1000.0) / 7.0;
            break;
        case GEN_INT_GAUGE:
            if (rng() % 3 == 0)
                v = (double)(rng() % 64);
            break;
        case GEN_RANDOM_BITS:
            v = bitsd(rng());
            break;
        case GEN_SPECIALS:
            v = (rng() % 4 == 0) ? (double)(rng() % 10) : bitsd(specials[rng() % EM_ARRAY_LEN(specials)]);
            break;
        default:
            break;
        }
        s[i].t = t;
        s[i].v = dbits(v);
    }
}

Test(engine_chunk, xor_roundtrip_generated_series_all_kinds_and_lengths)
{
    static const size_t lens[] = {1, 2, 3, 4, 5, 8, 17, 33, 120, 121, 240, 1000};
    static const char *names[] = {"constant",      "counter",     "random walk",
                                  "integer gauge", "random bits", "specials"};
    smp_t *s = em_malloc(1000 * sizeof(*s));
    for (int g = 0; g < GEN_N; g++) {
        for (size_t li = 0; li < EM_ARRAY_LEN(lens); li++) {
            for (uint64_t seed = 1; seed <= 6; seed++) {
                char what[128];
                snprintf(what, sizeof(what), "%s, %zu samples, seed %" PRIu64, names[g], lens[li], seed);
                gen_series((gen_t)g, seed * 1000 + li, s, lens[li]);
                roundtrip(s, lens[li], what);
            }
        }
    }
    free(s);
}

Test(engine_chunk, xor_roundtrip_keeps_stale_nan_bits)
{
    smp_t s[] = {{1000, dbits(1.0)},
                 {2000, EM_STALE_NAN_BITS},
                 {3000, EM_STALE_NAN_BITS},
                 {4000, dbits(2.0)},
                 {5000, EM_STALE_NAN_BITS}};
    size_t len;
    uint8_t *c = encode(s, EM_ARRAY_LEN(s), &len);
    check_decode(c, len, s, EM_ARRAY_LEN(s), "stale markers");
    em_xor_iter_t it;
    em_xor_iter_init(&it, c, len);
    int stale = 0;
    while (em_xor_iter_next(&it) == EM_OK) {
        int64_t t;
        double v;
        em_xor_iter_at(&it, &t, &v);
        stale += em_is_stale_nan(v);
        cr_assert(!em_is_stale_nan(v) || isnan(v));
    }
    cr_assert_eq(stale, 3);
    cr_assert(!em_is_stale_nan(NAN), "an ordinary NaN is not a stale marker");
    free(c);
}

Test(engine_chunk, xor_roundtrip_extreme_and_negative_timestamps)
{
    const int64_t mn = INT64_MIN, mx = INT64_MAX;
    smp_t a[] = {{mn, 0}, {mx, 0}, {mn, 0}, {0, 0},      {mx, 0},
                 {mx, 0}, {-1, 0}, {1, 0},  {mn + 1, 0}, {mx - 1, 0}};
    roundtrip(a, EM_ARRAY_LEN(a), "int64 extremes");
    smp_t b[] = {{-1700000000000, dbits(1)},
                 {-1699999985000, dbits(2)},
                 {-1699999970001, dbits(3)},
                 {-5, dbits(4)},
                 {-4, dbits(5)},
                 {-3, dbits(6)}};
    roundtrip(b, EM_ARRAY_LEN(b), "negative timestamps");
    smp_t c[] = {{5, dbits(1)}, {5, dbits(2)}, {4, dbits(3)}, {4, dbits(3)}, {100, dbits(3)}};
    roundtrip(c, EM_ARRAY_LEN(c), "equal and decreasing timestamps");
}

Test(engine_chunk, xor_roundtrip_irregular_intervals_hit_every_dod_boundary)
{
    static const int64_t dods[] = {0,
                                   1,
                                   -1,
                                   8191,
                                   -8191,
                                   8192,
                                   -8192,
                                   8193,
                                   65535,
                                   -65535,
                                   65536,
                                   -65536,
                                   65537,
                                   524287,
                                   -524287,
                                   524288,
                                   -524288,
                                   524289,
                                   1 << 30,
                                   -(1 << 30),
                                   INT64_C(1) << 50,
                                   -(INT64_C(1) << 50)};
    size_t n = 2 + EM_ARRAY_LEN(dods) * 2;
    smp_t *s = em_malloc(n * sizeof(*s));
    int64_t t = 1700000000000, delta = 15000;
    s[0] = (smp_t){t, dbits(0.25)};
    t += delta;
    s[1] = (smp_t){t, dbits(0.5)};
    size_t k = 2;
    for (size_t i = 0; i < EM_ARRAY_LEN(dods); i++) {
        for (int rep = 0; rep < 2; rep++) { /* the dod, then a 0 dod after it */
            delta += rep == 0 ? dods[i] : 0;
            t = (int64_t)((uint64_t)t + (uint64_t)delta);
            s[k] = (smp_t){t, dbits((double)k)};
            k++;
        }
    }
    roundtrip(s, k, "dod boundaries");
    free(s);
}

/* ---- encoder buffer limits ---- */

Test(engine_chunk, xor_encoder_reports_elimit_and_continues_after_rebase)
{
    enum { N = 500 };
    smp_t s[N];
    gen_series(GEN_RANDOM_BITS, 77, s, N); /* the largest samples */
    size_t cap = EM_XOR_MIN_CAP;
    uint8_t *buf = em_malloc(cap);
    em_xor_enc_t e;
    em_xor_enc_init(&e, buf, cap);
    size_t rebases = 0;
    for (size_t i = 0; i < N; i++) {
        int rc = em_xor_enc_append(&e, s[i].t, bitsd(s[i].v));
        if (rc == EM_ELIMIT) {
            cr_assert_lt(cap - em_xor_enc_bytes(&e), EM_XOR_MAX_SAMPLE_BYTES,
                         "ELIMIT only when short of room");
            cr_assert_eq(em_xor_enc_num_samples(&e), i, "a refused append writes nothing");
            size_t ncap = cap + 40;
            uint8_t *nb = em_malloc(ncap);
            memcpy(nb, buf, em_xor_enc_bytes(&e));
            memset(buf, 0xa5, cap); /* the encoder must not use the old buffer again */
            free(buf);
            em_xor_enc_rebase(&e, nb, ncap);
            buf = nb;
            cap = ncap;
            rebases++;
            rc = em_xor_enc_append(&e, s[i].t, bitsd(s[i].v));
        }
        cr_assert_eq(rc, EM_OK, "append %zu", i);
        cr_assert_leq(em_xor_enc_bytes(&e), cap);
    }
    cr_assert_gt(rebases, 10);
    size_t len;
    uint8_t *ref = encode(s, N, &len);
    cr_assert_eq(em_xor_enc_bytes(&e), len);
    cr_assert_eq(memcmp(ref, buf, len), 0, "rebased encoding equals a one-buffer encoding");
    int64_t t;
    double v;
    em_xor_enc_last(&e, &t, &v);
    cr_assert_eq(t, s[N - 1].t);
    cr_assert_eq(dbits(v), s[N - 1].v);
    free(ref);
    free(buf);
}

Test(engine_chunk, xor_encoder_never_writes_past_cap)
{
    /* Guard bytes right after 'cap' stay untouched whatever the samples. */
    for (uint64_t seed = 1; seed <= 20; seed++) {
        smp_t s[64];
        gen_series((gen_t)(seed % GEN_N), seed, s, 64);
        uint8_t mem[EM_XOR_MIN_CAP + 200];
        size_t cap = EM_XOR_MIN_CAP + (seed * 7) % 150;
        memset(mem, 0x5a, sizeof(mem));
        em_xor_enc_t e;
        em_xor_enc_init(&e, mem, cap);
        for (size_t i = 0; i < 64 && em_xor_enc_append(&e, s[i].t, bitsd(s[i].v)) == EM_OK; i++)
            ;
        for (size_t i = cap; i < sizeof(mem); i++)
            cr_assert_eq(mem[i], 0x5a, "seed %" PRIu64 ": byte %zu past cap %zu written", seed, i, cap);
    }
}

Test(engine_chunk, xor_encoder_stops_at_65535_samples)
{
    size_t cap = 2 + 65535 / 4 + 64;
    uint8_t *buf = em_malloc(cap);
    em_xor_enc_t e;
    em_xor_enc_init(&e, buf, cap);
    for (size_t i = 0; i < 65535; i++)
        cr_assert_eq(em_xor_enc_append(&e, (int64_t)i * 1000, 1.0), EM_OK);
    cr_assert_eq(em_xor_enc_append(&e, 65535000, 1.0), EM_ELIMIT);
    cr_assert_eq(em_xor_num_samples(buf, em_xor_enc_bytes(&e)), 65535);
    em_xor_iter_t it;
    em_xor_iter_init(&it, buf, em_xor_enc_bytes(&e));
    cr_assert_eq(em_xor_iter_seek(&it, 65534000), EM_OK);
    cr_assert_eq(it.n_read, 65535);
    cr_assert_eq(em_xor_iter_next(&it), EM_DONE);
    free(buf);
}

/* ---- concurrent-reader contract ---- */

Test(engine_chunk, xor_stable_prefix_decodes_exactly_and_never_changes)
{
    for (int g = 0; g < GEN_N; g++) {
        enum { N = 300 };
        smp_t s[N];
        uint64_t seed = 4242 + (uint64_t)g;
        gen_series((gen_t)g, seed, s, N);
        size_t cap = EM_XOR_MIN_CAP + N * 20;
        uint8_t *buf = em_malloc(cap);
        uint8_t *snap = em_malloc(cap);
        size_t snap_len = 0, prev_k = 0;
        em_xor_enc_t e;
        em_xor_enc_init(&e, buf, cap);
        for (size_t i = 0; i < N; i++) {
            cr_assert_eq(em_xor_enc_append(&e, s[i].t, bitsd(s[i].v)), EM_OK);
            /* bytes below the previous stable length never change (the count aside) */
            cr_assert_eq(memcmp(buf + 2, snap + 2, snap_len - 2 * (snap_len > 0)), 0,
                         "gen %d seed %" PRIu64 ": append %zu rewrote a stable byte", g, seed, i);
            size_t sb;
            size_t k = em_xor_enc_stable_samples(&e, &sb);
            cr_assert_geq(k, prev_k, "the stable prefix only grows");
            cr_assert_leq(i + 1 - k, 4, "at most 4 samples held back");
            cr_assert_leq(sb, em_xor_enc_bytes(&e));
            cr_assert_geq(sb, snap_len);
            if ((em_xor_enc_bits(&e) & 7) == 0)
                cr_assert_eq(k, i + 1, "an aligned stream is entirely stable");
            /* decode the prefix from an exact-size copy whose count bytes are garbage */
            uint8_t *copy = em_malloc(sb);
            memcpy(copy, buf, sb);
            copy[0] = 0xde;
            copy[1] = 0xad;
            char what[96];
            snprintf(what, sizeof(what), "gen %d seed %" PRIu64 " after %zu appends", g, seed, i + 1);
            em_xor_iter_t it;
            em_xor_iter_init_n(&it, copy, sb, k);
            for (size_t j = 0; j < k; j++) {
                cr_assert_eq(em_xor_iter_next(&it), EM_OK, "%s: sample %zu", what, j);
                int64_t t;
                double v;
                em_xor_iter_at(&it, &t, &v);
                cr_assert_eq(t, s[j].t, "%s", what);
                cr_assert_eq(dbits(v), s[j].v, "%s", what);
            }
            cr_assert_eq(em_xor_iter_next(&it), EM_DONE, "%s", what);
            free(copy);
            memcpy(snap, buf, sb);
            snap_len = sb;
            prev_k = k;
        }
        free(buf);
        free(snap);
    }
}

Test(engine_chunk, xor_init_n_ignores_the_header_count)
{
    smp_t s[10];
    gen_series(GEN_COUNTER, 9, s, 10);
    size_t len;
    uint8_t *c = encode(s, 10, &len);
    c[0] = 0;
    c[1] = 3; /* header says 3 */
    em_xor_iter_t it;
    em_xor_iter_init_n(&it, c, len, 10);
    size_t n = 0;
    while (em_xor_iter_next(&it) == EM_OK)
        n++;
    cr_assert_eq(n, 10);
    em_xor_iter_init(&it, c, len);
    n = 0;
    while (em_xor_iter_next(&it) == EM_OK)
        n++;
    cr_assert_eq(n, 3, "init takes the header's count");
    free(c);
}

/* ---- damaged input ---- */

Test(engine_chunk, xor_truncated_chunks_report_ecorrupt)
{
    for (int g = 0; g < GEN_N; g++) {
        smp_t s[130];
        uint64_t seed = 31 + (uint64_t)g;
        gen_series((gen_t)g, seed, s, 130);
        for (size_t n = 1; n <= 130; n += (n < 8 ? 1 : 29)) {
            size_t len;
            uint8_t *full = encode(s, n, &len);
            for (size_t cut = 0; cut < len; cut++) {
                uint8_t *c = em_malloc(cut ? cut : 1);
                memcpy(c, full, cut);
                em_xor_iter_t it;
                em_xor_iter_init_n(&it, c, cut, n);
                int rc;
                while ((rc = em_xor_iter_next(&it)) == EM_OK)
                    ;
                cr_assert_eq(rc, EM_ECORRUPT, "gen %d seed %" PRIu64 " n %zu cut to %zu of %zu: rc %d", g,
                             seed, n, cut, len, rc);
                cr_assert_eq(em_xor_iter_next(&it), EM_ECORRUPT, "errors are sticky");
                int64_t ts[130];
                double vs[130];
                size_t got = em_xor_decode_all(c, cut, ts, vs, 130, &rc);
                if (cut >= 2) {
                    cr_assert_eq(rc, EM_ECORRUPT, "gen %d n %zu cut %zu: bulk", g, n, cut);
                    cr_assert_lt(got, n);
                    for (size_t j = 0; j < got; j++)
                        cr_assert(ts[j] == s[j].t && dbits(vs[j]) == s[j].v, "good prefix before the damage");
                }
                free(c);
            }
            free(full);
        }
    }
}

Test(engine_chunk, xor_impossible_window_is_ecorrupt)
{
    /* sample 0: t=0 (varint 00), v=0.0; sample 1: delta 1, then '11' lead=31 sig=63 (31+63 > 64) */
    uint8_t c[] = {0x00,
                   0x02,
                   0x00,
                   0,
                   0,
                   0,
                   0,
                   0,
                   0,
                   0,
                   0,
                   0x01,
                   /* 11 11111 111111 then payload */ 0xff,
                   0xf8,
                   0xff,
                   0xff,
                   0xff,
                   0xff,
                   0xff,
                   0xff,
                   0xff,
                   0xff};
    uint8_t *h = em_malloc(sizeof(c));
    memcpy(h, c, sizeof(c));
    em_xor_iter_t it;
    em_xor_iter_init(&it, h, sizeof(c));
    cr_assert_eq(em_xor_iter_next(&it), EM_OK);
    cr_assert_eq(em_xor_iter_next(&it), EM_ECORRUPT);
    /* the same window in a later sample */
    h[1] = 3;
    h[11] = 0x01;
    h[12] = 0x3f; /* sample 1: value unchanged '0'; sample 2: dod '0', then '11' 1111|1 111111 */
    h[13] = 0xff;
    em_xor_iter_init(&it, h, sizeof(c));
    cr_assert_eq(em_xor_iter_next(&it), EM_OK);
    cr_assert_eq(em_xor_iter_next(&it), EM_OK);
    cr_assert_eq(em_xor_iter_next(&it), EM_ECORRUPT);
    int64_t ts[3];
    double vs[3];
    int rc;
    cr_assert_eq(em_xor_decode_all(h, sizeof(c), ts, vs, 3, &rc), 2);
    cr_assert_eq(rc, EM_ECORRUPT);
    free(h);
}

Test(engine_chunk, xor_short_inputs_are_ecorrupt_not_crashes)
{
    uint8_t *one = em_malloc(1);
    one[0] = 0;
    em_xor_iter_t it;
    em_xor_iter_init(&it, one, 1);
    cr_assert_eq(em_xor_iter_next(&it), EM_ECORRUPT);
    em_xor_iter_init(&it, one, 0);
    cr_assert_eq(em_xor_iter_next(&it), EM_ECORRUPT);
    free(one);
    uint8_t *two = em_malloc(2);
    two[0] = 0;
    two[1] = 0;
    em_xor_iter_init(&it, two, 2);
    cr_assert_eq(em_xor_iter_next(&it), EM_DONE, "an empty chunk has no samples");
    two[1] = 1;
    em_xor_iter_init(&it, two, 2);
    cr_assert_eq(em_xor_iter_next(&it), EM_ECORRUPT);
    free(two);
    /* a varint that never ends */
    uint8_t *v = em_malloc(14);
    memset(v, 0xff, 14);
    v[0] = 0;
    v[1] = 1;
    em_xor_iter_init(&it, v, 14);
    cr_assert_eq(em_xor_iter_next(&it), EM_ECORRUPT);
    free(v);
}

/* ---- seek ---- */

Test(engine_chunk, xor_seek_moves_forward_to_first_sample_at_or_after)
{
    smp_t s[200];
    gen_series(GEN_COUNTER, 5, s, 200);
    size_t len;
    uint8_t *c = encode(s, 200, &len);
    em_xor_iter_t it;
    int64_t t;
    double v;

    em_xor_iter_init(&it, c, len);
    cr_assert_eq(em_xor_iter_seek(&it, INT64_MIN), EM_OK, "seek before the first next() lands on sample 0");
    em_xor_iter_at(&it, &t, &v);
    cr_assert_eq(t, s[0].t);

    cr_assert_eq(em_xor_iter_seek(&it, s[50].t), EM_OK);
    em_xor_iter_at(&it, &t, &v);
    cr_assert_eq(t, s[50].t, "exact hit");
    cr_assert_eq(em_xor_iter_seek(&it, s[50].t), EM_OK, "the current sample qualifies: stay");
    em_xor_iter_at(&it, &t, &v);
    cr_assert_eq(t, s[50].t);
    cr_assert_eq(em_xor_iter_seek(&it, s[10].t), EM_OK, "never backwards");
    em_xor_iter_at(&it, &t, &v);
    cr_assert_eq(t, s[50].t);
    cr_assert_eq(em_xor_iter_seek(&it, s[70].t - 1), EM_OK, "between samples: the next one");
    em_xor_iter_at(&it, &t, &v);
    cr_assert_eq(t, s[70].t);
    cr_assert_eq(dbits(v), s[70].v);
    cr_assert_eq(em_xor_iter_next(&it), EM_OK);
    em_xor_iter_at(&it, &t, &v);
    cr_assert_eq(t, s[71].t, "next() continues after a seek");
    cr_assert_eq(em_xor_iter_seek(&it, s[199].t + 1), EM_DONE);

    em_xor_iter_init(&it, c, len);
    cr_assert_eq(em_xor_iter_seek(&it, s[199].t), EM_OK);
    em_xor_iter_at(&it, &t, &v);
    cr_assert_eq(t, s[199].t);
    cr_assert_eq(em_xor_iter_next(&it), EM_DONE);
    free(c);
}

/* ---- em_sample_iter_t adapter ---- */

static size_t collect(em_sample_iter_t *it, int64_t *ts, size_t max)
{
    size_t n = 0;
    int rc;
    while ((rc = em_sample_iter_next(it)) == EM_OK) {
        cr_assert_lt(n, max);
        double v;
        em_sample_iter_at(it, &ts[n++], &v);
    }
    cr_assert_eq(rc, EM_DONE);
    cr_assert_eq(em_sample_iter_next(it), EM_DONE, "done is sticky");
    return n;
}

Test(engine_chunk, xor_sample_iter_returns_only_samples_in_range)
{
    smp_t s[120];
    gen_series(GEN_WALK, 11, s, 120);
    size_t len;
    uint8_t *c = encode(s, 120, &len);
    int64_t ts[120];

    em_sample_iter_t *it = em_xor_sample_iter_new(c, len, 0, INT64_MIN, INT64_MAX);
    cr_assert_eq(collect(it, ts, 120), 120);
    em_sample_iter_free(it);

    it = em_xor_sample_iter_new(c, len, 0, s[10].t, s[20].t);
    cr_assert_eq(collect(it, ts, 120), 11, "both ends inclusive");
    cr_assert_eq(ts[0], s[10].t);
    cr_assert_eq(ts[10], s[20].t);
    em_sample_iter_free(it);

    it = em_xor_sample_iter_new(c, len, 0, s[10].t + 1, s[20].t - 1);
    cr_assert_eq(collect(it, ts, 120), 9);
    em_sample_iter_free(it);

    it = em_xor_sample_iter_new(c, len, 0, s[119].t + 1, INT64_MAX);
    cr_assert_eq(collect(it, ts, 120), 0);
    em_sample_iter_free(it);

    /* explicit count: a prefix, header ignored */
    it = em_xor_sample_iter_new(c, len, 30, INT64_MIN, INT64_MAX);
    cr_assert_eq(collect(it, ts, 120), 30);
    em_sample_iter_free(it);

    /* seek clamps to mint and stops at maxt */
    it = em_xor_sample_iter_new(c, len, 0, s[40].t, s[60].t);
    cr_assert_eq(em_sample_iter_seek(it, s[5].t), EM_OK);
    double v;
    int64_t t;
    em_sample_iter_at(it, &t, &v);
    cr_assert_eq(t, s[40].t);
    cr_assert_eq(em_sample_iter_seek(it, s[55].t), EM_OK);
    em_sample_iter_at(it, &t, &v);
    cr_assert_eq(t, s[55].t);
    cr_assert_eq(dbits(v), s[55].v);
    cr_assert_eq(em_sample_iter_seek(it, s[61].t), EM_DONE);
    cr_assert_eq(em_sample_iter_next(it), EM_DONE);
    em_sample_iter_free(it);

    /* corrupt data surfaces as an error */
    it = em_xor_sample_iter_new(c, len / 2, 0, INT64_MIN, INT64_MAX);
    int rc;
    while ((rc = em_sample_iter_next(it)) == EM_OK)
        ;
    cr_assert_eq(rc, EM_ECORRUPT);
    em_sample_iter_free(it);
    em_sample_iter_free(NULL);
    free(c);
}

/* ---- resuming ---- */

Test(engine_chunk, xor_resume_continues_identically_to_an_uninterrupted_encoder)
{
    enum { N = 150 };
    for (int g = 0; g < GEN_N; g++) {
        smp_t s[N];
        gen_series((gen_t)g, 600 + (uint64_t)g, s, N);
        size_t ref_len;
        uint8_t *ref = encode(s, N, &ref_len);
        for (size_t k = 2; k < N; k += 37) {
            size_t len;
            uint8_t *part = encode(s, k, &len);
            size_t cap = 2 * ref_len + EM_XOR_MAX_SAMPLE_BYTES;
            uint8_t *buf = em_malloc(cap);
            memcpy(buf, part, len);
            em_xor_enc_t e;
            cr_assert_eq(em_xor_enc_resume(&e, buf, len, cap), EM_OK);
            cr_assert_eq(em_xor_enc_num_samples(&e), k);
            for (size_t i = k; i < N; i++)
                cr_assert_eq(em_xor_enc_append(&e, s[i].t, bitsd(s[i].v)), EM_OK);
            /* Prometheus's quirk only differs while no window was ever opened */
            bool windowed = false;
            for (size_t i = 1; i < k; i++)
                windowed |= s[i].v != s[i - 1].v;
            if (windowed) {
                cr_assert_eq(em_xor_enc_bytes(&e), ref_len, "gen %d resumed at %zu", g, k);
                cr_assert_eq(memcmp(buf, ref, ref_len), 0, "gen %d resumed at %zu", g, k);
            }
            free(part);
            free(buf);
        }
        free(ref);
    }
}

Test(engine_chunk, xor_resume_of_windowless_chunk_reproduces_prometheus_appender_state)
{
    /* Prometheus's Appender() on a 1-sample chunk carries leading = trailing = 0 (not "none"), so the
     * next changed value is written as '10' + 64 bits. */
    uint8_t buf[128];
    em_xor_enc_t e;
    em_xor_enc_init(&e, buf, sizeof(buf));
    em_xor_enc_append(&e, 1000, 1.0);
    size_t len = em_xor_enc_bytes(&e);
    em_xor_enc_t r;
    cr_assert_eq(em_xor_enc_resume(&r, buf, len, sizeof(buf)), EM_OK);
    cr_assert_eq(bits_of_append(&r, 2000, 2.0), 16 + 2 + 64);
    smp_t s[] = {{1000, dbits(1.0)}, {2000, dbits(2.0)}};
    uint8_t *c = em_malloc(em_xor_enc_bytes(&r));
    memcpy(c, buf, em_xor_enc_bytes(&r));
    check_decode(c, em_xor_enc_bytes(&r), s, 2, "resumed windowless");
    free(c);

    /* an empty chunk resumes like a new one */
    em_xor_enc_init(&e, buf, sizeof(buf));
    cr_assert_eq(em_xor_enc_resume(&r, buf, 2, sizeof(buf)), EM_OK);
    bits_of_append(&r, 1000, 1.0);
    cr_assert_eq(bits_of_append(&r, 2000, 2.0), 16 + 2 + 11 + 11);
}

Test(engine_chunk, xor_resume_accepts_prometheus2_spare_byte_and_rejects_garbage)
{
    uint8_t buf[128];
    em_xor_enc_t e, r;
    em_xor_enc_init(&e, buf, sizeof(buf));
    em_xor_enc_append(&e, 1000, 1.0);
    size_t len = em_xor_enc_bytes(&e);
    buf[len] = 0;
    cr_assert_eq(em_xor_enc_resume(&r, buf, len + 1, sizeof(buf)), EM_OK, "2.x spare zero byte");
    cr_assert_eq(em_xor_enc_bytes(&r), len);
    buf[len] = 0;
    buf[len + 1] = 0;
    cr_assert_eq(em_xor_enc_resume(&r, buf, len + 2, sizeof(buf)), EM_ECORRUPT, "two spare bytes");
    buf[len] = 7;
    cr_assert_eq(em_xor_enc_resume(&r, buf, len + 1, sizeof(buf)), EM_ECORRUPT, "non-zero padding byte");
    cr_assert_eq(em_xor_enc_resume(&r, buf, len - 1, sizeof(buf)), EM_ECORRUPT, "truncated");
    cr_assert_eq(em_xor_enc_resume(&r, buf, len, len - 1), EM_EINVAL, "cap below len");
}

Test(engine_chunk, xor_sample_iter_rejects_timestamps_that_do_not_increase)
{
    smp_t s[] = {{1000, dbits(1)}, {2000, dbits(2)}, {2000, dbits(3)}, {3000, dbits(4)}};
    size_t len;
    uint8_t *c = encode(s, 4, &len);
    em_sample_iter_t *it = em_xor_sample_iter_new(c, len, 0, INT64_MIN, INT64_MAX);
    cr_assert_eq(em_sample_iter_next(it), EM_OK);
    cr_assert_eq(em_sample_iter_seek(it, 1000), EM_OK, "staying on the current sample is not a repeat");
    cr_assert_eq(em_sample_iter_next(it), EM_OK);
    cr_assert_eq(em_sample_iter_next(it), EM_ECORRUPT, "a repeated timestamp");
    cr_assert_eq(em_sample_iter_next(it), EM_ECORRUPT, "errors are sticky");
    cr_assert_eq(em_sample_iter_seek(it, 0), EM_ECORRUPT);
    em_sample_iter_free(it);
    free(c);
}

Test(engine_chunk, xor_sample_iter_agrees_with_plain_decoding_across_batches)
{
    enum { N = 300 };
    smp_t s[N];
    gen_series(GEN_COUNTER, 123, s, N);
    size_t len;
    uint8_t *c = encode(s, N, &len);

    /* every sample, in order, with values */
    em_sample_iter_t *it = em_xor_sample_iter_new(c, len, 0, INT64_MIN, INT64_MAX);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(em_sample_iter_next(it), EM_OK, "sample %zu", i);
        int64_t t;
        double v;
        em_sample_iter_at(it, &t, &v);
        cr_assert(t == s[i].t && dbits(v) == s[i].v, "sample %zu", i);
    }
    cr_assert_eq(em_sample_iter_next(it), EM_DONE);
    em_sample_iter_free(it);

    /* seeks of random strides, mixed with next(), against a linear scan */
    rng_seed(99);
    it = em_xor_sample_iter_new(c, len, 0, INT64_MIN, INT64_MAX);
    size_t cur = 0; /* index of the current sample + 1; 0 before the first */
    for (int step = 0; step < 200; step++) {
        int rc;
        size_t want;
        if (rng() % 3 == 0) {
            rc = em_sample_iter_next(it);
            want = cur; /* index of the next sample */
        } else {
            int64_t target = s[0].t + (int64_t)(rng() % (uint64_t)(s[N - 1].t - s[0].t + 30000));
            rc = em_sample_iter_seek(it, target);
            want = cur ? cur - 1 : 0;
            while (want < N && s[want].t < target)
                want++;
        }
        if (want >= N) {
            cr_assert_eq(rc, EM_DONE, "step %d", step);
            break;
        }
        cr_assert_eq(rc, EM_OK, "step %d", step);
        int64_t t;
        double v;
        em_sample_iter_at(it, &t, &v);
        cr_assert(t == s[want].t && dbits(v) == s[want].v, "step %d: at %" PRId64 ", want %" PRId64, step, t,
                  s[want].t);
        cur = want + 1;
    }
    em_sample_iter_free(it);

    /* a damaged chunk: the good samples first, then the error */
    for (size_t cut = len - 1; cut > len - 40; cut -= 7) {
        int64_t ts[N];
        double vs[N];
        int rc;
        size_t good = em_xor_decode_all(c, cut, ts, vs, N, &rc);
        cr_assert_eq(rc, EM_ECORRUPT);
        it = em_xor_sample_iter_new(c, cut, 0, INT64_MIN, INT64_MAX);
        size_t n = 0;
        while ((rc = em_sample_iter_next(it)) == EM_OK)
            n++;
        cr_assert_eq(rc, EM_ECORRUPT, "cut %zu", cut);
        cr_assert_eq(n, good, "cut %zu: %zu samples before the error, bulk decoded %zu", cut, n, good);
        em_sample_iter_free(it);
    }
    free(c);
}
