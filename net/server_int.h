/* net/server_int.h -- the server's internal state, shared by net/server*.c and net/api*.c.
 * Design: see server.h.
 */
#ifndef EMBER_NET_SERVER_INT_H
#define EMBER_NET_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/buf.h"
#include "base/metrics.h"
#include "base/workpool.h"
#include "engine/head.h"
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

    pthread_t storage_thread;
    bool storage_started;
    atomic_bool ready;
    bool storage_failed;
    em_head_t *head; /* set once by the storage thread before 'ready' */
    em_query_engine_t *engine; /* PromQL; Thread: any (it serialises itself) */

    /* Locks: config_mu. */
    pthread_mutex_t config_mu;
    void *config;         /* the running configuration (server_config.c) */
    bool last_reload_ok;
    int64_t last_reload_ms;
    em_gauge_t *reload_ok, *reload_time;
};

/* The storage every reader (PromQL, series and label APIs) goes through; the one place that knows what
 * storage the server has. Only after api_ready(). Thread: any registered with RCU. */
static inline em_queryable_t *server_queryable(em_server_t *s)
{
    return em_head_queryable(s->head);
}

/* server_config.c: load (or reload) the configuration file into s->config. Keeps the running one on
 * error. Thread: main or a pool thread; serialised by the caller. */
int server_config_load(em_server_t *s, em_err_t *err);
/* The running configuration as YAML, for /api/v1/status/config. */
void server_config_yaml(em_server_t *s, em_buf_t *out);
void server_config_free(em_server_t *s);

#endif
