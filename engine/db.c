/* Design: see db.h. This file: opening and closing, the lock file, the block list and its references. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "engine/db_int.h"

/* ---- the block list ---- */

const char *blk_name(const em_block_t *b, char out[EM_ULID_STR_LEN + 1])
{
    em_ulid_format(&em_block_meta(b)->ulid, out);
    return out;
}

static int cmp_block(const void *a, const void *b)
{
    const em_block_t *x = *(em_block_t *const *)a, *y = *(em_block_t *const *)b;
    if (blk_mint(x) != blk_mint(y))
        return (blk_mint(x) > blk_mint(y)) - (blk_mint(x) < blk_mint(y));
    return em_ulid_cmp(&em_block_meta(x)->ulid, &em_block_meta(y)->ulid);
}

void db_blocks_add(em_db_t *db, em_block_t *b)
{
    pthread_mutex_lock(&db->mu);
    em_grow((void **)&db->blocks, &db->cap_blocks, db->n_blocks + 1, sizeof(em_block_t *));
    db->blocks[db->n_blocks++] = b;
    if (db->n_blocks > 1)
        em_qsort(db->blocks, db->n_blocks, sizeof(em_block_t *), cmp_block);
    pthread_mutex_unlock(&db->mu);
    db_update_gauges(db);
}

void db_blocks_remove(em_db_t *db, em_block_t *const *victims, size_t n)
{
    pthread_mutex_lock(&db->mu);
    size_t w = 0;
    for (size_t r = 0; r < db->n_blocks; r++) {
        bool gone = false;
        for (size_t k = 0; k < n && !gone; k++)
            gone = db->blocks[r] == victims[k];
        if (!gone)
            db->blocks[w++] = db->blocks[r];
    }
    db->n_blocks = w;
    pthread_mutex_unlock(&db->mu);
    for (size_t k = 0; k < n; k++) {
        em_block_mark_deleted(victims[k]);
        em_block_release(victims[k]);
    }
    db_update_gauges(db);
}

void db_block_quarantine(em_db_t *db, em_block_t *b, const em_err_t *why)
{
    bool listed = false;
    pthread_mutex_lock(&db->mu);
    for (size_t r = 0; r < db->n_blocks; r++) {
        if (db->blocks[r] == b) {
            memmove(&db->blocks[r], &db->blocks[r + 1], (db->n_blocks - r - 1) * sizeof(em_block_t *));
            db->n_blocks--;
            listed = true;
            break;
        }
    }
    pthread_mutex_unlock(&db->mu);
    if (!listed)
        return; /* another query got there first */
    char u[EM_ULID_STR_LEN + 1];
    em_counter_inc(db->m.blocks_corrupted);
    em_error("db", "Block is corrupt; no longer served (its directory is left for inspection)",
             "block=%s err=%s", blk_name(b, u), em_q(why ? why->msg : ""));
    em_block_release(b); /* the list's reference; queriers keep theirs */
    db_update_gauges(db);
}

em_block_t **db_blocks_snapshot(em_db_t *db, size_t *n)
{
    pthread_mutex_lock(&db->mu);
    em_block_t **v = em_calloc(db->n_blocks ? db->n_blocks : 1, sizeof(em_block_t *));
    for (size_t i = 0; i < db->n_blocks; i++) {
        v[i] = db->blocks[i];
        em_block_acquire(v[i]);
    }
    *n = db->n_blocks;
    pthread_mutex_unlock(&db->mu);
    return v;
}

void db_blocks_snapshot_free(em_block_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        em_block_release(v[i]);
    free(v);
}

void db_update_gauges(em_db_t *db)
{
    uint64_t bytes = 0;
    int64_t lowest = INT64_MAX;
    pthread_mutex_lock(&db->mu);
    size_t n = db->n_blocks;
    for (size_t i = 0; i < n; i++) {
        bytes += em_block_size_bytes(db->blocks[i]);
        if (blk_mint(db->blocks[i]) < lowest)
            lowest = blk_mint(db->blocks[i]);
    }
    pthread_mutex_unlock(&db->mu);
    em_gauge_set(db->m.blocks_loaded, (double)n);
    em_gauge_set(db->m.size_bytes, (double)bytes);
    if (db->head) {
        em_head_stats_t st;
        em_head_stats(db->head, &st);
        if (st.min_time_ms < lowest)
            lowest = st.min_time_ms;
    }
    if (lowest != INT64_MAX)
        em_gauge_set(db->m.lowest_timestamp, (double)lowest);
}

