/* engine/head.h -- the in-memory head: active series, their chunks, and the path samples take into them.
 *
 * DESIGN. Series are sharded by em_labels_hash(labels) % n_shards. Each shard has one ingestion thread
 * that alone creates series, appends samples, cuts chunks, writes the shard's WAL (engine/wal.h) and
 * truncates, so none of that takes a lock. Producers (HTTP handlers, scrapers) fill an em_batch_t
 * (series with their samples), and em_head_append() splits it into one part per shard and queues each
 * part on its shard's bounded queue; a full queue blocks the producer (back-pressure, never loss). A
 * shard thread drains its queue, applies the parts, logs them to its WAL with one write(2), and only
 * then completes them; when the last part of a batch completes, the batch's callback runs (on that
 * shard's thread) with per-sample results.
 *
 *     producer --em_head_append--> [shard 0 queue] --> shard 0: lookup/create, append, WAL write --\
 *                              \-> [shard 1 queue] --> shard 1: ...                               --+--> done(batch)
 *
 * READERS never block the shard threads. Everything a reader touches is published with RCU (liburcu,
 * memb flavour): the per-shard inverted index (engine/memindex.h), the ref -> series page table, each
 * series' list of closed chunks, and its open chunk. A series' open chunk is appended to in place; a
 * per-series sequence counter (a seqlock over atomics) lets readers take a consistent snapshot: the
 * closed-chunk list, the open chunk's buffer, the number of leading samples whose bytes will never be
 * written again (em_xor_enc_stable_samples) and the (at most 4) newest samples, which the writer keeps
 * aside. Readers decode the stable prefix from the shared buffer and take the rest from the snapshot.
 * Memory unlinked by a writer (grown buffers, replaced lists, removed series) is freed with call_rcu.
 *
 * CHUNK STATES    open --(Prometheus's cut rule: ~120 samples, chunk-range boundary)--> closed
 *                 closed --(em_head_truncate: whole chunk before mint)--> freed via call_rcu
 * Chunks never span a multiple of chunk_range_ms (the block range), so blocks are cut along chunks.
 *
 * APPEND RULES (Prometheus's). A sample older than the series' newest is rejected (EM_EOOO, "out of
 * order sample"); the same timestamp with bit-identical value is accepted and ignored; the same
 * timestamp with another value is rejected (EM_EDUP, "duplicate sample for timestamp"); a sample older
 * than the head's lower bound (the newest persisted block, or half a chunk range behind the newest
 * sample) is rejected (EM_EBOUNDS, "out of bounds"). Every rejection is counted per reason in
 * ember_head_samples_rejected_total and reported per sample in the batch.
 *
 * DURABILITY. A batch completes only after every shard it touched has written it to its WAL
 * (em_wal_flush), so what a producer sees acknowledged survives a crash of the process. At start-up the
 * shards replay their WALs in parallel before em_head_open returns.
 *
 * START TIMESTAMPS. A sample may carry a start timestamp (the time its counter started counting, as
 * OpenTelemetry and Prometheus 3 define it; 0 means unknown). Few series have them, so they live beside
 * the chunks: a series that gets one grows a sorted (t, st) log, published like the chunk list (the
 * writer appends, a grown log is a new copy retired with call_rcu), written to the WAL with its sample
 * and dropped with the chunks it belongs to. Readers see them through em_sample_iter_at_st.
 *
 * REFS. A series ref is (shard << 32) | local, local refs start at 1 and are never reused; 0 is no ref.
 * Refs survive restarts (the WAL records them).
 */
#ifndef EMBER_ENGINE_HEAD_H
#define EMBER_ENGINE_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "engine/labels.h"
#include "engine/querier.h"

typedef struct em_head em_head_t;
typedef uint64_t em_series_ref_t;

#define EM_REF_SHARD(ref) ((uint32_t)((ref) >> 32))
#define EM_REF_LOCAL(ref) ((uint32_t)(ref))
#define EM_REF_MAKE(shard, local) (((uint64_t)(shard) << 32) | (uint32_t)(local))

typedef struct em_head_opts {
    int n_shards;             /* 0: number of CPUs. A WAL written with another count keeps its count. */
    const char *wal_dir;      /* NULL: no WAL (in-memory head for tests and rule unit tests) */
    bool wal_compression;
    size_t wal_segment_bytes; /* 0: 128 MiB */
    int64_t chunk_range_ms;   /* 0: 2h (the block range) */
    size_t queue_parts;       /* per-shard queue capacity in batch parts; 0: 256 */
} em_head_opts_t;

/* Open the head: read the shard count, replay the WAL of every shard in parallel (progress in the log),
 * start the shard threads. Returns EM_OK, or EM_EIO / EM_ECORRUPT with detail. Thread: main. */
int em_head_open(const em_head_opts_t *o, em_head_t **out, em_err_t *err);
/* Stop accepting batches, let the shards finish their queues, flush and fsync the WALs, stop the
 * threads and free everything (waiting for an RCU grace period). No querier may be open. NULL allowed. */
