/* Design: see memindex.h */
#include "engine/memindex.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <urcu/urcu-memb.h>

#include <urcu/rculfhash.h>

#include "base/hash.h"
#include "base/mem.h"

#ifdef EMBER_TSAN
#include <sanitizer/tsan_interface.h>
/* ThreadSanitizer sees neither liburcu's grace periods nor its call_rcu queue (the library is not
 * instrumented), so it would take every free in a garbage callback for a race with the readers and the
 * writer that touched the memory before. We tell it what RCU guarantees: each reader function releases
 * 'tsan_readers' when it is done with the index's memory, the writer releases a batch before call_rcu,
 * and the callback -- which runs after a grace period, hence after every read-side section that could
 * still reach the batch -- acquires both. A reader that touched retired memory outside a read-side
 * section would still be reported (and select() asserts the read lock is held). */
static char tsan_readers;
#define TSAN_RELEASE(p) __tsan_release((void *)(p))
#define TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#define TSAN_RELEASE(p) ((void)0)
#define TSAN_ACQUIRE(p) ((void)0)
#endif

/* Approximate sizes of liburcu's hash tables, for em_memindex_bytes: a table's fixed part (struct cds_lfht
 * with its bucket-order index), plus one 64-byte node counter per CPU (CDS_LFHT_ACCOUNTING), and the
 * bucket array's share per node. */
#define LFHT_TABLE_BYTES (1024 + 64 * lfht_cpus())
#define LFHT_NODE_BYTES 16

static size_t lfht_cpus(void)
{
    static _Atomic size_t cpus;
    size_t n = atomic_load_explicit(&cpus, memory_order_relaxed);
    if (n == 0) {
        long c = sysconf(_SC_NPROCESSORS_CONF);
        for (n = 1; n < (size_t)(c > 0 ? c : 1); n *= 2)
            ;
        atomic_store_explicit(&cpus, n, memory_order_relaxed);
    }
    return n;
}

/* ---- types ---- */

/* An interned string. Thread: writer (refs); the bytes are immutable and read by anyone. */
typedef struct sym {
    uint32_t refs; /* name_ent / value_ent holding it */
    uint32_t len;
    uint64_t hash;
    char s[];
} sym_t;

/* A postings list. v[0..n) is published; v[n..cap) is the writer's. */
typedef struct plist {
    _Atomic uint32_t n;
    uint32_t cap;
    uint32_t v[];
} plist_t;

typedef struct value_ent {
    struct cds_lfht_node node; /* in name_ent.values */
    _Atomic(plist_t *) list;   /* release-stored; never NULL once the entry is in the table */
    const char *value;         /* interned; immutable */
    uint32_t len;
    uint32_t slot; /* index in the name's value array. Thread: writer */
} value_ent_t;

/* A name's values as an array, for scans: hash-table iteration chases pointers through the whole table,
 * an array is read in order. v[0..n) is published like a plist's; a dropped value's slot is cleared (ve
 * NULL) and the array compacted copy-on-write once half its slots are dead. */
typedef struct vslot {
    _Atomic(value_ent_t *) ve; /* NULL: dropped */
    const char *value;         /* the entry's interned value, so a scan need not touch the entry */
} vslot_t;

typedef struct varr {
    _Atomic uint32_t n;
    uint32_t cap;
    uint32_t dead; /* Thread: writer */
    vslot_t v[];
} varr_t;

typedef struct name_ent {
    struct cds_lfht_node node;         /* in ix->names */
    _Atomic(struct cds_lfht *) values; /* release-stored before the entry is added; immutable */
    _Atomic(varr_t *) arr;             /* release-stored; never NULL once the entry is in the table */
    const char *name;                  /* interned; immutable */
    uint32_t len;
    size_t n_values; /* Thread: writer */
} name_ent_t;

enum { G_FREE, G_NAME };

typedef struct gitem {
    void *p;
    int kind; /* G_FREE: free(p); G_NAME: destroy the values table, then free */
} gitem_t;

/* Memory unlinked by the writer, freed by one call_rcu callback. */
typedef struct garbage {
    struct rcu_head rh;
    size_t n, cap, bytes;
    gitem_t *items;
} garbage_t;

struct em_memindex {
    struct cds_lfht *names;
    _Atomic(plist_t *) all;
    _Atomic uint64_t gen; /* odd while remove() rebuilds lists */
    _Atomic size_t bytes;
    _Atomic size_t n_series;

    /* Thread: writer. */
    sym_t **syms; /* open addressing, linear probing; NULL = empty */
    size_t syms_cap, syms_n;
    uint32_t last_ref;
    bool any_added;
    garbage_t *garbage;
    em_postings_t scratch;
    _Atomic int writers; /* debug check: never more than one */
};

/* ---- accounting ---- */

static void account(em_memindex_t *ix, size_t add, size_t sub)
{
    /* Single writer: a relaxed read-modify-write is enough, readers only sample the value. */
    size_t b = atomic_load_explicit(&ix->bytes, memory_order_relaxed);
    atomic_store_explicit(&ix->bytes, b + add - sub, memory_order_relaxed);
}

