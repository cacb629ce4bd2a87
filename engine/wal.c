/* Design: see wal.h */
#include "engine/wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/duration.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"

#define DEFAULT_SEGMENT_BYTES (128u << 20)
#define MAX_RECORD_BYTES (256u << 20) /* a payload above this is corruption, not data */

struct em_wal {
    char *dir;
    em_wal_opts_t o;
    int fd;
    uint32_t seg;
    uint64_t seg_bytes;
    uint64_t bytes_written;
    em_buf_t pending;
    char *zbuf; /* snappy output scratch */
    size_t zcap;
    int failed;            /* sticky error code */
    char failed_msg[256];
    em_histogram_t *fsync_seconds;
    em_counter_t *written;
};

struct em_wal_checkpoint {
    char *dir;    /* the log directory */
    char *tmp;    /* <dir>/checkpoint.<upto>.tmp */
    uint32_t upto;
    int fd;
    em_buf_t buf;
};

static em_counter_t *corruptions_counter(void)
{
    return em_counter_new("ember_wal_corruptions_total", "Total number of WAL corruptions repaired at start-up.",
                          NULL);
}

/* ---- record encoding ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* Append one encoded record to 'out', compressing into the scratch buffer when asked and worth it. */
static void encode_record(em_buf_t *out, uint8_t type, const void *payload, size_t n, bool compress, char **zbuf,
                          size_t *zcap)
{
    const void *body = payload;
    size_t body_n = n;
    if (compress && n > 64) {
        size_t need = snappy_max_compressed_length(n);
        if (need > *zcap) {
            *zbuf = em_realloc(*zbuf, need);
            *zcap = need;
        }
        size_t zn = need;
        if (snappy_compress(payload, n, *zbuf, &zn) == SNAPPY_OK && zn < n) {
            body = *zbuf;
            body_n = zn;
            type |= EM_WAL_COMPRESSED;
        }
    }
    uint8_t hdr[EM_WAL_HEADER_BYTES];
    hdr[0] = type;
    put_le32(hdr + 1, (uint32_t)body_n);
    put_le32(hdr + 5, em_crc32c(0, body, body_n));
    em_buf_append(out, hdr, sizeof(hdr));
    em_buf_append(out, body, body_n);
}

/* ---- segments ---- */

static void seg_path(char *out, size_t n, const char *dir, uint32_t seg)
{
    snprintf(out, n, "%s/%08u", dir, seg);
}

static bool parse_seg_name(const char *name, uint32_t *seg)
{
    if (strlen(name) != 8)
        return false;
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(name[i] - '0');
    }
    *seg = v;
    return true;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* List segment numbers in 'dir' (sorted) and the newest committed checkpoint (or -1). Removes temporary
 * checkpoint directories left by a crash. */
static int list_dir(const char *dir, uint32_t **segs, size_t *n_segs, int64_t *ckpt, em_err_t *err)
{
    *segs = NULL;
    *n_segs = 0;
    *ckpt = -1;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? EM_OK : em_err_sys(err, EM_EIO, errno, "open WAL directory %s", dir);
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        uint32_t s;
        if (parse_seg_name(e->d_name, &s)) {
            em_grow((void **)segs, &cap, *n_segs + 1, sizeof(uint32_t));
            (*segs)[(*n_segs)++] = s;
        } else if (strncmp(e->d_name, "checkpoint.", 11) == 0) {
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            uint32_t c;
            if (strlen(e->d_name) == 19 && parse_seg_name(e->d_name + 11, &c)) {
                if ((int64_t)c > *ckpt)
                    *ckpt = c;
            } else {
                em_warn("wal", "Removing incomplete checkpoint", "path=%s", em_q(path));
                em_remove_all(path, NULL);
            }
        }
    }
    closedir(d);
    if (*n_segs)
        em_qsort(*segs, *n_segs, sizeof(uint32_t), cmp_u32);
    return EM_OK;
}

static int open_segment(em_wal_t *w, uint32_t seg, em_err_t *err)
{
    char path[PATH_MAX];
    seg_path(path, sizeof(path), w->dir, seg);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (fd < 0)
        return em_err_sys(err, EM_EIO, errno, "create WAL segment %s", path);
    w->fd = fd;
    w->seg = seg;
    struct stat st;
    w->seg_bytes = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    em_fsync_dir(w->dir, NULL);
    return EM_OK;
}

