/* net/server.h -- the ember server: wires storage, the HTTP API and (later) scraping and rules together.
 *
 * DESIGN. em_server_start binds the HTTP listeners and starts serving at once, so /-/healthy answers
 * while storage opens; storage opens (WAL replay) in the background and /-/ready and the API answer 503
 * until it has. The main thread then waits in em_server_wait for a signal: SIGTERM/SIGINT (or
 * POST /-/quit) stop gracefully, SIGHUP (or POST /-/reload) reloads the configuration file.
 *
 *     main: start --> [HTTP serving, storage opening] --> ready --> wait: SIGHUP -> reload ... SIGTERM -> stop
 *
 * Shutdown order: stop accepting HTTP and finish in-flight requests, then close storage (flushing and
 * syncing the WAL), so nothing acknowledged is lost.
 *
 * Thread: em_server_* are called from the main thread only.
 */
#ifndef EMBER_NET_SERVER_H
#define EMBER_NET_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "query/parse.h"

typedef struct em_server em_server_t;

/* Everything the server needs from the command line, in plain form (tools/ember.c fills it). */
typedef struct em_server_opts {
    const char *listen;        /* --web.listen-address */
    int http_threads;
    int query_workers;
    size_t max_body_bytes;
    int max_connections;
    int64_t read_timeout_ms;
    const char *route_prefix;
    const char *external_url;
    const char *web_config_file; /* TLS and basic auth (exporter-toolkit format) */
    bool enable_lifecycle, enable_admin_api, enable_remote_write;

    const char *data_dir;      /* --storage.tsdb.path */
    int head_shards;
    bool wal_compression;
    size_t wal_segment_bytes;
    int64_t retention_ms;
    uint64_t retention_bytes;
    int64_t min_block_ms, max_block_ms; /* --storage.tsdb.min/max-block-duration; 0: defaults */
    bool no_lockfile;

    int64_t query_timeout_ms, lookback_delta_ms;
    int64_t query_max_samples;
    int query_max_concurrency;
    em_promql_opts_t promql; /* --enable-feature=promql-* */

    int64_t remote_read_sample_limit;      /* --storage.remote.read-sample-limit; 0 = none */
    int remote_read_concurrent_limit;      /* --storage.remote.read-concurrent-limit; 0 = none */
    size_t remote_read_max_bytes_in_frame; /* --storage.remote.read-max-bytes-in-frame */

    const char *config_file;   /* NULL: the embedded default configuration */

    /* For /api/v1/status/flags: calls fn for every flag name and value. */
    void (*foreach_flag)(void (*fn)(const char *name, const char *value, void *arg), void *arg, void *self);
    void *foreach_flag_self;
} em_server_opts_t;

/* Load the configuration, bind the listeners and start serving; storage opens in the background.
 * Returns EM_OK, or an error (bad configuration, address in use) with a one-line message. */
int em_server_start(const em_server_opts_t *o, em_server_t **out, em_err_t *err);
/* Block handling signals until asked to stop. Returns the exit code (0 after a clean stop). */
int em_server_wait(em_server_t *s);
/* Stop everything in order and free the server. */
void em_server_stop(em_server_t *s);

/* Re-read the configuration file. On error the running configuration stays, the error is logged and
 * ember_config_last_reload_successful becomes 0. Thread: any (serialised inside). */
int em_server_reload(em_server_t *s, em_err_t *err);

#endif
