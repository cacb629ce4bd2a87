/* engine/chunk.h -- Prometheus's XOR ("Gorilla") chunk: encoder, decoder and sample iterator.
 *
 * DESIGN. A chunk holds up to 65535 float samples of one series, compressed as in Facebook's Gorilla
 * paper with Prometheus's millisecond buckets (tsdb/chunkenc/xor.go, tsdb/docs/format/chunks.md). The
 * bytes are exactly Prometheus 3's for the same appends, so chunks move between Ember and Prometheus
 * (block files, remote read) without re-encoding. All bit fields are written most significant bit first.
 * (Prometheus 2.x sometimes ended a chunk with one spare zero byte; see em_xor_enc_bytes_prom2.)
 *
 *     offset   field                          encoding
 *     0        num_samples                    uint16, big-endian; rewritten on every append
 *     2        t0                             signed varint (zig-zag), 1..10 bytes
 *     .        v0                             64 raw bits of the IEEE-754 double
 *     .        t1 - t0                        unsigned varint, 1..10 bytes (still byte-aligned)
 *     .        v1                             varbit_xor against v0 (below)
 *     .        dod(t2), v2, dod(t3), v3 ...   varbit_ts and varbit_xor, no alignment
 *     .        padding                        0..7 zero bits up to the next byte (never a whole byte)
 *
 * varbit_ts, for dod = (t[i] - t[i-1]) - (t[i-1] - t[i-2]), computed with 64-bit wrap-around:
 *     dod == 0                    '0'
 *     -8191   <= dod <= 8192      '10'   + 14 bits two's complement
 *     -65535  <= dod <= 65536     '110'  + 17 bits
 *     -524287 <= dod <= 524288    '1110' + 20 bits
 *     otherwise                   '1111' + 64 bits
 *   (The ranges are Prometheus's bitRange: one more positive than negative value. A decoder reads the n
 *   bits as unsigned x and takes x - 2^n when x > 2^(n-1).)
 *
 * varbit_xor, for x = bits(v[i]) ^ bits(v[i-1]), with a window (leading, trailing) carried along:
 *     x == 0                      '0'
 *     window fits x               '10' + the 64 - leading - trailing bits of x inside the window
 *     otherwise                   '11' + leading (5 bits) + significant count (6 bits, 64 stored as 0)
 *                                      + the significant bits; this becomes the new window
 *   Prometheus's rules, kept exactly: the leading-zero count of x is clamped to 31 (it must fit 5 bits);
 *   "fits" means clz(x) (clamped) >= leading and ctz(x) >= trailing; the encoder starts with leading =
 *   0xff ("no window yet"), so the first non-zero x always opens a window. A decoder starts with
 *   leading = trailing = 0, a 64-bit window.
 *
 * Worked example (the unit test xor_encoding_matches_hand_computed_bits checks these bytes):
 *     (1000, 1.0) (16000, 1.0) (31001, 2.0) (46002, 0.5)  ->
 *     00 04 | d0 0f | 3f f0 00 00 00 00 00 00 | 98 75 | 40 00 e1 2f ff af fc
 *     header  t0=1000 v0=1.0                    delta=15000
 *     then the bits: 0 (v1 same) | 10 00000000000001 (dod 1) | 11 00001 001011 11111111111 (v2: new window,
 *     leading 1, 11 significant) | 0 (dod 0) | 10 11111111110 (v3 reuses the window) | 0 (padding)
 *
 * STALE MARKERS AND NaN. Values are carried as bit patterns and never pass through floating-point
 * arithmetic, so every NaN payload survives, including Prometheus's stale marker (EM_STALE_NAN_BITS).
 *
 * ENCODER AND CONCURRENT READERS. The encoder writes into a buffer the caller owns and never allocates:
 * append returns EM_ELIMIT when the buffer might not hold one more worst-case sample, the caller copies
 * the em_xor_enc_bytes() bytes into a bigger buffer and calls em_xor_enc_rebase(). The encoder keeps no
 * other pointer. An append writes only:
 *     - bytes 0-1 (the sample count), and
 *     - bytes at or after 2 + floor(bits/8) (the partially filled last byte and beyond), up to
 *       EM_XOR_MAX_SAMPLE_BYTES past it, all within 'cap' (bytes past em_xor_enc_bytes() are scratch).
 * So the first em_xor_enc_stable_samples() samples, held in the first 'stable_bytes' bytes, never change
 * again except for the count in bytes 0-1. A reader in another thread may decode them while the writer
 * appends, with em_xor_iter_init_n(data, stable_bytes, n_stable), which never reads the count bytes and
 * never reads at or past its 'len'. (The writer publishes the stable pair with release semantics; the
 * newest few samples, which may still share a byte with the next one, are kept aside by the head.)
 *
 * DECODER. Reads through a 64-bit window loaded with one unaligned big-endian load per field group, so
 * a sample costs a few shifts and no per-bit loops. Near the end of the input (the last 32 bytes) it
 * switches to a zero-padded private copy of the tail, so it never reads past 'len' yet needs no bounds
 * check per field; running past the real end is then detected once per sample and reported as
 * EM_ECORRUPT. Corrupt or truncated input never crashes and never reads out of bounds. Decoding is
 * branch-free across the usual sample forms (real data mixes them unpredictably) and is also compiled
 * for x86-64-v3 (BMI2, MOVBE), picked at load time; see chunk.c. The bulk entry points
 * (em_xor_decode_all, em_xor_iter_next_n) are the fast path; em_xor_sample_iter_new batches through them.
 * One chunk's samples form a single dependency chain (each sample's length says where the next begins),
 * which leaves much of a core idle; em_xor_decode_batch decodes two chunks in one loop so their chains
 * overlap, for callers that decode several whole chunks at once.
 *
 * THREADS. An encoder or iterator is used by one thread at a time. Pure functions: Thread: any.
 */
