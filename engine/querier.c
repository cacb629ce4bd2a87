/* Design: see querier.h */
#include "engine/querier.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/urcu-memb.h>

#include "base/mem.h"

/* ---- the empty set ---- */

static int empty_next(em_series_set_t *s)
{
    return EM_DONE;
}

static em_labels_t empty_labels(em_series_set_t *s)
{
    return (em_labels_t){NULL, 0};
}

static int empty_samples(em_series_set_t *s, em_sample_iter_t **out)
{
    return EM_ESTATE;
}

static int empty_chunks(em_series_set_t *s, em_chunk_iter_t **out)
{
    return EM_ESTATE;
}

static const char *empty_err(em_series_set_t *s)
{
    return NULL;
}

static void empty_close(em_series_set_t *s)
{
}

static const em_series_set_ops_t empty_ops = {empty_next, empty_labels, empty_samples,
                                              empty_chunks, empty_err,    empty_close};
static em_series_set_t empty_set = {&empty_ops};

em_series_set_t *em_series_set_empty(void)
{
    return &empty_set;
}

/* ---- string lists ---- */

void em_strlist_init(em_strlist_t *l)
{
    l->v = NULL;
    l->n = l->cap = 0;
}

void em_strlist_fini(em_strlist_t *l)
{
    free(l->v);
    em_strlist_init(l);
}

void em_strlist_add(em_strlist_t *l, const char *s)
{
    em_grow((void **)&l->v, &l->cap, l->n + 1, sizeof(char *));
    l->v[l->n++] = s;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void em_strlist_sort_unique(em_strlist_t *l)
{
    if (l->n < 2)
        return;
    em_qsort(l->v, l->n, sizeof(char *), str_cmp);
    size_t w = 1;
    for (size_t r = 1; r < l->n; r++)
        if (strcmp(l->v[r], l->v[w - 1]) != 0)
            l->v[w++] = l->v[r];
    l->n = w;
}

/* ---- RCU ---- */

/* Registration is idempotent and undone automatically when the thread exits, so any thread may read
 * storage without bookkeeping of its own. */
static pthread_key_t rcu_key;
static pthread_once_t rcu_key_once = PTHREAD_ONCE_INIT;
static _Thread_local bool rcu_registered;

static void rcu_thread_exit(void *arg)
{
    if (rcu_registered) {
        urcu_memb_unregister_thread();
        rcu_registered = false;
    }
}

static void rcu_key_init(void)
{
    pthread_key_create(&rcu_key, rcu_thread_exit);
}

void em_rcu_thread_online(void)
{
    if (rcu_registered)
        return;
    pthread_once(&rcu_key_once, rcu_key_init);
    urcu_memb_register_thread();
    rcu_registered = true;
    pthread_setspecific(rcu_key, (void *)1);
}

void em_rcu_thread_offline(void)
{
    if (!rcu_registered)
        return;
    urcu_memb_unregister_thread();
    rcu_registered = false;
    pthread_setspecific(rcu_key, NULL);
}
