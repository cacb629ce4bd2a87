/* Design: see db.h. This file: the merge of sorted series sets the db's queriers and compaction use.
 *
 * A k-way merge by labels (em_labels_cmp). Series present in one input pass through untouched (their
 * own samples and raw chunks); series present in several are merged sample by sample, a timestamp
 * present in several inputs returned once (the first input's value), and their chunks re-encoded from
 * the merged samples, 120 to a chunk. The inputs are few (blocks overlapping a range plus the head), so a
 * linear scan for the smallest beats a heap.
 */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "engine/chunk.h"
#include "engine/db_int.h"

/* ---- merged samples ---- */

typedef struct merge_iter {
    em_sample_iter_t super;
    em_sample_iter_t **in;
    bool *live; /* has a current sample */
    size_t n;
    bool started;
    int64_t t;
    double v;
} merge_iter_t;

/* Pick the smallest current timestamp; advance every input sitting on it. */
static int mi_pick(merge_iter_t *m)
{
    int64_t best = INT64_MAX;
    size_t bi = SIZE_MAX;
    for (size_t i = 0; i < m->n; i++) {
        if (!m->live[i])
            continue;
        int64_t t;
        double v;
        em_sample_iter_at(m->in[i], &t, &v);
        if (bi == SIZE_MAX || t < best) {
            best = t;
            bi = i;
            m->v = v;
        }
    }
    if (bi == SIZE_MAX)
        return EM_DONE;
    m->t = best;
    return EM_OK;
}

static int mi_advance(merge_iter_t *m, size_t i, int rc)
{
    if (rc < 0)
        return rc;
    m->live[i] = rc == EM_OK;
    return EM_OK;
}

static int mi_next(em_sample_iter_t *it)
{
    merge_iter_t *m = (merge_iter_t *)it;
    for (size_t i = 0; i < m->n; i++) {
        int64_t t;
        double v;
        if (m->started && m->live[i]) {
            em_sample_iter_at(m->in[i], &t, &v);
            if (t != m->t)
                continue;
        } else if (m->started) {
            continue;
        }
        int rc = mi_advance(m, i, em_sample_iter_next(m->in[i]));
        if (rc != EM_OK)
            return rc;
    }
    m->started = true;
    return mi_pick(m);
}

static int mi_seek(em_sample_iter_t *it, int64_t t_ms)
{
    merge_iter_t *m = (merge_iter_t *)it;
    if (m->started && m->t >= t_ms)
        return EM_OK;
    for (size_t i = 0; i < m->n; i++) {
        if (m->started && !m->live[i])
            continue;
        int rc = mi_advance(m, i, em_sample_iter_seek(m->in[i], t_ms));
        if (rc != EM_OK)
            return rc;
    }
    m->started = true;
    return mi_pick(m);
}

static void mi_at(const em_sample_iter_t *it, int64_t *t_ms, double *v)
{
    const merge_iter_t *m = (const merge_iter_t *)it;
    *t_ms = m->t;
    *v = m->v;
}

static void mi_free(em_sample_iter_t *it)
{
    merge_iter_t *m = (merge_iter_t *)it;
    for (size_t i = 0; i < m->n; i++)
        em_sample_iter_free(m->in[i]);
    free(m->in);
    free(m->live);
    free(m);
}

static const em_sample_iter_ops_t merge_iter_ops = {mi_next, mi_seek, mi_at, mi_free};

/* ---- re-encoded chunks of merged samples ---- */

typedef struct enc_chunks {
    em_chunk_iter_t super;
    em_sample_iter_t *in;
    uint8_t *buf;
    size_t cap;
    em_chunk_ref_t cur;
    bool done;
} enc_chunks_t;

static int ec_next(em_chunk_iter_t *it)
{
    enc_chunks_t *c = (enc_chunks_t *)it;
    if (c->done)
        return EM_DONE;
    em_xor_enc_t enc;
    em_xor_enc_init(&enc, c->buf, c->cap);
    size_t n = 0;
    int rc = EM_OK;
    while (n < 120 && (rc = em_sample_iter_next(c->in)) == EM_OK) {
        int64_t t;
        double v;
        em_sample_iter_at(c->in, &t, &v);
        em_xor_enc_append(&enc, t, v);
        if (n++ == 0)
            c->cur.mint_ms = t;
        c->cur.maxt_ms = t;
    }
    if (rc < 0)
        return rc;
    if (n < 120)
        c->done = true;
    if (n == 0)
        return EM_DONE;
    c->cur.encoding = EM_CHUNK_XOR;
    c->cur.data = c->buf;
    c->cur.len = em_xor_enc_bytes(&enc);
    return EM_OK;
}

static void ec_at(const em_chunk_iter_t *it, em_chunk_ref_t *out)
{
    *out = ((const enc_chunks_t *)it)->cur;
}

static void ec_free(em_chunk_iter_t *it)
{
    enc_chunks_t *c = (enc_chunks_t *)it;
    em_sample_iter_free(c->in);
    free(c->buf);
    free(c);
}

