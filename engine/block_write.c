/* Design: see block.h (WRITING). The index layout follows Prometheus 2.x's index.Writer closely enough
 * that the same series and chunk references give the same bytes: section starts are recorded before
 * padding, series are 16-byte aligned, label indices and postings lists 4-byte aligned. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/hash.h"
#include "base/mem.h"
#include "engine/block_int.h"
#include "engine/chunk.h"

#define FLUSH_BYTES (1u << 20)

/* A file written through a buffer, tracking its position. */
typedef struct wfile {
    int fd;
    uint64_t pos; /* bytes written or buffered */
    em_buf_t buf;
    const char *path;
} wfile_t;

typedef struct wseries {
    em_labels_t ls;   /* copied into the writer's arena */
    size_t chunk0, n; /* chunk metas [chunk0, chunk0 + n) of w->chunks */
} wseries_t;

struct em_block_writer {
    em_block_writer_opts_t o;
    em_ulid_t *sources;
    em_block_desc_t *parents;
    char tmp_dir[PATH_MAX], final_dir[PATH_MAX], parent[PATH_MAX];
    int rc;       /* sticky error */
    em_err_t err; /* its detail */
    bool committed;

    wfile_t seg; /* current chunk segment file */
    char seg_path[PATH_MAX];
    uint32_t seg_seq; /* 0-based sequence of the current file; files are named seq + 1 */
    bool seg_open;

    em_arena_t arena;
    wseries_t *series;
    size_t n_series, cap_series;
    em_index_chunk_t *chunks;
    size_t n_chunks, cap_chunks;
    uint64_t n_samples;
    uint64_t n_hist_samples; /* of n_samples, those in (copied) native histogram chunks */
    em_tombstones_t tomb;

    /* re-encoding scratch */
    uint8_t enc_buf[4096];
    int64_t *ts;
    double *vs;
    size_t cap_samples;
};

static int fail(em_block_writer_t *w, em_err_t *err, int code, int errnum, const char *fmt, const char *arg)
{
    if (w->rc == EM_OK) {
        if (errnum)
            em_err_sys(&w->err, code, errnum, fmt, arg);
        else
            em_err_set(&w->err, code, fmt, arg);
        w->rc = code;
    }
    if (err)
        *err = w->err;
    return w->rc;
}

static int sticky(em_block_writer_t *w, em_err_t *err)
{
    if (w->rc != EM_OK && err)
        *err = w->err;
    return w->rc;
}

/* ---- buffered files ---- */

static int wf_open(wfile_t *f, const char *path)
{
    memset(f, 0, sizeof(*f));
    f->path = path;
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    return f->fd < 0 ? EM_EIO : EM_OK;
}

static int wf_flush(wfile_t *f)
{
    if (f->buf.len && em_write_all(f->fd, f->buf.data, f->buf.len) != EM_OK)
        return EM_EIO;
    em_buf_reset(&f->buf);
    return EM_OK;
}

static int wf_write(wfile_t *f, const void *p, size_t n)
{
    em_buf_append(&f->buf, p, n);
    f->pos += n;
    return f->buf.len >= FLUSH_BYTES ? wf_flush(f) : EM_OK;
}

static int wf_pad(wfile_t *f, unsigned align)
{
    static const uint8_t zeros[16];
    size_t pad = (size_t)((align - f->pos % align) % align);
    return pad ? wf_write(f, zeros, pad) : EM_OK;
}

/* Flush, fsync unless told not to, close. */
static int wf_close(wfile_t *f, bool sync)
{
    int rc = wf_flush(f);
    if (rc == EM_OK && sync && fsync(f->fd) != 0)
        rc = EM_EIO;
    if (close(f->fd) != 0 && rc == EM_OK)
        rc = EM_EIO;
    f->fd = -1;
    em_buf_fini(&f->buf);
    return rc;
}

static void wf_abort(wfile_t *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    em_buf_fini(&f->buf);
}

/* ---- life cycle ---- */

