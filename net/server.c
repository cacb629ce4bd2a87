/* Design: see server.h */
#include "net/server.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/duration.h"
#include "base/fs.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/process.h"
#include "base/webconfig.h"
#include "base/workpool.h"
#include "engine/db.h"
#include "net/http.h"
#include "ingest/metastore.h"
#include "ingest/scrape.h"
#include "net/api.h"
#include "net/server_int.h"

#ifndef EMBER_REVISION
#define EMBER_REVISION "unknown"
#endif
#ifndef EMBER_BRANCH
#define EMBER_BRANCH "unknown"
#endif
#ifndef EMBER_BUILD_DATE
#define EMBER_BUILD_DATE "unknown"
#endif

/* ---- storage ---- */

/* The externally reachable scheme and host:port (--web.external-url), for globalUrl in the targets API. */
static void external_parts(const char *url, char *scheme, size_t ns, char *host, size_t nh)
{
    scheme[0] = host[0] = '\0';
    if (!url || !*url)
        return;
    const char *sep = strstr(url, "://");
    if (!sep)
        return;
    snprintf(scheme, ns, "%.*s", (int)(sep - url), url);
    const char *h = sep + 3;
    snprintf(host, nh, "%.*s", (int)strcspn(h, "/"), h);
    if (!strchr(host, ':') || host[strlen(host) - 1] == ']') /* Go's url.Host keeps the port as given */
        snprintf(host + strlen(host), nh - strlen(host), ":%s", strcmp(scheme, "https") == 0 ? "443" : "80");
}

static void start_scraping(em_server_t *s)
{
    char scheme[16], host[256], port[16] = "9090";
    const char *colon = s->o.listen ? strrchr(s->o.listen, ':') : NULL;
    if (colon && colon[1])
        snprintf(port, sizeof(port), "%s", colon + 1);
    external_parts(s->o.external_url, scheme, sizeof(scheme), host, sizeof(host));
    em_scrape_opts_t so = {.head = s->head,
                           .metadata = s->metadata,
                           .external_scheme = scheme[0] ? scheme : NULL,
                           .external_host = host[0] ? host : NULL,
                           .listen_port = port};
    pthread_mutex_lock(&s->config_mu);
    s->scrape = em_scrape_manager_new(&so);
    em_scrape_manager_apply(s->scrape, s->config);
    pthread_mutex_unlock(&s->config_mu);
    em_info("scrape", "Scrape manager started");
}

static void *open_storage(void *arg)
{
    em_server_t *s = arg;
    em_db_opts_t dbo = {.dir = s->o.data_dir,
                        .retention_ms = s->o.retention_ms,
                        .retention_bytes = s->o.retention_bytes,
                        .min_block_ms = s->o.min_block_ms,
                        .max_block_ms = s->o.max_block_ms,
                        .no_lockfile = s->o.no_lockfile,
                        .head_shards = s->o.head_shards,
                        .wal_compression = s->o.wal_compression,
                        .wal_segment_bytes = s->o.wal_segment_bytes};
    em_err_t err;
    em_db_t *db = NULL;
    int rc = em_db_open(&dbo, &db, &err);
    if (rc != EM_OK) {
        em_error("main", "Opening storage failed", "err=%s", em_q(err.msg));
        s->storage_failed = true;
        kill(getpid(), SIGTERM);
        return NULL;
    }
    s->db = db;
    s->head = em_db_head(db);
    start_scraping(s);
    atomic_store(&s->ready, true);
    em_info("main", "Server is ready to receive web requests.");
    return NULL;
}

em_queryable_t *server_queryable(em_server_t *s)
{
    return s->db ? em_db_queryable(s->db) : NULL;
}

/* ---- lifecycle handlers ---- */

static int h_healthy(h2o_req_t *req, void *arg)
{
    static const char body[] = "Ember Server is Healthy.\n";
    em_http_respond(req, 200, "text/plain; charset=utf-8", body, sizeof(body) - 1);
    return 0;
}

