/* Command-line flags of the ember server. Design: see options.h. */
#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/duration.h"
#include "base/mem.h"
#include "base/options.h"

#ifndef EMBER_VERSION
#define EMBER_VERSION "0.0.0"
#endif
#ifndef EMBER_BRANCH
#define EMBER_BRANCH "unknown"
#endif
#ifndef EMBER_REVISION
#define EMBER_REVISION "unknown"
#endif
#ifndef EMBER_BUILD_USER
#define EMBER_BUILD_USER "unknown"
#endif

typedef enum { K_STR, K_BOOL, K_DUR, K_INT, K_BYTES, K_FEATURES, K_LOGLEVEL, K_LOGFORMAT } kind_t;

typedef struct flag {
    const char *name;
    kind_t kind;
    size_t off;
    const char *dflt;        /* parsed like a user's value; NULL: unset */
    const char *placeholder; /* shown in --help when there is no default */
    const char *help;
} flag_t;

#define O(m) offsetof(em_options_t, m)

static const flag_t flags[] = {
    {"config.file", K_STR, O(config_file), NULL, "<path>",
     "Configuration file path. Default: a built-in configuration that scrapes ember itself."},
    {"web.listen-address", K_STR, O(web_listen_address), "0.0.0.0:9090", NULL,
     "Address to listen on for UI, API, and telemetry."},
    {"web.config.file", K_STR, O(web_config_file), NULL, "<path>",
     "Path to configuration file that can enable TLS or authentication."},
    {"web.read-timeout", K_DUR, O(web_read_timeout_ms), "5m", NULL,
     "Maximum duration before timing out read of the request, and closing idle connections."},
    {"web.max-connections", K_INT, O(web_max_connections), "512", NULL,
     "Maximum number of simultaneous connections."},
    {"web.external-url", K_STR, O(web_external_url), NULL, "<URL>",
     "The URL under which ember is externally reachable (for example, if served via a reverse proxy)."},
    {"web.route-prefix", K_STR, O(web_route_prefix), NULL, "<path>",
     "Prefix for the internal routes of web endpoints. Defaults to path of --web.external-url."},
    {"web.enable-lifecycle", K_BOOL, O(web_enable_lifecycle), "false", NULL,
     "Enable shutdown and reload via HTTP request."},
    {"web.enable-admin-api", K_BOOL, O(web_enable_admin_api), "false", NULL,
     "Enable API endpoints for admin control actions."},
    {"web.enable-remote-write-receiver", K_BOOL, O(web_enable_remote_write_receiver), "true", NULL,
     "Enable API endpoint accepting remote write requests."},
    {"web.page-title", K_STR, O(web_page_title), "Ember Time Series Collection and Processing Server", NULL,
     "Document title of the ember instance."},
    {"storage.tsdb.path", K_STR, O(storage_tsdb_path), "data/", NULL, "Base path for metrics storage."},
    {"storage.tsdb.retention", K_DUR, O(storage_tsdb_retention_time_ms), NULL, "<duration>",
     "[DEPRECATED] How long to retain samples in storage. Use --storage.tsdb.retention.time."},
    {"storage.tsdb.retention.time", K_DUR, O(storage_tsdb_retention_time_ms), NULL, "<duration>",
     "How long to retain samples in storage. If neither this flag nor --storage.tsdb.retention.size is set, "
     "15d; 0 means the default."},
    {"storage.tsdb.retention.size", K_BYTES, O(storage_tsdb_retention_size_bytes), "0", NULL,
     "Maximum number of bytes that can be stored for blocks (B, KB, MB, GB, TB, PB, EB; base 1024). 0 "
     "disables."},
    {"storage.tsdb.min-block-duration", K_DUR, O(storage_tsdb_min_block_duration_ms), "2h", NULL,
     "Minimum duration of a data block before being persisted."},
    {"storage.tsdb.max-block-duration", K_DUR, O(storage_tsdb_max_block_duration_ms), NULL, "<duration>",
     "Maximum duration compacted blocks may span. Defaults to 10% of the retention period, at most 31d."},
    {"storage.tsdb.no-lockfile", K_BOOL, O(storage_tsdb_no_lockfile), "false", NULL,
     "Do not create lockfile in data directory."},
    {"storage.tsdb.wal-compression", K_BOOL, O(storage_tsdb_wal_compression), "false", NULL,
     "Compress the tsdb WAL."},
    {"storage.tsdb.wal-segment-size", K_BYTES, O(storage_tsdb_wal_segment_size_bytes), "128MB", NULL,
     "Size at which to split the tsdb WAL segment files."},
    {"storage.tsdb.head-shards", K_INT, O(storage_tsdb_head_shards), "0", NULL,
     "Number of shards (ingestion threads) of the in-memory head. 0 means the number of CPUs."},
    {"storage.remote.read-sample-limit", K_INT, O(storage_remote_read_sample_limit), "5e7", NULL,
     "Maximum overall number of samples to return via the remote read interface, in a single query. 0 means "
     "no "
     "limit."},
    {"storage.remote.read-concurrent-limit", K_INT, O(storage_remote_read_concurrent_limit), "10", NULL,
     "Maximum number of concurrent remote read calls. 0 means no limit."},
    {"storage.remote.read-max-bytes-in-frame", K_INT, O(storage_remote_read_max_bytes_in_frame), "1048576",
     NULL,
     "Maximum number of bytes in a single frame for streaming remote read response types before "
     "marshalling."},
    {"rules.alert.for-outage-tolerance", K_DUR, O(rules_alert_for_outage_tolerance_ms), "1h", NULL,
     "Max time to tolerate an outage for restoring \"for\" state of alert."},
    {"rules.alert.for-grace-period", K_DUR, O(rules_alert_for_grace_period_ms), "10m", NULL,
     "Minimum duration between alert and restored \"for\" state."},
    {"rules.alert.resend-delay", K_DUR, O(rules_alert_resend_delay_ms), "1m", NULL,
     "Minimum amount of time to wait before resending an alert to Alertmanager."},
    {"alertmanager.notification-queue-capacity", K_INT, O(alertmanager_notification_queue_capacity), "10000",
     NULL, "The capacity of the queue for pending Alertmanager notifications."},
    {"query.lookback-delta", K_DUR, O(query_lookback_delta_ms), "5m", NULL,
     "The maximum lookback duration for retrieving metrics during expression evaluations and federation."},
    {"query.timeout", K_DUR, O(query_timeout_ms), "2m", NULL,
     "Maximum time a query may take before being aborted."},
    {"query.max-concurrency", K_INT, O(query_max_concurrency), "20", NULL,
     "Maximum number of queries executed concurrently."},
    {"query.max-samples", K_INT, O(query_max_samples), "50000000", NULL,
     "Maximum number of samples a single query can load into memory."},
    {"enable-feature", K_FEATURES, O(enable_feature), NULL, "<name>,...",
     "Comma separated feature names to enable (repeatable)."},
    {"log.level", K_LOGLEVEL, O(log_level), "info", NULL,
     "Only log messages with the given severity or above. One of: [debug, info, warn, error]"},
    {"log.format", K_LOGFORMAT, O(log_format), "logfmt", NULL,
     "Output format of log messages. One of: [logfmt, json]"},
    {"http.workers", K_INT, O(http_workers), "2", NULL, "Number of HTTP event-loop threads."},
    {"query.workers", K_INT, O(query_workers), "0", NULL,
     "Number of query evaluation threads. 0 means the number of CPUs."},
};

