/* Design: see scrape.h. This file: the scrape thread, transfers through libcurl's multi interface,
 * pools and targets following discovery and reloads.
 *
 * TARGET STATES
 *     created --(due)--> in flight --(done)--> parse + batch queued (busy) --(shard completes)--> idle
 *     any --(removed)--> transfer cancelled, wait idle, stale markers queued --> graveyard --(idle)--> freed
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/duration.h"
#include "base/fs.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/strconv.h"
#include "base/workpool.h"
#include "ingest/scrape_int.h"

#define POLL_MAX_MS 1000

static struct {
    em_counter_t *scrapes, *failed, *targets_created, *targets_bad, *stale_targets;
    em_gauge_t *active;
} mt;

static void metrics_register(void)
{
    mt.scrapes = em_counter_new("ember_target_scrapes_total", "Total number of scrapes attempted.", NULL);
    mt.failed = em_counter_new(
        "ember_target_scrapes_failed_total",
        "Total number of scrapes that failed (network, HTTP status, parse error or limit).", NULL);
    mt.targets_created =
        em_counter_new("ember_target_created_total", "Total number of scrape targets created.", NULL);
    mt.targets_bad =
        em_counter_new("ember_target_sync_failed_total",
                       "Total number of discovered targets that could not be turned into targets.", NULL);
    mt.stale_targets =
        em_counter_new("ember_target_removed_total",
                       "Total number of scrape targets removed (discovery, reload or shutdown).", NULL);
    mt.active = em_gauge_new("ember_target_active", "Number of active scrape targets.", NULL);
}

static void metrics_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, metrics_register);
}

/* ---- batches ---- */

static void on_batch_done(em_batch_t *b, void *arg)
{
    (void)b;
    scrape_target_t *t = arg;
    em_scrape_manager_t *m = t->m;
    bool dying = t->dying;
    /* Once busy is false the scrape thread may free the target (reap), so nothing of it is touched after
     * the store; the manager outlives every batch (shutdown waits for them under batch_mu). */
    pthread_mutex_lock(&m->batch_mu);
    atomic_store(&t->loop.busy, false);
    if (dying)
        curl_multi_wakeup(m->multi);
    pthread_cond_broadcast(&m->batch_cv);
    pthread_mutex_unlock(&m->batch_mu);
}

static void wait_idle(scrape_target_t *t)
{
    em_scrape_manager_t *m = t->m;
    pthread_mutex_lock(&m->batch_mu);
    while (atomic_load(&t->loop.busy))
        pthread_cond_wait(&m->batch_cv, &m->batch_mu);
    pthread_mutex_unlock(&m->batch_mu);
}

static void queue_batch(scrape_target_t *t)
{
    atomic_store(&t->loop.busy, true);
    if (em_head_append(t->m->o.head, t->loop.batch, on_batch_done, t) != EM_OK)
        atomic_store(&t->loop.busy, false); /* the head is closing: nothing queued */
}

/* ---- transfers ---- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    scrape_target_t *t = arg;
    size_t len = size * n;
    int64_t limit = t->loop.sc->body_size_limit_bytes;
    if (limit > 0 && t->body.len + len > (size_t)limit) {
        t->too_big = true;
        return 0; /* aborts the transfer */
    }
    em_buf_append(&t->body, p, len);
    return len;
}

static char *read_secret_file(const char *path)
{
    em_buf_t b = EM_BUF_INIT;
    em_err_t err;
    if (em_read_file(path, 1 << 20, &b, &err) != EM_OK) {
        em_error("scrape", "Cannot read secret file", "err=%s", em_q(err.msg));
        em_buf_fini(&b);
        return em_strdup("");
    }
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
        b.data[--b.len] = '\0'; /* Prometheus trims surrounding space from secret files */
    char *s = em_strdup(b.data ? b.data : "");
    em_buf_fini(&b);
    return s;
}

