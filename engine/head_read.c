/* Design: see head.h and querier.h. This file: the head's queriers, series sets and iterators.
 *
 * A head querier holds the RCU read-side lock from open to close, so every series, chunk list and buffer
 * it reaches stays valid until then even if a shard truncates or grows them meanwhile. Everything a
 * querier hands out is allocated from its arena and freed at close.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "engine/head_int.h"
#include "engine/postings.h"

void series_snapshot(const hseries_t *se, series_snap_t *out)
{
    for (;;) {
        unsigned s1 = atomic_load_explicit(&se->seq, memory_order_acquire);
        if (s1 & 1) {
            caa_cpu_relax();
            continue;
        }
        hchunk_list_t *closed = HEAD_LOAD(se->closed);
        obuf_t *open = HEAD_LOAD(se->open);
        st_log_t *sts = HEAD_LOAD(se->sts);
        uint32_t n_sts = sts ? atomic_load_explicit(&sts->n, memory_order_relaxed) : 0;
        uint64_t pub = atomic_load_explicit(&se->pub, memory_order_relaxed);
        uint32_t n = (uint32_t)(pub >> 48), sn = (uint32_t)(pub >> 32) & 0xffff;
        for (uint32_t i = sn; i < n; i++) {
            out->tail_t[i % HEAD_TAIL] = atomic_load_explicit(&se->tail_t[i % HEAD_TAIL], memory_order_relaxed);
            out->tail_v[i % HEAD_TAIL] =
                bits_f64(atomic_load_explicit(&se->tail_v[i % HEAD_TAIL], memory_order_relaxed));
        }
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&se->seq, memory_order_relaxed) != s1)
            continue;
        out->closed = closed;
        out->open = open ? open->data : NULL;
        out->open_n = open ? n : 0;
        out->stable_n = open ? sn : 0;
        out->stable_bytes = open ? (uint32_t)pub : 0;
        out->sts = sts ? sts->e : NULL;
        out->n_sts = n_sts;
        return;
    }
}

typedef struct head_querier {
    em_querier_t super;
    em_head_t *h;
    em_arena_t arena;
} head_querier_t;

typedef struct entry {
    hseries_t *se;
} entry_t;

typedef struct head_set {
    em_series_set_t super;
    head_querier_t *q;
    entry_t *e;
    size_t n;
    size_t i; /* current + 1; 0 before the first next() */
} head_set_t;

/* ---- sample iterator ---- */

enum { PH_CLOSED, PH_OPEN, PH_TAIL, PH_DONE };

typedef struct head_iter {
    em_sample_iter_t super;
    series_snap_t snap;
    int64_t mint, maxt;
    int phase;
    uint32_t ci;      /* index of the closed chunk being read, or of the next one */
    bool in_chunk;
    uint32_t tail_i;
    em_xor_iter_t it;
    int64_t t;
    double v;
    bool has_cur;
    uint32_t st_i; /* the first start-timestamp entry not before t */
} head_iter_t;

/* Start the next closed chunk that can hold samples >= from; false when there is none. */
static bool next_closed_chunk(head_iter_t *h, int64_t from)
{
    hchunk_list_t *l = h->snap.closed;
    while (l && h->ci < l->n) {
        hchunk_t *c = l->c[h->ci];
        if (c->maxt < from) {
            h->ci++;
            continue;
        }
        if (c->mint > h->maxt)
            return false;
        em_xor_iter_init(&h->it, c->data, c->len);
        h->in_chunk = true;
        return true;
    }
    return false;
}

/* Step within the current decoder; EM_OK with a sample in range, EM_DONE at its end or past maxt. */
static int step_decoder(head_iter_t *h)
{
    for (;;) {
        int rc = em_xor_iter_next(&h->it);
        if (rc != EM_OK)
            return rc;
        em_xor_iter_at(&h->it, &h->t, &h->v);
        if (h->t < h->mint)
            continue;
        if (h->t > h->maxt) {
            h->phase = PH_DONE;
            return EM_DONE;
        }
        return EM_OK;
    }
}