int em_block_writer_new(const char *parent_dir, const em_block_writer_opts_t *o, em_block_writer_t **out,
                        em_err_t *err)
{
    em_block_writer_t *w = EM_NEW(em_block_writer_t);
    w->o = *o;
    w->seg.fd = -1;
    em_arena_init(&w->arena);
    em_tombstones_init(&w->tomb);
    static const em_ulid_t zero;
    if (em_ulid_cmp(&w->o.ulid, &zero) == 0)
        w->o.ulid = em_ulid_new(-1);
    if (w->o.level <= 0)
        w->o.level = 1;
    if (!w->o.segment_max_bytes)
        w->o.segment_max_bytes = EM_BLOCK_SEGMENT_MAX_BYTES;
    if (o->n_sources) {
        w->sources = em_malloc(o->n_sources * sizeof(*w->sources));
        memcpy(w->sources, o->sources, o->n_sources * sizeof(*w->sources));
    } else {
        w->sources = em_malloc(sizeof(*w->sources));
        w->sources[0] = w->o.ulid;
        w->o.n_sources = 1;
    }
    if (o->n_parents) {
        w->parents = em_malloc(o->n_parents * sizeof(*w->parents));
        memcpy(w->parents, o->parents, o->n_parents * sizeof(*w->parents));
    }
    w->o.sources = w->sources;
    w->o.parents = w->parents;
    char name[EM_ULID_STR_LEN + 1];
    em_ulid_format(&w->o.ulid, name);
    snprintf(w->parent, sizeof(w->parent), "%s", parent_dir);
    snprintf(w->final_dir, sizeof(w->final_dir), "%s/%s", parent_dir, name);
    snprintf(w->tmp_dir, sizeof(w->tmp_dir), "%s/%s%s", parent_dir, name, EM_BLOCK_TMP_SUFFIX);
    char chunks[PATH_MAX];
    snprintf(chunks, sizeof(chunks), "%s/chunks", w->tmp_dir);
    int rc = em_remove_all(w->tmp_dir, err);
    if (rc == EM_OK)
        rc = em_mkdir_all(chunks, err);
    if (rc != EM_OK) {
        w->committed = true; /* nothing to clean beyond what failed */
        em_block_writer_free(w);
        return rc;
    }
    *out = w;
    return EM_OK;
}

void em_block_writer_free(em_block_writer_t *w)
{
    if (!w)
        return;
    if (w->seg_open)
        wf_abort(&w->seg);
    if (!w->committed)
        em_remove_all(w->tmp_dir, NULL);
    free(w->series);
    free(w->chunks);
    free(w->sources);
    free(w->parents);
    free(w->ts);
    free(w->vs);
    em_tombstones_fini(&w->tomb);
    em_arena_fini(&w->arena);
    free(w);
}

void em_block_writer_set_tombstones(em_block_writer_t *w, const em_tombstones_t *t)
{
    em_tombstones_fini(&w->tomb);
    for (size_t i = 0; i < t->n; i++)
        for (size_t j = 0; j < t->v[i].n; j++)
            em_tombstones_add(&w->tomb, t->v[i].series_ref, t->v[i].iv[j].mint_ms, t->v[i].iv[j].maxt_ms);
}

/* ---- chunks ---- */

static int seg_cut(em_block_writer_t *w, em_err_t *err)
{
    if (w->seg_open) {
        int rc = wf_close(&w->seg, !w->o.no_fsync);
        w->seg_open = false;
        if (rc != EM_OK)
            return fail(w, err, EM_EIO, errno, "write %s", w->seg_path);
        w->seg_seq++;
    }
    snprintf(w->seg_path, sizeof(w->seg_path), "%s/chunks/%06" PRIu32, w->tmp_dir, w->seg_seq + 1);
    if (wf_open(&w->seg, w->seg_path) != EM_OK)
        return fail(w, err, EM_EIO, errno, "create %s", w->seg_path);
    w->seg_open = true;
    uint8_t hdr[EM_BLOCK_CHUNKS_HEADER_BYTES] = {0};
    em_put_be32(hdr, EM_BLOCK_CHUNKS_MAGIC);
    hdr[4] = EM_BLOCK_CHUNKS_VERSION;
    if (wf_write(&w->seg, hdr, sizeof(hdr)) != EM_OK)
        return fail(w, err, EM_EIO, errno, "write %s", w->seg_path);
    return EM_OK;
}

/* Append one chunk of encoding 'enc' (data starts with the 2-byte sample count every Prometheus chunk
 * encoding has) and record its meta for the current series. */
