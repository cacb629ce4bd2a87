/* engine/head_int.h -- the head's internal structures, shared by head*.c and their tests only.
 * Design: see head.h.
 */
#ifndef EMBER_ENGINE_HEAD_INT_H
#define EMBER_ENGINE_HEAD_INT_H

#include <pthread.h>
#include <string.h>
#include <stdatomic.h>
#include <urcu/urcu-memb.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/metrics.h"
#include "engine/chunk.h"
#include "engine/head.h"
#include "engine/memindex.h"
#include "engine/wal.h"

#define HEAD_TAIL 4                /* newest samples kept aside for readers (>= samples per partial byte) */
#define SAMPLES_PER_CHUNK 120      /* Prometheus's target */
#define OPEN_CHUNK_INITIAL 64      /* bytes; doubled as needed */
#define PAGE_BITS 12
#define PAGE_SLOTS (1u << PAGE_BITS)

/* A closed chunk: immutable once published. */
typedef struct hchunk {
    int64_t mint, maxt;
    uint32_t len;
    uint16_t n;
    struct rcu_head rcu;
    uint8_t data[];
} hchunk_t;

/* The closed chunks of a series in time order: replaced whole (copy on write), never edited. */
typedef struct hchunk_list {
    uint32_t n;
    struct rcu_head rcu;
    hchunk_t *c[];
} hchunk_list_t;

/* The open chunk's buffer, replaced on growth. */
typedef struct obuf {
    uint32_t cap;
    struct rcu_head rcu;
    uint8_t data[];
} obuf_t;

/* The start timestamps of a series' samples that have one, in time order. The writer appends in place
 * below 'cap' and publishes 'n' under the series' seqlock; a full log is replaced by a larger copy. */
typedef struct st_entry {
    int64_t t, st;
} st_entry_t;

typedef struct st_log {
    uint32_t cap;
    atomic_uint n;
    struct rcu_head rcu;
    st_entry_t e[];
} st_log_t;

typedef struct hseries {
    /* Fixed after creation. */
    uint64_t hash;
    uint32_t ref;
    uint16_t n_labels;

    /* Thread: shard (the writer's own state). */
    em_xor_enc_t enc;      /* valid while open_n > 0 */
    int64_t next_cut_ms;   /* Prometheus's nextAt: cut the open chunk at or after this time */
    int64_t open_mint;
    int64_t last_t;        /* newest sample (INT64_MIN when none) */
    uint64_t last_v_bits;

    /* Published to readers under 'seq' (a seqlock: odd while the writer changes these). */
    atomic_uint seq;
    hchunk_list_t *closed; /* RCU pointer, may be NULL */
    obuf_t *open;          /* RCU pointer, NULL when there is no open chunk */
    atomic_uint_least64_t pub; /* open chunk: n (16 bits) << 48 | stable_n (16) << 32 | stable_bytes (32) */
    atomic_int_least64_t tail_t[HEAD_TAIL];
    atomic_uint_least64_t tail_v[HEAD_TAIL];
    atomic_int_least64_t min_t, max_t; /* time range of all data, for pruning; INT64_MAX/MIN when empty */
    st_log_t *sts;         /* RCU pointer, NULL until a sample comes with a start timestamp */

    struct rcu_head rcu;
    em_label_t lbl[];      /* n_labels pairs of interned strings (owned by the shard's memindex) */
} hseries_t;

typedef struct series_page {
    _Atomic(hseries_t *) slot[PAGE_SLOTS];
    uint32_t live; /* Thread: shard */
    struct rcu_head rcu;
} series_page_t;

typedef struct page_dir {
    uint32_t n;
    struct rcu_head rcu;
    _Atomic(series_page_t *) pages[];
} page_dir_t;

/* Writer-only open-addressing table: label hash -> series. Slots keep the hash beside the pointer so a
 * probe touches the series only when the hashes match. */
typedef struct table_slot {
    uint64_t hash;
    hseries_t *se; /* NULL: empty */
} table_slot_t;

typedef struct series_table {
    table_slot_t *slots;
    size_t cap, n; /* cap is a power of two; kept below 70% full */
} series_table_t;

