/* SSE4.1 and AVX2 intersection kernels. Design: see postings.h
 *
 * The build targets baseline x86-64, so these functions carry __attribute__((target)) and are only called
 * after __builtin_cpu_supports said yes (postings.c). Each kernel compares one block of a against one block
 * of b all-against-all: the block of b is rotated through every lane position, so lane i of the equality
 * mask says "a's lane i occurs somewhere in b's block". A table maps the mask to a shuffle that packs the
 * matching lanes of a to the front; the whole vector is stored (the output keeps EM_POSTINGS_SLACK spare
 * slots) and the output length advances by the mask's population count. The block whose last element is
 * smaller advances (both when equal): that element cannot match anything further on in the other list.
 */
#include "engine/postings.h"

#include <immintrin.h>
#include <stdbool.h>
#include <pthread.h>

#include "engine/postings_int.h"

/* SSE: pshufb byte indices for each 4-bit mask; AVX2: vpermd lane indices for each 8-bit mask. */
static uint8_t sse_shuf[16][16];
static uint32_t avx_perm[256][8];
static uint8_t popcount8[256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    for (unsigned m = 0; m < 256; m++) {
        unsigned k = 0;
        for (unsigned lane = 0; lane < 8; lane++)
            if (m & (1u << lane))
                avx_perm[m][k++] = lane;
        popcount8[m] = (uint8_t)k;
        for (; k < 8; k++)
            avx_perm[m][k] = 0;
    }
    for (unsigned m = 0; m < 16; m++) {
        unsigned k = 0;
        for (unsigned lane = 0; lane < 4; lane++)
            if (m & (1u << lane)) {
                for (unsigned byte = 0; byte < 4; byte++)
                    sse_shuf[m][4 * k + byte] = (uint8_t)(4 * lane + byte);
                k++;
            }
        for (; k < 4; k++)
            for (unsigned byte = 0; byte < 4; byte++)
                sse_shuf[m][4 * k + byte] = 0x80; /* zero the unused lanes */
    }
}

/* The 8x8 all-against-all compare of the intersection kernel: bit i says a's lane i occurs in b's block. */
__attribute__((target("avx2"))) static inline unsigned avx2_block_mask(__m256i va, __m256i vb)
{
    __m256i vs = _mm256_permute2x128_si256(vb, vb, 1);
    __m256i e0 = _mm256_or_si256(_mm256_cmpeq_epi32(va, vb),
                                 _mm256_cmpeq_epi32(va, _mm256_shuffle_epi32(vb, _MM_SHUFFLE(0, 3, 2, 1))));
    __m256i e1 = _mm256_or_si256(_mm256_cmpeq_epi32(va, _mm256_shuffle_epi32(vb, _MM_SHUFFLE(1, 0, 3, 2))),
                                 _mm256_cmpeq_epi32(va, _mm256_shuffle_epi32(vb, _MM_SHUFFLE(2, 1, 0, 3))));
    __m256i e2 = _mm256_or_si256(_mm256_cmpeq_epi32(va, vs),
                                 _mm256_cmpeq_epi32(va, _mm256_shuffle_epi32(vs, _MM_SHUFFLE(0, 3, 2, 1))));
    __m256i e3 = _mm256_or_si256(_mm256_cmpeq_epi32(va, _mm256_shuffle_epi32(vs, _MM_SHUFFLE(1, 0, 3, 2))),
                                 _mm256_cmpeq_epi32(va, _mm256_shuffle_epi32(vs, _MM_SHUFFLE(2, 1, 0, 3))));
    __m256i eq = _mm256_or_si256(_mm256_or_si256(e0, e1), _mm256_or_si256(e2, e3));
    return (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(eq));
}

/* a AND NOT b. A block of a may meet several blocks of b, so the lanes found so far accumulate in 'found'
 * and the block's other lanes are emitted only when it advances. */
