/* Design: see metastore.h */
#include "ingest/metastore.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/mem.h"
#include "base/metrics.h"

typedef struct entry {
    char *type, *help, *unit;
} entry_t;

typedef struct family {
    char *name;
    entry_t e[EM_METASTORE_MAX_PER_FAMILY]; /* e[0] newest */
    size_t n;
} family_t;

struct em_metastore {
    pthread_mutex_t mu;
    family_t **slots; /* open addressing by name hash; Locks: mu */
    size_t cap, n;
    em_counter_t *dropped;
};

em_metastore_t *em_metastore_new(void)
{
    em_metastore_t *m = EM_NEW(em_metastore_t);
    pthread_mutex_init(&m->mu, NULL);
    m->cap = 1024;
    m->slots = em_calloc(m->cap, sizeof(family_t *));
    m->dropped = em_counter_new("ember_metadata_families_dropped_total",
                                "Metric families whose metadata was dropped because the store was full.", NULL);
    return m;
}

static void entry_free(entry_t *e)
{
    free(e->type);
    free(e->help);
    free(e->unit);
}

void em_metastore_free(em_metastore_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++) {
        family_t *f = m->slots[i];
        if (!f)
            continue;
        for (size_t k = 0; k < f->n; k++)
            entry_free(&f->e[k]);
        free(f->name);
        free(f);
    }
    free(m->slots);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* Locks: requires mu. */
static family_t **find_slot(em_metastore_t *m, const char *name)
{
    size_t mask = m->cap - 1, i = em_hash64(name, strlen(name)) & mask;
    while (m->slots[i] && strcmp(m->slots[i]->name, name) != 0)
        i = (i + 1) & mask;
    return &m->slots[i];
}

static void grow(em_metastore_t *m)
{
    family_t **old = m->slots;
    size_t old_cap = m->cap;
    m->cap *= 2;
    m->slots = em_calloc(m->cap, sizeof(family_t *));
    for (size_t i = 0; i < old_cap; i++)
        if (old[i])
            *find_slot(m, old[i]->name) = old[i];
    free(old);
}

void em_metastore_add(em_metastore_t *m, const char *family, const char *type, const char *help, const char *unit)
{
    if (!family || !family[0])
        return;
    pthread_mutex_lock(&m->mu);
    family_t **slot = find_slot(m, family);
    family_t *f = *slot;
    if (!f) {
        if (m->n >= EM_METASTORE_MAX_FAMILIES) {
            em_counter_inc(m->dropped);
            goto out;
        }
        f = EM_NEW(family_t);
        f->name = em_strdup(family);
        *slot = f;
        if (++m->n * 10 > m->cap * 7)
            grow(m);
    }
    for (size_t k = 0; k < f->n; k++) {
        entry_t *e = &f->e[k];
        if (strcmp(e->type, type) == 0 && strcmp(e->help, help) == 0 && strcmp(e->unit, unit) == 0) {
            /* Seen before: move it to the front (newest first). */
            entry_t keep = *e;
            memmove(&f->e[1], &f->e[0], sizeof(entry_t) * k);
            f->e[0] = keep;
            goto out;
        }
    }
    if (f->n == EM_METASTORE_MAX_PER_FAMILY)
        entry_free(&f->e[--f->n]);
    memmove(&f->e[1], &f->e[0], sizeof(entry_t) * f->n);
    f->e[0] = (entry_t){em_strdup(type), em_strdup(help), em_strdup(unit)};
    f->n++;
out:
    pthread_mutex_unlock(&m->mu);
}

static int cmp_family(const void *a, const void *b)
{
    return strcmp((*(family_t *const *)a)->name, (*(family_t *const *)b)->name);
}

void em_metastore_json(em_metastore_t *m, const char *metric, long limit, long limit_per_metric, em_buf_t *out)
{
    pthread_mutex_lock(&m->mu);
    family_t **v = em_malloc(sizeof(family_t *) * (m->n ? m->n : 1));
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i] && (!metric || strcmp(m->slots[i]->name, metric) == 0))
            v[n++] = m->slots[i];
    em_qsort(v, n, sizeof(family_t *), cmp_family);
    em_buf_putc(out, '{');
    for (size_t i = 0; i < n && (limit < 0 || (long)i < limit); i++) {
        family_t *f = v[i];
        if (i)
            em_buf_putc(out, ',');
        em_buf_put_json_str(out, f->name, strlen(f->name));
        em_buf_puts(out, ":[");
        for (size_t k = 0; k < f->n && (limit_per_metric < 0 || (long)k < limit_per_metric); k++) {
            if (k)
                em_buf_putc(out, ',');
            em_buf_puts(out, "{\"type\":");
            em_buf_put_json_str(out, f->e[k].type, strlen(f->e[k].type));
            em_buf_puts(out, ",\"help\":");
            em_buf_put_json_str(out, f->e[k].help, strlen(f->e[k].help));
            em_buf_puts(out, ",\"unit\":");
            em_buf_put_json_str(out, f->e[k].unit, strlen(f->e[k].unit));
            em_buf_putc(out, '}');
        }
        em_buf_putc(out, ']');
    }
    em_buf_putc(out, '}');
    free(v);
    pthread_mutex_unlock(&m->mu);
}

size_t em_metastore_families(em_metastore_t *m)
{
    pthread_mutex_lock(&m->mu);
    size_t n = m->n;
    pthread_mutex_unlock(&m->mu);
    return n;
}
