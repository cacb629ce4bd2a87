/* scrapesim: a scrape-target simulator for measuring scraping (ember or Prometheus, same targets).
 *
 * It serves N targets of M series each in the text format 0.0.4 on one loopback port: target i is the
 * path /metrics/<i> (any path works; the path only makes the targets distinct to the scraper). Series
 * look like a node exporter's: ten families (counters, gauges, one histogram), HELP and TYPE lines,
 * labels `cpu`, `mode`, `device`... Every target serves the same label sets (the scraper adds job and
 * instance, so series stay distinct) and the values change every --tick-ms (default 250 ms, shorter than
 * any scrape interval used with it), so each scrape sees new values.
 *
 * The page is regenerated once per tick into a fresh buffer and shared by every response of that tick
 * (reference-counted), so serving costs a write(2) per response, not a page build: the measurement is
 * the scraper's work, not the simulator's.
 *
 * One thread, epoll, non-blocking sockets, HTTP/1.1 keep-alive; GET only; each request is answered
 * with the whole page (Content-Length). It writes a file_sd JSON file for the targets when asked.
 *
 * Usage: scrapesim [--port 0] [--targets 1000] [--series 1000] [--tick-ms 250] [--duration 0 (forever)]
 *                  [--file-sd path.json]
 * Prints "port=<p>" once listening, and at exit "responses=<n> bytes=<n> cpu_s=<s>".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"

typedef struct page {
    int refs;
    char *data; /* headers + body */
    size_t len;
} page_t;

typedef struct conn {
    int fd;
    char in[4096];
    size_t in_len;
    page_t *out; /* response being written, or NULL */
    size_t out_off;
} conn_t;

static volatile sig_atomic_t stop;
static page_t *cur;
static uint64_t generation;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void page_release(page_t *p)
{
    if (p && --p->refs == 0) {
        free(p->data);
        free(p);
    }
}

static const char *const modes[] = {"idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"};
static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

/* Build the page for this tick: M series across families shaped like a node exporter's. */
static page_t *build_page(int n_series, uint64_t gen)
{
    em_buf_t body = EM_BUF_INIT;
    int left = n_series, fam = 0;
    double g = (double)gen;
    while (left > 0) {
        int f = fam % 10;
        char name[64];
        snprintf(name, sizeof(name), "sim_family%02d_%s", fam,
                 f < 4    ? "total"
                 : f == 9 ? "seconds"
                          : "bytes");
        const char *type = f < 4 ? "counter" : f == 9 ? "histogram" : "gauge";
        em_buf_printf(&body, "# HELP %s Simulated metric family %d.\n# TYPE %s %s\n", name, fam, name, type);
        int n = left < 100 ? left : 100;
        if (f == 9) {
            /* histograms: 10 buckets + Inf + sum + count = 13 series per label set */
            for (int k = 0; k + 13 <= n; k += 13) {
                uint64_t cnt = gen * (uint64_t)(k + 1);
                for (size_t b = 0; b < sizeof(buckets) / sizeof(buckets[0]); b++)
                    em_buf_printf(&body, "%s_bucket{handler=\"/h%d\",le=\"%g\"} %llu\n", name, k, buckets[b],
                                  (unsigned long long)(cnt * (b + 1) / 11));
                em_buf_printf(&body, "%s_bucket{handler=\"/h%d\",le=\"+Inf\"} %llu\n", name, k,
                              (unsigned long long)cnt);
                em_buf_printf(&body, "%s_sum{handler=\"/h%d\"} %.3f\n%s_count{handler=\"/h%d\"} %llu\n", name,
                              k, g * 0.37 * (k + 1), name, k, (unsigned long long)cnt);
            }
            n = n - n % 13;
            if (n == 0) { /* too few left for a histogram: plain gauges */
                n = left;
                for (int k = 0; k < n; k++)
                    em_buf_printf(&body, "%s{cpu=\"%d\"} %llu\n", name, k,
                                  (unsigned long long)(gen + (uint64_t)k));
            }
        } else {
            for (int k = 0; k < n; k++) {
                if (f < 4)
                    em_buf_printf(&body, "%s{cpu=\"%d\",mode=\"%s\"} %.2f\n", name, k / 8, modes[k % 8],
                                  g * 1.25 + k);
                else
                    em_buf_printf(&body, "%s{device=\"dev%d\",fstype=\"ext4\"} %llu\n", name, k,
                                  (unsigned long long)((gen * 4096 + (uint64_t)k * 7919) % 100000000));
            }
        }
        left -= n;
        fam++;
    }
    page_t *p = EM_NEW(page_t);
    em_buf_t all = EM_BUF_INIT;
    em_buf_printf(&all,
                  "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                  "Content-Length: %zu\r\n\r\n",
                  body.len);
    em_buf_append(&all, body.data, body.len);
    em_buf_fini(&body);
    p->data = em_buf_detach(&all, &p->len);
    p->refs = 1;
    return p;
}

