/* Design: see db.h. This file: the background round -- cutting the head into blocks, leveled
 * compaction, retention -- and the block writing they share.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/duration.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "engine/db_int.h"

/* ---- writing a block ---- */

static int cmp_ulid(const void *a, const void *b)
{
    return em_ulid_cmp(a, b);
}

int db_write_block(em_db_t *db, em_series_set_t *set, int64_t mint, int64_t maxt, em_block_t *const *parents,
                   size_t n_parents, const char *into_dir, em_block_t **out, em_err_t *err)
{
    (void)db;
    em_block_writer_opts_t wo = {.min_time_ms = mint, .max_time_ms = maxt, .level = 1};
    em_ulid_t *sources = NULL;
    em_block_desc_t *descs = NULL;
    size_t n_sources = 0, cap = 0;
    if (n_parents) {
        descs = em_calloc(n_parents, sizeof(*descs));
        for (size_t i = 0; i < n_parents; i++) {
            const em_block_meta_t *m = em_block_meta(parents[i]);
            if (m->level + 1 > wo.level)
                wo.level = m->level + 1;
            descs[i] = (em_block_desc_t){m->ulid, m->min_time_ms, m->max_time_ms};
            for (size_t k = 0; k < m->n_sources; k++) {
                em_grow((void **)&sources, &cap, n_sources + 1, sizeof(em_ulid_t));
                sources[n_sources++] = m->sources[k];
            }
        }
        if (n_sources > 1)
            em_qsort(sources, n_sources, sizeof(em_ulid_t), cmp_ulid);
        size_t w = 0;
        for (size_t i = 0; i < n_sources; i++)
            if (w == 0 || em_ulid_cmp(&sources[i], &sources[w - 1]) != 0)
                sources[w++] = sources[i];
        n_sources = w;
        wo.sources = sources;
        wo.n_sources = n_sources;
        wo.parents = descs;
        wo.n_parents = n_parents;
    }
    em_block_meta_t meta = {0};
    int rc = em_block_write_set(into_dir, &wo, set, &meta, err);
    free(sources);
    free(descs);
    if (rc != EM_OK)
        return rc;
    char name[EM_ULID_STR_LEN + 1], path[PATH_MAX];
    em_ulid_format(&meta.ulid, name);
    snprintf(path, sizeof(path), "%s/%s", into_dir, name);
    if (meta.num_series == 0) {
        /* Nothing left (everything deleted): Prometheus marks such a block deletable; we never keep it. */
        em_block_meta_fini(&meta);
        em_block_remove_dir(path, NULL);
        if (out)
            *out = NULL;
        return EM_OK;
    }
    em_block_meta_fini(&meta);
    if (out) {
        rc = em_block_open(path, out, err);
        if (rc != EM_OK)
            em_err_prefix(err, "open the block just written");
    }
    return rc;
}

/* ---- cutting the head ---- */

/* The end of the aligned range holding t (Prometheus's rangeForTimestamp). */
static int64_t range_end(int64_t t, int64_t range)
{
    int64_t start = t >= 0 ? (t / range) * range : ((t - range + 1) / range) * range;
    return start + range;
}

static bool head_compactable(em_db_t *db, int64_t *mint)
{
    em_head_stats_t st;
    em_head_stats(db->head, &st);
    if (st.min_time_ms == INT64_MAX)
        return false;
    *mint = st.min_time_ms;
    /* Prometheus (Head.compactable): MaxTime - MinTime > chunkRange / 2 * 3. */
    return st.max_time_ms - st.min_time_ms > db->o.min_block_ms / 2 * 3;
}

