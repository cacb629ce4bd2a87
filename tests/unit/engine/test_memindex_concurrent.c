/* One writer adds (and periodically removes) series while readers select concurrently. Every select
 * result must be sorted and unique, every returned ref must really match (checked against a side table of
 * labels written before add() publishes the ref), and no ref that was added before the select started and
 * not removed before it ended may be missing. Also run under ThreadSanitizer (`make tsan`). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu/urcu-memb.h>

#include "engine/memindex.h"

enum {
    N_SERIES = 200000,
    N_READERS = 3,
    REMOVE_EVERY = 5000, /* adds between removal batches */
    REMOVE_BATCH = 1000,
    MAX_LABELS = 7,
};

#ifdef EMBER_TSAN
#define TIME_LIMIT_S 20.0 /* ThreadSanitizer slows everything down ~10x */
#else
#define TIME_LIMIT_S 10.0
#endif

typedef struct side {
    em_label_t l[MAX_LABELS];
    em_labels_t ls;
    char id[16];
} side_t;

static side_t *side;               /* side[ref]: written by the writer before add(ref); then immutable */
static _Atomic uint8_t *removed;   /* set before remove() is called for the ref */
static _Atomic int64_t added_upto; /* highest ref whose add() returned, -1 before any */
static _Atomic bool writer_done;
static em_memindex_t *ix;
static struct timespec t0;

static double elapsed(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const char *const metric_names[] = {"m0",  "m1",  "m2",  "m3",  "m4",  "m5",  "m6",
                                           "m7",  "m8",  "m9",  "m10", "m11", "m12", "m13",
                                           "m14", "m15", "m16", "m17", "m18", "m19"};
static const char *const jobs[] = {"job0", "job1", "job2", "job3", "job4"};
static const char *const modes[] = {"idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"};
static char hosts[100][16];

/* Deterministic labels of series 'ref' (names in sorted order). */
static void make_labels(uint32_t ref, side_t *s)
{
    size_t n = 0;
    s->l[n++] = (em_label_t){"__name__", metric_names[ref % 20]};
    if (ref % 10 == 0) {
        snprintf(s->id, sizeof(s->id), "%u", ref);
        s->l[n++] = (em_label_t){"id", s->id}; /* unique values: dropped on removal */
    }
    s->l[n++] = (em_label_t){"instance", hosts[ref % 100]};
    if (ref % 7 != 0)
        s->l[n++] = (em_label_t){"job", jobs[ref % 5]};
    if (ref % 4 == 0)
        s->l[n++] = (em_label_t){"mode", modes[(ref / 4) % 8]};
    if (ref % 1000 == 0)
        s->l[n++] = (em_label_t){"rare", "yes"}; /* a name that comes and goes */
    s->ls = (em_labels_t){s->l, n};
}

static void *writer(void *arg)
{
    em_rcu_thread_online();
    uint64_t seed = 99;
    uint32_t *rm = malloc(REMOVE_BATCH * sizeof(uint32_t));
    const em_labels_t **rml = malloc(REMOVE_BATCH * sizeof(*rml));
    for (uint32_t ref = 0; ref < N_SERIES && elapsed() < TIME_LIMIT_S; ref++) {
        make_labels(ref, &side[ref]);
        em_memindex_add(ix, ref, &side[ref].ls, NULL);
        atomic_store_explicit(&added_upto, ref, memory_order_release);
        if (ref % REMOVE_EVERY != REMOVE_EVERY - 1)
            continue;
        size_t n = 0;
        for (int tries = 0; tries < 4 * REMOVE_BATCH && n < REMOVE_BATCH; tries++) {
            uint32_t r = (uint32_t)(rnd(&seed) % (ref + 1));
            if (atomic_load_explicit(&removed[r], memory_order_relaxed))
                continue;
            atomic_store_explicit(&removed[r], 1, memory_order_relaxed);
            rm[n] = r;
            rml[n++] = &side[r].ls;
        }
        /* The flags above are published by remove()'s release stores. */
        em_memindex_remove(ix, rm, n, rml);
    }
    free(rm);
    free(rml);
    atomic_store(&writer_done, true);
    em_rcu_thread_offline();
    return NULL;
}

/* The matcher sets readers choose from; immutable, shared by all readers. */
static const struct {
    const char *name;
    em_match_type_t t;
    const char *v;
} qdefs[][2] = {
    {{"__name__", EM_MATCH_EQ, "m3"}, {NULL, 0, NULL}},
    {{"__name__", EM_MATCH_EQ, "m4"}, {"mode", EM_MATCH_NEQ, "idle"}},
    {{"job", EM_MATCH_RE, "job[12]"}, {NULL, 0, NULL}},
    {{"instance", EM_MATCH_RE, "host1.*"}, {"job", EM_MATCH_NEQ, "job0"}},
    {{"job", EM_MATCH_EQ, ""}, {NULL, 0, NULL}},
    {{"job", EM_MATCH_NEQ, "job1"}, {"__name__", EM_MATCH_RE, "m1|m2|m11"}},
    {{"__name__", EM_MATCH_RE, "m1|m2"}, {"instance", EM_MATCH_NRE, ".*7"}},
    {{"mode", EM_MATCH_RE, ".+"}, {"rare", EM_MATCH_EQ, ""}},
    {{"mode", EM_MATCH_NRE, "idle|user"}, {"job", EM_MATCH_EQ, "job3"}},
    {{"__name__", EM_MATCH_RE, "m.*"}, {"job", EM_MATCH_RE, "(?i)JOB3"}},
    {{"rare", EM_MATCH_EQ, "yes"}, {NULL, 0, NULL}},
    {{"id", EM_MATCH_RE, ".*5"}, {"id", EM_MATCH_NEQ, "15"}},
    {{"id", EM_MATCH_NEQ, ""}, {"mode", EM_MATCH_EQ, "user"}},
};
#define N_Q (sizeof(qdefs) / sizeof(qdefs[0]))
static em_matcher_t qm[N_Q][2];
static size_t qn[N_Q];

static bool ref_matches(uint32_t ref, const em_matcher_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = em_labels_get(&side[ref].ls, m[i].name);
        if (!v)
            v = "";
        if (!em_matcher_matches(&m[i], v, strlen(v)))
            return false;
    }
    return true;
}

