/* ingest/scrape_int.h -- the scrape manager's internals, shared by ingest/scrape*.c and their tests.
 * Design: see scrape.h.
 */
#ifndef EMBER_INGEST_SCRAPE_INT_H
#define EMBER_INGEST_SCRAPE_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>

#include "base/arena.h"
#include "base/buf.h"
#include "engine/head.h"
#include "ingest/expfmt.h"
#include "ingest/scrape.h"

/* One cached series of a target: its raw line bytes, final labels and head ref. Allocated as one block
 * (entry, label array, strings, raw bytes); freed only once no batch borrows its labels. */
typedef struct cache_entry {
    uint64_t hash; /* of the raw bytes */
    const char *raw;
    uint32_t raw_len;
    bool dropped; /* metric relabelling dropped it */
    bool tracked; /* staleness applies (no explicit timestamp, or track_timestamps_staleness) */
    em_labels_t ls;
    em_series_ref_t ref;    /* from the last completed batch, 0 when unknown */
    uint64_t seen_iter;     /* last scrape whose page held it */
    uint64_t appended_iter; /* last successful scrape that appended it */
    struct cache_entry *next_dead;
} cache_entry_t;

typedef struct scrape_cache {
    cache_entry_t **slots; /* linear probing; NULL = empty */
    size_t cap, n;
    cache_entry_t *dead; /* unlinked, freed after the batch that may borrow them completed */
} scrape_cache_t;

enum { SYN_UP, SYN_DURATION, SYN_SCRAPED, SYN_POST, SYN_ADDED, SYN_N };

typedef struct meta_entry {
    const char *family, *type, *help, *unit;
} meta_entry_t;

/* The part of a scrape loop that turns a page into a batch; no network. Thread: the scrape thread
 * (tests: the test's). */
typedef struct scrape_loop {
    const em_scrape_config_t *sc;
    em_arena_t arena;          /* target labels, synthetic label sets */
    em_labels_t target_labels; /* all, including __address__ and friends */
    em_labels_t public_labels; /* without names starting with "__" */
    em_labels_t synth[SYN_N];
    em_series_ref_t synth_ref[SYN_N];
    scrape_cache_t cache;
    uint64_t iter, prev_iter; /* this scrape, and the last one appended */
    em_batch_t *batch;
    atomic_bool busy;        /* the batch is queued on the head */
    em_series_ref_t **slots; /* batch series index -> where its ref goes */
    size_t n_slots, cap_slots;
    em_arena_t scratch; /* per scrape */
    em_labels_builder_t lb;
    /* metadata of the last page that changed it; Locks: the manager's mu when published */
    em_arena_t meta_arena;
    meta_entry_t *meta;
    size_t n_meta;
    uint64_t meta_hash;
    /* outcome of the last append */
    uint64_t samples_scraped, samples_post, series_added;
} scrape_loop_t;

void scrape_loop_init(scrape_loop_t *l, const em_scrape_config_t *sc, const em_labels_t *target_labels);
/* The batch must not be busy. */
void scrape_loop_fini(scrape_loop_t *l);
/* Build the batch for one scrape at t_ms. fetch_rc is EM_OK when the page was fetched (then body/ct
 * hold it), otherwise fetch_err says why. Returns EM_OK when the scrape succeeded, or the error (the
 * message in err) that made it fail: the batch then holds stale markers and up=0. 'meta_mu' (may be
 * NULL) is locked while new metadata is published; 'store' (may be NULL) receives it. */
int scrape_loop_append(scrape_loop_t *l, const char *body, size_t len, const char *ct, int64_t t_ms,
                       double dur_s, int fetch_rc, const char *fetch_err, pthread_mutex_t *meta_mu,
                       em_metastore_t *store, em_err_t *err);
/* After the batch completed: remember the refs it got, free dead cache entries. */
void scrape_loop_harvest(scrape_loop_t *l);
/* Fill the batch with stale markers at t_ms for every series the last scrape appended, synthetic ones
 * included (target gone, shutdown). */
void scrape_loop_stale_all(scrape_loop_t *l, int64_t t_ms);

/* ---- the manager ---- */

typedef struct scrape_pool scrape_pool_t;

typedef struct scrape_target {
    scrape_pool_t *pool;
    struct em_scrape_manager *m;
    uint64_t hash; /* labels and URL: a target's identity within its pool */
    em_arena_t arena;
    em_labels_t discovered;
    char *url;
    int64_t interval_ms, timeout_ms, offset_ms, next_ms;
    scrape_loop_t loop;
    /* transfer; Thread: scrape */
    CURL *easy;
    struct curl_slist *headers;
    em_buf_t body;
    bool in_flight, too_big; /* Thread: scrape */
    atomic_bool processing;  /* the page is being turned into a batch on a worker */
    int fetch_rc;            /* handed to the worker with the page */
    char fetch_msg[EM_ERR_MSG_MAX];
    char content_type[256];
    double dur_s;
    int64_t start_ms, start_ns;
    char curl_err[CURL_ERROR_SIZE];
    /* status; Locks: m->mu (written by the scrape thread, read by the API) */
    int health; /* 0 unknown, 1 up, -1 down */
    char last_error[EM_ERR_MSG_MAX];
    int64_t last_scrape_ms;
    double last_duration_s;
    bool dying; /* stale batch queued; freed once it completes */
    struct scrape_target *next_dead;
} scrape_target_t;

struct scrape_pool {
    char *name;
    const em_scrape_config_t *sc; /* into the applied configuration */
    uint64_t fingerprint;
    em_discovery_t *disc;
    uint64_t disc_version;
    scrape_target_t **targets; /* Locks: m->mu for changes; the scrape thread reads freely */
    size_t n_targets, cap_targets;
    em_arena_t dropped_arena; /* Locks: m->mu */
    em_labels_t *dropped;
    size_t n_dropped, cap_dropped;
    uint64_t n_dropped_total;
    char limit_err[128]; /* target_limit exceeded: every scrape of the pool fails with this; Thread: scrape */
    char *accept;
    char *auth_header; /* "Authorization: ..." or NULL */
    char *user, *password;
};

struct em_scrape_manager {
    em_scrape_opts_t o; /* strings copied */
    pthread_t thread;
    CURLM *multi;
    pthread_mutex_t mu; /* pools and targets lists, statuses, pending configuration */
    pthread_cond_t cv;  /* applied / stopped */
    const em_config_t *pending;
    uint64_t want_gen, done_gen;
    bool stopping, stopped, started;
    scrape_pool_t **pools; /* sorted by name; Locks: mu for changes */
    size_t n_pools;
    scrape_target_t *graveyard;  /* Thread: scrape */
    struct em_workpool *workers; /* parse pages and queue batches, so parsing uses more than one core */
    pthread_mutex_t batch_mu;    /* with batch_cv: a target's batch completed or its page was processed */
    pthread_cond_t batch_cv;
};

#endif
