/* Design: see head.h. This file: series creation and lookup, appending, chunk cutting, truncation.
 * Everything here runs on the shard's own thread (Thread: shard) unless it says otherwise.
 */
#include <assert.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "engine/head_int.h"

#ifdef EMBER_TSAN
char head_tsan_readers;
#endif

/* ---- the writer's hash table (label hash -> series) ---- */

static void table_put(series_table_t *t, hseries_t *se)
{
    size_t mask = t->cap - 1, i = se->hash & mask;
    while (t->slots[i].se)
        i = (i + 1) & mask;
    t->slots[i] = (table_slot_t){se->hash, se};
    t->n++;
}

static void table_grow(series_table_t *t)
{
    series_table_t old = *t;
    t->cap = old.cap ? old.cap * 2 : 1024;
    t->slots = em_calloc(t->cap, sizeof(table_slot_t));
    t->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].se)
            table_put(t, old.slots[i].se);
    free(old.slots);
}

static bool labels_equal_series(const hseries_t *se, const em_labels_t *ls)
{
    if (se->n_labels != ls->n)
        return false;
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(se->lbl[i].name, ls->v[i].name) != 0 || strcmp(se->lbl[i].value, ls->v[i].value) != 0)
            return false;
    return true;
}

static hseries_t *table_find(const series_table_t *t, uint64_t hash, const em_labels_t *ls)
{
    if (!t->cap)
        return NULL;
    size_t mask = t->cap - 1, i = hash & mask;
    for (; t->slots[i].se; i = (i + 1) & mask)
        if (t->slots[i].hash == hash && labels_equal_series(t->slots[i].se, ls))
            return t->slots[i].se;
    return NULL;
}

/* Remove with backward-shift deletion, keeping probe sequences intact. */
static void table_remove(series_table_t *t, const hseries_t *se)
{
    size_t mask = t->cap - 1, i = se->hash & mask;
    while (t->slots[i].se != se)
        i = (i + 1) & mask;
    size_t j = i;
    for (;;) {
        t->slots[i] = (table_slot_t){0, NULL};
        for (;;) {
            j = (j + 1) & mask;
            if (!t->slots[j].se) {
                t->n--;
                return;
            }
            size_t home = t->slots[j].hash & mask;
            /* Move slot j back to i unless its home lies cyclically in (i, j]. */
            bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
            if (!in_range)
                break;
        }
        t->slots[i] = t->slots[j];
        i = j;
    }
}

/* ---- the ref -> series page table (written here, read by any thread under RCU) ---- */

hseries_t *shard_series_get(shard_t *s, uint32_t ref)
{
    page_dir_t *dir = HEAD_LOAD(s->pages);
    uint32_t p = ref >> PAGE_BITS;
    if (!dir || p >= dir->n)
        return NULL;
    series_page_t *page = atomic_load_explicit(&dir->pages[p], memory_order_acquire);
    if (!page)
        return NULL;
    return atomic_load_explicit(&page->slot[ref & (PAGE_SLOTS - 1)], memory_order_acquire);
}

static void free_rcu_dir(struct rcu_head *h)
{
    page_dir_t *p = caa_container_of(h, page_dir_t, rcu);
    HEAD_RCU_CB_BEGIN(p);
    free(p);
}

static void free_rcu_page(struct rcu_head *h)
{
    series_page_t *p = caa_container_of(h, series_page_t, rcu);
    HEAD_RCU_CB_BEGIN(p);
    free(p);
}