#define N_FLAGS EM_ARRAY_LEN(flags)

typedef struct feature {
    const char *name;
    size_t off; /* in em_features_t; SIZE_MAX: accepted, nothing to record */
} feature_t;

#define F(m) offsetof(em_features_t, m)
static const feature_t features[] = {
    {"promql-experimental-functions", F(promql_experimental_functions)},
    {"promql-duration-expr", F(promql_duration_expr)},
    {"promql-extended-range-selectors", F(promql_extended_range_selectors)},
    {"promql-binop-fill-modifiers", F(promql_binop_fill_modifiers)},
    {"promql-delayed-name-removal", F(promql_delayed_name_removal)},
    {"promql-at-modifier", F(promql_at_modifier)},
    {"promql-negative-offset", F(promql_negative_offset)},
    {"promql-per-step-stats", F(promql_per_step_stats)},
    {"use-start-timestamps", F(use_start_timestamps)},
    {"exemplar-storage", F(exemplar_storage)},
    {"memory-snapshot-on-shutdown", F(memory_snapshot_on_shutdown)},
    {"extra-scrape-metrics", F(extra_scrape_metrics)},
    {"native-histograms", F(native_histograms)},
    {"created-timestamp-zero-ingestion", F(created_timestamp_zero_ingestion)},
    {"concurrent-rule-eval", F(concurrent_rule_eval)},
    {"auto-reload-config", F(auto_reload_config)},
    {"metadata-wal-records", F(metadata_wal_records)},
    {"delayed-compaction", F(delayed_compaction)},
    {"old-ui", F(old_ui)},
    {"otlp-deltatocumulative", F(otlp_deltatocumulative)},
    {"type-and-unit-labels", F(type_and_unit_labels)},
    {"expand-external-labels", F(expand_external_labels)},
    /* Other names Prometheus 2.x or 3.x knows: accepted without a warning, nothing to record. */
    {"ooo-native-histograms", SIZE_MAX},
    {"remote-write-receiver", SIZE_MAX},
    {"new-service-discovery-manager", SIZE_MAX},
    {"no-default-scrape-port", SIZE_MAX},
    {"xor2-encoding", SIZE_MAX},
    {"st-storage", SIZE_MAX},
    {"st-synthesis", SIZE_MAX},
    {"histograms-st-encoding", SIZE_MAX},
    {"use-start-timestamps", SIZE_MAX},
    {"otlp-native-delta-ingestion", SIZE_MAX},
    {"use-uncached-io", SIZE_MAX},
    {"fast-startup", SIZE_MAX},
    {"search-api", SIZE_MAX},
};

