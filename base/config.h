/* base/config.h -- the Prometheus configuration file (prometheus.yml), parsed into typed structs.
 *
 * DESIGN. em_config_load_file / em_config_load_string read the YAML with libyaml's document API (so every
 * node keeps its line and column), walk it with a table of field descriptors per struct (config_schema.c)
 * and fill the structs below with every default Prometheus fills in, then validate the way Prometheus's
 * config.Load does (config/config.go, model/relabel/relabel.go, common/config/http_config.go):
 *
 *   parse (unknown fields, duplicate keys, wrong YAML types, bad scalars)   config_schema.c
 *     -> per-struct checks Prometheus runs in UnmarshalYAML (auth, URLs, targets, file SD paths)
 *     -> whole-file checks Prometheus runs in Config.UnmarshalYAML (globals into jobs, timeouts,
 *        duplicate job / remote names, rule file patterns)                     config.c
 *     -> relative file paths joined with the config file's directory (Prometheus's SetDirectory)
 *
 * Every error is one line: "<file>:<line>:<col>: <message>", where the message is Prometheus's own text
 * when Prometheus has one, and field-level messages end with the field path in parentheses:
 *     bad.yml:7:5: unknown field "scrape_intervall" in scrape_configs[0]
 *     bad.yml:4:22: not a valid duration string: "15x" (global.scrape_interval)
 *     bad.yml:9:3: found multiple scrape configs with job name "node"
 * Service discovery mechanisms Ember does not implement are recognised by name and refused with a
 * message that says so, rather than reported as unknown fields.
 *
 * DIFFERENCES FROM PROMETHEUS 3, on purpose:
 *   - label names are validated with the legacy rule [a-zA-Z_][a-zA-Z0-9_]* (Ember's data model, see
 *     engine/labels.h); metric_name_validation_scheme accepts only "legacy", and is rendered so.
 *   - tracing, otlp and SD mechanisms other than static and file are refused as unsupported; the
 *     http_headers and proxy_connect_header client options are unknown fields.
 *
 * UNITS. Durations are int64 milliseconds (_ms), sizes are int64 bytes (_bytes). 0 means "not set /
 * no limit" wherever Prometheus uses 0 that way.
 *
 * OWNERSHIP. An em_config_t owns every string, array and compiled regex reachable from it; all of it is
 * freed by em_config_free. After loading, the config is read-only: any number of threads may read it.
 * A reload builds a new em_config_t and swaps the pointer (the caller's business).
 */
#ifndef EMBER_BASE_CONFIG_H
#define EMBER_BASE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/regex.h"

/* Bounds on input. Files larger than this are refused with EM_ELIMIT. */
#define EM_CONFIG_MAX_FILE_BYTES (64u << 20)

/* ---------------------------------------------------------------------------------------------- */
/* Small containers. Maps from YAML (labels, headers, ...) are kept sorted by name, names unique.   */

typedef struct em_config_strs {
    char **v;
    size_t n;
} em_config_strs_t;

typedef struct em_config_kv {
    char *name;
    char *value;
} em_config_kv_t;

typedef struct em_config_kvs {
    em_config_kv_t *v; /* sorted by name */
    size_t n;
} em_config_kvs_t;

typedef struct em_config_param { /* one URL query parameter and its values (url.Values) */
    char *name;
    em_config_strs_t values;
} em_config_param_t;

typedef struct em_config_params {
    em_config_param_t *v; /* sorted by name */
    size_t n;
} em_config_params_t;

/* ---------------------------------------------------------------------------------------------- */
/* Relabelling (model/relabel).                                                                     */

typedef enum em_relabel_action {
    EM_RELABEL_REPLACE = 0,
    EM_RELABEL_KEEP,
    EM_RELABEL_DROP,
    EM_RELABEL_KEEPEQUAL,
    EM_RELABEL_DROPEQUAL,
    EM_RELABEL_HASHMOD,
    EM_RELABEL_LABELMAP,
    EM_RELABEL_LABELDROP,
    EM_RELABEL_LABELKEEP,
    EM_RELABEL_LOWERCASE,
    EM_RELABEL_UPPERCASE,
} em_relabel_action_t;

