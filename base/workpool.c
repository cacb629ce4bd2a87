/* Design: see workpool.h */
#include "base/workpool.h"
#include "base/mem.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct job {
    em_work_fn fn;
    void *arg;
} job_t;

struct em_workpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *ring; /* guarded by mu */
    size_t cap, head, len; /* guarded by mu */
    bool stopping;         /* guarded by mu */
    pthread_t *threads;
    int n_threads;
    void (*thread_init)(void);
    void (*thread_fini)(void);
    char name[16];
};

static void *worker(void *arg)
{
    em_workpool_t *p = arg;
    if (p->thread_init)
        p->thread_init();
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->len == 0 && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->len == 0 && p->stopping)
            break;
        job_t j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        pthread_mutex_unlock(&p->mu);
        j.fn(j.arg);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    if (p->thread_fini)
        p->thread_fini();
    return NULL;
}

em_workpool_t *em_workpool_new(const char *name, int n_threads, size_t queue_cap, void (*thread_init)(void),
                               void (*thread_fini)(void))
{
    em_workpool_t *p = EM_NEW(em_workpool_t);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->cap = queue_cap ? queue_cap : 1;
    p->ring = em_calloc(p->cap, sizeof(job_t));
    p->n_threads = n_threads > 0 ? n_threads : 1;
    p->threads = em_calloc((size_t)p->n_threads, sizeof(pthread_t));
    p->thread_init = thread_init;
    p->thread_fini = thread_fini;
    snprintf(p->name, sizeof(p->name), "ember-%s", name);
    for (int i = 0; i < p->n_threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            fprintf(stderr, "ember: fatal: cannot start thread for %s\n", p->name);
            abort();
        }
        pthread_setname_np(p->threads[i], p->name);
    }
    return p;
}

int em_workpool_submit(em_workpool_t *p, em_work_fn fn, void *arg)
{
    int rc = EM_OK;
    pthread_mutex_lock(&p->mu);
    if (p->stopping) {
        rc = EM_ESTATE;
    } else if (p->len == p->cap) {
        rc = EM_EBUSY;
    } else {
        p->ring[(p->head + p->len) % p->cap] = (job_t){fn, arg};
        p->len++;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

size_t em_workpool_queued(em_workpool_t *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->len;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void em_workpool_free(em_workpool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->ring);
    free(p->threads);
    free(p);
}
