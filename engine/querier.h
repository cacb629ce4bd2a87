/* engine/querier.h -- the storage-agnostic read interface every reader goes through.
 *
 * DESIGN. Storage (the head, each persisted block, and the merge of both) is read through four small
 * vtable interfaces, as Prometheus's storage.Querier / SeriesSet / chunkenc.Iterator:
 *
 *     em_queryable_t --querier(mint, maxt)--> em_querier_t --select(matchers)--> em_series_set_t
 *         em_series_set_t: next() series by series, in label order (em_labels_cmp) when asked 'sorted'
 *             labels()  -> the series' labels
 *             samples() -> em_sample_iter_t over its samples in [mint, maxt], ascending time, no duplicates
 *             chunks()  -> em_chunk_iter_t over its raw XOR chunks (remote read, compaction)
 *
 * A querier sees a consistent prefix of every series as of the moment select() ran. Deleted
 * (tombstoned) ranges are already hidden. Stale markers (engine/chunk.h, EM_STALE_NAN_BITS) are returned
 * like any value: PromQL gives them meaning. A sample may carry a start timestamp (em_sample_iter_at_st):
 * the head keeps them, persisted blocks do not (their XOR chunks have no room for one), so rate() and
 * friends use them only while the data is in the head.
 *
 * THREADS AND LIFETIMES. A querier and every set, iterator and label returned from it are used by the
 * thread that created the querier, which must be registered with RCU (em_rcu_thread_online()): the head
 * holds the RCU read-side lock from querier() to close(). Everything returned stays valid until the
 * querier is closed, except labels(), which is valid until the set's next() or close(). Iterators are
 * freed by their user (em_sample_iter_free); sets by em_series_set_close. Close sets before the querier.
 */
#ifndef EMBER_ENGINE_QUERIER_H
#define EMBER_ENGINE_QUERIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/err.h"
#include "engine/labels.h"
#include "engine/matcher.h"

/* ---- samples ---- */

typedef struct em_sample_iter em_sample_iter_t;
typedef struct em_sample_iter_ops {
    /* Move to the next sample: EM_OK (read it with at()), EM_DONE at the end, or a negative error. */
    int (*next)(em_sample_iter_t *it);
    /* Move to the first sample with t >= t_ms, starting from the current one (never backwards; if the
     * current sample qualifies, stay). Valid before the first next(). EM_OK, EM_DONE or an error. */
    int (*seek)(em_sample_iter_t *it, int64_t t_ms);
    /* The current sample; only after next()/seek() returned EM_OK. */
    void (*at)(const em_sample_iter_t *it, int64_t *t_ms, double *v);
    void (*free)(em_sample_iter_t *it);
    /* The current sample's start timestamp (when the counter it belongs to started counting, as
     * OpenTelemetry and Prometheus 3 define it), 0 when unknown. NULL for storage that keeps none. */
    int64_t (*at_st)(const em_sample_iter_t *it);
} em_sample_iter_ops_t;

struct em_sample_iter {
    const em_sample_iter_ops_t *ops;
};

static inline int em_sample_iter_next(em_sample_iter_t *it)
{
    return it->ops->next(it);
}
static inline int em_sample_iter_seek(em_sample_iter_t *it, int64_t t_ms)
{
    return it->ops->seek(it, t_ms);
}
static inline void em_sample_iter_at(const em_sample_iter_t *it, int64_t *t_ms, double *v)
{
    it->ops->at(it, t_ms, v);
}
static inline int64_t em_sample_iter_at_st(const em_sample_iter_t *it)
{
    return it->ops->at_st ? it->ops->at_st(it) : 0;
}
static inline void em_sample_iter_free(em_sample_iter_t *it)
{
    if (it)
        it->ops->free(it);
}

/* ---- chunks ---- */

typedef struct em_chunk_ref {
    int64_t mint_ms, maxt_ms; /* first and last sample time in the chunk */
    uint8_t encoding;         /* EM_CHUNK_XOR (1) */
    const uint8_t *data;      /* the encoded chunk, starting with its 2-byte sample count */
    size_t len;
} em_chunk_ref_t;

typedef struct em_chunk_iter em_chunk_iter_t;
typedef struct em_chunk_iter_ops {
    int (*next)(em_chunk_iter_t *it);                    /* EM_OK, EM_DONE or an error */
    void (*at)(const em_chunk_iter_t *it, em_chunk_ref_t *out); /* data valid until next() or free() */
    void (*free)(em_chunk_iter_t *it);
} em_chunk_iter_ops_t;

struct em_chunk_iter {
    const em_chunk_iter_ops_t *ops;
};

static inline int em_chunk_iter_next(em_chunk_iter_t *it)
{
    return it->ops->next(it);
}
static inline void em_chunk_iter_at(const em_chunk_iter_t *it, em_chunk_ref_t *out)
{
    it->ops->at(it, out);
}
static inline void em_chunk_iter_free(em_chunk_iter_t *it)
{
    if (it)
        it->ops->free(it);
}

/* ---- series sets ---- */