typedef struct em_relabel_config {
    em_config_strs_t source_labels; /* validated label names */
    char *separator;                /* default ";" */
    char *regex_src;                /* the pattern as written; default "(.*)" */
    em_regex_t *regex;              /* compiled (anchored) from regex_src */
    uint64_t modulus;
    char *target_label; /* NULL when not set */
    char *replacement;  /* default "$1" */
    em_relabel_action_t action;
    bool regex_set; /* the file set 'regex' (keepequal/dropequal refuse it, as Prometheus does) */
    int line, col;  /* position of this rule in the file */
} em_relabel_config_t;

/* Name of an action as Prometheus spells it ("replace", "labeldrop", ...). */
const char *em_relabel_action_name(em_relabel_action_t a);

/* ---------------------------------------------------------------------------------------------- */
/* HTTP client settings shared by scrape jobs, Alertmanagers and remote endpoints                  */
/* (common/config.HTTPClientConfig). Secrets are held in clear; rendering shows "<secret>".         */

typedef enum { EM_TLS_ANY = 0, EM_TLS_10, EM_TLS_11, EM_TLS_12, EM_TLS_13 } em_tls_version_t;

typedef struct em_tls_config {
    char *ca, *cert, *key; /* inline PEM text; key is a secret */
    char *ca_file, *cert_file, *key_file;
    char *server_name;
    bool insecure_skip_verify;
    em_tls_version_t min_version, max_version;
} em_tls_config_t;

typedef struct em_basic_auth {
    char *username, *username_file;
    char *password, *password_file; /* password is a secret */
} em_basic_auth_t;

typedef struct em_authorization {
    char *type; /* default "Bearer" */
    char *credentials, *credentials_file;
} em_authorization_t;

typedef struct em_oauth2 {
    char *client_id, *client_secret, *client_secret_file;
    em_config_strs_t scopes;
    char *token_url;
    em_config_kvs_t endpoint_params;
    em_tls_config_t tls_config;
    char *proxy_url, *no_proxy;
    bool proxy_from_environment;
} em_oauth2_t;

typedef struct em_http_client_config {
    em_basic_auth_t *basic_auth;            /* NULL when not configured */
    em_authorization_t *authorization;      /* NULL when not configured; bearer_token(_file) land here */
    em_oauth2_t *oauth2;                    /* NULL when not configured */
    char *bearer_token, *bearer_token_file; /* always NULL after load (moved into authorization) */
    em_tls_config_t tls_config;
    bool follow_redirects; /* default true */
    bool enable_http2;     /* default true (false for remote_write, as in Prometheus 3) */
    char *proxy_url, *no_proxy;
    bool proxy_from_environment;
} em_http_client_config_t;

/* ---------------------------------------------------------------------------------------------- */
/* Service discovery that Ember implements.                                                        */

typedef struct em_static_config { /* one target group */
    em_config_strs_t targets;
    em_config_kvs_t labels;
} em_static_config_t;

typedef struct em_file_sd_config {
    em_config_strs_t files;      /* joined with the config directory; globs allowed in the last element */
    int64_t refresh_interval_ms; /* default 5m */
} em_file_sd_config_t;

/* ---------------------------------------------------------------------------------------------- */

typedef struct em_global_config {
    int64_t scrape_interval_ms;        /* default 1m */
    int64_t scrape_timeout_ms;         /* default min(10s, scrape_interval) */
    em_config_strs_t scrape_protocols; /* empty when not set */
    int64_t evaluation_interval_ms;    /* default 1m */
    int64_t rule_query_offset_ms;
    char *query_log_file;
    char *scrape_failure_log_file;
    em_config_kvs_t external_labels; /* values with $VAR / ${VAR} expanded from the environment */
    int64_t body_size_limit_bytes;
    uint64_t sample_limit, target_limit, label_limit, label_name_length_limit, label_value_length_limit;
    uint64_t keep_dropped_targets;
    char *metric_name_validation_scheme; /* "legacy" */
    char *metric_name_escaping_scheme;   /* NULL unless set */
    int8_t scrape_native_histograms;     /* 0/1 after load */
    bool convert_classic_histograms_to_nhcb;
    bool always_scrape_classic_histograms;
    int8_t extra_scrape_metrics; /* 0/1 after load */
} em_global_config_t;