/* Write the head's oldest range as a block, then truncate the head. Locks: requires maint_mu. */
static int cut_one(em_db_t *db, int64_t mint, em_err_t *err)
{
    int64_t maxt = range_end(mint, db->o.min_block_ms);
    em_querier_t *q;
    em_series_set_t *set;
    int64_t t0 = em_now_ms();
    int rc = db_head_all(db, mint, maxt - 1, &q, &set, err);
    if (rc != EM_OK)
        return rc;
    em_block_t *b = NULL;
    rc = db_write_block(db, set, mint, maxt, NULL, 0, db->dir, &b, err);
    em_series_set_close(set);
    em_querier_close(q);
    if (rc != EM_OK) {
        em_counter_inc(db->m.compactions_failed);
        em_gauge_set(db->m.compaction_failing, 1);
        em_error("db", "Writing a block from the head failed; the head keeps the data and it is retried",
                 "mint=%lld maxt=%lld err=%s", (long long)mint, (long long)maxt, em_q(err ? err->msg : ""));
        return rc;
    }
    em_gauge_set(db->m.compaction_failing, 0);
    em_counter_inc(db->m.compactions);
    if (b) {
        char u[EM_ULID_STR_LEN + 1];
        em_info("db", "write block", "mint=%lld maxt=%lld ulid=%s duration=%lldms", (long long)mint,
                (long long)maxt, blk_name(b, u), (long long)(em_now_ms() - t0));
        db_blocks_add(db, b);
    }
    /* Queries opened before the block was listed may still need the head's copy of its data. */
    pthread_mutex_lock(&db->mu);
    uint64_t epoch = ++db->epoch;
    pthread_mutex_unlock(&db->mu);
    db_wait_readers(db, epoch, maxt);
    em_counter_inc(db->m.head_truncations);
    rc = em_head_truncate(db->head, maxt, err);
    if (rc != EM_OK) {
        em_counter_inc(db->m.head_truncations_failed);
        em_error("db", "Head truncation failed", "mint=%lld err=%s", (long long)maxt,
                 em_q(err ? err->msg : ""));
        return rc;
    }
    /* Deletions of data the head no longer holds are done with. */
    pthread_mutex_lock(&db->mu);
    head_tombs_t *old = db->tombs;
    bool had = old->n > 0;
    if (had)
        db->tombs = head_tombs_trim(old, maxt);
    pthread_mutex_unlock(&db->mu);
    if (had) {
        head_tombs_release(old);
        rc = db_tombs_save(db, err);
    }
    return rc;
}

static int cut_head(em_db_t *db, em_err_t *err)
{
    int64_t mint;
    /* Bounded: each pass removes one block range from the head. */
    for (int i = 0; i < 1000 && head_compactable(db, &mint); i++) {
        int rc = cut_one(db, mint, err);
        if (rc != EM_OK)
            return rc;
    }
    return EM_OK;
}

/* ---- compaction planning (Prometheus's LeveledCompactor.plan) ---- */

/* Ranges min, 3*min, 9*min, ... not above max_block_ms (Prometheus: ExponentialBlockRanges(min, 10, 3)). */
static size_t block_ranges(const em_db_t *db, int64_t *out, size_t cap)
{
    size_t n = 0;
    int64_t r = db->o.min_block_ms;
    for (int i = 0; i < 10 && n < cap; i++, r *= 3) {
        if (r > db->o.max_block_ms)
            break;
        out[n++] = r;
    }
    return n;
}

/* The first run of overlapping blocks (sorted by minTime), into sel; returns its length (0 or >= 2). */
static size_t select_overlapping(em_block_t *const *v, size_t n, em_block_t **sel)
{
    size_t k = 0;
    int64_t gmax = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && blk_mint(v[i]) < gmax) {
            sel[k++] = v[i];
        } else {
            if (k > 1)
                return k;
            k = 0;
            sel[k++] = v[i];
            gmax = INT64_MIN;
        }
        if (blk_maxt(v[i]) > gmax)
            gmax = blk_maxt(v[i]);
    }
    return k > 1 ? k : 0;
}

static int64_t align_down(int64_t t, int64_t r)
{
    return t >= 0 ? r * (t / r) : r * ((t - r + 1) / r);
}

