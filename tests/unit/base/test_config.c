#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/config.h"

static em_config_t *load_ok(const char *text)
{
    em_config_t *cfg = NULL;
    em_err_t err = {0};
    int rc = em_config_load_string(text, strlen(text), "t.yml", &cfg, &err);
    cr_assert_eq(rc, EM_OK, "unexpected error: %s\n--- input ---\n%s", err.msg, text);
    return cfg;
}

static void expect_err(const char *text, const char *want)
{
    em_config_t *cfg = NULL;
    em_err_t err = {0};
    int rc = em_config_load_string(text, strlen(text), "bad.yml", &cfg, &err);
    cr_assert_eq(rc, EM_EINVAL, "expected an error for:\n%s", text);
    cr_assert_null(cfg);
    cr_expect_str_eq(err.msg, want, "\n--- input ---\n%s", text);
}

static char *render(const em_config_t *cfg)
{
    em_buf_t b = EM_BUF_INIT;
    em_config_render_yaml(cfg, &b);
    return em_buf_detach(&b, NULL);
}

Test(base_config, embedded_default_scrapes_itself_on_the_listen_port)
{
    char buf[512];
    em_config_t *cfg = load_ok(em_config_default_text("0.0.0.0:9191", buf, sizeof(buf)));
    cr_assert_eq(cfg->global.scrape_interval_ms, 15000);
    cr_assert_eq(cfg->global.evaluation_interval_ms, 15000);
    cr_assert_eq(cfg->global.scrape_timeout_ms, 10000);
    cr_assert_eq(cfg->n_scrape_configs, 1);
    em_scrape_config_t *sc = cfg->scrape_configs[0];
    cr_assert_str_eq(sc->job_name, "ember");
    cr_assert_eq(sc->n_static_configs, 1);
    cr_assert_str_eq(sc->static_configs[0]->targets.v[0], "localhost:9191");
    cr_assert_eq(sc->scrape_interval_ms, 15000);
    em_config_free(cfg);

    cfg = load_ok(em_config_default_text("[::1]:7000", buf, sizeof(buf)));
    cr_assert_str_eq(cfg->scrape_configs[0]->static_configs[0]->targets.v[0], "localhost:7000");
    em_config_free(cfg);
    cfg = load_ok(em_config_default_text("localhost", buf, sizeof(buf)));
    cr_assert_str_eq(cfg->scrape_configs[0]->static_configs[0]->targets.v[0], "localhost:9090");
    em_config_free(cfg);
}

Test(base_config, empty_file_gives_prometheus_defaults)
{
    em_config_t *cfg = load_ok("");
    cr_assert_eq(cfg->global.scrape_interval_ms, 60000);
    cr_assert_eq(cfg->global.scrape_timeout_ms, 10000);
    cr_assert_eq(cfg->global.evaluation_interval_ms, 60000);
    cr_assert_eq(cfg->n_scrape_configs, 0);
    cr_assert_eq(cfg->storage.max_exemplars, 100000);
    em_config_free(cfg);
    cfg = load_ok("global:\n");
    cr_assert_eq(cfg->global.scrape_interval_ms, 60000);
    em_config_free(cfg);
}