static int fail(em_wal_t *w, em_err_t *err, int code, int errnum, const char *what)
{
    w->failed = code;
    snprintf(w->failed_msg, sizeof(w->failed_msg), "%s %s/%08u: %s", what, w->dir, w->seg, strerror(errnum));
    em_error("wal", "WAL write failed; the head stops acknowledging writes", "err=%s", em_q(w->failed_msg));
    return em_err_set(err, code, "%s", w->failed_msg);
}

static int sync_fd(em_wal_t *w, em_err_t *err)
{
    int64_t t0 = em_mono_ns();
    if (fsync(w->fd) != 0)
        return fail(w, err, EM_EIO, errno, "fsync");
    em_histogram_observe(w->fsync_seconds, (double)(em_mono_ns() - t0) / 1e9);
    return EM_OK;
}

int em_wal_open(const char *dir, const em_wal_opts_t *o, em_wal_t **out, em_err_t *err)
{
    int rc = em_mkdir_all(dir, err);
    if (rc != EM_OK)
        return rc;
    uint32_t *segs;
    size_t n;
    int64_t ckpt;
    rc = list_dir(dir, &segs, &n, &ckpt, err);
    if (rc != EM_OK)
        return rc;
    uint32_t next = n ? segs[n - 1] + 1 : (ckpt >= 0 ? (uint32_t)ckpt + 1 : 0);
    free(segs);
    em_wal_t *w = EM_NEW(em_wal_t);
    w->dir = em_strdup(dir);
    w->o = *o;
    if (!w->o.segment_bytes)
        w->o.segment_bytes = DEFAULT_SEGMENT_BYTES;
    w->fd = -1;
    w->fsync_seconds = em_histogram_new("ember_wal_fsync_duration_seconds", "Duration of WAL fsync.", NULL,
                                        em_metrics_latency_buckets, em_metrics_latency_buckets_n);
    w->written = em_counter_new("ember_wal_bytes_written_total", "Bytes written to the WAL.", NULL);
    rc = open_segment(w, next, err);
    if (rc != EM_OK) {
        free(w->dir);
        free(w);
        return rc;
    }
    *out = w;
    return EM_OK;
}

void em_wal_close(em_wal_t *w)
{
    if (!w)
        return;
    if (!w->failed)
        em_wal_flush(w, NULL);
    if (w->fd >= 0) {
        if (!w->failed)
            fsync(w->fd);
        close(w->fd);
    }
    em_buf_fini(&w->pending);
    free(w->zbuf);
    free(w->dir);
    free(w);
}

void em_wal_add(em_wal_t *w, uint8_t type, const void *payload, size_t n)
{
    encode_record(&w->pending, type, payload, n, w->o.compress, &w->zbuf, &w->zcap);
}

static int rotate(em_wal_t *w, em_err_t *err)
{
    int rc = sync_fd(w, err);
    if (rc != EM_OK)
        return rc;
    close(w->fd);
    w->fd = -1;
    rc = open_segment(w, w->seg + 1, err);
    if (rc != EM_OK)
        return fail(w, err, rc, errno, "open next segment");
    return EM_OK;
}

int em_wal_flush(em_wal_t *w, em_err_t *err)
{
    if (w->failed)
        return em_err_set(err, w->failed, "%s", w->failed_msg);
    if (w->pending.len == 0)
        return EM_OK;
    if (w->seg_bytes > 0 && w->seg_bytes + w->pending.len > w->o.segment_bytes) {
        int rc = rotate(w, err);
        if (rc != EM_OK)
            return rc;
    }
    if (em_write_all(w->fd, w->pending.data, w->pending.len) != EM_OK) {
        /* A partial record at the tail is cut at the next start; nothing after it was acknowledged. */
        return fail(w, err, EM_EIO, errno, "write");
    }
    w->seg_bytes += w->pending.len;
    w->bytes_written += w->pending.len;
    em_counter_add(w->written, w->pending.len);
    em_buf_reset(&w->pending);
    return EM_OK;
}