static int hi_next(em_sample_iter_t *it)
{
    head_iter_t *h = (head_iter_t *)it;
    for (;;) {
        switch (h->phase) {
        case PH_CLOSED: {
            if (!h->in_chunk && !next_closed_chunk(h, h->mint)) {
                h->phase = (h->snap.closed && h->ci < h->snap.closed->n) ? PH_DONE : PH_OPEN;
                continue;
            }
            int rc = step_decoder(h);
            if (rc == EM_OK) {
                h->has_cur = true;
                return EM_OK;
            }
            if (rc != EM_DONE || h->phase == PH_DONE) {
                h->has_cur = false;
                return rc;
            }
            h->in_chunk = false;
            h->ci++;
            continue;
        }
        case PH_OPEN:
            if (!h->in_chunk) {
                if (h->snap.stable_n == 0) {
                    h->phase = PH_TAIL;
                    continue;
                }
                em_xor_iter_init_n(&h->it, h->snap.open, h->snap.stable_bytes, h->snap.stable_n);
                h->in_chunk = true;
            }
            {
                int rc = step_decoder(h);
                if (rc == EM_OK) {
                    h->has_cur = true;
                    return EM_OK;
                }
                if (rc != EM_DONE || h->phase == PH_DONE) {
                    h->has_cur = false;
                    return rc;
                }
            }
            h->in_chunk = false;
            h->phase = PH_TAIL;
            continue;
        case PH_TAIL:
            while (h->tail_i < h->snap.open_n) {
                uint32_t i = h->tail_i++;
                h->t = h->snap.tail_t[i % HEAD_TAIL];
                h->v = h->snap.tail_v[i % HEAD_TAIL];
                if (h->t < h->mint)
                    continue;
                if (h->t > h->maxt)
                    break;
                h->has_cur = true;
                return EM_OK;
            }
            h->phase = PH_DONE;
            continue;
        default:
            h->has_cur = false;
            return EM_DONE;
        }
    }
}

static int hi_seek(em_sample_iter_t *it, int64_t t)
{
    head_iter_t *h = (head_iter_t *)it;
    if (h->has_cur && h->t >= t)
        return EM_OK;
    if (t > h->mint && h->phase == PH_CLOSED) {
        /* Skip whole chunks that end before t. */
        if (h->in_chunk && h->snap.closed->c[h->ci]->maxt < t) {
            h->in_chunk = false;
            h->ci++;
        }
        if (!h->in_chunk) {
            while (h->snap.closed && h->ci < h->snap.closed->n && h->snap.closed->c[h->ci]->maxt < t)
                h->ci++;
        }
    }
    int rc;
    while ((rc = hi_next(it)) == EM_OK)
        if (h->t >= t)
            return EM_OK;
    return rc;
}

static void hi_at(const em_sample_iter_t *it, int64_t *t, double *v)
{
    const head_iter_t *h = (const head_iter_t *)it;
    *t = h->t;
    *v = h->v;
}

static int64_t hi_at_st(const em_sample_iter_t *it)
{
    head_iter_t *h = (head_iter_t *)it; /* the cursor moves; the sample does not */
    const st_entry_t *e = h->snap.sts;
    while (h->st_i < h->snap.n_sts && e[h->st_i].t < h->t)
        h->st_i++;
    return h->st_i < h->snap.n_sts && e[h->st_i].t == h->t ? e[h->st_i].st : 0;
}

static void hi_free(em_sample_iter_t *it)
{
    /* Arena memory: freed with the querier. */
}

static const em_sample_iter_ops_t head_iter_ops = {hi_next, hi_seek, hi_at, hi_free, hi_at_st};

/* ---- chunk iterator (raw closed chunks; the open chunk re-encoded) ---- */

typedef struct head_chunk_iter {
    em_chunk_iter_t super;
    head_querier_t *q;
    series_snap_t snap;
    int64_t mint, maxt;
    uint32_t ci;
    bool open_done;
    em_chunk_ref_t cur;
} head_chunk_iter_t;

