/* ingest/scrape.h -- the scrape manager: targets from discovery, scrape loops, samples into the head.
 *
 * DESIGN. One scrape pool per job (scrape_configs[i]). A pool holds the job's discoverer
 * (ingest/discovery.h) and its targets. Targets are built from target groups as Prometheus's
 * PopulateLabels does (em_scrape_target_labels): the target's labels over the group's, then job,
 * __scrape_interval__, __scrape_timeout__, __metrics_path__, __scheme__ when not set, __param_<name> for
 * every URL parameter, relabel_configs; then __address__ must be set and hold no '/', interval and
 * timeout are re-read from their labels (relabelling may change them), __meta_* labels go, instance
 * defaults to __address__. Targets that relabelling drops are kept (discovered labels only) for
 * /api/v1/targets, at most keep_dropped_targets of them per job when that is set.
 *
 * THREADS. One scrape thread ("ember-scrape") drives every transfer with libcurl's multi interface
 * (many concurrent scrapes, no thread per target) and does everything else the manager does: it runs
 * discovery and starts due scrapes. A finished page goes to a small pool of workers ("ember-scrapew",
 * two by default), which parse it and queue its batch on the head, so parsing is not bound to one core;
 * a target is not scraped again until its page has been processed. Each target is
 * scraped every interval at a fixed phase: the first time t >= now with t mod interval equal to the
 * target's hash mod interval (Prometheus's offset), so scrapes of many targets spread over the interval.
 *
 *     scrape thread: [discovery] -> start due transfers -> curl_multi_poll -> finished body -->
 *     worker: parse (ingest/expfmt.h) -> cache lookup / relabel new series -> limits -> one em_batch_t
 *          -> em_head_append (asynchronous; the shards log it to the WAL and complete it)
 *
 * A target has at most one batch in flight: the next scrape of the same target waits for its previous
 * batch (milliseconds), never for anything longer, and the thread never waits for another target's batch.
 *
 * SCRAPE CACHE. Per target, the raw bytes of each series line (`name{labels}`) map to the series'
 * final labels (after honor_labels, metric_relabel_configs and validation) and the head's series ref
 * from the previous batch, so an unchanged series costs one hash lookup; a series metric relabelling
 * drops is cached as dropped.
 *
 * STALENESS (Prometheus's). After every scrape, series appended by the previous scrape and missing from
 * this one get a stale marker (EM_STALE_NAN_BITS) at this scrape's timestamp; a failed scrape (network,
 * status, parse error, a limit) appends nothing but stale markers and up=0. Series whose samples carry
 * their own timestamps (honor_timestamps) are not tracked, as Prometheus does unless
 * track_timestamps_staleness is set. A target that goes away (discovery or reload) and every target at
 * shutdown get stale markers for all their series, synthetic ones included.
 *
 * SYNTHETIC SERIES per scrape, with the target's labels: up, scrape_duration_seconds,
 * scrape_samples_scraped, scrape_samples_post_metric_relabeling, scrape_series_added.
 *
 * RELOAD. em_scrape_manager_apply hands a new configuration to the scrape thread and waits until it has
 * been taken up. Pools whose job settings did not change (em_config_scrape_fingerprint) keep
 * everything; a changed pool is rebuilt, and its targets whose labels and URL did not change keep their
 * cache, schedule and status.
 *
 * OWNERSHIP. The manager points into the em_config_t last applied: the caller keeps that configuration
 * alive until the next em_scrape_manager_apply has returned, or until em_scrape_manager_free. The head
 * and the metadata store must outlive the manager.
 */
#ifndef EMBER_INGEST_SCRAPE_H
#define EMBER_INGEST_SCRAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/err.h"
#include "engine/head.h"
#include "engine/labels.h"
#include "ingest/discovery.h"
#include "ingest/metastore.h"

typedef struct em_scrape_manager em_scrape_manager_t;