static size_t plist_bytes(uint32_t cap)
{
    return sizeof(plist_t) + (size_t)cap * sizeof(uint32_t);
}

/* ---- garbage ---- */

static void garbage_cb(struct rcu_head *rh)
{
    garbage_t *g = caa_container_of(rh, garbage_t, rh);
    TSAN_ACQUIRE(g);
    TSAN_ACQUIRE(&tsan_readers);
    for (size_t i = 0; i < g->n; i++) {
        if (g->items[i].kind == G_NAME) {
            name_ent_t *ne = g->items[i].p;
            /* The table is empty (all values were deleted first); liburcu >= 0.10 allows destroying it
             * from a call_rcu callback. */
            int rc = cds_lfht_destroy(atomic_load_explicit(&ne->values, memory_order_relaxed), NULL);
            assert(rc == 0);
            (void)rc;
        }
        free(g->items[i].p);
    }
    free(g->items);
    free(g);
}

static void garbage_flush(em_memindex_t *ix)
{
    garbage_t *g = ix->garbage;
    if (!g || g->n == 0)
        return;
    ix->garbage = NULL;
    TSAN_RELEASE(g);
    urcu_memb_call_rcu(&g->rh, garbage_cb);
}

/* Retire p (of 'bytes' bytes, already unlinked from everything readers can reach). */
static void retire(em_memindex_t *ix, void *p, int kind, size_t bytes)
{
    garbage_t *g = ix->garbage;
    if (!g)
        g = ix->garbage = em_calloc(1, sizeof(*g));
    em_grow((void **)&g->items, &g->cap, g->n + 1, sizeof(gitem_t));
    g->items[g->n++] = (gitem_t){p, kind};
    g->bytes += bytes;
    account(ix, 0, bytes);
    if (g->n >= EM_MEMINDEX_GARBAGE_ITEMS || g->bytes >= EM_MEMINDEX_GARBAGE_BYTES)
        garbage_flush(ix);
}

/* ---- interned strings (writer only) ---- */

static sym_t *sym_of(const char *s)
{
    return (sym_t *)(void *)(s - offsetof(sym_t, s));
}

static size_t sym_bytes(const sym_t *y)
{
    return sizeof(sym_t) + y->len + 1;
}

#define SYMS_MIN_CAP 64

/* Rehash into 'cap' slots (a power of two, at least twice the number of strings). */
static void syms_resize(em_memindex_t *ix, size_t cap)
{
    sym_t **t = em_calloc(cap, sizeof(sym_t *));
    for (size_t i = 0; i < ix->syms_cap; i++) {
        sym_t *y = ix->syms[i];
        if (!y)
            continue;
        size_t j = y->hash & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = y;
    }
    account(ix, cap * sizeof(sym_t *), ix->syms_cap * sizeof(sym_t *));
    free(ix->syms);
    ix->syms = t;
    ix->syms_cap = cap;
}

/* Find or create the interned copy of s[0..len) and take a reference on it. */
static sym_t *sym_intern(em_memindex_t *ix, const char *s, size_t len, uint64_t h)
{
    if ((ix->syms_n + 1) * 2 > ix->syms_cap)
        syms_resize(ix, ix->syms_cap ? ix->syms_cap * 2 : SYMS_MIN_CAP);
    size_t mask = ix->syms_cap - 1, i = h & mask;
    for (sym_t *y; (y = ix->syms[i]) != NULL; i = (i + 1) & mask) {
        if (y->hash == h && y->len == len && memcmp(y->s, s, len) == 0) {
            y->refs++;
            return y;
        }
    }
    sym_t *y = em_malloc(sizeof(sym_t) + len + 1);
    y->refs = 1;
    y->len = (uint32_t)len;
    y->hash = h;
    memcpy(y->s, s, len);
    y->s[len] = '\0';
    ix->syms[i] = y;
    ix->syms_n++;
    account(ix, sym_bytes(y), 0);
    return y;
}