static int put_chunk(em_block_writer_t *w, uint8_t enc, int64_t mint, int64_t maxt, const uint8_t *data,
                     size_t len, em_err_t *err)
{
    uint8_t hdr[11];
    size_t hl = em_uvarint_put(hdr, len);
    hdr[hl++] = enc;
    size_t total = hl + len + 4;
    if (!w->seg_open ||
        (w->seg.pos > EM_BLOCK_CHUNKS_HEADER_BYTES && w->seg.pos + total > w->o.segment_max_bytes))
        if (seg_cut(w, err) != EM_OK)
            return w->rc;
    if (w->seg.pos + total > UINT32_MAX)
        return fail(w, err, EM_ELIMIT, 0, "%s: chunk does not fit a segment", w->seg_path);
    uint64_t ref = ((uint64_t)w->seg_seq << 32) | w->seg.pos;
    uint8_t crc[4];
    em_put_be32(crc, em_crc32c(em_crc32c(0, hdr + hl - 1, 1), data, len));
    if (wf_write(&w->seg, hdr, hl) != EM_OK || wf_write(&w->seg, data, len) != EM_OK ||
        wf_write(&w->seg, crc, 4) != EM_OK)
        return fail(w, err, EM_EIO, errno, "write %s", w->seg_path);
    em_grow((void **)&w->chunks, &w->cap_chunks, w->n_chunks + 1, sizeof(*w->chunks));
    w->chunks[w->n_chunks++] = (em_index_chunk_t){mint, maxt, ref};
    w->n_samples += em_xor_num_samples(data, len);
    if (enc != EM_CHUNK_XOR)
        w->n_hist_samples += em_xor_num_samples(data, len);
    return EM_OK;
}

/* Encode samples into chunks of EM_BLOCK_CHUNK_SAMPLES, keeping only those in the block's range. */
static int put_samples(em_block_writer_t *w, const int64_t *ts, const double *vs, size_t n, em_err_t *err)
{
    em_xor_enc_t e;
    size_t in_chunk = 0;
    int64_t cmint = 0, prev = INT64_MIN;
    for (size_t i = 0; i <= n; i++) {
        bool last = i == n;
        if (!last && (ts[i] < w->o.min_time_ms || ts[i] >= w->o.max_time_ms))
            continue;
        if (!last && ts[i] <= prev)
            return fail(w, err, EM_EINVAL, 0, "%s: samples not in strictly increasing time order",
                        "block writer");
        if (in_chunk > 0 && (last || in_chunk == EM_BLOCK_CHUNK_SAMPLES)) {
            if (put_chunk(w, EM_CHUNK_XOR, cmint, prev, w->enc_buf, em_xor_enc_bytes(&e), err) != EM_OK)
                return w->rc;
            in_chunk = 0;
        }
        if (last)
            break;
        if (in_chunk == 0) {
            em_xor_enc_init(&e, w->enc_buf, sizeof(w->enc_buf));
            cmint = ts[i];
        }
        int rc = em_xor_enc_append(&e, ts[i], vs[i]);
        if (rc != EM_OK)
            return fail(w, err, rc, 0, "%s: encoder out of room", "block writer");
        in_chunk++;
        prev = ts[i];
    }
    return EM_OK;
}

static void grow_samples(em_block_writer_t *w, size_t need)
{
    if (need <= w->cap_samples)
        return;
    size_t cap = w->cap_samples ? w->cap_samples : 1024;
    while (cap < need)
        cap *= 2;
    w->ts = em_realloc(w->ts, cap * sizeof(*w->ts));
    w->vs = em_realloc(w->vs, cap * sizeof(*w->vs));
    w->cap_samples = cap;
}

/* ---- series ---- */

static int begin_series(em_block_writer_t *w, const em_labels_t *ls, em_err_t *err)
{
    if (w->rc != EM_OK)
        return sticky(w, err);
    if (w->committed)
        return fail(w, err, EM_ESTATE, 0, "%s: writer already committed", "block writer");
    if (ls->n == 0)
        return fail(w, err, EM_EINVAL, 0, "%s: series without labels", "block writer");
    /* The index needs names sorted and unique (readers binary-search them). Names and values are not
     * checked further: Prometheus 3 allows any UTF-8 in names, and its blocks are compacted here too. */
    for (size_t i = 1; i < ls->n; i++)
        if (strcmp(ls->v[i - 1].name, ls->v[i].name) >= 0)
            return fail(w, err, EM_EINVAL, 0, "block writer: label names not sorted and unique at \"%s\"",
                        ls->v[i].name);
    if (w->n_series > 0 && em_labels_cmp(&w->series[w->n_series - 1].ls, ls) >= 0) {
        em_buf_t b = EM_BUF_INIT;
        em_labels_format(ls, &b);
        fail(w, err, EM_EINVAL, 0,
             "block writer: series %s out of order (series must be added in label order)", b.data);
        em_buf_fini(&b);
        return w->rc;
    }
    return EM_OK;
}