static void pages_set(shard_t *s, uint32_t ref, hseries_t *se)
{
    page_dir_t *dir = s->pages;
    uint32_t p = ref >> PAGE_BITS;
    if (!dir || p >= dir->n) {
        uint32_t n = dir ? dir->n : 0, nn = n ? n : 16;
        while (nn <= p)
            nn *= 2;
        page_dir_t *nd = em_calloc(1, sizeof(page_dir_t) + sizeof(series_page_t *) * nn);
        nd->n = nn;
        for (uint32_t i = 0; i < n; i++)
            atomic_init(&nd->pages[i], atomic_load_explicit(&dir->pages[i], memory_order_relaxed));
        HEAD_PUBLISH(s->pages, nd);
        atomic_fetch_add_explicit(&s->c.bytes, sizeof(series_page_t *) * (nn - n), memory_order_relaxed);
        if (dir)
            HEAD_CALL_RCU(dir, free_rcu_dir);
        dir = nd;
    }
    series_page_t *page = atomic_load_explicit(&dir->pages[p], memory_order_relaxed);
    if (!page) {
        if (!se)
            return;
        page = em_calloc(1, sizeof(series_page_t));
        atomic_store_explicit(&dir->pages[p], page, memory_order_release);
        atomic_fetch_add_explicit(&s->c.bytes, sizeof(series_page_t), memory_order_relaxed);
    }
    hseries_t *old = atomic_load_explicit(&page->slot[ref & (PAGE_SLOTS - 1)], memory_order_relaxed);
    atomic_store_explicit(&page->slot[ref & (PAGE_SLOTS - 1)], se, memory_order_release);
    page->live += (se != NULL) - (old != NULL);
    /* A page no series lives in any more goes away, unless new refs are still being allocated in it. */
    if (page->live == 0 && p != (s->next_ref >> PAGE_BITS)) {
        atomic_store_explicit(&dir->pages[p], NULL, memory_order_release);
        atomic_fetch_sub_explicit(&s->c.bytes, sizeof(series_page_t), memory_order_relaxed);
        HEAD_CALL_RCU(page, free_rcu_page);
    }
}

/* ---- series ---- */

em_labels_t series_labels(const hseries_t *se)
{
    return (em_labels_t){se->lbl, se->n_labels};
}

static size_t series_size(size_t n_labels)
{
    return sizeof(hseries_t) + sizeof(em_label_t) * n_labels;
}

static hseries_t *series_new(shard_t *s, const em_labels_t *ls, uint64_t hash, uint32_t ref)
{
    hseries_t *se = em_calloc(1, series_size(ls->n));
    se->hash = hash;
    se->ref = ref;
    se->n_labels = (uint16_t)ls->n;
    se->last_t = INT64_MIN;
    atomic_init(&se->min_t, INT64_MAX);
    atomic_init(&se->max_t, INT64_MIN);
    const char **interned = em_malloc(sizeof(char *) * 2 * (ls->n ? ls->n : 1));
    em_memindex_add(s->ix, ref, ls, interned);
    for (size_t i = 0; i < ls->n; i++) {
        se->lbl[i].name = interned[2 * i];
        se->lbl[i].value = interned[2 * i + 1];
    }
    free(interned);
    if ((s->table.n + 1) * 10 > s->table.cap * 7)
        table_grow(&s->table);
    table_put(&s->table, se);
    pages_set(s, ref, se);
    atomic_fetch_add_explicit(&s->c.series, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->c.series_created, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->c.bytes, series_size(ls->n) + sizeof(table_slot_t) * 10 / 7,
                              memory_order_relaxed);
    return se;
}

hseries_t *shard_lookup(shard_t *s, const em_labels_t *ls, uint64_t hash, em_series_ref_t hint)
{
    if (hint && EM_REF_SHARD(hint) == (uint32_t)s->id) {
        hseries_t *se = shard_series_get(s, EM_REF_LOCAL(hint));
        if (se && se->hash == hash && labels_equal_series(se, ls))
            return se;
    }
    return table_find(&s->table, hash, ls);
}

hseries_t *shard_create(shard_t *s, const em_labels_t *ls, uint64_t hash)
{
    return series_new(s, ls, hash, ++s->next_ref);
}

hseries_t *shard_create_with_ref(shard_t *s, const em_labels_t *ls, uint64_t hash, uint32_t ref)
{
    hseries_t *se = table_find(&s->table, hash, ls);
    if (se)
        return se;
    if (ref == 0 || shard_series_get(s, ref))
        ref = s->next_ref + 1; /* damaged or reused ref: give it a fresh one */
    if (ref > s->next_ref)
        s->next_ref = ref;
    return series_new(s, ls, hash, ref);
}

/* ---- chunks ---- */

static void free_rcu_chunk(struct rcu_head *h)
{
    hchunk_t *p = caa_container_of(h, hchunk_t, rcu);
    HEAD_RCU_CB_BEGIN(p);
    free(p);
}

static void free_rcu_list(struct rcu_head *h)
{
    hchunk_list_t *p = caa_container_of(h, hchunk_list_t, rcu);
    HEAD_RCU_CB_BEGIN(p);
    free(p);
}

static void free_rcu_obuf(struct rcu_head *h)
{
    obuf_t *p = caa_container_of(h, obuf_t, rcu);
    HEAD_RCU_CB_BEGIN(p);
    free(p);
}

/* ---- start timestamps ---- */