static void set_tls(CURL *e, const em_tls_config_t *tls)
{
    if (tls->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, tls->ca_file);
    if (tls->ca) {
        struct curl_blob blob = {tls->ca, strlen(tls->ca), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
    }
    if (tls->cert_file)
        curl_easy_setopt(e, CURLOPT_SSLCERT, tls->cert_file);
    if (tls->cert) {
        struct curl_blob blob = {tls->cert, strlen(tls->cert), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &blob);
    }
    if (tls->key_file)
        curl_easy_setopt(e, CURLOPT_SSLKEY, tls->key_file);
    if (tls->key) {
        struct curl_blob blob = {tls->key, strlen(tls->key), CURL_BLOB_COPY};
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &blob);
    }
    if (tls->insecure_skip_verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    static const long versions[] = {0, CURL_SSLVERSION_TLSv1_0, CURL_SSLVERSION_TLSv1_1,
                                    CURL_SSLVERSION_TLSv1_2, CURL_SSLVERSION_TLSv1_3};
    if (tls->min_version > 0)
        curl_easy_setopt(e, CURLOPT_SSLVERSION, versions[tls->min_version]);
}

static void target_setup_curl(scrape_target_t *t)
{
    const em_scrape_config_t *sc = t->loop.sc;
    scrape_pool_t *p = t->pool;
    CURL *e = t->easy = curl_easy_init();
    if (!e) {
        fprintf(stderr, "ember: curl_easy_init failed\n");
        abort();
    }
    curl_easy_setopt(e, CURLOPT_URL, t->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_err);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
    curl_easy_setopt(e, CURLOPT_USERAGENT, t->m->o.user_agent);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, sc->http.follow_redirects ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     sc->http.enable_http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
    if (sc->enable_compression)
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
    char h[512];
    snprintf(h, sizeof(h), "Accept: %s", p->accept);
    t->headers = curl_slist_append(NULL, h);
    if (!sc->enable_compression)
        t->headers = curl_slist_append(t->headers, "Accept-Encoding: identity");
    char secs[64];
    em_fmt_float((double)t->timeout_ms / 1000.0, 'f', secs);
    snprintf(h, sizeof(h), "X-Prometheus-Scrape-Timeout-Seconds: %s", secs);
    t->headers = curl_slist_append(t->headers, h);
    if (p->auth_header)
        t->headers = curl_slist_append(t->headers, p->auth_header);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    if (p->user) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, p->user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, p->password ? p->password : "");
    }
    set_tls(e, &sc->http.tls_config);
    if (sc->http.proxy_url)
        curl_easy_setopt(e, CURLOPT_PROXY, sc->http.proxy_url);
}

/* Go's http.StatusText for the codes a target plausibly answers. */
static const char *status_text(long code)
{
    switch (code) {
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "";
    }
}

static void process_page(void *arg);

/* Prometheus's target_limit: while a pool has more targets than allowed, each of its scrapes fails at
 * once with the limit's message (up=0, series stale) instead of fetching anything. */
static void fail_scrape(em_scrape_manager_t *m, scrape_target_t *t, int64_t now_ms, const char *msg)
{
    em_buf_reset(&t->body);
    t->start_ms = now_ms;
    t->dur_s = 0;
    t->fetch_rc = EM_ELIMIT;
    snprintf(t->fetch_msg, sizeof(t->fetch_msg), "%s", msg);
    t->content_type[0] = '\0';
    em_counter_inc(mt.scrapes);
    atomic_store(&t->processing, true);
    if (em_workpool_submit(m->workers, process_page, t) != EM_OK)
        process_page(t);
}

static void start_scrape(em_scrape_manager_t *m, scrape_target_t *t, int64_t now_ms)
{
    if (t->pool->limit_err[0]) {
        fail_scrape(m, t, now_ms, t->pool->limit_err);
        return;
    }
    em_buf_reset(&t->body);
    t->too_big = false;
    t->curl_err[0] = '\0';
    t->start_ms = now_ms;
    t->start_ns = em_mono_ns();
    t->in_flight = true;
    em_counter_inc(mt.scrapes);
    curl_multi_add_handle(m->multi, t->easy);
}

/* What went wrong with a finished transfer, in Prometheus's words; EM_OK when the page is usable. */
static int fetch_result(scrape_target_t *t, CURLcode res, char *msg, size_t cap, const char **ct)
{
    *ct = NULL;
    if (t->too_big) {
        em_counter_inc(em_counter_new("ember_target_scrapes_exceeded_body_size_limit_total",
                                      "Total number of scrapes that hit the body size limit.", NULL));
        snprintf(msg, cap, "body size limit exceeded");
        return EM_ELIMIT;
    }
    if (res == CURLE_OPERATION_TIMEDOUT) {
        snprintf(msg, cap, "Get \"%s\": context deadline exceeded", t->url);
        return EM_ETIMEOUT;
    }
    if (res != CURLE_OK) {
        snprintf(msg, cap, "Get \"%s\": %s", t->url, t->curl_err[0] ? t->curl_err : curl_easy_strerror(res));
        return EM_EIO;
    }
    long code = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        snprintf(msg, cap, "server returned HTTP status %ld %s", code, status_text(code));
        size_t n = strlen(msg);
        if (n && msg[n - 1] == ' ')
            msg[n - 1] = '\0';
        return EM_EIO;
    }
    char *type = NULL;
    curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &type);
    *ct = type;
    return EM_OK;
}