/* ---- metrics ---- */

static void metrics_init(db_metrics_t *m)
{
    m->compactions = em_counter_new("ember_tsdb_compactions_total",
                                    "Total number of compactions that were executed.", NULL);
    m->compactions_failed = em_counter_new("ember_tsdb_compactions_failed_total",
                                           "Total number of compactions that failed.", NULL);
    m->compactions_triggered =
        em_counter_new("ember_tsdb_compactions_triggered_total",
                       "Total number of triggered compactions for the partition.", NULL);
    m->head_truncations = em_counter_new("ember_tsdb_head_truncations_total",
                                         "Total number of head truncations attempted.", NULL);
    m->head_truncations_failed = em_counter_new("ember_tsdb_head_truncations_failed_total",
                                                "Total number of head truncations that failed.", NULL);
    m->retention_time =
        em_counter_new("ember_tsdb_time_retentions_total",
                       "The number of times that blocks were deleted because the maximum time limit "
                       "was exceeded.",
                       NULL);
    m->retention_size =
        em_counter_new("ember_tsdb_size_retentions_total",
                       "The number of times that blocks were deleted because the maximum number of "
                       "bytes was exceeded.",
                       NULL);
    m->blocks_corrupted =
        em_counter_new("ember_blocks_corrupted_total",
                       "Number of block directories skipped because they failed to open.", NULL);
    m->reloads = em_counter_new("ember_tsdb_reloads_total",
                                "Number of times the database reloaded block data from disk.", NULL);
    m->reloads_failed =
        em_counter_new("ember_tsdb_reloads_failures_total",
                       "Number of times the database failed to reloadBlocks block data from disk.", NULL);
    m->blocks_loaded =
        em_gauge_new("ember_tsdb_blocks_loaded", "Number of currently loaded data blocks", NULL);
    m->indexes_loaded = em_gauge_new("ember_tsdb_block_indexes_in_memory",
                                     "Number of blocks whose index tables are in memory for queries.", NULL);
    m->size_bytes =
        em_gauge_new("ember_tsdb_storage_blocks_bytes",
                     "The number of bytes that are currently used for local storage by all blocks.", NULL);
    m->retention_limit_bytes = em_gauge_new("ember_tsdb_retention_limit_bytes",
                                            "Max number of bytes to be retained in the tsdb blocks, "
                                            "configure 0 means disabled",
                                            NULL);
    m->lowest_timestamp =
        em_gauge_new("ember_tsdb_lowest_timestamp",
                     "Lowest timestamp value stored in the database. The unit is decided by the "
                     "library consumer.",
                     NULL);
    m->compaction_failing =
        em_gauge_new("ember_tsdb_compaction_failing",
                     "1 when the last attempt to write a block failed (it is retried).", NULL);
}

/* ---- the lock file ---- */

/* Prometheus: fileutil.Flock on <dir>/lock. We also record our pid so the error can name the owner. */
static int lock_dir(em_db_t *db, em_err_t *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/lock", db->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return em_err_sys(err, EM_EIO, errno, "lock DB directory: open %s", path);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
        close(fd);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        if (e == EWOULDBLOCK)
            return em_err_set(err, EM_EBUSY,
                              "lock DB directory: %s is in use by another process (pid %s); use "
                              "--storage.tsdb.no-lockfile only if you are sure it is not",
                              path, pid[0] ? pid : "unknown");
        return em_err_sys(err, EM_EIO, e, "lock DB directory: flock %s", path);
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        em_warn("db", "Cannot write the pid into the lock file", "path=%s", em_q(path));
    db->lock_fd = fd;
    return EM_OK;
}

static void unlock_dir(em_db_t *db)
{
    if (db->lock_fd < 0)
        return;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/lock", db->dir);
    /* Remove while still holding it, so nobody can take a lock on a file we are about to unlink. */
    unlink(path);
    close(db->lock_fd);
    db->lock_fd = -1;
}

