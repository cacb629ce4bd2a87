#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/postings.h"

/* splitmix64: deterministic, seeds printed on failure. */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* n distinct sorted refs drawn from [base, base + universe). */
static uint32_t *random_list(uint64_t *seed, size_t n, uint32_t base, uint32_t universe)
{
    if (n > universe)
        n = universe;
    uint8_t *used = calloc(universe, 1);
    uint32_t *v = malloc((n + 1) * sizeof(uint32_t));
    size_t k = 0;
    if (n * 2 > universe) {
        /* dense: pick by coin flips until enough */
        while (k < n)
            for (uint32_t x = 0; x < universe && k < n; x++)
                if (!used[x] && rnd(seed) % universe < n) {
                    used[x] = 1;
                    k++;
                }
    } else {
        while (k < n) {
            uint32_t x = (uint32_t)(rnd(seed) % universe);
            if (!used[x]) {
                used[x] = 1;
                k++;
            }
        }
    }
    k = 0;
    for (uint32_t x = 0; x < universe; x++)
        if (used[x])
            v[k++] = base + x;
    free(used);
    return v;
}

/* Reference implementations: binary search and sort, nothing shared with the code under test. */
static int u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

static size_t naive_op(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, char op, uint32_t *out)
{
    size_t k = 0;
    if (op == '|') {
        uint32_t *all = malloc((na + nb + 1) * sizeof(uint32_t));
        memcpy(all, a, na * 4);
        memcpy(all + na, b, nb * 4);
        qsort(all, na + nb, 4, u32_cmp);
        for (size_t i = 0; i < na + nb; i++)
            if (k == 0 || out[k - 1] != all[i])
                out[k++] = all[i];
        free(all);
        return k;
    }
    for (size_t i = 0; i < na; i++) {
        bool in_b = nb && bsearch(&a[i], b, nb, 4, u32_cmp) != NULL;
        if (in_b == (op == '&'))
            out[k++] = a[i];
    }
    return k;
}

typedef void (*isect_fn)(const uint32_t *, size_t, const uint32_t *, size_t, em_postings_t *);

static void check_all_ops(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, const char *what)
{
    uint32_t *want = malloc((na + nb + 1) * sizeof(uint32_t));
    em_postings_t got;
    em_postings_init(&got);

    size_t nw = naive_op(a, na, b, nb, '&', want);
    struct {
        const char *name;
        isect_fn f;
        bool ok;
    } impls[] = {
        {"scalar", em_postings_intersect_scalar, true},
        {"gallop", em_postings_intersect_gallop, true},
        {"sse4.1", em_postings_intersect_sse41, em_postings_cpu_has_sse41()},
        {"avx2", em_postings_intersect_avx2, em_postings_cpu_has_avx2()},
        {"skewed_avx2", em_postings_intersect_skewed_avx2, em_postings_cpu_has_avx2()},
        {"dispatch", em_postings_intersect, true},
    };
    for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
        if (!impls[i].ok)
            continue;
        got.n = 12345;
        impls[i].f(a, na, b, nb, &got);
        cr_assert_eq(got.n, nw, "%s: intersect %s: got %zu refs, want %zu", what, impls[i].name, got.n, nw);
        cr_assert(nw == 0 || memcmp(got.v, want, nw * 4) == 0, "%s: intersect %s differs", what,
                  impls[i].name);
        /* and commuted */
        impls[i].f(b, nb, a, na, &got);
        cr_assert_eq(got.n, nw, "%s: intersect %s (b, a): got %zu, want %zu", what, impls[i].name, got.n, nw);
        cr_assert(nw == 0 || memcmp(got.v, want, nw * 4) == 0, "%s: intersect %s (b, a) differs", what,
                  impls[i].name);
    }
    cr_assert_eq(em_postings_intersects(a, na, b, nb), nw > 0, "%s: intersects", what);

    nw = naive_op(a, na, b, nb, '|', want);
    em_postings_union(a, na, b, nb, &got);
    cr_assert(got.n == nw && (nw == 0 || memcmp(got.v, want, nw * 4) == 0), "%s: union", what);
    em_postings_span_t spans[2] = {{a, na}, {b, nb}};
    em_postings_union_k(spans, 2, &got);
    cr_assert(got.n == nw && (nw == 0 || memcmp(got.v, want, nw * 4) == 0), "%s: union_k", what);

    nw = naive_op(a, na, b, nb, '-', want);
    em_postings_difference(a, na, b, nb, &got);
    cr_assert(got.n == nw && (nw == 0 || memcmp(got.v, want, nw * 4) == 0),
              "%s: difference: got %zu want %zu", what, got.n, nw);
    cr_assert(em_postings_is_sorted(got.v, got.n));
    if (em_postings_cpu_has_avx2()) {
        em_postings_difference_avx2(a, na, b, nb, &got);
        cr_assert(got.n == nw && (nw == 0 || memcmp(got.v, want, nw * 4) == 0),
                  "%s: difference avx2: got %zu want %zu", what, got.n, nw);
        em_postings_difference_skewed_avx2(a, na, b, nb, &got);
        cr_assert(got.n == nw && (nw == 0 || memcmp(got.v, want, nw * 4) == 0),
                  "%s: difference skewed avx2: got %zu want %zu", what, got.n, nw);
    }

    em_postings_fini(&got);
    free(want);
}

