/* Fuzz target for the XOR chunk codec (engine/chunk.h).
 *
 * 1. The input as a chunk: every decoding entry point (header count, explicit count, bulk, batches, seek,
 *    the sample-iterator adapter, resuming an encoder) must agree and never read out of bounds.
 *    The input and a copy cut short by as many bytes as its last byte says, decoded as a pair by
 *    em_xor_decode_batch, must each give what em_xor_decode_all gives.
 * 2. The input as samples: 16 bytes per sample (timestamp delta, value bits); encoding them and decoding
 *    must round-trip bit for bit, and the stable prefix must decode to the first samples at every step.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "engine/chunk.h"

#define MAX_SAMPLES 4096

static int64_t g_ts[MAX_SAMPLES], g_ts2[MAX_SAMPLES];
static double g_vs[MAX_SAMPLES], g_vs2[MAX_SAMPLES];
static int64_t g_pair_ts[2][MAX_SAMPLES];
static double g_pair_vs[2][MAX_SAMPLES];

static void die_if(int cond)
{
    if (cond)
        abort();
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | p[i];
    return x;
}

static void decode_as_chunk(const uint8_t *data, size_t size)
{
    int rc;
    size_t n = em_xor_decode_all(data, size, g_ts, g_vs, MAX_SAMPLES, &rc);
    die_if(rc != EM_OK && rc != EM_ECORRUPT);

    /* The iterator sees the same samples and fails at the same place. */
    em_xor_iter_t it;
    em_xor_iter_init(&it, data, size);
    size_t k = 0;
    while (k < MAX_SAMPLES && (rc = em_xor_iter_next(&it)) == EM_OK) {
        int64_t t;
        double v;
        em_xor_iter_at(&it, &t, &v);
        die_if(k >= n || t != g_ts[k] || memcmp(&v, &g_vs[k], sizeof(v)) != 0);
        k++;
    }
    die_if(k != n);

    /* Odd-sized batches from an explicit count. */
    size_t want = size >= 3 ? data[size - 1] : 7;
    em_xor_iter_init_n(&it, data, size, want);
    k = 0;
    size_t step = 1;
    for (;;) {
        size_t got = em_xor_iter_next_n(&it, g_ts2 + k, g_vs2 + k,
                                        step < MAX_SAMPLES - k ? step : MAX_SAMPLES - k, &rc);
        k += got;
        if (rc != EM_OK || k >= MAX_SAMPLES)
            break;
        step = step % 13 + 2;
    }
    die_if(k > want);

    /* Seek, then the adapter, must not crash either way. */
    em_xor_iter_init(&it, data, size);
    int64_t target = n ? g_ts[n / 2] : 0;
    rc = em_xor_iter_seek(&it, target);
    die_if(n && rc == EM_OK && it.t_ms < target);
    int64_t hi = target > INT64_MAX - 60000 ? INT64_MAX : target + 60000;
    em_sample_iter_t *si = em_xor_sample_iter_new(data, size, 0, target, hi);
    for (int i = 0; i < 200 && em_sample_iter_next(si) == EM_OK; i++) {
        int64_t t;
        double v;
        em_sample_iter_at(si, &t, &v);
        die_if(t < target || t > hi);
    }
    em_sample_iter_free(si);

    /* Resuming an encoder on the input, then appending, keeps it decodable. */
    size_t cap = size + EM_XOR_MAX_SAMPLE_BYTES * 2;
    uint8_t *buf = em_malloc(cap);
    memcpy(buf, data, size);
    em_xor_enc_t e;
    if (em_xor_enc_resume(&e, buf, size, cap) == EM_OK && em_xor_enc_num_samples(&e) < EM_XOR_MAX_SAMPLES) {
        size_t before = em_xor_enc_num_samples(&e);
        die_if(em_xor_enc_append(&e, 42, 1.5) != EM_OK);
        size_t m = em_xor_decode_all(buf, em_xor_enc_bytes(&e), NULL, NULL, MAX_SAMPLES, &rc);
        die_if(rc != EM_OK || m != (before + 1 < MAX_SAMPLES ? before + 1 : MAX_SAMPLES));
    }
    free(buf);
}