static int h_ready(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    if (!atomic_load(&s->ready)) {
        static const char body[] = "Service Unavailable";
        em_http_respond(req, 503, "text/plain; charset=utf-8", body, sizeof(body) - 1);
        return 0;
    }
    static const char body[] = "Ember Server is Ready.\n";
    em_http_respond(req, 200, "text/plain; charset=utf-8", body, sizeof(body) - 1);
    return 0;
}

static int lifecycle_disabled(h2o_req_t *req)
{
    static const char body[] = "Lifecycle API is not enabled.";
    em_http_respond(req, 403, "text/plain; charset=utf-8", body, sizeof(body) - 1);
    return 0;
}

typedef struct reload_job {
    em_server_t *s;
    int rc;
    em_err_t err;
} reload_job_t;

static void reload_work(em_http_job_t *job, void *arg)
{
    reload_job_t *j = arg;
    j->rc = em_server_reload(j->s, &j->err);
    em_http_job_done(job);
}

static void reload_finish(h2o_req_t *req, void *arg)
{
    reload_job_t *j = arg;
    if (req) {
        if (j->rc == EM_OK) {
            em_http_respond(req, 200, "text/plain; charset=utf-8", "", 0);
        } else {
            char msg[EM_ERR_MSG_MAX + 64];
            int n = snprintf(msg, sizeof(msg), "failed to reload config: %s\n", j->err.msg);
            em_http_respond(req, 500, "text/plain; charset=utf-8", msg, (size_t)n);
        }
    }
    free(j);
}

static int h_reload(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    if (!s->o.enable_lifecycle)
        return lifecycle_disabled(req);
    reload_job_t *j = EM_NEW(reload_job_t);
    j->s = s;
    if (em_http_defer(req, s->pool, reload_work, reload_finish, j) != EM_OK)
        free(j);
    return 0;
}

static int h_quit(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    if (!s->o.enable_lifecycle)
        return lifecycle_disabled(req);
    static const char body[] = "Requesting termination... Goodbye!";
    em_http_respond(req, 200, "text/plain; charset=utf-8", body, sizeof(body) - 1);
    kill(getpid(), SIGTERM);
    return 0;
}

