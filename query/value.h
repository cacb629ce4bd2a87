/* query/value.h -- the values PromQL evaluation passes between nodes.
 *
 * DESIGN. As in Prometheus's promql/value.go, every node of an expression evaluates to a matrix: a
 * list of series, each a label set and points (t_ms, v) at the step timestamps of the evaluation (an
 * instant query is a range query with one step). A scalar is a matrix with one series without labels
 * and a point at every step; an instant vector at one step is the set of series having a point there
 * (em_vector_t, gathered step by step). Range vectors (selectors, subqueries) are em_series_t whose
 * points are raw samples rather than step values.
 *
 * 'drop_name' marks a series whose metric name must be removed once evaluation ends (Prometheus's
 * promql-delayed-name-removal); without that feature the evaluator drops names at once and the flag
 * only rides along.
 *
 * OWNERSHIP. Values live in the query's arena (base/arena.h): arrays grow by copying into a bigger
 * arena block (at most twice the final size is ever allocated), label sets are arena copies, nothing is
 * freed before the query ends. Thread: the query's thread only.
 */
#ifndef EMBER_QUERY_VALUE_H
#define EMBER_QUERY_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/arena.h"
#include "engine/labels.h"

typedef struct em_fpoint {
    int64_t t; /* ms */
    double v;
} em_fpoint_t;

typedef struct em_series {
    em_labels_t labels;
    em_fpoint_t *pts;
    size_t n, cap;
    bool drop_name;
} em_series_t;

typedef struct em_matrix {
    em_series_t *v;
    size_t n, cap;
} em_matrix_t;

typedef struct em_sample {
    em_labels_t labels;
    int64_t t; /* the step time (or the raw sample time where a function needs it) */
    double v;
    uint32_t src; /* index of the input series it came from */
    bool drop_name;
} em_sample_t;

typedef struct em_vector {
    em_sample_t *v;
    size_t n, cap;
} em_vector_t;

/* Grow an arena array of 'elem' bytes per item so that one more item fits. */
static inline void *em_value_grow(em_arena_t *a, void *p, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return p;
    size_t nc = *cap ? *cap * 2 : 4;
    void *np = em_arena_alloc(a, nc * elem);
    if (n)
        memcpy(np, p, n * elem);
    *cap = nc;
    return np;
}

static inline void em_series_push(em_arena_t *a, em_series_t *s, int64_t t, double v)
{
    s->pts = (em_fpoint_t *)em_value_grow(a, s->pts, s->n, &s->cap, sizeof *s->pts);
    s->pts[s->n].t = t;
    s->pts[s->n].v = v;
    s->n++;
}

/* Append a zeroed series and return it (valid until the next push onto the matrix). */
static inline em_series_t *em_matrix_push(em_arena_t *a, em_matrix_t *m)
{
    m->v = (em_series_t *)em_value_grow(a, m->v, m->n, &m->cap, sizeof *m->v);
    memset(&m->v[m->n], 0, sizeof m->v[0]);
    return &m->v[m->n++];
}

static inline em_sample_t *em_vector_push(em_arena_t *a, em_vector_t *vec)
{
    vec->v = (em_sample_t *)em_value_grow(a, vec->v, vec->n, &vec->cap, sizeof *vec->v);
    memset(&vec->v[vec->n], 0, sizeof vec->v[0]);
    return &vec->v[vec->n++];
}

#endif