static const em_chunk_iter_ops_t enc_chunks_ops = {ec_next, ec_at, ec_free};

em_chunk_iter_t *db_chunks_from_samples(em_sample_iter_t *in)
{
    enc_chunks_t *c = EM_NEW(enc_chunks_t);
    c->super.ops = &enc_chunks_ops;
    c->in = in;
    c->cap = 120 * EM_XOR_MAX_SAMPLE_BYTES + EM_XOR_HEADER_BYTES + 16;
    c->buf = em_malloc(c->cap);
    return &c->super;
}

/* ---- the merged set ---- */

typedef struct merge_set {
    em_series_set_t super;
    em_series_set_t **in;
    bool *live;    /* input has a current series */
    bool *cur;     /* input takes part in the current series */
    size_t n;
    bool started;
    const char *err;
} merge_set_t;

static int ms_next(em_series_set_t *s_)
{
    merge_set_t *s = (merge_set_t *)s_;
    for (size_t i = 0; i < s->n; i++) {
        if (s->started && !s->cur[i])
            continue;
        int rc = em_series_set_next(s->in[i]);
        if (rc < 0) {
            s->err = s->in[i]->ops->err(s->in[i]);
            return rc;
        }
        s->live[i] = rc == EM_OK;
    }
    s->started = true;
    size_t best = SIZE_MAX;
    em_labels_t bl = {0};
    for (size_t i = 0; i < s->n; i++) {
        s->cur[i] = false;
        if (!s->live[i])
            continue;
        em_labels_t ls = em_series_set_labels(s->in[i]);
        if (best == SIZE_MAX || em_labels_cmp(&ls, &bl) < 0) {
            best = i;
            bl = ls;
        }
    }
    if (best == SIZE_MAX)
        return EM_DONE;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->live[i])
            continue;
        em_labels_t ls = em_series_set_labels(s->in[i]);
        s->cur[i] = em_labels_equal(&ls, &bl);
    }
    return EM_OK;
}

static em_labels_t ms_labels(em_series_set_t *s_)
{
    merge_set_t *s = (merge_set_t *)s_;
    for (size_t i = 0; i < s->n; i++)
        if (s->cur[i])
            return em_series_set_labels(s->in[i]);
    return (em_labels_t){NULL, 0};
}

static size_t n_cur(const merge_set_t *s, size_t *only)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->cur[i]) {
            k++;
            *only = i;
        }
    return k;
}

static int ms_samples(em_series_set_t *s_, em_sample_iter_t **out)
{
    merge_set_t *s = (merge_set_t *)s_;
    size_t only = 0, k = n_cur(s, &only);
    if (k == 1)
        return em_series_set_samples(s->in[only], out);
    merge_iter_t *m = EM_NEW(merge_iter_t);
    m->super.ops = &merge_iter_ops;
    m->in = em_calloc(k, sizeof(*m->in));
    m->live = em_calloc(k, sizeof(bool));
    for (size_t i = 0; i < s->n; i++) {
        if (!s->cur[i])
            continue;
        int rc = em_series_set_samples(s->in[i], &m->in[m->n]);
        if (rc != EM_OK) {
            mi_free(&m->super);
            return rc;
        }
        m->n++;
    }
    *out = &m->super;
    return EM_OK;
}

static int ms_chunks(em_series_set_t *s_, em_chunk_iter_t **out)
{
    merge_set_t *s = (merge_set_t *)s_;
    size_t only = 0, k = n_cur(s, &only);
    if (k == 1)
        return em_series_set_chunks(s->in[only], out);
    em_sample_iter_t *it;
    int rc = ms_samples(s_, &it);
    if (rc != EM_OK)
        return rc;
    *out = db_chunks_from_samples(it);
    return EM_OK;
}

static const char *ms_err(em_series_set_t *s_)
{
    return ((merge_set_t *)s_)->err;
}

static void ms_close(em_series_set_t *s_)
{
    merge_set_t *s = (merge_set_t *)s_;
    for (size_t i = 0; i < s->n; i++)
        em_series_set_close(s->in[i]);
    free(s->in);
    free(s->live);
    free(s->cur);
    free(s);
}

static const em_series_set_ops_t merge_set_ops = {ms_next, ms_labels, ms_samples, ms_chunks, ms_err, ms_close};

em_series_set_t *db_series_set_merge(em_series_set_t **sets, size_t n)
{
    if (n == 0)
        return em_series_set_empty();
    if (n == 1)
        return sets[0];
    merge_set_t *s = EM_NEW(merge_set_t);
    s->super.ops = &merge_set_ops;
    s->in = em_calloc(n, sizeof(*s->in));
    memcpy(s->in, sets, n * sizeof(*s->in));
    s->live = em_calloc(n, sizeof(bool));
    s->cur = em_calloc(n, sizeof(bool));
    s->n = n;
    return &s->super;
}
