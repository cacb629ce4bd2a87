/* Design: see querier.h (em_series_set_merge).
 *
 * The merged set keeps every input positioned on its current series and, on each next(), advances the
 * inputs that supplied the previous series, then takes the smallest label set among the inputs (a linear
 * scan: the number of inputs is the number of blocks plus the head, a few dozen at most, so one next()
 * costs O(n_inputs) label comparisons). All inputs on that label set form the merged series.
 *
 * Samples of a merged series: a k-way merge of the inputs' sample iterators by time; when several inputs
 * hold the same timestamp the first input's sample is returned and the others are skipped (Prometheus's
 * chainSampleIterator deduplicates the same way).
 *
 * Chunks of a merged series: all inputs' chunks, sorted by min time; chunks that overlap no other pass
 * through unchanged; each group of overlapping chunks is decoded, merged as above and re-encoded into
 * chunks of at most EM_MERGE_CHUNK_SAMPLES (Prometheus's compactChunkIterator), so compaction of
 * overlapping blocks produces non-overlapping chunks. Native histogram chunks (from Prometheus blocks;
 * Ember has no histograms) pass through when they overlap nothing and are dropped from an overlapping
 * group. The chunks are collected when chunks() is called
 * (one series' chunks at a time), because inputs' chunk bytes are only valid until their iterator moves.
 */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "engine/chunk.h"
#include "engine/querier.h"

#define EM_MERGE_CHUNK_SAMPLES 120

/* ---- samples ---- */

typedef struct msamples {
    em_sample_iter_t it;
    em_sample_iter_t **in;
    int64_t *t;
    double *v;
    bool *alive;
    size_t n;
    bool started;
    int state; /* EM_OK, or EM_DONE / error (sticky) */
    int64_t cur_t;
    double cur_v;
    size_t cur_i; /* the input that supplied the current sample */
} msamples_t;

/* Pick the smallest current time among live inputs (first input wins ties). */
static int ms_pick(msamples_t *m)
{
    size_t best = m->n;
    for (size_t i = 0; i < m->n; i++)
        if (m->alive[i] && (best == m->n || m->t[i] < m->t[best]))
            best = i;
    if (best == m->n)
        return m->state = EM_DONE;
    m->cur_t = m->t[best];
    m->cur_v = m->v[best];
    m->cur_i = best;
    return EM_OK;
}

/* Record the result of next()/seek() on input i. */
static int ms_took(msamples_t *m, size_t i, int rc)
{
    if (rc == EM_OK) {
        em_sample_iter_at(m->in[i], &m->t[i], &m->v[i]);
    } else {
        m->alive[i] = false;
        if (rc != EM_DONE)
            return m->state = rc;
    }
    return EM_OK;
}

static int ms_next(em_sample_iter_t *it)
{
    msamples_t *m = (msamples_t *)it;
    if (m->state != EM_OK)
        return m->state;
    for (size_t i = 0; i < m->n; i++) {
        if (!m->alive[i] || (m->started && m->t[i] != m->cur_t))
            continue;
        if (ms_took(m, i, em_sample_iter_next(m->in[i])) != EM_OK)
            return m->state;
    }
    m->started = true;
    return ms_pick(m);
}

static int ms_seek(em_sample_iter_t *it, int64_t t_ms)
{
    msamples_t *m = (msamples_t *)it;
    if (m->state != EM_OK)
        return m->state;
    if (m->started && m->cur_t >= t_ms)
        return EM_OK;
    for (size_t i = 0; i < m->n; i++) {
        if (!m->alive[i] || (m->started && m->t[i] >= t_ms))
            continue;
        if (ms_took(m, i, em_sample_iter_seek(m->in[i], t_ms)) != EM_OK)
            return m->state;
    }
    m->started = true;
    return ms_pick(m);
}

static void ms_at(const em_sample_iter_t *it, int64_t *t_ms, double *v)
{
    const msamples_t *m = (const msamples_t *)it;
    *t_ms = m->cur_t;
    *v = m->cur_v;
}

static int64_t ms_at_st(const em_sample_iter_t *it)
{
    const msamples_t *m = (const msamples_t *)it;
    return em_sample_iter_at_st(m->in[m->cur_i]); /* still on the sample it supplied */
}

