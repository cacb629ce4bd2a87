/* em_xor_decode_batch against em_xor_decode_all: every job must get exactly what one call per chunk gives
 * (samples bit for bit, count, code), whatever the mix of kinds, lengths, limits and damage. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "common/rng.h"
#include "engine/chunk.h"

static double bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, 8);
    return v;
}

enum { KIND_CONST, KIND_COUNTER, KIND_GAUGE, KIND_RANDOM_BITS, KIND_SPECIALS, KIND_WIDE_DODS, KIND_N };

/* One sample of a series of the given kind, after (*t, *v). */
static void next_sample(int kind, int64_t *t, uint64_t *v)
{
    static const uint64_t specials[] = {
        EM_STALE_NAN_BITS,     0x7ff8000000000000ull, 0xfff8000000000123ull,
        0x7ff0000000000001ull, 0x7ff0000000000000ull, 0xfff0000000000000ull,
        0x8000000000000000ull, 0x0000000000000001ull, 0x7fefffffffffffffull,
    };
    *t += 15000 + (int64_t)(rng() % 7) - 3;
    switch (kind) {
    case KIND_CONST:
        break;
    case KIND_COUNTER: {
        double d = bitsd(*v) + (double)(rng() % 100000) / 100.0;
        memcpy(v, &d, 8);
        break;
    }
    case KIND_GAUGE: {
        double d = (double)(rng() % 400) / 300.0;
        memcpy(v, &d, 8);
        break;
    }
    case KIND_RANDOM_BITS:
        *v = rng();
        break;
    case KIND_SPECIALS:
        *v = specials[rng() % EM_ARRAY_LEN(specials)];
        break;
    case KIND_WIDE_DODS: /* every dod bucket, including the 64-bit one */
    default:
        *t += (int64_t)(rng() % 4 == 0 ? rng() % 2000000 : rng() % 40000) - 10000;
        if (rng() % 50 == 0)
            *t += (int64_t)(rng() >> 20);
        *v ^= rng() & 0xffff0;
        break;
    }
}

/* A chunk of n samples of the kind; exact-size heap copy. */
static uint8_t *make_chunk(int kind, size_t n, size_t *len)
{
    size_t cap = EM_XOR_MIN_CAP + n * 24 + 64;
    uint8_t *buf = em_malloc(cap);
    em_xor_enc_t e;
    em_xor_enc_init(&e, buf, cap);
    int64_t t = 1699999200000 + (int64_t)(rng() % 100000);
    uint64_t v;
    double d = (double)(rng() % 1000);
    memcpy(&v, &d, 8);
    for (size_t i = 0; i < n; i++) {
        next_sample(kind, &t, &v);
        cr_assert_eq(em_xor_enc_append(&e, t, bitsd(v)), EM_OK);
    }
    *len = em_xor_enc_bytes(&e);
    return buf;
}

/* Decode jobs[0, n) with the batch and, into separate buffers, one chunk at a time; compare. */
static void check_batch(em_xor_decode_job_t *jobs, size_t n, const char *what)
{
    em_xor_decode_batch(jobs, n);
    for (size_t j = 0; j < n; j++) {
        const em_xor_decode_job_t *b = &jobs[j];
        size_t m = b->max ? b->max : 1;
        int64_t *ts = em_malloc(m * sizeof(*ts));
        double *vs = em_malloc(m * sizeof(*vs));
        int rc = -12345;
        size_t got = em_xor_decode_all(b->data, b->len, ts, vs, b->max, &rc);
        cr_assert_eq(b->n, got, "%s: job %zu: batch decoded %zu samples, one call %zu", what, j, b->n, got);
        cr_assert_eq(b->rc, rc, "%s: job %zu: batch code %d, one call %d", what, j, b->rc, rc);
        for (size_t i = 0; i < got; i++) {
            if (b->ts_ms)
                cr_assert_eq(b->ts_ms[i], ts[i], "%s: job %zu sample %zu: t %" PRId64 " vs %" PRId64, what, j,
                             i, b->ts_ms[i], ts[i]);
            if (b->vs)
                cr_assert_eq(memcmp(&b->vs[i], &vs[i], 8), 0, "%s: job %zu sample %zu: value bits differ",
                             what, j, i);
        }
        free(ts);
        free(vs);
    }
}

