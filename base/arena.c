/* Design: see arena.h */
#include "base/arena.h"
#include "base/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct em_arena_block {
    em_arena_block_t *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    _Alignas(16) unsigned char data[];
};

#define ARENA_MIN 4096
#define ARENA_MAX (1u << 20)

void em_arena_init(em_arena_t *a)
{
    a->head = NULL;
    a->next_size = ARENA_MIN;
    a->total_bytes = 0;
}

void em_arena_fini(em_arena_t *a)
{
    em_arena_block_t *b = a->head;
    while (b) {
        em_arena_block_t *n = b->next;
        free(b);
        b = n;
    }
    em_arena_init(a);
}

void em_arena_reset(em_arena_t *a)
{
    if (!a->head)
        return;
    /* Keep the largest block (the newest) and free the rest. */
    em_arena_block_t *keep = a->head, *b = keep->next;
    while (b) {
        em_arena_block_t *n = b->next;
        free(b);
        b = n;
    }
    keep->next = NULL;
    keep->used = 0;
    a->head = keep;
    a->total_bytes = keep->size;
}

void *em_arena_alloc(em_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    em_arena_block_t *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t sz = a->next_size;
        if (sz < n)
            sz = n;
        b = em_malloc(sizeof(*b) + sz);
        b->size = sz;
        b->used = 0;
        b->next = a->head;
        a->head = b;
        a->total_bytes += sz;
        if (a->next_size < ARENA_MAX)
            a->next_size *= 2;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

char *em_arena_strndup(em_arena_t *a, const char *s, size_t n)
{
    char *p = em_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *em_arena_strdup(em_arena_t *a, const char *s)
{
    return em_arena_strndup(a, s, strlen(s));
}
