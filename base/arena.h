/* base/arena.h -- a bump allocator for many small allocations freed together.
 *
 * DESIGN. Memory comes in blocks (4 KiB at first, doubling up to 1 MiB, or one block per oversize
 * request); em_arena_alloc hands out 16-byte aligned pieces and never frees them one by one.
 * em_arena_reset keeps the first block for reuse, so a per-request or per-scrape arena reaches a
 * steady state with no malloc at all; em_arena_rewind keeps more (a budget of bytes) for arenas whose
 * working set is large (query evaluation). Not thread-safe: one owner at a time.
 */
#ifndef EMBER_BASE_ARENA_H
#define EMBER_BASE_ARENA_H

#include <stddef.h>

typedef struct em_arena_block em_arena_block_t;

typedef struct em_arena {
    em_arena_block_t *head; /* newest block first */
    size_t next_size;
    size_t total_bytes;      /* bytes of blocks held */
    em_arena_block_t *spare; /* blocks kept by em_arena_rewind, reused before calling malloc */
} em_arena_t;

void em_arena_init(em_arena_t *a);
void em_arena_fini(em_arena_t *a);
/* Free everything allocated; keeps one block for reuse. */
void em_arena_reset(em_arena_t *a);
/* Free everything allocated but keep up to keep_bytes of blocks (largest first) for later allocations,
 * so a long-lived scratch arena stops touching fresh pages once it has seen its working set. */
void em_arena_rewind(em_arena_t *a, size_t keep_bytes);
/* Never returns NULL (aborts on out of memory). Valid until reset or fini. */
void *em_arena_alloc(em_arena_t *a, size_t n);
char *em_arena_strndup(em_arena_t *a, const char *s, size_t n);
char *em_arena_strdup(em_arena_t *a, const char *s);

#endif