/* Drop a reference; the last one unlinks the string (backward-shift deletion) and retires it. */
static void sym_release(em_memindex_t *ix, sym_t *y)
{
    assert(y->refs > 0);
    if (--y->refs > 0)
        return;
    size_t mask = ix->syms_cap - 1, i = y->hash & mask;
    while (ix->syms[i] != y)
        i = (i + 1) & mask;
    ix->syms[i] = NULL;
    for (size_t j = (i + 1) & mask; ix->syms[j]; j = (j + 1) & mask) {
        size_t home = ix->syms[j]->hash & mask;
        /* Move j into the hole at i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            ix->syms[i] = ix->syms[j];
            ix->syms[j] = NULL;
            i = j;
        }
    }
    ix->syms_n--;
    retire(ix, y, G_FREE, sym_bytes(y));
    /* Shrink at 1/8 load: halving keeps 1/4, so a shrink is never followed closely by a grow. */
    if (ix->syms_cap > SYMS_MIN_CAP && ix->syms_n * 8 < ix->syms_cap)
        syms_resize(ix, ix->syms_cap / 2);
}

/* ---- postings lists ---- */

static plist_t *plist_new(uint32_t cap)
{
    plist_t *p = em_malloc(plist_bytes(cap));
    atomic_init(&p->n, 0);
    p->cap = cap;
    return p;
}

/* A stable view of a published list: load the pointer, then its length (both acquire). */
static em_postings_span_t plist_load(_Atomic(plist_t *) *slot)
{
    plist_t *p = atomic_load_explicit(slot, memory_order_acquire);
    uint32_t n = atomic_load_explicit(&p->n, memory_order_acquire);
    return (em_postings_span_t){p->v, n};
}

/* Append ref (greater than every element) to the list in *slot. Thread: writer. */
static void plist_append(em_memindex_t *ix, _Atomic(plist_t *) *slot, uint32_t ref)
{
    plist_t *p = atomic_load_explicit(slot, memory_order_relaxed);
    uint32_t n = atomic_load_explicit(&p->n, memory_order_relaxed);
    if (n < p->cap) {
        p->v[n] = ref;
        atomic_store_explicit(&p->n, n + 1, memory_order_release);
        return;
    }
    uint32_t cap = p->cap < 4 ? p->cap + 1 : p->cap * 2;
    plist_t *q = plist_new(cap);
    memcpy(q->v, p->v, (size_t)n * sizeof(uint32_t));
    q->v[n] = ref;
    atomic_store_explicit(&q->n, n + 1, memory_order_relaxed);
    atomic_store_explicit(slot, q, memory_order_release);
    account(ix, plist_bytes(cap), 0);
    retire(ix, p, G_FREE, plist_bytes(p->cap));
}

/* Replace the list in *slot by a copy without the sorted refs in rm[0..n_rm). Returns the new length.
 * Thread: writer. */
static uint32_t plist_remove(em_memindex_t *ix, _Atomic(plist_t *) *slot, const uint32_t *rm, size_t n_rm)
{
    plist_t *p = atomic_load_explicit(slot, memory_order_relaxed);
    uint32_t n = atomic_load_explicit(&p->n, memory_order_relaxed);
    em_postings_difference(p->v, n, rm, n_rm, &ix->scratch);
    if (ix->scratch.n == n)
        return n; /* nothing of ours was removed */
    uint32_t m = (uint32_t)ix->scratch.n;
    plist_t *q = plist_new(m ? m : 1);
    memcpy(q->v, ix->scratch.v, (size_t)m * sizeof(uint32_t));
    atomic_store_explicit(&q->n, m, memory_order_relaxed);
    atomic_store_explicit(slot, q, memory_order_release);
    account(ix, plist_bytes(q->cap), 0);
    retire(ix, p, G_FREE, plist_bytes(p->cap));
    return m;
}

/* ---- value arrays ---- */

static size_t varr_bytes(uint32_t cap)
{
    return sizeof(varr_t) + (size_t)cap * sizeof(vslot_t);
}

static varr_t *varr_new(uint32_t cap)
{
    varr_t *a = em_malloc(varr_bytes(cap));
    atomic_init(&a->n, 0);
    a->cap = cap;
    a->dead = 0;
    return a;
}

/* Copy the live slots of 'a' into a new array of 'cap' (>= live) slots, renumbering their entries. */
static varr_t *varr_copy_live(const varr_t *a, uint32_t n, uint32_t cap)
{
    varr_t *b = varr_new(cap);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        value_ent_t *ve = atomic_load_explicit(&((varr_t *)a)->v[i].ve, memory_order_relaxed);
        if (!ve)
            continue;
        atomic_init(&b->v[k].ve, ve);
        b->v[k].value = a->v[i].value;
        ve->slot = k++;
    }
    atomic_init(&b->n, k);
    return b;
}

static void varr_publish(em_memindex_t *ix, name_ent_t *ne, varr_t *old, varr_t *b)
{
    atomic_store_explicit(&ne->arr, b, memory_order_release);
    account(ix, varr_bytes(b->cap), 0);
    retire(ix, old, G_FREE, varr_bytes(old->cap));
}

/* Append ve to its name's array. Thread: writer. */
static void varr_append(em_memindex_t *ix, name_ent_t *ne, value_ent_t *ve)
{
    varr_t *a = atomic_load_explicit(&ne->arr, memory_order_relaxed);
    uint32_t n = atomic_load_explicit(&a->n, memory_order_relaxed);
    if (n == a->cap) {
        varr_t *b = varr_copy_live(a, n, a->cap * 2);
        varr_publish(ix, ne, a, b);
        a = b;
        n = atomic_load_explicit(&a->n, memory_order_relaxed);
    }
    atomic_init(&a->v[n].ve, ve);
    a->v[n].value = ve->value;
    ve->slot = n;
    atomic_store_explicit(&a->n, n + 1, memory_order_release);
}

