/* Streamed responses from deferred work (net/http.h, em_http_stream_*): pieces written on a pool thread
 * arrive whole and in order at HTTP/1.1 clients, several at once, however the loop interleaves them with
 * the writer; a client that leaves mid-stream stops the writer. Also runs under ThreadSanitizer. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/workpool.h"
#include "net/http.h"

#define PIECES 400       /* 8 MB per response: more than EM_HTTP_STREAM_MAX_PENDING */
#define LONG_PIECES 3000 /* 60 MB: more than that and every socket buffer together */
#define PIECE_BYTES 20000

/* h2o's per-thread recycling allocators and its cross-thread queue live until the process exits (as in
 * tests/lsan.supp for the server). */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:h2o_multithread_create_queue\nleak:h2o_mem_alloc_recycle\n";
}

static em_workpool_t *pool;
static atomic_int canceled_writers, finished_jobs;

/* Byte i of a response: a pattern that shows misordered or lost pieces. */
static char pattern(size_t i)
{
    return (char)('a' + (i * 7 + i / PIECE_BYTES) % 26);
}

static void stream_work(em_http_job_t *job, void *arg)
{
    const char *hdr[] = {"X-Test", "stream", NULL};
    em_http_stream_start(job, 200, "application/octet-stream", hdr);
    em_buf_t b = EM_BUF_INIT;
    size_t off = 0;
    int pieces = *(const int *)arg;
    for (int p = 0; p < pieces; p++) {
        for (int k = 0; k < PIECE_BYTES; k++)
            em_buf_putc(&b, pattern(off++));
        if (em_http_stream_write(job, &b) != EM_OK) {
            atomic_fetch_add(&canceled_writers, 1);
            break;
        }
        cr_assert_eq(b.len, 0, "the buffer is taken");
    }
    em_buf_fini(&b);
    em_http_job_done(job);
}

static void stream_finish(h2o_req_t *req, void *arg)
{
    cr_assert_null(req, "a streamed job's finish gets no request");
    atomic_fetch_add(&finished_jobs, 1);
}

static int h_stream(h2o_req_t *req, void *arg)
{
    em_http_defer(req, pool, stream_work, stream_finish, arg);
    return 0;
}

static int connect_to(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char req[128];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t)n), (ssize_t)n);
    return fd;
}

/* Read the whole response (the server closes after it) and check the de-chunked body. */
static void *client(void *arg)
{
    int port = *(int *)arg;
    int fd = connect_to(port, "/stream");
    em_buf_t in = EM_BUF_INIT;
    char tmp[65536];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof(tmp))) > 0)
        em_buf_append(&in, tmp, (size_t)n);
    close(fd);
    char *body = strstr(in.data, "\r\n\r\n");
    cr_assert_not_null(body);
    cr_assert(strstr(in.data, "HTTP/1.1 200") == in.data, "%.40s", in.data);
    cr_assert_not_null(strcasestr(in.data, "x-test: stream"));
    cr_assert_not_null(strcasestr(in.data, "transfer-encoding: chunked"));
    body += 4;
    size_t off = 0;
    for (;;) {
        char *end;
        unsigned long len = strtoul(body, &end, 16);
        cr_assert(end[0] == '\r' && end[1] == '\n');
        body = end + 2;
        if (len == 0)
            break;
        for (unsigned long k = 0; k < len; k++)
            cr_assert_eq(body[k], pattern(off + k), "byte %zu", off + k);
        off += len;
        body += len + 2;
    }
    cr_assert_eq(off, (size_t)PIECES * PIECE_BYTES);
    em_buf_fini(&in);
    return NULL;
}

static em_http_server_t *start_server(int *port)
{
    /* The TSan build runs every test in one process: start from zero. */
    atomic_store(&canceled_writers, 0);
    atomic_store(&finished_jobs, 0);
    pool = em_workpool_new("test", 3, 64, NULL, NULL);
    /* Two event loops, as the server runs: besides the hand-over between the pool's writers and a loop,
     * each loop must keep its h2o objects (socket buffers, message queues) to its own thread. */
    em_http_opts_t o = {
        .listen = "127.0.0.1:0", .n_threads = 2, .max_body_bytes = 1 << 20, .route_prefix = "/"};
    em_http_server_t *s = NULL;
    em_err_t err;
    cr_assert_eq(em_http_server_new(&o, &s, &err), EM_OK, "%s", err.msg);
    static const int pieces = PIECES, long_pieces = LONG_PIECES;
    em_http_route(s, "/stream", EM_HTTP_GET, "/stream", h_stream, (void *)&pieces);
    em_http_route(s, "/long", EM_HTTP_GET, "/long", h_stream, (void *)&long_pieces);
    cr_assert_eq(em_http_server_start(s, &err), EM_OK, "%s", err.msg);
    *port = em_http_server_port(s);
    return s;
}

Test(net_http_stream_concurrent, pieces_arrive_whole_and_in_order_at_concurrent_clients)
{
    int port;
    em_http_server_t *s = start_server(&port);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, client, &port);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    em_http_server_stop(s, 5000);
    em_workpool_free(pool);
    em_http_server_free(s);
    cr_assert_eq(atomic_load(&canceled_writers), 0);
    cr_assert_eq(atomic_load(&finished_jobs), 3);
}

Test(net_http_stream_concurrent, a_client_that_leaves_stops_the_writer)
{
    int port;
    em_http_server_t *s = start_server(&port);
    int fd = connect_to(port, "/long");
    char tmp[4096];
    cr_assert_gt(read(fd, tmp, sizeof(tmp)), 0);
    close(fd);
    for (int i = 0; i < 300 && atomic_load(&finished_jobs) == 0; i++)
        usleep(100 * 1000);
    cr_assert_eq(atomic_load(&canceled_writers), 1, "the writer saw the cancel");
    cr_assert_eq(atomic_load(&finished_jobs), 1);
    em_http_server_stop(s, 5000);
    em_workpool_free(pool);
    em_http_server_free(s);
}
