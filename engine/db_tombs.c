/* Design: see db.h. This file: deletions that apply to the head, and their file.
 *
 * Blocks keep their own tombstones (engine/block.h). The head's are kept here as an immutable,
 * reference-counted set of (series labels, closed intervals) replaced whole on every change, so a querier
 * filters with the set it started with while a deletion publishes the next one. Entries are found by
 * label hash then compared by labels. Intervals ending before the head's lower bound are dropped after
 * each truncation: the head no longer has that data, and the block cut from it was written filtered.
 *
 * FILE <data>/head_tombstones, replaced atomically (base/fs.h em_write_file_atomic):
 *     offset  size    field
 *     0       8       magic "EMHTOMB1"
 *     8       uvarint number of series
 *     per series:     uvarint n_labels, then n_labels x (uvarint len, bytes) twice (name, value),
 *                     uvarint n_intervals, then n_intervals x (varint mint, varint maxt)
 *     end-4   4       CRC32C (big-endian) of everything before it
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/mem.h"
#include "engine/db_int.h"

#define TOMB_MAGIC "EMHTOMB1"
#define TOMB_MAX_LABELS 1024
#define TOMB_MAX_INTERVALS 100000

head_tombs_t *head_tombs_new(void)
{
    head_tombs_t *t = EM_NEW(head_tombs_t);
    atomic_init(&t->refs, 1);
    em_arena_init(&t->arena);
    return t;
}

void head_tombs_acquire(head_tombs_t *t)
{
    atomic_fetch_add(&t->refs, 1);
}

void head_tombs_release(head_tombs_t *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].iv);
    free(t->v);
    em_arena_fini(&t->arena);
    free(t);
}

const head_tomb_t *head_tombs_find(const head_tombs_t *t, uint64_t hash, const em_labels_t *ls)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->v[mid].hash < hash)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < t->n && t->v[lo].hash == hash; lo++)
        if (em_labels_equal(&t->v[lo].ls, ls))
            return &t->v[lo];
    return NULL;
}

bool head_tomb_covers(const head_tomb_t *ht, int64_t t_ms)
{
    for (size_t i = 0; i < ht->n_iv; i++) {
        if (t_ms < ht->iv[i][0])
            return false;
        if (t_ms <= ht->iv[i][1])
            return true;
    }
    return false;
}

static int cmp_iv(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

/* Sort and merge overlapping or adjacent intervals in place. */
static size_t normalise(int64_t (*iv)[2], size_t n)
{
    if (n < 2)
        return n;
    if (n > 1)
        em_qsort(iv, n, sizeof(iv[0]), cmp_iv);
    size_t w = 0;
    for (size_t r = 1; r < n; r++) {
        if (iv[r][0] <= iv[w][1] || (iv[w][1] != INT64_MAX && iv[r][0] == iv[w][1] + 1)) {
            if (iv[r][1] > iv[w][1])
                iv[w][1] = iv[r][1];
        } else {
            w++;
            iv[w][0] = iv[r][0];
            iv[w][1] = iv[r][1];
        }
    }
    return w + 1;
}

static int cmp_tomb(const void *a, const void *b)
{
    const head_tomb_t *x = a, *y = b;
    if (x->hash != y->hash)
        return (x->hash > y->hash) - (x->hash < y->hash);
    return em_labels_cmp(&x->ls, &y->ls);
}

/* Append a copy of an entry (labels into t's arena, intervals malloc'd). */
static head_tomb_t *push(head_tombs_t *t, size_t *cap, const em_labels_t *ls, uint64_t hash, int64_t (*iv)[2],
                         size_t n_iv)
{
    em_grow((void **)&t->v, cap, t->n + 1, sizeof(head_tomb_t));
    head_tomb_t *e = &t->v[t->n++];
    e->hash = hash;
    e->ls = em_labels_copy(ls, &t->arena);
    e->n_iv = n_iv;
    e->iv = em_malloc((n_iv ? n_iv : 1) * sizeof(e->iv[0]));
    if (n_iv)
        memcpy(e->iv, iv, n_iv * sizeof(e->iv[0]));
    return e;
}

head_tombs_t *head_tombs_add(const head_tombs_t *old, const em_labels_t *ls, size_t n, int64_t mint,
                             int64_t maxt)
{
    head_tombs_t *t = head_tombs_new();
    size_t cap = 0;
    for (size_t i = 0; i < old->n; i++)
        push(t, &cap, &old->v[i].ls, old->v[i].hash, old->v[i].iv, old->v[i].n_iv);
    if (t->n > 1)
        em_qsort(t->v, t->n, sizeof(head_tomb_t), cmp_tomb);
    size_t n_old = t->n;
    for (size_t i = 0; i < n; i++) {
        uint64_t h = em_labels_hash(&ls[i]);
        head_tomb_t *e = NULL;
        /* Only the entries copied from 'old' are sorted; new ones are searched linearly (few). */
        head_tombs_t view = {.v = t->v, .n = n_old};
        const head_tomb_t *f = head_tombs_find(&view, h, &ls[i]);
        if (f)
            e = (head_tomb_t *)f;
        for (size_t k = n_old; !e && k < t->n; k++)
            if (t->v[k].hash == h && em_labels_equal(&t->v[k].ls, &ls[i]))
                e = &t->v[k];
        int64_t one[1][2] = {{mint, maxt}};
        if (!e) {
            push(t, &cap, &ls[i], h, one, 1);
            continue;
        }
        e->iv = em_realloc(e->iv, (e->n_iv + 1) * sizeof(e->iv[0]));
        e->iv[e->n_iv][0] = mint;
        e->iv[e->n_iv][1] = maxt;
        e->n_iv = normalise(e->iv, e->n_iv + 1);
    }
    if (t->n > 1)
        em_qsort(t->v, t->n, sizeof(head_tomb_t), cmp_tomb);
    return t;
}