/* Clear ve's slot; compact when half the slots are dead. Thread: writer. */
static void varr_drop(em_memindex_t *ix, name_ent_t *ne, value_ent_t *ve)
{
    varr_t *a = atomic_load_explicit(&ne->arr, memory_order_relaxed);
    uint32_t n = atomic_load_explicit(&a->n, memory_order_relaxed);
    assert(ve->slot < n && atomic_load_explicit(&a->v[ve->slot].ve, memory_order_relaxed) == ve);
    /* Release, paired with the scans' acquire: a reader that sees the cleared slot also sees the gen bump
     * and the new all-list published before it (see CONSISTENCY OF A SELECT in memindex.h). */
    atomic_store_explicit(&a->v[ve->slot].ve, NULL, memory_order_release);
    if (++a->dead * 2 > n && n > 8) {
        uint32_t live = n - a->dead;
        varr_publish(ix, ne, a, varr_copy_live(a, n, live < 4 ? 4 : live * 2));
    }
}

/* ---- hash table lookups ---- */

typedef struct key {
    const char *s;
    size_t len;
} lookup_key_t;

/* The acquire loads pair with the writer's release stores made before cds_lfht_add, so the entry's
 * fields are initialised for us (and ThreadSanitizer sees why). */
static int name_match(struct cds_lfht_node *node, const void *key)
{
    const name_ent_t *ne = caa_container_of(node, name_ent_t, node);
    const lookup_key_t *k = key;
    (void)atomic_load_explicit(&ne->values, memory_order_acquire);
    return ne->len == k->len && memcmp(ne->name, k->s, k->len) == 0;
}

static int value_match(struct cds_lfht_node *node, const void *key)
{
    const value_ent_t *ve = caa_container_of(node, value_ent_t, node);
    const lookup_key_t *k = key;
    (void)atomic_load_explicit(&ve->list, memory_order_acquire);
    return ve->len == k->len && memcmp(ve->value, k->s, k->len) == 0;
}

static uint64_t hash_str(const char *s, size_t len)
{
    return em_hash64(s, len);
}

/* Thread: any, with rcu_read_lock held. */
static name_ent_t *find_name(em_memindex_t *ix, const char *s, size_t len, uint64_t h)
{
    struct cds_lfht_iter it;
    lookup_key_t k = {s, len};
    cds_lfht_lookup(ix->names, (unsigned long)h, name_match, &k, &it);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&it);
    return node ? caa_container_of(node, name_ent_t, node) : NULL;
}

static struct cds_lfht *values_of(const name_ent_t *ne)
{
    return atomic_load_explicit(&((name_ent_t *)ne)->values, memory_order_acquire);
}

static value_ent_t *find_value(const name_ent_t *ne, const char *s, size_t len, uint64_t h)
{
    struct cds_lfht_iter it;
    lookup_key_t k = {s, len};
    cds_lfht_lookup(values_of(ne), (unsigned long)h, value_match, &k, &it);
    struct cds_lfht_node *node = cds_lfht_iter_get_node(&it);
    return node ? caa_container_of(node, value_ent_t, node) : NULL;
}

/* ---- lifecycle ---- */

static struct cds_lfht *table_new(int flags)
{
    /* max_nr_buckets 0 selects liburcu's "order" bucket allocator, which does not reserve address space
     * up front (the mmap one would, per table). */
    struct cds_lfht *t = cds_lfht_new_flavor(1, 1, 0, CDS_LFHT_AUTO_RESIZE | flags, &urcu_memb_flavor, NULL);
    if (!t)
        abort();
    return t;
}

em_memindex_t *em_memindex_new(void)
{
    em_memindex_t *ix = em_calloc(1, sizeof(*ix));
    ix->names = table_new(CDS_LFHT_ACCOUNTING);
    plist_t *all = plist_new(16);
    atomic_init(&ix->all, all);
    em_postings_init(&ix->scratch);
    atomic_init(&ix->bytes, sizeof(*ix) + LFHT_TABLE_BYTES + plist_bytes(all->cap));
    return ix;
}

void em_memindex_free(em_memindex_t *ix)
{
    if (!ix)
        return;
    urcu_memb_read_lock();
    struct cds_lfht_iter it, vit;
    name_ent_t *ne;
    cds_lfht_for_each_entry(ix->names, &it, ne, node)
    {
        struct cds_lfht *values = values_of(ne);
        value_ent_t *ve;
        cds_lfht_for_each_entry(values, &vit, ve, node)
        {
            cds_lfht_del(values, &ve->node);
            retire(ix, atomic_load_explicit(&ve->list, memory_order_relaxed), G_FREE, 0);
            retire(ix, ve, G_FREE, 0);
        }
        cds_lfht_del(ix->names, &ne->node);
        retire(ix, atomic_load_explicit(&ne->arr, memory_order_relaxed), G_FREE, 0);
        retire(ix, ne, G_NAME, 0);
    }
    urcu_memb_read_unlock();
    for (size_t i = 0; i < ix->syms_cap; i++)
        if (ix->syms[i])
            retire(ix, ix->syms[i], G_FREE, 0);
    retire(ix, atomic_load_explicit(&ix->all, memory_order_relaxed), G_FREE, 0);
    garbage_flush(ix);
    /* Wait for every callback queued so far (ours included), so the memory is back when we return. */
    urcu_memb_barrier();
    int rc = cds_lfht_destroy(ix->names, NULL);
    assert(rc == 0);
    (void)rc;
    free(ix->syms);
    em_postings_fini(&ix->scratch);
    free(ix);
}