typedef struct em_series_set em_series_set_t;
typedef struct em_series_set_ops {
    int (*next)(em_series_set_t *s); /* EM_OK, EM_DONE or an error (then err() has the detail) */
    em_labels_t (*labels)(em_series_set_t *s);
    /* A new iterator over the current series' samples within the querier's [mint, maxt]. */
    int (*samples)(em_series_set_t *s, em_sample_iter_t **out);
    /* A new iterator over the current series' chunks overlapping [mint, maxt]; chunks may hold samples
     * outside the range (callers trim). */
    int (*chunks)(em_series_set_t *s, em_chunk_iter_t **out);
    /* Detail of the last error returned by next(); NULL if none. */
    const char *(*err)(em_series_set_t *s);
    void (*close)(em_series_set_t *s);
} em_series_set_ops_t;

struct em_series_set {
    const em_series_set_ops_t *ops;
};

static inline int em_series_set_next(em_series_set_t *s)
{
    return s->ops->next(s);
}
static inline em_labels_t em_series_set_labels(em_series_set_t *s)
{
    return s->ops->labels(s);
}
static inline int em_series_set_samples(em_series_set_t *s, em_sample_iter_t **out)
{
    return s->ops->samples(s, out);
}
static inline int em_series_set_chunks(em_series_set_t *s, em_chunk_iter_t **out)
{
    return s->ops->chunks(s, out);
}
static inline void em_series_set_close(em_series_set_t *s)
{
    if (s)
        s->ops->close(s);
}

/* An empty set (e.g. for a selector that can match nothing). Never fails. */
em_series_set_t *em_series_set_empty(void);

/* ---- queriers ---- */

/* Hints let storage skip work; they never change the answer. */
typedef struct em_select_hints {
    int64_t start_ms, end_ms; /* the time range the query will really read */
    int64_t step_ms;          /* 0 for instant queries */
    const char *func;         /* the enclosing function ("rate", ...) or NULL */
    int64_t range_ms;         /* range of the enclosing range selector, 0 if none */
} em_select_hints_t;

/* A sorted list of unique strings, allocated in a caller-provided arena. */
typedef struct em_strlist {
    const char **v;
    size_t n, cap;
} em_strlist_t;

void em_strlist_init(em_strlist_t *l);
void em_strlist_fini(em_strlist_t *l); /* frees the array, not the strings */
void em_strlist_add(em_strlist_t *l, const char *s);
void em_strlist_sort_unique(em_strlist_t *l);

typedef struct em_querier em_querier_t;
typedef struct em_querier_ops {
    /* Series matching all matchers (at least one; the caller guarantees one of them does not match the
     * empty string, as PromQL requires). 'sorted' asks for label order. 'hints' may be NULL. */
    int (*select)(em_querier_t *q, bool sorted, const em_select_hints_t *hints, const em_matcher_t *const *ms,
                  size_t n_ms, em_series_set_t **out, em_err_t *err);
    /* Label names (sorted, unique) of series matching the matchers (all series when n_ms == 0) that have
     * samples in [mint, maxt]; strings are copied into 'a'. */
    int (*label_names)(em_querier_t *q, const em_matcher_t *const *ms, size_t n_ms, em_arena_t *a,
                       em_strlist_t *out, em_err_t *err);
    /* Values of label 'name' likewise. */
    int (*label_values)(em_querier_t *q, const char *name, const em_matcher_t *const *ms, size_t n_ms,
                        em_arena_t *a, em_strlist_t *out, em_err_t *err);
    void (*close)(em_querier_t *q);
} em_querier_ops_t;

struct em_querier {
    const em_querier_ops_t *ops;
    int64_t mint_ms, maxt_ms;
};

static inline int em_querier_select(em_querier_t *q, bool sorted, const em_select_hints_t *hints,
                                    const em_matcher_t *const *ms, size_t n_ms, em_series_set_t **out,
                                    em_err_t *err)
{
    return q->ops->select(q, sorted, hints, ms, n_ms, out, err);
}
static inline void em_querier_close(em_querier_t *q)
{
    if (q)
        q->ops->close(q);
}

/* The factory readers hold: a storage that can open queriers over a time range. */
typedef struct em_queryable em_queryable_t;
struct em_queryable {
    int (*querier)(em_queryable_t *self, int64_t mint_ms, int64_t maxt_ms, em_querier_t **out, em_err_t *err);
};

static inline int em_queryable_querier(em_queryable_t *qa, int64_t mint_ms, int64_t maxt_ms, em_querier_t **out,
                                       em_err_t *err)
{
    return qa->querier(qa, mint_ms, maxt_ms, out, err);
}

/* Merge several sorted series sets into one sorted set; series with equal labels are merged sample by
 * sample (a sample present in several inputs with the same timestamp is returned once). Takes ownership
 * of the sets. Thread: as the querier's. */
em_series_set_t *em_series_set_merge(em_series_set_t **sets, size_t n);

/* Register / unregister the calling thread with RCU. Every thread that reads storage calls this once. */
void em_rcu_thread_online(void);
void em_rcu_thread_offline(void);

#endif
