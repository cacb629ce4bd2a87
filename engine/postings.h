/* engine/postings.h -- postings lists: sorted sets of series references, and their set algebra.
 *
 * DESIGN. A postings list is a strictly increasing array of uint32 series references (refs are per head
 * shard, and a persisted block's postings are uint32 too). Selecting series by label matchers is set
 * algebra on these lists, as in Prometheus's index.Intersect / Merge / Without:
 *     intersection   a AND b          (k lists: smallest first, stop as soon as the result is empty)
 *     union          a OR b OR ...    (k lists: concatenation when already in order, a bitmap when
 *                                     dense, else a heap merge)
 *     difference     a AND NOT b      (the same block compare, or block skipping / galloping when skewed)
 * Every operation reads plain arrays (em_postings_span_t: pointer and length, borrowed) and writes into
 * a caller-owned growable output (em_postings_t), replacing what it held. The output must not alias an
 * input. Inputs must be strictly increasing: this is not checked (the kernels size their output from it),
 * so lists read from disk are validated with em_postings_is_sorted before they get here.
 *
 * INTERSECTION. The hot operation. Three implementations give identical results:
 *     scalar  a two-pointer merge, branch-free (a three-way branch mispredicts on random data);
 *     SSE4.1  compares a block of 4 refs of each list all-against-all (the 4 rotations of one block),
 *             turns the equality mask into a shuffle that packs the common refs to the front, and stores
 *             4 lanes at once (the output keeps 8 slots of slack for these overlong stores);
 *     AVX2    the same with blocks of 8 (8 rotations, a 256-entry permutation table).
 * After each block comparison the block with the smaller last element advances (both when equal), so
 * every common ref is found exactly once. Tails shorter than a block finish with the scalar merge.
 * When one list is much longer than the other, comparing every block of the long list is wasted work:
 *     skewed AVX2  for each ref x of the short list, skip 32-ref blocks of the long list while their last
 *                  ref is below x (sequential and well predicted), then test x against the block with
 *                  four broadcast compares; after 8 skipped blocks, gallop;
 *     gallop       find each ref of the short list in the long one by exponential then binary search
 *                  from the previous position, O(n_small * log(n_large / n_small)).
 * em_postings_intersect picks once, at first use, the best implementation the CPU supports
 * (__builtin_cpu_supports; the build targets plain x86-64 and the SIMD functions carry
 * __attribute__((target))), and switches on the length ratio (the constants below).
 *
 * THREADS. Pure functions over caller memory: any thread, no shared state except the implementation
 * choice, which is an atomic pointer set once.
 */
#ifndef EMBER_ENGINE_POSTINGS_H
#define EMBER_ENGINE_POSTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length ratios that pick the intersection strategy (measured with bench/engine_postings on 1M refs):
 * from SKEW_RATIO the AVX2 block-skipping kernel, from GALLOP_RATIO (without AVX2) or FAR_RATIO (with it)
 * pure galloping. For difference see em_postings_difference. */
#define EM_POSTINGS_SKEW_RATIO 16
#define EM_POSTINGS_GALLOP_RATIO 16
#define EM_POSTINGS_FAR_RATIO 1024
#define EM_POSTINGS_DIFF_AVX2_GALLOP_RATIO 128

/* Slack kept past n so SIMD kernels may store whole vectors. */
#define EM_POSTINGS_SLACK 8

/* A growable postings list owned by its user. v[0..n) is the content; cap the allocated slots. */
typedef struct em_postings {
    uint32_t *v;
    size_t n, cap;
} em_postings_t;

/* A borrowed, read-only list. */
typedef struct em_postings_span {
    const uint32_t *v;
    size_t n;
} em_postings_span_t;

/* Storage. init leaves an empty list that owns nothing; fini frees and re-inits (safe twice).
 * reserve ensures cap >= n (contents kept); push appends (the caller keeps the order). Thread: owner. */
void em_postings_init(em_postings_t *p);
void em_postings_fini(em_postings_t *p);
void em_postings_reserve(em_postings_t *p, size_t n);
void em_postings_push(em_postings_t *p, uint32_t ref);
/* Replace the contents with a copy of v[0..n). */
void em_postings_assign(em_postings_t *p, const uint32_t *v, size_t n);

static inline em_postings_span_t em_postings_span(const em_postings_t *p)
{
    return (em_postings_span_t){p->v, p->n};
}

/* True when v[0..n) is strictly increasing (validation of input from disk, asserts, tests). Thread: any. */
bool em_postings_is_sorted(const uint32_t *v, size_t n);

/* out = a AND b, with the best implementation for the CPU and the sizes. Thread: any. */
void em_postings_intersect(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, em_postings_t *out);
/* The individual implementations, for tests and benchmarks. The SIMD ones may only be called when
 * em_postings_cpu_has_sse41() / em_postings_cpu_has_avx2() say so. Thread: any (all of this group). */
void em_postings_intersect_scalar(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                  em_postings_t *out);
void em_postings_intersect_gallop(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                  em_postings_t *out);
void em_postings_intersect_sse41(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                 em_postings_t *out);
void em_postings_intersect_avx2(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                em_postings_t *out);
/* AVX2 for skewed sizes: skips 32-ref blocks of the longer list, galloping over long gaps. */
void em_postings_intersect_skewed_avx2(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                       em_postings_t *out);
bool em_postings_cpu_has_sse41(void);
bool em_postings_cpu_has_avx2(void);
/* "avx2", "sse4.1" or "scalar": what em_postings_intersect uses for lists of similar size. */
const char *em_postings_simd_name(void);

/* Does a AND b have at least one element? Stops at the first common ref. Thread: any. */
bool em_postings_intersects(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);

/* out = lists[0] AND ... AND lists[k-1], intersecting the shortest lists first. k == 0 gives the empty
 * list. Thread: any. */
void em_postings_intersect_k(const em_postings_span_t *lists, size_t k, em_postings_t *out);

/* out = a OR b. Thread: any. */
void em_postings_union(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, em_postings_t *out);
/* out = lists[0] OR ... OR lists[k-1]; duplicates across lists appear once. Lists that already follow each
 * other are concatenated; dense inputs (the refs span at most 64 times their count) go through a temporary
 * bitmap, others through a k-way heap merge.
 * Thread: any. */
void em_postings_union_k(const em_postings_span_t *lists, size_t k, em_postings_t *out);

/* out = a AND NOT b. Without AVX2: gallops through whichever list is much longer (GALLOP_RATIO), else
 * merges. With AVX2: a much shorter than b (SKEW_RATIO) uses the block-skipping kernel, a much longer
 * than b (DIFF_AVX2_GALLOP_RATIO) copies the runs between b's refs, found by galloping, and similar sizes
 * use the block compare of the intersection (a block's unmatched lanes are emitted when it advances).
 * Thread: any. */
void em_postings_difference(const uint32_t *a, size_t na, const uint32_t *b, size_t nb, em_postings_t *out);
/* The AVX2 kernels alone (only when em_postings_cpu_has_avx2()), for tests and benchmarks: the block
 * compare, and for a much shorter than b the block-skipping kernel of em_postings_intersect_skewed_avx2. */
void em_postings_difference_avx2(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                 em_postings_t *out);
void em_postings_difference_skewed_avx2(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                        em_postings_t *out);

#endif