/* Leveled selection over v[0..n) (the newest block already left out). */
static size_t select_leveled(const em_db_t *db, em_block_t *const *v, size_t n, em_block_t **sel)
{
    int64_t ranges[10];
    size_t nr = block_ranges(db, ranges, 10);
    if (nr < 2 || n < 1)
        return 0;
    int64_t high = blk_mint(v[n - 1]);
    for (size_t r = 1; r < nr; r++) {
        int64_t iv = ranges[r];
        for (size_t i = 0; i < n;) {
            int64_t t0 = align_down(blk_mint(v[i]), iv);
            if (blk_maxt(v[i]) > t0 + iv) {
                i++;
                continue;
            }
            size_t k = 0;
            bool failed = false;
            for (; i < n && blk_maxt(v[i]) <= t0 + iv; i++) {
                failed |= em_block_meta(v[i])->failed;
                sel[k++] = v[i];
            }
            int64_t mint = blk_mint(sel[0]), maxt = blk_maxt(sel[k - 1]);
            if (!failed && k > 1 && (maxt - mint == iv || maxt <= high))
                return k;
        }
    }
    return 0;
}

/* A block with a big enough range and more than 5% of its series tombstoned is rewritten alone. */
static size_t select_tombstoned(const em_db_t *db, em_block_t *const *v, size_t n, em_block_t **sel)
{
    int64_t ranges[10];
    size_t nr = block_ranges(db, ranges, 10);
    for (size_t i = n; i-- > 0;) {
        const em_block_meta_t *m = em_block_meta(v[i]);
        if (m->max_time_ms - m->min_time_ms < ranges[nr / 2])
            break;
        if ((double)em_block_num_tombstones(v[i]) / (double)(m->num_series + 1) > 0.05) {
            sel[0] = v[i];
            return 1;
        }
    }
    return 0;
}

/* Merge sel[0..k) into one block, then retire them. Locks: requires maint_mu. */
int db_compact_blocks(em_db_t *db, em_block_t *const *sel, size_t k, em_err_t *err)
{
    int64_t mint = INT64_MAX, maxt = INT64_MIN;
    for (size_t i = 0; i < k; i++) {
        if (blk_mint(sel[i]) < mint)
            mint = blk_mint(sel[i]);
        if (blk_maxt(sel[i]) > maxt)
            maxt = blk_maxt(sel[i]);
    }
    int64_t t0 = em_now_ms();
    em_querier_t **qs = em_calloc(k, sizeof(*qs));
    em_series_set_t **sets = em_calloc(k, sizeof(*sets));
    em_matcher_t all;
    db_match_all(&all);
    const em_matcher_t *ms[] = {&all};
    int rc = EM_OK;
    size_t n_sets = 0;
    for (size_t i = 0; i < k && rc == EM_OK; i++) {
        rc = em_block_querier(sel[i], mint, maxt - 1, &qs[i], err);
        if (rc == EM_OK)
            rc = em_querier_select(qs[i], true, NULL, ms, 1, &sets[n_sets], err);
        if (rc == EM_OK)
            n_sets++;
    }
    em_block_t *nb = NULL;
    if (rc == EM_OK) {
        em_series_set_t *merged = em_series_set_merge(sets, n_sets);
        n_sets = 0;
        rc = db_write_block(db, merged, mint, maxt, sel, k, db->dir, &nb, err);
        em_series_set_close(merged);
    }
    for (size_t i = 0; i < n_sets; i++)
        em_series_set_close(sets[i]);
    for (size_t i = 0; i < k; i++)
        em_querier_close(qs[i]);
    free(sets);
    free(qs);
    em_matcher_fini(&all);
    em_counter_inc(db->m.compactions_triggered);
    if (rc != EM_OK) {
        em_counter_inc(db->m.compactions_failed);
        em_gauge_set(db->m.compaction_failing, 1);
        em_error("db", "Compaction failed; retried at the next round", "blocks=%zu err=%s", k,
                 em_q(err ? err->msg : ""));
        return rc;
    }
    em_gauge_set(db->m.compaction_failing, 0);
    em_counter_inc(db->m.compactions);
    char u[EM_ULID_STR_LEN + 1] = "(empty)";
    if (nb) {
        blk_name(nb, u);
        db_blocks_add(db, nb);
    }
    em_info("db", "compact blocks", "count=%zu mint=%lld maxt=%lld ulid=%s duration=%lldms", k,
            (long long)mint, (long long)maxt, u, (long long)(em_now_ms() - t0));
    /* The new block is in place (renamed and fsynced): only now may the parents go. */
    db_blocks_remove(db, sel, k);
    return EM_OK;
}