/* A shard's unit of work. */
typedef enum { PART_BATCH, PART_TRUNCATE, PART_STOP } part_kind_t;

typedef struct part {
    part_kind_t kind;
    int shard;
    em_batch_t *b;
    uint32_t *idx; /* series indices of the batch owned by this shard */
    uint32_t n;
    /* PART_TRUNCATE */
    int64_t mint;
    int rc;
    uint32_t wal_closed_seg;
    bool wal_cut;
    struct head_sync *sync;
} part_t;

/* A simple completion for synchronous requests. */
typedef struct head_sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int remaining;
} head_sync_t;

typedef struct shard_counters {
    _Alignas(64) atomic_uint_least64_t appended;
    atomic_uint_least64_t rejected_ooo, rejected_dup, rejected_bounds;
    atomic_uint_least64_t series_created, series_removed;
    atomic_uint_least64_t chunks_created, chunks_removed;
    atomic_uint_least64_t series, chunks;
    atomic_uint_least64_t bytes; /* series structs, chunk data and page tables; the index reports its own */
    atomic_uint_least64_t replay_samples;
} shard_counters_t;

typedef struct shard {
    em_head_t *h;
    int id;
    pthread_t th;

    /* The queue. Locks: mu. */
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    part_t **ring;
    size_t cap, head, len;

    /* Thread: shard. */
    em_memindex_t *ix;
    series_table_t table;
    uint32_t next_ref;
    em_wal_t *wal;
    char *wal_dir;
    em_buf_t wal_series, wal_samples; /* records being built for the current group commit */
    uint32_t wal_n_samples;
    uint32_t wal_base_ref;
    int64_t wal_base_t;
    em_buf_t wal_sts;
    int wal_failed;
    bool replaying; /* the bound of half a chunk range behind the newest sample does not apply */

    page_dir_t *pages; /* RCU pointer */

    atomic_int_least64_t min_t, max_t;
    shard_counters_t c;

    /* Start-up. */
    int replay_rc;
    em_err_t replay_err;
    em_wal_replay_stats_t replay_stats;
} shard_t;

struct em_head {
    em_head_opts_t o;
    int n_shards;  /* running shards */
    int n_alloc;   /* initialised shards */
    shard_t *shards;
    char *wal_root;
    atomic_int_least64_t min_valid_t; /* appends below this are out of bounds */
    atomic_int_least64_t max_t;       /* newest sample appended to any shard */
    atomic_bool closing;
    em_queryable_t queryable;
    pthread_mutex_t truncate_mu;
    head_sync_t ready;
};

struct em_batch {
    em_arena_t arena;
    struct bseries {
        em_labels_t ls;
        uint64_t hash;
        em_series_ref_t ref;  /* hint in, result out */
        uint32_t first, n;    /* its samples */
        uint16_t shard;
    } *series;
    size_t n_series, cap_series;
    struct bsample {
        int64_t t;
        double v;
    } *samples;
    int64_t *sts; /* start timestamps beside samples, NULL until one is added */
    uint8_t *status;
    size_t n_samples, cap_samples;
    /* Set by em_head_append. */
    uint32_t *order;  /* series indices grouped by shard */
    size_t cap_order;
    part_t *parts;
    size_t cap_parts;
    atomic_int pending;
    em_batch_done_fn done;
    void *done_arg;
    /* Per-shard results are added atomically; first_error is the minimum sample index. */
    atomic_uint_least64_t r_appended, r_ooo, r_dup, r_bounds, r_created;
    atomic_int r_wal_error;
    atomic_int_least64_t r_first_error;
    em_batch_result_t result;
};

/* ---- head_append.c (Thread: shard) ---- */
hseries_t *shard_series_get(shard_t *s, uint32_t ref);
/* The live series with these labels ('hint' may name it directly), or NULL. */
hseries_t *shard_lookup(shard_t *s, const em_labels_t *ls, uint64_t hash, em_series_ref_t hint);
hseries_t *shard_create(shard_t *s, const em_labels_t *ls, uint64_t hash);
/* Appends below this time are out of bounds. */
int64_t min_valid_time(shard_t *s);
/* Create a series with a given ref (WAL replay). Returns the series, or the existing one with the same
 * labels (a duplicate series record). */