/* Thread: a worker (or the scrape thread when the workers' queue is full). */
static void process_page(void *arg)
{
    scrape_target_t *t = arg;
    em_scrape_manager_t *m = t->m;
    wait_idle(t);
    scrape_loop_harvest(&t->loop);
    em_err_t err;
    em_err_clear(&err);
    int rc = scrape_loop_append(&t->loop, t->body.data ? t->body.data : "", t->body.len,
                                t->content_type[0] ? t->content_type : NULL, t->start_ms, t->dur_s,
                                t->fetch_rc, t->fetch_msg, &m->mu, m->o.metadata, &err);
    if (rc != EM_OK) {
        em_counter_inc(mt.failed);
        em_debug("scrape", "Scrape failed", "target=%s err=%s", em_q(t->url), em_q(err.msg));
    }
    pthread_mutex_lock(&m->mu);
    t->health = rc == EM_OK ? 1 : -1;
    snprintf(t->last_error, sizeof(t->last_error), "%s", rc == EM_OK ? "" : err.msg);
    t->last_scrape_ms = t->start_ms;
    t->last_duration_s = t->dur_s;
    pthread_mutex_unlock(&m->mu);
    queue_batch(t);
    if (t->body.cap > (4u << 20) && t->body.len < t->body.cap / 4) /* do not keep a huge page's buffer */
        em_buf_fini(&t->body);
    /* next_ms is only written when a scrape starts, which cannot happen while processing is set. */
    bool overdue = em_now_ms() >= t->next_ms;
    pthread_mutex_lock(&m->batch_mu);
    atomic_store(&t->processing, false);
    pthread_cond_broadcast(&m->batch_cv);
    pthread_mutex_unlock(&m->batch_mu);
    if (overdue)
        curl_multi_wakeup(m->multi);
}

static void finish_scrape(em_scrape_manager_t *m, scrape_target_t *t, CURLcode res)
{
    curl_multi_remove_handle(m->multi, t->easy);
    t->in_flight = false;
    t->dur_s = (double)(em_mono_ns() - t->start_ns) / 1e9;
    const char *ct;
    t->fetch_rc = fetch_result(t, res, t->fetch_msg, sizeof(t->fetch_msg), &ct);
    snprintf(t->content_type, sizeof(t->content_type), "%s", ct ? ct : "");
    atomic_store(&t->processing, true);
    if (em_workpool_submit(m->workers, process_page, t) != EM_OK)
        process_page(t);
}

/* Wait until no worker holds the target's page. Thread: scrape. */
static void wait_processed(scrape_target_t *t)
{
    em_scrape_manager_t *m = t->m;
    pthread_mutex_lock(&m->batch_mu);
    while (atomic_load(&t->processing))
        pthread_cond_wait(&m->batch_cv, &m->batch_mu);
    pthread_mutex_unlock(&m->batch_mu);
}

/* ---- targets ---- */

static int64_t first_due(const scrape_target_t *t, int64_t now_ms)
{
    /* Prometheus's offset: scrape at times t with t mod interval == hash mod interval. */
    int64_t iv = t->interval_ms;
    int64_t next = now_ms - now_ms % iv + t->offset_ms;
    if (next < now_ms)
        next += iv;
    return next;
}

