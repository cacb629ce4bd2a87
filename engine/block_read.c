/* Design: see block.h (READING, QUERYING, LIFETIME). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/duration.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/mem.h"
#include "engine/block_int.h"
#include "engine/chunk.h"

typedef struct mapping {
    uint8_t *p;
    size_t n;
    char path[PATH_MAX];
} mapping_t;

/* An immutable tombstones table shared by the block and its queriers. */
typedef struct tomb_ref {
    atomic_int refs;
    em_tombstones_t t;
} tomb_ref_t;

struct em_block {
    em_queryable_t qa; /* first: em_block_queryable hands out &qa */
    char *dir;
    em_block_meta_t meta;
    mapping_t index;
    em_index_t ix;
    mapping_t *segs;
    size_t n_segs;
    uint64_t size_bytes;
    atomic_int refs;
    atomic_bool deleted;
    pthread_mutex_t mu; /* guards tomb (the pointer) and 'loaded'; serializes em_block_delete */
    tomb_ref_t *tomb;
    /* ix holds the symbol and postings tables while 'loaded'; they change only under mu with no users,
     * so a user (tables_acquire) reads them without the lock. */
    bool loaded;
    int users;           /* queriers and other readers of ix; guarded by mu */
    int64_t last_use_ms; /* when the last user came or went; guarded by mu */
    size_t n_symbols;    /* counted when opened, for em_block_stats */
};

/* Load the index tables if needed. Call with mu held. */
static int load_locked(em_block_t *b, em_err_t *err)
{
    if (b->loaded)
        return EM_OK;
    int rc = em_index_parse(&b->ix, b->index.p, b->index.n, err);
    if (rc == EM_OK)
        b->loaded = true;
    else
        em_err_prefix(err, "%s", b->index.path);
    return rc;
}

/* Become a user of the index tables, loading them first if needed (open only validated them, and idle
 * blocks unload them: em_block_unload_idle). Returns EM_OK or the parse error. Thread: any. */