typedef struct {
    uint8_t *data;
    size_t len;
    int64_t *ts;
    double *vs;
} owned_t;

static em_xor_decode_job_t job_for(owned_t *o, size_t max)
{
    size_t m = max ? max : 1;
    o->ts = em_malloc(m * sizeof(*o->ts));
    o->vs = em_malloc(m * sizeof(*o->vs));
    return (em_xor_decode_job_t){o->data, o->len, o->ts, o->vs, max, 999, -999};
}

static void owned_free(owned_t *o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(o[i].data);
        free(o[i].ts);
        free(o[i].vs);
    }
}

Test(engine_chunk_batch, matches_one_call_per_chunk_for_all_kinds_and_differing_lengths)
{
    static const size_t lens[] = {0, 1, 2, 3, 4, 7, 33, 119, 120, 121, 250, 1200};
    enum { N_JOBS = 9 };
    for (uint64_t seed = 1; seed <= 60; seed++) {
        rng_seed(seed);
        owned_t o[N_JOBS];
        em_xor_decode_job_t jobs[N_JOBS];
        size_t n_jobs = 1 + (size_t)(rng() % N_JOBS); /* odd counts leave one chunk unpaired */
        for (size_t j = 0; j < n_jobs; j++) {
            size_t n = lens[rng() % EM_ARRAY_LEN(lens)];
            o[j].data = make_chunk((int)(rng() % KIND_N), n, &o[j].len);
            jobs[j] = job_for(&o[j], n);
        }
        char what[64];
        snprintf(what, sizeof(what), "seed %" PRIu64, seed);
        check_batch(jobs, n_jobs, what);
        owned_free(o, n_jobs);
    }
}

Test(engine_chunk_batch, stale_markers_and_nan_payloads_survive_bit_for_bit)
{
    rng_seed(7);
    owned_t o[2];
    em_xor_decode_job_t jobs[2];
    for (size_t j = 0; j < 2; j++) {
        o[j].data = make_chunk(KIND_SPECIALS, 200 + 37 * j, &o[j].len);
        jobs[j] = job_for(&o[j], 200 + 37 * j);
    }
    check_batch(jobs, 2, "specials");
    size_t stale = 0;
    for (size_t i = 0; i < jobs[0].n; i++)
        stale += em_is_stale_nan(jobs[0].vs[i]);
    cr_assert_gt(stale, 0, "the series has stale markers");
    owned_free(o, 2);
}

Test(engine_chunk_batch, max_below_the_count_stops_each_job_at_its_own_limit)
{
    static const size_t maxes[] = {0, 1, 2, 3, 50, 119, 120};
    for (size_t a = 0; a < EM_ARRAY_LEN(maxes); a++) {
        for (size_t b = 0; b < EM_ARRAY_LEN(maxes); b++) {
            rng_seed(100 + a * 10 + b);
            owned_t o[2];
            em_xor_decode_job_t jobs[2];
            o[0].data = make_chunk(KIND_COUNTER, 120, &o[0].len);
            o[1].data = make_chunk(KIND_GAUGE, 120, &o[1].len);
            jobs[0] = job_for(&o[0], maxes[a]);
            jobs[1] = job_for(&o[1], maxes[b]);
            char what[64];
            snprintf(what, sizeof(what), "max %zu and %zu", maxes[a], maxes[b]);
            check_batch(jobs, 2, what);
            cr_assert_eq(jobs[0].n, maxes[a]);
            cr_assert_eq(jobs[1].n, maxes[b]);
            owned_free(o, 2);
        }
    }
}