static void ms_free(em_sample_iter_t *it)
{
    msamples_t *m = (msamples_t *)it;
    for (size_t i = 0; i < m->n; i++)
        em_sample_iter_free(m->in[i]);
    free(m->in);
    free(m->t);
    free(m->v);
    free(m->alive);
    free(m);
}

static const em_sample_iter_ops_t ms_ops = {ms_next, ms_seek, ms_at, ms_free, ms_at_st};

/* Takes ownership of in[0..n) (and the array). */
static em_sample_iter_t *msamples_new(em_sample_iter_t **in, size_t n)
{
    msamples_t *m = EM_NEW(msamples_t);
    m->it.ops = &ms_ops;
    m->in = in;
    m->n = n;
    m->t = em_calloc(n, sizeof(*m->t));
    m->v = em_calloc(n, sizeof(*m->v));
    m->alive = em_malloc(n * sizeof(*m->alive));
    for (size_t i = 0; i < n; i++)
        m->alive[i] = true;
    m->state = EM_OK;
    return &m->it;
}

/* ---- chunks ---- */

typedef struct mchunk {
    int64_t mint, maxt;
    uint8_t enc;
    size_t input; /* tie-break: earlier inputs win duplicate timestamps */
    uint8_t *data;
    size_t len;
} mchunk_t;

typedef struct mchunks {
    em_chunk_iter_t it;
    mchunk_t *v; /* output chunks, owned */
    size_t n, cap, pos;
} mchunks_t;

static int mchunk_cmp(const void *a, const void *b)
{
    const mchunk_t *x = a, *y = b;
    if (x->mint != y->mint)
        return x->mint < y->mint ? -1 : 1;
    return x->input < y->input ? -1 : x->input > y->input;
}

static void mc_push(mchunks_t *c, uint8_t enc, int64_t mint, int64_t maxt, uint8_t *data, size_t len)
{
    em_grow((void **)&c->v, &c->cap, c->n + 1, sizeof(*c->v));
    c->v[c->n++] = (mchunk_t){mint, maxt, enc, 0, data, len};
}

typedef struct tv {
    int64_t t;
    double v;
    size_t input;
} tv_t;

static int tv_cmp(const void *a, const void *b)
{
    const tv_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->input < y->input ? -1 : x->input > y->input;
}

/* Decode the group g[0..k), merge by time (first input wins), re-encode into chunks of 120. */
static int mc_reencode(mchunks_t *c, const mchunk_t *g, size_t k)
{
    size_t total = 0;
    for (size_t i = 0; i < k; i++)
        total += em_xor_num_samples(g[i].data, g[i].len);
    tv_t *s = em_malloc((total + 1) * sizeof(*s));
    int64_t *ts = em_malloc((total + 1) * sizeof(*ts));
    double *vs = em_malloc((total + 1) * sizeof(*vs));
    /* The chunks are independent streams: decoding them as one batch overlaps two at a time. */
    em_xor_decode_job_t *jobs = em_malloc((k + 1) * sizeof(*jobs));
    size_t n_jobs = 0, off = 0;
    for (size_t i = 0; i < k; i++) {
        if (g[i].enc != EM_CHUNK_XOR)
            continue; /* native histograms cannot be merged here: dropped (see chunks above) */
        size_t want = em_xor_num_samples(g[i].data, g[i].len);
        jobs[n_jobs++] = (em_xor_decode_job_t){g[i].data, g[i].len, ts + off, vs + off, want, 0, EM_OK};
        off += want;
    }
    em_xor_decode_batch(jobs, n_jobs);
    size_t n = 0;
    int rc = EM_OK;
    for (size_t i = 0, j = 0; j < n_jobs && rc == EM_OK; i++) {
        if (g[i].enc != EM_CHUNK_XOR)
            continue;
        rc = jobs[j].rc != EM_OK || jobs[j].n != jobs[j].max ? EM_ECORRUPT : EM_OK;
        for (size_t q = 0; q < jobs[j].n; q++)
            s[n++] = (tv_t){jobs[j].ts_ms[q], jobs[j].vs[q], g[i].input};
        j++;
    }
    free(jobs);
    em_qsort(s, n, sizeof(*s), tv_cmp);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || s[u - 1].t != s[i].t)
            s[u++] = s[i];
    for (size_t i = 0; i < u && rc == EM_OK; i += EM_MERGE_CHUNK_SAMPLES) {
        size_t m = u - i < EM_MERGE_CHUNK_SAMPLES ? u - i : EM_MERGE_CHUNK_SAMPLES;
        size_t cap = EM_XOR_MIN_CAP + m * 24;
        uint8_t *buf = em_malloc(cap);
        em_xor_enc_t e;
        em_xor_enc_init(&e, buf, cap);
        for (size_t j = 0; j < m && rc == EM_OK; j++)
            rc = em_xor_enc_append(&e, s[i + j].t, s[i + j].v);
        if (rc != EM_OK) {
            free(buf);
            break;
        }
        mc_push(c, EM_CHUNK_XOR, s[i].t, s[i + m - 1].t, buf, em_xor_enc_bytes(&e));
    }
    free(s);
    free(ts);
    free(vs);
    return rc;
}