/* ---- writer ---- */

static void writer_enter(em_memindex_t *ix)
{
    int w = atomic_fetch_add_explicit(&ix->writers, 1, memory_order_relaxed);
    assert(w == 0 && "em_memindex: two writers at once");
    (void)w;
    urcu_memb_read_lock(); /* cds_lfht updates require it */
}

static void writer_exit(em_memindex_t *ix)
{
    urcu_memb_read_unlock();
    atomic_fetch_sub_explicit(&ix->writers, 1, memory_order_relaxed);
}

static name_ent_t *name_create(em_memindex_t *ix, const char *s, size_t len, uint64_t h)
{
    name_ent_t *ne = em_calloc(1, sizeof(*ne));
    sym_t *y = sym_intern(ix, s, len, h);
    ne->name = y->s;
    ne->len = (uint32_t)len;
    varr_t *arr = varr_new(4);
    atomic_init(&ne->arr, arr);
    /* Node counting costs 64 bytes per CPU per table, but without it a table grows only when an insert
     * meets a long chain, and lags: adding 100k series with a unique label ran 2.3x slower. */
    atomic_store_explicit(&ne->values, table_new(CDS_LFHT_ACCOUNTING), memory_order_release);
    cds_lfht_add(ix->names, (unsigned long)h, &ne->node);
    account(ix, sizeof(*ne) + LFHT_TABLE_BYTES + LFHT_NODE_BYTES + varr_bytes(arr->cap), 0);
    return ne;
}

static value_ent_t *value_create(em_memindex_t *ix, name_ent_t *ne, const char *s, size_t len, uint64_t h,
                                 uint32_t ref)
{
    value_ent_t *ve = em_calloc(1, sizeof(*ve));
    sym_t *y = sym_intern(ix, s, len, h);
    ve->value = y->s;
    ve->len = (uint32_t)len;
    plist_t *p = plist_new(1);
    p->v[0] = ref;
    atomic_store_explicit(&p->n, 1, memory_order_relaxed);
    atomic_store_explicit(&ve->list, p, memory_order_release);
    cds_lfht_add(values_of(ne), (unsigned long)h, &ve->node);
    varr_append(ix, ne, ve);
    ne->n_values++;
    account(ix, sizeof(*ve) + LFHT_NODE_BYTES + plist_bytes(1), 0);
    return ve;
}

void em_memindex_add(em_memindex_t *ix, uint32_t ref, const em_labels_t *ls, const char **interned)
{
    assert(!ix->any_added || ref > ix->last_ref);
    writer_enter(ix);
    for (size_t i = 0; i < ls->n; i++) {
        const char *name = ls->v[i].name, *value = ls->v[i].value;
        size_t nlen = strlen(name), vlen = strlen(value);
        assert(vlen > 0 && (i == 0 || strcmp(ls->v[i - 1].name, name) < 0));
        uint64_t hn = hash_str(name, nlen);
        name_ent_t *ne = find_name(ix, name, nlen, hn);
        if (!ne)
            ne = name_create(ix, name, nlen, hn);
        uint64_t hv = hash_str(value, vlen);
        value_ent_t *ve = find_value(ne, value, vlen, hv);
        if (!ve)
            ve = value_create(ix, ne, value, vlen, hv, ref);
        else
            plist_append(ix, &ve->list, ref);
        if (interned) {
            interned[2 * i] = ne->name;
            interned[2 * i + 1] = ve->value;
        }
    }
    /* Last: a reader that sees ref in the all-list finds it in every value list (see select). */
    plist_append(ix, &ix->all, ref);
    atomic_store_explicit(&ix->n_series, atomic_load_explicit(&ix->n_series, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    ix->last_ref = ref;
    ix->any_added = true;
    writer_exit(ix);
}

typedef struct rm_pair {
    value_ent_t *ve;
    name_ent_t *ne;
    uint32_t ref;
} rm_pair_t;

static int pair_cmp(const void *x, const void *y)
{
    const rm_pair_t *a = x, *b = y;
    if (a->ve != b->ve)
        return (uintptr_t)a->ve < (uintptr_t)b->ve ? -1 : 1;
    return (a->ref > b->ref) - (a->ref < b->ref);
}

static int u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* The (value entry, ref) pairs of the removed series, grouped by value entry. */
static rm_pair_t *collect_pairs(em_memindex_t *ix, const uint32_t *refs, size_t n,
                                const em_labels_t *const *labels, size_t *n_pairs)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += labels[i]->n;
    rm_pair_t *pairs = em_malloc((total ? total : 1) * sizeof(*pairs));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < labels[i]->n; j++) {
            const char *name = labels[i]->v[j].name, *value = labels[i]->v[j].value;
            size_t nlen = strlen(name), vlen = strlen(value);
            name_ent_t *ne = find_name(ix, name, nlen, hash_str(name, nlen));
            value_ent_t *ve = ne ? find_value(ne, value, vlen, hash_str(value, vlen)) : NULL;
            if (ve)
                pairs[k++] = (rm_pair_t){ve, ne, refs[i]};
        }
    }
    em_qsort(pairs, k, sizeof(*pairs), pair_cmp);
    *n_pairs = k;
    return pairs;
}