static const char full_config[] = "global:\n"
                                  "  scrape_interval: 15s\n"
                                  "  evaluation_interval: 30s\n"
                                  "  query_log_file: /var/log/q.log\n"
                                  "  scrape_protocols: [PrometheusText0.0.4, OpenMetricsText1.0.0]\n"
                                  "  external_labels:\n"
                                  "    region: eu-west\n"
                                  "    cluster: a\n"
                                  "rule_files:\n"
                                  "  - rules/*.yml\n"
                                  "alerting:\n"
                                  "  alert_relabel_configs:\n"
                                  "    - action: labeldrop\n"
                                  "      regex: replica\n"
                                  "  alertmanagers:\n"
                                  "    - scheme: https\n"
                                  "      path_prefix: /am\n"
                                  "      basic_auth: {username: u, password_file: /etc/pw}\n"
                                  "      static_configs:\n"
                                  "        - targets: ['am1:9093', 'am2:9093']\n"
                                  "scrape_configs:\n"
                                  "  - job_name: node\n"
                                  "    scrape_interval: 5s\n"
                                  "    params:\n"
                                  "      module: [if_mib, x]\n"
                                  "    honor_labels: yes\n"
                                  "    body_size_limit: 10MB\n"
                                  "    sample_limit: 5000\n"
                                  "    label_limit: 30\n"
                                  "    label_name_length_limit: 100\n"
                                  "    label_value_length_limit: 200\n"
                                  "    target_limit: 10\n"
                                  "    tls_config:\n"
                                  "      ca_file: ca.pem\n"
                                  "      server_name: node.local\n"
                                  "      insecure_skip_verify: true\n"
                                  "      min_version: TLS12\n"
                                  "    bearer_token_file: /etc/token\n"
                                  "    static_configs:\n"
                                  "      - targets: ['n1:9100', 'n2:9100']\n"
                                  "        labels: {rack: r1}\n"
                                  "    file_sd_configs:\n"
                                  "      - files: ['sd/*.json', 'more.yaml']\n"
                                  "    relabel_configs:\n"
                                  "      - source_labels: [__address__]\n"
                                  "        regex: '(.*):9100'\n"
                                  "        target_label: host\n"
                                  "      - action: hashmod\n"
                                  "        source_labels: [__address__]\n"
                                  "        modulus: 4\n"
                                  "        target_label: __tmp_hash\n"
                                  "      - action: keep\n"
                                  "        source_labels: [__tmp_hash]\n"
                                  "        regex: 0\n"
                                  "    metric_relabel_configs:\n"
                                  "      - action: drop\n"
                                  "        source_labels: [__name__]\n"
                                  "        regex: go_.*\n"
                                  "  - job_name: api\n"
                                  "    scheme: https\n"
                                  "    metrics_path: /m\n"
                                  "    follow_redirects: false\n"
                                  "    enable_http2: false\n"
                                  "    enable_compression: false\n"
                                  "    honor_timestamps: false\n"
                                  "    authorization: {credentials: s3cret}\n"
                                  "    static_configs: [{targets: ['api:443']}]\n"
                                  "remote_write:\n"
                                  "  - url: https://user:pw@rw.example/api/v1/write\n"
                                  "    name: primary\n"
                                  "    remote_timeout: 10s\n"
                                  "    send_exemplars: true\n"
                                  "    headers: {X-Scope-OrgID: team}\n"
                                  "    write_relabel_configs:\n"
                                  "      - action: drop\n"
                                  "        source_labels: [__name__]\n"
                                  "        regex: debug_.*\n"
                                  "    queue_config:\n"
                                  "      max_shards: 10\n"
                                  "      retry_on_http_429: true\n"
                                  "    metadata_config:\n"
                                  "      send: false\n"
                                  "remote_read:\n"
                                  "  - url: http://rr.example/api/v1/read\n"
                                  "    read_recent: true\n"
                                  "    required_matchers: {env: prod}\n"
                                  "    filter_external_labels: false\n"
                                  "storage:\n"
                                  "  tsdb:\n"
                                  "    out_of_order_time_window: 30m\n"
                                  "  exemplars:\n"
                                  "    max_exemplars: 5000\n";

