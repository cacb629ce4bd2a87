/* Design: see db.h. This file: deletion, clean_tombstones, snapshots and the status figures. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/mem.h"
#include "engine/db_int.h"

/* ---- deletion ---- */

/* Labels of the head's series matching ms with data in [mint, maxt], copied into 'a'. */
static int head_matching(em_db_t *db, int64_t mint, int64_t maxt, const em_matcher_t *const *ms, size_t n_ms,
                         em_arena_t *a, em_labels_t **out, size_t *n_out, em_err_t *err)
{
    em_querier_t *q;
    int rc = em_head_querier(db->head, mint, maxt, &q, err);
    if (rc != EM_OK)
        return rc;
    em_series_set_t *s;
    rc = em_querier_select(q, false, NULL, ms, n_ms, &s, err);
    if (rc != EM_OK) {
        em_querier_close(q);
        return rc;
    }
    em_labels_t *v = NULL;
    size_t n = 0, cap = 0;
    while ((rc = em_series_set_next(s)) == EM_OK) {
        em_labels_t ls = em_series_set_labels(s);
        em_grow((void **)&v, &cap, n + 1, sizeof(*v));
        v[n++] = em_labels_copy(&ls, a);
    }
    em_series_set_close(s);
    em_querier_close(q);
    if (rc < 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n_out = n;
    return EM_OK;
}

int em_db_delete(em_db_t *db, int64_t mint_ms, int64_t maxt_ms, const em_matcher_t *const *ms, size_t n_ms,
                 em_err_t *err)
{
    em_rcu_thread_online();
    pthread_mutex_lock(&db->maint_mu);
    size_t n;
    em_block_t **v = db_blocks_snapshot(db, &n);
    int rc = EM_OK;
    for (size_t i = 0; i < n && rc == EM_OK; i++) {
        /* Blocks cover [minTime, maxTime); the interval is closed. */
        if (blk_mint(v[i]) > maxt_ms || blk_maxt(v[i]) <= mint_ms)
            continue;
        rc = em_block_delete(v[i], mint_ms, maxt_ms, ms, n_ms, err);
        if (rc != EM_OK) {
            char u[EM_ULID_STR_LEN + 1];
            em_err_prefix(err, "delete in block %s", blk_name(v[i], u));
        }
    }
    db_blocks_snapshot_free(v, n);
    em_arena_t a;
    em_arena_init(&a);
    em_labels_t *ls = NULL;
    size_t n_ls = 0;
    if (rc == EM_OK)
        rc = head_matching(db, mint_ms, maxt_ms, ms, n_ms, &a, &ls, &n_ls, err);
    if (rc == EM_OK && n_ls) {
        pthread_mutex_lock(&db->mu);
        head_tombs_t *old = db->tombs;
        db->tombs = head_tombs_add(old, ls, n_ls, mint_ms, maxt_ms);
        pthread_mutex_unlock(&db->mu);
        head_tombs_release(old);
        rc = db_tombs_save(db, err);
    }
    free(ls);
    em_arena_fini(&a);
    pthread_mutex_unlock(&db->maint_mu);
    if (rc == EM_OK)
        em_info("db", "Deleted series", "mint=%lld maxt=%lld head_series=%zu", (long long)mint_ms,
                (long long)maxt_ms, n_ls);
    return rc;
}

int em_db_clean_tombstones(em_db_t *db, em_err_t *err)
{
    em_rcu_thread_online();
    pthread_mutex_lock(&db->maint_mu);
    size_t n;
    em_block_t **v = db_blocks_snapshot(db, &n);
    int rc = EM_OK;
    for (size_t i = 0; i < n && rc == EM_OK; i++)
        if (em_block_num_tombstones(v[i]) > 0)
            rc = db_compact_blocks(db, &v[i], 1, err);
    db_blocks_snapshot_free(v, n);
    pthread_mutex_unlock(&db->maint_mu);
    return rc;
}

/* ---- snapshots ---- */

/* Hard-link every file under 'src' into 'dst' (directories created). */
static int link_tree(const char *src, const char *dst, em_err_t *err)
{
    if (mkdir(dst, 0755) != 0 && errno != EEXIST)
        return em_err_sys(err, EM_EIO, errno, "mkdir %s", dst);
    DIR *d = opendir(src);
    if (!d)
        return em_err_sys(err, EM_EIO, errno, "open %s", src);
    int rc = EM_OK;
    struct dirent *e;
    while (rc == EM_OK && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char s[PATH_MAX], t[PATH_MAX];
        snprintf(s, sizeof(s), "%s/%s", src, e->d_name);
        snprintf(t, sizeof(t), "%s/%s", dst, e->d_name);
        struct stat st;
        if (stat(s, &st) != 0)
            rc = em_err_sys(err, EM_EIO, errno, "stat %s", s);
        else if (S_ISDIR(st.st_mode))
            rc = link_tree(s, t, err);
        else if (link(s, t) != 0)
            rc = em_err_sys(err, EM_EIO, errno, "link %s", t);
    }
    closedir(d);
    return rc;
}

int em_db_snapshot_to(em_db_t *db, const char *dir, bool skip_head, em_err_t *err)
{
    em_rcu_thread_online();
    int rc = em_mkdir_all(dir, err);
    if (rc != EM_OK)
        return rc;
    pthread_mutex_lock(&db->maint_mu);
    size_t n;
    em_block_t **v = db_blocks_snapshot(db, &n);
    for (size_t i = 0; i < n && rc == EM_OK; i++) {
        char u[EM_ULID_STR_LEN + 1], t[PATH_MAX];
        snprintf(t, sizeof(t), "%s/%s", dir, blk_name(v[i], u));
        rc = link_tree(em_block_dir(v[i]), t, err);
    }
    db_blocks_snapshot_free(v, n);
    if (rc == EM_OK && !skip_head) {
        em_head_stats_t st;
        em_head_stats(db->head, &st);
        if (st.min_time_ms != INT64_MAX) {
            em_querier_t *q;
            em_series_set_t *set;
            rc = db_head_all(db, st.min_time_ms, st.max_time_ms, &q, &set, err);
            if (rc == EM_OK) {
                rc = db_write_block(db, set, st.min_time_ms, st.max_time_ms + 1, NULL, 0, dir, NULL, err);
                em_series_set_close(set);
                em_querier_close(q);
            }
        }
    }
    if (rc == EM_OK)
        rc = em_fsync_dir(dir, err);
    pthread_mutex_unlock(&db->maint_mu);
    return rc;
}

int em_db_snapshot(em_db_t *db, bool skip_head, char *name_out, size_t name_cap, em_err_t *err)
{
    /* Prometheus: time.Now().UTC().Format("20060102T150405Z0700") + "-" + 16 hex digits. */
    char name[64], path[PATH_MAX];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint64_t)now * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    r &= INT64_MAX;
    snprintf(name, sizeof(name), "%04d%02d%02dT%02d%02d%02dZ-%016llx", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned long long)r);
    snprintf(path, sizeof(path), "%s/snapshots/%s", db->dir, name);
    int rc = em_db_snapshot_to(db, path, skip_head, err);
    if (rc != EM_OK) {
        em_remove_all(path, NULL);
        return rc;
    }
    em_info("db", "Snapshot created", "name=%s skip_head=%s", name, skip_head ? "true" : "false");
    snprintf(name_out, name_cap, "%s", name);
    return EM_OK;
}

