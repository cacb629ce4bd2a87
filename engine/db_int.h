/* engine/db_int.h -- the db's internal structures, shared by db*.c and their tests only.
 * Design: see db.h.
 */
#ifndef EMBER_ENGINE_DB_INT_H
#define EMBER_ENGINE_DB_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/metrics.h"
#include "engine/block.h"
#include "engine/db.h"

#define DB_TMP_SUFFIX ".tmp-for-creation"
#define DB_TMP_DELETE_SUFFIX ".tmp-for-deletion"

/* Deletion intervals of one head series; intervals are closed [a, b], sorted and disjoint. */
typedef struct head_tomb {
    uint64_t hash;
    em_labels_t ls; /* owned by the set's arena */
    int64_t (*iv)[2];
    size_t n_iv;
} head_tomb_t;

/* An immutable set of head tombstones, replaced whole (copy on write) and reference counted, so a
 * querier keeps the set it started with. */
typedef struct head_tombs {
    atomic_int refs;
    em_arena_t arena;
    head_tomb_t *v; /* sorted by hash */
    size_t n;
} head_tombs_t;

typedef struct db_metrics {
    em_counter_t *compactions, *compactions_failed, *compactions_triggered;
    em_counter_t *head_truncations, *head_truncations_failed;
    em_counter_t *retention_time, *retention_size;
    em_counter_t *blocks_corrupted, *reloads, *reloads_failed;
    em_gauge_t *blocks_loaded, *size_bytes, *retention_limit_bytes, *lowest_timestamp;
    em_gauge_t *compaction_failing, *indexes_loaded;
} db_metrics_t;

struct em_db {
    em_db_opts_t o;
    char *dir;
    int lock_fd;
    em_head_t *head;
    em_queryable_t queryable;
    db_metrics_t m;

    /* Locks: mu. */
    pthread_mutex_t mu;
    em_block_t **blocks; /* sorted by (minTime, ulid); the list holds one reference on each */
    size_t n_blocks, cap_blocks;
    head_tombs_t *tombs; /* never NULL */
    /* Open queriers that read the head, so a truncation can wait for those opened before the block
     * holding the truncated data was listed (Prometheus: WaitForPendingReadersInTimeRange). */
    struct db_reader *readers;
    uint64_t epoch; /* bumped when a block cut from the head is listed */
    pthread_cond_t readers_cv;

    /* Serialises writers of blocks: the background round, delete, clean_tombstones, snapshot. */
    pthread_mutex_t maint_mu;

    /* The background thread. Locks: bg_mu. */
    pthread_t bg;
    bool bg_started, bg_stop, bg_wake;
    pthread_mutex_t bg_mu;
    pthread_cond_t bg_cv;
};

/* ---- db.c ---- */
static inline int64_t blk_mint(const em_block_t *b)
{
    return em_block_meta(b)->min_time_ms;
}
static inline int64_t blk_maxt(const em_block_t *b)
{
    return em_block_meta(b)->max_time_ms;
}
/* The block's ULID as text (into a 27-byte buffer). */
const char *blk_name(const em_block_t *b, char out[EM_ULID_STR_LEN + 1]);
/* Insert a freshly opened block into the list (takes over the caller's reference). Locks: takes mu. */
void db_blocks_add(em_db_t *db, em_block_t *b);
/* Take 'victims' out of the list, mark them deleted and drop the list's reference; each directory goes
 * when its last querier closes. Locks: takes mu. */
void db_blocks_remove(em_db_t *db, em_block_t *const *victims, size_t n);
/* A block found corrupt while being read: out of the list (not deleted from disk), logged and counted in
 * ember_blocks_corrupted_total, so later queries go on without it. Locks: takes mu. */
void db_block_quarantine(em_db_t *db, em_block_t *b, const em_err_t *why);
/* A copy of the list holding a reference on each; free with db_blocks_snapshot_free. Locks: takes mu. */
em_block_t **db_blocks_snapshot(em_db_t *db, size_t *n);
void db_blocks_snapshot_free(em_block_t **v, size_t n);
/* Recompute the size and block gauges. */
void db_update_gauges(em_db_t *db);