__attribute__((target("avx2"))) static size_t avx2_diff_kernel(const uint32_t *a, size_t na,
                                                               const uint32_t *b, size_t nb, uint32_t *out)
{
    size_t i = 0, j = 0, k = 0;
    unsigned found = 0;
    while (i + 8 <= na && j + 8 <= nb) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i vb = _mm256_loadu_si256((const __m256i *)(b + j));
        found |= avx2_block_mask(va, vb);
        uint32_t amax = a[i + 7], bmax = b[j + 7];
        bool adv_a = amax <= bmax, adv_b = bmax <= amax;
        unsigned emit = adv_a ? ~found & 0xff : 0;
        __m256i packed = _mm256_permutevar8x32_epi32(va, _mm256_loadu_si256((const __m256i *)avx_perm[emit]));
        _mm256_storeu_si256((__m256i *)(out + k), packed);
        k += popcount8[emit];
        found = adv_a ? 0 : found;
        i += adv_a ? 8 : 0;
        j += adv_b ? 8 : 0;
    }
    if (found) {
        /* b ran short in the middle of a's block: finish the block against the rest of b by hand. */
        for (unsigned lane = 0; lane < 8; lane++) {
            uint32_t x = a[i + lane];
            if (found & (1u << lane))
                continue;
            while (j < nb && b[j] < x)
                j++;
            if (j < nb && b[j] == x)
                j++;
            else
                out[k++] = x;
        }
        i += 8;
    }
    while (i < na && j < nb) {
        uint32_t x = a[i], y = b[j];
        out[k] = x;
        k += x < y;
        i += x <= y;
        j += y <= x;
    }
    while (i < na)
        out[k++] = a[i++];
    return k;
}

__attribute__((target("sse4.1"))) static size_t sse41_kernel(const uint32_t *a, size_t na, const uint32_t *b,
                                                             size_t nb, uint32_t *out)
{
    size_t i = 0, j = 0, k = 0;
    while (i + 4 <= na && j + 4 <= nb) {
        __m128i va = _mm_loadu_si128((const __m128i *)(a + i));
        __m128i vb = _mm_loadu_si128((const __m128i *)(b + j));
        __m128i eq =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi32(va, vb),
                                      _mm_cmpeq_epi32(va, _mm_shuffle_epi32(vb, _MM_SHUFFLE(0, 3, 2, 1)))),
                         _mm_or_si128(_mm_cmpeq_epi32(va, _mm_shuffle_epi32(vb, _MM_SHUFFLE(1, 0, 3, 2))),
                                      _mm_cmpeq_epi32(va, _mm_shuffle_epi32(vb, _MM_SHUFFLE(2, 1, 0, 3)))));
        unsigned mask = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(eq));
        __m128i packed = _mm_shuffle_epi8(va, _mm_loadu_si128((const __m128i *)sse_shuf[mask]));
        _mm_storeu_si128((__m128i *)(out + k), packed);
        k += popcount8[mask];
        uint32_t amax = a[i + 3], bmax = b[j + 3];
        i += amax <= bmax ? 4 : 0;
        j += bmax <= amax ? 4 : 0;
    }
    return em_postings_merge_tail_int(a, i, na, b, j, nb, out, k);
}

__attribute__((target("avx2"))) static size_t avx2_kernel(const uint32_t *a, size_t na, const uint32_t *b,
                                                          size_t nb, uint32_t *out)
{
    size_t i = 0, j = 0, k = 0;
    while (i + 8 <= na && j + 8 <= nb) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(a + i));
        __m256i vb = _mm256_loadu_si256((const __m256i *)(b + j));
        unsigned mask = avx2_block_mask(va, vb);
        __m256i packed = _mm256_permutevar8x32_epi32(va, _mm256_loadu_si256((const __m256i *)avx_perm[mask]));
        _mm256_storeu_si256((__m256i *)(out + k), packed);
        k += popcount8[mask];
        uint32_t amax = a[i + 7], bmax = b[j + 7];
        i += amax <= bmax ? 8 : 0;
        j += bmax <= amax ? 8 : 0;
    }
    return em_postings_merge_tail_int(a, i, na, b, j, nb, out, k);
}

/* Skewed sizes: for each ref x of the short list, skip whole 32-ref blocks of the long list while their
 * last element is below x (a predictable loop over sequential memory), then look for x in the block with
 * four broadcast compares. After EM_SKIP_BLOCKS blocks without reaching x the gap is large: gallop. */
