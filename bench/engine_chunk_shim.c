/* C side of bench/engine_chunk.cc: builds realistic series, encodes them into 120-sample XOR chunks and
 * times the codec's entry points over all of them.
 *
 * The data follows node_exporter as scraped by Prometheus: a 15 s interval with a few milliseconds of
 * jitter, and values of the kinds in /work/shared/BASELINE.md: float counters with 0.01 resolution,
 * integer counters, float gauges, integer gauges unchanged in 30 % of scrapes, constants, and a mix of
 * all of them in BASELINE's proportions. Fixed seeds: every run sees the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "engine/chunk.h"

#define SAMPLES_PER_CHUNK 120
/* Chunks per em_xor_decode_batch call: a series' chunks over a few hours, as a merge or a compaction
 * decodes them. */
#define BATCH_CHUNKS 8

enum { KIND_COUNTER, KIND_INT_COUNTER, KIND_GAUGE, KIND_INT_GAUGE, KIND_CONST, KIND_MIX, KIND_N };

typedef struct bench_chunks {
    size_t n_chunks;
    int64_t *ts; /* n_chunks * SAMPLES_PER_CHUNK source samples */
    double *vs;
    uint8_t **data; /* encoded chunks */
    size_t *len;
    size_t total_bytes;
    uint8_t *scratch; /* encoder buffer */
    int64_t out_ts[SAMPLES_PER_CHUNK];
    double out_vs[SAMPLES_PER_CHUNK];
    int64_t batch_ts[BATCH_CHUNKS][SAMPLES_PER_CHUNK]; /* outputs of one em_xor_decode_batch call */
    double batch_vs[BATCH_CHUNKS][SAMPLES_PER_CHUNK];
} bench_chunks_t;

static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static int pick_mix_kind(void)
{
    /* BASELINE.md: float counters 36 %, integer counters 22 %, rare counters 10 %, integer gauges 24 %,
     * float gauges 1.4 %, constants 7 % (rare counters are integer counters that seldom move). */
    unsigned r = (unsigned)(rng() % 1000);
    if (r < 360)
        return KIND_COUNTER;
    if (r < 680)
        return KIND_INT_COUNTER;
    if (r < 920)
        return KIND_INT_GAUGE;
    if (r < 934)
        return KIND_GAUGE;
    return KIND_CONST;
}

static void gen_chunk(int kind, int64_t *ts, double *vs)
{
    int64_t t = 1700000000000 + (int64_t)(rng() % 15000);
    double v = (double)(rng() % 100000) / 100.0;
    bool rare = rng() % 3 == 0;
    for (size_t i = 0; i < SAMPLES_PER_CHUNK; i++) {
        t += 15000 + (int64_t)(rng() % 5) - 2;
        switch (kind) {
        case KIND_COUNTER: /* e.g. node_cpu_seconds_total: 0.01 s resolution */
            v = (double)(int64_t)(v * 100.0 + 0.5 + (double)(rng() % 1500)) / 100.0;
            break;
        case KIND_INT_COUNTER: /* e.g. bytes or packets; a third of them rarely move */
            if (!rare || rng() % 20 == 0)
                v += (double)(rng() % 100000);
            break;
        case KIND_GAUGE: /* e.g. node_load1 */
            v = (double)(rng() % 400) / 100.0 + 0.01;
            v = v / 3.0;
            break;
        case KIND_INT_GAUGE: /* e.g. node_memory_MemFree_bytes in pages, unchanged in 30 % of scrapes */
            if (rng() % 10 >= 3)
                v = (double)(4096 * (200000 + (int64_t)(rng() % 50000)));
            break;
        case KIND_CONST:
        default:
            break;
        }
        ts[i] = t;
        vs[i] = v;
    }
}

bench_chunks_t *bench_chunks_new(int kind, size_t n_chunks)
{
    bench_chunks_t *b = em_calloc(1, sizeof(*b));
    rng_state = 0x1234567u + (uint64_t)kind;
    b->n_chunks = n_chunks;
    b->ts = em_malloc(n_chunks * SAMPLES_PER_CHUNK * sizeof(*b->ts));
    b->vs = em_malloc(n_chunks * SAMPLES_PER_CHUNK * sizeof(*b->vs));
    b->data = em_malloc(n_chunks * sizeof(*b->data));
    b->len = em_malloc(n_chunks * sizeof(*b->len));
    size_t cap = EM_XOR_MIN_CAP + SAMPLES_PER_CHUNK * 20;
    b->scratch = em_malloc(cap);
    for (size_t c = 0; c < n_chunks; c++) {
        int k = kind == KIND_MIX ? pick_mix_kind() : kind;
        int64_t *ts = b->ts + c * SAMPLES_PER_CHUNK;
        double *vs = b->vs + c * SAMPLES_PER_CHUNK;
        gen_chunk(k, ts, vs);
        em_xor_enc_t e;
        em_xor_enc_init(&e, b->scratch, cap);
        for (size_t i = 0; i < SAMPLES_PER_CHUNK; i++)
            if (em_xor_enc_append(&e, ts[i], vs[i]) != EM_OK)
                abort();
        b->len[c] = em_xor_enc_bytes(&e);
        b->data[c] = em_malloc(b->len[c]);
        memcpy(b->data[c], b->scratch, b->len[c]);
        b->total_bytes += b->len[c];
    }
    return b;
}