static int mc_next(em_chunk_iter_t *it)
{
    mchunks_t *c = (mchunks_t *)it;
    if (c->pos >= c->n)
        return EM_DONE;
    c->pos++;
    return EM_OK;
}

static void mc_at(const em_chunk_iter_t *it, em_chunk_ref_t *out)
{
    const mchunks_t *c = (const mchunks_t *)it;
    const mchunk_t *x = &c->v[c->pos - 1];
    *out = (em_chunk_ref_t){x->mint, x->maxt, x->enc, x->data, x->len};
}

static void mc_free(em_chunk_iter_t *it)
{
    mchunks_t *c = (mchunks_t *)it;
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].data);
    free(c->v);
    free(c);
}

static const em_chunk_iter_ops_t mc_ops = {mc_next, mc_at, mc_free};

/* Build the merged chunk list from all chunks of the inputs (in[], consumed and freed). */
static int mchunks_new(em_chunk_iter_t **in, size_t n, em_chunk_iter_t **out)
{
    mchunk_t *all = NULL;
    size_t n_all = 0, cap = 0;
    int rc = EM_OK;
    for (size_t i = 0; i < n; i++) {
        while (rc == EM_OK && (rc = em_chunk_iter_next(in[i])) == EM_OK) {
            em_chunk_ref_t r;
            em_chunk_iter_at(in[i], &r);
            em_grow((void **)&all, &cap, n_all + 1, sizeof(*all));
            uint8_t *copy = em_malloc(r.len + 1);
            memcpy(copy, r.data, r.len);
            all[n_all++] = (mchunk_t){r.mint_ms, r.maxt_ms, r.encoding, i, copy, r.len};
        }
        if (rc == EM_DONE)
            rc = EM_OK;
        em_chunk_iter_free(in[i]);
    }
    free(in);
    mchunks_t *c = EM_NEW(mchunks_t);
    c->it.ops = &mc_ops;
    if (rc == EM_OK)
        em_qsort(all, n_all, sizeof(*all), mchunk_cmp);
    for (size_t i = 0; i < n_all && rc == EM_OK;) {
        size_t j = i + 1;
        int64_t maxt = all[i].maxt;
        while (j < n_all && all[j].mint <= maxt) {
            if (all[j].maxt > maxt)
                maxt = all[j].maxt;
            j++;
        }
        if (j == i + 1) {
            mc_push(c, all[i].enc, all[i].mint, all[i].maxt, all[i].data, all[i].len);
            all[i].data = NULL;
        } else {
            rc = mc_reencode(c, all + i, j - i);
        }
        i = j;
    }
    for (size_t i = 0; i < n_all; i++)
        free(all[i].data);
    free(all);
    if (rc != EM_OK) {
        mc_free(&c->it);
        return rc;
    }
    *out = &c->it;
    return EM_OK;
}

/* ---- the set ---- */

typedef struct mset {
    em_series_set_t s;
    em_series_set_t **in;
    bool *alive;
    size_t n;
    size_t *cur; /* inputs positioned on the current merged series */
    size_t n_cur;
    bool started;
    int state;
    const char *errmsg;
} mset_t;

static int mset_fail(mset_t *m, size_t i, int rc)
{
    m->state = rc;
    m->errmsg = m->in[i]->ops->err(m->in[i]);
    return rc;
}

