/* engine/db.h -- the database: the head plus the persisted blocks of a data directory, kept in shape by a
 * background thread (cutting, compaction, retention), read through one queryable.
 *
 * DESIGN. A data directory holds the head's WAL and a set of immutable blocks (engine/block.h), each a
 * directory named by its ULID. The db owns the list of open blocks, sorted by minTime. Readers get a
 * querier over [mint, maxt] that takes a reference on each block overlapping the range (and the head
 * only when the range reaches the head's data), merges their sorted series sets with
 * em_series_set_merge (identical samples of overlapping blocks are returned once), and drops the
 * references at close. A block leaves the list when compaction replaced it, retention removed it or
 * clean_tombstones rewrote it; its directory is removed when the last querier using it closes.
 *
 *     data/
 *       lock                     flock()ed while the db is open; holds the owner's pid
 *       wal/                     the head's write-ahead log (engine/wal.h)
 *       head_tombstones          deletions that apply to the head (db_admin.c has the layout)
 *       01HX.../                 blocks: meta.json, index, chunks/000001, tombstones
 *       01HX....tmp-for-creation a block being written (removed at start-up if left behind)
 *       snapshots/<datetime>-<random16hex>/   hard links of blocks (+ the head written as a block)
 *
 * BACKGROUND WORK (one thread, "ember-db", every interval and when woken):
 *   1. Cut: while the head spans more than 1.5 block ranges (Prometheus's rule), write its oldest
 *      aligned range [k*range, (k+1)*range) as a level-1 block, then em_head_truncate() to its end
 *      (which checkpoints the WAL). Ingestion and queries go on meanwhile; between the rename and the
 *      truncation both hold the data and the merge deduplicates it. A querier opened before the block
 *      was listed reads that range from the head alone, so the truncation first waits until such
 *      queriers have closed (Prometheus: WaitForPendingReadersInTimeRange).
 *   2. Compact: overlapping blocks first, then leveled like Prometheus: ranges min, 3*min, 9*min, ...
 *      up to max_block_ms; a group of blocks filling one aligned range (or older than the newest block)
 *      is merged into one block of level max+1. Tombstoned data is not written.
 *   3. Retention: blocks wholly older than (newest block's maxt - retention) go first, then the oldest
 *      blocks while the directory exceeds the size limit.
 * Crash safety: a block is written into "<ulid>.tmp-for-creation", fsynced, renamed, and the directory
 * fsynced; only then are its parents removed. At open, leftovers of interrupted writes are removed, and
 * a block that is a parent of another block, or whose sources another block of higher level covers, is
 * deleted (the compaction that replaced it finished its rename).
 *
 * FAULTS. A block that fails to open (bad meta.json, truncated index, bad checksum) is logged, counted in
 * ember_blocks_corrupted_total and skipped; the others load. One whose damage shows only when a querier
 * opens it or reads its postings is taken out of the list the same way (its directory stays), and the
 * query goes on without it. A failed block write (disk full) removes
 * its temporary directory, counts prometheus_tsdb_compactions_failed_total, logs, and is retried at the
 * next round; the head keeps its data and keeps serving.
 *
 * THREADS AND LOCKS. 'mu' guards the block list and the tombstone state; it is held only for list
 * changes and to take references, never across I/O. 'maint_mu' serialises the operations that write
 * blocks (background round, delete, clean_tombstones, snapshot), so two never interleave.
 *
 * Prometheus: tsdb/db.go (Open, reloadBlocks, beyondTimeRetention, beyondSizeRetention), tsdb/compact.go
 * (selectDirs, selectOverlappingDirs), tsdb/head.go (compactable: MaxTime - MinTime > 1.5 * range).
 */
#ifndef EMBER_ENGINE_DB_H
#define EMBER_ENGINE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "engine/head.h"
#include "engine/matcher.h"
#include "engine/querier.h"

typedef struct em_db em_db_t;

#define EM_DB_DEFAULT_BLOCK_MS (2 * 3600 * 1000LL)
#define EM_DB_MAX_BLOCK_CAP_MS (31 * 24 * 3600 * 1000LL)
#define EM_DB_INDEX_IDLE_MS (5 * 60 * 1000LL) /* a block's index tables are freed after this long unused */

typedef struct em_db_opts {
    const char *dir;          /* the data directory; created if missing */
    int64_t retention_ms;     /* 0: no time limit */
    uint64_t retention_bytes; /* 0: no size limit */
    int64_t min_block_ms;     /* 0: 2h. The head's chunk range; smaller values are for tests */
    int64_t max_block_ms;     /* 0: min(retention/10, 31d), at least min_block_ms */
    bool no_lockfile;
    /* The head (engine/head.h). */
    int head_shards;
    bool wal_compression;
    size_t wal_segment_bytes;
    /* Background thread: interval between rounds (0: 1 minute); no_background leaves every round to
     * em_db_maintain (tests). */
    int64_t maintain_interval_ms;
    bool no_background;
    /* Each round frees the index tables of blocks no querier used for this long (0: EM_DB_INDEX_IDLE_MS;
     * negative: never). */
    int64_t index_idle_ms;
} em_db_opts_t;