static size_t st_log_bytes(uint32_t cap)
{
    return sizeof(st_log_t) + cap * sizeof(st_entry_t);
}

static void free_rcu_sts(struct rcu_head *h)
{
    st_log_t *p = caa_container_of(h, st_log_t, rcu);
    HEAD_RCU_CB_BEGIN(p);
    free(p);
}

/* Publish 'nl' (may be NULL) in place of the series' log and retire the old one. */
static void sts_replace(shard_t *s, hseries_t *se, st_log_t *nl)
{
    st_log_t *old = se->sts;
    HEAD_PUBLISH(se->sts, nl);
    if (nl)
        atomic_fetch_add_explicit(&s->c.bytes, st_log_bytes(nl->cap), memory_order_relaxed);
    if (old) {
        atomic_fetch_sub_explicit(&s->c.bytes, st_log_bytes(old->cap), memory_order_relaxed);
        HEAD_CALL_RCU(old, free_rcu_sts);
    }
}

/* A log holding 'n' entries from 'e' with room for at least 'want'. */
static st_log_t *sts_copy(const st_entry_t *e, uint32_t n, uint32_t want)
{
    uint32_t cap = 8;
    while (cap < want)
        cap *= 2;
    st_log_t *l = em_malloc(st_log_bytes(cap));
    l->cap = cap;
    if (n)
        memcpy(l->e, e, n * sizeof(st_entry_t));
    atomic_init(&l->n, n);
    return l;
}

/* Append (t, st). Call between publish_begin/end: readers take 'n' under the seqlock, so an entry is
 * written before any reader can count it. */
static void sts_append(shard_t *s, hseries_t *se, int64_t t, int64_t st)
{
    st_log_t *l = se->sts;
    uint32_t n = l ? atomic_load_explicit(&l->n, memory_order_relaxed) : 0;
    if (!l || n == l->cap) {
        st_log_t *nl = sts_copy(l ? l->e : NULL, n, n + 1);
        sts_replace(s, se, nl);
        l = nl;
    }
    l->e[n] = (st_entry_t){t, st};
    atomic_store_explicit(&l->n, n + 1, memory_order_relaxed);
}

/* Drop the entries of samples older than mint. Call between publish_begin/end. */
static void sts_trim(shard_t *s, hseries_t *se, int64_t mint)
{
    st_log_t *l = se->sts;
    if (!l)
        return;
    uint32_t n = atomic_load_explicit(&l->n, memory_order_relaxed), drop = 0;
    while (drop < n && l->e[drop].t < mint)
        drop++;
    if (drop == 0)
        return;
    sts_replace(s, se, drop == n ? NULL : sts_copy(l->e + drop, n - drop, n - drop));
}

static bool sts_accepts(const hseries_t *se, int64_t t)
{
    const st_log_t *l = se->sts;
    uint32_t n = l ? atomic_load_explicit(&l->n, memory_order_relaxed) : 0;
    return n == 0 || l->e[n - 1].t < t;
}