static bool encode_open(head_chunk_iter_t *c)
{
    const series_snap_t *s = &c->snap;
    if (!s->open_n)
        return false;
    size_t cap = (size_t)s->open_n * EM_XOR_MAX_SAMPLE_BYTES + 16;
    uint8_t *buf = em_arena_alloc(&c->q->arena, cap);
    em_xor_enc_t enc;
    em_xor_enc_init(&enc, buf, cap);
    em_xor_iter_t it;
    em_xor_iter_init_n(&it, s->open, s->stable_bytes, s->stable_n);
    int64_t t, first = 0, last = 0;
    double v;
    size_t n = 0;
    while (em_xor_iter_next(&it) == EM_OK) {
        em_xor_iter_at(&it, &t, &v);
        em_xor_enc_append(&enc, t, v);
        if (n++ == 0)
            first = t;
        last = t;
    }
    for (uint32_t i = s->stable_n; i < s->open_n; i++) {
        em_xor_enc_append(&enc, s->tail_t[i % HEAD_TAIL], s->tail_v[i % HEAD_TAIL]);
        if (n++ == 0)
            first = s->tail_t[i % HEAD_TAIL];
        last = s->tail_t[i % HEAD_TAIL];
    }
    if (last < c->mint || first > c->maxt)
        return false;
    c->cur = (em_chunk_ref_t){first, last, EM_CHUNK_XOR, buf, em_xor_enc_bytes(&enc)};
    return true;
}

static int hci_next(em_chunk_iter_t *it)
{
    head_chunk_iter_t *c = (head_chunk_iter_t *)it;
    hchunk_list_t *l = c->snap.closed;
    while (l && c->ci < l->n) {
        hchunk_t *h = l->c[c->ci++];
        if (h->maxt < c->mint)
            continue;
        if (h->mint > c->maxt) {
            c->open_done = true;
            return EM_DONE;
        }
        c->cur = (em_chunk_ref_t){h->mint, h->maxt, EM_CHUNK_XOR, h->data, h->len};
        return EM_OK;
    }
    if (c->open_done)
        return EM_DONE;
    c->open_done = true;
    return encode_open(c) ? EM_OK : EM_DONE;
}

static void hci_at(const em_chunk_iter_t *it, em_chunk_ref_t *out)
{
    *out = ((const head_chunk_iter_t *)it)->cur;
}

static void hci_free(em_chunk_iter_t *it)
{
}

static const em_chunk_iter_ops_t head_chunk_iter_ops = {hci_next, hci_at, hci_free};

/* ---- series sets ---- */

static int hs_next(em_series_set_t *s_)
{
    head_set_t *s = (head_set_t *)s_;
    if (s->i >= s->n)
        return EM_DONE;
    s->i++;
    return s->i <= s->n ? EM_OK : EM_DONE;
}

static em_labels_t hs_labels(em_series_set_t *s_)
{
    head_set_t *s = (head_set_t *)s_;
    return series_labels(s->e[s->i - 1].se);
}

static int hs_samples(em_series_set_t *s_, em_sample_iter_t **out)
{
    head_set_t *s = (head_set_t *)s_;
    head_iter_t *h = em_arena_alloc(&s->q->arena, sizeof(*h));
    memset(h, 0, sizeof(*h));
    h->super.ops = &head_iter_ops;
    series_snapshot(s->e[s->i - 1].se, &h->snap);
    h->mint = s->q->super.mint_ms;
    h->maxt = s->q->super.maxt_ms;
    h->phase = PH_CLOSED;
    h->tail_i = h->snap.stable_n;
    *out = &h->super;
    return EM_OK;
}