void bench_chunks_free(bench_chunks_t *b)
{
    for (size_t c = 0; c < b->n_chunks; c++)
        free(b->data[c]);
    free(b->data);
    free(b->len);
    free(b->ts);
    free(b->vs);
    free(b->scratch);
    free(b);
}

size_t bench_chunks_samples(const bench_chunks_t *b)
{
    return b->n_chunks * SAMPLES_PER_CHUNK;
}

double bench_chunks_bytes_per_sample(const bench_chunks_t *b)
{
    return (double)b->total_bytes / (double)bench_chunks_samples(b);
}

/* Encode every chunk again; returns the bytes produced. */
size_t bench_chunks_encode(bench_chunks_t *b)
{
    size_t total = 0, cap = EM_XOR_MIN_CAP + SAMPLES_PER_CHUNK * 20;
    for (size_t c = 0; c < b->n_chunks; c++) {
        const int64_t *ts = b->ts + c * SAMPLES_PER_CHUNK;
        const double *vs = b->vs + c * SAMPLES_PER_CHUNK;
        em_xor_enc_t e;
        em_xor_enc_init(&e, b->scratch, cap);
        for (size_t i = 0; i < SAMPLES_PER_CHUNK; i++)
            em_xor_enc_append(&e, ts[i], vs[i]);
        total += em_xor_enc_bytes(&e);
    }
    return total;
}

/* Decode every chunk with next()/at(); returns a checksum so nothing is optimised away. */
uint64_t bench_chunks_decode_iter(bench_chunks_t *b)
{
    uint64_t sum = 0;
    for (size_t c = 0; c < b->n_chunks; c++) {
        em_xor_iter_t it;
        em_xor_iter_init(&it, b->data[c], b->len[c]);
        while (em_xor_iter_next(&it) == EM_OK) {
            int64_t t;
            double v;
            em_xor_iter_at(&it, &t, &v);
            uint64_t vb;
            memcpy(&vb, &v, sizeof(vb));
            sum += (uint64_t)t ^ vb;
        }
    }
    return sum;
}

/* Decode every chunk through the em_sample_iter_t adapter (what queries get from storage). */
uint64_t bench_chunks_decode_sample_iter(bench_chunks_t *b)
{
    uint64_t sum = 0;
    for (size_t c = 0; c < b->n_chunks; c++) {
        em_sample_iter_t *it = em_xor_sample_iter_new(b->data[c], b->len[c], 0, INT64_MIN, INT64_MAX);
        while (em_sample_iter_next(it) == EM_OK) {
            int64_t t;
            double v;
            em_sample_iter_at(it, &t, &v);
            uint64_t vb;
            memcpy(&vb, &v, sizeof(vb));
            sum += (uint64_t)t ^ vb;
        }
        em_sample_iter_free(it);
    }
    return sum;
}

/* Decode every chunk with em_xor_decode_all into a reused buffer. */
uint64_t bench_chunks_decode_bulk(bench_chunks_t *b)
{
    uint64_t sum = 0;
    for (size_t c = 0; c < b->n_chunks; c++) {
        int rc;
        size_t n = em_xor_decode_all(b->data[c], b->len[c], b->out_ts, b->out_vs, SAMPLES_PER_CHUNK, &rc);
        uint64_t vb;
        memcpy(&vb, &b->out_vs[n - 1], sizeof(vb));
        sum += (uint64_t)b->out_ts[n - 1] ^ vb ^ n;
    }
    return sum;
}

/* Decode every chunk with em_xor_decode_batch, BATCH_CHUNKS at a time (two chunks interleaved). */
uint64_t bench_chunks_decode_batch(bench_chunks_t *b)
{
    uint64_t sum = 0;
    em_xor_decode_job_t jobs[BATCH_CHUNKS];
    for (size_t c0 = 0; c0 < b->n_chunks; c0 += BATCH_CHUNKS) {
        size_t k = b->n_chunks - c0 < BATCH_CHUNKS ? b->n_chunks - c0 : BATCH_CHUNKS;
        for (size_t j = 0; j < k; j++)
            jobs[j] = (em_xor_decode_job_t){
                b->data[c0 + j], b->len[c0 + j], b->batch_ts[j], b->batch_vs[j], SAMPLES_PER_CHUNK, 0, 0};
        em_xor_decode_batch(jobs, k);
        for (size_t j = 0; j < k; j++) {
            size_t n = jobs[j].n;
            uint64_t vb;
            memcpy(&vb, &b->batch_vs[j][n - 1], sizeof(vb));
            sum += (uint64_t)b->batch_ts[j][n - 1] ^ vb ^ n;
        }
    }
    return sum;
}

/* The effective clock: 'n' dependent adds take n cycles (one per cycle on any x86-64 of this decade),
 * so n / elapsed time is the frequency the core ran at. Returns a value so the loop is kept. */
uint64_t bench_clock_probe(uint64_t n)
{
    uint64_t x = n;
    for (uint64_t i = 0; i < n; i++)
        __asm__ volatile("add $1, %0" : "+r"(x));
    return x;
}