/* ---- status ---- */

/* A string -> counters table (open addressing), keys in the caller's arena. */
typedef struct stat_ent {
    const char *key;
    uint64_t hash;
    uint64_t a, b;
} stat_ent_t;

typedef struct stat_tab {
    stat_ent_t *v;
    size_t cap, n;
} stat_tab_t;

static stat_ent_t *tab_get(stat_tab_t *t, const char *k, size_t kn, em_arena_t *a, bool *created)
{
    if (2 * (t->n + 1) > t->cap) {
        stat_tab_t nt = {em_calloc(t->cap ? 2 * t->cap : 64, sizeof(stat_ent_t)), t->cap ? 2 * t->cap : 64,
                         t->n};
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->v[i].key)
                continue;
            size_t j = t->v[i].hash & (nt.cap - 1);
            while (nt.v[j].key)
                j = (j + 1) & (nt.cap - 1);
            nt.v[j] = t->v[i];
        }
        free(t->v);
        *t = nt;
    }
    uint64_t h = em_hash64(k, kn);
    size_t j = h & (t->cap - 1);
    while (t->v[j].key) {
        if (t->v[j].hash == h && strlen(t->v[j].key) == kn && memcmp(t->v[j].key, k, kn) == 0) {
            *created = false;
            return &t->v[j];
        }
        j = (j + 1) & (t->cap - 1);
    }
    t->v[j] = (stat_ent_t){em_arena_strndup(a, k, kn), h, 0, 0};
    t->n++;
    *created = true;
    return &t->v[j];
}