static scrape_target_t *target_new(em_scrape_manager_t *m, scrape_pool_t *p, const em_labels_t *labels,
                                   const em_labels_t *discovered, const char *url, uint64_t hash,
                                   int64_t now_ms)
{
    scrape_target_t *t = EM_NEW(scrape_target_t);
    t->m = m;
    t->pool = p;
    t->hash = hash;
    em_arena_init(&t->arena);
    t->discovered = em_labels_copy(discovered, &t->arena);
    t->url = em_arena_strdup(&t->arena, url);
    scrape_loop_init(&t->loop, p->sc, labels);
    const char *iv = em_labels_get(labels, "__scrape_interval__"),
               *tv = em_labels_get(labels, "__scrape_timeout__");
    em_duration_parse(iv, strlen(iv), &t->interval_ms, NULL); /* validated by em_scrape_target_labels */
    em_duration_parse(tv, strlen(tv), &t->timeout_ms, NULL);
    t->offset_ms = (int64_t)(hash % (uint64_t)t->interval_ms);
    t->next_ms = first_due(t, now_ms);
    target_setup_curl(t);
    em_counter_inc(mt.targets_created);
    return t;
}

static void target_free(scrape_target_t *t)
{
    scrape_loop_fini(&t->loop);
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    em_buf_fini(&t->body);
    em_arena_fini(&t->arena);
    free(t);
}

/* Take a target out of service: cancel its transfer and, when 'stale', queue stale markers for its
 * series. It is freed once its batch completes. Thread: scrape. */
static void target_retire(em_scrape_manager_t *m, scrape_target_t *t, bool stale)
{
    if (t->in_flight) {
        curl_multi_remove_handle(m->multi, t->easy);
        t->in_flight = false;
    }
    wait_processed(t);
    wait_idle(t);
    scrape_loop_harvest(&t->loop);
    t->dying = true;
    if (stale) {
        scrape_loop_stale_all(&t->loop, em_now_ms());
        queue_batch(t);
    }
    t->next_dead = m->graveyard;
    m->graveyard = t;
    em_counter_inc(mt.stale_targets);
}

static void reap(em_scrape_manager_t *m, bool wait)
{
    scrape_target_t **pp = &m->graveyard;
    while (*pp) {
        scrape_target_t *t = *pp;
        if (wait)
            wait_idle(t);
        if (!atomic_load(&t->loop.busy)) {
            *pp = t->next_dead;
            target_free(t);
        } else {
            pp = &t->next_dead;
        }
    }
}

static scrape_target_t *find_target(scrape_target_t **v, size_t n, uint64_t hash)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] && v[i]->hash == hash)
            return v[i];
    return NULL;
}

static void add_dropped(scrape_pool_t *p, em_arena_t *a, em_labels_t **v, size_t *n, size_t *cap,
                        const em_labels_t *discovered)
{
    p->n_dropped_total++;
    uint64_t keep = p->sc->keep_dropped_targets;
    if (keep && *n >= keep)
        return;
    em_grow((void **)v, cap, *n + 1, sizeof(em_labels_t));
    (*v)[(*n)++] = em_labels_copy(discovered, a);
}

/* Rebuild a pool's targets from its discoverer's groups; targets that stay keep their state.
 * 'adopt' (may be NULL) lists targets of a pool this one replaces on reload: a new target with the
 * same identity takes over their schedule and status, and they go without stale markers. */