static int hs_chunks(em_series_set_t *s_, em_chunk_iter_t **out)
{
    head_set_t *s = (head_set_t *)s_;
    head_chunk_iter_t *c = em_arena_alloc(&s->q->arena, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->super.ops = &head_chunk_iter_ops;
    c->q = s->q;
    series_snapshot(s->e[s->i - 1].se, &c->snap);
    c->mint = s->q->super.mint_ms;
    c->maxt = s->q->super.maxt_ms;
    *out = &c->super;
    return EM_OK;
}

static const char *hs_err(em_series_set_t *s)
{
    return NULL;
}

static void hs_close(em_series_set_t *s_)
{
    head_set_t *s = (head_set_t *)s_;
    free(s->e);
    free(s);
}

static const em_series_set_ops_t head_set_ops = {hs_next, hs_labels, hs_samples, hs_chunks, hs_err, hs_close};

static int cmp_entry(const void *a, const void *b)
{
    em_labels_t x = series_labels(((const entry_t *)a)->se), y = series_labels(((const entry_t *)b)->se);
    return em_labels_cmp(&x, &y);
}

static bool overlaps(const hseries_t *se, int64_t mint, int64_t maxt)
{
    int64_t a = atomic_load_explicit(&se->min_t, memory_order_relaxed);
    int64_t b = atomic_load_explicit(&se->max_t, memory_order_relaxed);
    return a <= maxt && b >= mint;
}

static int hq_select(em_querier_t *q_, bool sorted, const em_select_hints_t *hints, const em_matcher_t *const *ms,
                     size_t n_ms, em_series_set_t **out, em_err_t *err)
{
    head_querier_t *q = (head_querier_t *)q_;
    em_head_t *h = q->h;
    entry_t *e = NULL;
    size_t n = 0, cap = 0;
    em_postings_t p;
    em_postings_init(&p);
    for (int i = 0; i < h->n_shards; i++) {
        shard_t *s = &h->shards[i];
        em_memindex_select(s->ix, ms, n_ms, &p);
        em_grow((void **)&e, &cap, n + p.n, sizeof(entry_t));
        for (size_t k = 0; k < p.n; k++) {
            hseries_t *se = shard_series_get(s, p.v[k]);
            if (se && overlaps(se, q->super.mint_ms, q->super.maxt_ms))
                e[n++].se = se;
        }
    }
    em_postings_fini(&p);
    if (sorted && n > 1)
        em_qsort(e, n, sizeof(entry_t), cmp_entry);
    head_set_t *s = EM_NEW(head_set_t);
    s->super.ops = &head_set_ops;
    s->q = q;
    s->e = e;
    s->n = n;
    *out = &s->super;
    return EM_OK;
}

static bool head_overlaps(head_querier_t *q)
{
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (int i = 0; i < q->h->n_shards; i++) {
        int64_t a = atomic_load(&q->h->shards[i].min_t), b = atomic_load(&q->h->shards[i].max_t);
        if (a < mn)
            mn = a;
        if (b > mx)
            mx = b;
    }
    return mn <= q->super.maxt_ms && mx >= q->super.mint_ms;
}

/* Names (name == NULL) or values of 'name' for series matching ms (all series when n_ms == 0). */
static int hq_labels(head_querier_t *q, const char *name, const em_matcher_t *const *ms, size_t n_ms,
                     em_arena_t *a, em_strlist_t *out)
{
    if (!head_overlaps(q))
        return EM_OK;
    em_postings_t p;
    em_postings_init(&p);
    for (int i = 0; i < q->h->n_shards; i++) {
        shard_t *s = &q->h->shards[i];
        const em_postings_t *restrict_to = NULL;
        if (n_ms) {
            em_memindex_select(s->ix, ms, n_ms, &p);
            if (p.n == 0)
                continue;
            restrict_to = &p;
        }
        if (name)
            em_memindex_label_values(s->ix, name, restrict_to, a, out);
        else
            em_memindex_label_names(s->ix, restrict_to, a, out);
    }
    em_postings_fini(&p);
    return EM_OK;
}

static int hq_label_names(em_querier_t *q, const em_matcher_t *const *ms, size_t n_ms, em_arena_t *a,
                          em_strlist_t *out, em_err_t *err)
{
    return hq_labels((head_querier_t *)q, NULL, ms, n_ms, a, out);
}

static int hq_label_values(em_querier_t *q, const char *name, const em_matcher_t *const *ms, size_t n_ms,
                           em_arena_t *a, em_strlist_t *out, em_err_t *err)
{
    return hq_labels((head_querier_t *)q, name, ms, n_ms, a, out);
}

static void hq_close(em_querier_t *q_)
{
    head_querier_t *q = (head_querier_t *)q_;
    HEAD_READER_DONE();
    urcu_memb_read_unlock();
    em_arena_fini(&q->arena);
    free(q);
}

static const em_querier_ops_t head_querier_ops = {hq_select, hq_label_names, hq_label_values, hq_close};

int head_querier_open(em_queryable_t *self, int64_t mint, int64_t maxt, em_querier_t **out, em_err_t *err)
{
    em_head_t *h = caa_container_of(self, em_head_t, queryable);
    em_rcu_thread_online();
    head_querier_t *q = EM_NEW(head_querier_t);
    q->super.ops = &head_querier_ops;
    q->super.mint_ms = mint;
    q->super.maxt_ms = maxt;
    q->h = h;
    em_arena_init(&q->arena);
    urcu_memb_read_lock();
    *out = &q->super;
    return EM_OK;
}

int em_head_querier(em_head_t *h, int64_t mint_ms, int64_t maxt_ms, em_querier_t **out, em_err_t *err)
{
    return head_querier_open(&h->queryable, mint_ms, maxt_ms, out, err);
}