#define EM_SKIP_BLOCKS 8

/* With 'keep_found' it emits the refs of s found in l (intersection), otherwise those not found
 * (difference s AND NOT l). */
__attribute__((target("avx2"), always_inline)) static inline size_t
avx2_skewed_kernel(const uint32_t *s, size_t ns, const uint32_t *l, size_t nl, uint32_t *out, bool keep_found)
{
    size_t k = 0, pos = 0, i = 0;
    for (; i < ns; i++) {
        uint32_t x = s[i];
        int skipped = 0;
        while (pos + 32 <= nl && l[pos + 31] < x && skipped < EM_SKIP_BLOCKS) {
            pos += 32;
            skipped++;
        }
        if (skipped == EM_SKIP_BLOCKS && pos + 32 <= nl && l[pos + 31] < x)
            pos = em_postings_gallop_int(l, pos, nl, x) & ~(size_t)31;
        if (pos + 32 > nl)
            break;
        __m256i vx = _mm256_set1_epi32((int)x);
        const __m256i *blk = (const __m256i *)(l + pos);
        __m256i eq = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi32(vx, _mm256_loadu_si256(blk)),
                                                     _mm256_cmpeq_epi32(vx, _mm256_loadu_si256(blk + 1))),
                                     _mm256_or_si256(_mm256_cmpeq_epi32(vx, _mm256_loadu_si256(blk + 2)),
                                                     _mm256_cmpeq_epi32(vx, _mm256_loadu_si256(blk + 3))));
        out[k] = x;
        k += !_mm256_testz_si256(eq, eq) == keep_found;
    }
    /* The rest of the long list is shorter than a block. */
    for (; i < ns; i++) {
        pos = em_postings_gallop_int(l, pos, nl, s[i]);
        bool found = pos < nl && l[pos] == s[i];
        if (found == keep_found)
            out[k++] = s[i];
    }
    return k;
}

/* Instantiations of the skewed kernel with its mode fixed, so each loop is compiled without the flag. */
__attribute__((target("avx2"))) static size_t avx2_skewed_isect(const uint32_t *s, size_t ns,
                                                                const uint32_t *l, size_t nl, uint32_t *out)
{
    return avx2_skewed_kernel(s, ns, l, nl, out, true);
}

__attribute__((target("avx2"))) static size_t avx2_skewed_diff(const uint32_t *s, size_t ns,
                                                               const uint32_t *l, size_t nl, uint32_t *out)
{
    return avx2_skewed_kernel(s, ns, l, nl, out, false);
}

void em_postings_intersect_sse41(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                 em_postings_t *out)
{
    pthread_once(&tables_once, build_tables);
    em_postings_reserve(out, (na < nb ? na : nb) + EM_POSTINGS_SLACK);
    out->n = sse41_kernel(a, na, b, nb, out->v);
}

void em_postings_intersect_avx2(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                em_postings_t *out)
{
    pthread_once(&tables_once, build_tables);
    em_postings_reserve(out, (na < nb ? na : nb) + EM_POSTINGS_SLACK);
    out->n = avx2_kernel(a, na, b, nb, out->v);
}

void em_postings_intersect_skewed_avx2(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                       em_postings_t *out)
{
    em_postings_reserve(out, (na < nb ? na : nb) + EM_POSTINGS_SLACK);
    out->n = na <= nb ? avx2_skewed_isect(a, na, b, nb, out->v) : avx2_skewed_isect(b, nb, a, na, out->v);
}

void em_postings_difference_avx2(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                 em_postings_t *out)
{
    pthread_once(&tables_once, build_tables);
    em_postings_reserve(out, na + EM_POSTINGS_SLACK);
    out->n = avx2_diff_kernel(a, na, b, nb, out->v);
}

void em_postings_difference_skewed_avx2(const uint32_t *a, size_t na, const uint32_t *b, size_t nb,
                                        em_postings_t *out)
{
    em_postings_reserve(out, na + EM_POSTINGS_SLACK);
    out->n = avx2_skewed_diff(a, na, b, nb, out->v);
}