static void pool_sync(em_scrape_manager_t *m, scrape_pool_t *p, scrape_target_t **adopt, size_t n_adopt,
                      int64_t now_ms)
{
    const em_target_group_t *g;
    size_t ng = em_discovery_groups(p->disc, &g);
    em_arena_t tmp, dropped_arena;
    em_arena_init(&tmp);
    em_arena_init(&dropped_arena);
    em_labels_t *dropped = NULL;
    size_t n_dropped = 0, cap_dropped = 0;
    scrape_target_t **nt = NULL;
    size_t n = 0, cap = 0;
    uint64_t old_dropped_total = p->n_dropped_total;
    p->n_dropped_total = 0;
    em_buf_t url = EM_BUF_INIT;
    for (size_t gi = 0; gi < ng; gi++) {
        for (size_t k = 0; k < g[gi].n_targets; k++) {
            em_labels_t ls, disc;
            bool kept;
            em_err_t err;
            em_arena_reset(&tmp);
            if (em_scrape_target_labels(p->sc, &g[gi].targets[k], &g[gi].labels, &tmp, &kept, &ls, &disc,
                                        &err) != EM_OK) {
                em_counter_inc(mt.targets_bad);
                em_error("scrape", "Creating target failed", "scrape_pool=%s err=%s", em_q(p->name),
                         em_q(err.msg));
                continue;
            }
            if (!kept) {
                add_dropped(p, &dropped_arena, &dropped, &n_dropped, &cap_dropped, &disc);
                continue;
            }
            em_buf_reset(&url);
            em_scrape_target_url(p->sc, &ls, &url);
            uint64_t h = em_labels_hash(&ls) ^ em_hash64(url.data, url.len);
            if (find_target(nt, n, h))
                continue; /* the same target twice */
            scrape_target_t *t = find_target(p->targets, p->n_targets, h);
            if (t) {
                for (size_t i = 0; i < p->n_targets; i++)
                    if (p->targets[i] == t)
                        p->targets[i] = NULL; /* taken */
            } else {
                t = target_new(m, p, &ls, &disc, url.data, h, now_ms);
                scrape_target_t *old = find_target(adopt, n_adopt, h);
                if (old) {
                    t->next_ms = old->next_ms;
                    t->health = old->health;
                    t->last_scrape_ms = old->last_scrape_ms;
                    t->last_duration_s = old->last_duration_s;
                    memcpy(t->last_error, old->last_error, sizeof(t->last_error));
                }
            }
            em_grow((void **)&nt, &cap, n + 1, sizeof(*nt));
            nt[n++] = t;
        }
    }
    em_buf_fini(&url);
    em_arena_fini(&tmp);
    (void)old_dropped_total;
    uint64_t limit = p->sc->target_limit;
    p->limit_err[0] = '\0';
    if (limit && n > limit) {
        snprintf(p->limit_err, sizeof(p->limit_err),
                 "target_limit exceeded (number of targets: %zu, limit: %llu)", n, (unsigned long long)limit);
        em_counter_inc(em_counter_new("ember_target_scrape_pool_exceeded_target_limit_total",
                                      "Total number of times scrape pools hit the target limit.", NULL));
    }
    pthread_mutex_lock(&m->mu);
    scrape_target_t **old = p->targets;
    size_t n_old = p->n_targets;
    p->targets = nt;
    p->n_targets = n;
    p->cap_targets = cap;
    em_arena_fini(&p->dropped_arena);
    p->dropped_arena = dropped_arena;
    free(p->dropped);
    p->dropped = dropped;
    p->n_dropped = n_dropped;
    p->cap_dropped = cap_dropped;
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < n_old; i++)
        if (old[i])
            target_retire(m, old[i], true);
    free(old);
}

/* ---- pools ---- */

static scrape_pool_t *pool_new(const em_scrape_config_t *sc)
{
    scrape_pool_t *p = EM_NEW(scrape_pool_t);
    p->name = em_strdup(sc->job_name);
    p->sc = sc;
    p->fingerprint = em_config_scrape_fingerprint(sc);
    p->disc = em_discovery_new(sc);
    em_arena_init(&p->dropped_arena);
    em_buf_t b = EM_BUF_INIT;
    em_scrape_accept_header(sc, &b);
    p->accept = em_buf_detach(&b, NULL);
    const em_http_client_config_t *h = &sc->http;
    if (h->basic_auth) {
        p->user = h->basic_auth->username_file
                      ? read_secret_file(h->basic_auth->username_file)
                      : em_strdup(h->basic_auth->username ? h->basic_auth->username : "");
        p->password = h->basic_auth->password_file
                          ? read_secret_file(h->basic_auth->password_file)
                          : em_strdup(h->basic_auth->password ? h->basic_auth->password : "");
    }
    if (h->authorization) {
        char *cred = h->authorization->credentials_file
                         ? read_secret_file(h->authorization->credentials_file)
                         : em_strdup(h->authorization->credentials ? h->authorization->credentials : "");
        em_buf_printf(&b, "Authorization: %s %s", h->authorization->type ? h->authorization->type : "Bearer",
                      cred);
        p->auth_header = em_buf_detach(&b, NULL);
        free(cred);
    }
    em_buf_fini(&b);
    return p;
}

/* Retire every target (with stale markers unless a successor pool adopts them) and free the pool. */
static void pool_free(em_scrape_manager_t *m, scrape_pool_t *p, bool stale)
{
    for (size_t i = 0; i < p->n_targets; i++)
        target_retire(m, p->targets[i], stale);
    free(p->targets);
    em_discovery_free(p->disc);
    em_arena_fini(&p->dropped_arena);
    free(p->dropped);
    free(p->name);
    free(p->accept);
    free(p->auth_header);
    free(p->user);
    free(p->password);
    free(p);
}