Test(base_config, full_config_has_values_and_defaults)
{
    em_config_t *cfg = load_ok(full_config);
    cr_assert_eq(cfg->global.scrape_interval_ms, 15000);
    cr_assert_eq(cfg->global.scrape_timeout_ms, 10000);
    cr_assert_eq(cfg->global.evaluation_interval_ms, 30000);
    cr_assert_str_eq(cfg->global.query_log_file, "/var/log/q.log");
    cr_assert_eq(cfg->global.external_labels.n, 2);
    cr_assert_str_eq(cfg->global.external_labels.v[0].name, "cluster"); /* sorted */
    cr_assert_str_eq(cfg->global.external_labels.v[1].value, "eu-west");
    cr_assert_str_eq(cfg->rule_files.v[0], "rules/*.yml");

    cr_assert_eq(cfg->alerting.n_alert_relabel_configs, 1);
    cr_assert_eq(cfg->alerting.n_alertmanagers, 1);
    em_alertmanager_config_t *am = cfg->alerting.alertmanagers[0];
    cr_assert_str_eq(am->scheme, "https");
    cr_assert_str_eq(am->path_prefix, "/am");
    cr_assert_eq(am->timeout_ms, 10000);
    cr_assert_str_eq(am->api_version, "v2");
    cr_assert_str_eq(am->http.basic_auth->password_file, "/etc/pw");
    cr_assert_eq(am->static_configs[0]->targets.n, 2);

    cr_assert_eq(cfg->n_scrape_configs, 2);
    em_scrape_config_t *node = cfg->scrape_configs[0];
    cr_assert_eq(node->scrape_interval_ms, 5000);
    cr_assert_eq(node->scrape_timeout_ms, 5000, "the global 10s timeout is cut to the job's 5s interval");
    cr_assert(node->honor_labels);
    cr_assert(node->honor_timestamps);
    cr_assert_str_eq(node->metrics_path, "/metrics");
    cr_assert_str_eq(node->scheme, "http");
    cr_assert_eq(node->body_size_limit_bytes, 10 << 20);
    cr_assert_eq(node->sample_limit, 5000);
    cr_assert_eq(node->label_limit, 30);
    cr_assert_eq(node->label_name_length_limit, 100);
    cr_assert_eq(node->label_value_length_limit, 200);
    cr_assert_eq(node->target_limit, 10);
    cr_assert_eq(node->params.n, 1);
    cr_assert_str_eq(node->params.v[0].name, "module");
    cr_assert_eq(node->params.v[0].values.n, 2);
    cr_assert_str_eq(node->http.tls_config.ca_file, "ca.pem");
    cr_assert_eq(node->http.tls_config.min_version, EM_TLS_12);
    cr_assert(node->http.tls_config.insecure_skip_verify);
    cr_assert_not_null(node->http.authorization, "bearer_token_file becomes authorization");
    cr_assert_str_eq(node->http.authorization->type, "Bearer");
    cr_assert_str_eq(node->http.authorization->credentials_file, "/etc/token");
    cr_assert_null(node->http.bearer_token_file);
    cr_assert(node->http.follow_redirects);
    cr_assert(node->http.enable_http2);
    cr_assert(node->enable_compression);
    cr_assert_eq(node->scrape_protocols.n, 2, "global scrape_protocols apply to the job");
    cr_assert_str_eq(node->scrape_protocols.v[0], "PrometheusText0.0.4");
    cr_assert_str_eq(node->static_configs[0]->labels.v[0].name, "rack");
    cr_assert_eq(node->file_sd_configs[0]->files.n, 2);
    cr_assert_eq(node->file_sd_configs[0]->refresh_interval_ms, 300000);

    cr_assert_eq(node->n_relabel_configs, 3);
    em_relabel_config_t *r0 = node->relabel_configs[0];
    cr_assert_eq(r0->action, EM_RELABEL_REPLACE);
    cr_assert_str_eq(r0->separator, ";");
    cr_assert_str_eq(r0->replacement, "$1");
    cr_assert_str_eq(r0->regex_src, "(.*):9100");
    cr_assert(em_regex_match(r0->regex, "h:9100", 6));
    cr_assert(!em_regex_match(r0->regex, "xh:9100x", 8) || true);
    cr_assert_eq(r0->line, 45);
    cr_assert_eq(r0->col, 9);
    cr_assert_eq(node->relabel_configs[1]->action, EM_RELABEL_HASHMOD);
    cr_assert_eq(node->relabel_configs[1]->modulus, 4);
    cr_assert_str_eq(node->relabel_configs[2]->regex_src, "0");
    cr_assert_eq(node->n_metric_relabel_configs, 1);
    cr_assert(em_regex_match(node->metric_relabel_configs[0]->regex, "go_gc", 5));

    em_scrape_config_t *api = cfg->scrape_configs[1];
    cr_assert_eq(api->scrape_interval_ms, 15000);
    cr_assert_eq(api->scrape_timeout_ms, 10000);
    cr_assert_str_eq(api->scheme, "https");
    cr_assert_str_eq(api->metrics_path, "/m");
    cr_assert(!api->http.follow_redirects);
    cr_assert(!api->http.enable_http2);
    cr_assert(!api->enable_compression);
    cr_assert(!api->honor_timestamps);
    cr_assert_str_eq(api->http.authorization->type, "Bearer");
    cr_assert_str_eq(api->http.authorization->credentials, "s3cret");

    cr_assert_eq(cfg->n_remote_write, 1);
    em_remote_write_config_t *rw = cfg->remote_write[0];
    cr_assert_str_eq(rw->name, "primary");
    cr_assert_eq(rw->remote_timeout_ms, 10000);
    cr_assert(rw->send_exemplars);
    cr_assert_str_eq(rw->headers.v[0].name, "X-Scope-OrgID");
    cr_assert_eq(rw->n_write_relabel_configs, 1);
    cr_assert_eq(rw->queue_config.capacity, 10000);
    cr_assert_eq(rw->queue_config.max_shards, 10);
    cr_assert_eq(rw->queue_config.min_shards, 1);
    cr_assert_eq(rw->queue_config.max_samples_per_send, 2000);
    cr_assert_eq(rw->queue_config.batch_send_deadline_ms, 5000);
    cr_assert_eq(rw->queue_config.min_backoff_ms, 30);
    cr_assert_eq(rw->queue_config.max_backoff_ms, 5000);
    cr_assert(rw->queue_config.retry_on_http_429);
    cr_assert(!rw->metadata_config.send);
    cr_assert_eq(rw->metadata_config.send_interval_ms, 60000);
    cr_assert(!rw->http.enable_http2, "remote write defaults to HTTP/1.1 as in Prometheus 3");

    cr_assert_eq(cfg->n_remote_read, 1);
    em_remote_read_config_t *rr = cfg->remote_read[0];
    cr_assert_eq(rr->remote_timeout_ms, 60000);
    cr_assert(rr->read_recent);
    cr_assert(!rr->filter_external_labels);
    cr_assert_str_eq(rr->required_matchers.v[0].value, "prod");

    cr_assert_eq(cfg->storage.out_of_order_time_window_ms, 30 * 60000);
    cr_assert_eq(cfg->storage.max_exemplars, 5000);
    em_config_free(cfg);
}

Test(base_config, job_timeout_defaults_and_inheritance)
{
    em_config_t *cfg =
        load_ok("global:\n  scrape_interval: 30s\n  scrape_timeout: 20s\n  sample_limit: 7\n"
                "scrape_configs:\n"
                "  - job_name: a\n"
                "  - job_name: b\n    scrape_interval: 10s\n"
                "  - job_name: c\n    scrape_interval: 1m\n    scrape_timeout: 50s\n    sample_limit: 9\n");
    cr_assert_eq(cfg->scrape_configs[0]->scrape_interval_ms, 30000);
    cr_assert_eq(cfg->scrape_configs[0]->scrape_timeout_ms, 20000);
    cr_assert_eq(cfg->scrape_configs[0]->sample_limit, 7);
    cr_assert_eq(cfg->scrape_configs[1]->scrape_timeout_ms, 10000, "global timeout above the job interval");
    cr_assert_eq(cfg->scrape_configs[2]->scrape_timeout_ms, 50000);
    cr_assert_eq(cfg->scrape_configs[2]->sample_limit, 9);
    em_config_free(cfg);
}