int em_wal_sync(em_wal_t *w, em_err_t *err)
{
    if (w->failed)
        return em_err_set(err, w->failed, "%s", w->failed_msg);
    return sync_fd(w, err);
}

int em_wal_cut(em_wal_t *w, uint32_t *closed, em_err_t *err)
{
    int rc = em_wal_flush(w, err);
    if (rc != EM_OK)
        return rc;
    uint32_t cur = w->seg;
    rc = rotate(w, err);
    if (rc != EM_OK)
        return rc;
    *closed = cur;
    return EM_OK;
}

uint64_t em_wal_bytes_written(const em_wal_t *w)
{
    return w->bytes_written;
}

uint32_t em_wal_segment(const em_wal_t *w)
{
    return w->seg;
}

/* ---- replay ---- */

typedef struct replay_ctx {
    em_wal_record_fn fn;
    void *arg;
    em_wal_replay_stats_t *st;
    char *zbuf;
    size_t zcap;
} replay_ctx_t;

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Replay one file. Returns EM_OK, the callback's code, EM_EIO, or EM_ECORRUPT with *bad_off set to the
 * offset of the first bad record. */
static int replay_file(const char *path, replay_ctx_t *rc_, uint64_t *bad_off, em_err_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return em_err_sys(err, EM_EIO, errno, "open %s", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return em_err_sys(err, EM_EIO, errno, "stat %s", path);
    }
    size_t size = (size_t)st.st_size;
    int rc = EM_OK;
    if (size == 0) {
        close(fd);
        return EM_OK;
    }
    const uint8_t *base = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (base == MAP_FAILED)
        return em_err_sys(err, EM_EIO, errno, "mmap %s", path);
    size_t off = 0;
    while (off < size) {
        if (base[off] == 0 && all_zero(base + off, size - off)) {
            *bad_off = off; /* zero fill after the last record (e.g. a crash after extending the file) */
            rc = EM_DONE;
            break;
        }
        if (size - off < EM_WAL_HEADER_BYTES || base[off] == 0) {
            *bad_off = off;
            rc = EM_ECORRUPT;
            break;
        }
        uint8_t type = base[off];
        uint32_t len = get_le32(base + off + 1), crc = get_le32(base + off + 5);
        if (len > MAX_RECORD_BYTES || len > size - off - EM_WAL_HEADER_BYTES) {
            *bad_off = off;
            rc = EM_ECORRUPT;
            break;
        }
        const uint8_t *payload = base + off + EM_WAL_HEADER_BYTES;
        if (em_crc32c(0, payload, len) != crc) {
            *bad_off = off;
            rc = EM_ECORRUPT;
            break;
        }
        const uint8_t *p = payload;
        size_t pn = len;
        if (type & EM_WAL_COMPRESSED) {
            size_t un;
            if (snappy_uncompressed_length((const char *)payload, len, &un) != SNAPPY_OK || un > MAX_RECORD_BYTES) {
                *bad_off = off;
                rc = EM_ECORRUPT;
                break;
            }
            if (un > rc_->zcap) {
                rc_->zbuf = em_realloc(rc_->zbuf, un);
                rc_->zcap = un;
            }
            if (snappy_uncompress((const char *)payload, len, rc_->zbuf, &un) != SNAPPY_OK) {
                *bad_off = off;
                rc = EM_ECORRUPT;
                break;
            }
            p = (const uint8_t *)rc_->zbuf;
            pn = un;
        }
        rc = rc_->fn(rc_->arg, type & (uint8_t)~EM_WAL_COMPRESSED, p, pn);
        if (rc != EM_OK) {
            em_err_set(err, rc, "WAL record at %s:%zu rejected", path, off);
            break;
        }
        rc_->st->records++;
        rc_->st->bytes += EM_WAL_HEADER_BYTES + len;
        off += EM_WAL_HEADER_BYTES + len;
    }
    munmap((void *)base, size);
    return rc;
}