static int pool_cmp(const void *a, const void *b)
{
    return strcmp((*(scrape_pool_t *const *)a)->name, (*(scrape_pool_t *const *)b)->name);
}

static scrape_pool_t *find_pool(em_scrape_manager_t *m, const char *name)
{
    for (size_t i = 0; i < m->n_pools; i++)
        if (m->pools[i] && strcmp(m->pools[i]->name, name) == 0)
            return m->pools[i];
    return NULL;
}

static void reconcile(em_scrape_manager_t *m, const em_config_t *cfg)
{
    int64_t now = em_now_ms();
    size_t n = cfg ? cfg->n_scrape_configs : 0;
    scrape_pool_t **np = em_calloc(n ? n : 1, sizeof(*np));
    for (size_t i = 0; i < n; i++) {
        const em_scrape_config_t *sc = cfg->scrape_configs[i];
        scrape_pool_t *old = find_pool(m, sc->job_name);
        if (old && old->fingerprint == em_config_scrape_fingerprint(sc)) {
            old->sc = sc; /* identical settings: keep everything */
            for (size_t k = 0; k < old->n_targets; k++) {
                /* A worker may be reading the old configuration through this target: let it finish, the
                 * caller frees that configuration once we return. */
                wait_processed(old->targets[k]);
                old->targets[k]->loop.sc = sc;
            }
            np[i] = old;
        } else {
            np[i] = pool_new(sc);
            em_discovery_refresh(np[i]->disc, now, true);
            np[i]->disc_version = em_discovery_version(np[i]->disc);
            pool_sync(m, np[i], old ? old->targets : NULL, old ? old->n_targets : 0, now);
            if (old)
                em_info("scrape", "Scrape pool configuration changed, targets rebuilt", "scrape_pool=%s",
                        em_q(sc->job_name));
        }
    }
    em_qsort(np, n, sizeof(*np), pool_cmp);
    pthread_mutex_lock(&m->mu);
    scrape_pool_t **old = m->pools;
    size_t n_old = m->n_pools;
    m->pools = np;
    m->n_pools = n;
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < n_old; i++) {
        bool kept = false;
        for (size_t k = 0; k < n; k++)
            kept |= np[k] == old[i];
        if (kept)
            continue;
        /* A replaced pool's targets with a successor continue there without stale markers. */
        scrape_pool_t *succ = NULL;
        for (size_t k = 0; k < n; k++)
            if (strcmp(np[k]->name, old[i]->name) == 0)
                succ = np[k];
        for (size_t t = 0; t < old[i]->n_targets; t++) {
            scrape_target_t *tg = old[i]->targets[t];
            bool continues = succ && find_target(succ->targets, succ->n_targets, tg->hash);
            target_retire(m, tg, !continues);
        }
        old[i]->n_targets = 0;
        pool_free(m, old[i], true);
    }
    free(old);
}

/* ---- the thread ---- */

static void update_gauge(em_scrape_manager_t *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_pools; i++)
        n += m->pools[i]->n_targets;
    em_gauge_set(mt.active, (double)n);
}

static int64_t tick(em_scrape_manager_t *m)
{
    int64_t now = em_now_ms();
    for (size_t i = 0; i < m->n_pools; i++) {
        scrape_pool_t *p = m->pools[i];
        if (em_discovery_refresh(p->disc, now, false)) {
            p->disc_version = em_discovery_version(p->disc);
            pool_sync(m, p, NULL, 0, now);
        }
    }
    int64_t next = now + POLL_MAX_MS;
    for (size_t i = 0; i < m->n_pools; i++) {
        scrape_pool_t *p = m->pools[i];
        for (size_t k = 0; k < p->n_targets; k++) {
            scrape_target_t *t = p->targets[k];
            if (atomic_load(&t->processing)) /* its last page is still being parsed: not due yet */
                continue;
            if (!t->in_flight && t->next_ms <= now) {
                /* Set before starting: a worker may read next_ms as soon as the scrape is handed over. */
                while (t->next_ms <= now) /* missed ticks are skipped, not caught up */
                    t->next_ms += t->interval_ms;
                start_scrape(m, t, now);
            }
            if (!t->in_flight && t->next_ms < next)
                next = t->next_ms;
        }
    }
    return next - now;
}

static void drain(em_scrape_manager_t *m)
{
    int running = 0, left = 0;
    curl_multi_perform(m->multi, &running);
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(m->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        finish_scrape(m, (scrape_target_t *)(void *)priv, msg->data.result);
    }
}