Test(engine_postings, all_implementations_agree_with_naive_on_random_lists)
{
    /* sizes of a and b, and universe: equal sizes, skewed, dense, sparse */
    static const struct {
        size_t na, nb;
        uint32_t universe;
    } shapes[] = {
        {1000, 1000, 2000},    {1000, 1000, 1000000},  {1000, 1000, 1100}, {5000, 50, 20000},
        {50, 5000, 20000},     {20000, 10, 40000},     {3000, 3000, 3000}, {777, 2000, 4000},
        {100, 100000, 200000}, {100000, 3000, 150000}, {64, 64, 128},      {4096, 4096, 65536},
    };
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        for (uint64_t rep = 0; rep < 4; rep++) {
            uint64_t seed = 1000 * s + rep, st = seed;
            uint32_t base = (uint32_t)(rnd(&st) % 3) * 1000;
            uint32_t *a = random_list(&st, shapes[s].na, base, shapes[s].universe);
            uint32_t *b = random_list(&st, shapes[s].nb, 0, shapes[s].universe);
            char what[96];
            snprintf(what, sizeof(what), "shape %zu seed %llu", s, (unsigned long long)seed);
            size_t na = shapes[s].na < shapes[s].universe ? shapes[s].na : shapes[s].universe;
            size_t nb = shapes[s].nb < shapes[s].universe ? shapes[s].nb : shapes[s].universe;
            check_all_ops(a, na, b, nb, what);
            free(a);
            free(b);
        }
    }
}

Test(engine_postings, short_lists_around_simd_block_sizes)
{
    for (size_t na = 1; na <= 40; na++) {
        for (size_t nb = 1; nb <= 40; nb += 3) {
            uint64_t seed = na * 100 + nb, st = seed;
            uint32_t *a = random_list(&st, na, 0, 64);
            uint32_t *b = random_list(&st, nb, 0, 64);
            char what[96];
            snprintf(what, sizeof(what), "na %zu nb %zu seed %llu", na, nb, (unsigned long long)seed);
            check_all_ops(a, na, b, nb, what);
            free(a);
            free(b);
        }
    }
}

