/* Design: see postings.h */
#include "engine/postings.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "engine/postings_int.h"

/* ---- storage ---- */

void em_postings_init(em_postings_t *p)
{
    p->v = NULL;
    p->n = p->cap = 0;
}

void em_postings_fini(em_postings_t *p)
{
    free(p->v);
    em_postings_init(p);
}

void em_postings_reserve(em_postings_t *p, size_t n)
{
    if (n <= p->cap)
        return;
    size_t cap = p->cap ? p->cap : 16;
    while (cap < n)
        cap *= 2;
    p->v = em_realloc(p->v, cap * sizeof(uint32_t));
    p->cap = cap;
}

void em_postings_push(em_postings_t *p, uint32_t ref)
{
    if (p->n == p->cap)
        em_postings_reserve(p, p->n + 1);
    p->v[p->n++] = ref;
}

void em_postings_assign(em_postings_t *p, const uint32_t *v, size_t n)
{
    em_postings_reserve(p, n);
    if (n)
        memcpy(p->v, v, n * sizeof(uint32_t));
    p->n = n;
}

bool em_postings_is_sorted(const uint32_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (v[i - 1] >= v[i])
            return false;
    return true;
}

/* ---- searching ---- */

size_t em_postings_gallop_int(const uint32_t *v, size_t lo, size_t n, uint32_t x)
{
    if (lo >= n || v[lo] >= x)
        return lo;
    /* v[lo] < x: double the step until v[hi] >= x, then binary search (lo, hi]. */
    size_t step = 1, hi = lo + 1;
    while (hi < n && v[hi] < x) {
        lo = hi;
        step <<= 1;
        hi = lo + step;
    }
    if (hi > n)
        hi = n;
    lo++;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- intersection ---- */

size_t em_postings_merge_tail_int(const uint32_t *a, size_t i, size_t na, const uint32_t *b, size_t j,
                                  size_t nb, uint32_t *out, size_t k)
{
    /* Branch-free: on random data a three-way branch is mispredicted about half the time. */
    while (i < na && j < nb) {
        uint32_t x = a[i], y = b[j];
        out[k] = x;
        k += x == y;
        i += x <= y;
        j += y <= x;
    }
    return k;
}

void em_postings_intersect_scalar(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                  em_postings_t *out)
{
    em_postings_reserve(out, (na < nb ? na : nb) + EM_POSTINGS_SLACK);
    out->n = em_postings_merge_tail_int(a, 0, na, b, 0, nb, out->v, 0);
}

void em_postings_intersect_gallop(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                  em_postings_t *out)
{
    if (na > nb) {
        const uint32_t *t = a;
        a = b;
        b = t;
        size_t tn = na;
        na = nb;
        nb = tn;
    }
    em_postings_reserve(out, na + EM_POSTINGS_SLACK);
    size_t k = 0, pos = 0;
    for (size_t i = 0; i < na && pos < nb; i++) {
        pos = em_postings_gallop_int(b, pos, nb, a[i]);
        if (pos < nb && b[pos] == a[i]) {
            out->v[k++] = a[i];
            pos++;
        }
    }
    out->n = k;
}

typedef void (*isect_fn)(const uint32_t *, size_t, const uint32_t *, size_t, em_postings_t *);

static _Atomic(isect_fn) chosen_fn;
static const char *_Atomic chosen_name;

bool em_postings_cpu_has_sse41(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.1");
}

bool em_postings_cpu_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}

/* Choose once; racing first callers compute the same answer, so relaxed stores are enough. */
static isect_fn choose(void)
{
    isect_fn f = atomic_load_explicit(&chosen_fn, memory_order_relaxed);
    if (f)
        return f;
    const char *name = "scalar";
    f = em_postings_intersect_scalar;
    if (em_postings_cpu_has_avx2()) {
        f = em_postings_intersect_avx2;
        name = "avx2";
    } else if (em_postings_cpu_has_sse41()) {
        f = em_postings_intersect_sse41;
        name = "sse4.1";
    }
    atomic_store_explicit(&chosen_name, name, memory_order_relaxed);
    atomic_store_explicit(&chosen_fn, f, memory_order_relaxed);
    return f;
}

const char *em_postings_simd_name(void)
{
    choose();
    return atomic_load_explicit(&chosen_name, memory_order_relaxed);
}

/* max(na, nb) / min(na, nb), rounded down; min is not 0 here. */
static size_t ratio(size_t na, size_t nb)
{
    return na < nb ? nb / na : na / nb;
}

void em_postings_intersect(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, em_postings_t *out)
{
    if (na == 0 || nb == 0 || a[na - 1] < b[0] || b[nb - 1] < a[0]) {
        out->n = 0;
        return;
    }
    isect_fn f = choose();
    size_t r = ratio(na, nb);
    if (f == em_postings_intersect_avx2) {
        if (r >= EM_POSTINGS_FAR_RATIO)
            f = em_postings_intersect_gallop;
        else if (r >= EM_POSTINGS_SKEW_RATIO)
            f = em_postings_intersect_skewed_avx2;
    } else if (r >= EM_POSTINGS_GALLOP_RATIO) {
        f = em_postings_intersect_gallop;
    }
    f(a, na, b, nb, out);
}

