/* Design: see db.h. This file: the db's queriers (blocks and head merged) and the filter that applies
 * head tombstones.
 */
#include <assert.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"
#include "engine/chunk.h"
#include "engine/db_int.h"

void db_match_all(em_matcher_t *m)
{
    int rc = em_matcher_init(m, EM_MATCH_RE, EM_METRIC_NAME, ".*", NULL);
    (void)rc;
    assert(rc == EM_OK);
}

/* ---- the tombstone filter ---- */

typedef struct tomb_iter {
    em_sample_iter_t super;
    em_sample_iter_t *in;
    const head_tomb_t *ht;
} tomb_iter_t;

static int ti_skip(tomb_iter_t *t, int rc)
{
    while (rc == EM_OK) {
        int64_t ts;
        double v;
        em_sample_iter_at(t->in, &ts, &v);
        if (!head_tomb_covers(t->ht, ts))
            return EM_OK;
        rc = em_sample_iter_next(t->in);
    }
    return rc;
}

static int ti_next(em_sample_iter_t *it)
{
    tomb_iter_t *t = (tomb_iter_t *)it;
    return ti_skip(t, em_sample_iter_next(t->in));
}

static int ti_seek(em_sample_iter_t *it, int64_t t_ms)
{
    tomb_iter_t *t = (tomb_iter_t *)it;
    return ti_skip(t, em_sample_iter_seek(t->in, t_ms));
}

static void ti_at(const em_sample_iter_t *it, int64_t *t_ms, double *v)
{
    const tomb_iter_t *t = (const tomb_iter_t *)it;
    em_sample_iter_at(t->in, t_ms, v);
}

static int64_t ti_at_st(const em_sample_iter_t *it)
{
    return em_sample_iter_at_st(((const tomb_iter_t *)it)->in);
}

static void ti_free(em_sample_iter_t *it)
{
    tomb_iter_t *t = (tomb_iter_t *)it;
    em_sample_iter_free(t->in);
    free(t);
}

static const em_sample_iter_ops_t tomb_iter_ops = {ti_next, ti_seek, ti_at, ti_free, ti_at_st};

typedef struct tomb_set {
    em_series_set_t super;
    em_series_set_t *in;
    head_tombs_t *tombs;
    const head_tomb_t *cur; /* deletions of the current series, or NULL */
} tomb_set_t;

static int tomb_samples(tomb_set_t *s, em_sample_iter_t **out)
{
    em_sample_iter_t *in;
    int rc = em_series_set_samples(s->in, &in);
    if (rc != EM_OK || !s->cur) {
        if (rc == EM_OK)
            *out = in;
        return rc;
    }
    tomb_iter_t *t = EM_NEW(tomb_iter_t);
    t->super.ops = &tomb_iter_ops;
    t->in = in;
    t->ht = s->cur;
    *out = &t->super;
    return EM_OK;
}

/* Does the current series keep at least one sample? (Prometheus drops fully deleted series.) */
static bool any_left(tomb_set_t *s)
{
    em_sample_iter_t *it;
    if (tomb_samples(s, &it) != EM_OK)
        return true;
    int rc = em_sample_iter_next(it);
    em_sample_iter_free(it);
    return rc != EM_DONE;
}

static int ts_next(em_series_set_t *s_)
{
    tomb_set_t *s = (tomb_set_t *)s_;
    for (;;) {
        int rc = em_series_set_next(s->in);
        if (rc != EM_OK)
            return rc;
        em_labels_t ls = em_series_set_labels(s->in);
        s->cur = head_tombs_find(s->tombs, em_labels_hash(&ls), &ls);
        if (!s->cur || any_left(s))
            return EM_OK;
    }
}

static em_labels_t ts_labels(em_series_set_t *s_)
{
    return em_series_set_labels(((tomb_set_t *)s_)->in);
}

static int ts_samples(em_series_set_t *s_, em_sample_iter_t **out)
{
    return tomb_samples((tomb_set_t *)s_, out);
}

static int ts_chunks(em_series_set_t *s_, em_chunk_iter_t **out)
{
    tomb_set_t *s = (tomb_set_t *)s_;
    if (!s->cur)
        return em_series_set_chunks(s->in, out);
    em_sample_iter_t *it;
    int rc = tomb_samples(s, &it);
    if (rc != EM_OK)
        return rc;
    /* The remaining samples re-encoded, so compaction writes no deleted data. */
    *out = db_chunks_from_samples(it);
    return EM_OK;
}

static const char *ts_err(em_series_set_t *s_)
{
    tomb_set_t *s = (tomb_set_t *)s_;
    return s->in->ops->err(s->in);
}

static void ts_close(em_series_set_t *s_)
{
    tomb_set_t *s = (tomb_set_t *)s_;
    em_series_set_close(s->in);
    head_tombs_release(s->tombs);
    free(s);
}

static const em_series_set_ops_t tomb_set_ops = {ts_next, ts_labels, ts_samples, ts_chunks, ts_err, ts_close};