head_tombs_t *head_tombs_trim(const head_tombs_t *old, int64_t t_ms)
{
    head_tombs_t *t = head_tombs_new();
    size_t cap = 0;
    for (size_t i = 0; i < old->n; i++) {
        const head_tomb_t *o = &old->v[i];
        size_t first = 0;
        while (first < o->n_iv && o->iv[first][1] < t_ms)
            first++;
        if (first < o->n_iv)
            push(t, &cap, &o->ls, o->hash, o->iv + first, o->n_iv - first);
    }
    return t; /* order preserved */
}

/* ---- the file ---- */

static void put_str(em_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    em_buf_put_uvarint(b, n);
    em_buf_append(b, s, n);
}

void head_tombs_encode(const head_tombs_t *t, em_buf_t *out)
{
    em_buf_append(out, TOMB_MAGIC, 8);
    em_buf_put_uvarint(out, t->n);
    for (size_t i = 0; i < t->n; i++) {
        const head_tomb_t *e = &t->v[i];
        em_buf_put_uvarint(out, e->ls.n);
        for (size_t k = 0; k < e->ls.n; k++) {
            put_str(out, e->ls.v[k].name);
            put_str(out, e->ls.v[k].value);
        }
        em_buf_put_uvarint(out, e->n_iv);
        for (size_t k = 0; k < e->n_iv; k++) {
            em_buf_put_varint(out, e->iv[k][0]);
            em_buf_put_varint(out, e->iv[k][1]);
        }
    }
    em_buf_put_be32(out, em_crc32c(0, out->data, out->len));
}

typedef struct rd {
    const uint8_t *p, *end;
    bool bad;
} rd_t;

static uint64_t rd_uv(rd_t *r)
{
    uint64_t v = 0;
    size_t k = r->bad ? 0 : em_uvarint_get(r->p, r->end, &v);
    if (k == 0) {
        r->bad = true;
        return 0;
    }
    r->p += k;
    return v;
}

static int64_t rd_v(rd_t *r)
{
    return em_unzigzag(rd_uv(r));
}

static const char *rd_str(rd_t *r, em_arena_t *a)
{
    uint64_t n = rd_uv(r);
    if (r->bad || n > (uint64_t)(r->end - r->p)) {
        r->bad = true;
        return "";
    }
    const char *s = em_arena_strndup(a, (const char *)r->p, (size_t)n);
    r->p += n;
    return s;
}

int head_tombs_decode(const uint8_t *p, size_t n, head_tombs_t **out, em_err_t *err)
{
    if (n < 12 || memcmp(p, TOMB_MAGIC, 8) != 0)
        return em_err_set(err, EM_ECORRUPT, "bad magic");
    if (em_crc32c(0, p, n - 4) != em_be32(p + n - 4))
        return em_err_set(err, EM_ECORRUPT, "checksum mismatch");
    rd_t r = {p + 8, p + n - 4, false};
    head_tombs_t *t = head_tombs_new();
    size_t cap = 0;
    uint64_t n_series = rd_uv(&r);
    for (uint64_t i = 0; i < n_series && !r.bad; i++) {
        uint64_t nl = rd_uv(&r);
        if (nl == 0 || nl > TOMB_MAX_LABELS) {
            r.bad = true;
            break;
        }
        em_arena_t tmp;
        em_arena_init(&tmp);
        em_label_t *lv = em_arena_alloc(&tmp, nl * sizeof(em_label_t));
        for (uint64_t k = 0; k < nl; k++) {
            lv[k].name = rd_str(&r, &tmp);
            lv[k].value = rd_str(&r, &tmp);
        }
        uint64_t ni = rd_uv(&r);
        if (r.bad || ni > TOMB_MAX_INTERVALS) {
            r.bad = true;
            em_arena_fini(&tmp);
            break;
        }
        int64_t(*iv)[2] = em_malloc((ni ? ni : 1) * sizeof(iv[0]));
        for (uint64_t k = 0; k < ni; k++) {
            iv[k][0] = rd_v(&r);
            iv[k][1] = rd_v(&r);
            if (iv[k][1] < iv[k][0])
                r.bad = true;
        }
        em_labels_t ls = {lv, (size_t)nl};
        if (!r.bad && em_labels_validate(&ls, NULL) == EM_OK) {
            size_t nn = normalise(iv, (size_t)ni);
            push(t, &cap, &ls, em_labels_hash(&ls), iv, nn);
        } else {
            r.bad = true;
        }
        free(iv);
        em_arena_fini(&tmp);
    }
    if (r.bad || r.p != r.end) {
        head_tombs_release(t);
        return em_err_set(err, EM_ECORRUPT, "malformed record");
    }
    if (t->n > 1)
        em_qsort(t->v, t->n, sizeof(head_tomb_t), cmp_tomb);
    *out = t;
    return EM_OK;
}

/* Locks: requires maint_mu (the only writer of the file). */
int db_tombs_save(em_db_t *db, em_err_t *err)
{
    pthread_mutex_lock(&db->mu);
    head_tombs_t *t = db->tombs;
    head_tombs_acquire(t);
    pthread_mutex_unlock(&db->mu);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/head_tombstones", db->dir);
    int rc;
    if (t->n == 0) {
        rc = em_path_exists(path) ? em_remove_all(path, err) : EM_OK;
    } else {
        em_buf_t b = EM_BUF_INIT;
        head_tombs_encode(t, &b);
        rc = em_write_file_atomic(path, b.data, b.len, err);
        em_buf_fini(&b);
    }
    head_tombs_release(t);
    return rc;
}