hseries_t *shard_create_with_ref(shard_t *s, const em_labels_t *ls, uint64_t hash, uint32_t ref);
/* 'st' is the sample's start timestamp, 0 when unknown. */
em_sample_status_t series_append(shard_t *s, hseries_t *se, int64_t t, double v, int64_t st);
/* Record the start timestamp of the series' sample at t (replay); ignored unless t is newer than the
 * last one recorded. */
void series_put_st(shard_t *s, hseries_t *se, int64_t t, int64_t st);
void series_import_chunk(shard_t *s, hseries_t *se, int64_t mint, int64_t maxt, uint16_t n, const uint8_t *data,
                         uint32_t len);
void shard_truncate(shard_t *s, int64_t mint);
void shard_free_all(shard_t *s);
em_labels_t series_labels(const hseries_t *se);

/* ---- head_wal.c (Thread: shard) ---- */
void wal_log_series(shard_t *s, const hseries_t *se);
void wal_log_sample(shard_t *s, uint32_t ref, int64_t t, double v, int64_t st);
int wal_commit(shard_t *s, em_err_t *err);
int shard_replay(shard_t *s, em_err_t *err);
int shard_checkpoint(shard_t *s, uint32_t upto, em_err_t *err);

/* ---- head_read.c ---- */
typedef struct series_snap {
    hchunk_list_t *closed;
    const uint8_t *open;
    uint32_t open_n, stable_n, stable_bytes;
    int64_t tail_t[HEAD_TAIL];
    double tail_v[HEAD_TAIL];
    const st_entry_t *sts; /* the start timestamps of the samples above */
    uint32_t n_sts;
} series_snap_t;

/* Consistent snapshot of a series. Call with rcu_read_lock held; valid until it is released. */
void series_snapshot(const hseries_t *se, series_snap_t *out);

/* ThreadSanitizer sees neither liburcu's grace periods nor its call_rcu queue, so it would take every
 * free in a call_rcu callback for a race with the readers that touched the memory before. We tell it what
 * RCU guarantees: a reader releases head_tsan_readers when its read-side section ends, the writer releases
 * an object before handing it to call_rcu, and the callback -- which runs after a grace period, hence
 * after every read-side section that could still reach the object -- acquires both. */
#ifdef EMBER_TSAN
#include <sanitizer/tsan_interface.h>
extern char head_tsan_readers;
#define HEAD_TSAN_RELEASE(p) __tsan_release((void *)(p))
#define HEAD_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#define HEAD_TSAN_RELEASE(p) ((void)0)
#define HEAD_TSAN_ACQUIRE(p) ((void)0)
#endif
/* Retire 'obj' (a struct with a 'rcu' member) to call_rcu. */
#define HEAD_CALL_RCU(obj, fn)                                                                                   \
    do {                                                                                                         \
        HEAD_TSAN_RELEASE(obj);                                                                                  \
        urcu_memb_call_rcu(&(obj)->rcu, fn);                                                                     \
    } while (0)
/* In a call_rcu callback, before freeing. */
#define HEAD_RCU_CB_BEGIN(obj)                                                                                   \
    do {                                                                                                         \
        HEAD_TSAN_ACQUIRE(obj);                                                                                  \
        HEAD_TSAN_ACQUIRE(&head_tsan_readers);                                                                   \
    } while (0)
/* When a read-side section that read head memory ends. */
#define HEAD_READER_DONE() HEAD_TSAN_RELEASE(&head_tsan_readers)

/* RCU publication through C11 atomics, which ThreadSanitizer understands (liburcu's macros are volatile
 * accesses): release on store, acquire on load. */
#define HEAD_PUBLISH(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define HEAD_LOAD(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)

static inline uint64_t f64_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, 8);
    return b;
}

static inline double bits_f64(uint64_t b)
{
    double v;
    memcpy(&v, &b, 8);
    return v;
}

#endif