/* ---------------------------------------------------------------------------------------------- */

static void *field(em_options_t *o, const flag_t *f)
{
    return (char *)o + f->off;
}

static const void *cfield(const em_options_t *o, const flag_t *f)
{
    return (const char *)o + f->off;
}

/* Go's strconv.ParseBool. */
static int parse_bool(const char *s, bool *out)
{
    static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < EM_ARRAY_LEN(t); i++) {
        if (strcmp(s, t[i]) == 0) {
            *out = true;
            return EM_OK;
        }
        if (strcmp(s, f[i]) == 0) {
            *out = false;
            return EM_OK;
        }
    }
    return EM_EINVAL;
}

/* kingpin's integers go through strconv.ParseFloat, so "5e7" is 50000000. */
static int parse_int(const char *s, int64_t *out, char *why, size_t why_n)
{
    char *end;
    double d = strtod(s, &end);
    if (!*s || *end || isspace((unsigned char)*s)) {
        snprintf(why, why_n, "strconv.ParseFloat: parsing %s: invalid syntax", s);
        return EM_EINVAL;
    }
    if (d != floor(d) || d < -9.2e18 || d > 9.2e18) {
        snprintf(why, why_n, "%s is not an integer", s);
        return EM_EINVAL;
    }
    *out = (int64_t)d;
    return EM_OK;
}

static void add_feature(em_options_t *o, const char *name, size_t n)
{
    char *s = em_strndup(name, n);
    o->enable_feature = em_realloc(o->enable_feature, (o->n_enable_feature + 1) * sizeof(char *));
    o->enable_feature[o->n_enable_feature++] = s;
    for (size_t i = 0; i < EM_ARRAY_LEN(features); i++) {
        if (strcmp(features[i].name, s) == 0) {
            if (features[i].off != SIZE_MAX)
                *(bool *)((char *)&o->features + features[i].off) = true;
            return;
        }
    }
    o->unknown_features = em_realloc(o->unknown_features, (o->n_unknown_features + 1) * sizeof(char *));
    o->unknown_features[o->n_unknown_features++] = em_strdup(s);
}