/* ---- scanning ---- */

/* A block directory name: 26 characters of Crockford's base32. */
static bool is_ulid(const char *s)
{
    if (strlen(s) != 26)
        return false;
    for (const char *p = s; *p; p++)
        if (!strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", *p))
            return false;
    return true;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Remove leftovers of interrupted block writes and deletions. */
static void clean_tmp(em_db_t *db)
{
    DIR *d = opendir(db->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!has_suffix(e->d_name, DB_TMP_SUFFIX) && !has_suffix(e->d_name, DB_TMP_DELETE_SUFFIX) &&
            !has_suffix(e->d_name, ".tmp"))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", db->dir, e->d_name);
        em_err_t err;
        if (em_remove_all(path, &err) == EM_OK)
            em_info("db", "Removed leftover of an interrupted write", "path=%s", em_q(path));
        else
            em_warn("db", "Cannot remove leftover", "path=%s err=%s", em_q(path), em_q(err.msg));
    }
    closedir(d);
}

static void load_blocks(em_db_t *db)
{
    DIR *d = opendir(db->dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_ulid(e->d_name))
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", db->dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        em_err_t err;
        em_err_clear(&err);
        em_block_t *b = NULL;
        if (em_block_open(path, &b, &err) != EM_OK) {
            em_counter_inc(db->m.blocks_corrupted);
            em_error("db", "Skipping a block that cannot be opened", "block=%s err=%s", e->d_name,
                     em_q(err.msg));
            continue;
        }
        em_grow((void **)&db->blocks, &db->cap_blocks, db->n_blocks + 1, sizeof(em_block_t *));
        db->blocks[db->n_blocks++] = b;
    }
    closedir(d);
    if (db->n_blocks > 1)
        em_qsort(db->blocks, db->n_blocks, sizeof(em_block_t *), cmp_block);
}

/* ---- open and close ---- */

static void resolve_opts(em_db_t *db)
{
    em_db_opts_t *o = &db->o;
    if (o->min_block_ms <= 0)
        o->min_block_ms = EM_DB_DEFAULT_BLOCK_MS;
    if (o->max_block_ms <= 0) {
        int64_t m = o->retention_ms > 0 ? o->retention_ms / 10 : EM_DB_MAX_BLOCK_CAP_MS;
        o->max_block_ms = m < EM_DB_MAX_BLOCK_CAP_MS ? m : EM_DB_MAX_BLOCK_CAP_MS;
    }
    if (o->max_block_ms < o->min_block_ms)
        o->max_block_ms = o->min_block_ms;
    if (o->maintain_interval_ms <= 0)
        o->maintain_interval_ms = 60 * 1000;
    if (o->index_idle_ms == 0)
        o->index_idle_ms = EM_DB_INDEX_IDLE_MS;
}

static int load_tombs(em_db_t *db, em_err_t *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/head_tombstones", db->dir);
    db->tombs = head_tombs_new();
    if (!em_path_exists(path))
        return EM_OK;
    em_buf_t b = EM_BUF_INIT;
    int rc = em_read_file(path, 1u << 30, &b, err);
    head_tombs_t *t = NULL;
    if (rc == EM_OK)
        rc = head_tombs_decode((const uint8_t *)b.data, b.len, &t, err);
    em_buf_fini(&b);
    if (rc != EM_OK) {
        /* Deletions are lost, the data is not: warn and go on, as for a corrupt block. */
        em_error("db", "Ignoring unreadable head tombstones", "path=%s err=%s", em_q(path),
                 em_q(err ? err->msg : ""));
        return EM_OK;
    }
    head_tombs_release(db->tombs);
    db->tombs = t;
    return EM_OK;
}