em_series_set_t *db_tomb_filter_set(em_series_set_t *inner, head_tombs_t *tombs, int64_t mint, int64_t maxt)
{
    (void)mint;
    (void)maxt;
    if (tombs->n == 0)
        return inner;
    tomb_set_t *s = EM_NEW(tomb_set_t);
    s->super.ops = &tomb_set_ops;
    s->in = inner;
    head_tombs_acquire(tombs);
    s->tombs = tombs;
    return &s->super;
}

/* ---- the db querier ---- */

typedef struct db_querier {
    em_querier_t super;
    em_db_t *db;
    db_reader_t reader; /* in db->readers while 'registered' */
    bool registered;
    em_querier_t *head_q; /* NULL when the range misses the head */
    head_tombs_t *tombs;
    em_querier_t **block_q;
    em_block_t **blocks;
    size_t n_blocks;
} db_querier_t;

static int dq_select(em_querier_t *q_, bool sorted, const em_select_hints_t *hints,
                     const em_matcher_t *const *ms, size_t n_ms, em_series_set_t **out, em_err_t *err)
{
    db_querier_t *q = (db_querier_t *)q_;
    size_t n_subs = q->n_blocks + (q->head_q ? 1 : 0), n = 0;
    if (n_subs == 0) {
        *out = em_series_set_empty();
        return EM_OK;
    }
    /* The merge needs sorted inputs; a single input is passed through as the caller asked. */
    bool sub_sorted = sorted || n_subs > 1;
    em_series_set_t **sets = em_calloc(n_subs, sizeof(*sets));
    int rc = EM_OK;
    for (size_t i = 0; i < q->n_blocks && rc == EM_OK; i++) {
        if (!q->block_q[i])
            continue; /* found corrupt at open */
        rc = em_querier_select(q->block_q[i], sub_sorted, hints, ms, n_ms, &sets[n], err);
        if (rc == EM_OK) {
            n++;
        } else if (rc == EM_ECORRUPT) {
            db_block_quarantine(q->db, q->blocks[i], err);
            rc = EM_OK;
        } else {
            char u[EM_ULID_STR_LEN + 1];
            em_err_prefix(err, "block %s", blk_name(q->blocks[i], u));
        }
    }
    if (rc == EM_OK && q->head_q) {
        rc = em_querier_select(q->head_q, sub_sorted, hints, ms, n_ms, &sets[n], err);
        if (rc == EM_OK) {
            sets[n] = db_tomb_filter_set(sets[n], q->tombs, q->super.mint_ms, q->super.maxt_ms);
            n++;
        }
    }
    if (rc != EM_OK) {
        for (size_t i = 0; i < n; i++)
            em_series_set_close(sets[i]);
        free(sets);
        return rc;
    }
    *out = n == 1 ? sets[0] : em_series_set_merge(sets, n);
    free(sets);
    return EM_OK;
}

static int dq_labels(db_querier_t *q, const char *name, const em_matcher_t *const *ms, size_t n_ms,
                     em_arena_t *a, em_strlist_t *out, em_err_t *err)
{
    size_t total = q->n_blocks + 1;
    for (size_t i = 0; i < total; i++) {
        em_querier_t *sq = i < q->n_blocks ? q->block_q[i] : q->head_q;
        if (!sq)
            continue;
        int rc = name ? sq->ops->label_values(sq, name, ms, n_ms, a, out, err)
                      : sq->ops->label_names(sq, ms, n_ms, a, out, err);
        if (rc == EM_ECORRUPT && i < q->n_blocks)
            db_block_quarantine(q->db, q->blocks[i], err);
        else if (rc != EM_OK)
            return rc;
    }
    em_strlist_sort_unique(out);
    return EM_OK;
}

static int dq_label_names(em_querier_t *q, const em_matcher_t *const *ms, size_t n_ms, em_arena_t *a,
                          em_strlist_t *out, em_err_t *err)
{
    return dq_labels((db_querier_t *)q, NULL, ms, n_ms, a, out, err);
}

static int dq_label_values(em_querier_t *q, const char *name, const em_matcher_t *const *ms, size_t n_ms,
                           em_arena_t *a, em_strlist_t *out, em_err_t *err)
{
    return dq_labels((db_querier_t *)q, name, ms, n_ms, a, out, err);
}

static void reader_add(em_db_t *db, db_reader_t *r)
{
    r->prev = NULL;
    r->next = db->readers;
    if (db->readers)
        db->readers->prev = r;
    db->readers = r;
}

static void reader_remove(em_db_t *db, db_reader_t *r)
{
    pthread_mutex_lock(&db->mu);
    if (r->prev)
        r->prev->next = r->next;
    else
        db->readers = r->next;
    if (r->next)
        r->next->prev = r->prev;
    pthread_cond_broadcast(&db->readers_cv);
    pthread_mutex_unlock(&db->mu);
}

