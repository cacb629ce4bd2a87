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
    a->spare = NULL;
}

static void free_list(em_arena_block_t *b)
{
    while (b) {
        em_arena_block_t *n = b->next;
        free(b);
        b = n;
    }
}

void em_arena_fini(em_arena_t *a)
{
    free_list(a->head);
    free_list(a->spare);
    em_arena_init(a);
}

static int cmp_block_size_desc(const void *x, const void *y)
{
    size_t a = (*(em_arena_block_t *const *)x)->size, b = (*(em_arena_block_t *const *)y)->size;
    return a > b ? -1 : a < b;
}

void em_arena_rewind(em_arena_t *a, size_t keep_bytes)
{
    size_t n = 0;
    for (em_arena_block_t *b = a->head; b; b = b->next)
        n++;
    for (em_arena_block_t *b = a->spare; b; b = b->next)
        n++;
    if (n == 0)
        return;
    em_arena_block_t **all = em_malloc(n * sizeof *all);
    size_t k = 0;
    for (em_arena_block_t *b = a->head; b; b = b->next)
        all[k++] = b;
    for (em_arena_block_t *b = a->spare; b; b = b->next)
        all[k++] = b;
    em_qsort(all, n, sizeof *all, cmp_block_size_desc);
    a->head = NULL;
    a->spare = NULL;
    a->total_bytes = 0;
    size_t kept = 0;
    em_arena_block_t **tail = &a->spare;
    for (size_t i = 0; i < n; i++) {
        if (kept + all[i]->size <= keep_bytes) {
            kept += all[i]->size;
            all[i]->used = 0;
            all[i]->next = NULL;
            *tail = all[i];
            tail = &all[i]->next;
            a->total_bytes += all[i]->size;
        } else {
            free(all[i]);
        }
    }
    free(all);
}

/* A spare block with room for n bytes (the spare list is sorted largest first), or NULL. */
static em_arena_block_t *take_spare(em_arena_t *a, size_t n)
{
    em_arena_block_t **pp = &a->spare, *best = NULL, **best_pp = NULL;
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->size < n)
            break;
        best = *pp;
        best_pp = pp;
    }
    if (!best)
        return NULL;
    *best_pp = best->next; /* the smallest block that fits */
    return best;
}

void em_arena_reset(em_arena_t *a)
{
    free_list(a->spare);
    a->spare = NULL;
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
    if ((!b || b->size - b->used < n) && a->spare && (b = take_spare(a, n)) != NULL) {
        b->next = a->head;
        a->head = b;
    } else if (!b || b->size - b->used < n) {
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
