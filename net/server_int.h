/* net/server_int.h -- the server's internal state, shared by net/server*.c and net/api*.c.
 * Design: see server.h.
 */
#ifndef EMBER_NET_SERVER_INT_H
#define EMBER_NET_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/metrics.h"
#include "base/workpool.h"
#include "engine/db.h"
#include "engine/head.h"
#include "engine/labels.h"
#include "engine/querier.h"
#include "net/http.h"
#include "net/server.h"
#include "query/eval.h"

struct em_server {
    em_server_opts_t o; /* strings owned (copied at start) */
    int64_t start_ms;
    em_http_server_t *http;
    struct em_webconfig *web; /* --web.config.file, or NULL */
    const char **web_headers; /* name, value, ..., NULL */
    em_workpool_t *pool;        /* queries, reloads */
    em_workpool_t *ingest_pool; /* remote write decoding, so writes never queue behind queries */
    struct em_metastore *metadata;
    struct em_scrape_manager *scrape; /* set by the storage thread once the head is open; Locks: config_mu */

    pthread_t storage_thread;
    bool storage_started;
    atomic_bool ready;
    bool storage_failed;
    em_db_t *db;     /* set once by the storage thread before 'ready' */
    em_head_t *head; /* em_db_head(db): appends go here */
    em_query_engine_t *engine; /* PromQL; Thread: any (it serialises itself) */

    /* Locks: config_mu. */
    pthread_mutex_t config_mu;
    void *config;         /* the running configuration (server_config.c) */
    bool last_reload_ok;
    int64_t last_reload_ms;
    em_gauge_t *reload_ok, *reload_time;
};

/* The storage every reader queries (remote read, federation, PromQL): blocks and head merged
 * (engine/db.h). NULL until storage is ready ('ready'); valid until the server stops. Thread: any. */
em_queryable_t *server_queryable(em_server_t *s);

/* server_config.c: load (or reload) the configuration file into s->config. Keeps the running one on
 * error. Thread: main or a pool thread; serialised by the caller. */
int server_config_load(em_server_t *s, em_err_t *err);
/* The running configuration as YAML, for /api/v1/status/config. */
void server_config_yaml(em_server_t *s, em_buf_t *out);
void server_config_free(em_server_t *s);
/* The running configuration's external labels (global.external_labels), sorted by name, copied into
 * 'a' so a reload cannot pull them away. Thread: any. */
em_labels_t server_external_labels(em_server_t *s, em_arena_t *a);

#endif