#ifndef EMBER_ENGINE_CHUNK_H
#define EMBER_ENGINE_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "engine/querier.h"

/* The encoding byte of XOR chunks in chunk files (Prometheus's chunkenc.EncXOR). */
#define EM_CHUNK_XOR 1

/* Prometheus's stale marker: value.StaleNaN. */
#define EM_STALE_NAN_BITS 0x7ff0000000000002ULL

static inline bool em_is_stale_nan(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b == EM_STALE_NAN_BITS;
}

/* Bytes of the count header. */
#define EM_XOR_HEADER_BYTES 2
/* Most samples a chunk can hold (the count is a uint16; Prometheus panics past it). */
#define EM_XOR_MAX_SAMPLES 65535u
/* Room an append needs past the first byte not yet complete: the worst sample is 157 bits (10-byte
 * delta varint + 77-bit value), i.e. at most 21 more bytes, plus the 8-byte stores the encoder uses,
 * which may spill up to 7 zero bytes beyond the data. */
#define EM_XOR_MAX_SAMPLE_BYTES 32u
/* Smallest buffer em_xor_enc_init accepts that can take one sample. */
#define EM_XOR_MIN_CAP (EM_XOR_HEADER_BYTES + EM_XOR_MAX_SAMPLE_BYTES)

/* The sample count stored in a chunk's header; 0 when len < 2. Thread: any. */
static inline size_t em_xor_num_samples(const uint8_t *data, size_t len)
{
    return len < 2 ? 0 : (size_t)((data[0] << 8) | data[1]);
}

/* ---- encoder ---- */

#define EM_XOR_ENC_RING 8 /* sample end offsets remembered; more than can share one byte */

typedef struct em_xor_enc {
    uint8_t *buf;              /* caller's buffer: header, then the bit stream */
    size_t cap;                /* bytes usable in buf */
    uint64_t bits;             /* bits written after the header */
    uint32_t n;                /* samples appended */
    uint8_t leading, trailing; /* current XOR window; leading 0xff: none yet */
    bool byte_tail; /* the last field written ended with whole bytes (see em_xor_enc_bytes_prom2) */
    int64_t t_ms;   /* last sample */
    uint64_t v_bits;
    uint64_t t_delta;               /* last timestamp delta (two's complement) */
    uint32_t ends[EM_XOR_ENC_RING]; /* ends[i % RING]: bit offset where sample i ended */
} em_xor_enc_t;

/* Start an empty chunk in buf[0, cap): writes the 2-byte count (0). cap must be at least 2; appends
 * need EM_XOR_MIN_CAP. The caller keeps ownership of buf and must keep it alive and unmoved until it
 * rebases or stops using the encoder. Thread: owner. */
void em_xor_enc_init(em_xor_enc_t *e, uint8_t *buf, size_t cap);

/* Append one sample. Timestamps are not checked for order (the head does that); any int64 round-trips.
 * Returns EM_OK, or EM_ELIMIT (nothing written) when cap - em_xor_enc_bytes() < EM_XOR_MAX_SAMPLE_BYTES
 * or the chunk already holds EM_XOR_MAX_SAMPLES. Thread: owner. */
int em_xor_enc_append(em_xor_enc_t *e, int64_t t_ms, double v);

