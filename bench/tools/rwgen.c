/* rwgen: a remote-write load generator for measuring ingestion (ember or Prometheus, same requests).
 *
 * It simulates node_exporter hosts (209 series each, like /work/shared/BASELINE.md's workload: 81 metric
 * names, labels __name__, job, instance, env, region and 0-3 family labels; counters with 0.01
 * resolution, integer counters, rare counters, integer gauges often unchanged, float gauges, constants),
 * one sample per series per round, 15 s apart with a fixed per-host phase. Every request of every round
 * is encoded before the clock starts (snappy-compressed protobuf, as Prometheus sends it), so the
 * measurement is the receiver's work, not the generator's.
 *
 * Requests are spread over --conns connections (HTTP/1.1 keep-alive, raw sockets). A series always
 * travels on the same connection and each connection waits for every answer before its next request,
 * so per-series timestamps arrive in order, as Prometheus's shards send them.
 *
 * Usage: rwgen --url http://127.0.0.1:9090/api/v1/write [--series 100000] [--batch 2000] [--conns 4]
 *              [--duration 30] [--warmup 2] [--max-rate 2.5e6] [--server-pid PID]
 * Prints one line of key=value results: accepted samples/s, rejected, HTTP errors, CPU seconds of the
 * generator and of the server (from /proc/PID/stat), the server's RSS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "engine/labels.h"
#include "ingest/remote.h"

#define SERIES_PER_HOST 209

typedef struct request {
    char *body;
    size_t len;
    uint32_t samples;
} request_t;

typedef struct opts {
    char host[256];
    int port;
    char path[256];
    long series, batch, conns, warmup;
    double duration, max_rate;
    long server_pid;
} opts_t;

static opts_t o = {.series = 100000, .batch = 2000, .conns = 4, .warmup = 2, .duration = 30, .max_rate = 2.5e6};

/* ---- series ---- */

typedef struct gseries {
    em_label_t labels[8];
    size_t n_labels;
    int kind;
    double v;
} gseries_t;

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static double frand(void)
{
    return (double)(rng() >> 11) / 9007199254740992.0;
}

static const char *const modes[] = {"idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"};
static const char *const devices[] = {"eth0", "eth1", "lo", "docker0", "sda", "sdb", "nvme0n1", "dm-0"};

enum { K_FCOUNTER, K_ICOUNTER, K_RARE, K_IGAUGE, K_FGAUGE, K_CONST };

/* Fill host h's 209 series into out[]: 64 cpu series, then families keyed by device, then single ones. */
static void make_host(long h, gseries_t *out, char *strings)
{
    static const char *env[] = {"prod", "staging", "dev"};
    static const char *region[] = {"eu-west-1", "us-east-1", "ap-south-1", "us-west-2"};
    char *inst = strings;
    snprintf(inst, 32, "host-%05ld:9100", h);
    char *cpus = strings + 32; /* "0".."7" */
    for (int i = 0; i < 8; i++) {
        cpus[2 * i] = (char)('0' + i);
        cpus[2 * i + 1] = '\0';
    }
    char *names = strings + 64; /* 81 metric names of 48 bytes */
    for (int m = 0; m < 81; m++)
        snprintf(names + 48 * m, 48, m == 0 ? "node_cpu_seconds_total" : "node_metric_%02d_%s", m,
                 m % 3 == 0 ? "bytes_total" : m % 3 == 1 ? "total" : "bytes");
    for (int i = 0; i < SERIES_PER_HOST; i++) {
        gseries_t *s = &out[i];
        size_t n = 0;
        const char *name;
        const char *extra_name[2] = {NULL, NULL}, *extra_val[2] = {NULL, NULL};
        if (i < 64) {
            name = names;
            extra_name[0] = "cpu";
            extra_val[0] = cpus + 2 * (i / 8);
            extra_name[1] = "mode";
            extra_val[1] = modes[i % 8];
        } else if (i < 64 + 96) {
            int k = i - 64;
            name = names + 48 * (1 + k / 8);
            extra_name[0] = "device";
            extra_val[0] = devices[k % 8];
        } else {
            name = names + 48 * (13 + (i - 160) % 68);
        }
        s->labels[n++] = (em_label_t){"__name__", name};
        if (extra_name[0] && strcmp(extra_name[0], "cpu") == 0)
            s->labels[n++] = (em_label_t){"cpu", extra_val[0]};
        if (extra_name[0] && strcmp(extra_name[0], "device") == 0)
            s->labels[n++] = (em_label_t){"device", extra_val[0]};
        s->labels[n++] = (em_label_t){"env", env[h % 3]};
        s->labels[n++] = (em_label_t){"instance", inst};
        s->labels[n++] = (em_label_t){"job", "node"};
        if (extra_name[1])
            s->labels[n++] = (em_label_t){"mode", extra_val[1]};
        s->labels[n++] = (em_label_t){"region", region[h % 4]};
        s->n_labels = n;
        uint64_t r = rng() % 100;
        s->kind = r < 36 ? K_FCOUNTER : r < 58 ? K_ICOUNTER : r < 68 ? K_RARE : r < 92 ? K_IGAUGE : r < 93 ? K_FGAUGE
                                                                                                    : K_CONST;
        s->v = (double)(rng() % 100000);
    }
}