void em_head_close(em_head_t *h);

/* ---- appending ---- */

typedef struct em_batch em_batch_t;

/* Per-sample outcome, readable after completion. */
typedef enum {
    EM_SAMPLE_OK = 0,
    EM_SAMPLE_DUP_IGNORED, /* same timestamp and value as the newest sample: accepted, nothing stored */
    EM_SAMPLE_OOO,
    EM_SAMPLE_DUP,
    EM_SAMPLE_BOUNDS,
    EM_SAMPLE_FAILED,      /* the WAL write failed; nothing of the batch is acknowledged */
} em_sample_status_t;

typedef struct em_batch_result {
    uint64_t appended;        /* stored or ignored-as-identical */
    uint64_t out_of_order;
    uint64_t duplicate;
    uint64_t out_of_bounds;
    uint64_t series_created;
    int wal_error;            /* EM_OK, or the WAL's error code: then the whole batch failed */
    int64_t first_error_sample; /* index of the first rejected sample, or -1 */
} em_batch_result_t;

/* A batch is reusable: em_batch_reset keeps its memory. Thread: one producer at a time, and not while
 * it is being appended. */
em_batch_t *em_batch_new(void);
void em_batch_free(em_batch_t *b);
void em_batch_reset(em_batch_t *b);
/* Start a series; the samples added next belong to it. 'ls' must be valid and sorted (the producer
 * validates: em_labels_validate). With copy=false the label strings are borrowed and must stay valid
 * until the batch completes. 'hint' is a ref from an earlier batch for the same labels (or 0): when it
 * still names a live series with these labels, the lookup by labels is skipped. Returns the series'
 * index in the batch. */
uint32_t em_batch_add_series(em_batch_t *b, const em_labels_t *ls, bool copy, em_series_ref_t hint);
/* Add a sample to the series started last. */
void em_batch_add_sample(em_batch_t *b, int64_t t_ms, double v);
/* The same with a start timestamp (0: unknown, as em_batch_add_sample). */
void em_batch_add_sample_st(em_batch_t *b, int64_t st_ms, int64_t t_ms, double v);
size_t em_batch_n_series(const em_batch_t *b);
size_t em_batch_n_samples(const em_batch_t *b);
/* After completion: */
const em_batch_result_t *em_batch_result(const em_batch_t *b);
em_sample_status_t em_batch_sample_status(const em_batch_t *b, size_t sample);
/* The series a sample belongs to, and a series' ref and labels (labels valid until reset/free). */
uint32_t em_batch_sample_series(const em_batch_t *b, size_t sample);
em_series_ref_t em_batch_series_ref(const em_batch_t *b, uint32_t series);
em_labels_t em_batch_series_labels(const em_batch_t *b, uint32_t series);
/* Prometheus's error text for a status: "out of order sample", "duplicate sample for timestamp",
 * "out of bounds". */
const char *em_sample_status_str(em_sample_status_t s);

typedef void (*em_batch_done_fn)(em_batch_t *b, void *arg);

/* Queue the batch on the shards. EM_OK: 'done' runs exactly once, on a shard thread, after every part
 * is applied and in the WAL. Otherwise (EM_ESTATE when closing) nothing was queued and 'done' will not
 * run. May block while a shard's queue is full. An empty batch completes at once (done runs on the
 * calling thread). Thread: any producer. */
int em_head_append(em_head_t *h, em_batch_t *b, em_batch_done_fn done, void *arg);
/* em_head_append and wait for completion. Returns EM_OK, EM_ESTATE or the WAL's error code. */
int em_head_append_wait(em_head_t *h, em_batch_t *b);

/* ---- reading ---- */

/* The head as a queryable; its queriers hold the RCU read lock until closed (see engine/querier.h). */
em_queryable_t *em_head_queryable(em_head_t *h);
int em_head_querier(em_head_t *h, int64_t mint_ms, int64_t maxt_ms, em_querier_t **out, em_err_t *err);

/* ---- maintenance ---- */

/* Drop every chunk that ends before mint_ms, remove series left without samples, raise the lower
 * bound for appends to mint_ms, and replace the WAL segments written so far with a checkpoint of what
 * remains. Runs on the shard threads while ingestion goes on; returns when done. Thread: one caller at
 * a time (the block writer). */
int em_head_truncate(em_head_t *h, int64_t mint_ms, em_err_t *err);

typedef struct em_head_stats {
    uint64_t series;
    uint64_t chunks;         /* closed and open */
    uint64_t samples_appended;
    uint64_t series_created, series_removed;
    int64_t min_time_ms, max_time_ms; /* INT64_MAX / INT64_MIN when empty */
    uint64_t bytes;          /* estimated heap bytes of series, chunks and index */
    int n_shards;
    uint64_t wal_replay_samples;
} em_head_stats_t;

void em_head_stats(em_head_t *h, em_head_stats_t *st);
int em_head_n_shards(const em_head_t *h);

#endif
