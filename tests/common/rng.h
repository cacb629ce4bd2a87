/* tests/common/rng.h -- a small deterministic generator (xorshift64*) for tests that want reproducible
 * random data. One generator per test file (static state): seed it at the start of each test. */
#ifndef EMBER_TESTS_COMMON_RNG_H
#define EMBER_TESTS_COMMON_RNG_H

#include <stdint.h>

static uint64_t rng_state;

static inline void rng_seed(uint64_t s)
{
    rng_state = s * 0x9e3779b97f4a7c15ull + 1;
}

static inline uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

#endif