static int h_metrics(h2o_req_t *req, void *arg)
{
    em_buf_t b = EM_BUF_INIT;
    em_metrics_render(&b);
    em_http_respond_buf(req, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
    return 0;
}

/* ---- status handlers ---- */

static void put_kv_str(em_buf_t *b, const char *k, const char *v, bool comma)
{
    if (comma)
        em_buf_putc(b, ',');
    em_buf_put_json_str(b, k, strlen(k));
    em_buf_putc(b, ':');
    em_buf_put_json_str(b, v, strlen(v));
}

static int h_buildinfo(h2o_req_t *req, void *arg)
{
    em_buf_t b = EM_BUF_INIT;
    em_buf_putc(&b, '{');
    put_kv_str(&b, "version", EMBER_VERSION, false);
    put_kv_str(&b, "revision", EMBER_REVISION, true);
    put_kv_str(&b, "branch", EMBER_BRANCH, true);
    put_kv_str(&b, "buildUser", "ember", true);
    put_kv_str(&b, "buildDate", EMBER_BUILD_DATE, true);
    put_kv_str(&b, "goVersion", "C11 (gcc " __VERSION__ ")", true);
    em_buf_putc(&b, '}');
    em_http_respond_json_data(req, b.data, b.len, NULL);
    em_buf_fini(&b);
    return 0;
}

static int h_runtimeinfo(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    em_process_info_t pi;
    em_process_info(&pi);
    char ts[32], cwd[PATH_MAX], ret[96];
    em_buf_t b = EM_BUF_INIT;
    em_buf_putc(&b, '{');
    em_time_format_rfc3339(s->start_ms, ts);
    put_kv_str(&b, "startTime", ts, false);
    put_kv_str(&b, "CWD", getcwd(cwd, sizeof(cwd)) ? cwd : "", true);
    pthread_mutex_lock(&s->config_mu);
    em_buf_printf(&b, ",\"reloadConfigSuccess\":%s", s->last_reload_ok ? "true" : "false");
    em_time_format_rfc3339(s->last_reload_ms, ts);
    pthread_mutex_unlock(&s->config_mu);
    put_kv_str(&b, "lastConfigTime", ts, true);
    em_buf_printf(&b, ",\"corruptionCount\":%llu",
                  (unsigned long long)em_counter_get(
                      em_counter_new("ember_wal_corruptions_total", "Total number of WAL corruptions repaired at start-up.",
                                     NULL)));
    em_buf_printf(&b, ",\"goroutineCount\":%d,\"GOMAXPROCS\":%ld,\"GOGC\":\"\",\"GODEBUG\":\"\"", pi.n_threads,
                  sysconf(_SC_NPROCESSORS_ONLN));
    char d[32];
    em_duration_format(s->o.retention_ms, d);
    if (s->o.retention_bytes)
        snprintf(ret, sizeof(ret), "%s or %lluB", d, (unsigned long long)s->o.retention_bytes);
    else
        snprintf(ret, sizeof(ret), "%s", d);
    put_kv_str(&b, "storageRetention", ret, true);
    em_buf_putc(&b, '}');
    em_http_respond_json_data(req, b.data, b.len, NULL);
    em_buf_fini(&b);
    return 0;
}

typedef struct flags_ctx {
    em_buf_t *b;
    bool first;
} flags_ctx_t;

static void put_flag(const char *name, const char *value, void *arg)
{
    flags_ctx_t *c = arg;
    put_kv_str(c->b, name, value, !c->first);
    c->first = false;
}

static int h_flags(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    em_buf_t b = EM_BUF_INIT;
    em_buf_putc(&b, '{');
    flags_ctx_t c = {&b, true};
    if (s->o.foreach_flag)
        s->o.foreach_flag(put_flag, &c, s->o.foreach_flag_self);
    em_buf_putc(&b, '}');
    em_http_respond_json_data(req, b.data, b.len, NULL);
    em_buf_fini(&b);
    return 0;
}

/* GET /api/v1/rules and /api/v1/alerts: no rule groups are loaded (rules are not evaluated yet), so the
 * answers are Prometheus's for an empty rule set; Grafana's data source asks for them. */
static int h_rules(h2o_req_t *req, void *arg)
{
    (void)arg;
    static const char data[] = "{\"groups\":[]}";
    em_http_respond_json_data(req, data, sizeof(data) - 1, NULL);
    return 0;
}

static int h_alerts(h2o_req_t *req, void *arg)
{
    (void)arg;
    static const char data[] = "{\"alerts\":[]}";
    em_http_respond_json_data(req, data, sizeof(data) - 1, NULL);
    return 0;
}

static int h_config(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    em_buf_t yaml = EM_BUF_INIT, b = EM_BUF_INIT;
    server_config_yaml(s, &yaml);
    em_buf_puts(&b, "{\"yaml\":");
    em_buf_put_json_str(&b, yaml.data ? yaml.data : "", yaml.len);
    em_buf_putc(&b, '}');
    em_http_respond_json_data(req, b.data, b.len, NULL);
    em_buf_fini(&yaml);
    em_buf_fini(&b);
    return 0;
}

/* ---- authentication (--web.config.file basic_auth_users) ---- */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode standard base64 (padding optional) into out (NUL-terminated); false if malformed or too long. */
static bool b64_decode(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        int v = b64val((unsigned char)*in);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= cap)
                return false;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    return true;
}

/* Prometheus (exporter-toolkit) checks basic auth on every path when users are configured. The first
 * check of a user costs a bcrypt on the loop thread; successes are cached. */
static bool check_auth(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    const char *h = em_http_header(req, "authorization");
    if (!h || strncasecmp(h, "Basic ", 6) != 0)
        return false;
    char creds[512];
    if (!b64_decode(h + 6, creds, sizeof(creds)))
        return false;
    char *colon = strchr(creds, ':');
    if (!colon)
        return false;
    *colon = '\0';
    return em_webconfig_check_basic_auth(s->web, creds, colon + 1);
}

