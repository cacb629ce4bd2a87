/* engine/postings_int.h -- helpers shared by postings.c and postings_simd.c. Design: see postings.h */
#ifndef EMBER_ENGINE_POSTINGS_INT_H
#define EMBER_ENGINE_POSTINGS_INT_H

#include <stddef.h>
#include <stdint.h>

/* The first index p in [lo, n) with v[p] >= x, or n: exponential search from lo, then binary search. */
size_t em_postings_gallop_int(const uint32_t *v, size_t lo, size_t n, uint32_t x);

/* Scalar merge of a[i..na) and b[j..nb), appending common elements at out[k..]; returns the new k. */
size_t em_postings_merge_tail_int(const uint32_t *a, size_t i, size_t na, const uint32_t *b, size_t j,
                                  size_t nb, uint32_t *out, size_t k);

#endif