/* Keep the series if it got chunks since 'chunk0'. */
static void end_series(em_block_writer_t *w, const em_labels_t *ls, size_t chunk0)
{
    if (w->n_chunks == chunk0)
        return;
    em_grow((void **)&w->series, &w->cap_series, w->n_series + 1, sizeof(*w->series));
    w->series[w->n_series++] = (wseries_t){em_labels_copy(ls, &w->arena), chunk0, w->n_chunks - chunk0};
}

int em_block_writer_add_samples(em_block_writer_t *w, const em_labels_t *ls, const int64_t *ts_ms,
                                const double *vs, size_t n, em_err_t *err)
{
    if (begin_series(w, ls, err) != EM_OK)
        return w->rc;
    size_t chunk0 = w->n_chunks;
    if (put_samples(w, ts_ms, vs, n, err) != EM_OK)
        return w->rc;
    end_series(w, ls, chunk0);
    return EM_OK;
}

int em_block_writer_add_sample_iter(em_block_writer_t *w, const em_labels_t *ls, em_sample_iter_t *it,
                                    em_err_t *err)
{
    if (begin_series(w, ls, err) != EM_OK)
        return w->rc;
    size_t n = 0;
    int rc;
    while ((rc = em_sample_iter_next(it)) == EM_OK) {
        grow_samples(w, n + 1);
        em_sample_iter_at(it, &w->ts[n], &w->vs[n]);
        n++;
    }
    if (rc != EM_DONE)
        return fail(w, err, rc, 0, "%s: reading the series' samples failed", "block writer");
    return em_block_writer_add_samples(w, ls, w->ts, w->vs, n, err);
}

int em_block_writer_add_chunk_iter(em_block_writer_t *w, const em_labels_t *ls, em_chunk_iter_t *it,
                                   em_err_t *err)
{
    if (begin_series(w, ls, err) != EM_OK)
        return w->rc;
    size_t chunk0 = w->n_chunks;
    int64_t prev_maxt = INT64_MIN;
    bool first = true;
    int rc;
    while ((rc = em_chunk_iter_next(it)) == EM_OK) {
        em_chunk_ref_t c;
        em_chunk_iter_at(it, &c);
        if (c.maxt_ms < c.mint_ms || (!first && c.mint_ms <= prev_maxt))
            return fail(w, err, EM_ECORRUPT, 0, "%s: chunks overlap or are out of order", "block writer");
        first = false;
        prev_maxt = c.maxt_ms;
        if (c.maxt_ms < w->o.min_time_ms || c.mint_ms >= w->o.max_time_ms ||
            em_xor_num_samples(c.data, c.len) == 0)
            continue;
        if (c.mint_ms >= w->o.min_time_ms && c.maxt_ms < w->o.max_time_ms) {
            if (put_chunk(w, c.encoding, c.mint_ms, c.maxt_ms, c.data, c.len, err) != EM_OK)
                return w->rc;
            continue;
        }
        /* Native histogram chunks (from a Prometheus block) are carried along but cannot be re-encoded
         * here: one reaching outside the block's range is dropped. */
        if (c.encoding != EM_CHUNK_XOR)
            continue;
        /* Reaches outside the block: keep the samples inside. */
        size_t ns = em_xor_num_samples(c.data, c.len);
        grow_samples(w, ns + 1);
        int drc = EM_OK;
        size_t got = em_xor_decode_all(c.data, c.len, w->ts, w->vs, ns, &drc);
        if (drc != EM_OK || got != ns)
            return fail(w, err, EM_ECORRUPT, 0, "%s: chunk does not decode", "block writer");
        if (put_samples(w, w->ts, w->vs, got, err) != EM_OK)
            return w->rc;
    }
    if (rc != EM_DONE)
        return fail(w, err, rc, 0, "%s: reading the series' chunks failed", "block writer");
    end_series(w, ls, chunk0);
    return EM_OK;
}

/* ---- the index ---- */