/* Continue in a new buffer. The caller has copied the first em_xor_enc_bytes(e) bytes of the old buffer
 * into newbuf (newcap >= that); the encoder forgets the old buffer, which the caller may free once no
 * reader uses it. Thread: owner. */
void em_xor_enc_rebase(em_xor_enc_t *e, uint8_t *newbuf, size_t newcap);

/* Resume appending to the chunk in buf[0, len) (e.g. one rebuilt from a copy), with cap >= len usable
 * bytes. Reproduces the state Prometheus's XORChunk.Appender() derives by decoding the chunk, including
 * its quirk that a resumed non-empty chunk whose values never changed carries the window (0, 0), so the
 * next changed value is written with the 64-bit window. A Prometheus 2.x chunk's spare zero byte is
 * accepted and overwritten. Returns EM_OK, EM_EINVAL when cap < len, or EM_ECORRUPT (e untouched) when
 * the chunk does not decode or has more padding than that. Thread: owner. */
int em_xor_enc_resume(em_xor_enc_t *e, uint8_t *buf, size_t len, size_t cap);

/* Samples appended. Thread: owner. */
static inline size_t em_xor_enc_num_samples(const em_xor_enc_t *e)
{
    return e->n;
}
/* Bits written after the 2-byte header. Thread: owner. */
static inline uint64_t em_xor_enc_bits(const em_xor_enc_t *e)
{
    return e->bits;
}
/* Length of the chunk: header plus the bits rounded up to whole bytes (Prometheus's Bytes()). */
static inline size_t em_xor_enc_bytes(const em_xor_enc_t *e)
{
    return EM_XOR_HEADER_BYTES + (size_t)((e->bits + 7) >> 3);
}
/* The length Prometheus 2.x gives the same chunk: em_xor_enc_bytes(), plus one zero byte when the
 * stream is byte-aligned and its last field (always the value) ended with whole bytes: 2.x's
 * bstream.writeByte appended a spare byte there (fixed in 3.0 by prometheus/prometheus#14854). The
 * bytes before it are identical, so decoders accept both. Blocks written by 2.x (e.g. Debian's promtool
 * 2.42) have this length; Ember writes em_xor_enc_bytes(). Thread: owner. */
static inline size_t em_xor_enc_bytes_prom2(const em_xor_enc_t *e)
{
    return em_xor_enc_bytes(e) + (e->n > 0 && e->byte_tail && (e->bits & 7) == 0);
}
/* The buffer (the chunk is its first em_xor_enc_bytes() bytes). Thread: owner. */
static inline const uint8_t *em_xor_enc_data(const em_xor_enc_t *e)
{
    return e->buf;
}
/* Last sample appended; only when num_samples > 0. Thread: owner. */
static inline void em_xor_enc_last(const em_xor_enc_t *e, int64_t *t_ms, double *v)
{
    *t_ms = e->t_ms;
    memcpy(v, &e->v_bits, sizeof(*v));
}
/* Bit offset (after the header) where sample i ended, for one of the last EM_XOR_ENC_RING samples
 * (n - RING <= i < n). Thread: owner. */
static inline uint64_t em_xor_enc_sample_end_bits(const em_xor_enc_t *e, size_t i)
{
    return e->ends[i % EM_XOR_ENC_RING];
}

/* The largest k such that samples 0..k-1 lie entirely in bytes no later append will write (the count
 * bytes aside), and in *stable_bytes the length covering them: 2 + ceil(end of sample k-1 / 8), or 2
 * when k is 0. em_xor_iter_init_n(data, *stable_bytes, k) decodes exactly those samples. At most 4 of
 * the newest samples are ever left out. Thread: owner. */
size_t em_xor_enc_stable_samples(const em_xor_enc_t *e, size_t *stable_bytes);

/* ---- decoder ---- */

#define EM_XOR_ITER_TAIL 96 /* private zero-padded copy of the last input bytes */

typedef struct em_xor_iter {
    const uint8_t *base; /* data, or tail[] once the reader is near the end */
    uint64_t pos;        /* bit offset of the next field, relative to base */
    uint64_t fast_end;   /* while pos < fast_end, reads from base stay inside the input */
    uint64_t end_bits;   /* the input's end, in bits relative to base */
    uint32_t tail_off;   /* byte offset in the bit stream of tail[0], once switched */
    const uint8_t *data; /* the caller's chunk */
    size_t len;
    uint32_t n_total, n_read;
    int err; /* EM_OK, or EM_ECORRUPT (sticky) */
    uint8_t leading, trailing;
    int64_t t_ms;
    uint64_t v_bits;
    uint64_t t_delta;
    uint8_t tail[EM_XOR_ITER_TAIL];
} em_xor_iter_t;

