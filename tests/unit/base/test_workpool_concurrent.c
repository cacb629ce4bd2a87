#include <criterion/criterion.h>
#include <stdatomic.h>
#include <unistd.h>

#include "base/workpool.h"

static atomic_int ran;

static void bump(void *arg)
{
    atomic_fetch_add(&ran, (int)(intptr_t)arg);
}

Test(base_workpool, runs_every_queued_job_before_free_returns)
{
    atomic_store(&ran, 0);
    em_workpool_t *p = em_workpool_new("t", 3, 10000, NULL, NULL);
    int submitted = 0;
    for (int i = 0; i < 5000; i++)
        if (em_workpool_submit(p, bump, (void *)(intptr_t)1) == EM_OK)
            submitted++;
    cr_assert_eq(submitted, 5000);
    em_workpool_free(p);
    cr_assert_eq(atomic_load(&ran), 5000);
}

static void slow(void *arg)
{
    usleep(20000);
}

Test(base_workpool, full_queue_refuses_with_ebusy)
{
    em_workpool_t *p = em_workpool_new("t", 1, 2, NULL, NULL);
    int busy = 0;
    for (int i = 0; i < 10; i++)
        if (em_workpool_submit(p, slow, NULL) == EM_EBUSY)
            busy++;
    cr_assert_geq(busy, 7, "at most 1 running + 2 queued are accepted, got %d refused", busy);
    em_workpool_free(p);
}