bool em_postings_intersects(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    if (na > nb) {
        const uint32_t *t = a;
        a = b;
        b = t;
        size_t tn = na;
        na = nb;
        nb = tn;
    }
    size_t pos = 0;
    for (size_t i = 0; i < na && pos < nb; i++) {
        pos = em_postings_gallop_int(b, pos, nb, a[i]);
        if (pos < nb && b[pos] == a[i])
            return true;
    }
    return false;
}

static int span_len_cmp(const void *x, const void *y)
{
    size_t a = ((const em_postings_span_t *)x)->n, b = ((const em_postings_span_t *)y)->n;
    return (a > b) - (a < b);
}

void em_postings_intersect_k(const em_postings_span_t *lists, size_t k, em_postings_t *out)
{
    out->n = 0;
    if (k == 0)
        return;
    if (k == 1) {
        em_postings_assign(out, lists[0].v, lists[0].n);
        return;
    }
    em_postings_span_t local[16];
    em_postings_span_t *s = k <= EM_ARRAY_LEN(local) ? local : em_malloc(k * sizeof(*s));
    memcpy(s, lists, k * sizeof(*s));
    em_qsort(s, k, sizeof(*s), span_len_cmp);
    em_postings_intersect(s[0].v, s[0].n, s[1].v, s[1].n, out);
    em_postings_t tmp;
    em_postings_init(&tmp);
    for (size_t i = 2; i < k && out->n > 0; i++) {
        em_postings_intersect(out->v, out->n, s[i].v, s[i].n, &tmp);
        em_postings_t swap = *out;
        *out = tmp;
        tmp = swap;
    }
    em_postings_fini(&tmp);
    if (s != local)
        free(s);
}

/* ---- union ---- */

void em_postings_union(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, em_postings_t *out)
{
    em_postings_reserve(out, na + nb + EM_POSTINGS_SLACK);
    uint32_t *o = out->v;
    size_t i = 0, j = 0, k = 0;
    while (i < na && j < nb) {
        uint32_t x = a[i], y = b[j];
        o[k++] = x < y ? x : y;
        i += x <= y;
        j += y <= x;
    }
    if (i < na)
        memcpy(o + k, a + i, (na - i) * sizeof(uint32_t));
    k += na - i;
    if (j < nb)
        memcpy(o + k, b + j, (nb - j) * sizeof(uint32_t));
    k += nb - j;
    out->n = k;
}

/* A binary min-heap of list cursors keyed by their current element. */
typedef struct {
    uint32_t val;
    uint32_t list;
} cursor_t;

static void sift_down(cursor_t *h, size_t n, size_t i)
{
    cursor_t x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h[c + 1].val < h[c].val)
            c++;
        if (h[c].val >= x.val)
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void union_heap(const em_postings_span_t *lists, size_t k, size_t total, em_postings_t *out)
{
    cursor_t *h = em_malloc(k * sizeof(*h));
    size_t *pos = em_calloc(k, sizeof(*pos));
    size_t n = 0;
    for (size_t i = 0; i < k; i++)
        if (lists[i].n)
            h[n++] = (cursor_t){lists[i].v[0], (uint32_t)i};
    for (size_t i = n / 2; i-- > 0;)
        sift_down(h, n, i);
    em_postings_reserve(out, total + EM_POSTINGS_SLACK);
    uint32_t *o = out->v;
    size_t m = 0;
    while (n > 0) {
        uint32_t v = h[0].val, l = h[0].list;
        if (m == 0 || o[m - 1] != v)
            o[m++] = v;
        if (++pos[l] < lists[l].n) {
            h[0].val = lists[l].v[pos[l]];
        } else {
            h[0] = h[--n];
        }
        if (n > 0)
            sift_down(h, n, 0);
    }
    out->n = m;
    free(h);
    free(pos);
}

/* Dense unions: when the refs span a range at most EM_POSTINGS_BITMAP_SPAN times their total count, setting
 * bits in a bitmap (span / 8 bytes, so at most 8 bytes per input ref) and reading them back is linear and
 * nearly branch-free, where the heap pays log k unpredictable compares per ref. */
#define EM_POSTINGS_BITMAP_SPAN 64

static void union_bitmap(const em_postings_span_t *lists, size_t k, uint32_t lo, uint32_t hi, size_t total,
                         em_postings_t *out)
{
    size_t words = (size_t)((hi - lo) >> 6) + 1;
    uint64_t *bm = em_calloc(words, sizeof(uint64_t));
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < lists[i].n; j++) {
            uint32_t x = lists[i].v[j] - lo;
            bm[x >> 6] |= 1ull << (x & 63);
        }
    em_postings_reserve(out, total + EM_POSTINGS_SLACK);
    uint32_t *o = out->v;
    size_t m = 0;
    for (size_t w = 0; w < words; w++) {
        for (uint64_t b = bm[w]; b; b &= b - 1)
            o[m++] = lo + (uint32_t)(w << 6) + (uint32_t)__builtin_ctzll(b);
    }
    out->n = m;
    free(bm);
}