static void encode_from_input(const uint8_t *data, size_t size)
{
    size_t n = size / 16;
    if (n == 0)
        return;
    if (n > 512)
        n = 512;
    size_t cap = EM_XOR_MIN_CAP + n * 20;
    uint8_t *buf = em_malloc(cap);
    em_xor_enc_t e;
    em_xor_enc_init(&e, buf, cap);
    int64_t t = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t d = le64(data + 16 * i);
        /* mostly small deltas, sometimes anything */
        if ((d & 3) != 0)
            d = (d >> 2) % 100000;
        t = (int64_t)((uint64_t)t + d);
        uint64_t vb = le64(data + 16 * i + 8);
        double v;
        memcpy(&v, &vb, sizeof(v));
        g_ts2[i] = t;
        g_vs2[i] = v;
        die_if(em_xor_enc_append(&e, t, v) != EM_OK);

        size_t sb;
        size_t k = em_xor_enc_stable_samples(&e, &sb);
        die_if(k > i + 1 || i + 1 - k > 4 || sb > em_xor_enc_bytes(&e));
        uint8_t *copy = em_malloc(sb);
        memcpy(copy, buf, sb);
        em_xor_iter_t it;
        em_xor_iter_init_n(&it, copy, sb, k);
        int rc;
        size_t got = em_xor_iter_next_n(&it, g_ts, g_vs, k, &rc);
        die_if(got != k || (k && rc != EM_OK));
        for (size_t j = 0; j < k; j++)
            die_if(g_ts[j] != g_ts2[j] || memcmp(&g_vs[j], &g_vs2[j], sizeof(double)) != 0);
        free(copy);
    }
    size_t len = em_xor_enc_bytes(&e);
    uint8_t *exact = em_malloc(len);
    memcpy(exact, buf, len);
    int rc;
    size_t got = em_xor_decode_all(exact, len, g_ts, g_vs, MAX_SAMPLES, &rc);
    die_if(rc != EM_OK || got != n);
    for (size_t j = 0; j < n; j++)
        die_if(g_ts[j] != g_ts2[j] || memcmp(&g_vs[j], &g_vs2[j], sizeof(double)) != 0);
    free(exact);
    free(buf);
}

/* The input and a shortened copy decoded in one batch; heap copies so that an overread is caught. */
static void decode_as_pair(const uint8_t *data, size_t size)
{
    size_t cut = size ? size - data[size - 1] % (size + 1) : 0;
    uint8_t *part[2] = {em_malloc(size + 1), em_malloc(cut + 1)};
    size_t len[2] = {size, cut};
    memcpy(part[0], data, size);
    memcpy(part[1], data, cut);
    em_xor_decode_job_t jobs[2];
    for (int j = 0; j < 2; j++)
        jobs[j] = (em_xor_decode_job_t){part[j], len[j], g_pair_ts[j], g_pair_vs[j], MAX_SAMPLES, 0, 0};
    em_xor_decode_batch(jobs, 2);
    for (int j = 0; j < 2; j++) {
        int rc;
        size_t n = em_xor_decode_all(part[j], len[j], g_ts, g_vs, MAX_SAMPLES, &rc);
        die_if(jobs[j].n != n || jobs[j].rc != rc);
        die_if(memcmp(g_ts, g_pair_ts[j], n * sizeof(*g_ts)) != 0);
        die_if(memcmp(g_vs, g_pair_vs[j], n * sizeof(*g_vs)) != 0);
    }
    free(part[0]);
    free(part[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_as_chunk(data, size);
    decode_as_pair(data, size);
    encode_from_input(data, size);
    return 0;
}