/* Unlink a value entry whose list became empty, and its name when that was the name's last value. */
static void value_drop(em_memindex_t *ix, name_ent_t *ne, value_ent_t *ve)
{
    int rc = cds_lfht_del(values_of(ne), &ve->node);
    assert(rc == 0);
    (void)rc;
    plist_t *p = atomic_load_explicit(&ve->list, memory_order_relaxed);
    retire(ix, p, G_FREE, plist_bytes(p->cap));
    varr_drop(ix, ne, ve);
    sym_release(ix, sym_of(ve->value));
    retire(ix, ve, G_FREE, sizeof(*ve) + LFHT_NODE_BYTES);
    if (--ne->n_values > 0)
        return;
    rc = cds_lfht_del(ix->names, &ne->node);
    assert(rc == 0);
    varr_t *arr = atomic_load_explicit(&ne->arr, memory_order_relaxed);
    retire(ix, arr, G_FREE, varr_bytes(arr->cap));
    sym_release(ix, sym_of(ne->name));
    retire(ix, ne, G_NAME, sizeof(*ne) + LFHT_TABLE_BYTES + LFHT_NODE_BYTES);
}

void em_memindex_remove(em_memindex_t *ix, const uint32_t *refs, size_t n, const em_labels_t *const *labels)
{
    if (n == 0)
        return;
    writer_enter(ix);
    uint64_t gen = atomic_load_explicit(&ix->gen, memory_order_relaxed);
    atomic_store_explicit(&ix->gen, gen + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);

    uint32_t *sorted = em_malloc(n * sizeof(uint32_t));
    memcpy(sorted, refs, n * sizeof(uint32_t));
    em_qsort(sorted, n, sizeof(uint32_t), u32_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || sorted[m - 1] != sorted[i])
            sorted[m++] = sorted[i];
    /* The all-list first: see CONSISTENCY OF A SELECT in memindex.h. */
    atomic_store_explicit(&ix->n_series, plist_remove(ix, &ix->all, sorted, m), memory_order_relaxed);

    size_t n_pairs;
    rm_pair_t *pairs = collect_pairs(ix, refs, n, labels, &n_pairs);
    for (size_t i = 0; i < n_pairs;) {
        size_t j = i, k = 0;
        for (; j < n_pairs && pairs[j].ve == pairs[i].ve; j++)
            if (k == 0 || sorted[k - 1] != pairs[j].ref)
                sorted[k++] = pairs[j].ref; /* reuse 'sorted': a group has at most n refs */
        if (plist_remove(ix, &pairs[i].ve->list, sorted, k) == 0)
            value_drop(ix, pairs[i].ne, pairs[i].ve);
        i = j;
    }
    free(pairs);
    free(sorted);

    atomic_store_explicit(&ix->gen, gen + 2, memory_order_release);
    garbage_flush(ix);
    writer_exit(ix);
}

/* ---- readers ---- */

size_t em_memindex_series(em_memindex_t *ix)
{
    return atomic_load_explicit(&ix->n_series, memory_order_relaxed);
}

size_t em_memindex_bytes(em_memindex_t *ix)
{
    return atomic_load_explicit(&ix->bytes, memory_order_relaxed);
}

/* Refs above 'max' were added after the select's snapshot: cut them off. */
static em_postings_span_t clamp(em_postings_span_t s, uint32_t max)
{
    if (s.n == 0 || s.v[s.n - 1] <= max)
        return s;
    size_t lo = 0, hi = s.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s.v[mid] <= max)
            lo = mid + 1;
        else
            hi = mid;
    }
    s.n = lo;
    return s;
}

typedef struct spans {
    em_postings_span_t *v;
    size_t n, cap;
} spans_t;

static void spans_push(spans_t *s, em_postings_span_t x)
{
    em_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v));
    s->v[s->n++] = x;
}

/* Push the lists of the values v of m's label with matches(m, v) == want. Literal values are looked up
 * directly when they are exactly that set; otherwise the label's values are scanned. */
static void collect_lists(em_memindex_t *ix, const em_matcher_t *m, bool want, uint32_t max, spans_t *out)
{
    size_t nlen = strlen(m->name);
    name_ent_t *ne = find_name(ix, m->name, nlen, hash_str(m->name, nlen));
    if (!ne)
        return;
    const char *const *lit;
    size_t n_lit;
    bool positive_form = m->type == EM_MATCH_EQ || m->type == EM_MATCH_RE;
    if (positive_form == want && em_matcher_literal_values(m, &lit, &n_lit)) {
        for (size_t i = 0; i < n_lit; i++) {
            size_t len = strlen(lit[i]);
            value_ent_t *ve = len ? find_value(ne, lit[i], len, hash_str(lit[i], len)) : NULL;
            if (ve)
                spans_push(out, clamp(plist_load(&ve->list), max));
        }
        return;
    }
    varr_t *a = atomic_load_explicit(&ne->arr, memory_order_acquire);
    uint32_t n = atomic_load_explicit(&a->n, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        value_ent_t *ve = atomic_load_explicit(&a->v[i].ve, memory_order_acquire);
        if (!ve)
            continue;
        const char *v = a->v[i].value;
        if (em_matcher_matches(m, v, sym_of(v)->len) == want)
            spans_push(out, clamp(plist_load(&ve->list), max));
    }
}