typedef struct pair {
    uint32_t name, value; /* symbol indexes */
    uint32_t series;      /* series ref (offset / 16) */
} pair_t;

static int pair_cmp(const void *a, const void *b)
{
    const pair_t *x = a, *y = b;
    if (x->name != y->name)
        return x->name < y->name ? -1 : 1;
    if (x->value != y->value)
        return x->value < y->value ? -1 : 1;
    return x->series < y->series ? -1 : x->series > y->series;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct ixw {
    wfile_t f;
    const char **syms;
    size_t n_syms;
    uint64_t toc[6]; /* symbols, series, label indices, label offset table, postings, postings table */
    em_buf_t b;      /* record scratch */
} ixw_t;

static uint32_t sym_index(const ixw_t *x, const char *s)
{
    size_t lo = 0, hi = x->n_syms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(x->syms[mid], s);
        if (c == 0)
            return (uint32_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    assert(0 && "symbol missing");
    return 0;
}

/* Write b as a table: len (BE32) | b | CRC32C(b). */
static int put_table(ixw_t *x, const em_buf_t *b)
{
    uint8_t hdr[4], crc[4];
    em_put_be32(hdr, (uint32_t)b->len);
    em_put_be32(crc, em_crc32c(0, b->data, b->len));
    if (wf_write(&x->f, hdr, 4) != EM_OK || wf_write(&x->f, b->data, b->len) != EM_OK)
        return EM_EIO;
    return wf_write(&x->f, crc, 4);
}

static int write_symbols(em_block_writer_t *w, ixw_t *x)
{
    size_t n = 0;
    for (size_t i = 0; i < w->n_series; i++)
        n += 2 * w->series[i].ls.n;
    x->syms = em_malloc((n + 1) * sizeof(*x->syms));
    /* Prometheus's symbol tables always hold "" (the all-postings key's name and value). */
    x->syms[x->n_syms++] = "";
    for (size_t i = 0; i < w->n_series; i++)
        for (size_t j = 0; j < w->series[i].ls.n; j++) {
            x->syms[x->n_syms++] = w->series[i].ls.v[j].name;
            x->syms[x->n_syms++] = w->series[i].ls.v[j].value;
        }
    em_qsort(x->syms, x->n_syms, sizeof(*x->syms), str_cmp);
    size_t u = 0;
    for (size_t i = 0; i < x->n_syms; i++)
        if (u == 0 || strcmp(x->syms[u - 1], x->syms[i]) != 0)
            x->syms[u++] = x->syms[i];
    x->n_syms = u;
    x->toc[0] = x->f.pos;
    em_buf_reset(&x->b);
    em_buf_put_be32(&x->b, (uint32_t)x->n_syms);
    for (size_t i = 0; i < x->n_syms; i++) {
        size_t l = strlen(x->syms[i]);
        em_buf_put_uvarint(&x->b, l);
        em_buf_append(&x->b, x->syms[i], l);
    }
    return put_table(x, &x->b);
}

static int write_series(em_block_writer_t *w, ixw_t *x, pair_t *pairs, size_t *n_pairs)
{
    x->toc[1] = x->f.pos;
    for (size_t i = 0; i < w->n_series; i++) {
        const wseries_t *s = &w->series[i];
        if (wf_pad(&x->f, 16) != EM_OK)
            return EM_EIO;
        if (x->f.pos / 16 > UINT32_MAX)
            return EM_ELIMIT;
        uint32_t ref = (uint32_t)(x->f.pos / 16);
        em_buf_reset(&x->b);
        em_buf_put_uvarint(&x->b, s->ls.n);
        for (size_t j = 0; j < s->ls.n; j++) {
            uint32_t nm = sym_index(x, s->ls.v[j].name), vl = sym_index(x, s->ls.v[j].value);
            em_buf_put_uvarint(&x->b, nm);
            em_buf_put_uvarint(&x->b, vl);
            pairs[(*n_pairs)++] = (pair_t){nm, vl, ref};
        }
        em_buf_put_uvarint(&x->b, s->n);
        const em_index_chunk_t *c = &w->chunks[s->chunk0];
        for (size_t j = 0; j < s->n; j++) {
            if (j == 0) {
                em_buf_put_varint(&x->b, c[0].mint_ms);
                em_buf_put_uvarint(&x->b, (uint64_t)(c[0].maxt_ms - c[0].mint_ms));
                em_buf_put_uvarint(&x->b, c[0].ref);
            } else {
                em_buf_put_uvarint(&x->b, (uint64_t)(c[j].mint_ms - c[j - 1].maxt_ms));
                em_buf_put_uvarint(&x->b, (uint64_t)(c[j].maxt_ms - c[j].mint_ms));
                em_buf_put_varint(&x->b, (int64_t)(c[j].ref - c[j - 1].ref));
            }
        }
        uint8_t hdr[10], crc[4];
        size_t hl = em_uvarint_put(hdr, x->b.len);
        em_put_be32(crc, em_crc32c(0, x->b.data, x->b.len));
        if (wf_write(&x->f, hdr, hl) != EM_OK || wf_write(&x->f, x->b.data, x->b.len) != EM_OK ||
            wf_write(&x->f, crc, 4) != EM_OK)
            return EM_EIO;
    }
    return EM_OK;
}

/* Label indices: for each name, its sorted values. Records (name, offset) in 'lt'. */
static int write_label_indices(ixw_t *x, const pair_t *pairs, size_t n, em_buf_t *lt, size_t *n_lt)
{
    x->toc[2] = x->f.pos;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        uint32_t name = pairs[i].name, nv = 0;
        em_buf_reset(&x->b);
        em_buf_put_be32(&x->b, 1);
        em_buf_put_be32(&x->b, 0); /* value count, set below */
        for (; j < n && pairs[j].name == name; j++)
            if (j == i || pairs[j].value != pairs[j - 1].value) {
                em_buf_put_be32(&x->b, pairs[j].value);
                nv++;
            }
        em_buf_set_be32(&x->b, 4, nv);
        if (wf_pad(&x->f, 4) != EM_OK)
            return EM_EIO;
        const char *s = x->syms[name];
        em_buf_put_uvarint(lt, 1);
        em_buf_put_uvarint(lt, strlen(s));
        em_buf_puts(lt, s);
        em_buf_put_uvarint(lt, x->f.pos);
        (*n_lt)++;
        if (put_table(x, &x->b) != EM_OK)
            return EM_EIO;
        i = j;
    }
    return EM_OK;
}

static int write_postings_list(ixw_t *x, const char *name, const char *value, const pair_t *p, size_t n,
                               const uint32_t *all, em_buf_t *pt)
{
    if (wf_pad(&x->f, 4) != EM_OK)
        return EM_EIO;
    em_buf_put_uvarint(pt, 2);
    em_buf_put_uvarint(pt, strlen(name));
    em_buf_puts(pt, name);
    em_buf_put_uvarint(pt, strlen(value));
    em_buf_puts(pt, value);
    em_buf_put_uvarint(pt, x->f.pos);
    em_buf_reset(&x->b);
    em_buf_put_be32(&x->b, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        em_buf_put_be32(&x->b, all ? all[i] : p[i].series);
    return put_table(x, &x->b);
}

static int write_postings(ixw_t *x, const uint32_t *all, size_t n_all, const pair_t *pairs, size_t n,
                          em_buf_t *pt, size_t *n_pt)
{
    x->toc[4] = x->f.pos;
    /* Prometheus's allPostingsKey ("", "") sorts first in the postings offset table. */
    if (write_postings_list(x, "", "", NULL, n_all, all, pt) != EM_OK)
        return EM_EIO;
    (*n_pt)++;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && pairs[j].name == pairs[i].name && pairs[j].value == pairs[i].value)
            j++;
        if (write_postings_list(x, x->syms[pairs[i].name], x->syms[pairs[i].value], pairs + i, j - i, NULL,
                                pt) != EM_OK)
            return EM_EIO;
        (*n_pt)++;
        i = j;
    }
    return EM_OK;
}