static void conn_close(int ep, conn_t *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    page_release(c->out);
    free(c);
}

/* Write what is pending; returns false when the connection died. */
static bool flush_out(conn_t *c, uint64_t *bytes)
{
    while (c->out) {
        ssize_t w = write(c->fd, c->out->data + c->out_off, c->out->len - c->out_off);
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        *bytes += (uint64_t)w;
        c->out_off += (size_t)w;
        if (c->out_off == c->out->len) {
            page_release(c->out);
            c->out = NULL;
            c->out_off = 0;
        }
    }
    return true;
}

/* Read requests; answer each complete one. */
static bool on_readable(conn_t *c, uint64_t *responses, uint64_t *bytes)
{
    for (;;) {
        if (c->in_len == sizeof(c->in))
            return false; /* request headers too large */
        ssize_t r = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
        if (r == 0)
            return false;
        if (r < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        c->in_len += (size_t)r;
        char *end;
        while (!c->out && (end = memmem(c->in, c->in_len, "\r\n\r\n", 4))) {
            size_t used = (size_t)(end + 4 - c->in);
            memmove(c->in, c->in + used, c->in_len - used);
            c->in_len -= used;
            c->out = cur;
            cur->refs++;
            c->out_off = 0;
            (*responses)++;
            if (!flush_out(c, bytes))
                return false;
        }
    }
}

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 4096) != 0) {
        perror("scrapesim: bind/listen");
        exit(1);
    }
    return fd;
}

static void write_file_sd(const char *path, int port, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputc('[', f);
    for (int i = 0; i < n; i++)
        fprintf(f,
                "%s{\"targets\":[\"127.0.0.1:%d\"],\"labels\":{\"__metrics_path__\":\"/metrics/"
                "%d\",\"sim\":\"%d\"}}",
                i ? "," : "", port, i, i);
    fputs("]\n", f);
    fclose(f);
}

int main(int argc, char **argv)
{
    int port = 0, targets = 1000, series = 1000, tick_ms = 250;
    double duration = 0;
    const char *file_sd = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--targets"))
            targets = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--series"))
            series = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tick-ms"))
            tick_ms = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--duration"))
            duration = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--file-sd"))
            file_sd = argv[i + 1];
        else {
            fprintf(stderr, "scrapesim: unknown flag %s\n", argv[i]);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    int lfd = listen_on(port);
    struct sockaddr_in a;
    socklen_t al = sizeof(a);
    getsockname(lfd, (struct sockaddr *)&a, &al);
    port = ntohs(a.sin_port);
    if (file_sd)
        write_file_sd(file_sd, port, targets);
    cur = build_page(series, generation);
    printf("port=%d page_bytes=%zu\n", port, cur->len);
    fflush(stdout);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    uint64_t responses = 0, bytes = 0;
    int64_t start = now_ms(), next_tick = start + tick_ms;
    struct epoll_event evs[256];
    while (!stop && (duration <= 0 || now_ms() - start < (int64_t)(duration * 1000))) {
        int64_t now = now_ms();
        if (now >= next_tick) {
            page_release(cur);
            cur = build_page(series, ++generation);
            next_tick = now + tick_ms;
        }
        int n = epoll_wait(ep, evs, 256, (int)(next_tick - now));
        for (int i = 0; i < n; i++) {
            if (!evs[i].data.ptr) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                    conn_t *c = EM_NEW(conn_t);
                    c->fd = fd;
                    struct epoll_event cev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
                }
                continue;
            }
            conn_t *c = evs[i].data.ptr;
            bool ok = true;
            if (evs[i].events & (EPOLLERR | EPOLLHUP))
                ok = false;
            if (ok && (evs[i].events & EPOLLOUT))
                ok = flush_out(c, &bytes);
            if (ok && (evs[i].events & EPOLLIN))
                ok = on_readable(c, &responses, &bytes);
            if (!ok)
                conn_close(ep, c);
        }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("responses=%llu bytes=%llu cpu_s=%.2f\n", (unsigned long long)responses, (unsigned long long)bytes,
           (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    return 0;
}