static double step_value(gseries_t *s)
{
    switch (s->kind) {
    case K_FCOUNTER: s->v += (double)(rng() % 1500) / 100.0; break;
    case K_ICOUNTER: s->v += (double)(rng() % 20000); break;
    case K_RARE:
        if (rng() % 20 == 0)
            s->v += 1;
        break;
    case K_IGAUGE:
        if (rng() % 10 >= 3)
            s->v = (double)(4096 * (rng() % 4096));
        break;
    case K_FGAUGE: s->v = frand() * 4; break;
    default: break;
    }
    return s->v;
}

/* ---- HTTP ---- */

static int connect_to(void)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", o.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(o.host, port, &hints, &res) != 0)
        return -1;
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    int on = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Send one request and read the status; returns the HTTP status or -1. */
static int post(int fd, const request_t *r, char *rbuf, size_t rcap)
{
    char hdr[512];
    int n = snprintf(hdr, sizeof(hdr),
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/x-protobuf\r\n"
                     "Content-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\n"
                     "User-Agent: rwgen\r\nContent-Length: %zu\r\n\r\n",
                     o.path, o.host, o.port, r->len);
    if (write_all(fd, hdr, (size_t)n) || write_all(fd, r->body, r->len))
        return -1;
    size_t got = 0;
    for (;;) {
        ssize_t k = read(fd, rbuf + got, rcap - 1 - got);
        if (k <= 0)
            return -1;
        got += (size_t)k;
        rbuf[got] = '\0';
        char *end = strstr(rbuf, "\r\n\r\n");
        if (!end)
            continue;
        int status = atoi(rbuf + 9);
        size_t clen = 0;
        char *cl = strcasestr(rbuf, "content-length:");
        if (cl && cl < end)
            clen = (size_t)strtoul(cl + 15, NULL, 10);
        size_t have = got - (size_t)(end + 4 - rbuf);
        while (have < clen) {
            k = read(fd, rbuf, rcap - 1);
            if (k <= 0)
                return -1;
            have += (size_t)k;
        }
        return status;
    }
}

/* ---- the run ---- */

typedef struct conn {
    pthread_t th;
    int id;
    request_t **reqs; /* this connection's requests, in order */
    size_t n_reqs;
    size_t warm; /* the first 'warm' requests are warm-up */
    atomic_uint_least64_t ok_samples, rejected_reqs, errors, done;
} conn_t;