/* Set flag f from text v. On failure writes the reason (after "for flag --x: ") into why. */
static int set_value(em_options_t *o, const flag_t *f, const char *v, char *why, size_t why_n)
{
    void *p = field(o, f);
    em_err_t e;
    bool b;
    switch (f->kind) {
    case K_STR:
        free(*(char **)p);
        *(char **)p = em_strdup(v);
        return EM_OK;
    case K_BOOL:
        if (parse_bool(v, &b) != EM_OK) {
            snprintf(why, why_n, "strconv.ParseBool: parsing \"%s\": invalid syntax", v);
            return EM_EINVAL;
        }
        *(bool *)p = b;
        return EM_OK;
    case K_DUR:
        if (em_duration_parse(v, strlen(v), (int64_t *)p, &e) != EM_OK) {
            snprintf(why, why_n, "%s", e.msg);
            return EM_EINVAL;
        }
        return EM_OK;
    case K_BYTES:
        if (em_bytes_parse(v, strlen(v), (int64_t *)p, &e) != EM_OK) {
            snprintf(why, why_n, "%s", e.msg);
            return EM_EINVAL;
        }
        return EM_OK;
    case K_INT:
        return parse_int(v, (int64_t *)p, why, why_n);
    case K_FEATURES:
        for (const char *s = v; *s;) {
            size_t n = strcspn(s, ",");
            if (n)
                add_feature(o, s, n);
            s += n + (s[n] == ',');
        }
        return EM_OK;
    case K_LOGLEVEL:
        if (em_log_parse_level(v, (em_log_level_t *)p) != EM_OK) {
            snprintf(why, why_n, "enum value must be one of debug,info,warn,error, got '%s'", v);
            return EM_EINVAL;
        }
        return EM_OK;
    case K_LOGFORMAT:
        if (em_log_parse_format(v, (em_log_format_t *)p) != EM_OK) {
            snprintf(why, why_n, "enum value must be one of logfmt,json, got '%s'", v);
            return EM_EINVAL;
        }
        return EM_OK;
    }
    return EM_EINVAL;
}

static size_t flag_index(const char *name, size_t n)
{
    for (size_t i = 0; i < N_FLAGS; i++)
        if (strlen(flags[i].name) == n && memcmp(flags[i].name, name, n) == 0)
            return i;
    return SIZE_MAX;
}

static bool given(const em_options_t *o, const char *name)
{
    size_t i = flag_index(name, strlen(name));
    return (o->given_[i / 64] >> (i % 64)) & 1;
}

static long ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

/* Defaults that depend on other flags, resolved as Prometheus's main.go does. */
static void resolve(em_options_t *o)
{
    const int64_t day = EM_MS_PER_DAY, max_retention = 100 * 365 * day;
    if (o->storage_tsdb_retention_time_ms == 0 && o->storage_tsdb_retention_size_bytes == 0)
        o->storage_tsdb_retention_time_ms = 15 * day;
    if (o->storage_tsdb_retention_time_ms > max_retention)
        o->storage_tsdb_retention_time_ms = max_retention;
    if (!given(o, "storage.tsdb.max-block-duration") || o->storage_tsdb_max_block_duration_ms == 0) {
        int64_t m = 31 * day;
        if (o->storage_tsdb_retention_time_ms != 0 && o->storage_tsdb_retention_time_ms / 10 < m)
            m = o->storage_tsdb_retention_time_ms / 10;
        o->storage_tsdb_max_block_duration_ms = m;
    }
    if (o->storage_tsdb_max_block_duration_ms < o->storage_tsdb_min_block_duration_ms)
        o->storage_tsdb_max_block_duration_ms = o->storage_tsdb_min_block_duration_ms;
    if (o->query_workers == 0)
        o->query_workers = ncpus();
}

void em_options_init(em_options_t *out)
{
    memset(out, 0, sizeof(*out));
    char why[256];
    for (size_t i = 0; i < N_FLAGS; i++) {
        if (flags[i].dflt) {
            int rc = set_value(out, &flags[i], flags[i].dflt, why, sizeof(why));
            (void)rc; /* the table's defaults are valid; the options test checks every one */
        }
    }
    resolve(out);
}

void em_options_fini(em_options_t *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < N_FLAGS; i++)
        if (flags[i].kind == K_STR)
            free(*(char **)field(o, &flags[i]));
    for (size_t i = 0; i < o->n_enable_feature; i++)
        free(o->enable_feature[i]);
    free(o->enable_feature);
    for (size_t i = 0; i < o->n_unknown_features; i++)
        free(o->unknown_features[i]);
    free(o->unknown_features);
    memset(o, 0, sizeof(*o));
}