Test(engine_postings, empty_identical_and_disjoint_lists)
{
    uint32_t *a = malloc(100 * sizeof(uint32_t)), *b = malloc(100 * sizeof(uint32_t));
    for (uint32_t i = 0; i < 100; i++) {
        a[i] = 2 * i;
        b[i] = 2 * i + 1;
    }
    check_all_ops(a, 0, b, 0, "both empty");
    check_all_ops(a, 100, b, 0, "b empty");
    check_all_ops(a, 0, b, 100, "a empty");
    check_all_ops(a, 100, a, 100, "identical");
    check_all_ops(a, 100, b, 100, "interleaved disjoint");
    check_all_ops(a, 50, a + 50, 50, "disjoint ranges");
    check_all_ops(a, 1, a, 1, "single identical");
    uint32_t big[] = {0, 4294967294u, 4294967295u};
    check_all_ops(big, 3, big + 1, 2, "refs near UINT32_MAX");
    free(a);
    free(b);
}

Test(engine_postings, intersect_k_takes_shortest_first_and_matches_pairwise)
{
    uint64_t st = 42;
    em_postings_span_t spans[5];
    uint32_t *lists[5];
    size_t sizes[5] = {50000, 2000, 30000, 40000, 45000};
    for (int i = 0; i < 5; i++) {
        lists[i] = random_list(&st, sizes[i], 0, 60000);
        spans[i] = (em_postings_span_t){lists[i], sizes[i]};
    }
    em_postings_t got, want, tmp;
    em_postings_init(&got);
    em_postings_init(&want);
    em_postings_init(&tmp);
    em_postings_intersect_k(spans, 5, &got);
    em_postings_assign(&want, lists[0], sizes[0]);
    for (int i = 1; i < 5; i++) {
        em_postings_intersect_scalar(want.v, want.n, lists[i], sizes[i], &tmp);
        em_postings_assign(&want, tmp.v, tmp.n);
    }
    cr_assert_gt(want.n, 0);
    cr_assert_eq(got.n, want.n);
    cr_assert(memcmp(got.v, want.v, want.n * 4) == 0);

    em_postings_intersect_k(spans, 0, &got);
    cr_assert_eq(got.n, 0);
    em_postings_intersect_k(spans + 1, 1, &got);
    cr_assert_eq(got.n, sizes[1]);
    em_postings_span_t with_empty[3] = {spans[0], {NULL, 0}, spans[2]};
    em_postings_intersect_k(with_empty, 3, &got);
    cr_assert_eq(got.n, 0);
    /* more lists than the on-stack array */
    em_postings_span_t many[20];
    for (int i = 0; i < 20; i++)
        many[i] = spans[i % 5];
    em_postings_intersect_k(many, 20, &got);
    cr_assert_eq(got.n, want.n);

    for (int i = 0; i < 5; i++)
        free(lists[i]);
    em_postings_fini(&got);
    em_postings_fini(&want);
    em_postings_fini(&tmp);
}

Test(engine_postings, union_k_merges_many_lists_and_drops_duplicates)
{
    uint64_t st = 7;
    enum { K = 40 };
    em_postings_span_t spans[K];
    uint32_t *lists[K];
    uint8_t *seen = calloc(100000, 1);
    for (int i = 0; i < K; i++) {
        size_t n = (size_t)(rnd(&st) % 3000);
        lists[i] = random_list(&st, n, 0, 100000);
        spans[i] = (em_postings_span_t){lists[i], n};
        for (size_t j = 0; j < n; j++)
            seen[lists[i][j]] = 1;
    }
    em_postings_t got;
    em_postings_init(&got);
    em_postings_union_k(spans, K, &got);
    size_t k = 0;
    for (uint32_t x = 0; x < 100000; x++) {
        if (!seen[x])
            continue;
        cr_assert_lt(k, got.n);
        cr_assert_eq(got.v[k], x, "position %zu", k);
        k++;
    }
    cr_assert_eq(k, got.n);
    em_postings_union_k(spans, 0, &got);
    cr_assert_eq(got.n, 0);
    for (int i = 0; i < K; i++)
        free(lists[i]);
    free(seen);
    em_postings_fini(&got);
}

