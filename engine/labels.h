/* engine/labels.h -- label sets: the identity of a series.
 *
 * DESIGN. A series is identified by its labels: name/value pairs sorted by name, names unique,
 * '__name__' holding the metric name (Prometheus's data model). em_labels_t is a view: an array of
 * em_label_t whose strings are NUL-terminated and owned by someone else (an arena, the head's symbol
 * table, a request's pool); the comment at each producer says until when they stay valid.
 *
 * ORDER AND HASH. em_labels_cmp orders label sets as Prometheus's labels.Compare does (pairwise by
 * name, then value; a prefix sorts first), which is the order of series in blocks and in select()
 * results. em_labels_hash is XXH3 over name 0xff value 0xff ..., stable across restarts: it decides a
 * series' shard.
 *
 * VALIDITY. Label names match [a-zA-Z_][a-zA-Z0-9_]* and values are valid UTF-8 (the rules Prometheus
 * enforces for scraped and remote-written data); names starting with "__" are reserved for internal use
 * and are dropped after relabelling, except __name__.
 */
#ifndef EMBER_ENGINE_LABELS_H
#define EMBER_ENGINE_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"

#define EM_METRIC_NAME "__name__"

typedef struct em_label {
    const char *name;
    const char *value;
} em_label_t;

typedef struct em_labels {
    const em_label_t *v;
    size_t n;
} em_labels_t;

/* Thread: any (pure functions). */
uint64_t em_labels_hash(const em_labels_t *ls);
/* Hash of the labels with the given names left out ('without') or kept ('on'); the lists need not be
 * sorted. Used by PromQL grouping. */
uint64_t em_labels_hash_subset(const em_labels_t *ls, const char *const *names, size_t n_names, bool without);
int em_labels_cmp(const em_labels_t *a, const em_labels_t *b);
bool em_labels_equal(const em_labels_t *a, const em_labels_t *b);
/* The value of 'name', or NULL when absent. Binary search (labels are sorted). */
const char *em_labels_get(const em_labels_t *ls, const char *name);
/* Sort in place by name (the array must be writable). */
void em_labels_sort(em_label_t *v, size_t n);

bool em_label_name_valid(const char *s, size_t n);
bool em_utf8_valid(const char *s, size_t n);
/* Check names are valid, sorted and unique, values valid UTF-8 and non-empty (an empty value means
 * "label absent" in Prometheus and is never stored). Returns EM_OK or EM_EINVAL with a message naming the
 * label. */
int em_labels_validate(const em_labels_t *ls, em_err_t *err);

/* Copy the label set and its strings into 'a'. The result lives as long as the arena. */
em_labels_t em_labels_copy(const em_labels_t *ls, em_arena_t *a);

/* Append the Prometheus text form: {__name__="up", job="node"} (Go's labels.String), with Go-style
 * quoting of values. */
void em_labels_format(const em_labels_t *ls, em_buf_t *out);
/* The exposition form: up{job="node"} (metric name outside the braces, no spaces). */
void em_labels_format_metric(const em_labels_t *ls, em_buf_t *out);

/* A mutable set used to build label sets (relabelling, PromQL functions): set/delete by name, then
 * em_labels_builder_labels produces a sorted view. Strings are borrowed (not copied): keep them alive
 * until the result has been copied. */
typedef struct em_labels_builder {
    em_label_t *v;
    size_t n, cap;
} em_labels_builder_t;

void em_labels_builder_init(em_labels_builder_t *b, const em_labels_t *base);
void em_labels_builder_fini(em_labels_builder_t *b);
void em_labels_builder_reset(em_labels_builder_t *b, const em_labels_t *base);
/* Set name=value; an empty value deletes the label (Prometheus semantics). */
void em_labels_builder_set(em_labels_builder_t *b, const char *name, const char *value);
void em_labels_builder_del(em_labels_builder_t *b, const char *name);
const char *em_labels_builder_get(const em_labels_builder_t *b, const char *name);
/* Sorted view of the current contents; valid until the next change to the builder. */
em_labels_t em_labels_builder_labels(em_labels_builder_t *b);

#endif