typedef struct em_scrape_config {
    char *job_name;
    bool honor_labels;               /* default false */
    bool honor_timestamps;           /* default true */
    bool track_timestamps_staleness; /* default false */
    em_config_params_t params;
    int64_t scrape_interval_ms;        /* default global */
    int64_t scrape_timeout_ms;         /* default min(global timeout, scrape_interval) */
    em_config_strs_t scrape_protocols; /* default: Prometheus's list, most preferred first */
    char *fallback_scrape_protocol;
    int8_t scrape_native_histograms; /* 0/1 after load; default global */
    int8_t always_scrape_classic_histograms;
    int8_t convert_classic_histograms_to_nhcb;
    char *scrape_failure_log_file;
    char *metrics_path;            /* default "/metrics" */
    char *scheme;                  /* "http" (default) or "https" */
    bool enable_compression;       /* default true */
    int64_t body_size_limit_bytes; /* 0 = no limit; default global */
    uint64_t sample_limit, target_limit, label_limit, label_name_length_limit, label_value_length_limit;
    uint64_t native_histogram_bucket_limit;
    double native_histogram_min_bucket_factor;
    uint64_t keep_dropped_targets;
    char *metric_name_validation_scheme; /* "legacy" */
    char *metric_name_escaping_scheme;   /* "underscores" unless set */
    int8_t extra_scrape_metrics;
    em_http_client_config_t http;
    em_relabel_config_t **relabel_configs;
    size_t n_relabel_configs;
    em_relabel_config_t **metric_relabel_configs;
    size_t n_metric_relabel_configs;
    em_file_sd_config_t **file_sd_configs;
    size_t n_file_sd_configs;
    em_static_config_t **static_configs;
    size_t n_static_configs;
    int line, col; /* position of the job in its file */
} em_scrape_config_t;

typedef struct em_alertmanager_config {
    em_http_client_config_t http;
    char *scheme;       /* default "http" */
    char *path_prefix;  /* NULL when not set */
    int64_t timeout_ms; /* default 10s */
    char *api_version;  /* "v2" */
    em_relabel_config_t **relabel_configs;
    size_t n_relabel_configs;
    em_relabel_config_t **alert_relabel_configs;
    size_t n_alert_relabel_configs;
    em_file_sd_config_t **file_sd_configs;
    size_t n_file_sd_configs;
    em_static_config_t **static_configs;
    size_t n_static_configs;
} em_alertmanager_config_t;

typedef struct em_alerting_config {
    em_relabel_config_t **alert_relabel_configs;
    size_t n_alert_relabel_configs;
    em_alertmanager_config_t **alertmanagers;
    size_t n_alertmanagers;
} em_alerting_config_t;

typedef struct em_queue_config {
    int64_t capacity;               /* default 10000 */
    int64_t max_shards;             /* default 50 */
    int64_t min_shards;             /* default 1 */
    int64_t max_samples_per_send;   /* default 2000 */
    int64_t batch_send_deadline_ms; /* default 5s */
    int64_t min_backoff_ms;         /* default 30ms */
    int64_t max_backoff_ms;         /* default 5s */
    bool retry_on_http_429;
    int64_t sample_age_limit_ms;
} em_queue_config_t;

typedef struct em_metadata_config {
    bool send;                    /* default true */
    int64_t send_interval_ms;     /* default 1m */
    int64_t max_samples_per_send; /* default 2000 */
} em_metadata_config_t;

typedef struct em_remote_write_config {
    char *url;
    int64_t remote_timeout_ms; /* default 30s */
    em_config_kvs_t headers;
    em_relabel_config_t **write_relabel_configs;
    size_t n_write_relabel_configs;
    char *name; /* NULL when not set */
    bool send_exemplars;
    bool send_native_histograms;
    bool round_robin_dns;
    char *protobuf_message; /* default "prometheus.WriteRequest" */
    em_http_client_config_t http;
    em_queue_config_t queue_config;
    em_metadata_config_t metadata_config;
} em_remote_write_config_t;

typedef struct em_remote_read_config {
    char *url;
    int64_t remote_timeout_ms;   /* default 1m */
    uint64_t chunked_read_limit; /* default 5e7 */
    em_config_kvs_t headers;
    bool read_recent; /* default false */
    char *name;       /* NULL when not set */
    em_http_client_config_t http;
    em_config_kvs_t required_matchers;
    bool filter_external_labels; /* default true */
} em_remote_read_config_t;