typedef struct reader_stats {
    uint64_t seed;
    size_t selects, refs_checked, completeness_checks;
    char failure[256];
} reader_stats_t;

static bool check_one(reader_stats_t *st, size_t q, bool check_complete, em_postings_t *out)
{
    const em_matcher_t *mp[2] = {&qm[q][0], &qm[q][1]};
    int64_t upto = atomic_load_explicit(&added_upto, memory_order_acquire);
    urcu_memb_read_lock();
    em_memindex_select(ix, mp, qn[q], out);
    urcu_memb_read_unlock();
    st->selects++;
    for (size_t i = 0; i < out->n; i++) {
        uint32_t r = out->v[i];
        if (i > 0 && out->v[i - 1] >= r) {
            snprintf(st->failure, sizeof(st->failure), "query %zu: not sorted/unique at %zu", q, i);
            return false;
        }
        if (!ref_matches(r, qm[q], qn[q])) {
            snprintf(st->failure, sizeof(st->failure), "query %zu: ref %u does not match", q, r);
            return false;
        }
        st->refs_checked++;
    }
    if (!check_complete)
        return true;
    st->completeness_checks++;
    size_t k = 0;
    for (int64_t r = 0; r <= upto; r++) {
        if (atomic_load_explicit(&removed[r], memory_order_acquire) ||
            !ref_matches((uint32_t)r, qm[q], qn[q]))
            continue;
        while (k < out->n && out->v[k] < r)
            k++;
        if (k == out->n || out->v[k] != r) {
            snprintf(st->failure, sizeof(st->failure), "query %zu: live matching ref %lld missing", q,
                     (long long)r);
            return false;
        }
    }
    return true;
}

static void *reader(void *arg)
{
    reader_stats_t *st = arg;
    em_rcu_thread_online();
    em_postings_t out;
    em_postings_init(&out);
    while (!atomic_load(&writer_done) && elapsed() < TIME_LIMIT_S + 5) {
        size_t q = rnd(&st->seed) % N_Q;
        if (!check_one(st, q, st->selects % 16 == 0, &out))
            break;
#ifdef EMBER_TSAN
        /* Under TSan everything is ~10x slower and 3 readers would starve the writer on a 2-core machine. */
        sched_yield();
#endif
    }
    em_postings_fini(&out);
    em_rcu_thread_offline();
    return NULL;
}

Test(engine_memindex_concurrent, readers_see_consistent_results_while_writer_adds_and_removes, .timeout = 120)
{
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 100; i++)
        snprintf(hosts[i], sizeof(hosts[i]), "host%d:9100", i);
    for (size_t q = 0; q < N_Q; q++) {
        for (size_t j = 0; j < 2 && qdefs[q][j].name; j++) {
            em_err_t err;
            cr_assert_eq(em_matcher_init(&qm[q][j], qdefs[q][j].t, qdefs[q][j].name, qdefs[q][j].v, &err),
                         EM_OK);
            qn[q] = j + 1;
        }
    }
    side = calloc(N_SERIES, sizeof(*side));
    removed = calloc(N_SERIES, sizeof(*removed));
    atomic_store(&added_upto, -1);
    em_rcu_thread_online();
    ix = em_memindex_new();

    pthread_t w, r[N_READERS];
    reader_stats_t stats[N_READERS];
    memset(stats, 0, sizeof(stats));
    for (int i = 0; i < N_READERS; i++) {
        stats[i].seed = 1000 + (uint64_t)i;
        pthread_create(&r[i], NULL, reader, &stats[i]);
    }
    pthread_create(&w, NULL, writer, NULL);
    pthread_join(w, NULL);
    for (int i = 0; i < N_READERS; i++)
        pthread_join(r[i], NULL);

    int64_t added = atomic_load(&added_upto) + 1;
    for (int i = 0; i < N_READERS; i++) {
        cr_assert_eq(stats[i].failure[0], '\0', "reader %d (seed %llu): %s", i,
                     (unsigned long long)(1000 + i), stats[i].failure);
        cr_assert_gt(stats[i].selects, 10, "reader %d ran %zu selects", i, stats[i].selects);
    }
    cr_log_info("added %lld series in %.1fs; selects %zu/%zu/%zu", (long long)added, elapsed(),
                stats[0].selects, stats[1].selects, stats[2].selects);
    cr_assert_gt(added, N_SERIES / 10, "writer added only %lld series", (long long)added);

    /* Quiescent now: every query equals brute force. */
    reader_stats_t final = {.seed = 1};
    em_postings_t out;
    em_postings_init(&out);
    for (size_t q = 0; q < N_Q; q++)
        cr_assert(check_one(&final, q, true, &out), "%s", final.failure);
    size_t live = 0;
    for (int64_t i = 0; i < added; i++)
        live += !atomic_load(&removed[i]);
    cr_assert_eq(em_memindex_series(ix), live);
    em_postings_fini(&out);

    em_memindex_free(ix);
    cr_log_info("done at %.1fs", elapsed());
    em_rcu_thread_offline();
    for (size_t q = 0; q < N_Q; q++)
        for (size_t j = 0; j < qn[q]; j++)
            em_matcher_fini(&qm[q][j]);
    free(side);
    free((void *)removed);
}