static int replay_checkpoint(const char *dir, uint32_t ckpt, replay_ctx_t *ctx, em_err_t *err)
{
    char cdir[PATH_MAX];
    snprintf(cdir, sizeof(cdir), "%s/checkpoint.%08u", dir, ckpt);
    uint32_t *segs;
    size_t n;
    int64_t inner;
    int rc = list_dir(cdir, &segs, &n, &inner, err);
    if (rc != EM_OK)
        return rc;
    for (size_t i = 0; i < n && rc == EM_OK; i++) {
        char path[PATH_MAX];
        seg_path(path, sizeof(path), cdir, segs[i]);
        uint64_t bad = 0;
        rc = replay_file(path, ctx, &bad, err);
        if (rc == EM_DONE)
            rc = EM_OK;
        if (rc == EM_ECORRUPT) {
            /* A checkpoint is written whole and renamed into place, so this is disk damage: keep what was
             * readable and go on with the segments rather than refusing to start. */
            em_error("wal", "Corrupt WAL checkpoint; data in it after the damage is lost", "path=%s offset=%llu",
                     em_q(path), (unsigned long long)bad);
            em_counter_inc(corruptions_counter());
            ctx->st->corruptions++;
            rc = EM_OK;
            break;
        }
    }
    ctx->st->checkpoint = true;
    free(segs);
    return rc;
}

int em_wal_replay(const char *dir, em_wal_record_fn fn, void *arg, em_wal_replay_stats_t *st, em_err_t *err)
{
    em_wal_replay_stats_t local;
    if (!st)
        st = &local;
    memset(st, 0, sizeof(*st));
    uint32_t *segs;
    size_t n;
    int64_t ckpt;
    int rc = list_dir(dir, &segs, &n, &ckpt, err);
    if (rc != EM_OK)
        return rc;
    replay_ctx_t ctx = {fn, arg, st, NULL, 0};
    if (ckpt >= 0)
        rc = replay_checkpoint(dir, (uint32_t)ckpt, &ctx, err);
    for (size_t i = 0; i < n && rc == EM_OK; i++) {
        if (ckpt >= 0 && segs[i] <= (uint32_t)ckpt)
            continue; /* left over from an interrupted cleanup: covered by the checkpoint */
        char path[PATH_MAX];
        seg_path(path, sizeof(path), dir, segs[i]);
        uint64_t bad = 0;
        rc = replay_file(path, &ctx, &bad, err);
        st->segments++;
        if (rc == EM_DONE) {
            rc = truncate(path, (off_t)bad) == 0 ? EM_OK : em_err_sys(err, EM_EIO, errno, "truncate %s", path);
            continue;
        }
        if (rc != EM_ECORRUPT)
            continue;
        em_warn("wal", "Corrupt or torn WAL record: truncating the log there", "segment=%s offset=%llu "
                "later_segments_removed=%zu", em_q(path), (unsigned long long)bad, n - i - 1);
        em_counter_inc(corruptions_counter());
        st->corruptions++;
        if (truncate(path, (off_t)bad) != 0) {
            rc = em_err_sys(err, EM_EIO, errno, "truncate corrupt WAL segment %s", path);
            break;
        }
        for (size_t k = i + 1; k < n; k++) {
            seg_path(path, sizeof(path), dir, segs[k]);
            unlink(path);
        }
        rc = EM_OK;
        break;
    }
    free(segs);
    free(ctx.zbuf);
    return rc;
}

/* ---- checkpoints ---- */

int em_wal_checkpoint_begin(const char *dir, uint32_t upto, em_wal_checkpoint_t **out, em_err_t *err)
{
    em_wal_checkpoint_t *c = EM_NEW(em_wal_checkpoint_t);
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/checkpoint.%08u.tmp", dir, upto);
    em_remove_all(tmp, NULL);
    int rc = em_mkdir_all(tmp, err);
    if (rc != EM_OK) {
        free(c);
        return rc;
    }
    char path[PATH_MAX];
    seg_path(path, sizeof(path), tmp, 0);
    c->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (c->fd < 0) {
        rc = em_err_sys(err, EM_EIO, errno, "create %s", path);
        em_remove_all(tmp, NULL);
        free(c);
        return rc;
    }
    c->dir = em_strdup(dir);
    c->tmp = em_strdup(tmp);
    c->upto = upto;
    *out = c;
    return EM_OK;
}