static int load_webconfig(em_server_t *s, em_http_opts_t *ho, em_err_t *err)
{
    if (!s->o.web_config_file)
        return EM_OK;
    int rc = em_webconfig_load_file(s->o.web_config_file, &s->web, err);
    if (rc != EM_OK)
        return rc;
    const em_webconfig_t *w = s->web;
    if (w->tls.enabled) {
        ho->tls_cert_file = w->tls.cert_file;
        ho->tls_key_file = w->tls.key_file;
        ho->tls_cert_pem = w->tls.cert;
        ho->tls_key_pem = w->tls.key;
        ho->tls_client_ca_file = w->tls.client_ca_file;
        ho->tls_client_auth = (int)w->tls.client_auth;
        ho->tls_min_version = (int)w->tls.min_version;
        ho->tls_max_version = (int)w->tls.max_version;
        if (w->tls.client_ca && !w->tls.client_ca_file)
            return em_err_set(err, EM_EUNSUPPORTED, "%s: inline client_ca is not supported by ember; use client_ca_file",
                              s->o.web_config_file);
    }
    ho->disable_http2 = !w->http2;
    if (w->headers.n) {
        s->web_headers = em_calloc(2 * w->headers.n + 1, sizeof(char *));
        for (size_t i = 0; i < w->headers.n; i++) {
            s->web_headers[2 * i] = w->headers.v[i].name;
            s->web_headers[2 * i + 1] = w->headers.v[i].value;
        }
        ho->extra_headers = s->web_headers;
    }
    if (em_webconfig_auth_required(w)) {
        ho->auth = check_auth;
        ho->auth_arg = s;
    }
    em_info("web", "Web configuration loaded", "file=%s tls=%s basic_auth=%s", em_q(s->o.web_config_file),
            w->tls.enabled ? "true" : "false", em_webconfig_auth_required(w) ? "true" : "false");
    return EM_OK;
}

/* ---- start, wait, stop ---- */

static void copy_str(const char **dst)
{
    if (*dst)
        *dst = em_strdup(*dst);
}

static void register_routes(em_server_t *s)
{
    em_http_server_t *h = s->http;
    em_http_route(h, "/-/healthy", EM_HTTP_GET, "/-/healthy", h_healthy, s);
    em_http_route(h, "/-/ready", EM_HTTP_GET, "/-/ready", h_ready, s);
    em_http_route(h, "/-/reload", EM_HTTP_POST | EM_HTTP_PUT, "/-/reload", h_reload, s);
    em_http_route(h, "/-/quit", EM_HTTP_POST | EM_HTTP_PUT, "/-/quit", h_quit, s);
    em_http_route(h, "/metrics", EM_HTTP_GET, "/metrics", h_metrics, s);
    em_http_route(h, "/api/v1/status/buildinfo", EM_HTTP_GET, "/api/v1/status/buildinfo", h_buildinfo, s);
    em_http_route(h, "/api/v1/status/runtimeinfo", EM_HTTP_GET, "/api/v1/status/runtimeinfo", h_runtimeinfo, s);
    em_http_route(h, "/api/v1/status/flags", EM_HTTP_GET, "/api/v1/status/flags", h_flags, s);
    em_http_route(h, "/api/v1/status/config", EM_HTTP_GET, "/api/v1/status/config", h_config, s);
    em_http_route(h, "/api/v1/rules", EM_HTTP_GET, "/api/v1/rules", h_rules, s);
    em_http_route(h, "/api/v1/alerts", EM_HTTP_GET, "/api/v1/alerts", h_alerts, s);
    em_http_route(h, "/api/v1/write", EM_HTTP_POST, "/api/v1/write", api_write, s);
    em_http_route(h, "/api/v1/metadata", EM_HTTP_GET | EM_HTTP_POST, "/api/v1/metadata", api_metadata, s);
    em_http_route(h, "/api/v1/query", EM_HTTP_GET | EM_HTTP_POST, "/api/v1/query", api_query, s);
    em_http_route(h, "/api/v1/query_range", EM_HTTP_GET | EM_HTTP_POST, "/api/v1/query_range", api_query_range, s);
    em_http_route(h, "/api/v1/format_query", EM_HTTP_GET | EM_HTTP_POST, "/api/v1/format_query", api_format_query, s);
    em_http_route(h, "/api/v1/query_exemplars", EM_HTTP_GET | EM_HTTP_POST, "/api/v1/query_exemplars",
                  api_query_exemplars, s);
    em_http_route(h, "/api/v1/series", EM_HTTP_GET | EM_HTTP_POST, "/api/v1/series", api_series, s);
    em_http_route(h, "/api/v1/labels", EM_HTTP_GET | EM_HTTP_POST, "/api/v1/labels", api_labels, s);
    em_http_route(h, "/api/v1/label/*", EM_HTTP_GET, "/api/v1/label/:name/values", api_label_values, s);
    em_http_route(h, "/api/v1/status/tsdb", EM_HTTP_GET, "/api/v1/status/tsdb", api_status_tsdb, s);
    em_http_route(h, "/api/v1/admin/tsdb/delete_series", EM_HTTP_POST | EM_HTTP_PUT,
                  "/api/v1/admin/tsdb/delete_series", api_admin_delete_series, s);
    em_http_route(h, "/api/v1/admin/tsdb/clean_tombstones", EM_HTTP_POST | EM_HTTP_PUT,
                  "/api/v1/admin/tsdb/clean_tombstones", api_admin_clean_tombstones, s);
    em_http_route(h, "/api/v1/admin/tsdb/snapshot", EM_HTTP_POST | EM_HTTP_PUT, "/api/v1/admin/tsdb/snapshot",
                  api_admin_snapshot, s);

    em_http_route(h, "/api/v1/targets", EM_HTTP_GET, "/api/v1/targets", api_targets, s);
    em_http_route(h, "/api/v1/targets/metadata", EM_HTTP_GET, "/api/v1/targets/metadata", api_targets_metadata, s);
    em_http_route(h, "/api/v1/read", EM_HTTP_POST, "/api/v1/read", api_read, s);
    em_http_route(h, "/federate", EM_HTTP_GET, "/federate", api_federate, s);
}