/* A querier reading the head, registered in db->readers. Locks: mu. */
typedef struct db_reader {
    struct db_reader *prev, *next;
    uint64_t epoch;
    int64_t mint;
} db_reader_t;

/* ---- db_query.c ---- */
/* Wait until every querier that reads the head below maxt and was opened before 'epoch' has closed. */
void db_wait_readers(em_db_t *db, uint64_t epoch, int64_t maxt);
int db_querier_open(em_queryable_t *self, int64_t mint, int64_t maxt, em_querier_t **out, em_err_t *err);
/* The head over [mint, maxt] with head tombstones applied (for cutting blocks and snapshots): selects
 * every series, sorted. The querier and set are returned; close both. */
int db_head_all(em_db_t *db, int64_t mint, int64_t maxt, em_querier_t **q_out, em_series_set_t **s_out,
                em_err_t *err);
/* A series set over 'inner' hiding the samples 'tombs' deletes (takes ownership of inner; takes a
 * reference on tombs). */
em_series_set_t *db_tomb_filter_set(em_series_set_t *inner, head_tombs_t *tombs, int64_t mint, int64_t maxt);
/* For tests: does a db querier read the head, and how many blocks? */
bool db_querier_has_head(const em_querier_t *q);
size_t db_querier_n_blocks(const em_querier_t *q);
/* A matcher that matches every series (__name__=~".*"): caller finis. */
void db_match_all(em_matcher_t *m);

/* ---- db_chunks.c ---- */
/* Chunks of 120 samples re-encoded from a sample iterator (takes ownership of it). */
em_chunk_iter_t *db_chunks_from_samples(em_sample_iter_t *in);

/* ---- db_tombs.c ---- */
head_tombs_t *head_tombs_new(void);
void head_tombs_acquire(head_tombs_t *t);
void head_tombs_release(head_tombs_t *t);
/* The intervals of the series with these labels, or NULL. */
const head_tomb_t *head_tombs_find(const head_tombs_t *t, uint64_t hash, const em_labels_t *ls);
/* Is t_ms inside one of the intervals? */
bool head_tomb_covers(const head_tomb_t *ht, int64_t t_ms);
/* A new set: 'old' plus [mint, maxt] for every series in ls[0..n). */
head_tombs_t *head_tombs_add(const head_tombs_t *old, const em_labels_t *ls, size_t n, int64_t mint,
                             int64_t maxt);
/* A new set without intervals ending before t_ms (data the head no longer holds). */
head_tombs_t *head_tombs_trim(const head_tombs_t *old, int64_t t_ms);
/* Serialise / parse the head_tombstones file. */
void head_tombs_encode(const head_tombs_t *t, em_buf_t *out);
int head_tombs_decode(const uint8_t *p, size_t n, head_tombs_t **out, em_err_t *err);
int db_tombs_save(em_db_t *db, em_err_t *err);

/* ---- db_compact.c ---- */
void *db_bg_main(void *arg);
int db_round(em_db_t *db, em_err_t *err);
/* Write 'set' as a block under the data directory (tmp dir, fsync, rename); parents/sources for meta. */
/* Write 'set' as a block into 'into_dir' (tmp dir, fsync, rename) and open it; parents give level and
 * sources. *out (may be NULL) gets the opened block with one reference. */
int db_write_block(em_db_t *db, em_series_set_t *set, int64_t mint, int64_t maxt, em_block_t *const *parents,
                   size_t n_parents, const char *into_dir, em_block_t **out, em_err_t *err);
/* Merge sel[0..k) (k may be 1: a rewrite without tombstoned data) into one block, then retire them.
 * Locks: requires maint_mu. */
int db_compact_blocks(em_db_t *db, em_block_t *const *sel, size_t k, em_err_t *err);
/* Remove blocks replaced by compaction whose deletion was interrupted. Called at open. */
void db_remove_replaced(em_db_t *db);

#endif