typedef struct em_scrape_opts {
    em_head_t *head;
    em_metastore_t *metadata; /* may be NULL */
    /* For globalUrl in /api/v1/targets: the externally reachable scheme and host:port of this server,
     * and the port it listens on (Prometheus's GlobalURLOptions). NULL: "http", the host name and the
     * listen port. */
    const char *external_scheme;
    const char *external_host;
    const char *listen_port;
    const char *user_agent; /* NULL: "Prometheus/3.0.0 (Ember)" style default */
    int n_workers;          /* threads that parse pages; 0: 2 */
} em_scrape_opts_t;

/* Create the manager and start its thread; it scrapes nothing until a configuration is applied.
 * Never returns NULL. Thread: any. */
em_scrape_manager_t *em_scrape_manager_new(const em_scrape_opts_t *o);

/* Take up cfg's scrape_configs (see RELOAD). Blocks until the scrape thread has switched to it.
 * Returns EM_OK, or EM_ESTATE after em_scrape_manager_stop. Thread: any but the scrape thread; one
 * caller at a time. */
int em_scrape_manager_apply(em_scrape_manager_t *m, const em_config_t *cfg);

/* Stop scraping: cancel transfers, append stale markers for every target's series, wait for every batch
 * to complete, stop the thread. Idempotent. Thread: any but the scrape thread. */
void em_scrape_manager_stop(em_scrape_manager_t *m);
/* Stop (if needed) and free. NULL allowed. Thread: any but the scrape thread. */
void em_scrape_manager_free(em_scrape_manager_t *m);

/* Which targets /api/v1/targets lists. */
typedef enum { EM_TARGETS_ANY = 0, EM_TARGETS_ACTIVE, EM_TARGETS_DROPPED } em_targets_state_t;

/* Append the data member of /api/v1/targets: {"activeTargets":[...],"droppedTargets":[...],
 * "droppedTargetCounts":{...}}, pools by name, filtered by state and (when not NULL) scrape pool.
 * Thread: any. */
void em_scrape_manager_targets_json(em_scrape_manager_t *m, em_targets_state_t state, const char *pool,
                                    em_buf_t *out);

/* Append the data member of /api/v1/targets/metadata: [{"target":{labels},"metric":..,"type":..,
 * "help":..,"unit":..}, ...] for targets matching every matcher in 'match_target' (a selector such as
 * {job="node"}; NULL or "" matches all) and, when 'metric' is set, that metric only; at most 'limit'
 * entries (<0: no limit). Returns EM_OK, or EM_EINVAL for a malformed selector (message in err).
 * Thread: any. */
int em_scrape_manager_metadata_json(em_scrape_manager_t *m, const char *match_target, const char *metric,
                                    long limit, em_buf_t *out, em_err_t *err);

/* ---- pieces exposed for tests ---- */

/* Build a target's labels from one target of a group as Prometheus's PopulateLabels does (see DESIGN).
 * On success returns EM_OK with *kept telling whether relabelling kept the target; *labels (sorted, the
 * final set with __address__, __scheme__, __metrics_path__, __param_*, __scrape_interval__,
 * __scrape_timeout__) and *discovered (before relabelling) in 'a'. EM_EINVAL with Prometheus's message
 * for a target without address ("no address"), with '/' in its address, or with a bad interval or
 * timeout. Thread: any. */
int em_scrape_target_labels(const em_scrape_config_t *sc, const em_labels_t *target, const em_labels_t *group,
                            em_arena_t *a, bool *kept, em_labels_t *labels, em_labels_t *discovered,
                            em_err_t *err);

/* The scrape URL of a target with these (final) labels: scheme://address/path?params, the job's params
 * overridden by __param_* labels, keys sorted and escaped as Go's url.Values.Encode. Thread: any. */
void em_scrape_target_url(const em_scrape_config_t *sc, const em_labels_t *labels, em_buf_t *out);

/* The Accept header Prometheus 3 sends for the job's scrape_protocols. Thread: any. */
void em_scrape_accept_header(const em_scrape_config_t *sc, em_buf_t *out);

#endif