static int compact(em_db_t *db, em_err_t *err)
{
    /* Bounded: every successful pass lowers the number of blocks or rewrites a tombstoned one. */
    for (int pass = 0; pass < 100; pass++) {
        size_t n;
        em_block_t **v = db_blocks_snapshot(db, &n);
        em_block_t **sel = em_calloc(n ? n : 1, sizeof(*sel));
        size_t k = select_overlapping(v, n, sel);
        if (!k && n > 0)
            k = select_leveled(db, v, n - 1, sel);
        if (!k && n > 0)
            k = select_tombstoned(db, v, n - 1, sel);
        int rc = k ? db_compact_blocks(db, sel, k, err) : EM_OK;
        free(sel);
        db_blocks_snapshot_free(v, n);
        if (rc != EM_OK || k == 0)
            return rc;
    }
    return EM_OK;
}

/* ---- retention ---- */

static void retention(em_db_t *db)
{
    size_t n;
    em_block_t **v = db_blocks_snapshot(db, &n);
    em_block_t **del = em_calloc(n ? n : 1, sizeof(*del));
    size_t n_del = 0, i;
    /* Newest first (by minTime), as Prometheus walks them. */
    if (db->o.retention_ms > 0 && n > 0) {
        int64_t newest = blk_maxt(v[n - 1]);
        for (i = n - 1; i-- > 0;) {
            /* Prometheus 3 (BeyondTimeRetention): at least the retention behind the newest block. */
            if (newest - blk_maxt(v[i]) >= db->o.retention_ms) {
                for (size_t k = 0; k <= i; k++)
                    del[n_del++] = v[k];
                em_counter_inc(db->m.retention_time);
                break;
            }
        }
    }
    size_t time_del = n_del;
    if (db->o.retention_bytes > 0) {
        char wal[PATH_MAX];
        snprintf(wal, sizeof(wal), "%s/wal", db->dir);
        uint64_t size = em_dir_size(wal);
        for (i = n; i-- > time_del;) {
            size += em_block_size_bytes(v[i]);
            if (size > db->o.retention_bytes) {
                for (size_t k = time_del; k <= i; k++)
                    del[n_del++] = v[k];
                em_counter_inc(db->m.retention_size);
                break;
            }
        }
    }
    for (size_t k = 0; k < n_del; k++) {
        char u[EM_ULID_STR_LEN + 1];
        em_info("db", "Deleting block beyond retention", "block=%s reason=%s", blk_name(del[k], u),
                k < time_del ? "time" : "size");
    }
    if (n_del)
        db_blocks_remove(db, del, n_del);
    free(del);
    db_blocks_snapshot_free(v, n);
}

/* ---- start-up: blocks replaced by a finished compaction ---- */

static bool has_source(const em_block_meta_t *m, const em_ulid_t *u)
{
    for (size_t i = 0; i < m->n_sources; i++)
        if (em_ulid_cmp(&m->sources[i], u) == 0)
            return true;
    return false;
}

/* Is b replaced by o: named as o's parent, or all of b's sources are o's and o is of a higher level? */
static bool replaced_by(const em_block_t *b, const em_block_t *o)
{
    const em_block_meta_t *mb = em_block_meta(b), *mo = em_block_meta(o);
    if (b == o || em_ulid_cmp(&mb->ulid, &mo->ulid) == 0)
        return false;
    for (size_t i = 0; i < mo->n_parents; i++)
        if (em_ulid_cmp(&mo->parents[i].ulid, &mb->ulid) == 0)
            return true;
    if (mo->level <= mb->level || mb->n_sources == 0)
        return false;
    for (size_t i = 0; i < mb->n_sources; i++)
        if (!has_source(mo, &mb->sources[i]))
            return false;
    return true;
}