/* An offset table: len | n | entries | CRC. */
static int write_offset_table(ixw_t *x, const em_buf_t *entries, size_t n)
{
    em_buf_reset(&x->b);
    em_buf_put_be32(&x->b, (uint32_t)n);
    em_buf_append(&x->b, entries->data, entries->len);
    return put_table(x, &x->b);
}

static int write_toc(ixw_t *x)
{
    uint8_t toc[EM_BLOCK_INDEX_TOC_BYTES];
    for (int i = 0; i < 6; i++)
        em_put_be64(toc + 8 * i, x->toc[i]);
    em_put_be32(toc + 48, em_crc32c(0, toc, 48));
    return wf_write(&x->f, toc, sizeof(toc));
}

static int write_index(em_block_writer_t *w, em_err_t *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/index", w->tmp_dir);
    ixw_t x;
    memset(&x, 0, sizeof(x));
    em_buf_t lt = EM_BUF_INIT, pt = EM_BUF_INIT;
    size_t n_pairs = 0, n_lt = 0, n_pt = 0;
    for (size_t i = 0; i < w->n_series; i++)
        n_pairs += w->series[i].ls.n;
    pair_t *pairs = em_malloc((n_pairs + 1) * sizeof(*pairs));
    uint32_t *all = em_malloc((w->n_series + 1) * sizeof(*all));
    int rc = EM_EIO;
    if (wf_open(&x.f, path) != EM_OK) {
        fail(w, err, EM_EIO, errno, "create %s", path);
        goto out;
    }
    uint8_t hdr[5];
    em_put_be32(hdr, EM_BLOCK_INDEX_MAGIC);
    hdr[4] = EM_BLOCK_INDEX_VERSION;
    n_pairs = 0;
    if (wf_write(&x.f, hdr, 5) != EM_OK || write_symbols(w, &x) != EM_OK)
        goto io;
    rc = write_series(w, &x, pairs, &n_pairs);
    if (rc == EM_ELIMIT) {
        fail(w, err, EM_ELIMIT, 0, "%s: series section exceeds 64 GiB", path);
        goto out;
    }
    if (rc != EM_OK)
        goto io;
    rc = EM_EIO;
    /* series refs in order: the first pair of each series carries it */
    for (size_t i = 0, k = 0; i < w->n_series; k += w->series[i].ls.n, i++)
        all[i] = pairs[k].series;
    em_qsort(pairs, n_pairs, sizeof(*pairs), pair_cmp);
    if (write_label_indices(&x, pairs, n_pairs, &lt, &n_lt) != EM_OK ||
        write_postings(&x, all, w->n_series, pairs, n_pairs, &pt, &n_pt) != EM_OK)
        goto io;
    x.toc[3] = x.f.pos;
    if (write_offset_table(&x, &lt, n_lt) != EM_OK)
        goto io;
    x.toc[5] = x.f.pos;
    if (write_offset_table(&x, &pt, n_pt) != EM_OK || write_toc(&x) != EM_OK)
        goto io;
    int cr = wf_close(&x.f, !w->o.no_fsync);
    x.f.fd = -1;
    if (cr != EM_OK)
        goto io;
    rc = EM_OK;
    goto out;
io:
    fail(w, err, EM_EIO, errno, "write %s", path);
    rc = EM_EIO;
out:
    if (x.f.fd >= 0)
        wf_abort(&x.f);
    em_buf_fini(&x.b);
    em_buf_fini(&lt);
    em_buf_fini(&pt);
    free(x.syms);
    free(pairs);
    free(all);
    return rc;
}

