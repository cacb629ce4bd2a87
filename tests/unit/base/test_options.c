#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/options.h"

#define ARGV(...) ((char *[]){"ember", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"ember", __VA_ARGS__}) / sizeof(char *)))

static void parse_ok(int argc, char **argv, em_options_t *o)
{
    em_err_t err = {0};
    int rc = em_options_parse(argc, argv, o, &err);
    cr_assert_eq(rc, EM_OK, "%s", err.msg);
}

static void parse_err(int argc, char **argv, const char *want)
{
    em_options_t o;
    em_err_t err = {0};
    int rc = em_options_parse(argc, argv, &o, &err);
    em_options_fini(&o);
    cr_assert_eq(rc, EM_EINVAL, "expected an error: %s", want);
    cr_assert_str_eq(err.msg, want);
}

Test(base_options, defaults_match_prometheus)
{
    em_options_t o;
    char *argv[] = {"ember", NULL};
    parse_ok(1, argv, &o);
    cr_assert_null(o.config_file);
    cr_assert_str_eq(o.web_listen_address, "0.0.0.0:9090");
    cr_assert_null(o.web_config_file);
    cr_assert_eq(o.web_read_timeout_ms, 5 * 60000);
    cr_assert_eq(o.web_max_connections, 512);
    cr_assert_null(o.web_external_url);
    cr_assert(!o.web_enable_lifecycle);
    cr_assert(!o.web_enable_admin_api);
    cr_assert(o.web_enable_remote_write_receiver, "ember is a remote store: on by default");
    cr_assert_str_eq(o.storage_tsdb_path, "data/");
    cr_assert_eq(o.storage_tsdb_retention_time_ms, 15LL * 86400000);
    cr_assert_eq(o.storage_tsdb_retention_size_bytes, 0);
    cr_assert_eq(o.storage_tsdb_min_block_duration_ms, 2 * 3600000);
    cr_assert_eq(o.storage_tsdb_max_block_duration_ms, 15LL * 86400000 / 10, "10%% of retention");
    cr_assert(!o.storage_tsdb_no_lockfile);
    cr_assert(!o.storage_tsdb_wal_compression);
    cr_assert_eq(o.storage_tsdb_wal_segment_size_bytes, 128LL << 20);
    cr_assert_eq(o.storage_tsdb_head_shards, 0);
    cr_assert_eq(o.storage_remote_read_sample_limit, 50000000);
    cr_assert_eq(o.storage_remote_read_concurrent_limit, 10);
    cr_assert_eq(o.storage_remote_read_max_bytes_in_frame, 1048576);
    cr_assert_eq(o.rules_alert_for_outage_tolerance_ms, 3600000);
    cr_assert_eq(o.rules_alert_for_grace_period_ms, 600000);
    cr_assert_eq(o.rules_alert_resend_delay_ms, 60000);
    cr_assert_eq(o.alertmanager_notification_queue_capacity, 10000);
    cr_assert_eq(o.query_lookback_delta_ms, 300000);
    cr_assert_eq(o.query_timeout_ms, 120000);
    cr_assert_eq(o.query_max_concurrency, 20);
    cr_assert_eq(o.query_max_samples, 50000000);
    cr_assert_eq(o.n_enable_feature, 0);
    cr_assert_eq(o.log_level, EM_LOG_INFO);
    cr_assert_eq(o.log_format, EM_LOG_LOGFMT);
    cr_assert_eq(o.http_workers, 2);
    cr_assert_eq(o.query_workers, sysconf(_SC_NPROCESSORS_ONLN));
    em_options_fini(&o);
}