int em_db_open(const em_db_opts_t *o, em_db_t **out, em_err_t *err)
{
    int rc = EM_EIO;
    em_db_t *db = EM_NEW(em_db_t);
    db->o = *o;
    db->dir = em_strdup(o->dir);
    db->o.dir = db->dir;
    db->lock_fd = -1;
    db->queryable.querier = db_querier_open;
    resolve_opts(db);
    metrics_init(&db->m);
    em_gauge_set(db->m.retention_limit_bytes, (double)db->o.retention_bytes);
    pthread_mutex_init(&db->mu, NULL);
    pthread_mutex_init(&db->maint_mu, NULL);
    pthread_mutex_init(&db->bg_mu, NULL);
    pthread_cond_init(&db->bg_cv, NULL);
    pthread_cond_init(&db->readers_cv, NULL);

    rc = em_mkdir_all(db->dir, err);
    if (rc != EM_OK)
        goto out;
    if (!db->o.no_lockfile) {
        rc = lock_dir(db, err);
        if (rc != EM_OK)
            goto out;
    }
    clean_tmp(db);
    load_blocks(db);
    db_remove_replaced(db);
    rc = load_tombs(db, err);
    if (rc != EM_OK)
        goto out;
    em_info("db", "Blocks loaded", "dir=%s blocks=%zu", em_q(db->dir), db->n_blocks);

    char wal[PATH_MAX];
    snprintf(wal, sizeof(wal), "%s/wal", db->dir);
    em_head_opts_t ho = {.n_shards = o->head_shards,
                         .wal_dir = wal,
                         .wal_compression = o->wal_compression,
                         .wal_segment_bytes = o->wal_segment_bytes,
                         .chunk_range_ms = db->o.min_block_ms};
    rc = em_head_open(&ho, &db->head, err);
    if (rc != EM_OK)
        goto out;
    /* Prometheus: the head starts where the newest block ends. Data the WAL still holds below it was
     * persisted before a crash interrupted the truncation. */
    if (db->n_blocks) {
        int64_t newest = INT64_MIN;
        for (size_t i = 0; i < db->n_blocks; i++)
            if (blk_maxt(db->blocks[i]) > newest)
                newest = blk_maxt(db->blocks[i]);
        rc = em_head_truncate(db->head, newest, err);
        if (rc != EM_OK)
            goto out;
    }
    db_update_gauges(db);
    if (!db->o.no_background) {
        if (pthread_create(&db->bg, NULL, db_bg_main, db) != 0) {
            rc = em_err_set(err, EM_EIO, "cannot start the db thread");
            goto out;
        }
        db->bg_started = true;
    }
    rc = EM_OK;
out:
    if (rc != EM_OK) {
        em_db_close(db);
        return rc;
    }
    *out = db;
    return EM_OK;
}

void em_db_close(em_db_t *db)
{
    if (!db)
        return;
    if (db->bg_started) {
        pthread_mutex_lock(&db->bg_mu);
        db->bg_stop = true;
        pthread_cond_signal(&db->bg_cv);
        pthread_mutex_unlock(&db->bg_mu);
        pthread_join(db->bg, NULL);
    }
    em_head_close(db->head);
    for (size_t i = 0; i < db->n_blocks; i++)
        em_block_release(db->blocks[i]);
    free(db->blocks);
    head_tombs_release(db->tombs);
    unlock_dir(db);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->maint_mu);
    pthread_mutex_destroy(&db->bg_mu);
    pthread_cond_destroy(&db->bg_cv);
    pthread_cond_destroy(&db->readers_cv);
    free(db->dir);
    free(db);
}

em_head_t *em_db_head(em_db_t *db)
{
    return db->head;
}

em_queryable_t *em_db_queryable(em_db_t *db)
{
    return &db->queryable;
}

size_t em_db_blocks(em_db_t *db, em_db_block_info_t **out)
{
    pthread_mutex_lock(&db->mu);
    size_t n = db->n_blocks;
    em_db_block_info_t *v = em_calloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        em_block_t *b = db->blocks[i];
        const em_block_meta_t *m = em_block_meta(b);
        blk_name(b, v[i].ulid);
        v[i].mint_ms = m->min_time_ms;
        v[i].maxt_ms = m->max_time_ms;
        v[i].level = m->level;
        v[i].size_bytes = em_block_size_bytes(b);
        v[i].n_series = m->num_series;
        v[i].n_samples = m->num_samples;
        v[i].has_tombstones = em_block_num_tombstones(b) > 0;
    }
    pthread_mutex_unlock(&db->mu);
    *out = v;
    return n;
}