/* Lists that already follow each other (each starts after the previous one ends) are concatenated. This is
 * common: the head allocates refs in creation order, so the series of one target form a run. */
static bool concat_if_ordered(const em_postings_span_t *lists, size_t k, size_t total, em_postings_t *out)
{
    bool have_prev = false;
    uint32_t prev_last = 0;
    for (size_t i = 0; i < k; i++) {
        if (lists[i].n == 0)
            continue;
        if (have_prev && lists[i].v[0] <= prev_last)
            return false;
        prev_last = lists[i].v[lists[i].n - 1];
        have_prev = true;
    }
    em_postings_reserve(out, total + EM_POSTINGS_SLACK);
    size_t m = 0;
    for (size_t i = 0; i < k; i++) {
        if (lists[i].n)
            memcpy(out->v + m, lists[i].v, lists[i].n * sizeof(uint32_t));
        m += lists[i].n;
    }
    out->n = m;
    return true;
}

void em_postings_union_k(const em_postings_span_t *lists, size_t k, em_postings_t *out)
{
    size_t total = 0, nonempty = 0, last = 0;
    uint32_t lo = UINT32_MAX, hi = 0;
    for (size_t i = 0; i < k; i++) {
        total += lists[i].n;
        if (lists[i].n) {
            nonempty++;
            last = i;
            lo = lists[i].v[0] < lo ? lists[i].v[0] : lo;
            hi = lists[i].v[lists[i].n - 1] > hi ? lists[i].v[lists[i].n - 1] : hi;
        }
    }
    if (nonempty == 0) {
        out->n = 0;
        return;
    }
    if (nonempty == 1) {
        em_postings_assign(out, lists[last].v, lists[last].n);
        return;
    }
    if (k == 2) {
        em_postings_union(lists[0].v, lists[0].n, lists[1].v, lists[1].n, out);
        return;
    }
    if (concat_if_ordered(lists, k, total, out))
        return;
    if ((hi - lo) / EM_POSTINGS_BITMAP_SPAN <= total) {
        union_bitmap(lists, k, lo, hi, total, out);
        return;
    }
    union_heap(lists, k, total, out);
}

/* ---- difference ---- */

static size_t diff_merge(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *o)
{
    size_t i = 0, j = 0, k = 0;
    while (i < na && j < nb) {
        /* Branch-free: on random data the three-way branch is mispredicted half the time. */
        uint32_t x = a[i], y = b[j];
        o[k] = x;
        k += x < y;
        i += x <= y;
        j += y <= x;
    }
    if (i < na)
        memcpy(o + k, a + i, (na - i) * sizeof(uint32_t));
    return k + (na - i);
}

/* b much longer than a: look each element of a up in b. */
static size_t diff_gallop_b(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *o)
{
    size_t k = 0, pos = 0;
    for (size_t i = 0; i < na; i++) {
        pos = em_postings_gallop_int(b, pos, nb, a[i]);
        if (pos < nb && b[pos] == a[i])
            pos++;
        else
            o[k++] = a[i];
    }
    return k;
}

/* a much longer than b: copy the runs of a between the elements of b. */
static size_t diff_gallop_a(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *o)
{
    size_t k = 0, i = 0;
    for (size_t j = 0; j < nb && i < na; j++) {
        size_t p = em_postings_gallop_int(a, i, na, b[j]);
        memcpy(o + k, a + i, (p - i) * sizeof(uint32_t));
        k += p - i;
        i = (p < na && a[p] == b[j]) ? p + 1 : p;
    }
    if (i < na)
        memcpy(o + k, a + i, (na - i) * sizeof(uint32_t));
    return k + (na - i);
}

void em_postings_difference(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, em_postings_t *out)
{
    em_postings_reserve(out, na + EM_POSTINGS_SLACK);
    if (na == 0) {
        out->n = 0;
    } else if (nb == 0 || b[nb - 1] < a[0] || a[na - 1] < b[0]) {
        memcpy(out->v, a, na * sizeof(uint32_t));
        out->n = na;
    } else if (choose() == em_postings_intersect_avx2) {
        if (nb / EM_POSTINGS_SKEW_RATIO >= na)
            em_postings_difference_skewed_avx2(a, na, b, nb, out);
        else if (na / EM_POSTINGS_DIFF_AVX2_GALLOP_RATIO >= nb)
            out->n = diff_gallop_a(a, na, b, nb, out->v);
        else
            em_postings_difference_avx2(a, na, b, nb, out);
    } else if (nb / EM_POSTINGS_GALLOP_RATIO > na) {
        out->n = diff_gallop_b(a, na, b, nb, out->v);
    } else if (na / EM_POSTINGS_GALLOP_RATIO > nb) {
        out->n = diff_gallop_a(a, na, b, nb, out->v);
    } else {
        out->n = diff_merge(a, na, b, nb, out->v);
    }
}