Test(base_options, every_syntax_form)
{
    em_options_t o;
    parse_ok(ARGC("--config.file=/etc/p.yml", "--web.listen-address", "127.0.0.1:9999",
                  "--web.enable-lifecycle", "--web.enable-admin-api=true", "--storage.tsdb.no-lockfile=false",
                  "--query.timeout", "30s", "--query.max-samples=1e6", "--storage.tsdb.retention.size=1GB",
                  "--log.level=debug", "--log.format", "json", "--web.page-title=a=b"),
             ARGV("--config.file=/etc/p.yml", "--web.listen-address", "127.0.0.1:9999",
                  "--web.enable-lifecycle", "--web.enable-admin-api=true", "--storage.tsdb.no-lockfile=false",
                  "--query.timeout", "30s", "--query.max-samples=1e6", "--storage.tsdb.retention.size=1GB",
                  "--log.level=debug", "--log.format", "json", "--web.page-title=a=b"),
             &o);
    cr_assert_str_eq(o.config_file, "/etc/p.yml");
    cr_assert_str_eq(o.web_listen_address, "127.0.0.1:9999");
    cr_assert(o.web_enable_lifecycle);
    cr_assert(o.web_enable_admin_api);
    cr_assert(!o.storage_tsdb_no_lockfile);
    cr_assert_eq(o.query_timeout_ms, 30000);
    cr_assert_eq(o.query_max_samples, 1000000);
    cr_assert_eq(o.storage_tsdb_retention_size_bytes, 1LL << 30);
    cr_assert_eq(o.storage_tsdb_retention_time_ms, 0, "a size limit alone means no time limit");
    cr_assert_eq(o.storage_tsdb_max_block_duration_ms, 31LL * 86400000);
    cr_assert_eq(o.log_level, EM_LOG_DEBUG);
    cr_assert_eq(o.log_format, EM_LOG_JSON);
    cr_assert_str_eq(o.web_page_title, "a=b");
    em_options_fini(&o);
}

Test(base_options, no_prefix_turns_booleans_off)
{
    em_options_t o;
    parse_ok(ARGC("--no-web.enable-remote-write-receiver", "--no-storage.tsdb.wal-compression"),
             ARGV("--no-web.enable-remote-write-receiver", "--no-storage.tsdb.wal-compression"), &o);
    cr_assert(!o.web_enable_remote_write_receiver);
    cr_assert(!o.storage_tsdb_wal_compression);
    em_options_fini(&o);
    parse_ok(ARGC("--web.enable-remote-write-receiver=0"), ARGV("--web.enable-remote-write-receiver=0"), &o);
    cr_assert(!o.web_enable_remote_write_receiver);
    em_options_fini(&o);
    parse_err(ARGC("--no-query.timeout"), ARGV("--no-query.timeout"),
              "ember: error: unknown long flag '--no-query.timeout', try --help");
}

Test(base_options, enable_feature_is_repeatable_and_splits_commas)
{
    em_options_t o;
    parse_ok(ARGC("--enable-feature=promql-experimental-functions,promql-at-modifier", "--enable-feature",
                  "promql-duration-expr", "--enable-feature=no-such-thing,promql-negative-offset"),
             ARGV("--enable-feature=promql-experimental-functions,promql-at-modifier", "--enable-feature",
                  "promql-duration-expr", "--enable-feature=no-such-thing,promql-negative-offset"),
             &o);
    cr_assert(o.features.promql_experimental_functions);
    cr_assert(o.features.promql_at_modifier);
    cr_assert(o.features.promql_duration_expr);
    cr_assert(o.features.promql_negative_offset);
    cr_assert(!o.features.promql_extended_range_selectors);
    cr_assert_eq(o.n_enable_feature, 5);
    cr_assert_eq(o.n_unknown_features, 1, "an unknown feature is a warning, not an error");
    cr_assert_str_eq(o.unknown_features[0], "no-such-thing");
    em_options_fini(&o);
    parse_ok(ARGC("--enable-feature=promql-extended-range-selectors,promql-binop-fill-modifiers,"
                  "promql-delayed-name-removal"),
             ARGV("--enable-feature=promql-extended-range-selectors,promql-binop-fill-modifiers,"
                  "promql-delayed-name-removal"),
             &o);
    cr_assert(o.features.promql_extended_range_selectors);
    cr_assert(o.features.promql_binop_fill_modifiers);
    cr_assert(o.features.promql_delayed_name_removal);
    em_options_fini(&o);
}