static _Thread_local int top_which;

static int cmp_top(const void *x, const void *y)
{
    const stat_ent_t *a = *(const stat_ent_t *const *)x, *b = *(const stat_ent_t *const *)y;
    uint64_t va = top_which ? a->b : a->a, vb = top_which ? b->b : b->a;
    if (va != vb)
        return va > vb ? -1 : 1;
    return strcmp(a->key, b->key);
}

static size_t top(const stat_tab_t *t, int which, size_t limit, em_arena_t *a, em_db_stat_t **out_p)
{
    em_db_stat_t *out = em_arena_alloc(a, limit * sizeof(em_db_stat_t));
    *out_p = out;
    stat_ent_t **v = em_calloc(t->n ? t->n : 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->v[i].key)
            v[n++] = &t->v[i];
    top_which = which;
    if (n > 1)
        em_qsort(v, n, sizeof(*v), cmp_top);
    size_t k = n < limit ? n : limit;
    for (size_t i = 0; i < k; i++)
        out[i] = (em_db_stat_t){v[i]->key, which ? v[i]->b : v[i]->a};
    free(v);
    return k;
}

int em_db_status(em_db_t *db, size_t limit, em_arena_t *a, em_db_status_t *st, em_err_t *err)
{
    memset(st, 0, sizeof(*st));
    em_head_stats_t hs;
    em_head_stats(db->head, &hs);
    st->chunk_count = hs.chunks;
    st->min_time_ms = hs.min_time_ms;
    st->max_time_ms = hs.max_time_ms;
    em_rcu_thread_online();
    em_querier_t *q;
    int rc = em_head_querier(db->head, INT64_MIN, INT64_MAX, &q, err);
    if (rc != EM_OK)
        return rc;
    em_matcher_t all;
    db_match_all(&all);
    const em_matcher_t *ms[] = {&all};
    em_series_set_t *s;
    rc = em_querier_select(q, false, NULL, ms, 1, &s, err);
    em_matcher_fini(&all);
    if (rc != EM_OK) {
        em_querier_close(q);
        return rc;
    }
    stat_tab_t metrics = {0}, names = {0}, pairs = {0};
    em_buf_t key = EM_BUF_INIT;
    while ((rc = em_series_set_next(s)) == EM_OK) {
        em_labels_t ls = em_series_set_labels(s);
        st->num_series++;
        bool created;
        const char *m = em_labels_get(&ls, EM_METRIC_NAME);
        if (m)
            tab_get(&metrics, m, strlen(m), a, &created)->a++;
        for (size_t i = 0; i < ls.n; i++) {
            em_buf_reset(&key);
            em_buf_puts(&key, ls.v[i].name);
            em_buf_putc(&key, '=');
            em_buf_puts(&key, ls.v[i].value);
            stat_ent_t *p = tab_get(&pairs, key.data, key.len, a, &created);
            p->a++;
            if (created) {
                stat_ent_t *nm = tab_get(&names, ls.v[i].name, strlen(ls.v[i].name), a, &created);
                nm->a++;                        /* distinct values */
                nm->b += strlen(ls.v[i].value); /* their bytes */
            }
        }
    }
    em_buf_fini(&key);
    em_series_set_close(s);
    em_querier_close(q);
    if (rc == EM_DONE) {
        rc = EM_OK;
        st->num_label_pairs = pairs.n;
        st->n_series_by_metric = top(&metrics, 0, limit, a, &st->series_by_metric);
        st->n_label_value_count = top(&names, 0, limit, a, &st->label_value_count);
        st->n_memory_by_label = top(&names, 1, limit, a, &st->memory_by_label);
        st->n_series_by_pair = top(&pairs, 0, limit, a, &st->series_by_pair);
    }
    free(metrics.v);
    free(names.v);
    free(pairs.v);
    return rc;
}