static atomic_bool measuring;
static double t_start, t_stop;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *conn_main(void *arg)
{
    conn_t *c = arg;
    char rbuf[8192];
    int fd = connect_to();
    for (size_t i = 0; i < c->n_reqs; i++) {
        if (i == c->warm) {
            /* Wait for every connection to finish warming up. */
            while (!atomic_load(&measuring))
                usleep(100);
        }
        if (atomic_load(&measuring) && now_s() > t_stop)
            break;
        int st = fd >= 0 ? post(fd, c->reqs[i], rbuf, sizeof(rbuf)) : -1;
        if (st < 0) {
            if (fd >= 0)
                close(fd);
            fd = connect_to();
            atomic_fetch_add(&c->errors, 1);
            continue;
        }
        if (i >= c->warm) {
            if (st == 204 || st == 200)
                atomic_fetch_add(&c->ok_samples, c->reqs[i]->samples);
            else
                atomic_fetch_add(&c->rejected_reqs, 1);
        }
        atomic_fetch_add(&c->done, 1);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static double proc_cpu(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p)
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kb(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    long kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static void parse_url(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *slash = strchr(p, '/');
    const char *colon = strchr(p, ':');
    size_t hl = (size_t)((colon && (!slash || colon < slash) ? colon : slash ? slash : p + strlen(p)) - p);
    snprintf(o.host, sizeof(o.host), "%.*s", (int)hl, p);
    o.port = colon && (!slash || colon < slash) ? atoi(colon + 1) : 80;
    snprintf(o.path, sizeof(o.path), "%s", slash ? slash : "/api/v1/write");
}

int main(int argc, char **argv)
{
    /* A server that closes a connection (after an error answer, say) must count as an error, not end
     * the generator. */
    signal(SIGPIPE, SIG_IGN);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--url"))
            parse_url(v), i++;
        else if (!strcmp(a, "--series"))
            o.series = atol(v), i++;
        else if (!strcmp(a, "--batch"))
            o.batch = atol(v), i++;
        else if (!strcmp(a, "--conns"))
            o.conns = atol(v), i++;
        else if (!strcmp(a, "--duration"))
            o.duration = atof(v), i++;
        else if (!strcmp(a, "--warmup"))
            o.warmup = atol(v), i++;
        else if (!strcmp(a, "--max-rate"))
            o.max_rate = atof(v), i++;
        else if (!strcmp(a, "--server-pid"))
            o.server_pid = atol(v), i++;
        else {
            fprintf(stderr, "rwgen: unknown argument %s\n", a);
            return 2;
        }
    }
    if (!o.host[0]) {
        fprintf(stderr, "usage: rwgen --url URL [--series N] [--batch N] [--conns N] [--duration S] [--warmup R]"
                        " [--server-pid PID]\n");
        return 2;
    }
    long hosts = (o.series + SERIES_PER_HOST - 1) / SERIES_PER_HOST;
    long n_series = hosts * SERIES_PER_HOST;
    gseries_t *series = em_calloc((size_t)n_series, sizeof(gseries_t));
    char *strings = em_calloc((size_t)hosts, 64 + 48 * 81);
    for (long h = 0; h < hosts; h++)
        make_host(h, series + h * SERIES_PER_HOST, strings + h * (64 + 48 * 81));

    /* Rounds: enough for the measured time at --max-rate samples/s, plus warm-up. If the receiver is faster
     * the run ends early (and says so through 'seconds'). */
    long rounds = o.warmup + (long)(o.duration * o.max_rate / (double)n_series) + 1;
    long reqs_per_round = (n_series + o.batch - 1) / o.batch;
    int64_t interval = 15000, t0 = (int64_t)time(NULL) * 1000 - rounds * interval;
    fprintf(stderr, "rwgen: encoding %ld rounds x %ld requests of %ld series...\n", rounds, reqs_per_round, o.batch);
    conn_t *conns = em_calloc((size_t)o.conns, sizeof(conn_t));
    for (long c = 0; c < o.conns; c++)
        conns[c].reqs = em_calloc((size_t)(rounds * reqs_per_round / o.conns + rounds + 1), sizeof(request_t *));
    em_remote_write_enc_t enc;
    em_remote_write_enc_init(&enc);
    size_t total_bytes = 0;
    for (long r = 0; r < rounds; r++) {
        for (long q = 0; q < reqs_per_round; q++) {
            em_remote_write_enc_reset(&enc);
            long first = q * o.batch, last = first + o.batch < n_series ? first + o.batch : n_series;
            for (long i = first; i < last; i++) {
                gseries_t *s = &series[i];
                /* Each host scrapes at its own phase, with a few milliseconds of jitter. */
                int64_t t = t0 + r * interval + (i / SERIES_PER_HOST) % interval + (int64_t)(rng() % 3);
                em_remote_sample_t smp = {t, step_value(s)};
                em_labels_t ls = {s->labels, s->n_labels};
                em_remote_write_enc_series(&enc, &ls, &smp, 1);
            }
            const void *body;
            size_t len;
            em_remote_write_enc_finish(&enc, &body, &len, NULL, NULL);
            request_t *rq = em_malloc(sizeof(request_t));
            rq->body = em_malloc(len);
            memcpy(rq->body, body, len);
            rq->len = len;
            rq->samples = (uint32_t)(last - first);
            total_bytes += len;
            conn_t *c = &conns[q % o.conns];
            c->reqs[c->n_reqs++] = rq;
            if (r == o.warmup - 1)
                c->warm = c->n_reqs;
        }
    }
    em_remote_write_enc_fini(&enc);
    fprintf(stderr, "rwgen: %.1f MB encoded, %.1f B/sample; warming up\n", (double)total_bytes / 1e6,
            (double)total_bytes / (double)(rounds * n_series));

    for (long c = 0; c < o.conns; c++)
        pthread_create(&conns[c].th, NULL, conn_main, &conns[c]);
    /* Wait until every connection has sent its warm-up requests. */
    for (;;) {
        bool warm = true;
        for (long c = 0; c < o.conns; c++)
            warm = warm && atomic_load(&conns[c].done) >= conns[c].warm;
        if (warm)
            break;
        usleep(1000);
    }
    double cpu0 = self_cpu(), scpu0 = o.server_pid ? proc_cpu(o.server_pid) : 0;
    t_start = now_s();
    t_stop = t_start + o.duration;
    atomic_store(&measuring, true);
    for (long c = 0; c < o.conns; c++)
        pthread_join(conns[c].th, NULL);
    double elapsed = now_s() - t_start; /* includes the last requests in flight at the deadline */
    double cpu = self_cpu() - cpu0, scpu = o.server_pid ? proc_cpu(o.server_pid) - scpu0 : 0;
    uint64_t ok = 0, rej = 0, err = 0;
    for (long c = 0; c < o.conns; c++) {
        ok += atomic_load(&conns[c].ok_samples);
        rej += atomic_load(&conns[c].rejected_reqs);
        err += atomic_load(&conns[c].errors);
    }
    printf("samples_per_s=%.0f accepted_samples=%llu rejected_requests=%llu errors=%llu seconds=%.2f "
           "gen_cpu_cores=%.3f server_cpu_cores=%.3f server_cpu_us_per_sample=%.3f server_rss_mb=%.1f series=%ld "
           "batch=%ld conns=%ld\n",
           (double)ok / elapsed, (unsigned long long)ok, (unsigned long long)rej, (unsigned long long)err, elapsed,
           cpu / elapsed, scpu / elapsed, ok ? scpu * 1e6 / (double)ok : 0,
           o.server_pid ? (double)proc_rss_kb(o.server_pid) / 1024.0 : 0, n_series, o.batch, o.conns);
    return rej || err ? 1 : 0;
}