Test(base_options, bad_values_give_kingpin_messages)
{
    parse_err(
        ARGC("--query.timeout=abc"), ARGV("--query.timeout=abc"),
        "ember: error: invalid value \"abc\" for flag --query.timeout: not a valid duration string: \"abc\"");
    parse_err(
        ARGC("--query.max-concurrency", "x"), ARGV("--query.max-concurrency", "x"),
        "ember: error: invalid value \"x\" for flag --query.max-concurrency: strconv.ParseFloat: parsing x: "
        "invalid syntax");
    parse_err(ARGC("--query.max-concurrency=1.5"), ARGV("--query.max-concurrency=1.5"),
              "ember: error: invalid value \"1.5\" for flag --query.max-concurrency: 1.5 is not an integer");
    parse_err(
        ARGC("--web.enable-lifecycle=maybe"), ARGV("--web.enable-lifecycle=maybe"),
        "ember: error: invalid value \"maybe\" for flag --web.enable-lifecycle: strconv.ParseBool: parsing "
        "\"maybe\": invalid syntax");
    parse_err(ARGC("--storage.tsdb.retention.size=12"), ARGV("--storage.tsdb.retention.size=12"),
              "ember: error: invalid value \"12\" for flag --storage.tsdb.retention.size: units: unknown "
              "unit  in 12");
    parse_err(ARGC("--log.level=loud"), ARGV("--log.level=loud"),
              "ember: error: invalid value \"loud\" for flag --log.level: enum value must be one of "
              "debug,info,warn,error, got 'loud'");
    parse_err(ARGC("--query.timeout"), ARGV("--query.timeout"),
              "ember: error: expected argument for flag '--query.timeout'");
    parse_err(ARGC("--http.workers=0"), ARGV("--http.workers=0"),
              "ember: error: invalid value \"0\" for flag --http.workers: must be between 1 and 1024");
    parse_err(ARGC("--query.timeout=1m", "--query.timeout=2m"),
              ARGV("--query.timeout=1m", "--query.timeout=2m"),
              "ember: error: flag 'query.timeout' cannot be repeated");
}

Test(base_options, unknown_flags_and_arguments)
{
    parse_err(ARGC("--foo"), ARGV("--foo"), "ember: error: unknown long flag '--foo', try --help");
    parse_err(ARGC("--foo=bar"), ARGV("--foo=bar"), "ember: error: unknown long flag '--foo', try --help");
    parse_err(ARGC("-x"), ARGV("-x"), "ember: error: unknown short flag '-x', try --help");
    parse_err(ARGC("extra"), ARGV("extra"), "ember: error: unexpected extra, try --help");
}

Test(base_options, help_and_version_have_their_own_codes)
{
    em_options_t o;
    em_err_t err;
    cr_assert_eq(em_options_parse(ARGC("--help"), ARGV("--help"), &o, &err), EM_OPTIONS_HELP);
    em_options_fini(&o);
    cr_assert_eq(
        em_options_parse(ARGC("--query.timeout=1m", "-h"), ARGV("--query.timeout=1m", "-h"), &o, &err),
        EM_OPTIONS_HELP);
    em_options_fini(&o);
    cr_assert_eq(em_options_parse(ARGC("--version"), ARGV("--version"), &o, &err), EM_OPTIONS_VERSION);
    em_options_fini(&o);

    em_buf_t b = EM_BUF_INIT;
    em_options_help(&b);
    cr_assert(strncmp(b.data, "usage: ember [<flags>]\n", 23) == 0, "%s", b.data);
    cr_assert_not_null(strstr(b.data, "\n      --web.listen-address=\"0.0.0.0:9090\"  Address to listen on"),
                       "%s", b.data);
    cr_assert_not_null(strstr(b.data, "\n      --query.timeout=2m"), "%s", b.data);
    cr_assert_not_null(strstr(b.data, "\n      --[no-]web.enable-remote-write-receiver"), "%s", b.data);
    cr_assert_not_null(strstr(b.data, "\n      --config.file=<path>"), "%s", b.data);
    em_buf_reset(&b);
    em_options_version(&b);
    cr_assert(strncmp(b.data, "ember, version ", 15) == 0, "%s", b.data);
    cr_assert_not_null(strstr(b.data, "(branch: "), "%s", b.data);
    cr_assert_not_null(strstr(b.data, "\n  build date:       "), "%s", b.data);
    cr_assert_not_null(strstr(b.data, "\n  platform:         linux/"), "%s", b.data);
    em_buf_fini(&b);
}