/* Iterate over the chunk data[0, len) (starting with its count header), taking the sample count from
 * the header. The data must stay valid and unchanged (in [0, len)) while the iterator is used. A len
 * below 2 makes next() return EM_ECORRUPT. Never reads at or past data + len. Thread: owner. */
void em_xor_iter_init(em_xor_iter_t *it, const uint8_t *data, size_t len);

/* As em_xor_iter_init, but decode exactly n_samples (at most EM_XOR_MAX_SAMPLES) and never read the
 * count bytes: for chunks whose header another thread is rewriting. data still points at the header.
 * Thread: owner. */
void em_xor_iter_init_n(em_xor_iter_t *it, const uint8_t *data, size_t len, size_t n_samples);

/* Move to the next sample: EM_OK, EM_DONE after the last, or EM_ECORRUPT (sticky) when the data ends
 * early or holds an impossible field. Thread: owner. */
int em_xor_iter_next(em_xor_iter_t *it);

/* The current sample; valid after next()/seek() returned EM_OK. Thread: owner. */
static inline void em_xor_iter_at(const em_xor_iter_t *it, int64_t *t_ms, double *v)
{
    *t_ms = it->t_ms;
    memcpy(v, &it->v_bits, sizeof(*v));
}

/* Move to the first sample with t >= t_ms, never backwards: if the current sample qualifies, stay.
 * Before the first next() it starts from the first sample. EM_OK, EM_DONE or EM_ECORRUPT.
 * (Prometheus's xorIterator.Seek.) Thread: owner. */
int em_xor_iter_seek(em_xor_iter_t *it, int64_t t_ms);

/* Decode up to 'max' further samples into ts_ms[] and vs[] (either may be NULL to skip it); the last
 * one decoded becomes the current sample. Returns the number decoded (0 at the end or on error) and
 * sets *rc to EM_OK, EM_DONE (nothing left) or EM_ECORRUPT (the samples before the bad one are
 * returned). The fast path for whole-chunk reads. Thread: owner. */
size_t em_xor_iter_next_n(em_xor_iter_t *it, int64_t *ts_ms, double *vs, size_t max, int *rc);

/* Decode the chunk data[0, len) (count from its header) into ts_ms[] and vs[], at most 'max' samples.
 * Returns the number decoded: min(count, max) on success. On corrupt input returns the number of good
 * samples before the damage and sets *rc (which may be NULL) to EM_ECORRUPT; EM_OK otherwise.
 * Thread: any. */
size_t em_xor_decode_all(const uint8_t *data, size_t len, int64_t *ts_ms, double *vs, size_t max, int *rc);

/* One chunk of a batch for em_xor_decode_batch: the inputs of em_xor_decode_all, and its results. */
typedef struct em_xor_decode_job {
    const uint8_t *data; /* in: the chunk, with its count header */
    size_t len;
    int64_t *ts_ms; /* in: room for 'max' samples each; either may be NULL to skip it (slower) */
    double *vs;
    size_t max;
    size_t n; /* out: samples decoded, as em_xor_decode_all returns */
    int rc;   /* out: EM_OK or EM_ECORRUPT, as em_xor_decode_all sets it */
} em_xor_decode_job_t;

/* Decode every job's chunk, each with exactly em_xor_decode_all's result (samples, count, code), but
 * two chunks at a time in one loop, which overlaps their dependency chains: faster than one call per
 * chunk when there are several. Chunks of different lengths, empty and corrupt ones are fine; a corrupt
 * chunk fails only its own job. Outputs must not overlap. The caller keeps the jobs and their buffers.
 * Thread: any. */
void em_xor_decode_batch(em_xor_decode_job_t *jobs, size_t n_jobs);

/* ---- adapter to the storage read interface ---- */

/* A new em_sample_iter_t (engine/querier.h) over the samples of the chunk data[0, len) that lie in
 * [mint_ms, maxt_ms]. n_samples 0 takes the count from the header (complete chunks); a positive
 * n_samples decodes exactly that many and never reads the header (a head chunk's stable prefix: a
 * caller with no stable sample must not create an iterator with 0). The data must outlive the iterator;
 * the caller frees it with em_sample_iter_free(). Corrupt data makes next()/seek() return EM_ECORRUPT,
 * including timestamps that do not strictly increase (readers rely on ascending time). Errors and the
 * end are sticky. Thread: owner. */
em_sample_iter_t *em_xor_sample_iter_new(const uint8_t *data, size_t len, size_t n_samples, int64_t mint_ms,
                                         int64_t maxt_ms);

#endif
