/* The scrape manager's threads together: the scrape thread, its workers, the head's shards completing
 * batches and API readers, against an in-process HTTP target, through reloads that keep, change and
 * remove jobs, and shutdown. Also run under ThreadSanitizer (make tsan). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/config.h"
#include "base/duration.h"
#include "engine/chunk.h"
#include "engine/head.h"
#include "engine/querier.h"
#include "ingest/metastore.h"
#include "ingest/scrape.h"

/* ---- a tiny HTTP/1.1 target: every request gets the same page ---- */

typedef struct target_srv {
    int lfd, port;
    atomic_bool stop;
    atomic_int requests;
    pthread_t thread;
} target_srv_t;

static const char PAGE[] =
    "# TYPE c counter\n# HELP c A counter.\nc_total{k=\"a\"} 1\nc_total{k=\"b\"} 2\ng 3.5\n";

static void *serve(void *arg)
{
    target_srv_t *s = arg;
    int conns[64];
    size_t n = 0;
    /* Connections are served one after another per poll round: enough for a few keep-alive clients. */
    while (!atomic_load(&s->stop)) {
        struct pollfd p[65];
        p[0] = (struct pollfd){s->lfd, POLLIN, 0};
        for (size_t i = 0; i < n; i++)
            p[i + 1] = (struct pollfd){conns[i], POLLIN, 0};
        if (poll(p, n + 1, 50) <= 0)
            continue;
        if ((p[0].revents & POLLIN) && n < 64) {
            int fd = accept(s->lfd, NULL, NULL);
            if (fd >= 0)
                conns[n++] = fd;
        }
        for (size_t i = 0; i < n; i++) {
            if (!(p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[4096];
            ssize_t r = recv(conns[i], buf, sizeof(buf), MSG_PEEK);
            if (r <= 0 || !memmem(buf, (size_t)r, "\r\n\r\n", 4)) {
                if (r <= 0) {
                    close(conns[i]);
                    conns[i] = conns[--n];
                    i--;
                }
                continue;
            }
            (void)!read(conns[i], buf, (size_t)r);
            char resp[512];
            int k = snprintf(
                resp, sizeof(resp),
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: %zu\r\n\r\n%s",
                sizeof(PAGE) - 1, PAGE);
            if (write(conns[i], resp, (size_t)k) == k)
                atomic_fetch_add(&s->requests, 1);
        }
    }
    for (size_t i = 0; i < n; i++)
        close(conns[i]);
    return NULL;
}

static void srv_start(target_srv_t *s)
{
    memset(s, 0, sizeof(*s));
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(s->lfd, 64), 0);
    socklen_t al = sizeof(a);
    getsockname(s->lfd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void srv_stop(target_srv_t *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->lfd);
}

/* ---- helpers ---- */

static em_config_t *load(const char *fmt, int port)
{
    char text[2048];
    snprintf(text, sizeof(text), fmt, port, port, port);
    em_config_t *cfg = NULL;
    em_err_t err = {0};
    cr_assert_eq(em_config_load_string(text, strlen(text), "t.yml", &cfg, &err), EM_OK, "%s", err.msg);
    return cfg;
}

/* Samples of up{job=...}: count and whether the last one is a stale marker. */
static size_t up_samples(em_head_t *h, const char *job, bool *last_stale, double *last)
{
    em_rcu_thread_online();
    em_querier_t *q;
    cr_assert_eq(em_head_querier(h, INT64_MIN, INT64_MAX, &q, NULL), EM_OK);
    em_matcher_t m1, m2;
    em_matcher_init(&m1, EM_MATCH_EQ, "__name__", "up", NULL);
    em_matcher_init(&m2, EM_MATCH_EQ, "job", job, NULL);
    const em_matcher_t *ms[] = {&m1, &m2};
    em_series_set_t *set;
    cr_assert_eq(em_querier_select(q, false, NULL, ms, 2, &set, NULL), EM_OK);
    size_t n = 0;
    while (em_series_set_next(set) == EM_OK) {
        em_sample_iter_t *it;
        em_series_set_samples(set, &it);
        int64_t t;
        double v;
        while (em_sample_iter_next(it) == EM_OK) {
            em_sample_iter_at(it, &t, &v);
            *last_stale = em_is_stale_nan(v);
            *last = v;
            n++;
        }
        em_sample_iter_free(it);
    }
    em_series_set_close(set);
    em_matcher_fini(&m1);
    em_matcher_fini(&m2);
    em_querier_close(q);
    em_rcu_thread_offline();
    return n;
}

static const char CFG_A[] = "global: {scrape_interval: 100ms, scrape_timeout: 90ms}\nscrape_configs:\n"
                            "  - job_name: keep\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
                            "  - job_name: change\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
                            "  - job_name: remove\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n";
static const char CFG_B[] = "global: {scrape_interval: 100ms, scrape_timeout: 90ms}\nscrape_configs:\n"
                            "  - job_name: keep\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
                            "  - job_name: change\n    sample_limit: 100\n"
                            "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
                            "  - job_name: added\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n";

typedef struct reader {
    em_scrape_manager_t *m;
    atomic_bool stop;
    atomic_int rounds;
} reader_t;

static void *read_api(void *arg)
{
    reader_t *r = arg;
    while (!atomic_load(&r->stop)) {
        em_buf_t b = EM_BUF_INIT;
        em_scrape_manager_targets_json(r->m, EM_TARGETS_ANY, NULL, &b);
        em_buf_reset(&b);
        em_scrape_manager_metadata_json(r->m, "{job=~\".+\"}", NULL, -1, &b, NULL);
        em_buf_fini(&b);
        atomic_fetch_add(&r->rounds, 1);
        usleep(2000);
    }
    return NULL;
}

Test(ingest_scrape_concurrent, scrapes_reloads_api_reads_and_shutdown_together, .timeout = 60)
{
    target_srv_t srv;
    srv_start(&srv);
    em_head_opts_t ho = {.n_shards = 2};
    em_head_t *head;
    cr_assert_eq(em_head_open(&ho, &head, NULL), EM_OK);
    em_metastore_t *meta = em_metastore_new();
    em_scrape_opts_t so = {.head = head, .metadata = meta, .listen_port = "9090"};
    em_scrape_manager_t *m = em_scrape_manager_new(&so);
    em_config_t *a = load(CFG_A, srv.port);
    cr_assert_eq(em_scrape_manager_apply(m, a), EM_OK);
    reader_t r = {.m = m};
    pthread_t rt;
    pthread_create(&rt, NULL, read_api, &r);
    usleep(600 * 1000);
    em_config_t *b = load(CFG_B, srv.port);
    cr_assert_eq(em_scrape_manager_apply(m, b), EM_OK);
    em_config_free(a); /* the manager no longer points into it */
    usleep(600 * 1000);
    atomic_store(&r.stop, true);
    pthread_join(rt, NULL);
    em_buf_t js = EM_BUF_INIT;
    em_scrape_manager_targets_json(m, EM_TARGETS_ACTIVE, NULL, &js);
    cr_expect(strstr(js.data, "\"scrapePool\":\"added\""), "%s", js.data);
    cr_expect(!strstr(js.data, "\"scrapePool\":\"remove\""), "%s", js.data);
    em_buf_fini(&js);
    em_scrape_manager_free(m); /* stale markers for every target, then the thread stops */
    em_config_free(b);

    bool stale = false;
    double last = 0;
    size_t n = up_samples(head, "keep", &stale, &last);
    cr_expect(n >= 4, "about 12 scrapes of 'keep' in 1.2 s (fewer on a busy machine), got %zu", n);
    cr_expect(stale, "shutdown marks the kept target's series stale");
    n = up_samples(head, "remove", &stale, &last);
    cr_expect(n >= 2, "a scrape and the final stale marker at least, got %zu", n);
    cr_expect(stale, "a removed job's series end with a stale marker");
    n = up_samples(head, "added", &stale, &last);
    cr_expect(n >= 2, "a scrape and the final stale marker at least, got %zu", n);
    cr_expect_gt(atomic_load(&r.rounds), 10);
    cr_expect_gt(em_metastore_families(meta), 0);
    em_metastore_free(meta);
    em_head_close(head);
    srv_stop(&srv);
}

Test(ingest_scrape_concurrent, target_limit_fails_every_scrape_of_the_pool, .timeout = 60)
{
    target_srv_t srv;
    srv_start(&srv);
    em_head_opts_t ho = {.n_shards = 2};
    em_head_t *head;
    cr_assert_eq(em_head_open(&ho, &head, NULL), EM_OK);
    em_scrape_opts_t so = {.head = head};
    em_scrape_manager_t *m = em_scrape_manager_new(&so);
    em_config_t *c = load("global: {scrape_interval: 100ms, scrape_timeout: 90ms}\nscrape_configs:\n"
                          "  - job_name: lim\n    target_limit: 1\n"
                          "    static_configs: [{targets: ['127.0.0.1:%d', 'localhost:%d']}]\n",
                          srv.port);
    cr_assert_eq(em_scrape_manager_apply(m, c), EM_OK);
    usleep(400 * 1000);
    em_buf_t js = EM_BUF_INIT;
    em_scrape_manager_targets_json(m, EM_TARGETS_ACTIVE, NULL, &js);
    cr_expect(strstr(js.data, "\"lastError\":\"target_limit exceeded (number of targets: 2, limit: 1)\""),
              "%s", js.data);
    em_buf_fini(&js);
    em_scrape_manager_free(m);
    em_config_free(c);
    bool stale = false;
    double last = 1;
    cr_expect(up_samples(head, "lim", &stale, &last) >= 2);
    em_head_close(head);
    srv_stop(&srv);
}