Test(base_options, deprecated_retention_alias_loses_to_retention_time)
{
    em_options_t o;
    parse_ok(ARGC("--storage.tsdb.retention=30d"), ARGV("--storage.tsdb.retention=30d"), &o);
    cr_assert_eq(o.storage_tsdb_retention_time_ms, 30LL * 86400000);
    cr_assert_eq(o.storage_tsdb_max_block_duration_ms, 3LL * 86400000);
    em_options_fini(&o);
    parse_ok(ARGC("--storage.tsdb.retention.time=7d", "--storage.tsdb.retention=30d"),
             ARGV("--storage.tsdb.retention.time=7d", "--storage.tsdb.retention=30d"), &o);
    cr_assert_eq(o.storage_tsdb_retention_time_ms, 7LL * 86400000);
    em_options_fini(&o);
    parse_ok(ARGC("--storage.tsdb.retention.time=0"), ARGV("--storage.tsdb.retention.time=0"), &o);
    cr_assert_eq(o.storage_tsdb_retention_time_ms, 15LL * 86400000, "0 means the default");
    em_options_fini(&o);
    parse_ok(ARGC("--storage.tsdb.retention.time=1y", "--storage.tsdb.max-block-duration=1h"),
             ARGV("--storage.tsdb.retention.time=1y", "--storage.tsdb.max-block-duration=1h"), &o);
    cr_assert_eq(o.storage_tsdb_max_block_duration_ms, 2 * 3600000, "never below min-block-duration");
    em_options_fini(&o);
}

typedef struct seen {
    char names[64][64];
    char values[64][128];
    int n;
} seen_t;

static void collect(const char *name, const char *value, void *arg)
{
    seen_t *s = arg;
    cr_assert_lt(s->n, 64);
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    snprintf(s->values[s->n], sizeof(s->values[0]), "%s", value);
    s->n++;
}

static const char *lookup(const seen_t *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return s->values[i];
    cr_assert_fail("flag %s not listed", name);
    return NULL;
}

Test(base_options, foreach_lists_every_flag_with_its_value)
{
    em_options_t o;
    parse_ok(ARGC("--enable-feature=a,b", "--query.timeout=90s"),
             ARGV("--enable-feature=a,b", "--query.timeout=90s"), &o);
    seen_t s = {0};
    em_options_foreach(&o, collect, &s);
    const char *names[] = {"config.file",
                           "web.listen-address",
                           "web.config.file",
                           "web.read-timeout",
                           "web.max-connections",
                           "web.external-url",
                           "web.route-prefix",
                           "web.enable-lifecycle",
                           "web.enable-admin-api",
                           "web.enable-remote-write-receiver",
                           "web.page-title",
                           "storage.tsdb.path",
                           "storage.tsdb.retention",
                           "storage.tsdb.retention.time",
                           "storage.tsdb.retention.size",
                           "storage.tsdb.min-block-duration",
                           "storage.tsdb.max-block-duration",
                           "storage.tsdb.no-lockfile",
                           "storage.tsdb.wal-compression",
                           "storage.tsdb.wal-segment-size",
                           "storage.tsdb.head-shards",
                           "storage.remote.read-sample-limit",
                           "storage.remote.read-concurrent-limit",
                           "storage.remote.read-max-bytes-in-frame",
                           "rules.alert.for-outage-tolerance",
                           "rules.alert.for-grace-period",
                           "rules.alert.resend-delay",
                           "alertmanager.notification-queue-capacity",
                           "query.lookback-delta",
                           "query.timeout",
                           "query.max-concurrency",
                           "query.max-samples",
                           "enable-feature",
                           "log.level",
                           "log.format",
                           "http.workers",
                           "query.workers"};
    cr_assert_eq(s.n, (int)(sizeof(names) / sizeof(names[0])));
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_assert_str_eq(s.names[i], names[i]);
    cr_assert_str_eq(lookup(&s, "query.timeout"), "1m30s");
    cr_assert_str_eq(lookup(&s, "enable-feature"), "a,b");
    cr_assert_str_eq(lookup(&s, "storage.tsdb.retention.time"), "2w1d", "model.Duration spelling");
    cr_assert_str_eq(lookup(&s, "storage.tsdb.wal-segment-size"), "128MiB");
    cr_assert_str_eq(lookup(&s, "web.enable-remote-write-receiver"), "true");
    cr_assert_str_eq(lookup(&s, "config.file"), "");
    cr_assert_str_eq(lookup(&s, "log.level"), "info");
    em_options_fini(&o);
}