static void shutdown_all(em_scrape_manager_t *m)
{
    pthread_mutex_lock(&m->mu);
    scrape_pool_t **pools = m->pools;
    size_t n = m->n_pools;
    m->pools = NULL;
    m->n_pools = 0;
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < n; i++)
        pool_free(m, pools[i], true);
    free(pools);
    reap(m, true);
}

static void *run(void *arg)
{
    em_scrape_manager_t *m = arg;
    for (;;) {
        pthread_mutex_lock(&m->mu);
        bool stop = m->stopping;
        const em_config_t *cfg = m->pending;
        uint64_t want = m->want_gen;
        bool apply = want != m->done_gen;
        pthread_mutex_unlock(&m->mu);
        if (stop)
            break;
        if (apply) {
            reconcile(m, cfg);
            pthread_mutex_lock(&m->mu);
            m->done_gen = want;
            pthread_cond_broadcast(&m->cv);
            pthread_mutex_unlock(&m->mu);
            update_gauge(m);
        }
        int64_t wait_ms = tick(m);
        drain(m);
        reap(m, false);
        update_gauge(m);
        if (wait_ms > 0)
            curl_multi_poll(m->multi, NULL, 0, (int)(wait_ms < POLL_MAX_MS ? wait_ms : POLL_MAX_MS), NULL);
        drain(m);
    }
    shutdown_all(m);
    em_gauge_set(mt.active, 0);
    pthread_mutex_lock(&m->mu);
    m->stopped = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

em_scrape_manager_t *em_scrape_manager_new(const em_scrape_opts_t *o)
{
    metrics_init();
    static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
    pthread_once(&curl_once, curl_init_once);
    em_scrape_manager_t *m = EM_NEW(em_scrape_manager_t);
    m->o = *o;
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    m->o.external_scheme = em_strdup(o->external_scheme ? o->external_scheme : "http");
    char hp[300];
    snprintf(hp, sizeof(hp), "%s:%s", host, o->listen_port ? o->listen_port : "9090");
    m->o.external_host = em_strdup(o->external_host ? o->external_host : hp);
    m->o.listen_port = em_strdup(o->listen_port ? o->listen_port : "9090");
    m->o.user_agent = em_strdup(o->user_agent ? o->user_agent : "Prometheus/3.0.0 (Ember " EMBER_VERSION ")");
    m->multi = curl_multi_init();
    m->workers = em_workpool_new("scrapew", o->n_workers > 0 ? o->n_workers : 2, 4096, NULL, NULL);
    curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    pthread_mutex_init(&m->batch_mu, NULL);
    pthread_cond_init(&m->batch_cv, NULL);
    if (pthread_create(&m->thread, NULL, run, m) != 0) {
        fprintf(stderr, "ember: cannot start the scrape thread\n");
        abort();
    }
    pthread_setname_np(m->thread, "ember-scrape");
    m->started = true;
    return m;
}

int em_scrape_manager_apply(em_scrape_manager_t *m, const em_config_t *cfg)
{
    pthread_mutex_lock(&m->mu);
    if (m->stopping) {
        pthread_mutex_unlock(&m->mu);
        return EM_ESTATE;
    }
    m->pending = cfg;
    uint64_t gen = ++m->want_gen;
    curl_multi_wakeup(m->multi);
    while (m->done_gen < gen && !m->stopped)
        pthread_cond_wait(&m->cv, &m->mu);
    bool ok = m->done_gen >= gen;
    pthread_mutex_unlock(&m->mu);
    return ok ? EM_OK : EM_ESTATE;
}

void em_scrape_manager_stop(em_scrape_manager_t *m)
{
    if (!m || !m->started)
        return;
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    pthread_mutex_unlock(&m->mu);
    curl_multi_wakeup(m->multi);
    pthread_join(m->thread, NULL);
    m->started = false;
}

void em_scrape_manager_free(em_scrape_manager_t *m)
{
    if (!m)
        return;
    em_scrape_manager_stop(m);
    em_workpool_free(m->workers);
    curl_multi_cleanup(m->multi);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->batch_mu);
    pthread_cond_destroy(&m->batch_cv);
    free((char *)m->o.external_scheme);
    free((char *)m->o.external_host);
    free((char *)m->o.listen_port);
    free((char *)m->o.user_agent);
    free(m);
}
