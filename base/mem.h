/* base/mem.h -- allocation that never returns NULL.
 *
 * DESIGN. As in h2o, running out of memory is not an error path we thread through every caller: these
 * wrappers print one line and abort. Input-driven sizes are bounded before they reach an allocator
 * (EM_ELIMIT), so an abort here means the machine really is out of memory.
 */
#ifndef EMBER_BASE_MEM_H
#define EMBER_BASE_MEM_H

#include <stddef.h>
#include <stdlib.h>

/* Thread: any. Never return NULL (em_malloc(0) returns a unique pointer). */
void *em_malloc(size_t n);
void *em_calloc(size_t nmemb, size_t size);
void *em_realloc(void *p, size_t n);
char *em_strdup(const char *s);
char *em_strndup(const char *s, size_t n);
/* Grow-by-doubling helper: ensure *cap >= need, reallocating *p (element size 'elem'). */
void em_grow(void **p, size_t *cap, size_t need, size_t elem);

/* qsort for arrays that may be empty: qsort(NULL, 0, ...) is undefined behaviour (its pointer must be
 * valid even for no elements), which UBSan reports. */
static inline void em_qsort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(base, n, size, cmp);
}

#define EM_NEW(type) ((type *)em_calloc(1, sizeof(type)))
#define EM_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
