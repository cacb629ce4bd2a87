/* base/options.h -- the command-line flags of the ember server.
 *
 * DESIGN. Every flag is one row of a table (options.c): its name as Prometheus spells it, its kind, the
 * member of em_options_t it fills, its default (as the text a user would type, parsed by the same code
 * as a user's value) and its help line. The parser, --help, and em_options_foreach (which feeds
 * /api/v1/status/flags) all read that table, so they cannot disagree.
 *
 * SYNTAX. As Prometheus's kingpin: --name=value and --name value; booleans as --name, --no-name or
 * --name=true|false (also 1/0, t/f); repeatable lists --enable-feature=a,b --enable-feature=c. Other
 * flags may be given once. -h is --help. There are no positional arguments.
 *
 * MESSAGES. One line, in kingpin's form:
 *     ember: error: unknown long flag '--foo', try --help
 *     ember: error: invalid value "abc" for flag --query.timeout: not a valid duration string: "abc"
 *
 * DEFAULTS that depend on others are resolved after parsing, as Prometheus does: retention.time is 15d
 * when neither it nor retention.size is set; max-block-duration is 10% of retention.time, at most 31d;
 * query.workers is the number of CPUs when 0.
 *
 * OWNERSHIP. em_options_t owns its strings; em_options_fini frees them. Thread: parse on the main thread
 * before others start; read-only afterwards.
 */
#ifndef EMBER_BASE_OPTIONS_H
#define EMBER_BASE_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"

/* Positive results of em_options_parse: not errors, the caller prints and exits 0. */
#define EM_OPTIONS_HELP 2
#define EM_OPTIONS_VERSION 3

/* --enable-feature names, recorded as booleans. Unknown names are kept in unknown_features. */
typedef struct em_features {
    bool promql_experimental_functions;
    bool promql_duration_expr;
    bool promql_extended_range_selectors;
    bool promql_binop_fill_modifiers;
    bool promql_delayed_name_removal;
    bool promql_at_modifier;     /* always on since Prometheus 2.33; accepted */
    bool promql_negative_offset; /* always on since Prometheus 2.33; accepted */
    bool promql_per_step_stats;
    bool exemplar_storage;
    bool memory_snapshot_on_shutdown;
    bool extra_scrape_metrics;
    bool native_histograms;
    bool created_timestamp_zero_ingestion;
    bool concurrent_rule_eval;
    bool auto_reload_config;
    bool metadata_wal_records;
    bool delayed_compaction;
    bool old_ui;
    bool otlp_deltatocumulative;
    bool type_and_unit_labels;
    bool expand_external_labels; /* always on in Prometheus 3; accepted */
    bool use_start_timestamps;
} em_features_t;

typedef struct em_options {
    char *config_file; /* NULL: the embedded default configuration */
    char *web_listen_address;
    char *web_config_file; /* NULL when not set */
    int64_t web_read_timeout_ms;
    int64_t web_max_connections;
    char *web_external_url; /* NULL when not set */
    char *web_route_prefix; /* NULL when not set: the path of web_external_url */
    bool web_enable_lifecycle;
    bool web_enable_admin_api;
    bool web_enable_remote_write_receiver; /* on by default in ember */
    char *web_page_title;
    char *storage_tsdb_path;
    int64_t storage_tsdb_retention_time_ms;    /* resolved: 15d when neither time nor size is set */
    int64_t storage_tsdb_retention_size_bytes; /* 0 = no size limit */
    int64_t storage_tsdb_min_block_duration_ms;
    int64_t storage_tsdb_max_block_duration_ms; /* resolved: retention/10, at most 31d */
    bool storage_tsdb_no_lockfile;
    bool storage_tsdb_wal_compression;
    int64_t storage_tsdb_wal_segment_size_bytes;
    int64_t storage_tsdb_head_shards; /* 0 = number of CPUs */
    int64_t storage_remote_read_sample_limit;
    int64_t storage_remote_read_concurrent_limit;
    int64_t storage_remote_read_max_bytes_in_frame;
    int64_t rules_alert_for_outage_tolerance_ms;
    int64_t rules_alert_for_grace_period_ms;
    int64_t rules_alert_resend_delay_ms;
    int64_t alertmanager_notification_queue_capacity;
    int64_t query_lookback_delta_ms;
    int64_t query_timeout_ms;
    int64_t query_max_concurrency;
    int64_t query_max_samples;
    char **enable_feature; /* every name given, in order, split at commas */
    size_t n_enable_feature;
    em_features_t features;
    char **unknown_features; /* names not recognised: log a warning, as Prometheus does */
    size_t n_unknown_features;
    em_log_level_t log_level;
    em_log_format_t log_format;
    int64_t http_workers;  /* event-loop threads */
    int64_t query_workers; /* resolved: number of CPUs when 0 */
    /* Internal: which flags were given (bit per table row), for "cannot be repeated". */
    uint64_t given_[2];
} em_options_t;

/* Fill 'out' with every default (and the resolved ones). Thread: any. */
void em_options_init(em_options_t *out);
void em_options_fini(em_options_t *o);

/* Parse argv[1..argc-1] into 'out' (which this initialises; the caller finis it whatever the result).
 * Returns EM_OK; EM_OPTIONS_HELP or EM_OPTIONS_VERSION when --help / -h or --version was given (print
 * em_options_help / em_options_version and exit 0); or EM_EINVAL with the one-line message above in err.
 * Thread: main, before other threads start. */
int em_options_parse(int argc, char **argv, em_options_t *out, em_err_t *err);

/* kingpin-style help: usage line, then one line per flag with its default. */
void em_options_help(em_buf_t *out);
/* "ember, version X (branch: B, revision: R)" and the build lines Prometheus prints. */
void em_options_version(em_buf_t *out);

/* Call fn for every flag, in --help order, with its name (no dashes) and its current value as text
 * (durations and sizes in Prometheus's spelling, booleans "true"/"false", lists comma-joined, unset
 * strings ""). For /api/v1/status/flags. Thread: any (read-only). */
void em_options_foreach(const em_options_t *o, void (*fn)(const char *name, const char *value, void *arg),
                        void *arg);

#endif