Test(engine_chunk_batch, empty_short_and_one_sample_chunks)
{
    static const uint8_t empty[] = {0, 0}, one_byte[] = {0};
    owned_t o[2];
    rng_seed(3);
    o[0].data = make_chunk(KIND_COUNTER, 1, &o[0].len);
    o[1].data = make_chunk(KIND_COUNTER, 120, &o[1].len);
    em_xor_decode_job_t jobs[6];
    jobs[0] = job_for(&o[0], 1);
    jobs[1] = job_for(&o[1], 120);
    int64_t ts[4];
    double vs[4];
    jobs[2] = (em_xor_decode_job_t){empty, sizeof(empty), ts, vs, 4, 0, 0};
    jobs[3] = (em_xor_decode_job_t){one_byte, sizeof(one_byte), ts, vs, 4, 0, 0};
    jobs[4] = (em_xor_decode_job_t){NULL, 0, ts, vs, 4, 0, 0};
    jobs[5] = (em_xor_decode_job_t){empty, sizeof(empty), ts, vs, 0, 0, 0};
    check_batch(jobs, 6, "empty and short");
    cr_assert_eq(jobs[0].n, 1);
    cr_assert_eq(jobs[1].n, 120);
    cr_assert_eq(jobs[2].n, 0);
    cr_assert_eq(jobs[2].rc, EM_OK);
    cr_assert_eq(jobs[3].rc, EM_ECORRUPT);
    cr_assert_eq(jobs[4].rc, EM_ECORRUPT);
    em_xor_decode_batch(NULL, 0); /* nothing to do */
    owned_free(o, 2);
}

Test(engine_chunk_batch, a_skipped_output_decodes_like_one_call)
{
    rng_seed(11);
    owned_t o[3];
    em_xor_decode_job_t jobs[3];
    for (size_t j = 0; j < 3; j++) {
        o[j].data = make_chunk(KIND_COUNTER, 150, &o[j].len);
        jobs[j] = job_for(&o[j], 150);
    }
    jobs[0].vs = NULL;
    jobs[2].ts_ms = NULL;
    check_batch(jobs, 3, "skipped outputs");
    owned_free(o, 3);
}

/* Truncation at every length and flipped bits: the damaged chunk fails alone, at the same sample as one
 * call finds, and its partner (before or after it in the pair) still decodes in full. */
Test(engine_chunk_batch, corrupt_chunk_fails_only_its_own_job)
{
    rng_seed(21);
    size_t good_len, bad_len;
    uint8_t *good = make_chunk(KIND_COUNTER, 130, &good_len);
    uint8_t *bad = make_chunk(KIND_WIDE_DODS, 120, &bad_len);
    int64_t ts[2][130];
    double vs[2][130];
    size_t n_corrupt = 0;
    for (size_t cut = 0; cut <= bad_len + 1; cut++) {
        for (int flip = 0; flip < 2; flip++) {
            uint8_t *copy = em_malloc(bad_len + 1);
            memcpy(copy, bad, bad_len);
            size_t len = cut <= bad_len ? cut : bad_len;
            if (flip && len > 4)
                copy[2 + rng() % (len - 2)] ^= (uint8_t)(1u << (rng() % 8));
            /* exact-size copy, so reading past its end is caught by the address sanitizer */
            uint8_t *exact = em_malloc(len ? len : 1);
            memcpy(exact, copy, len);
            for (int order = 0; order < 2; order++) {
                em_xor_decode_job_t jobs[2];
                jobs[order] = (em_xor_decode_job_t){exact, len, ts[order], vs[order], 130, 0, 0};
                jobs[1 - order] =
                    (em_xor_decode_job_t){good, good_len, ts[1 - order], vs[1 - order], 130, 0, 0};
                char what[64];
                snprintf(what, sizeof(what), "cut %zu, flip %d, order %d", cut, flip, order);
                check_batch(jobs, 2, what);
                cr_assert_eq(jobs[1 - order].rc, EM_OK, "%s", what);
                cr_assert_eq(jobs[1 - order].n, 130, "%s", what);
                n_corrupt += jobs[order].rc == EM_ECORRUPT;
            }
            free(exact);
            free(copy);
        }
    }
    cr_assert_gt(n_corrupt, bad_len, "truncated chunks were reported corrupt");
    free(good);
    free(bad);
}
