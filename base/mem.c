/* Design: see mem.h */
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "ember: fatal: out of memory allocating %zu bytes\n", n);
    abort();
}

void *em_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *em_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *em_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *em_strdup(const char *s)
{
    return em_strndup(s, strlen(s));
}

char *em_strndup(const char *s, size_t n)
{
    char *p = em_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void em_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 8;
    while (c < need)
        c *= 2;
    *p = em_realloc(*p, c * elem);
    *cap = c;
}