/* One matcher's lists: lists.v[first .. first + n), 'total' refs in all. The lists of different values of a
 * label are disjoint (a series has one value per label). */
typedef struct group {
    size_t first, n, total;
} group_t;

typedef struct select_state {
    spans_t lists; /* every list gathered, positive groups' and negative ones' */
    group_t *pos;  /* one group per positive matcher */
    size_t n_pos;
    group_t neg;        /* all negative lists together */
    em_postings_t a, b; /* ping-pong buffers for the running result */
    em_postings_t parts, tmp;
} select_state_t;

static void select_state_fini(select_state_t *st)
{
    free(st->lists.v);
    free(st->pos);
    em_postings_fini(&st->a);
    em_postings_fini(&st->b);
    em_postings_fini(&st->parts);
    em_postings_fini(&st->tmp);
}

static size_t group_total(const spans_t *lists, size_t first)
{
    size_t t = 0;
    for (size_t i = first; i < lists->n; i++)
        t += lists->v[i].n;
    return t;
}

/* Gather the matchers' lists into groups: returns false when a positive matcher selects nothing. */
static bool gather(em_memindex_t *ix, const em_matcher_t *const *ms, size_t n, uint32_t max,
                   select_state_t *st)
{
    /* Negative lists first, so they form one contiguous group. */
    for (size_t i = 0; i < n; i++)
        if (!em_matcher_matches_everything(ms[i]) && em_matcher_matches_empty(ms[i]))
            collect_lists(ix, ms[i], false, max, &st->lists); /* series whose value fails the matcher */
    st->neg = (group_t){0, st->lists.n, group_total(&st->lists, 0)};
    st->pos = em_malloc((n ? n : 1) * sizeof(group_t));
    for (size_t i = 0; i < n; i++) {
        if (em_matcher_matches_empty(ms[i]))
            continue;
        size_t first = st->lists.n;
        collect_lists(ix, ms[i], true, max, &st->lists);
        if (st->lists.n == first)
            return false;
        st->pos[st->n_pos++] = (group_t){first, st->lists.n - first, group_total(&st->lists, first)};
    }
    return true;
}

static int group_cmp(const void *x, const void *y)
{
    size_t a = ((const group_t *)x)->total, b = ((const group_t *)y)->total;
    return (a > b) - (a < b);
}

/* cur AND (union of g's lists), into 'out'. When the group is much bigger than cur, intersecting cur with
 * each list (galloping) and merging the small, disjoint parts beats building the big union first. */
static void and_group(select_state_t *st, em_postings_span_t cur, const group_t *g, em_postings_t *out)
{
    const em_postings_span_t *l = st->lists.v + g->first;
    if (g->n == 1) {
        em_postings_intersect(cur.v, cur.n, l[0].v, l[0].n, out);
        return;
    }
    if (g->total < 4 * cur.n) {
        em_postings_union_k(l, g->n, &st->tmp);
        em_postings_intersect(cur.v, cur.n, st->tmp.v, st->tmp.n, out);
        return;
    }
    /* Parts go one after another into st->parts; their spans are rebuilt once it stops growing. */
    size_t *ends = em_malloc(g->n * sizeof(size_t));
    st->parts.n = 0;
    for (size_t i = 0; i < g->n; i++) {
        em_postings_intersect(cur.v, cur.n, l[i].v, l[i].n, &st->tmp);
        if (st->tmp.n) {
            em_postings_reserve(&st->parts, st->parts.n + st->tmp.n);
            memcpy(st->parts.v + st->parts.n, st->tmp.v, st->tmp.n * sizeof(uint32_t));
            st->parts.n += st->tmp.n;
        }
        ends[i] = st->parts.n;
    }
    em_postings_span_t *parts = em_malloc(g->n * sizeof(*parts));
    for (size_t i = 0; i < g->n; i++) {
        size_t from = i ? ends[i - 1] : 0;
        parts[i] = (em_postings_span_t){st->parts.v + from, ends[i] - from};
    }
    em_postings_union_k(parts, g->n, out);
    free(parts);
    free(ends);
}

/* cur AND NOT (union of the negative lists), into 'out'. */
static void and_not_negatives(select_state_t *st, em_postings_span_t cur, em_postings_t *out)
{
    const group_t *g = &st->neg;
    const em_postings_span_t *l = st->lists.v;
    if (g->n == 1 || cur.n * g->n >= g->total) {
        em_postings_span_t sub = l[0];
        if (g->n > 1) {
            em_postings_union_k(l, g->n, &st->tmp);
            sub = em_postings_span(&st->tmp);
        }
        em_postings_difference(cur.v, cur.n, sub.v, sub.n, out);
        return;
    }
    /* A small result and many lists: subtract them one by one (each difference gallops). */
    em_postings_assign(out, cur.v, cur.n);
    for (size_t i = 0; i < g->n && out->n > 0; i++) {
        em_postings_difference(out->v, out->n, l[i].v, l[i].n, &st->tmp);
        em_postings_assign(out, st->tmp.v, st->tmp.n);
    }
}