static int tables_acquire(em_block_t *b, em_err_t *err)
{
    pthread_mutex_lock(&b->mu);
    int rc = load_locked(b, err);
    if (rc == EM_OK) {
        b->users++;
        b->last_use_ms = em_now_ms();
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

static void tables_release(em_block_t *b)
{
    pthread_mutex_lock(&b->mu);
    b->users--;
    b->last_use_ms = em_now_ms();
    pthread_mutex_unlock(&b->mu);
}

bool em_block_unload_idle(em_block_t *b, int64_t idle_ms)
{
    pthread_mutex_lock(&b->mu);
    bool unload = b->loaded && b->users == 0 && em_now_ms() - b->last_use_ms >= idle_ms;
    if (unload) {
        em_index_fini(&b->ix);
        b->loaded = false;
    }
    pthread_mutex_unlock(&b->mu);
    return unload;
}

bool em_block_index_loaded(em_block_t *b)
{
    pthread_mutex_lock(&b->mu);
    bool l = b->loaded;
    pthread_mutex_unlock(&b->mu);
    return l;
}

static tomb_ref_t *tomb_acquire(em_block_t *b)
{
    pthread_mutex_lock(&b->mu);
    tomb_ref_t *t = b->tomb;
    atomic_fetch_add(&t->refs, 1);
    pthread_mutex_unlock(&b->mu);
    return t;
}

static void tomb_release(tomb_ref_t *t)
{
    if (t && atomic_fetch_sub(&t->refs, 1) == 1) {
        em_tombstones_fini(&t->t);
        free(t);
    }
}

/* ---- open / close ---- */

static int map_file(mapping_t *m, em_err_t *err)
{
    int fd = open(m->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return em_err_sys(err, errno == ENOENT ? EM_ECORRUPT : EM_EIO, errno, "open %s", m->path);
    struct stat st;
    int rc = EM_OK;
    if (fstat(fd, &st) != 0) {
        rc = em_err_sys(err, EM_EIO, errno, "stat %s", m->path);
    } else if (st.st_size == 0) {
        rc = em_err_set(err, EM_ECORRUPT, "%s: empty file", m->path);
    } else {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            rc = em_err_sys(err, EM_EIO, errno, "mmap %s", m->path);
        } else {
            m->p = p;
            m->n = (size_t)st.st_size;
        }
    }
    close(fd);
    return rc;
}

static void unmap_file(mapping_t *m)
{
    if (m->p)
        munmap(m->p, m->n);
    m->p = NULL;
}

static int seg_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_seg_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 6)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int open_segments(em_block_t *b, em_err_t *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/chunks", b->dir);
    DIR *d = opendir(dir);
    if (!d)
        return em_err_sys(err, errno == ENOENT ? EM_ECORRUPT : EM_EIO, errno, "opendir %s", dir);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (is_seg_name(e->d_name)) {
            em_grow((void **)&names, &cap, n + 1, sizeof(*names));
            names[n++] = em_strdup(e->d_name);
        }
    closedir(d);
    if (n > 1)
        em_qsort(names, n, sizeof(*names), seg_name_cmp);
    int rc = EM_OK;
    b->segs = em_calloc(n + 1, sizeof(*b->segs));
    for (size_t i = 0; i < n && rc == EM_OK; i++) {
        mapping_t *m = &b->segs[i];
        snprintf(m->path, sizeof(m->path), "%s/%s", dir, names[i]);
        /* Sequence numbers must be contiguous from 1: a chunk ref's file index is its position. */
        char want[16];
        snprintf(want, sizeof(want), "%06zu", i + 1);
        if (strcmp(names[i], want) != 0) {
            rc = em_err_set(err, EM_ECORRUPT, "%s: chunk segment files not numbered 1..%zu", dir, n);
            break;
        }
        if ((rc = map_file(m, err)) != EM_OK)
            break;
        b->n_segs = i + 1;
        if (m->n < EM_BLOCK_CHUNKS_HEADER_BYTES || em_be32(m->p) != EM_BLOCK_CHUNKS_MAGIC)
            rc = em_err_set(err, EM_ECORRUPT, "%s: invalid magic number at offset 0", m->path);
        else if (m->p[4] != EM_BLOCK_CHUNKS_VERSION)
            rc = em_err_set(err, EM_ECORRUPT, "%s: unsupported format version %u at offset 4", m->path,
                            m->p[4]);
        b->size_bytes += m->n;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static void block_free(em_block_t *b)
{
    em_index_fini(&b->ix);
    unmap_file(&b->index);
    for (size_t i = 0; i < b->n_segs; i++)
        unmap_file(&b->segs[i]);
    free(b->segs);
    if (atomic_load(&b->deleted))
        em_block_remove_dir(b->dir, NULL);
    tomb_release(b->tomb);
    em_block_meta_fini(&b->meta);
    pthread_mutex_destroy(&b->mu);
    free(b->dir);
    free(b);
}

static int block_querier_cb(em_queryable_t *qa, int64_t mint_ms, int64_t maxt_ms, em_querier_t **out,
                            em_err_t *err)
{
    return em_block_querier((em_block_t *)qa, mint_ms, maxt_ms, out, err);
}

int em_block_open(const char *dir, em_block_t **out, em_err_t *err)
{
    em_block_t *b = EM_NEW(em_block_t);
    b->qa.querier = block_querier_cb;
    b->dir = em_strdup(dir);
    atomic_init(&b->refs, 1);
    atomic_init(&b->deleted, false);
    pthread_mutex_init(&b->mu, NULL);
    em_arena_init(&b->ix.pt_store);
    b->tomb = EM_NEW(tomb_ref_t);
    atomic_init(&b->tomb->refs, 1);
    em_tombstones_init(&b->tomb->t);
    int rc = em_block_meta_read(dir, &b->meta, err);
    if (rc != EM_OK)
        goto out;
    snprintf(b->index.path, sizeof(b->index.path), "%s/index", dir);
    if ((rc = map_file(&b->index, err)) != EM_OK)
        goto out;
    b->size_bytes += b->index.n;
    /* validate now (every check of em_index_parse), load the tables when a query first needs them */
    if ((rc = em_index_parse(&b->ix, b->index.p, b->index.n, err)) != EM_OK) {
        em_err_prefix(err, "%s", b->index.path);
        goto out;
    }
    b->n_symbols = b->ix.n_syms;
    em_index_fini(&b->ix);
    if ((rc = open_segments(b, err)) != EM_OK)
        goto out;
    if ((rc = em_tombstones_read(dir, &b->tomb->t, err)) != EM_OK)
        goto out;
    b->size_bytes = em_dir_size(dir);
    rc = EM_OK;
out:
    if (rc != EM_OK) {
        block_free(b);
        return rc;
    }
    *out = b;
    return EM_OK;
}

void em_block_acquire(em_block_t *b)
{
    atomic_fetch_add(&b->refs, 1);
}

void em_block_release(em_block_t *b)
{
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        block_free(b);
}

void em_block_mark_deleted(em_block_t *b)
{
    atomic_store(&b->deleted, true);
}

const em_block_meta_t *em_block_meta(const em_block_t *b)
{
    return &b->meta;
}

const char *em_block_dir(const em_block_t *b)
{
    return b->dir;
}

uint64_t em_block_size_bytes(const em_block_t *b)
{
    return b->size_bytes;
}

em_queryable_t *em_block_queryable(em_block_t *b)
{
    return &b->qa;
}

uint64_t em_block_num_tombstones(em_block_t *b)
{
    tomb_ref_t *t = tomb_acquire(b);
    uint64_t n = em_tombstones_count(&t->t);
    tomb_release(t);
    return n;
}

void em_block_stats(em_block_t *b, em_block_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    st->num_series = b->meta.num_series;
    st->num_chunks = b->meta.num_chunks;
    st->num_samples = b->meta.num_samples;
    st->num_tombstones = em_block_num_tombstones(b);
    st->index_bytes = b->index.n;
    for (size_t i = 0; i < b->n_segs; i++)
        st->chunks_bytes += b->segs[i].n;
    st->n_symbols = b->n_symbols;
}

/* ---- chunks ---- */

/* The chunk at 'ref': its data (starting with the XOR count) after checking bounds and CRC. */
static int chunk_at(const em_block_t *b, uint64_t ref, const uint8_t **data, size_t *len, uint8_t *enc,
                    em_err_t *err)
{
    uint64_t seq = ref >> 32, off = ref & 0xffffffffu;
    if (seq >= b->n_segs)
        return em_err_set(err, EM_ECORRUPT, "%s/chunks: chunk ref %" PRIu64 ": segment %" PRIu64 " missing",
                          b->dir, ref, seq + 1);
    const mapping_t *m = &b->segs[seq];
    if (off < EM_BLOCK_CHUNKS_HEADER_BYTES || off >= m->n)
        return em_err_set(err, EM_ECORRUPT, "%s: chunk offset %" PRIu64 " out of bounds", m->path, off);
    em_dec_t d;
    em_dec_init(&d, m->p + off, m->n - off);
    uint64_t l = em_dec_uvarint(&d);
    if (em_dec_err(&d) || em_dec_left(&d) < 5 || l > em_dec_left(&d) - 5)
        return em_err_set(err, EM_ECORRUPT, "%s: chunk at offset %" PRIu64 " truncated", m->path, off);
    const uint8_t *p = d.p;
    if (em_be32(p + 1 + l) != em_crc32c(0, p, 1 + l))
        return em_err_set(err, EM_ECORRUPT, "%s: chunk at offset %" PRIu64 ": checksum mismatch", m->path,
                          off);
    *enc = p[0];
    *data = p + 1;
    *len = (size_t)l;
    return EM_OK;
}

static bool deleted(const em_tombstone_t *ts, int64_t t)
{
    if (!ts)
        return false;
    for (size_t i = 0; i < ts->n; i++)
        if (t >= ts->iv[i].mint_ms && t <= ts->iv[i].maxt_ms)
            return true;
    return false;
}

/* Does the tombstone cover all of [a, b]? */
static bool covered(const em_tombstone_t *ts, int64_t a, int64_t b)
{
    if (!ts)
        return false;
    for (size_t i = 0; i < ts->n; i++)
        if (ts->iv[i].mint_ms <= a && ts->iv[i].maxt_ms >= b)
            return true;
    return false;
}

static bool touches(const em_tombstone_t *ts, int64_t a, int64_t b)
{
    if (!ts)
        return false;
    for (size_t i = 0; i < ts->n; i++)
        if (ts->iv[i].mint_ms <= b && ts->iv[i].maxt_ms >= a)
            return true;
    return false;
}

/* ---- the querier ---- */

typedef struct bquerier {
    em_querier_t q;
    em_block_t *b;
    tomb_ref_t *tomb;
} bquerier_t;

/* The postings-table entry (name, value) within the name's range [lo, hi), or hi. */
static size_t find_value(const em_index_t *ix, size_t lo, size_t hi, const char *v)
{
    size_t end = hi;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->pt[mid].value, v);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return end;
}

/* out = union of the postings of m->name's values v with matches(v) == accept. Values are looked up
 * directly when the matcher lists them (= and =~"a|b" for accepted values, != and !~"a|b" for rejected
 * ones); otherwise every value of the name is tested. The lists are read into one buffer and merged
 * with one k-way union, so the cost is linear in their total length. */
static int matcher_union(const em_index_t *ix, const em_matcher_t *m, bool accept, em_postings_t *out,
                         em_err_t *err)
{
    size_t lo, hi;
    em_index_name_range(ix, m->name, &lo, &hi);
    const char *const *vals;
    size_t nv;
    bool direct =
        accept ? (m->type == EM_MATCH_EQ || m->type == EM_MATCH_RE) && em_matcher_set_values(m, &vals, &nv)
               : (m->type == EM_MATCH_NEQ || m->type == EM_MATCH_NRE) &&
                     em_matcher_literal_values(m, &vals, &nv);
    size_t *sel = em_malloc(((direct ? nv : hi - lo) + 1) * sizeof(*sel)), n_sel = 0;
    if (direct) {
        for (size_t i = 0; i < nv; i++) {
            size_t k = find_value(ix, lo, hi, vals[i]);
            if (k < hi)
                sel[n_sel++] = k;
        }
    } else {
        for (size_t k = lo; k < hi; k++)
            if (em_matcher_matches(m, ix->pt[k].value, strlen(ix->pt[k].value)) == accept)
                sel[n_sel++] = k;
    }
    em_postings_t all, one;
    em_postings_init(&all);
    em_postings_init(&one);
    size_t *start = em_malloc((n_sel + 1) * sizeof(*start));
    int rc = EM_OK;
    for (size_t i = 0; i < n_sel && rc == EM_OK; i++) {
        if ((rc = em_index_postings_at(ix, ix->pt[sel[i]].off, &one, err)) != EM_OK)
            break;
        start[i] = all.n;
        em_postings_reserve(&all, all.n + one.n);
        memcpy(all.v + all.n, one.v, one.n * sizeof(*one.v));
        all.n += one.n;
    }
    if (rc == EM_OK) {
        start[n_sel] = all.n;
        em_postings_span_t *spans = em_malloc((n_sel + 1) * sizeof(*spans));
        for (size_t i = 0; i < n_sel; i++)
            spans[i] = (em_postings_span_t){all.v + start[i], start[i + 1] - start[i]};
        em_postings_union_k(spans, n_sel, out);
        free(spans);
    }
    free(start);
    free(sel);
    em_postings_fini(&all);
    em_postings_fini(&one);
    return rc;
}

/* Series matching all matchers, as a sorted list of refs in 'out'. Matchers that do not accept the
 * empty value select series by their values' postings and are intersected first (smallest result);
 * matchers that accept it (also selecting series without the label) subtract the postings of the values
 * they reject, from the all-series list when no positive matcher came first. */
static int select_postings(em_block_t *b, const em_matcher_t *const *ms, size_t n_ms, em_postings_t *out,
                           em_err_t *err)
{
    const em_index_t *ix = &b->ix;
    em_postings_t acc, tmp, uni;
    em_postings_init(&acc);
    em_postings_init(&tmp);
    em_postings_init(&uni);
    int rc = EM_OK;
    bool have = false;
    for (int pass = 0; pass < 2 && rc == EM_OK; pass++) {
        for (size_t i = 0; i < n_ms && rc == EM_OK; i++) {
            const em_matcher_t *m = ms[i];
            bool empty = em_matcher_matches_empty(m);
            if ((pass == 0) == empty || (empty && em_matcher_matches_everything(m)))
                continue;
            if (have && acc.n == 0)
                break; /* nothing left to narrow */
            if ((rc = matcher_union(ix, m, pass == 0, &uni, err)) != EM_OK)
                break;
            if (!have && pass == 1) {
                /* the all-series list is the first postings-table entry, ("", "") */
                if (ix->n_pt == 0 || ix->pt[0].name[0] || ix->pt[0].value[0]) {
                    rc = em_err_set(err, EM_ECORRUPT, "index: all-postings list missing");
                    break;
                }
                if ((rc = em_index_postings_at(ix, ix->pt[0].off, &acc, err)) != EM_OK)
                    break;
                have = true;
            }
            if (!have)
                em_postings_assign(&acc, uni.v, uni.n);
            else if (pass == 0)
                em_postings_intersect(acc.v, acc.n, uni.v, uni.n, &tmp);
            else
                em_postings_difference(acc.v, acc.n, uni.v, uni.n, &tmp);
            if (have) {
                em_postings_t sw = acc;
                acc = tmp;
                tmp = sw;
            }
            have = true;
        }
    }
    if (rc == EM_OK && !have && ix->n_pt > 0 && !ix->pt[0].name[0] && !ix->pt[0].value[0])
        rc = em_index_postings_at(ix, ix->pt[0].off, &acc, err); /* only match-everything matchers */
    if (rc == EM_OK)
        em_postings_assign(out, acc.v, acc.n);
    else
        em_err_prefix(err, "%s", b->dir);
    em_postings_fini(&acc);
    em_postings_fini(&tmp);
    em_postings_fini(&uni);
    return rc;
}

typedef struct bset {
    em_series_set_t s;
    bquerier_t *q;
    em_postings_t refs;
    size_t pos;
    em_index_series_t cur;
    uint64_t cur_ref;
    const em_tombstone_t *cur_tomb;
    size_t c0, c1; /* chunks of cur overlapping the querier's range: [c0, c1) */
    em_err_t err;
    bool failed;
} bset_t;

static int bset_next(em_series_set_t *ss)
{
    bset_t *s = (bset_t *)ss;
    if (s->failed)
        return s->err.code;
    int64_t mint = s->q->q.mint_ms, maxt = s->q->q.maxt_ms;
    while (s->pos < s->refs.n) {
        uint64_t ref = s->refs.v[s->pos++];
        int rc = em_index_series(&s->q->b->ix, ref, &s->cur, &s->err);
        if (rc != EM_OK) {
            em_err_prefix(&s->err, "%s", s->q->b->dir);
            s->failed = true;
            return rc;
        }
        size_t c0 = 0;
        while (c0 < s->cur.n_chunks && s->cur.chunks[c0].maxt_ms < mint)
            c0++;
        size_t c1 = c0;
        while (c1 < s->cur.n_chunks && s->cur.chunks[c1].mint_ms <= maxt)
            c1++;
        if (c0 == c1)
            continue;
        const em_tombstone_t *ts = em_tombstones_get(&s->q->tomb->t, ref);
        bool all_deleted = true;
        for (size_t i = c0; i < c1 && all_deleted; i++)
            all_deleted = covered(ts, s->cur.chunks[i].mint_ms, s->cur.chunks[i].maxt_ms);
        if (all_deleted)
            continue;
        s->cur_ref = ref;
        s->cur_tomb = ts;
        s->c0 = c0;
        s->c1 = c1;
        return EM_OK;
    }
    return EM_DONE;
}

static em_labels_t bset_labels(em_series_set_t *ss)
{
    bset_t *s = (bset_t *)ss;
    return (em_labels_t){s->cur.labels, s->cur.n_labels};
}

static const char *bset_err(em_series_set_t *ss)
{
    bset_t *s = (bset_t *)ss;
    return s->failed ? s->err.msg : NULL;
}

static void bset_close(em_series_set_t *ss)
{
    bset_t *s = (bset_t *)ss;
    em_postings_fini(&s->refs);
    em_index_series_fini(&s->cur);
    free(s);
}

/* Sample iterator over a series' chunks [c0, c1), trimmed to [mint, maxt], skipping deleted samples. */
typedef struct bsamples {
    em_sample_iter_t it;
    const em_block_t *b;
    em_index_chunk_t *chunks; /* copied */
    size_t n, next_chunk;
    em_sample_iter_t *cur;
    int64_t mint, maxt;
    const em_tombstone_t *tomb; /* lives as long as the querier's tombstone table */
    int state;                  /* EM_OK while going; EM_DONE or an error (sticky) */
} bsamples_t;

/* Open the next float chunk. Native histogram chunks of Prometheus blocks are skipped: Ember has no
 * histogram samples to return (chunks() still hands them out, so compaction keeps them). */
static int bs_open_next(bsamples_t *s)
{
    em_sample_iter_free(s->cur);
    s->cur = NULL;
    for (;;) {
        if (s->next_chunk >= s->n)
            return EM_DONE;
        const em_index_chunk_t *c = &s->chunks[s->next_chunk++];
        const uint8_t *data;
        size_t len;
        uint8_t enc;
        em_err_t err;
        if (chunk_at(s->b, c->ref, &data, &len, &enc, &err) != EM_OK) {
            /* the sample iterator interface carries no message: say in the log which file is damaged */
            em_error("block", "Reading a chunk failed", "err=%s", em_q(err.msg));
            return EM_ECORRUPT;
        }
        if (enc != EM_CHUNK_XOR)
            continue;
        s->cur = em_xor_sample_iter_new(data, len, 0, s->mint, s->maxt);
        return EM_OK;
    }
}

static int bs_next(em_sample_iter_t *it)
{
    bsamples_t *s = (bsamples_t *)it;
    while (s->state == EM_OK) {
        if (!s->cur) {
            s->state = bs_open_next(s);
            continue;
        }
        int rc = em_sample_iter_next(s->cur);
        if (rc == EM_DONE) {
            s->state = bs_open_next(s);
            continue;
        }
        if (rc != EM_OK) {
            s->state = rc;
            break;
        }
        int64_t t;
        double v;
        em_sample_iter_at(s->cur, &t, &v);
        if (!deleted(s->tomb, t))
            return EM_OK;
    }
    return s->state;
}

static int bs_seek(em_sample_iter_t *it, int64_t t_ms)
{
    bsamples_t *s = (bsamples_t *)it;
    if (s->state != EM_OK)
        return s->state;
    if (s->cur) {
        int64_t t;
        double v;
        /* the current sample may already qualify; at() is only valid after a successful next() */
        em_sample_iter_at(s->cur, &t, &v);
        if (t >= t_ms && !deleted(s->tomb, t))
            return EM_OK;
    }
    /* skip whole chunks that end before t_ms */
    if (!s->cur || s->chunks[s->next_chunk - 1].maxt_ms < t_ms) {
        while (s->next_chunk < s->n && s->chunks[s->next_chunk].maxt_ms < t_ms)
            s->next_chunk++;
        em_sample_iter_free(s->cur);
        s->cur = NULL;
        if ((s->state = bs_open_next(s)) != EM_OK)
            return s->state;
    }
    int rc = em_sample_iter_seek(s->cur, t_ms);
    if (rc == EM_OK) {
        int64_t t;
        double v;
        em_sample_iter_at(s->cur, &t, &v);
        if (!deleted(s->tomb, t))
            return EM_OK;
        return bs_next(it);
    }
    if (rc != EM_DONE)
        return s->state = rc;
    s->state = bs_open_next(s);
    return bs_next(it);
}

static void bs_at(const em_sample_iter_t *it, int64_t *t_ms, double *v)
{
    const bsamples_t *s = (const bsamples_t *)it;
    em_sample_iter_at(s->cur, t_ms, v);
}

static void bs_free(em_sample_iter_t *it)
{
    bsamples_t *s = (bsamples_t *)it;
    em_sample_iter_free(s->cur);
    free(s->chunks);
    free(s);
}

static const em_sample_iter_ops_t bs_ops = {bs_next, bs_seek, bs_at, bs_free,
                                            NULL}; /* blocks keep no start timestamps */

static int bset_samples(em_series_set_t *ss, em_sample_iter_t **out)
{
    bset_t *s = (bset_t *)ss;
    bsamples_t *it = EM_NEW(bsamples_t);
    it->it.ops = &bs_ops;
    it->b = s->q->b;
    it->n = s->c1 - s->c0;
    it->chunks = em_malloc((it->n + 1) * sizeof(*it->chunks));
    memcpy(it->chunks, s->cur.chunks + s->c0, it->n * sizeof(*it->chunks));
    it->mint = s->q->q.mint_ms;
    it->maxt = s->q->q.maxt_ms;
    it->tomb = s->cur_tomb;
    it->state = EM_OK;
    *out = &it->it;
    return EM_OK;
}

/* Chunk iterator: the mapped chunks as they are, or re-encoded without deleted samples. */
typedef struct bchunks {
    em_chunk_iter_t it;
    const em_block_t *b;
    em_index_chunk_t *chunks;
    size_t n, pos;
    const em_tombstone_t *tomb;
    em_chunk_ref_t cur;
    uint8_t *buf; /* re-encoded chunk */
    int64_t *ts;
    double *vs;
} bchunks_t;

static int bc_reencode(bchunks_t *c, const uint8_t *data, size_t len)
{
    size_t n = em_xor_num_samples(data, len);
    c->ts = em_realloc(c->ts, (n + 1) * sizeof(*c->ts));
    c->vs = em_realloc(c->vs, (n + 1) * sizeof(*c->vs));
    int rc = EM_OK;
    size_t got = em_xor_decode_all(data, len, c->ts, c->vs, n, &rc);
    if (rc != EM_OK || got != n)
        return EM_ECORRUPT;
    size_t cap = EM_XOR_MIN_CAP + n * 24;
    c->buf = em_realloc(c->buf, cap);
    em_xor_enc_t e;
    em_xor_enc_init(&e, c->buf, cap);
    int64_t mint = 0, maxt = 0;
    for (size_t i = 0; i < n; i++) {
        if (deleted(c->tomb, c->ts[i]))
            continue;
        if (em_xor_enc_num_samples(&e) == 0)
            mint = c->ts[i];
        maxt = c->ts[i];
        if (em_xor_enc_append(&e, c->ts[i], c->vs[i]) != EM_OK)
            return EM_ECORRUPT;
    }
    if (em_xor_enc_num_samples(&e) == 0)
        return EM_DONE; /* all deleted: skip the chunk */
    c->cur = (em_chunk_ref_t){mint, maxt, EM_CHUNK_XOR, c->buf, em_xor_enc_bytes(&e)};
    return EM_OK;
}

static int bc_next(em_chunk_iter_t *it)
{
    bchunks_t *c = (bchunks_t *)it;
    while (c->pos < c->n) {
        const em_index_chunk_t *m = &c->chunks[c->pos++];
        const uint8_t *data;
        size_t len;
        uint8_t enc;
        em_err_t err;
        if (chunk_at(c->b, m->ref, &data, &len, &enc, &err) != EM_OK) {
            em_error("block", "Reading a chunk failed", "err=%s", em_q(err.msg));
            return EM_ECORRUPT;
        }
        if (covered(c->tomb, m->mint_ms, m->maxt_ms))
            continue;
        if (touches(c->tomb, m->mint_ms, m->maxt_ms) && enc == EM_CHUNK_XOR) {
            int rc = bc_reencode(c, data, len);
            if (rc == EM_DONE)
                continue;
            return rc;
        }
        c->cur = (em_chunk_ref_t){m->mint_ms, m->maxt_ms, enc, data, len};
        return EM_OK;
    }
    return EM_DONE;
}

static void bc_at(const em_chunk_iter_t *it, em_chunk_ref_t *out)
{
    *out = ((const bchunks_t *)it)->cur;
}

static void bc_free(em_chunk_iter_t *it)
{
    bchunks_t *c = (bchunks_t *)it;
    free(c->chunks);
    free(c->buf);
    free(c->ts);
    free(c->vs);
    free(c);
}

static const em_chunk_iter_ops_t bc_ops = {bc_next, bc_at, bc_free};

static int bset_chunks(em_series_set_t *ss, em_chunk_iter_t **out)
{
    bset_t *s = (bset_t *)ss;
    bchunks_t *it = EM_NEW(bchunks_t);
    it->it.ops = &bc_ops;
    it->b = s->q->b;
    it->n = s->c1 - s->c0;
    it->chunks = em_malloc((it->n + 1) * sizeof(*it->chunks));
    memcpy(it->chunks, s->cur.chunks + s->c0, it->n * sizeof(*it->chunks));
    it->tomb = s->cur_tomb;
    *out = &it->it;
    return EM_OK;
}

static const em_series_set_ops_t bset_ops = {bset_next,   bset_labels, bset_samples,
                                             bset_chunks, bset_err,    bset_close};

static int bq_select(em_querier_t *qq, bool sorted, const em_select_hints_t *hints,
                     const em_matcher_t *const *ms, size_t n_ms, em_series_set_t **out, em_err_t *err)
{
    (void)sorted; /* always sorted: refs are in label order */
    (void)hints;
    bquerier_t *q = (bquerier_t *)qq;
    bset_t *s = EM_NEW(bset_t);
    s->s.ops = &bset_ops;
    s->q = q;
    em_postings_init(&s->refs);
    int rc = select_postings(q->b, ms, n_ms, &s->refs, err);
    if (rc != EM_OK) {
        bset_close(&s->s);
        return rc;
    }
    *out = &s->s;
    return EM_OK;
}

/* Names or values of the series matching ms. name == NULL: names. */
static int collect_labels(bquerier_t *q, const char *name, const em_matcher_t *const *ms, size_t n_ms,
                          em_arena_t *a, em_strlist_t *out, em_err_t *err)
{
    const em_index_t *ix = &q->b->ix;
    if (n_ms == 0) {
        for (size_t i = 0; i < ix->n_pt; i++) {
            const em_index_pentry_t *e = &ix->pt[i];
            if (!e->name[0])
                continue;
            if (name == NULL && (i == 0 || strcmp(ix->pt[i - 1].name, e->name) != 0))
                em_strlist_add(out, em_arena_strdup(a, e->name));
            else if (name && strcmp(e->name, name) == 0)
                em_strlist_add(out, em_arena_strdup(a, e->value));
        }
        em_strlist_sort_unique(out);
        return EM_OK;
    }
    em_series_set_t *ss;
    int rc = bq_select(&q->q, true, NULL, ms, n_ms, &ss, err);
    if (rc != EM_OK)
        return rc;
    while ((rc = em_series_set_next(ss)) == EM_OK) {
        em_labels_t ls = em_series_set_labels(ss);
        for (size_t i = 0; i < ls.n; i++) {
            if (name == NULL)
                em_strlist_add(out, em_arena_strdup(a, ls.v[i].name));
            else if (strcmp(ls.v[i].name, name) == 0)
                em_strlist_add(out, em_arena_strdup(a, ls.v[i].value));
        }
    }
    if (rc == EM_DONE) {
        rc = EM_OK;
    } else if (err) {
        em_err_set(err, rc, "%s", bset_err(ss));
    }
    em_series_set_close(ss);
    em_strlist_sort_unique(out);
    return rc;
}

static int bq_label_names(em_querier_t *qq, const em_matcher_t *const *ms, size_t n_ms, em_arena_t *a,
                          em_strlist_t *out, em_err_t *err)
{
    return collect_labels((bquerier_t *)qq, NULL, ms, n_ms, a, out, err);
}

static int bq_label_values(em_querier_t *qq, const char *name, const em_matcher_t *const *ms, size_t n_ms,
                           em_arena_t *a, em_strlist_t *out, em_err_t *err)
{
    return collect_labels((bquerier_t *)qq, name, ms, n_ms, a, out, err);
}

static void bq_close(em_querier_t *qq)
{
    bquerier_t *q = (bquerier_t *)qq;
    tomb_release(q->tomb);
    tables_release(q->b);
    em_block_release(q->b);
    free(q);
}

static const em_querier_ops_t bq_ops = {bq_select, bq_label_names, bq_label_values, bq_close};

int em_block_querier(em_block_t *b, int64_t mint_ms, int64_t maxt_ms, em_querier_t **out, em_err_t *err)
{
    int rc = tables_acquire(b, err);
    if (rc != EM_OK)
        return rc;
    bquerier_t *q = EM_NEW(bquerier_t);
    q->q.ops = &bq_ops;
    q->q.mint_ms = mint_ms;
    q->q.maxt_ms = maxt_ms;
    em_block_acquire(b);
    q->b = b;
    q->tomb = tomb_acquire(b);
    *out = &q->q;
    return EM_OK;
}

/* ---- deletion and verification ---- */

int em_block_delete(em_block_t *b, int64_t mint_ms, int64_t maxt_ms, const em_matcher_t *const *ms,
                    size_t n_ms, em_err_t *err)
{
    pthread_mutex_lock(&b->mu); /* held throughout: the tables cannot be unloaded meanwhile */
    int lrc = load_locked(b, err);
    if (lrc != EM_OK) {
        pthread_mutex_unlock(&b->mu);
        return lrc;
    }
    b->last_use_ms = em_now_ms();
    em_postings_t refs;
    em_postings_init(&refs);
    em_index_series_t s;
    memset(&s, 0, sizeof(s));
    tomb_ref_t *nt = EM_NEW(tomb_ref_t);
    atomic_init(&nt->refs, 1);
    em_tombstones_init(&nt->t);
    const em_tombstones_t *old = &b->tomb->t;
    for (size_t i = 0; i < old->n; i++)
        for (size_t j = 0; j < old->v[i].n; j++)
            em_tombstones_add(&nt->t, old->v[i].series_ref, old->v[i].iv[j].mint_ms, old->v[i].iv[j].maxt_ms);
    int rc = select_postings(b, ms, n_ms, &refs, err);
    for (size_t i = 0; i < refs.n && rc == EM_OK; i++) {
        if ((rc = em_index_series(&b->ix, refs.v[i], &s, err)) != EM_OK)
            break;
        /* Prometheus: only series with a chunk in range get a tombstone */
        for (size_t k = 0; k < s.n_chunks; k++)
            if (s.chunks[k].mint_ms <= maxt_ms && s.chunks[k].maxt_ms >= mint_ms) {
                em_tombstones_add(&nt->t, refs.v[i], mint_ms, maxt_ms);
                break;
            }
    }
    if (rc == EM_OK && (rc = em_tombstones_write(b->dir, &nt->t, err)) == EM_OK) {
        b->meta.num_tombstones = em_tombstones_count(&nt->t);
        rc = em_block_meta_write(b->dir, &b->meta, err);
    }
    if (rc == EM_OK) {
        tomb_ref_t *prev = b->tomb;
        b->tomb = nt;
        nt = prev;
    }
    pthread_mutex_unlock(&b->mu);
    tomb_release(nt);
    em_postings_fini(&refs);
    em_index_series_fini(&s);
    return rc;
}

int em_block_verify(em_block_t *b, em_err_t *err)
{
    if (tables_acquire(b, err) != EM_OK)
        return EM_ECORRUPT;
    const em_index_t *ix = &b->ix;
    em_postings_t p;
    em_postings_init(&p);
    em_index_series_t s;
    memset(&s, 0, sizeof(s));
    int rc = EM_OK;
    for (size_t i = 0; i < ix->n_pt && rc == EM_OK; i++)
        rc = em_index_postings_at(ix, ix->pt[i].off, &p, err);
    if (rc == EM_OK && ix->n_pt > 0 && !ix->pt[0].name[0])
        rc = em_index_postings_at(ix, ix->pt[0].off, &p, err);
    if (rc != EM_OK)
        em_err_prefix(err, "%s", b->dir);
    for (size_t i = 0; i < p.n && rc == EM_OK; i++) {
        if ((rc = em_index_series(ix, p.v[i], &s, err)) != EM_OK) {
            em_err_prefix(err, "%s", b->dir);
            break;
        }
        em_labels_t ls = {s.labels, s.n_labels};
        if (em_labels_validate(&ls, NULL) != EM_OK) {
            rc = em_err_set(err, EM_ECORRUPT, "%s/index: series %u has invalid labels", b->dir, p.v[i]);
            break;
        }
        for (size_t k = 0; k < s.n_chunks && rc == EM_OK; k++) {
            const uint8_t *data;
            size_t len;
            uint8_t enc;
            if ((rc = chunk_at(b, s.chunks[k].ref, &data, &len, &enc, err)) != EM_OK)
                break;
            if (enc != EM_CHUNK_XOR)
                continue; /* a native histogram chunk: its CRC held; Ember does not decode them */
            size_t n = em_xor_num_samples(data, len);
            int64_t *ts = em_malloc((n + 1) * sizeof(*ts));
            int drc = EM_OK;
            size_t got = em_xor_decode_all(data, len, ts, NULL, n, &drc);
            if (drc != EM_OK || got != n || n == 0 || ts[0] != s.chunks[k].mint_ms ||
                ts[n - 1] != s.chunks[k].maxt_ms)
                rc = em_err_set(err, EM_ECORRUPT,
                                "%s: chunk %" PRIu64 " of series %u does not match its index entry", b->dir,
                                s.chunks[k].ref, p.v[i]);
            free(ts);
        }
    }
    em_postings_fini(&p);
    em_index_series_fini(&s);
    tables_release(b);
    return rc;
}