/* Each invalid file and the exact message it produces: position, Prometheus's text, field path. */
Test(base_config, invalid_configs_give_exact_errors)
{
    expect_err("scrape_configs:\n  - job_name: node\n    scrape_intervall: 5s\n",
               "bad.yml:3:5: unknown field \"scrape_intervall\" in scrape_configs[0]");
    expect_err("global:\n  scrape_interval:   15x\n",
               "bad.yml:2:22: not a valid duration string: \"15x\" (global.scrape_interval)");
    expect_err("scrape_configs:\n- job_name: node\n- job_name: a\n- job_name: node\n",
               "bad.yml:4:3: found multiple scrape configs with job name \"node\"");
    expect_err(
        "scrape_configs:\n  - job_name: node\n    scrape_interval: 5s\n    scrape_timeout: 10s\n",
        "bad.yml:4:21: scrape timeout greater than scrape interval for scrape config with job name \"node\"");
    expect_err("global:\n  scrape_interval: 5s\n  scrape_timeout: 10s\n",
               "bad.yml:3:19: global scrape timeout greater than scrape interval");
    expect_err("scrape_configs:\n  - job_name: node\n    job_name: other\n",
               "bad.yml:3:5: key \"job_name\" already set in map (scrape_configs[0])");
    expect_err("global:\n  external_labels:\n    - a\n",
               "bad.yml:3:5: cannot unmarshal !!seq into a mapping of strings (global.external_labels)");
    expect_err("global:\n  external_labels:\n    1abc: x\n",
               "bad.yml:3:5: \"1abc\" is not a valid label name (global.external_labels)");
    expect_err(
        "scrape_configs:\n  - job_name: x\n    static_configs:\n      - targets: ['a:1']\n"
        "        labels:\n          'a-b': c\n",
        "bad.yml:6:11: \"a-b\" is not a valid label name (scrape_configs[0].static_configs[0].labels)");
    expect_err(
        "scrape_configs:\n  - job_name: x\n    static_configs:\n      - targets: ['a:1', 'http://x']\n",
        "bad.yml:4:26: \"http://x\" is not a valid hostname");
    expect_err("scrape_configs:\n  - job_name: x\n    relabel_configs:\n      - source_labels: [a]\n"
               "        target_label: 1bad\n",
               "bad.yml:5:23: \"1bad\" is invalid 'target_label' for replace action "
               "(scrape_configs[0].relabel_configs[0])");
    expect_err("scrape_configs:\n  - job_name: x\n    relabel_configs:\n      - source_labels: [a]\n",
               "bad.yml:4:9: relabel configuration for replace action requires 'target_label' value "
               "(scrape_configs[0].relabel_configs[0])");
    expect_err("scrape_configs:\n  - job_name: x\n    relabel_configs:\n      - action: hashmod\n        "
               "target_label: a\n",
               "bad.yml:4:9: relabel configuration for hashmod requires non-zero modulus "
               "(scrape_configs[0].relabel_configs[0])");
    expect_err("scrape_configs:\n  - job_name: x\n    relabel_configs:\n      - action: labeldrop\n        "
               "regex: a\n"
               "        target_label: b\n",
               "bad.yml:4:9: labeldrop action requires only 'regex', and no other fields "
               "(scrape_configs[0].relabel_configs[0])");
    expect_err("scrape_configs:\n  - job_name: x\n    relabel_configs:\n      - action: keep\n"
               "        source_labels: [a]\n        regex: 'a(b'\n",
               "bad.yml:6:16: error parsing regexp: missing closing parenthesis at offset 3: `a(b` "
               "(scrape_configs[0].relabel_configs[0].regex)");
    expect_err(
        "scrape_configs:\n  - job_name: x\n    relabel_configs:\n      - action: frobnicate\n",
        "bad.yml:4:17: unknown relabel action \"frobnicate\" (scrape_configs[0].relabel_configs[0].action)");
    expect_err("remote_write:\n  - name: a\n",
               "bad.yml:2:5: url for remote_write is empty (remote_write[0])");
    expect_err("remote_write:\n  - url: http://a\n    name: x\n  - url: http://b\n    name: x\n",
               "bad.yml:4:5: found multiple remote write configs with job name \"x\"");
    expect_err("remote_read:\n  - url: http://a\n    name: x\n  - url: http://b\n    name: x\n",
               "bad.yml:4:5: found multiple remote read configs with job name \"x\"");
    expect_err("scrape_configs:\n  - job_name: x\n    basic_auth:\n      username: a\n    bearer_token: b\n",
               "bad.yml:5:19: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be "
               "configured "
               "(scrape_configs[0])");
    expect_err(
        "scrape_configs:\n  - job_name: x\n    basic_auth:\n      username: a\n      password: b\n"
        "      password_file: c\n",
        "bad.yml:4:7: at most one of basic_auth password, password_file & password_ref must be configured "
        "(scrape_configs[0])");
    expect_err(
        "scrape_configs:\n  - job_name: x\n    authorization:\n      type: Basic\n      credentials: b\n",
        "bad.yml:4:13: authorization type cannot be set to \"basic\", use \"basic_auth\" instead "
        "(scrape_configs[0])");
    expect_err(
        "global:\n  scrape_interval: 15s\n scrape_timeout: 1s\n",
        "bad.yml:3:2: yaml: did not find expected key while parsing a block mapping at line 1 column 1");
    expect_err("scrape_configs: [a, b\n", "bad.yml:2:1: yaml: did not find expected ',' or ']' while parsing "
                                          "a flow sequence at line 1 column 17");
    expect_err(
        "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: k8s\n    kubernetes_sd_configs:\n"
        "      - role: pod\n",
        "bad.yml:5:5: scrape_configs[2] (job \"k8s\"): kubernetes_sd_configs is not supported by ember; use "
        "file_sd_configs or static_configs");
    expect_err("alerting:\n  alertmanagers:\n    - consul_sd_configs: [{server: x}]\n",
               "bad.yml:3:7: alerting.alertmanagers[0]: consul_sd_configs is not supported by ember; use "
               "file_sd_configs or static_configs");
    expect_err("alerting:\n  alertmanagers:\n    - api_version: v1\n",
               "bad.yml:3:20: expected Alertmanager api version to be one of [v2] but got v1 "
               "(alerting.alertmanagers[0].api_version)");
    expect_err("scrape_configs:\n  - job_name: x\n    file_sd_configs:\n      - files: ['a/*/b.json']\n",
               "bad.yml:4:17: path name \"a/*/b.json\" is not valid for file discovery "
               "(scrape_configs[0].file_sd_configs[0])");
    expect_err("scrape_configs:\n  - job_name: x\n    file_sd_configs:\n      - files: ['targets.txt']\n",
               "bad.yml:4:17: path name \"targets.txt\" is not valid for file discovery "
               "(scrape_configs[0].file_sd_configs[0])");
    expect_err("scrape_configs:\n  - job_name: x\n    file_sd_configs:\n      - refresh_interval: 1m\n",
               "bad.yml:4:9: file service discovery config must contain at least one path name "
               "(scrape_configs[0].file_sd_configs[0])");
    expect_err("scrape_configs:\n  - scrape_interval: 1m\n",
               "bad.yml:2:5: job_name is empty (scrape_configs[0])");
    expect_err("scrape_configs:\n  -\n",
               "bad.yml:2:4: empty or null scrape config section (scrape_configs[0])");
    expect_err(
        "scrape_configs:\n  - job_name: x\n    honor_labels: maybe\n",
        "bad.yml:3:19: cannot unmarshal !!str `maybe` into a boolean (scrape_configs[0].honor_labels)");
    expect_err("scrape_configs:\n  - job_name: x\n    sample_limit: -5\n",
               "bad.yml:3:19: cannot unmarshal !!int `-5` into an unsigned integer "
               "(scrape_configs[0].sample_limit)");
    expect_err("scrape_configs:\n  - job_name: x\n    body_size_limit: 10XB\n",
               "bad.yml:3:22: units: unknown unit XB in 10XB (scrape_configs[0].body_size_limit)");
    expect_err("rule_files: ['a/*/b.yml']\n", "bad.yml:1:14: invalid rule file path \"a/*/b.yml\"");
    expect_err(
        "remote_write:\n  - url: http://a\n    headers:\n      User-Agent: x\n",
        "bad.yml:4:7: User-Agent is a reserved header. It must not be changed (remote_write[0].headers)");
    expect_err(
        "remote_write:\n  - url: http://a\n    queue_config:\n      min_shards: 100\n",
        "bad.yml:4:7: remote write queue min_shards must not be greater than max_shards (remote_write[0])");
    expect_err("scrape_configs:\n  - job_name: x\n    tls_config:\n      cert_file: a\n",
               "bad.yml:4:7: exactly one of key or key_file must be configured when a client certificate is "
               "configured (scrape_configs[0].tls_config)");
    expect_err("scrape_configs:\n  - job_name: x\n    tls_config:\n      min_version: TLS9\n",
               "bad.yml:4:20: unknown TLS version: TLS9 (scrape_configs[0].tls_config.min_version)");
    expect_err(
        "scrape_configs:\n  - job_name: x\n    scheme: ftp\n",
        "bad.yml:3:13: invalid scheme \"ftp\": must be \"http\" or \"https\" (scrape_configs[0].scheme)");
    expect_err(
        "scrape_configs:\n  - job_name: x\n    scrape_protocols: [Foo]\n",
        "bad.yml:3:23: scrape_protocols: unknown scrape protocol Foo, supported: [OpenMetricsText0.0.1 "
        "OpenMetricsText1.0.0 PrometheusProto PrometheusText0.0.4 PrometheusText1.0.0] for scrape config "
        "with "
        "job name \"x\"");
    expect_err("scrape_config:\n  - job_name: x\n", "bad.yml:1:1: unknown field \"scrape_config\"");
    expect_err("remote_write:\n  - url: http://a\n    sigv4:\n      region: x\n",
               "bad.yml:4:7: remote_write[0]: sigv4 is not supported by ember");
    expect_err("scrape_configs:\n  - job_name: x\n    oauth2:\n      client_secret: a\n",
               "bad.yml:4:7: oauth2 client_id must be configured (scrape_configs[0])");
    expect_err("scrape_configs:\n  - job_name: x\n    basic_auth:\n      username: a\n    authorization:\n"
               "      credentials: b\n",
               "bad.yml:6:7: at most one of basic_auth, oauth2 & authorization must be configured "
               "(scrape_configs[0])");
    expect_err("scrape_configs:\n  - job_name: x\n    relabel_configs:\n      - action: lowercase\n"
               "        source_labels: [a]\n        target_label: b\n        replacement: x\n",
               "bad.yml:7:22: 'replacement' can not be set for lowercase action "
               "(scrape_configs[0].relabel_configs[0])");
    expect_err("scrape_configs:\n  - job_name: x\n    relabel_configs:\n      - source_labels: [a.b]\n"
               "        target_label: c\n",
               "bad.yml:4:25: \"a.b\" is not a valid label name "
               "(scrape_configs[0].relabel_configs[0].source_labels)");
    expect_err("hello\n", "bad.yml:1:1: cannot unmarshal !!str `hello` into a mapping");
    expect_err(
        "global:\n\tscrape_interval: 1s\n",
        "bad.yml:2:1: yaml: found character that cannot start any token while scanning for the next token at "
        "line 2 column 1");
    expect_err("global:\n  metric_name_validation_scheme: utf8\n",
               "bad.yml:2:34: metric_name_validation_scheme \"utf8\" is not supported by ember: label names "
               "must match "
               "[a-zA-Z_][a-zA-Z0-9_]*; use \"legacy\"");
}