/* Evaluate the gathered groups into 'out'. */
static void evaluate(select_state_t *st, em_postings_span_t all, em_postings_t *out)
{
    em_postings_span_t cur = all;
    em_postings_t *next = &st->a, *spare = &st->b;
    em_qsort(st->pos, st->n_pos, sizeof(group_t), group_cmp);
    for (size_t i = 0; i < st->n_pos; i++) {
        const group_t *g = &st->pos[i];
        if (i == 0 && g->n == 1) {
            cur = st->lists.v[g->first]; /* the smallest matcher's own list: no copy */
            continue;
        }
        if (i == 0)
            em_postings_union_k(st->lists.v + g->first, g->n, next);
        else
            and_group(st, cur, g, next);
        cur = em_postings_span(next);
        em_postings_t *t = next;
        next = spare;
        spare = t;
        if (cur.n == 0)
            break;
    }
    if (st->neg.n == 0 || cur.n == 0)
        em_postings_assign(out, cur.v, cur.n);
    else
        and_not_negatives(st, cur, out);
}

int em_memindex_select(em_memindex_t *ix, const em_matcher_t *const *ms, size_t n, em_postings_t *out)
{
    assert(urcu_memb_read_ongoing());
    out->n = 0;
    uint64_t gen = atomic_load_explicit(&ix->gen, memory_order_acquire);
    em_postings_span_t all = plist_load(&ix->all);
    if (all.n == 0)
        return EM_OK;
    uint32_t max = all.v[all.n - 1];

    select_state_t st;
    memset(&st, 0, sizeof(st));
    if (!gather(ix, ms, n, max, &st))
        goto out;
    evaluate(&st, all, out);

    /* A removal ran (or was running) meanwhile: drop what the current all-list no longer holds. */
    atomic_thread_fence(memory_order_acquire);
    if ((gen & 1) || atomic_load_explicit(&ix->gen, memory_order_relaxed) != gen) {
        em_postings_span_t now = plist_load(&ix->all);
        em_postings_intersect(out->v, out->n, now.v, now.n, &st.tmp);
        em_postings_assign(out, st.tmp.v, st.tmp.n);
    }
out:
    select_state_fini(&st);
    TSAN_RELEASE(&tsan_readers);
    return EM_OK;
}

/* Does the value's list share a ref with 'restrict_to' (NULL: no restriction)? */
static bool in_restriction(const value_ent_t *ve, const em_postings_t *restrict_to)
{
    em_postings_span_t s = plist_load(&((value_ent_t *)ve)->list);
    if (!restrict_to)
        return s.n > 0;
    return em_postings_intersects(s.v, s.n, restrict_to->v, restrict_to->n);
}

int em_memindex_label_names(em_memindex_t *ix, const em_postings_t *restrict_to, em_arena_t *a,
                            em_strlist_t *out)
{
    assert(urcu_memb_read_ongoing());
    struct cds_lfht_iter it;
    name_ent_t *ne;
    cds_lfht_for_each_entry(ix->names, &it, ne, node)
    {
        varr_t *arr = atomic_load_explicit(&ne->arr, memory_order_acquire);
        uint32_t n = atomic_load_explicit(&arr->n, memory_order_acquire);
        for (uint32_t i = 0; i < n; i++) {
            value_ent_t *ve = atomic_load_explicit(&arr->v[i].ve, memory_order_acquire);
            if (ve && in_restriction(ve, restrict_to)) {
                em_strlist_add(out, em_arena_strndup(a, ne->name, ne->len));
                break;
            }
        }
    }
    em_strlist_sort_unique(out);
    TSAN_RELEASE(&tsan_readers);
    return EM_OK;
}

int em_memindex_label_values(em_memindex_t *ix, const char *name, const em_postings_t *restrict_to,
                             em_arena_t *a, em_strlist_t *out)
{
    assert(urcu_memb_read_ongoing());
    size_t nlen = strlen(name);
    name_ent_t *ne = find_name(ix, name, nlen, hash_str(name, nlen));
    if (ne) {
        varr_t *arr = atomic_load_explicit(&ne->arr, memory_order_acquire);
        uint32_t n = atomic_load_explicit(&arr->n, memory_order_acquire);
        for (uint32_t i = 0; i < n; i++) {
            value_ent_t *ve = atomic_load_explicit(&arr->v[i].ve, memory_order_acquire);
            if (ve && in_restriction(ve, restrict_to))
                em_strlist_add(out, em_arena_strndup(a, arr->v[i].value, sym_of(arr->v[i].value)->len));
        }
    }
    em_strlist_sort_unique(out);
    TSAN_RELEASE(&tsan_readers);
    return EM_OK;
}