void db_remove_replaced(em_db_t *db)
{
    em_block_t **del = em_calloc(db->n_blocks ? db->n_blocks : 1, sizeof(*del));
    size_t n_del = 0;
    for (size_t i = 0; i < db->n_blocks; i++) {
        for (size_t k = 0; k < db->n_blocks; k++) {
            if (replaced_by(db->blocks[i], db->blocks[k])) {
                char u[EM_ULID_STR_LEN + 1], w[EM_ULID_STR_LEN + 1];
                em_info("db", "Removing a block replaced by compaction", "block=%s by=%s",
                        blk_name(db->blocks[i], u), blk_name(db->blocks[k], w));
                del[n_del++] = db->blocks[i];
                break;
            }
        }
    }
    if (n_del)
        db_blocks_remove(db, del, n_del);
    free(del);
}

/* ---- the round and the thread ---- */

/* Free the index tables of blocks that no querier used lately: a query over months loads every block's
 * tables, which would otherwise stay for the life of the block. */
static void unload_idle_indexes(em_db_t *db)
{
    size_t n, loaded = 0;
    em_block_t **v = db_blocks_snapshot(db, &n);
    for (size_t i = 0; i < n; i++) {
        if (db->o.index_idle_ms >= 0)
            em_block_unload_idle(v[i], db->o.index_idle_ms);
        loaded += em_block_index_loaded(v[i]);
    }
    db_blocks_snapshot_free(v, n);
    em_gauge_set(db->m.indexes_loaded, (double)loaded);
}

/* Locks: requires maint_mu. */
int db_round(em_db_t *db, em_err_t *err)
{
    em_rcu_thread_online();
    int rc = cut_head(db, err);
    int rc2 = compact(db, rc == EM_OK ? err : NULL);
    if (rc == EM_OK)
        rc = rc2;
    retention(db);
    unload_idle_indexes(db);
    db_update_gauges(db);
    return rc;
}

int em_db_maintain(em_db_t *db, em_err_t *err)
{
    pthread_mutex_lock(&db->maint_mu);
    int rc = db_round(db, err);
    pthread_mutex_unlock(&db->maint_mu);
    return rc;
}

void em_db_wake(em_db_t *db)
{
    pthread_mutex_lock(&db->bg_mu);
    db->bg_wake = true;
    pthread_cond_signal(&db->bg_cv);
    pthread_mutex_unlock(&db->bg_mu);
}

static void deadline_ts(int64_t t_ms, struct timespec *ts)
{
    ts->tv_sec = t_ms / 1000;
    ts->tv_nsec = (t_ms % 1000) * 1000000;
}

void *db_bg_main(void *arg)
{
    em_db_t *db = arg;
    pthread_setname_np(pthread_self(), "ember-db");
    em_rcu_thread_online();
    int64_t next_round = em_now_ms() + db->o.maintain_interval_ms;
    pthread_mutex_lock(&db->bg_mu);
    while (!db->bg_stop) {
        if (!db->bg_wake) {
            struct timespec ts;
            deadline_ts(next_round, &ts);
            pthread_cond_timedwait(&db->bg_cv, &db->bg_mu, &ts);
            if (db->bg_stop)
                break;
        }
        bool woken = db->bg_wake;
        db->bg_wake = false;
        pthread_mutex_unlock(&db->bg_mu);
        /* A wake-up (after appends) runs a round only when the head is ready to be cut; the timer always
         * does (compaction and retention). */
        int64_t mint;
        if (em_now_ms() >= next_round || (woken && head_compactable(db, &mint))) {
            em_err_t err;
            em_err_clear(&err);
            em_db_maintain(db, &err); /* errors are logged and counted where they happen */
            next_round = em_now_ms() + db->o.maintain_interval_ms;
        }
        pthread_mutex_lock(&db->bg_mu);
    }
    pthread_mutex_unlock(&db->bg_mu);
    em_rcu_thread_offline();
    return NULL;
}