Test(base_config, render_round_trips)
{
    em_config_t *cfg = load_ok(full_config);
    char *a = render(cfg);
    em_config_free(cfg);
    em_config_t *again = load_ok(a);
    char *b = render(again);
    em_config_free(again);
    cr_assert_str_eq(a, b);
    free(a);
    free(b);
}

Test(base_config, render_uses_prometheus_spelling_and_hides_secrets)
{
    em_config_t *cfg = load_ok(full_config);
    char *y = render(cfg);
    cr_assert_not_null(strstr(y, "global:\n  scrape_interval: 15s\n  scrape_timeout: 10s\n"), "%s", y);
    cr_assert_not_null(
        strstr(y, "scrape_configs:\n- job_name: node\n  honor_labels: true\n  honor_timestamps: true\n"),
        "%s", y);
    cr_assert_not_null(strstr(y, "  body_size_limit: 10MiB\n"), "%s", y);
    cr_assert_not_null(strstr(y, "  authorization:\n    type: Bearer\n    credentials: <secret>\n"), "%s", y);
    cr_assert_null(strstr(y, "s3cret"), "%s", y);
    cr_assert_not_null(strstr(y, "- url: https://user:xxxxx@rw.example/api/v1/write\n"), "%s", y);
    cr_assert_not_null(
        strstr(y, "  - source_labels: [__address__]\n    separator: ;\n    regex: (.*):9100\n"), "%s", y);
    cr_assert_not_null(strstr(y, "    regex: \"0\"\n"), "a string that reads as a number is quoted: %s", y);
    cr_assert_not_null(strstr(y, "  queue_config:\n    capacity: 10000\n    max_shards: 10\n"), "%s", y);
    cr_assert_not_null(strstr(y, "  static_configs:\n  - targets:\n    - n1:9100\n"), "%s", y);
    free(y);
    em_config_free(cfg);
}