Test(engine_postings, storage_grows_and_assign_replaces)
{
    em_postings_t p;
    em_postings_init(&p);
    for (uint32_t i = 0; i < 1000; i++)
        em_postings_push(&p, i * 3);
    cr_assert_eq(p.n, 1000);
    cr_assert_geq(p.cap, 1000);
    cr_assert(em_postings_is_sorted(p.v, p.n));
    uint32_t small[] = {5, 6};
    em_postings_assign(&p, small, 2);
    cr_assert_eq(p.n, 2);
    cr_assert_eq(p.v[1], 6);
    uint32_t unsorted[] = {1, 1};
    cr_assert(!em_postings_is_sorted(unsorted, 2));
    em_postings_fini(&p);
    em_postings_fini(&p); /* fini twice is safe */
    cr_assert_eq(p.v, NULL);
}

Test(engine_postings, dispatcher_names_an_implementation)
{
    const char *n = em_postings_simd_name();
    cr_assert(strcmp(n, "avx2") == 0 || strcmp(n, "sse4.1") == 0 || strcmp(n, "scalar") == 0, "%s", n);
}

/* Both union_k strategies: dense inputs (bitmap) and sparse ones spread over the whole uint32 range (heap).
 */
Test(engine_postings, union_k_dense_and_sparse_agree_with_pairwise_unions)
{
    for (int sparse = 0; sparse < 2; sparse++) {
        for (uint64_t seed = 1; seed <= 20; seed++) {
            uint64_t st = seed * 31 + (uint64_t)sparse;
            size_t k = 3 + rnd(&st) % 10;
            em_postings_span_t spans[16];
            uint32_t *lists[16];
            for (size_t i = 0; i < k; i++) {
                size_t n = rnd(&st) % 500;
                lists[i] = random_list(&st, n, 0, 5000);
                if (sparse)
                    for (size_t j = 0; j < n; j++)
                        lists[i][j] = lists[i][j] * 850000u + (uint32_t)i;
                spans[i] = (em_postings_span_t){lists[i], n};
            }
            em_postings_t got, want, tmp;
            em_postings_init(&got);
            em_postings_init(&want);
            em_postings_init(&tmp);
            em_postings_union_k(spans, k, &got);
            for (size_t i = 0; i < k; i++) {
                em_postings_union(want.v, want.n, lists[i], spans[i].n, &tmp);
                em_postings_assign(&want, tmp.v, tmp.n);
            }
            cr_assert_eq(got.n, want.n, "sparse %d seed %llu: %zu refs, want %zu", sparse,
                         (unsigned long long)seed, got.n, want.n);
            cr_assert(want.n == 0 || memcmp(got.v, want.v, want.n * 4) == 0, "sparse %d seed %llu", sparse,
                      (unsigned long long)seed);
            for (size_t i = 0; i < k; i++)
                free(lists[i]);
            em_postings_fini(&got);
            em_postings_fini(&want);
            em_postings_fini(&tmp);
        }
    }
}

Test(engine_postings, union_k_concatenates_lists_that_follow_each_other)
{
    uint32_t a[] = {1, 2, 3}, b[] = {7, 9}, c[] = {10, 4000000000u}, d[] = {9, 11};
    em_postings_span_t ordered[] = {{a, 3}, {NULL, 0}, {b, 2}, {c, 2}};
    em_postings_t got;
    em_postings_init(&got);
    em_postings_union_k(ordered, 4, &got);
    uint32_t want[] = {1, 2, 3, 7, 9, 10, 4000000000u};
    cr_assert_eq(got.n, 7);
    cr_assert(memcmp(got.v, want, sizeof(want)) == 0);
    /* touching but overlapping at 9: not concatenated, still correct */
    em_postings_span_t overlap[] = {{a, 3}, {b, 2}, {d, 2}};
    em_postings_union_k(overlap, 3, &got);
    uint32_t want2[] = {1, 2, 3, 7, 9, 11};
    cr_assert_eq(got.n, 6);
    cr_assert(memcmp(got.v, want2, sizeof(want2)) == 0);
    em_postings_fini(&got);
}