typedef struct em_storage_config {
    int64_t out_of_order_time_window_ms; /* storage.tsdb.out_of_order_time_window */
    int64_t retention_time_ms;           /* storage.tsdb.retention.time; 0 = flag or default */
    int64_t retention_size_bytes;        /* storage.tsdb.retention.size; 0 = flag or off */
    int64_t max_exemplars;               /* storage.exemplars.max_exemplars; default 100000 */
} em_storage_config_t;

typedef struct em_config {
    em_global_config_t global;
    em_alerting_config_t alerting;
    em_config_strs_t rule_files;          /* patterns, joined with the config directory */
    em_config_strs_t scrape_config_files; /* patterns, joined; their jobs are in scrape_configs */
    em_scrape_config_t **scrape_configs;  /* jobs from the file, then from scrape_config_files */
    size_t n_scrape_configs;
    em_storage_config_t storage;
    em_remote_write_config_t **remote_write;
    size_t n_remote_write;
    em_remote_read_config_t **remote_read;
    size_t n_remote_read;
    char *source; /* the file name given to load (or the name passed to load_string) */
    char *dir;    /* directory relative paths were resolved against ("" for load_string) */
} em_config_t;

/* ---------------------------------------------------------------------------------------------- */

/* Read and parse the configuration file at 'path'. Relative paths inside it are resolved against
 * the file's directory; scrape_config_files are read too. Returns EM_OK and sets *out (free with
 * em_config_free); EM_EIO when the file cannot be read; EM_ELIMIT when it exceeds
 * EM_CONFIG_MAX_FILE_BYTES; EM_EINVAL for any invalid content, with the one-line message described
 * above in err. On failure *out is untouched. Thread: any. */
int em_config_load_file(const char *path, em_config_t **out, em_err_t *err);

/* Parse n bytes of YAML; 'name' (may be NULL: "<string>") is used in messages. Relative paths are
 * left as written (no directory), and scrape_config_files globs are resolved against the current
 * directory. Same return codes as em_config_load_file. Thread: any. */
int em_config_load_string(const char *text, size_t n, const char *name, em_config_t **out, em_err_t *err);

/* Free everything; NULL allowed. Thread: any, once no reader uses the config. */
void em_config_free(em_config_t *cfg);

/* The configuration used when ember starts without --config.file: global scrape and evaluation
 * intervals of 15s and one job "ember" scraping localhost:<port of listen_address> (default 9090
 * when the address has no port). Written into buf (n bytes, NUL-terminated, truncated if too small:
 * 512 bytes always suffice); returns buf. Thread: any. */
const char *em_config_default_text(const char *listen_address, char *buf, size_t n);

/* Append the configuration as YAML with every default filled in, in Prometheus's field order and
 * spelling, as /api/v1/status/config shows it; secrets are shown as "<secret>" and passwords in URLs as
 * "xxxxx". Thread: any. */
void em_config_render_yaml(const em_config_t *cfg, em_buf_t *out);

/* A 64-bit fingerprint of one job's complete settings (secrets included, line numbers excluded):
 * equal settings give equal fingerprints, so a reload can keep the targets of unchanged jobs.
 * Thread: any. */
uint64_t em_config_scrape_fingerprint(const em_scrape_config_t *sc);

/* Expand cfg->rule_files: each pattern globbed (sorted, as Go's filepath.Glob), in pattern order,
 * duplicates removed. A pattern matching nothing contributes nothing. Returns EM_OK and fills *out
 * (caller frees with em_config_strs_fini), or EM_EINVAL when a pattern is malformed. Thread: any. */
int em_config_rule_files(const em_config_t *cfg, em_config_strs_t *out, em_err_t *err);

/* Parse a Prometheus byte size (alecthomas/units Base2Bytes: "0", "512KB", "10MiB", "1.5GB", units
 * B, KB/KiB, MB/MiB, GB/GiB, TB/TiB, PB/PiB, EB/EiB, base 1024). Returns EM_OK or EM_EINVAL with
 * Prometheus's message ("units: unknown unit X in Y"). Format writes the Prometheus spelling ("10MiB",
 * "0B") into out (32 bytes). Thread: any. */
int em_bytes_parse(const char *s, size_t n, int64_t *bytes, em_err_t *err);
size_t em_bytes_format(int64_t bytes, char *out);

void em_config_strs_fini(em_config_strs_t *s);

#endif