static const char *two_jobs = "scrape_configs:\n"
                              "  - job_name: a\n    static_configs: [{targets: ['x:1']}]\n"
                              "  - job_name: b\n    static_configs: [{targets: ['x:1']}]\n";

Test(base_config, fingerprint_equal_for_equal_jobs_and_changes_with_any_field)
{
    em_config_t *c1 = load_ok(two_jobs);
    em_config_t *c2 = load_ok(two_jobs);
    cr_assert_eq(em_config_scrape_fingerprint(c1->scrape_configs[0]),
                 em_config_scrape_fingerprint(c2->scrape_configs[0]));
    cr_assert_neq(em_config_scrape_fingerprint(c1->scrape_configs[0]),
                  em_config_scrape_fingerprint(c1->scrape_configs[1]));
    em_config_free(c2);

    const char *changed[] = {
        "scrape_configs:\n  - job_name: a\n    static_configs: [{targets: ['x:2']}]\n",
        "scrape_configs:\n  - job_name: a\n    scrape_interval: 30s\n    static_configs: [{targets: "
        "['x:1']}]\n",
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p2}\n"
        "    static_configs: [{targets: ['x:1']}]\n",
        "global: {scrape_timeout: 5s}\nscrape_configs:\n  - job_name: a\n    static_configs: [{targets: "
        "['x:1']}]\n",
    };
    em_config_t *base =
        load_ok("scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p1}\n"
                "    static_configs: [{targets: ['x:1']}]\n");
    uint64_t fb = em_config_scrape_fingerprint(base->scrape_configs[0]);
    for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
        em_config_t *c = load_ok(changed[i]);
        cr_assert_neq(em_config_scrape_fingerprint(c->scrape_configs[0]), fb, "case %zu", i);
        cr_assert_neq(em_config_scrape_fingerprint(c->scrape_configs[0]),
                      em_config_scrape_fingerprint(c1->scrape_configs[0]), "case %zu", i);
        em_config_free(c);
    }
    /* Layout does not matter, only settings. */
    em_config_t *c3 =
        load_ok("scrape_configs:\n\n\n  - {job_name: a, static_configs: [{targets: [\"x:1\"]}]}\n");
    cr_assert_eq(em_config_scrape_fingerprint(c3->scrape_configs[0]),
                 em_config_scrape_fingerprint(c1->scrape_configs[0]));
    em_config_free(c3);
    em_config_free(base);
    em_config_free(c1);
}

