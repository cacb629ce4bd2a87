/* ingest/discovery.h -- service discovery for one scrape job: static_configs and file_sd_configs.
 *
 * DESIGN. A job's discoverer holds the job's target groups, as Prometheus's discovery manager hands
 * them to a scrape pool: each group has a source (a name unique within the job), a list of targets
 * (each a label set holding at least __address__) and common labels.
 *
 *   static_configs[i]      one group, source "i" (Prometheus's static provider numbers its groups)
 *   file_sd_configs        one group per list element of each file, source "<path>:<index>", with
 *                          the label __meta_filepath=<path> added to the group's labels
 *
 * FILE SD. Every pattern (a path whose last element may hold a glob) is expanded with glob(3). A file
 * is (re)read when it appears, when its mtime, size or inode changes (checked at most once a second,
 * em_discovery_refresh), and every refresh_interval regardless. Files ending in .json are JSON, others
 * YAML; both are read with libyaml (JSON is YAML). A file that cannot be read or parsed is logged and
 * counted in ember_sd_file_read_errors_total, and its previous groups are kept, as Prometheus does; a
 * file that disappears takes its groups with it. Files above 16 MiB are refused. The format is
 * Prometheus's:
 *     [ { "targets": ["host:port", ...], "labels": { "name": "value", ... } }, ... ]
 * with label names checked ([a-zA-Z_][a-zA-Z0-9_]*) and unknown keys refused.
 *
 * VERSION. Every change to the set of groups bumps a version number, so the scrape manager can tell
 * cheaply whether it must rebuild the job's targets.
 *
 * OWNERSHIP. The discoverer copies what it needs from the configuration (paths, intervals, static
 * groups) and may outlive it. Groups and their strings belong to the discoverer; pointers returned by
 * em_discovery_groups are valid until the next em_discovery_refresh or em_discovery_free.
 *
 * THREADS. One owner at a time (the scrape thread); nothing inside is shared.
 */
#ifndef EMBER_INGEST_DISCOVERY_H
#define EMBER_INGEST_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/config.h"
#include "base/err.h"
#include "engine/labels.h"

#define EM_DISCOVERY_MAX_FILE_BYTES (16u << 20)

typedef struct em_target_group {
    const char *source;
    em_labels_t *targets; /* each sorted, holding __address__ */
    size_t n_targets;
    em_labels_t labels; /* sorted */
} em_target_group_t;

typedef struct em_discovery em_discovery_t;

/* A discoverer for the job's static_configs and file_sd_configs. Files are not read until the first
 * em_discovery_refresh. Never returns NULL. Thread: any. */
em_discovery_t *em_discovery_new(const em_scrape_config_t *sc);
/* NULL allowed. Thread: owner. */
void em_discovery_free(em_discovery_t *d);

/* Re-check the files when a second has passed since the last check (or 'force'), re-read those that
 * changed or whose refresh_interval has passed. Returns true when the groups changed since the last
 * call. Thread: owner. */
bool em_discovery_refresh(em_discovery_t *d, int64_t now_ms, bool force);

/* The current groups: static groups first, then file groups by file path and index. Thread: owner. */
size_t em_discovery_groups(const em_discovery_t *d, const em_target_group_t **out);

/* Incremented on every change of the groups. Thread: owner. */
uint64_t em_discovery_version(const em_discovery_t *d);

/* Parse one file SD document (JSON or YAML, n bytes) into groups allocated in 'a', with source
 * "<path>:<index>" and __meta_filepath=<path>. Returns EM_OK and sets *groups / *n, or EM_EINVAL with a
 * message naming the path (and line where libyaml gives one). Thread: any. */
int em_discovery_parse_file(const char *path, const char *text, size_t n, em_arena_t *a,
                            em_target_group_t **groups, size_t *n_groups, em_err_t *err);

#endif
