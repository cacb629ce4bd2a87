/* base/hash.h -- the two hashes Ember uses: xxHash3 (hash tables, sharding) and CRC32C (checksums).
 *
 * DESIGN. em_hash64 is XXH3-64 from libxxhash. em_crc32c is CRC-32 with the Castagnoli polynomial, the
 * checksum of Prometheus's WAL records, chunk files, index sections and remote-read frames; it uses the
 * SSE4.2 crc32 instruction when the CPU has it (checked once at run time) and a slicing table otherwise.
 * Values equal Go's crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)).
 */
#ifndef EMBER_BASE_HASH_H
#define EMBER_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Thread: any. */
uint64_t em_hash64(const void *p, size_t n);
uint64_t em_hash64_seed(const void *p, size_t n, uint64_t seed);

/* Continue a CRC32C: em_crc32c(0, p, n) checksums p; em_crc32c(em_crc32c(0, a, x), b, y) equals the
 * checksum of a and b concatenated (Go's crc32.Update). Thread: any. */
uint32_t em_crc32c(uint32_t crc, const void *p, size_t n);
/* The software path alone, for tests that compare both. */
uint32_t em_crc32c_sw(uint32_t crc, const void *p, size_t n);

#endif