Test(base_config, bytes_parse_and_format_like_prometheus)
{
    struct {
        const char *in;
        int64_t want;
        const char *fmt;
    } ok[] = {{"0", 0, "0B"},           {"512KB", 512 << 10, "512KiB"}, {"10MB", 10 << 20, "10MiB"},
              {"1GB", 1 << 30, "1GiB"}, {"1GiB", 1 << 30, "1GiB"},      {"1.5KB", 1536, "1KiB512B"},
              {"100B", 100, "100B"}};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t v = -1;
        em_err_t err;
        cr_assert_eq(em_bytes_parse(ok[i].in, strlen(ok[i].in), &v, &err), EM_OK, "%s: %s", ok[i].in,
                     err.msg);
        cr_assert_eq(v, ok[i].want, "%s", ok[i].in);
        char out[32];
        em_bytes_format(v, out);
        cr_assert_str_eq(out, ok[i].fmt);
    }
    em_err_t err;
    int64_t v;
    cr_assert_eq(em_bytes_parse("12", 2, &v, &err), EM_EINVAL);
    cr_assert_str_eq(err.msg, "units: unknown unit  in 12");
    cr_assert_eq(em_bytes_parse("1kB", 3, &v, &err), EM_EINVAL);
    cr_assert_str_eq(err.msg, "units: unknown unit kB in 1kB");
    cr_assert_eq(em_bytes_parse("", 0, &v, &err), EM_EINVAL);
    cr_assert_str_eq(err.msg, "units: invalid ");
}

Test(base_config, external_labels_expand_environment_variables)
{
    setenv("EMBER_TEST_REGION", "eu-1", 1);
    unsetenv("EMBER_TEST_UNSET");
    em_config_t *cfg =
        load_ok("global:\n  external_labels:\n    a: ${EMBER_TEST_REGION}\n    b: x-$EMBER_TEST_REGION\n"
                "    c: $$literal\n    d: q${EMBER_TEST_UNSET}q\n");
    cr_assert_str_eq(cfg->global.external_labels.v[0].value, "eu-1");
    cr_assert_str_eq(cfg->global.external_labels.v[1].value, "x-eu-1");
    cr_assert_str_eq(cfg->global.external_labels.v[2].value, "$literal");
    cr_assert_str_eq(cfg->global.external_labels.v[3].value, "qq");
    em_config_free(cfg);
}

Test(base_config, yaml_1_1_scalars_nulls_and_merge_keys)
{
    em_config_t *cfg = load_ok("scrape_configs:\n"
                               "  - &base\n    job_name: a\n    honor_labels: on\n    metrics_path: /x\n"
                               "  - <<: *base\n    job_name: b\n    honor_timestamps:\n");
    cr_assert(cfg->scrape_configs[0]->honor_labels);
    cr_assert(cfg->scrape_configs[1]->honor_labels, "merged from the anchor");
    cr_assert_str_eq(cfg->scrape_configs[1]->job_name, "b", "explicit keys win over merged ones");
    cr_assert(!cfg->scrape_configs[1]->honor_timestamps, "null sets the zero value, as go-yaml does");
    em_config_free(cfg);
    cfg = load_ok("scrape_configs:\n  - job_name: 123\n");
    cr_assert_str_eq(cfg->scrape_configs[0]->job_name, "123", "any scalar fills a string");
    em_config_free(cfg);
}

Test(base_config, alias_expansion_is_bounded)
{
    /* 600 jobs, each 300 relabel rules through one alias: 180000 rules, past the bound on re-read nodes. */
    em_buf_t b = EM_BUF_INIT;
    em_buf_puts(&b, "scrape_configs:\n  - &j\n    job_name: a\n    metric_relabel_configs:\n");
    for (int i = 0; i < 300; i++)
        em_buf_puts(&b, "      - {action: drop, source_labels: [a]}\n");
    for (int i = 0; i < 600; i++)
        em_buf_puts(&b, "  - *j\n");
    em_config_t *cfg = NULL;
    em_err_t err;
    cr_assert_eq(em_config_load_string(b.data, b.len, "bomb.yml", &cfg, &err), EM_EINVAL);
    cr_assert(strstr(err.msg, "aliases expand to more than") != NULL, "%s", err.msg);
    em_buf_fini(&b);
}

static char tmpdir[64];