/* Open the data directory: take the lock (EM_EBUSY naming the owner's pid when another process holds
 * it), remove leftovers of interrupted writes, open the blocks (skipping corrupt ones), open the head
 * (replaying its WAL) and start the background thread. Returns EM_OK, EM_EBUSY, EM_EIO or EM_ECORRUPT
 * (the head's WAL) with detail in err; *out is set only on success. Thread: any, once. */
int em_db_open(const em_db_opts_t *o, em_db_t **out, em_err_t *err);
/* Stop the background thread (finishing a block it is writing), close the head and the blocks, and
 * release the lock. No querier may be open. NULL allowed. Thread: the opener. */
void em_db_close(em_db_t *db);

/* The head: appends go to it directly (em_head_append). Valid until em_db_close. Thread: any. */
em_head_t *em_db_head(em_db_t *db);
/* The queryable over blocks and head (see DESIGN). Its queriers follow engine/querier.h; each holds
 * references on its blocks until closed. Valid until em_db_close. Thread: any. */
em_queryable_t *em_db_queryable(em_db_t *db);

/* Run one background round now (cut, compact, retention) and wait for it. Returns EM_OK or the first
 * error (which the round also logged and counted). Thread: any. */
int em_db_maintain(em_db_t *db, em_err_t *err);
/* Tell the background thread that samples were appended: it runs a round at once when the head is ready
 * to be cut (Prometheus triggers compaction from the appender likewise). Cheap; never blocks on I/O.
 * Thread: any. */
void em_db_wake(em_db_t *db);

/* ---- administration ---- */

/* Delete the samples in [mint_ms, maxt_ms] of every series matching all matchers: tombstones in the
 * blocks and in the head. Queries stop returning the data when this returns. EM_OK or EM_EIO.
 * Thread: any (serialised with maintenance). */
int em_db_delete(em_db_t *db, int64_t mint_ms, int64_t maxt_ms, const em_matcher_t *const *ms, size_t n_ms,
                 em_err_t *err);
/* Rewrite every block with tombstones without the deleted data. Thread: any. */
int em_db_clean_tombstones(em_db_t *db, em_err_t *err);
/* Write a snapshot into <dir>/snapshots/<YYYYMMDDTHHMMSSZ>-<16 hex>: hard links of every block, plus the
 * head written as a block unless skip_head. The snapshot is a data directory of its own. On success
 * copies the name (not the path) into name_out (at least 64 bytes). Thread: any. */
int em_db_snapshot(em_db_t *db, bool skip_head, char *name_out, size_t name_cap, em_err_t *err);
/* Write a snapshot into an explicit directory (created; must not hold blocks). Thread: any. */
int em_db_snapshot_to(em_db_t *db, const char *dir, bool skip_head, em_err_t *err);

/* ---- inspection ---- */

typedef struct em_db_block_info {
    char ulid[27];
    int64_t mint_ms, maxt_ms;
    uint64_t n_series, n_samples, size_bytes;
    int level;
    bool has_tombstones;
} em_db_block_info_t;

/* A copy of the block list (sorted by minTime) into a malloc'd array the caller frees. Thread: any. */
size_t em_db_blocks(em_db_t *db, em_db_block_info_t **out);

/* A name -> count pair of the status page. */
typedef struct em_db_stat {
    const char *name; /* in the caller's arena */
    uint64_t value;
} em_db_stat_t;

#define EM_DB_STATUS_TOP 10 /* Prometheus's default limit */

/* GET /api/v1/status/tsdb, computed over the head as Prometheus does: the top 'limit' entries of each
 * list, by value descending then name. */
typedef struct em_db_status {
    uint64_t num_series, chunk_count, num_label_pairs;
    int64_t min_time_ms, max_time_ms; /* of the head; INT64_MAX/MIN when empty */
    em_db_stat_t *series_by_metric;   /* arrays in the caller's arena */
    size_t n_series_by_metric;
    em_db_stat_t *label_value_count;
    size_t n_label_value_count;
    em_db_stat_t *memory_by_label;
    size_t n_memory_by_label;
    em_db_stat_t *series_by_pair; /* "name=value" */
    size_t n_series_by_pair;
} em_db_status_t;

/* Fill 'st' with the top 'limit' (> 0) entries of each list; strings and arrays in 'a'. Thread: any. */
int em_db_status(em_db_t *db, size_t limit, em_arena_t *a, em_db_status_t *st, em_err_t *err);

#endif