/* One "--name[=value]" argument; *i advances past a separate value. */
static int parse_long(em_options_t *o, int argc, char **argv, int *i, em_err_t *err)
{
    const char *arg = argv[*i] + 2;
    const char *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
    size_t fi = flag_index(arg, nlen);
    bool negated = false;
    if (fi == SIZE_MAX && nlen > 3 && memcmp(arg, "no-", 3) == 0 && !eq) {
        fi = flag_index(arg + 3, nlen - 3);
        if (fi != SIZE_MAX && flags[fi].kind != K_BOOL)
            fi = SIZE_MAX;
        negated = true;
    }
    if (fi == SIZE_MAX)
        return em_err_set(err, EM_EINVAL, "ember: error: unknown long flag '--%.*s', try --help", (int)nlen,
                          arg);
    const flag_t *f = &flags[fi];
    bool repeatable = f->kind == K_FEATURES;
    if (!repeatable && ((o->given_[fi / 64] >> (fi % 64)) & 1))
        return em_err_set(err, EM_EINVAL, "ember: error: flag '%s' cannot be repeated", f->name);
    o->given_[fi / 64] |= 1ull << (fi % 64);
    const char *value;
    if (f->kind == K_BOOL && !eq)
        value = negated ? "false" : "true";
    else if (eq)
        value = eq + 1;
    else if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0)
        value = argv[++*i];
    else
        return em_err_set(err, EM_EINVAL, "ember: error: expected argument for flag '--%s'", f->name);
    char why[EM_ERR_MSG_MAX / 2];
    /* The deprecated alias never overrides storage.tsdb.retention.time, whatever the order. */
    int64_t keep_ms = o->storage_tsdb_retention_time_ms;
    bool keep = strcmp(f->name, "storage.tsdb.retention") == 0 && given(o, "storage.tsdb.retention.time");
    int rc = set_value(o, f, value, why, sizeof(why));
    if (keep)
        o->storage_tsdb_retention_time_ms = keep_ms;
    if (rc != EM_OK)
        return em_err_set(err, EM_EINVAL, "ember: error: invalid value \"%.100s\" for flag --%s: %s", value,
                          f->name, why);
    return EM_OK;
}

static int check_ranges(const em_options_t *o, em_err_t *err)
{
    if (o->http_workers < 1 || o->http_workers > 1024)
        return em_err_set(err, EM_EINVAL,
                          "ember: error: invalid value \"%lld\" for flag --http.workers: must be "
                          "between 1 and 1024",
                          (long long)o->http_workers);
    if (o->query_workers < 0 || o->query_workers > 1024)
        return em_err_set(err, EM_EINVAL,
                          "ember: error: invalid value \"%lld\" for flag --query.workers: must be "
                          "between 0 and 1024",
                          (long long)o->query_workers);
    if (o->storage_tsdb_head_shards < 0 || o->storage_tsdb_head_shards > 1024)
        return em_err_set(err, EM_EINVAL,
                          "ember: error: invalid value \"%lld\" for flag --storage.tsdb.head-shards: "
                          "must be between 0 and 1024",
                          (long long)o->storage_tsdb_head_shards);
    if (o->storage_tsdb_retention_size_bytes < 0)
        return em_err_set(err, EM_EINVAL,
                          "ember: error: invalid value for flag --storage.tsdb.retention.size: must "
                          "not be negative");
    return EM_OK;
}

int em_options_parse(int argc, char **argv, em_options_t *out, em_err_t *err)
{
    em_options_init(out);
    /* The resolved defaults are recomputed from the given values below. */
    out->storage_tsdb_retention_time_ms = 0;
    out->storage_tsdb_max_block_duration_ms = 0;
    out->query_workers = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return EM_OPTIONS_HELP;
        if (strcmp(a, "--version") == 0)
            return EM_OPTIONS_VERSION;
        if (strncmp(a, "--", 2) == 0 && a[2]) {
            int rc = parse_long(out, argc, argv, &i, err);
            if (rc)
                return rc;
        } else if (a[0] == '-' && a[1] && a[1] != '-') {
            return em_err_set(err, EM_EINVAL, "ember: error: unknown short flag '-%c', try --help", a[1]);
        } else {
            return em_err_set(err, EM_EINVAL, "ember: error: unexpected %s, try --help", a);
        }
    }
    int rc = check_ranges(out, err);
    if (rc)
        return rc;
    resolve(out);
    return EM_OK;
}

/* ---------------------------------------------------------------------------------------------- */