void em_wal_checkpoint_add(em_wal_checkpoint_t *c, uint8_t type, const void *payload, size_t n)
{
    char *z = NULL;
    size_t zc = 0;
    encode_record(&c->buf, type, payload, n, false, &z, &zc);
    /* Keep memory bounded: write out every few MiB; errors surface at commit through the sticky fd. */
    if (c->buf.len > (4u << 20) && c->fd >= 0) {
        if (em_write_all(c->fd, c->buf.data, c->buf.len) != EM_OK) {
            close(c->fd);
            c->fd = -1;
        }
        em_buf_reset(&c->buf);
    }
}

static void checkpoint_free(em_wal_checkpoint_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    em_buf_fini(&c->buf);
    free(c->dir);
    free(c->tmp);
    free(c);
}

void em_wal_checkpoint_abort(em_wal_checkpoint_t *c)
{
    if (!c)
        return;
    em_remove_all(c->tmp, NULL);
    checkpoint_free(c);
}

int em_wal_checkpoint_commit(em_wal_checkpoint_t *c, em_err_t *err)
{
    int rc = EM_OK;
    if (c->fd < 0 || em_write_all(c->fd, c->buf.data, c->buf.len) != EM_OK || fsync(c->fd) != 0) {
        rc = em_err_sys(err, EM_EIO, errno, "write checkpoint %s", c->tmp);
        em_wal_checkpoint_abort(c);
        return rc;
    }
    close(c->fd);
    c->fd = -1;
    if ((rc = em_fsync_dir(c->tmp, err)) != EM_OK) {
        em_wal_checkpoint_abort(c);
        return rc;
    }
    char final[PATH_MAX];
    snprintf(final, sizeof(final), "%s/checkpoint.%08u", c->dir, c->upto);
    em_remove_all(final, NULL);
    if (rename(c->tmp, final) != 0) {
        rc = em_err_sys(err, EM_EIO, errno, "rename checkpoint to %s", final);
        em_wal_checkpoint_abort(c);
        return rc;
    }
    em_fsync_dir(c->dir, NULL);
    /* The checkpoint is durable: drop what it replaces. A crash from here on leaves covered segments
     * behind, which replay skips and the next checkpoint removes. */
    uint32_t *segs;
    size_t n;
    int64_t newest;
    if (list_dir(c->dir, &segs, &n, &newest, NULL) == EM_OK) {
        char path[PATH_MAX];
        for (size_t i = 0; i < n; i++) {
            if (segs[i] <= c->upto) {
                seg_path(path, sizeof(path), c->dir, segs[i]);
                unlink(path);
            }
        }
        free(segs);
        DIR *d = opendir(c->dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            uint32_t k;
            if (strncmp(e->d_name, "checkpoint.", 11) == 0 && strlen(e->d_name) == 19 &&
                parse_seg_name(e->d_name + 11, &k) && k < c->upto) {
                snprintf(path, sizeof(path), "%s/%s", c->dir, e->d_name);
                em_remove_all(path, NULL);
            }
        }
        if (d)
            closedir(d);
        em_fsync_dir(c->dir, NULL);
    }
    checkpoint_free(c);
    return EM_OK;
}

/* ---- shard count ---- */

int em_wal_read_shard_count(const char *wal_root, int *n, em_err_t *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/shards", wal_root);
    em_buf_t b = EM_BUF_INIT;
    int rc = em_read_file(path, 64, &b, err);
    if (rc == EM_ENOTFOUND) {
        *n = 0;
        em_buf_fini(&b);
        em_err_clear(err);
        return EM_OK;
    }
    if (rc == EM_OK) {
        char *end;
        long v = strtol(b.data ? b.data : "", &end, 10);
        if (v < 1 || v > 4096 || (*end != '\n' && *end != '\0'))
            rc = em_err_set(err, EM_ECORRUPT, "%s: invalid shard count", path);
        else
            *n = (int)v;
    }
    em_buf_fini(&b);
    return rc;
}

int em_wal_write_shard_count(const char *wal_root, int n, em_err_t *err)
{
    int rc = em_mkdir_all(wal_root, err);
    if (rc != EM_OK)
        return rc;
    char path[PATH_MAX], text[32];
    snprintf(path, sizeof(path), "%s/shards", wal_root);
    int len = snprintf(text, sizeof(text), "%d\n", n);
    return em_write_file_atomic(path, text, (size_t)len, err);
}
