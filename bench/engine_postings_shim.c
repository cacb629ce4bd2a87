/* C side of bench/engine_postings.cc: builds random postings lists and runs one implementation. */
#include <stdint.h>
#include <stdlib.h>

#include "base/mem.h"
#include "engine/postings.h"

typedef struct {
    uint32_t *a, *b;
    size_t na, nb;
    em_postings_t out;
} bp_ctx_t;

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* n sorted distinct refs with density n/universe: each ref of [0, universe) is kept with that probability,
 * then the list is trimmed or topped up to exactly n. */
static uint32_t *make_list(uint64_t *seed, size_t n, uint32_t universe)
{
    uint32_t *v = em_malloc(n * sizeof(uint32_t));
    size_t k = 0;
    uint64_t thresh = (uint64_t)((double)n / universe * (double)UINT64_MAX);
    for (uint32_t x = 0; x < universe && k < n; x++)
        if (rnd(seed) <= thresh)
            v[k++] = x;
    uint32_t next = k ? v[k - 1] + 1 : 0;
    while (k < n)
        v[k++] = next++;
    return v;
}

void *bp_new(size_t na, size_t nb, uint32_t universe, uint64_t seed)
{
    bp_ctx_t *c = em_calloc(1, sizeof(*c));
    c->a = make_list(&seed, na, universe);
    c->b = make_list(&seed, nb, universe);
    c->na = na;
    c->nb = nb;
    em_postings_init(&c->out);
    em_postings_reserve(&c->out, (na < nb ? na : nb) + EM_POSTINGS_SLACK);
    return c;
}

void bp_free(void *p)
{
    bp_ctx_t *c = p;
    free(c->a);
    free(c->b);
    em_postings_fini(&c->out);
    free(c);
}

/* The textbook two-pointer merge with a three-way branch, as a baseline: the library's scalar merge is
 * branch-free. */
static size_t merge_branchy(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, uint32_t *out)
{
    size_t i = 0, j = 0, k = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j]) {
            i++;
        } else if (b[j] < a[i]) {
            j++;
        } else {
            out[k++] = a[i];
            i++;
            j++;
        }
    }
    return k;
}

/* 0 scalar, 1 sse4.1, 2 avx2, 3 gallop, 4 dispatcher, 5 skewed avx2, 6 branchy merge */
int bp_available(int impl)
{
    if (impl == 1)
        return em_postings_cpu_has_sse41();
    if (impl == 2 || impl == 5)
        return em_postings_cpu_has_avx2();
    return 1;
}

size_t bp_intersect(void *p, int impl)
{
    bp_ctx_t *c = p;
    switch (impl) {
    case 0:
        em_postings_intersect_scalar(c->a, c->na, c->b, c->nb, &c->out);
        break;
    case 1:
        em_postings_intersect_sse41(c->a, c->na, c->b, c->nb, &c->out);
        break;
    case 2:
        em_postings_intersect_avx2(c->a, c->na, c->b, c->nb, &c->out);
        break;
    case 3:
        em_postings_intersect_gallop(c->a, c->na, c->b, c->nb, &c->out);
        break;
    case 5:
        em_postings_intersect_skewed_avx2(c->a, c->na, c->b, c->nb, &c->out);
        break;
    case 6:
        c->out.n = merge_branchy(c->a, c->na, c->b, c->nb, c->out.v);
        break;
    default:
        em_postings_intersect(c->a, c->na, c->b, c->nb, &c->out);
        break;
    }
    return c->out.n;
}

size_t bp_union(void *p)
{
    bp_ctx_t *c = p;
    em_postings_union(c->a, c->na, c->b, c->nb, &c->out);
    return c->out.n;
}

size_t bp_difference(void *p)
{
    bp_ctx_t *c = p;
    em_postings_reserve(&c->out, c->na + EM_POSTINGS_SLACK);
    em_postings_difference(c->a, c->na, c->b, c->nb, &c->out);
    return c->out.n;
}

size_t bp_difference_avx2(void *p)
{
    bp_ctx_t *c = p;
    em_postings_difference_avx2(c->a, c->na, c->b, c->nb, &c->out);
    return c->out.n;
}

size_t bp_difference_skewed_avx2(void *p)
{
    bp_ctx_t *c = p;
    em_postings_difference_skewed_avx2(c->a, c->na, c->b, c->nb, &c->out);
    return c->out.n;
}