static void format_value(const em_options_t *o, const flag_t *f, em_buf_t *b)
{
    const void *p = cfield(o, f);
    char tmp[64];
    switch (f->kind) {
    case K_STR:
        em_buf_puts(b, *(char *const *)p ? *(char *const *)p : "");
        break;
    case K_BOOL:
        em_buf_puts(b, *(const bool *)p ? "true" : "false");
        break;
    case K_DUR:
        em_duration_format(*(const int64_t *)p, tmp);
        em_buf_puts(b, tmp);
        break;
    case K_BYTES:
        em_bytes_format(*(const int64_t *)p, tmp);
        em_buf_puts(b, tmp);
        break;
    case K_INT:
        em_buf_printf(b, "%lld", (long long)*(const int64_t *)p);
        break;
    case K_FEATURES:
        for (size_t i = 0; i < o->n_enable_feature; i++)
            em_buf_printf(b, "%s%s", i ? "," : "", o->enable_feature[i]);
        break;
    case K_LOGLEVEL: {
        static const char *const names[] = {"debug", "info", "warn", "error"};
        em_buf_puts(b, names[*(const em_log_level_t *)p]);
        break;
    }
    case K_LOGFORMAT:
        em_buf_puts(b, *(const em_log_format_t *)p == EM_LOG_JSON ? "json" : "logfmt");
        break;
    }
}

void em_options_foreach(const em_options_t *o, void (*fn)(const char *name, const char *value, void *arg),
                        void *arg)
{
    em_buf_t b = EM_BUF_INIT;
    for (size_t i = 0; i < N_FLAGS; i++) {
        em_buf_reset(&b);
        em_buf_puts(&b, "");
        /* The deprecated alias shares its member with retention.time; show it only when given. */
        if (strcmp(flags[i].name, "storage.tsdb.retention") == 0 && !given(o, flags[i].name))
            em_buf_puts(&b, "");
        else
            format_value(o, &flags[i], &b);
        fn(flags[i].name, b.data, arg);
    }
    em_buf_fini(&b);
}

/* One help line: the flag, padded to a column (at least two spaces), then its description. */
static void help_row(em_buf_t *out, const char *left, const char *help)
{
    enum { COLUMN = 41 };
    int pad = COLUMN - (int)strlen(left);
    em_buf_printf(out, "%s%*s%s\n", left, pad > 2 ? pad : 2, "", help);
}

void em_options_help(em_buf_t *out)
{
    em_buf_t left = EM_BUF_INIT;
    em_buf_puts(
        out, "usage: ember [<flags>]\n\nThe Ember time series database and monitoring server.\n\nFlags:\n");
    help_row(out, "  -h, --help", "Show context-sensitive help.");
    help_row(out, "      --version", "Show application version.");
    for (size_t i = 0; i < N_FLAGS; i++) {
        const flag_t *f = &flags[i];
        em_buf_reset(&left);
        if (f->kind == K_BOOL)
            em_buf_printf(&left, "      --[no-]%s", f->name);
        else if (f->dflt && (f->kind == K_STR || f->kind == K_LOGLEVEL || f->kind == K_LOGFORMAT))
            em_buf_printf(&left, "      --%s=\"%s\"", f->name, f->dflt);
        else if (f->dflt)
            em_buf_printf(&left, "      --%s=%s", f->name, f->dflt);
        else
            em_buf_printf(&left, "      --%s=%s", f->name, f->placeholder ? f->placeholder : "");
        help_row(out, left.data, f->help);
    }
    em_buf_fini(&left);
}

void em_options_version(em_buf_t *out)
{
#if defined(__x86_64__)
    const char *arch = "amd64";
#elif defined(__aarch64__)
    const char *arch = "arm64";
#else
    const char *arch = "unknown";
#endif
#if defined(__clang__)
    const char *cc = "clang";
#else
    const char *cc = "gcc";
#endif
    em_buf_printf(out, "ember, version %s (branch: %s, revision: %s)\n", EMBER_VERSION, EMBER_BRANCH,
                  EMBER_REVISION);
    em_buf_printf(out, "  build user:       %s\n", EMBER_BUILD_USER);
    em_buf_printf(out, "  build date:       %s %s\n", __DATE__, __TIME__);
    em_buf_printf(out, "  compiler:         %s %s\n", cc, __VERSION__);
    em_buf_printf(out, "  platform:         linux/%s\n", arch);
}