static void fill_meta(const em_block_writer_t *w, em_block_meta_t *m)
{
    memset(m, 0, sizeof(*m));
    m->ulid = w->o.ulid;
    m->min_time_ms = w->o.min_time_ms;
    m->max_time_ms = w->o.max_time_ms;
    m->num_samples = w->n_samples;
    m->num_float_samples = w->n_samples - w->n_hist_samples; /* Prometheus 3 counts them apart */
    m->num_histogram_samples = w->n_hist_samples;
    m->num_series = w->n_series;
    m->num_chunks = w->n_chunks;
    m->num_tombstones = em_tombstones_count(&w->tomb);
    m->level = w->o.level;
    m->sources = (em_ulid_t *)w->sources;
    m->n_sources = w->o.n_sources;
    m->parents = (em_block_desc_t *)w->parents;
    m->n_parents = w->o.n_parents;
    m->version = EM_BLOCK_META_VERSION;
}

int em_block_writer_commit(em_block_writer_t *w, em_block_meta_t *meta_out, em_err_t *err)
{
    if (w->rc != EM_OK || w->committed)
        return w->rc != EM_OK ? sticky(w, err)
                              : fail(w, err, EM_ESTATE, 0, "%s: already committed", "block writer");
    /* A block without chunks still gets an (empty) first segment file, as Prometheus's writer does. */
    if (!w->seg_open && seg_cut(w, err) != EM_OK)
        goto fail;
    int rc = wf_close(&w->seg, !w->o.no_fsync);
    w->seg_open = false;
    if (rc != EM_OK) {
        fail(w, err, EM_EIO, errno, "write %s", w->seg_path);
        goto fail;
    }
    if (write_index(w, err) != EM_OK)
        goto fail;
    em_block_meta_t m;
    fill_meta(w, &m);
    char chunks[PATH_MAX];
    snprintf(chunks, sizeof(chunks), "%s/chunks", w->tmp_dir);
    em_err_t e;
    em_err_clear(&e);
    if (em_tombstones_write(w->tmp_dir, &w->tomb, &e) != EM_OK ||
        em_block_meta_write(w->tmp_dir, &m, &e) != EM_OK ||
        (!w->o.no_fsync && (em_fsync_dir(chunks, &e) != EM_OK || em_fsync_dir(w->tmp_dir, &e) != EM_OK))) {
        fail(w, err, e.code, 0, "%s", e.msg);
        goto fail;
    }
    if (rename(w->tmp_dir, w->final_dir) != 0) {
        fail(w, err, EM_EIO, errno, "rename to %s", w->final_dir);
        goto fail;
    }
    w->committed = true;
    if (!w->o.no_fsync && em_fsync_dir(w->parent, &e) != EM_OK) {
        fail(w, err, e.code, 0, "%s", e.msg);
        return w->rc;
    }
    if (meta_out)
        em_block_meta_copy(meta_out, &m);
    return EM_OK;
fail:
    em_remove_all(w->tmp_dir, NULL);
    w->committed = true; /* nothing left to clean */
    return w->rc;
}