/* Begin a writer's change of the published fields; readers retry while it lasts. */
static inline void publish_begin(hseries_t *se)
{
    unsigned v = atomic_load_explicit(&se->seq, memory_order_relaxed);
    atomic_store_explicit(&se->seq, v + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static inline void publish_end(hseries_t *se)
{
    unsigned v = atomic_load_explicit(&se->seq, memory_order_relaxed);
    atomic_store_explicit(&se->seq, v + 1, memory_order_release);
}

static void list_replace(shard_t *s, hseries_t *se, hchunk_list_t *nl)
{
    hchunk_list_t *old = se->closed;
    HEAD_PUBLISH(se->closed, nl);
    if (old) {
        atomic_fetch_sub_explicit(&s->c.bytes, sizeof(hchunk_list_t) + sizeof(hchunk_t *) * old->n,
                                  memory_order_relaxed);
        HEAD_CALL_RCU(old, free_rcu_list);
    }
    if (nl)
        atomic_fetch_add_explicit(&s->c.bytes, sizeof(hchunk_list_t) + sizeof(hchunk_t *) * nl->n,
                                  memory_order_relaxed);
}

static void list_push(shard_t *s, hseries_t *se, hchunk_t *c)
{
    uint32_t n = se->closed ? se->closed->n : 0;
    hchunk_list_t *nl = em_malloc(sizeof(hchunk_list_t) + sizeof(hchunk_t *) * (n + 1));
    nl->n = n + 1;
    if (n)
        memcpy(nl->c, se->closed->c, sizeof(hchunk_t *) * n);
    nl->c[n] = c;
    list_replace(s, se, nl);
}

static void drop_open(shard_t *s, hseries_t *se)
{
    obuf_t *o = se->open;
    if (!o)
        return;
    HEAD_PUBLISH(se->open, NULL);
    atomic_store_explicit(&se->pub, 0, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->c.bytes, sizeof(obuf_t) + o->cap, memory_order_relaxed);
    atomic_fetch_sub_explicit(&s->c.chunks, 1, memory_order_relaxed);
    HEAD_CALL_RCU(o, free_rcu_obuf);
}

/* Turn the open chunk into a closed one (exact-size copy). Call between publish_begin/end. */
static void close_open(shard_t *s, hseries_t *se)
{
    size_t len = em_xor_enc_bytes(&se->enc);
    uint16_t n = (uint16_t)em_xor_enc_num_samples(&se->enc);
    hchunk_t *c = em_malloc(sizeof(hchunk_t) + len);
    c->mint = se->open_mint;
    c->maxt = se->last_t;
    c->len = (uint32_t)len;
    c->n = n;
    memcpy(c->data, se->open->data, len);
    list_push(s, se, c);
    atomic_fetch_add_explicit(&s->c.bytes, sizeof(hchunk_t) + len, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->c.chunks, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->c.chunks_created, 1, memory_order_relaxed);
    drop_open(s, se);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Prometheus: the end of the chunk range (block range) holding t. */
static int64_t range_end(int64_t t, int64_t range)
{
    return floor_div(t, range) * range + range;
}

/* Prometheus's computeChunkEndTime: spread the remaining samples of the range evenly over chunks of
 * about SAMPLES_PER_CHUNK, predicted from the rate seen in the first quarter of this chunk. */
static int64_t chunk_end_time(int64_t start, int64_t cur, int64_t max)
{
    int64_t n = (max - start) / ((cur - start + 1) * 4);
    if (n <= 1)
        return max;
    return start + (max - start) / n;
}

static void open_new(shard_t *s, hseries_t *se, int64_t t)
{
    obuf_t *o = em_malloc(sizeof(obuf_t) + OPEN_CHUNK_INITIAL);
    o->cap = OPEN_CHUNK_INITIAL;
    em_xor_enc_init(&se->enc, o->data, o->cap);
    HEAD_PUBLISH(se->open, o);
    se->open_mint = t;
    se->next_cut_ms = range_end(t, s->h->o.chunk_range_ms);
    atomic_fetch_add_explicit(&s->c.bytes, sizeof(obuf_t) + o->cap, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->c.chunks, 1, memory_order_relaxed);
}

static void grow_open(shard_t *s, hseries_t *se)
{
    obuf_t *old = se->open;
    obuf_t *o = em_malloc(sizeof(obuf_t) + old->cap * 2);
    o->cap = old->cap * 2;
    memcpy(o->data, old->data, em_xor_enc_bytes(&se->enc));
    em_xor_enc_rebase(&se->enc, o->data, o->cap);
    HEAD_PUBLISH(se->open, o);
    atomic_fetch_add_explicit(&s->c.bytes, o->cap - old->cap, memory_order_relaxed);
    HEAD_CALL_RCU(old, free_rcu_obuf);
}

int64_t min_valid_time(shard_t *s)
{
    int64_t mv = atomic_load_explicit(&s->h->min_valid_t, memory_order_relaxed);
    int64_t hmax = atomic_load_explicit(&s->h->max_t, memory_order_relaxed);
    /* Prometheus: the head accepts samples down to half a chunk range behind its newest sample. */
    if (!s->replaying && hmax != INT64_MIN && hmax - s->h->o.chunk_range_ms / 2 > mv)
        mv = hmax - s->h->o.chunk_range_ms / 2;
    return mv;
}

em_sample_status_t series_append(shard_t *s, hseries_t *se, int64_t t, double v, int64_t st)
{
    uint64_t vb = f64_bits(v);
    if (se->last_t != INT64_MIN) {
        if (t < se->last_t)
            return EM_SAMPLE_OOO;
        if (t == se->last_t)
            return vb == se->last_v_bits ? EM_SAMPLE_DUP_IGNORED : EM_SAMPLE_DUP;
    }
    if (t < min_valid_time(s))
        return EM_SAMPLE_BOUNDS;

    publish_begin(se);
    if (!se->open) {
        open_new(s, se, t);
    } else {
        size_t n = em_xor_enc_num_samples(&se->enc);
        if (n == SAMPLES_PER_CHUNK / 4)
            se->next_cut_ms = chunk_end_time(se->open_mint, se->last_t, se->next_cut_ms);
        if (t >= se->next_cut_ms || n >= SAMPLES_PER_CHUNK * 2) {
            close_open(s, se);
            open_new(s, se, t);
        }
    }
    while (em_xor_enc_append(&se->enc, t, v) == EM_ELIMIT)
        grow_open(s, se);
    size_t n = em_xor_enc_num_samples(&se->enc), stable_bytes = 0;
    size_t stable_n = em_xor_enc_stable_samples(&se->enc, &stable_bytes);
    assert(n - stable_n <= HEAD_TAIL);
    size_t slot = (n - 1) % HEAD_TAIL;
    atomic_store_explicit(&se->tail_t[slot], t, memory_order_relaxed);
    atomic_store_explicit(&se->tail_v[slot], vb, memory_order_relaxed);
    atomic_store_explicit(&se->pub, ((uint64_t)n << 48) | ((uint64_t)stable_n << 32) | (uint64_t)stable_bytes,
                          memory_order_relaxed);
    if (se->last_t == INT64_MIN || t < atomic_load_explicit(&se->min_t, memory_order_relaxed))
        atomic_store_explicit(&se->min_t, t, memory_order_relaxed);
    atomic_store_explicit(&se->max_t, t, memory_order_relaxed);
    se->last_t = t;
    se->last_v_bits = vb;
    if (st != 0)
        sts_append(s, se, t, st);
    publish_end(se);
    return EM_SAMPLE_OK;
}

void series_put_st(shard_t *s, hseries_t *se, int64_t t, int64_t st)
{
    if (st == 0 || t > se->last_t || !sts_accepts(se, t))
        return;
    publish_begin(se);
    sts_append(s, se, t, st);
    publish_end(se);
}

void series_import_chunk(shard_t *s, hseries_t *se, int64_t mint, int64_t maxt, uint16_t n, const uint8_t *data,
                         uint32_t len)
{
    if (n == 0 || (se->last_t != INT64_MIN && mint <= se->last_t))
        return; /* overlaps what the series has: already present */
    /* The newest sample's value, for the duplicate rule. */
    em_xor_iter_t it;
    em_xor_iter_init(&it, data, len);
    int64_t t = 0;
    double v = 0;
    uint16_t seen = 0;
    while (em_xor_iter_next(&it) == EM_OK) {
        em_xor_iter_at(&it, &t, &v);
        seen++;
    }
    if (seen != n || t != maxt)
        return; /* damaged chunk: skip it rather than serve wrong data */
    publish_begin(se);
    if (se->open)
        close_open(s, se);
    hchunk_t *c = em_malloc(sizeof(hchunk_t) + len);
    c->mint = mint;
    c->maxt = maxt;
    c->len = len;
    c->n = n;
    memcpy(c->data, data, len);
    list_push(s, se, c);
    if (se->last_t == INT64_MIN)
        atomic_store_explicit(&se->min_t, mint, memory_order_relaxed);
    atomic_store_explicit(&se->max_t, maxt, memory_order_relaxed);
    se->last_t = maxt;
    se->last_v_bits = f64_bits(v);
    publish_end(se);
    atomic_fetch_add_explicit(&s->c.bytes, sizeof(hchunk_t) + len, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->c.chunks, 1, memory_order_relaxed);
}

/* ---- truncation and garbage collection ---- */

static void free_rcu_series(struct rcu_head *h)
{
    hseries_t *p = caa_container_of(h, hseries_t, rcu);
    HEAD_RCU_CB_BEGIN(p);
    free(p);
}

/* Drop closed chunks ending before mint; the open chunk too if all of it is older. Returns true when
 * the series is left without data. */
static bool series_truncate(shard_t *s, hseries_t *se, int64_t mint)
{
    hchunk_list_t *l = se->closed;
    uint32_t drop = 0;
    while (l && drop < l->n && l->c[drop]->maxt < mint)
        drop++;
    bool drop_open_chunk = se->open && se->last_t < mint;
    if (drop == 0 && !drop_open_chunk)
        return false;
    publish_begin(se);
    if (drop) {
        hchunk_list_t *nl = NULL;
        if (drop < l->n) {
            nl = em_malloc(sizeof(hchunk_list_t) + sizeof(hchunk_t *) * (l->n - drop));
            nl->n = l->n - drop;
            memcpy(nl->c, l->c + drop, sizeof(hchunk_t *) * nl->n);
        }
        for (uint32_t i = 0; i < drop; i++) {
            atomic_fetch_sub_explicit(&s->c.bytes, sizeof(hchunk_t) + l->c[i]->len, memory_order_relaxed);
            HEAD_CALL_RCU(l->c[i], free_rcu_chunk);
        }
        atomic_fetch_sub_explicit(&s->c.chunks, drop, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->c.chunks_removed, drop, memory_order_relaxed);
        list_replace(s, se, nl);
    }
    if (drop_open_chunk) {
        drop_open(s, se);
        atomic_fetch_add_explicit(&s->c.chunks_removed, 1, memory_order_relaxed);
    }
    bool empty = !se->closed && !se->open;
    int64_t new_min = se->closed ? se->closed->c[0]->mint : (se->open ? se->open_mint : INT64_MAX);
    atomic_store_explicit(&se->min_t, new_min, memory_order_relaxed);
    sts_trim(s, se, new_min);
    if (empty)
        atomic_store_explicit(&se->max_t, INT64_MIN, memory_order_relaxed);
    publish_end(se);
    return empty;
}

static int cmp_series_ref(const void *a, const void *b)
{
    uint32_t x = (*(hseries_t *const *)a)->ref, y = (*(hseries_t *const *)b)->ref;
    return (x > y) - (x < y);
}

void shard_truncate(shard_t *s, int64_t mint)
{
    size_t cap_gone = 0, n_gone = 0;
    hseries_t **gone = NULL;
    int64_t new_min = INT64_MAX;
    for (size_t i = 0; i < s->table.cap; i++) {
        hseries_t *se = s->table.slots[i].se;
        if (!se)
            continue;
        if (series_truncate(s, se, mint)) {
            em_grow((void **)&gone, &cap_gone, n_gone + 1, sizeof(*gone));
            gone[n_gone++] = se;
        } else {
            int64_t m = atomic_load_explicit(&se->min_t, memory_order_relaxed);
            if (m < new_min)
                new_min = m;
        }
    }
    atomic_store(&s->min_t, new_min);
    if (new_min == INT64_MAX)
        atomic_store(&s->max_t, INT64_MIN);
    if (n_gone == 0)
        return;
    uint32_t *refs = em_malloc(sizeof(uint32_t) * n_gone);
    const em_labels_t **lsp = em_malloc(sizeof(em_labels_t *) * n_gone);
    em_labels_t *ls = em_malloc(sizeof(em_labels_t) * n_gone);
    /* The index wants refs ascending; the table is in hash order. */
    em_qsort(gone, n_gone, sizeof(*gone), cmp_series_ref);
    for (size_t i = 0; i < n_gone; i++) {
        refs[i] = gone[i]->ref;
        ls[i] = series_labels(gone[i]);
        lsp[i] = &ls[i];
        table_remove(&s->table, gone[i]);
        pages_set(s, gone[i]->ref, NULL);
    }
    em_memindex_remove(s->ix, refs, n_gone, lsp);
    for (size_t i = 0; i < n_gone; i++) {
        atomic_fetch_sub_explicit(&s->c.bytes, series_size(gone[i]->n_labels) + sizeof(table_slot_t) * 10 / 7,
                                  memory_order_relaxed);
        HEAD_CALL_RCU(gone[i], free_rcu_series);
    }
    atomic_fetch_sub_explicit(&s->c.series, n_gone, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->c.series_removed, n_gone, memory_order_relaxed);
    free(refs);
    free(lsp);
    free(ls);
    free(gone);
}

/* At close, with no readers left: free everything directly. */
void shard_free_all(shard_t *s)
{
    for (size_t i = 0; i < s->table.cap; i++) {
        hseries_t *se = s->table.slots[i].se;
        if (!se)
            continue;
        if (se->closed) {
            for (uint32_t k = 0; k < se->closed->n; k++)
                free(se->closed->c[k]);
            free(se->closed);
        }
        free(se->open);
        free(se->sts);
        free(se);
    }
    free(s->table.slots);
    s->table.slots = NULL;
    s->table.cap = s->table.n = 0;
    page_dir_t *dir = s->pages;
    if (dir) {
        for (uint32_t p = 0; p < dir->n; p++)
            free(atomic_load_explicit(&dir->pages[p], memory_order_relaxed));
        free(dir);
    }
    s->pages = NULL;
}