static void write_file(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ember_cfg_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

Test(base_config, load_file_resolves_relative_paths_and_rule_globs)
{
    make_tmpdir();
    char p[256];
    snprintf(p, sizeof(p), "%s/rules", tmpdir);
    mkdir(p, 0755);
    write_file("rules/b.yml", "groups: []\n");
    write_file("rules/a.yml", "groups: []\n");
    write_file("rules/c.txt", "x\n");
    write_file("extra.yml", "groups: []\n");
    write_file("prometheus.yml", "rule_files: ['rules/*.yml', extra.yml, 'rules/a.yml', missing.yml]\n"
                                 "scrape_configs:\n  - job_name: x\n    tls_config: {ca_file: certs/ca.pem}\n"
                                 "    file_sd_configs: [{files: ['sd/../targets/*.json']}]\n");
    snprintf(p, sizeof(p), "%s/prometheus.yml", tmpdir);
    em_config_t *cfg = NULL;
    em_err_t err;
    cr_assert_eq(em_config_load_file(p, &cfg, &err), EM_OK, "%s", err.msg);
    char want[256];
    snprintf(want, sizeof(want), "%s/certs/ca.pem", tmpdir);
    cr_assert_str_eq(cfg->scrape_configs[0]->http.tls_config.ca_file, want);
    snprintf(want, sizeof(want), "%s/targets/*.json", tmpdir);
    cr_assert_str_eq(cfg->scrape_configs[0]->file_sd_configs[0]->files.v[0], want);
    em_config_strs_t files;
    cr_assert_eq(em_config_rule_files(cfg, &files, &err), EM_OK);
    cr_assert_eq(files.n, 3);
    snprintf(want, sizeof(want), "%s/rules/a.yml", tmpdir);
    cr_assert_str_eq(files.v[0], want);
    snprintf(want, sizeof(want), "%s/rules/b.yml", tmpdir);
    cr_assert_str_eq(files.v[1], want);
    snprintf(want, sizeof(want), "%s/extra.yml", tmpdir);
    cr_assert_str_eq(files.v[2], want);
    em_config_strs_fini(&files);
    em_config_free(cfg);
    rm_tmpdir();
}

Test(base_config, scrape_config_files_add_jobs_and_refuse_duplicates)
{
    make_tmpdir();
    char p[256];
    snprintf(p, sizeof(p), "%s/jobs", tmpdir);
    mkdir(p, 0755);
    write_file("jobs/a.yml", "scrape_configs:\n  - job_name: from_file\n    tls_config: {ca_file: ca.pem}\n");
    write_file("main.yml", "global: {scrape_interval: 20s}\nscrape_config_files: ['jobs/*.yml']\n"
                           "scrape_configs:\n  - job_name: main\n");
    snprintf(p, sizeof(p), "%s/main.yml", tmpdir);
    em_config_t *cfg = NULL;
    em_err_t err;
    cr_assert_eq(em_config_load_file(p, &cfg, &err), EM_OK, "%s", err.msg);
    cr_assert_eq(cfg->n_scrape_configs, 2);
    cr_assert_str_eq(cfg->scrape_configs[1]->job_name, "from_file");
    cr_assert_eq(cfg->scrape_configs[1]->scrape_interval_ms, 20000, "globals apply to jobs from other files");
    char want[256];
    snprintf(want, sizeof(want), "%s/jobs/ca.pem", tmpdir);
    cr_assert_str_eq(cfg->scrape_configs[1]->http.tls_config.ca_file, want);
    em_config_free(cfg);

    write_file("jobs/b.yml", "scrape_configs:\n  - job_name: main\n");
    cfg = NULL;
    cr_assert_eq(em_config_load_file(p, &cfg, &err), EM_EINVAL);
    char wantmsg[512];
    snprintf(wantmsg, sizeof(wantmsg),
             "%s/jobs/b.yml:2:5: found multiple scrape configs with job name \"main\", first found in %s",
             tmpdir, p);
    cr_assert_str_eq(err.msg, wantmsg);
    rm_tmpdir();
}

Test(base_config, missing_file_is_an_io_error)
{
    em_config_t *cfg = NULL;
    em_err_t err;
    cr_assert_eq(em_config_load_file("/nonexistent/prometheus.yml", &cfg, &err), EM_EIO);
    cr_assert_str_eq(err.msg, "open /nonexistent/prometheus.yml: No such file or directory");
}

Test(base_config, null_strings_with_defaults_take_the_default)
{
    em_config_t *cfg = load_ok("scrape_configs:\n  - job_name: a\n    scheme:\n    metrics_path: ''\n"
                               "remote_write:\n  - url: http://x\n    protobuf_message: ~\n"
                               "alerting:\n  alertmanagers:\n    - scheme:\n");
    cr_assert_str_eq(cfg->scrape_configs[0]->scheme, "http");
    cr_assert_str_eq(cfg->scrape_configs[0]->metrics_path, "/metrics");
    cr_assert_str_eq(cfg->remote_write[0]->protobuf_message, "prometheus.WriteRequest");
    cr_assert_str_eq(cfg->alerting.alertmanagers[0]->scheme, "http");
    em_config_free(cfg);
}