void db_wait_readers(em_db_t *db, uint64_t epoch, int64_t maxt)
{
    pthread_mutex_lock(&db->mu);
    for (int waited_s = 0;; waited_s++) {
        bool pending = false;
        for (db_reader_t *r = db->readers; r && !pending; r = r->next)
            pending = r->epoch < epoch && r->mint < maxt;
        if (!pending)
            break;
        if (waited_s && waited_s % 30 == 0)
            em_warn("db", "Head truncation is waiting for queries that read the head", "waited=%ds",
                    waited_s);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&db->readers_cv, &db->mu, &ts);
    }
    pthread_mutex_unlock(&db->mu);
}

static void dq_close(em_querier_t *q_)
{
    db_querier_t *q = (db_querier_t *)q_;
    em_querier_close(q->head_q);
    if (q->registered)
        reader_remove(q->db, &q->reader);
    for (size_t i = 0; i < q->n_blocks; i++) {
        em_querier_close(q->block_q[i]);
        em_block_release(q->blocks[i]);
    }
    head_tombs_release(q->tombs);
    free(q->block_q);
    free(q->blocks);
    free(q);
}

static const em_querier_ops_t db_querier_ops = {dq_select, dq_label_names, dq_label_values, dq_close};

/* Does [mint, maxt] reach the head's data? Prometheus: the head is queried when maxt >= head.MinTime(). */
static bool head_in_range(em_db_t *db, int64_t mint, int64_t maxt)
{
    em_head_stats_t st;
    em_head_stats(db->head, &st);
    if (st.min_time_ms == INT64_MAX)
        return false;
    return maxt >= st.min_time_ms && mint <= st.max_time_ms;
}

int db_querier_open(em_queryable_t *self, int64_t mint, int64_t maxt, em_querier_t **out, em_err_t *err)
{
    em_db_t *db = (em_db_t *)((char *)self - offsetof(em_db_t, queryable));
    db_querier_t *q = EM_NEW(db_querier_t);
    q->super.ops = &db_querier_ops;
    q->super.mint_ms = mint;
    q->super.maxt_ms = maxt;
    q->db = db;
    int rc = EM_OK;

    pthread_mutex_lock(&db->mu);
    q->blocks = em_calloc(db->n_blocks ? db->n_blocks : 1, sizeof(em_block_t *));
    for (size_t i = 0; i < db->n_blocks; i++) {
        em_block_t *b = db->blocks[i];
        /* A block covers [minTime, maxTime). */
        if (blk_mint(b) <= maxt && blk_maxt(b) > mint) {
            em_block_acquire(b);
            q->blocks[q->n_blocks++] = b;
        }
    }
    q->tombs = db->tombs;
    head_tombs_acquire(q->tombs);
    /* Registered before the head is looked at: a cut listed after this point waits for us before it
     * truncates, and one listed before is in our block list. */
    bool head = head_in_range(db, mint, maxt);
    if (head) {
        q->reader.epoch = db->epoch;
        q->reader.mint = mint;
        reader_add(db, &q->reader);
        q->registered = true;
    }
    pthread_mutex_unlock(&db->mu);

    q->block_q = em_calloc(q->n_blocks ? q->n_blocks : 1, sizeof(em_querier_t *));
    for (size_t i = 0; i < q->n_blocks; i++) {
        rc = em_block_querier(q->blocks[i], mint, maxt, &q->block_q[i], err);
        if (rc == EM_ECORRUPT) {
            db_block_quarantine(db, q->blocks[i], err);
            q->block_q[i] = NULL;
            rc = EM_OK;
        } else if (rc != EM_OK) {
            char u[EM_ULID_STR_LEN + 1];
            em_err_prefix(err, "open querier for block %s", blk_name(q->blocks[i], u));
            goto out;
        }
    }
    if (head)
        rc = em_head_querier(db->head, mint, maxt, &q->head_q, err);
out:
    if (rc != EM_OK) {
        dq_close(&q->super);
        return rc;
    }
    *out = &q->super;
    return EM_OK;
}

int db_head_all(em_db_t *db, int64_t mint, int64_t maxt, em_querier_t **q_out, em_series_set_t **s_out,
                em_err_t *err)
{
    em_querier_t *q;
    int rc = em_head_querier(db->head, mint, maxt, &q, err);
    if (rc != EM_OK)
        return rc;
    em_matcher_t m;
    db_match_all(&m);
    const em_matcher_t *ms[] = {&m};
    em_series_set_t *s;
    rc = em_querier_select(q, true, NULL, ms, 1, &s, err);
    em_matcher_fini(&m);
    if (rc != EM_OK) {
        em_querier_close(q);
        return rc;
    }
    pthread_mutex_lock(&db->mu);
    head_tombs_t *t = db->tombs;
    head_tombs_acquire(t);
    pthread_mutex_unlock(&db->mu);
    *s_out = db_tomb_filter_set(s, t, mint, maxt);
    head_tombs_release(t);
    *q_out = q;
    return EM_OK;
}

bool db_querier_has_head(const em_querier_t *q)
{
    return ((const db_querier_t *)q)->head_q != NULL;
}

size_t db_querier_n_blocks(const em_querier_t *q)
{
    return ((const db_querier_t *)q)->n_blocks;
}