static int mset_next(em_series_set_t *ss)
{
    mset_t *m = (mset_t *)ss;
    if (m->state != EM_OK)
        return m->state;
    if (!m->started) {
        for (size_t i = 0; i < m->n; i++) {
            int rc = em_series_set_next(m->in[i]);
            if (rc == EM_DONE)
                m->alive[i] = false;
            else if (rc != EM_OK)
                return mset_fail(m, i, rc);
        }
        m->started = true;
    } else {
        for (size_t k = 0; k < m->n_cur; k++) {
            size_t i = m->cur[k];
            int rc = em_series_set_next(m->in[i]);
            if (rc == EM_DONE)
                m->alive[i] = false;
            else if (rc != EM_OK)
                return mset_fail(m, i, rc);
        }
    }
    m->n_cur = 0;
    em_labels_t best = {NULL, 0};
    for (size_t i = 0; i < m->n; i++) {
        if (!m->alive[i])
            continue;
        em_labels_t ls = em_series_set_labels(m->in[i]);
        int c = m->n_cur == 0 ? -1 : em_labels_cmp(&ls, &best);
        if (c < 0) {
            best = ls;
            m->n_cur = 0;
        }
        if (c <= 0)
            m->cur[m->n_cur++] = i;
    }
    if (m->n_cur == 0)
        return m->state = EM_DONE;
    return EM_OK;
}

static em_labels_t mset_labels(em_series_set_t *ss)
{
    mset_t *m = (mset_t *)ss;
    return em_series_set_labels(m->in[m->cur[0]]);
}

static int mset_samples(em_series_set_t *ss, em_sample_iter_t **out)
{
    mset_t *m = (mset_t *)ss;
    if (m->n_cur == 1)
        return em_series_set_samples(m->in[m->cur[0]], out);
    em_sample_iter_t **in = em_calloc(m->n_cur, sizeof(*in));
    for (size_t k = 0; k < m->n_cur; k++) {
        int rc = em_series_set_samples(m->in[m->cur[k]], &in[k]);
        if (rc != EM_OK) {
            for (size_t j = 0; j < k; j++)
                em_sample_iter_free(in[j]);
            free(in);
            return rc;
        }
    }
    *out = msamples_new(in, m->n_cur);
    return EM_OK;
}

static int mset_chunks(em_series_set_t *ss, em_chunk_iter_t **out)
{
    mset_t *m = (mset_t *)ss;
    if (m->n_cur == 1)
        return em_series_set_chunks(m->in[m->cur[0]], out);
    em_chunk_iter_t **in = em_calloc(m->n_cur, sizeof(*in));
    for (size_t k = 0; k < m->n_cur; k++) {
        int rc = em_series_set_chunks(m->in[m->cur[k]], &in[k]);
        if (rc != EM_OK) {
            for (size_t j = 0; j < k; j++)
                em_chunk_iter_free(in[j]);
            free(in);
            return rc;
        }
    }
    return mchunks_new(in, m->n_cur, out);
}

static const char *mset_err(em_series_set_t *ss)
{
    mset_t *m = (mset_t *)ss;
    return m->state < 0 ? (m->errmsg ? m->errmsg : em_strerror(m->state)) : NULL;
}

static void mset_close(em_series_set_t *ss)
{
    mset_t *m = (mset_t *)ss;
    for (size_t i = 0; i < m->n; i++)
        em_series_set_close(m->in[i]);
    free(m->in);
    free(m->alive);
    free(m->cur);
    free(m);
}

static const em_series_set_ops_t mset_ops = {mset_next,   mset_labels, mset_samples,
                                             mset_chunks, mset_err,    mset_close};

em_series_set_t *em_series_set_merge(em_series_set_t **sets, size_t n)
{
    if (n == 0)
        return em_series_set_empty();
    if (n == 1)
        return sets[0];
    mset_t *m = EM_NEW(mset_t);
    m->s.ops = &mset_ops;
    m->n = n;
    m->in = em_malloc(n * sizeof(*m->in));
    memcpy(m->in, sets, n * sizeof(*m->in));
    m->alive = em_malloc(n * sizeof(*m->alive));
    for (size_t i = 0; i < n; i++)
        m->alive[i] = true;
    m->cur = em_malloc(n * sizeof(*m->cur));
    m->state = EM_OK;
    return &m->s;
}
