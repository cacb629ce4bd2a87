/* base/workpool.h -- a fixed set of threads running queued jobs, with a bounded queue.
 *
 * DESIGN. Long work (query evaluation, request decoding) never runs on an event-loop thread: the loop
 * submits a job here and is told when it is done. The queue is bounded: em_workpool_submit returns
 * EM_EBUSY when it is full, so overload is refused at the door instead of growing memory. Jobs run in
 * FIFO order on 'n_threads' threads; each thread calls the optional 'thread_init' once (e.g. to register
 * with RCU) and 'thread_fini' when the pool shuts down.
 *
 * Thread: submit from any thread; free from a thread that is not a pool thread.
 */
#ifndef EMBER_BASE_WORKPOOL_H
#define EMBER_BASE_WORKPOOL_H

#include <stddef.h>

#include "base/err.h"

typedef struct em_workpool em_workpool_t;
typedef void (*em_work_fn)(void *arg);

/* Create the pool and start its threads. 'name' appears in thread names ("ember-<name>"). */
em_workpool_t *em_workpool_new(const char *name, int n_threads, size_t queue_cap, void (*thread_init)(void),
                               void (*thread_fini)(void));
/* Queue fn(arg). Returns EM_OK, or EM_EBUSY when the queue is full, or EM_ESTATE after shutdown began. */
int em_workpool_submit(em_workpool_t *p, em_work_fn fn, void *arg);
/* Jobs queued and not yet started. */
size_t em_workpool_queued(em_workpool_t *p);
/* Run every queued job, stop the threads and free the pool (NULL allowed). */
void em_workpool_free(em_workpool_t *p);

#endif
