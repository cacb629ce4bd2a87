/* engine/wal.h -- the write-ahead log: segmented files of checksummed records, one log per head shard.
 *
 * DESIGN. Every head shard owns one log directory and is its only writer, so logging takes no lock and
 * shards replay in parallel at start-up. A log is a sequence of segment files named by 8-digit
 * sequence numbers; the writer appends records to the newest segment and starts a new one when the
 * current one would exceed the configured size (a record never spans segments). A checkpoint
 * directory replaces the segments it covers after the head is truncated, so replay time stays
 * bounded.
 *
 *     <data>/wal/shards                 "N\n": the number of shards the log was written with
 *     <data>/wal/<shard>/00000007       segments
 *     <data>/wal/<shard>/checkpoint.00000006/00000000   covers segments <= 6
 *
 * RECORD LAYOUT (header little-endian)
 *     offset  size  field
 *     0       1     type (bits 0-6) | 0x80 when the payload is snappy-compressed
 *     1       4     payload length as stored (uint32)
 *     5       4     CRC32C of the stored payload
 *     9       n     payload
 * A zero type byte is never written: a run of zeros (preallocated or torn tail) reads as the end.
 *
 * DURABILITY. em_wal_flush() hands the records to the kernel with write(2) before the head
 * acknowledges a batch, so acknowledged data survives the process being killed at any moment (the
 * test suite kills it with SIGKILL). Segments are fsynced when they are closed, on em_wal_sync() and at
 * shutdown; like Prometheus, Ember does not fsync every batch, so a power loss can lose the newest
 * records of the current segment.
 *
 * CORRUPTION. Replay verifies every record. A torn or corrupt record ends the log: the segment is
 * truncated at the last good record, later segments are removed, a warning is logged and
 * ember_wal_corruptions_total is incremented; everything before it is replayed.
 *
 * Thread: a writer (em_wal_t) is used by one thread at a time (its shard). Replay runs before the
 * writer is opened.
 */
#ifndef EMBER_ENGINE_WAL_H
#define EMBER_ENGINE_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/fs.h"

#define EM_WAL_HEADER_BYTES 9
#define EM_WAL_COMPRESSED 0x80

/* Record types. Payload formats are documented in head_wal.c, which writes and reads them. */
enum {
    EM_WAL_REC_SERIES = 1,
    EM_WAL_REC_SAMPLES = 2,
    EM_WAL_REC_TOMBSTONES = 3,
    EM_WAL_REC_CHUNK = 4,
    EM_WAL_REC_START_TIMES = 5,
};

typedef struct em_wal_opts {
    size_t segment_bytes; /* start a new segment beyond this size (default 128 MiB) */
    bool compress;        /* snappy-compress payloads (--storage.tsdb.wal-compression) */
} em_wal_opts_t;

typedef struct em_wal em_wal_t;

/* Open (creating if needed) the log in 'dir' for appending after the last existing segment. Run replay
 * first: the writer starts a fresh segment and never looks at old ones. Thread: the owner. */
int em_wal_open(const char *dir, const em_wal_opts_t *o, em_wal_t **out, em_err_t *err);
/* Flush, fsync and close (NULL allowed). */
void em_wal_close(em_wal_t *w);

/* Queue a record in memory (compressed if configured). Nothing reaches the file until em_wal_flush.
 * Thread: the owner. */
void em_wal_add(em_wal_t *w, uint8_t type, const void *payload, size_t n);
/* Write every queued record to the current segment (rotating first if it would overflow). Returns EM_OK
 * or EM_EIO; after an error the writer stays failed (sticky) and every later call returns it. */
int em_wal_flush(em_wal_t *w, em_err_t *err);
/* fsync the current segment. */
int em_wal_sync(em_wal_t *w, em_err_t *err);
/* Close the current segment (fsynced) and start the next; *closed gets the closed segment's number.
 * Used before a checkpoint so that it covers exactly the closed segments. */
int em_wal_cut(em_wal_t *w, uint32_t *closed, em_err_t *err);
/* Bytes written since open, and the current segment number. */
uint64_t em_wal_bytes_written(const em_wal_t *w);
uint32_t em_wal_segment(const em_wal_t *w);

/* ---- replay ---- */

/* Called for every record in log order, with the payload decompressed. Return EM_OK to go on, anything
 * else to stop replay with that code. The payload is valid during the call only. */
typedef int (*em_wal_record_fn)(void *arg, uint8_t type, const uint8_t *payload, size_t n);

typedef struct em_wal_replay_stats {
    uint32_t segments;
    uint64_t records;
    uint64_t bytes;
    bool checkpoint;       /* a checkpoint was read first */
    uint32_t corruptions;  /* torn or corrupt tails that were cut */
} em_wal_replay_stats_t;

/* Replay the checkpoint (if any) and then every later segment of the log in 'dir' (missing dir: nothing
 * to do). Repairs a corrupt tail as described above. Returns EM_OK, the callback's code, or EM_EIO.
 * Thread: any (one per log). */
int em_wal_replay(const char *dir, em_wal_record_fn fn, void *arg, em_wal_replay_stats_t *st, em_err_t *err);

/* ---- checkpoints ---- */

typedef struct em_wal_checkpoint em_wal_checkpoint_t;

/* Begin writing the checkpoint that will replace segments <= upto (in a temporary directory). Thread:
 * any, one checkpoint per log at a time; the log's writer may keep appending meanwhile. */
int em_wal_checkpoint_begin(const char *dir, uint32_t upto, em_wal_checkpoint_t **out, em_err_t *err);
void em_wal_checkpoint_add(em_wal_checkpoint_t *c, uint8_t type, const void *payload, size_t n);
/* Flush, fsync, atomically rename into place, then delete the segments and older checkpoints it covers.
 * Frees 'c'. On error the temporary directory is removed and the old files stay. */
int em_wal_checkpoint_commit(em_wal_checkpoint_t *c, em_err_t *err);
/* Discard a checkpoint in progress (NULL allowed). */
void em_wal_checkpoint_abort(em_wal_checkpoint_t *c);

/* The shard count a WAL was written with (0 if there is none); and recording it. */
int em_wal_read_shard_count(const char *wal_root, int *n, em_err_t *err);
int em_wal_write_shard_count(const char *wal_root, int n, em_err_t *err);

#endif