int em_server_start(const em_server_opts_t *o, em_server_t **out, em_err_t *err)
{
    /* Every thread started from here on inherits this mask; em_server_wait takes the signals. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    em_server_t *s = EM_NEW(em_server_t);
    s->o = *o;
    copy_str(&s->o.listen);
    copy_str(&s->o.route_prefix);
    copy_str(&s->o.external_url);
    copy_str(&s->o.web_config_file);
    copy_str(&s->o.data_dir);
    copy_str(&s->o.config_file);
    s->start_ms = em_now_ms();
    atomic_init(&s->ready, false);
    pthread_mutex_init(&s->config_mu, NULL);
    s->reload_ok = em_gauge_new("ember_config_last_reload_successful",
                                "Whether the last configuration reload attempt was successful.", NULL);
    s->reload_time = em_gauge_new("ember_config_last_reload_success_timestamp_seconds",
                                  "Timestamp of the last successful configuration reload.", NULL);
    em_process_metrics_register();
    em_gauge_set(em_gauge_new("ember_build_info",
                              "A metric with a constant '1' value labeled by version, revision, branch and compiler.",
                              "branch=\"" EMBER_BRANCH "\",goversion=\"gcc " __VERSION__ "\",revision=\"" EMBER_REVISION
                              "\",version=\"" EMBER_VERSION "\""),
                 1);

    int rc = server_config_load(s, err);
    if (rc != EM_OK)
        goto fail;
    s->last_reload_ok = true;
    s->last_reload_ms = em_now_ms();
    em_gauge_set(s->reload_ok, 1);
    em_gauge_set(s->reload_time, (double)s->last_reload_ms / 1000.0);

    s->pool = em_workpool_new("query", o->query_workers > 0 ? o->query_workers : 2, 1024, em_rcu_thread_online,
                              em_rcu_thread_offline);
    s->ingest_pool = em_workpool_new("ingest", 2, 4096, em_rcu_thread_online, em_rcu_thread_offline);
    s->metadata = em_metastore_new();
    em_query_engine_opts_t qo = {.lookback_ms = o->lookback_delta_ms,
                                 .max_samples = o->query_max_samples,
                                 .timeout_ms = o->query_timeout_ms,
                                 .max_concurrency = o->query_max_concurrency,
                                 .features = o->promql};
    s->engine = em_query_engine_new(&qo);
    em_http_opts_t ho = {.listen = s->o.listen,
                         .n_threads = o->http_threads > 0 ? o->http_threads : 2,
                         .max_body_bytes = o->max_body_bytes,
                         .max_connections = o->max_connections,
                         .read_timeout_ms = o->read_timeout_ms,
                         .route_prefix = s->o.route_prefix};
    rc = load_webconfig(s, &ho, err);
    if (rc != EM_OK)
        goto fail;
    rc = em_http_server_new(&ho, &s->http, err);
    if (rc != EM_OK)
        goto fail;
    register_routes(s);
    rc = em_http_server_start(s->http, err);
    if (rc != EM_OK)
        goto fail;
    em_info("web", "Start listening for connections", "address=%s", em_q(s->o.listen));
    if (pthread_create(&s->storage_thread, NULL, open_storage, s) != 0) {
        rc = em_err_set(err, EM_EIO, "cannot start the storage thread");
        goto fail;
    }
    s->storage_started = true;
    *out = s;
    return EM_OK;
fail:
    em_server_stop(s);
    return rc;
}

int em_server_wait(em_server_t *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            em_err_t err;
            em_server_reload(s, &err);
            continue;
        }
        em_warn("main", "Received termination request, shutting down gracefully", "signal=%s",
                sig == SIGINT ? "interrupt" : "terminated");
        return s->storage_failed ? 1 : 0;
    }
}

void em_server_stop(em_server_t *s)
{
    if (!s)
        return;
    /* Scraping stops first (as in Prometheus): its stale markers go in while storage is open, and its
     * keep-alive connections (to this server too) are closed before HTTP shuts down. */
    if (s->storage_started) {
        pthread_join(s->storage_thread, NULL);
        s->storage_started = false;
    }
    pthread_mutex_lock(&s->config_mu);
    em_scrape_manager_t *sm = s->scrape;
    s->scrape = NULL;
    pthread_mutex_unlock(&s->config_mu);
    if (sm) {
        em_scrape_manager_free(sm);
        em_info("scrape", "Scrape manager stopped");
    }
    if (s->http) {
        em_http_server_stop(s->http, 10000);
        em_info("web", "Stopped serving HTTP");
    }
    if (s->storage_started)
        pthread_join(s->storage_thread, NULL);
    em_workpool_free(s->pool);
    em_workpool_free(s->ingest_pool);
    em_http_server_free(s->http);
    em_metastore_free(s->metadata);
    em_query_engine_free(s->engine);
    if (s->db) {
        em_db_close(s->db);
        em_info("main", "Storage closed");
    }
    server_config_free(s);
    em_webconfig_free(s->web);
    free(s->web_headers);
    pthread_mutex_destroy(&s->config_mu);
    free((char *)s->o.listen);
    free((char *)s->o.route_prefix);
    free((char *)s->o.external_url);
    free((char *)s->o.web_config_file);
    free((char *)s->o.data_dir);
    free((char *)s->o.config_file);
    free(s);
}

int em_server_reload(em_server_t *s, em_err_t *err)
{
    em_info("main", "Loading configuration file", "filename=%s", em_q(s->o.config_file ? s->o.config_file : "(default)"));
    int rc = server_config_load(s, err);
    pthread_mutex_lock(&s->config_mu);
    s->last_reload_ok = rc == EM_OK;
    if (rc == EM_OK)
        s->last_reload_ms = em_now_ms();
    pthread_mutex_unlock(&s->config_mu);
    em_gauge_set(s->reload_ok, rc == EM_OK ? 1 : 0);
    if (rc == EM_OK) {
        em_gauge_set(s->reload_time, (double)em_now_ms() / 1000.0);
        em_info("main", "Completed loading of configuration file",
                "filename=%s", em_q(s->o.config_file ? s->o.config_file : "(default)"));
    } else {
        em_error("main", "Error reloading config", "err=%s", em_q(err ? err->msg : "?"));
    }
    return rc;
}