int em_block_write_set(const char *parent_dir, const em_block_writer_opts_t *o, em_series_set_t *set,
                       em_block_meta_t *meta_out, em_err_t *err)
{
    em_block_writer_t *w;
    int rc = em_block_writer_new(parent_dir, o, &w, err);
    if (rc != EM_OK)
        return rc;
    while ((rc = em_series_set_next(set)) == EM_OK) {
        em_labels_t ls = em_series_set_labels(set);
        em_chunk_iter_t *ci = NULL;
        rc = em_series_set_chunks(set, &ci);
        if (rc == EM_OK) {
            rc = em_block_writer_add_chunk_iter(w, &ls, ci, err);
            em_chunk_iter_free(ci);
        } else if (rc == EM_EUNSUPPORTED) {
            em_sample_iter_t *si = NULL;
            rc = em_series_set_samples(set, &si);
            if (rc == EM_OK)
                rc = em_block_writer_add_sample_iter(w, &ls, si, err);
            em_sample_iter_free(si);
        }
        if (rc != EM_OK)
            break;
    }
    if (rc == EM_DONE)
        rc = em_block_writer_commit(w, meta_out, err);
    else if (rc != EM_OK && set->ops->err(set) && w->rc == EM_OK)
        em_err_set(err, rc, "block writer: reading series: %s", set->ops->err(set));
    em_block_writer_free(w);
    return rc;
}

int em_block_cleanup_tmp(const char *parent_dir, em_err_t *err)
{
    DIR *d = opendir(parent_dir);
    if (!d)
        return errno == ENOENT ? EM_OK : em_err_sys(err, EM_EIO, errno, "opendir %s", parent_dir);
    struct dirent *e;
    int rc = EM_OK;
    while ((e = readdir(d)) && rc == EM_OK) {
        size_t n = strlen(e->d_name), a = strlen(EM_BLOCK_TMP_SUFFIX), b = strlen(".tmp-for-deletion");
        if ((n > a && strcmp(e->d_name + n - a, EM_BLOCK_TMP_SUFFIX) == 0) ||
            (n > b && strcmp(e->d_name + n - b, ".tmp-for-deletion") == 0)) {
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", parent_dir, e->d_name);
            rc = em_remove_all(path, err);
        }
    }
    closedir(d);
    return rc;
}

int em_block_remove_dir(const char *dir, em_err_t *err)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-for-deletion", dir) >= sizeof(tmp))
        return em_err_set(err, EM_EIO, "path too long: %s", dir);
    if (rename(dir, tmp) != 0)
        return errno == ENOENT ? EM_OK : em_err_sys(err, EM_EIO, errno, "rename %s", dir);
    return em_remove_all(tmp, err);
}
