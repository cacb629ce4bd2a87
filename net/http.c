/* Design: see http.h */
#include "net/http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/duration.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"

#define MAX_ROUTES 128

typedef struct route {
    char *path;     /* relative to the prefix; without the trailing '*' for prefix routes */
    size_t path_len;
    bool prefix;
    unsigned methods;
    char *label;
    em_http_handler_fn fn;
    void *arg;
    em_histogram_t *duration;
} route_t;

typedef struct loop_thread {
    em_http_server_t *s;
    int idx;
    pthread_t th;
    h2o_evloop_t *loop;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    int fd;
    h2o_socket_t *listener;   /* Thread: loop */
    bool listening;           /* Thread: loop */
    int n_conns;              /* Thread: loop */
    h2o_multithread_receiver_t job_receiver;
    h2o_multithread_receiver_t stream_receiver;
    h2o_multithread_receiver_t stop_receiver;
    h2o_multithread_message_t stop_msg;
    bool stop_requested;      /* Thread: loop */
    sem_t *ready;             /* posted once the loop's h2o objects exist (loop_init) */
    sem_t stopped;            /* posted by the loop when it has stopped serving */
    sem_t teardown;           /* posted by em_http_server_free: release the loop's h2o objects */
    bool running;             /* the thread exists and has not been joined */
} loop_thread_t;

struct em_http_server {
    em_http_opts_t o;
    char *prefix; /* "" or "/prefix" without trailing slash */
    size_t prefix_len;
    h2o_globalconf_t conf;
    SSL_CTX *ssl_ctx;
    route_t routes[MAX_ROUTES];
    size_t n_routes;
    loop_thread_t *threads;
    int n_threads;
    int port;
    atomic_int jobs_inflight;
    atomic_int loops_running;
    atomic_bool loops_stopped; /* set once the loops are gone: work still running can never answer */
    int64_t stop_timeout_ms; /* written before the stop messages are sent */
    bool started;
};

typedef struct root_handler {
    h2o_handler_t super;
    em_http_server_t *s;
} root_handler_t;

typedef struct metrics_logger {
    h2o_logger_t super;
    em_http_server_t *s;
} metrics_logger_t;

struct em_http_job {
    h2o_multithread_message_t msg; /* first: the loop receives the message pointer */
    em_http_server_t *s;
    loop_thread_t *thr;
    h2o_req_t *req;                /* NULL once the client went away; Thread: loop */
    em_http_work_fn work;
    em_http_finish_fn finish;
    void *arg;
    volatile int canceled;         /* written by the loop, read by workers */
    atomic_int refs;               /* the request's pool, the work and a queued stream message hold one */
    struct http_stream *_Atomic stream; /* set once by the worker (em_http_stream_start), or NULL */
};

/* A streamed response (see http.h). Pieces travel worker -> list -> loop -> inflight -> freed. */
typedef struct stream_piece {
    struct stream_piece *next;
    char *data;
    size_t len;
} stream_piece_t;

typedef struct http_stream {
    h2o_generator_t gen;
    em_http_job_t *job;
    h2o_multithread_message_t msg;
    pthread_mutex_t mu;
    pthread_cond_t cv;           /* the worker waits here while too much is pending */
    stream_piece_t *head, *tail; /* Locks: mu. Written, not yet taken by the loop. */
    size_t pending;              /* Locks: mu. Bytes written and not yet sent. */
    bool msg_queued;             /* Locks: mu */
    /* Set by the worker before the first message; read-only afterwards. */
    int status;
    char *content_type;
    char **headers; /* name, value, ..., NULL */
    /* Thread: loop. */
    bool started, sending, final_sent, job_done;
    stream_piece_t *inflight; /* handed to h2o_send, freed on proceed */
    h2o_iovec_t *iov;
    size_t iov_cap;
} http_stream_t;

/* ---- addresses and sockets ---- */

static int parse_listen(const char *addr, char *host, size_t host_n, char *port, size_t port_n)
{
    const char *colon = strrchr(addr, ':');
    if (!colon)
        return EM_EINVAL;
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= host_n || strlen(colon + 1) >= port_n || colon[1] == '\0')
        return EM_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, port_n, "%s", colon + 1);
    return EM_OK;
}

static int bind_socket(const char *addr, int port_override, int *out_fd, int *out_port, em_err_t *err)
{
    char host[256], port[32];
    if (parse_listen(addr, host, sizeof(host), port, sizeof(port)) != EM_OK)
        return em_err_set(err, EM_EINVAL, "invalid listen address \"%s\": expected host:port", addr);
    if (port_override > 0)
        snprintf(port, sizeof(port), "%d", port_override);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0)
        return em_err_set(err, EM_EINVAL, "invalid listen address \"%s\": %s", addr, gai_strerror(gai));
    int rc = EM_EIO, fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int on = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof(ss);
            getsockname(fd, (struct sockaddr *)&ss, &sl);
            *out_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                       : ((struct sockaddr_in *)&ss)->sin_port);
            *out_fd = fd;
            rc = EM_OK;
            break;
        }
        em_err_sys(err, EM_EIO, errno, "listen tcp %s", addr);
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (rc != EM_OK && err && !err->msg[0])
        em_err_set(err, EM_EIO, "listen tcp %s: no usable address", addr);
    return rc;
}

/* ---- routing ---- */

static const route_t *find_route(em_http_server_t *s, const char *path, size_t len)
{
    if (s->prefix_len) {
        if (len < s->prefix_len || memcmp(path, s->prefix, s->prefix_len) != 0)
            return NULL;
        path += s->prefix_len;
        len -= s->prefix_len;
    }
    const route_t *best = NULL;
    for (size_t i = 0; i < s->n_routes; i++) {
        const route_t *r = &s->routes[i];
        if (!r->prefix) {
            if (r->path_len == len && memcmp(r->path, path, len) == 0)
                return r;
        } else if (len >= r->path_len && memcmp(r->path, path, r->path_len) == 0) {
            if (!best || r->path_len > best->path_len)
                best = r;
        }
    }
    return best;
}

static size_t path_len_without_query(const h2o_req_t *req)
{
    return req->query_at != SIZE_MAX ? req->query_at : req->path.len;
}

static unsigned method_bit(const h2o_req_t *req)
{
    const h2o_iovec_t *m = &req->method;
    if (h2o_memis(m->base, m->len, H2O_STRLIT("GET")))
        return EM_HTTP_GET;
    if (h2o_memis(m->base, m->len, H2O_STRLIT("POST")))
        return EM_HTTP_POST;
    if (h2o_memis(m->base, m->len, H2O_STRLIT("PUT")))
        return EM_HTTP_PUT;
    if (h2o_memis(m->base, m->len, H2O_STRLIT("DELETE")))
        return EM_HTTP_DELETE;
    if (h2o_memis(m->base, m->len, H2O_STRLIT("HEAD")))
        return EM_HTTP_HEAD;
    return 0;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    em_http_server_t *s = ((root_handler_t *)self)->s;
    for (const char *const *hv = s->o.extra_headers; hv && hv[0] && hv[1]; hv += 2)
        em_http_add_header(req, hv[0], hv[1]);
    const route_t *r = find_route(s, req->path.base, path_len_without_query(req));
    if (!r) {
        em_http_respond(req, 404, "text/plain; charset=utf-8", "404 page not found\n", 19);
        return 0;
    }
    unsigned m = method_bit(req);
    if (m == EM_HTTP_HEAD && (r->methods & EM_HTTP_GET))
        m = EM_HTTP_GET;
    if (!(r->methods & m)) {
        em_http_respond(req, 405, "text/plain; charset=utf-8", "Method Not Allowed\n", 19);
        return 0;
    }
    if (s->o.auth && !s->o.auth(req, s->o.auth_arg)) {
        em_http_add_header(req, "WWW-Authenticate", "Basic");
        em_http_respond(req, 401, "text/plain; charset=utf-8", "Unauthorized\n", 13);
        return 0;
    }
    return r->fn(req, r->arg);
}

static void log_access(h2o_logger_t *self, h2o_req_t *req)
{
    em_http_server_t *s = ((metrics_logger_t *)self)->s;
    const route_t *r = find_route(s, req->path.base, path_len_without_query(req));
    const char *label = r ? r->label : "other";
    char labels[256];
    snprintf(labels, sizeof(labels), "code=\"%d\",handler=\"%s\"", req->res.status, label);
    em_counter_inc(em_counter_new("ember_http_requests_total", "Counter of HTTP requests.", labels));
    struct timeval now;
    gettimeofday(&now, NULL);
    double secs = (double)(now.tv_sec - req->timestamps.request_begin_at.tv_sec) +
                  (double)(now.tv_usec - req->timestamps.request_begin_at.tv_usec) / 1e6;
    if (r && r->duration)
        em_histogram_observe(r->duration, secs);
}

void em_http_route(em_http_server_t *s, const char *path, unsigned methods, const char *label, em_http_handler_fn fn,
                   void *arg)
{
    if (s->n_routes == MAX_ROUTES) {
        fprintf(stderr, "ember: fatal: too many HTTP routes\n");
        abort();
    }
    route_t *r = &s->routes[s->n_routes++];
    size_t n = strlen(path);
    r->prefix = n > 0 && path[n - 1] == '*';
    r->path = em_strndup(path, r->prefix ? n - 1 : n);
    r->path_len = strlen(r->path);
    r->methods = methods;
    r->label = em_strdup(label);
    r->fn = fn;
    r->arg = arg;
    char labels[256];
    snprintf(labels, sizeof(labels), "handler=\"%s\"", label);
    r->duration = em_histogram_new("ember_http_request_duration_seconds", "Histogram of latencies for HTTP requests.",
                                   labels, em_metrics_latency_buckets, em_metrics_latency_buckets_n);
}

/* ---- connections ---- */

static void on_accept(h2o_socket_t *listener, const char *err);

static void update_listening(loop_thread_t *t)
{
    int per_thread = t->s->o.max_connections > 0 ? (t->s->o.max_connections + t->s->n_threads - 1) / t->s->n_threads
                                                  : 0;
    bool want = !t->stop_requested && (per_thread == 0 || t->n_conns < per_thread);
    if (want && !t->listening && t->listener) {
        h2o_socket_read_start(t->listener, on_accept);
        t->listening = true;
    } else if (!want && t->listening) {
        h2o_socket_read_stop(t->listener);
        t->listening = false;
    }
}

static void on_conn_close(void *data)
{
    loop_thread_t *t = data;
    t->n_conns--;
    update_listening(t);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    loop_thread_t *t = listener->data;
    if (err)
        return;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (!sock)
        return;
    t->n_conns++;
    sock->on_close.cb = on_conn_close;
    sock->on_close.data = t;
    h2o_accept(&t->accept, sock);
    update_listening(t);
}

/* ---- deferred jobs ---- */

static void pieces_free(stream_piece_t *p)
{
    while (p) {
        stream_piece_t *next = p->next;
        free(p->data);
        free(p);
        p = next;
    }
}

static void stream_free(http_stream_t *st)
{
    if (!st)
        return;
    pieces_free(st->head);
    pieces_free(st->inflight);
    free(st->content_type);
    for (char **h = st->headers; h && *h; h++)
        free(*h);
    free(st->headers);
    free(st->iov);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    free(st);
}

static void job_unref(em_http_job_t *job)
{
    if (atomic_fetch_sub(&job->refs, 1) == 1) {
        stream_free(atomic_load(&job->stream));
        free(job);
    }
}

/* The request pool is being cleared: the client is gone or the response is complete. Thread: loop. */
static void job_on_req_dispose(void *p)
{
    em_http_job_t *job = *(em_http_job_t **)p;
    job->req = NULL;
    __atomic_store_n(&job->canceled, 1, __ATOMIC_RELEASE);
    http_stream_t *st = atomic_load(&job->stream);
    if (st) {
        /* h2o holds the inflight pieces no more; a worker waiting for room must see the cancel. */
        pieces_free(st->inflight);
        st->inflight = NULL;
        pthread_mutex_lock(&st->mu);
        pthread_cond_broadcast(&st->cv);
        pthread_mutex_unlock(&st->mu);
    }
    job_unref(job);
}

/* ---- streamed responses ---- */

static void stream_pump(http_stream_t *st);
static const char *reason(int status);

static void stream_on_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    http_stream_t *st = H2O_STRUCT_FROM_MEMBER(http_stream_t, gen, self);
    size_t sent = 0;
    for (stream_piece_t *p = st->inflight; p; p = p->next)
        sent += p->len;
    pieces_free(st->inflight);
    st->inflight = NULL;
    st->sending = false;
    pthread_mutex_lock(&st->mu);
    st->pending -= sent;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    stream_pump(st);
}

static void stream_on_stop(h2o_generator_t *self, h2o_req_t *req)
{
    /* The request is being torn down; job_on_req_dispose releases what h2o held. */
}

/* Send what the worker has written, starting the response first and ending it once the job is done and
 * everything is sent. Idempotent: runs on every stream message, on proceed and when the job completes.
 * Thread: loop. */
static void stream_pump(http_stream_t *st)
{
    h2o_req_t *req = st->job->req;
    if (!req || st->sending || st->final_sent)
        return;
    if (!st->started) {
        st->started = true;
        req->res.status = st->status;
        req->res.reason = reason(st->status);
        if (st->content_type)
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, st->content_type,
                           strlen(st->content_type));
        for (char **h = st->headers; h && h[0] && h[1]; h += 2)
            em_http_add_header(req, h[0], h[1]);
        st->gen.proceed = stream_on_proceed;
        st->gen.stop = stream_on_stop;
        h2o_start_response(req, &st->gen);
    }
    pthread_mutex_lock(&st->mu);
    stream_piece_t *list = st->head;
    st->head = st->tail = NULL;
    pthread_mutex_unlock(&st->mu);
    if (list) {
        size_t n = 0;
        for (stream_piece_t *p = list; p; p = p->next)
            n++;
        em_grow((void **)&st->iov, &st->iov_cap, n, sizeof(h2o_iovec_t));
        n = 0;
        for (stream_piece_t *p = list; p; p = p->next)
            st->iov[n++] = h2o_iovec_init(p->data, p->len);
        st->inflight = list;
        st->sending = true;
        h2o_send(req, st->iov, n, H2O_SEND_STATE_IN_PROGRESS);
    } else if (st->job_done) {
        st->final_sent = true;
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    }
}

static void on_stream_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        http_stream_t *st = H2O_STRUCT_FROM_MEMBER(http_stream_t, msg, msg);
        pthread_mutex_lock(&st->mu);
        st->msg_queued = false;
        pthread_mutex_unlock(&st->mu);
        stream_pump(st);
        job_unref(st->job);
    }
}

void em_http_stream_start(em_http_job_t *job, int status, const char *content_type, const char *const *headers)
{
    assert(!atomic_load(&job->stream));
    http_stream_t *st = EM_NEW(http_stream_t);
    st->job = job;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    st->status = status;
    st->content_type = content_type ? em_strdup(content_type) : NULL;
    size_t n = 0;
    while (headers && headers[n] && headers[n + 1])
        n += 2;
    st->headers = em_calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        st->headers[i] = em_strdup(headers[i]);
    atomic_store(&job->stream, st);
}

bool em_http_stream_started(const em_http_job_t *job)
{
    return atomic_load(&((em_http_job_t *)job)->stream) != NULL;
}

int em_http_stream_write(em_http_job_t *job, em_buf_t *b)
{
    http_stream_t *st = atomic_load(&job->stream);
    assert(st);
    int rc = EM_OK;
    pthread_mutex_lock(&st->mu);
    /* Bounded wait: the loop signals on every proceed; the timeout only re-checks the cancel flag. */
    while (st->pending > EM_HTTP_STREAM_MAX_PENDING && !em_http_job_canceled(job)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&st->cv, &st->mu, &ts);
    }
    if (em_http_job_canceled(job)) {
        rc = EM_ECANCELED;
        em_buf_reset(b);
        goto out;
    }
    if (b->len == 0)
        goto out;
    stream_piece_t *p = EM_NEW(stream_piece_t);
    p->data = em_buf_detach(b, &p->len);
    if (st->tail)
        st->tail->next = p;
    else
        st->head = p;
    st->tail = p;
    st->pending += p->len;
    if (!st->msg_queued) {
        st->msg_queued = true;
        atomic_fetch_add(&job->refs, 1);
        h2o_multithread_send_message(&job->thr->stream_receiver, &st->msg);
    }
out:
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static void on_job_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
        em_http_job_t *job = (em_http_job_t *)msg;
        em_http_server_t *s = job->s;
        http_stream_t *st = atomic_load(&job->stream);
        if (st) {
            /* The response is the stream's: end it once everything written is sent. */
            st->job_done = true;
            stream_pump(st);
            job->finish(NULL, job->arg);
        } else {
            job->finish(job->req, job->arg);
        }
        job_unref(job);
        atomic_fetch_sub(&s->jobs_inflight, 1);
    }
}

static void job_run(void *p)
{
    em_http_job_t *job = p;
    job->work(job, job->arg);
}

int em_http_defer(h2o_req_t *req, em_workpool_t *pool, em_http_work_fn work, em_http_finish_fn finish, void *arg)
{
    loop_thread_t *t = H2O_STRUCT_FROM_MEMBER(loop_thread_t, ctx, req->conn->ctx);
    em_http_job_t *job = EM_NEW(em_http_job_t);
    job->s = t->s;
    job->thr = t;
    job->req = req;
    job->work = work;
    job->finish = finish;
    job->arg = arg;
    atomic_init(&job->refs, 2);
    atomic_fetch_add(&t->s->jobs_inflight, 1);
    int rc = em_workpool_submit(pool, job_run, job);
    if (rc != EM_OK) {
        atomic_fetch_sub(&t->s->jobs_inflight, 1);
        free(job);
        em_http_respond_json_error(req, 503, "unavailable", "too many requests queued; try again later");
        return EM_EBUSY;
    }
    em_http_job_t **slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), job_on_req_dispose);
    *slot = job;
    return EM_OK;
}

void em_http_job_done(em_http_job_t *job)
{
    h2o_multithread_send_message(&job->thr->job_receiver, &job->msg);
}

bool em_http_job_canceled(const em_http_job_t *job)
{
    /* After a stop that timed out nobody will read the answer: a stream writer must not wait forever. */
    return __atomic_load_n(&job->canceled, __ATOMIC_ACQUIRE) != 0 || atomic_load(&job->s->loops_stopped);
}

const volatile int *em_http_job_cancel_flag(const em_http_job_t *job)
{
    return &job->canceled;
}

/* ---- responses ---- */

void em_http_add_header(h2o_req_t *req, const char *name, const char *value)
{
    /* HTTP/2 forbids upper-case field names; HTTP/1 clients do not care. */
    size_t n = strlen(name);
    char *lc = h2o_mem_alloc_pool(&req->pool, n + 1);
    for (size_t i = 0; i <= n; i++)
        lc[i] = (char)tolower((unsigned char)name[i]);
    h2o_add_header_by_str(&req->pool, &req->res.headers, lc, n, 1, NULL, h2o_strdup(&req->pool, value, SIZE_MAX).base,
                          strlen(value));
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 413: return "Request Entity Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "";
    }
}

static void set_status(h2o_req_t *req, int status, const char *content_type)
{
    req->res.status = status;
    req->res.reason = reason(status);
    if (content_type)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                       strlen(content_type));
}

void em_http_respond(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len)
{
    set_status(req, status, content_type);
    h2o_send_inline(req, body, len);
}

typedef struct buf_gen {
    h2o_generator_t super;
    char *data;
} buf_gen_t;

static void buf_gen_dispose(void *p)
{
    free(((buf_gen_t *)p)->data);
}

void em_http_respond_buf(h2o_req_t *req, int status, const char *content_type, em_buf_t *b)
{
    set_status(req, status, content_type);
    size_t len = 0;
    char *data = em_buf_detach(b, &len);
    buf_gen_t *g = h2o_mem_alloc_shared(&req->pool, sizeof(*g), buf_gen_dispose);
    g->super.proceed = NULL;
    g->super.stop = NULL;
    g->data = data;
    req->res.content_length = len;
    h2o_start_response(req, &g->super);
    h2o_iovec_t iov = h2o_iovec_init(data, len);
    h2o_send(req, &iov, 1, H2O_SEND_STATE_FINAL);
}

void em_http_respond_json_data(h2o_req_t *req, const char *data_json, size_t len, const char *const *warnings)
{
    em_buf_t b = EM_BUF_INIT;
    em_buf_reserve(&b, len + 64);
    em_buf_puts(&b, "{\"status\":\"success\",\"data\":");
    em_buf_append(&b, data_json, len);
    if (warnings && warnings[0]) {
        em_buf_puts(&b, ",\"warnings\":[");
        for (size_t i = 0; warnings[i]; i++) {
            if (i)
                em_buf_putc(&b, ',');
            em_buf_put_json_str(&b, warnings[i], strlen(warnings[i]));
        }
        em_buf_putc(&b, ']');
    }
    em_buf_putc(&b, '}');
    em_http_respond_buf(req, 200, "application/json", &b);
}

void em_http_respond_json_error(h2o_req_t *req, int status, const char *error_type, const char *msg)
{
    em_buf_t b = EM_BUF_INIT;
    em_buf_puts(&b, "{\"status\":\"error\",\"errorType\":");
    em_buf_put_json_str(&b, error_type, strlen(error_type));
    em_buf_puts(&b, ",\"error\":");
    em_buf_put_json_str(&b, msg, strlen(msg));
    em_buf_putc(&b, '}');
    em_http_respond_buf(req, status, "application/json", &b);
}

/* ---- request helpers ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *em_http_unescape(h2o_mem_pool_t *pool, const char *s, size_t n, bool form)
{
    char *out = h2o_mem_alloc_pool(pool, n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n)
                return NULL;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return NULL;
            out[o++] = (char)(h * 16 + l);
            i += 2;
        } else if (form && s[i] == '+') {
            out[o++] = ' ';
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static int parse_form(h2o_mem_pool_t *pool, const char *s, size_t n, em_http_param_t **v, size_t *count,
                      size_t *cap, em_err_t *err)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '&' && s[j] != ';')
            j++;
        if (j > i) {
            const char *eq = memchr(s + i, '=', j - i);
            size_t kl = eq ? (size_t)(eq - (s + i)) : j - i;
            char *k = em_http_unescape(pool, s + i, kl, true);
            char *val = eq ? em_http_unescape(pool, eq + 1, (size_t)(s + j - eq - 1), true)
                           : em_http_unescape(pool, "", 0, true);
            if (!k || !val)
                return em_err_set(err, EM_EINVAL, "invalid URL escape in \"%.*s\"", (int)(j - i > 100 ? 100 : j - i),
                                  s + i);
            if (*count == *cap) {
                size_t nc = *cap ? *cap * 2 : 16;
                em_http_param_t *nv = h2o_mem_alloc_pool(pool, sizeof(em_http_param_t) * nc);
                if (*count)
                    memcpy(nv, *v, sizeof(em_http_param_t) * *count);
                *v = nv;
                *cap = nc;
            }
            (*v)[(*count)++] = (em_http_param_t){k, val};
        }
        i = j + 1;
    }
    return EM_OK;
}

int em_http_params_parse(h2o_req_t *req, em_http_params_t *out, em_err_t *err)
{
    em_http_param_t *v = NULL;
    size_t n = 0, cap = 0;
    unsigned m = method_bit(req);
    if ((m == EM_HTTP_POST || m == EM_HTTP_PUT) && req->entity.base) {
        ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
        if (ct >= 0) {
            h2o_iovec_t val = req->headers.entries[ct].value;
            if (val.len >= 33 && h2o_lcstris(val.base, 33, H2O_STRLIT("application/x-www-form-urlencoded"))) {
                int rc = parse_form(&req->pool, req->entity.base, req->entity.len, &v, &n, &cap, err);
                if (rc != EM_OK)
                    return rc;
            }
        }
    }
    if (req->query_at != SIZE_MAX) {
        int rc = parse_form(&req->pool, req->path.base + req->query_at + 1, req->path.len - req->query_at - 1, &v,
                            &n, &cap, err);
        if (rc != EM_OK)
            return rc;
    }
    out->v = v;
    out->n = n;
    return EM_OK;
}

const char *em_http_param(const em_http_params_t *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].name, name) == 0)
            return p->v[i].value;
    return NULL;
}

size_t em_http_param_all(const em_http_params_t *p, const char *name, const char **vals, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (strcmp(p->v[i].name, name) == 0) {
            if (k < max)
                vals[k] = p->v[i].value;
            k++;
        }
    }
    return k;
}

const char *em_http_header(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    if (i < 0)
        return NULL;
    h2o_iovec_t v = req->headers.entries[i].value;
    return h2o_strdup(&req->pool, v.base, v.len).base;
}

const char *em_http_path(h2o_req_t *req)
{
    em_http_server_t *s = H2O_STRUCT_FROM_MEMBER(loop_thread_t, ctx, req->conn->ctx)->s;
    size_t len = path_len_without_query(req);
    const char *p = req->path.base;
    if (s->prefix_len && len >= s->prefix_len) {
        p += s->prefix_len;
        len -= s->prefix_len;
    }
    return h2o_strdup(&req->pool, p, len).base;
}

/* ---- server lifecycle ---- */

static void on_stop_message(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    loop_thread_t *t = H2O_STRUCT_FROM_MEMBER(loop_thread_t, stop_receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *msg = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&msg->link);
    }
    if (t->stop_requested)
        return;
    t->stop_requested = true;
    update_listening(t);
    if (t->listener) {
        h2o_socket_close(t->listener);
        t->listener = NULL;
        t->fd = -1;
    }
    h2o_context_request_shutdown(&t->ctx);
}

static bool loop_idle(loop_thread_t *t)
{
    return h2o_linklist_is_empty(&t->ctx.http1._conns) && h2o_linklist_is_empty(&t->ctx.http2._conns);
}

/* Create the loop's h2o objects on the loop's own thread. h2o keeps a per-thread recycling allocator for
 * socket buffers (h2o_socket_buffer_prototype is thread-local) and every socket remembers the allocator of
 * the thread that created it: a loop whose sockets (its listener, the message queue's pipe) were created
 * by another thread would allocate and free through that thread's list, racing any other loop doing the
 * same, which corrupts the list and crashes under load. Thread: loop, once. */
static void loop_init(loop_thread_t *t)
{
    em_http_server_t *s = t->s;
    t->loop = h2o_evloop_create();
    h2o_context_init(&t->ctx, t->loop, &s->conf);
    t->accept.ctx = &t->ctx;
    t->accept.hosts = s->conf.hosts;
    t->accept.ssl_ctx = s->ssl_ctx;
    h2o_multithread_register_receiver(t->ctx.queue, &t->job_receiver, on_job_messages);
    h2o_multithread_register_receiver(t->ctx.queue, &t->stream_receiver, on_stream_messages);
    h2o_multithread_register_receiver(t->ctx.queue, &t->stop_receiver, on_stop_message);
    t->listener = h2o_evloop_socket_create(t->loop, t->fd, H2O_SOCKET_FLAG_DONT_READ);
    t->listener->data = t;
    update_listening(t);
}

static void drain_late_messages(loop_thread_t *t);
static void drain_timeouts(h2o_context_t *ctx);

/* Release the loop's h2o objects. Thread: loop, after it stopped and no work can post to it. */
static void loop_teardown(loop_thread_t *t)
{
    if (t->listener)
        h2o_socket_close(t->listener);
    drain_late_messages(t);
    h2o_multithread_unregister_receiver(t->ctx.queue, &t->job_receiver);
    h2o_multithread_unregister_receiver(t->ctx.queue, &t->stream_receiver);
    h2o_multithread_unregister_receiver(t->ctx.queue, &t->stop_receiver);
    drain_timeouts(&t->ctx);
    h2o_context_dispose(&t->ctx);
    /* Let the loop run once so sockets closed above are released. */
    h2o_evloop_run(t->loop, 0);
    h2o_evloop_destroy(t->loop);
}

static void *loop_main(void *arg)
{
    loop_thread_t *t = arg;
    loop_init(t);
    sem_post(t->ready);
    int64_t stop_deadline = 0;
    while (true) {
        h2o_evloop_run(t->loop, 100);
        if (!t->stop_requested)
            continue;
        int64_t now = em_mono_ns() / 1000000;
        if (!stop_deadline)
            stop_deadline = now + t->s->stop_timeout_ms;
        if ((loop_idle(t) && atomic_load(&t->s->jobs_inflight) == 0) || now > stop_deadline)
            break;
    }
    atomic_fetch_sub(&t->s->loops_running, 1);
    sem_post(&t->stopped);
    /* The loop's objects are released on this thread (their buffers belong to its allocator), but only
     * once work that may still post messages to the loop is over: em_http_server_free says when. */
    while (sem_wait(&t->teardown) != 0)
        ;
    loop_teardown(t);
    return NULL;
}

static int accept_any_cert(int preverify_ok, X509_STORE_CTX *store)
{
    return 1;
}

static int tls_version(int v)
{
    static const int map[] = {0, TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION, TLS1_3_VERSION};
    return v > 0 && v < 5 ? map[v] : 0;
}

static int load_pem_cert(SSL_CTX *ctx, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    int ok = x && SSL_CTX_use_certificate(ctx, x) == 1;
    X509_free(x);
    BIO_free(bio);
    return ok;
}

static int load_pem_key(SSL_CTX *ctx, const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    int ok = k && SSL_CTX_use_PrivateKey(ctx, k) == 1;
    EVP_PKEY_free(k);
    BIO_free(bio);
    return ok;
}

static int setup_tls(em_http_server_t *s, em_err_t *err)
{
    const em_http_opts_t *o = &s->o;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    int rc = EM_EINVAL;
    if (!ctx)
        return em_err_set(err, EM_EIO, "TLS: cannot create context");
    SSL_CTX_set_min_proto_version(ctx, o->tls_min_version ? tls_version(o->tls_min_version) : TLS1_2_VERSION);
    if (o->tls_max_version)
        SSL_CTX_set_max_proto_version(ctx, tls_version(o->tls_max_version));
    bool cert_ok = o->tls_cert_file ? SSL_CTX_use_certificate_chain_file(ctx, o->tls_cert_file) == 1
                                    : load_pem_cert(ctx, o->tls_cert_pem);
    if (!cert_ok) {
        em_err_set(err, EM_EINVAL, "TLS: cannot load certificate %s", o->tls_cert_file ? o->tls_cert_file : "(inline)");
        goto out;
    }
    bool key_ok = o->tls_key_file ? SSL_CTX_use_PrivateKey_file(ctx, o->tls_key_file, SSL_FILETYPE_PEM) == 1
                                  : load_pem_key(ctx, o->tls_key_pem);
    if (!key_ok || !SSL_CTX_check_private_key(ctx)) {
        em_err_set(err, EM_EINVAL, "TLS: cannot load key %s, or it does not match the certificate",
                   o->tls_key_file ? o->tls_key_file : "(inline)");
        goto out;
    }
    if (o->tls_client_ca_file) {
        if (SSL_CTX_load_verify_locations(ctx, o->tls_client_ca_file, NULL) != 1) {
            em_err_set(err, EM_EINVAL, "TLS: cannot load client CA %s", o->tls_client_ca_file);
            goto out;
        }
        SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(o->tls_client_ca_file));
    }
    /* Go's tls.ClientAuthType, mapped onto OpenSSL's verify modes. RequestClientCert and
     * RequireAnyClientCert accept unverified certificates; the callback below lets those through. */
    switch (o->tls_client_auth) {
    case 1: SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any_cert); break;
    case 2: SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any_cert); break;
    case 3: SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL); break;
    case 4: SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL); break;
    default: SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); break;
    }
    if (o->disable_http2) {
        static const h2o_iovec_t http1_only[] = {{H2O_STRLIT("http/1.1")}, {NULL, 0}};
        h2o_ssl_register_alpn_protocols(ctx, http1_only);
    } else {
        h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
    }
    s->ssl_ctx = ctx;
    rc = EM_OK;
out:
    if (rc != EM_OK)
        SSL_CTX_free(ctx);
    return rc;
}

int em_http_server_new(const em_http_opts_t *o, em_http_server_t **out, em_err_t *err)
{
    em_http_server_t *s = EM_NEW(em_http_server_t);
    int rc = EM_EIO;
    s->o = *o;
    s->n_threads = o->n_threads > 0 ? o->n_threads : 1;
    const char *pfx = o->route_prefix ? o->route_prefix : "/";
    size_t pl = strlen(pfx);
    while (pl > 0 && pfx[pl - 1] == '/')
        pl--;
    s->prefix = em_strndup(pfx, pl);
    s->prefix_len = pl;
    atomic_init(&s->jobs_inflight, 0);
    atomic_init(&s->loops_running, 0);
    s->threads = em_calloc((size_t)s->n_threads, sizeof(loop_thread_t));
    for (int i = 0; i < s->n_threads; i++) {
        s->threads[i].fd = -1;
        sem_init(&s->threads[i].stopped, 0, 0);
        sem_init(&s->threads[i].teardown, 0, 0);
    }
    if ((o->tls_cert_file || o->tls_cert_pem) && (rc = setup_tls(s, err)) != EM_OK)
        goto out;
    /* One listening socket, shared by every loop (each accepts from its own descriptor of it). Not
     * SO_REUSEPORT: a second server on the same address must fail, not silently share the port. */
    int port = 0;
    rc = bind_socket(o->listen, 0, &s->threads[0].fd, &port, err);
    if (rc != EM_OK)
        goto out;
    for (int i = 1; i < s->n_threads; i++) {
        s->threads[i].fd = fcntl(s->threads[0].fd, F_DUPFD_CLOEXEC, 0);
        if (s->threads[i].fd < 0) {
            rc = em_err_sys(err, EM_EIO, errno, "dup listening socket");
            goto out;
        }
    }
    s->port = port;

    h2o_config_init(&s->conf);
    s->conf.max_request_entity_size = o->max_body_bytes ? o->max_body_bytes : (64u << 20);
    if (o->read_timeout_ms > 0) {
        s->conf.http1.req_timeout = (uint64_t)o->read_timeout_ms;
        s->conf.http2.idle_timeout = (uint64_t)o->read_timeout_ms;
    }
    s->conf.http2.graceful_shutdown_timeout = 5000;
    s->conf.server_name = h2o_iovec_init(H2O_STRLIT("ember"));
    if (o->disable_http2)
        s->conf.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *hc = h2o_config_register_host(&s->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(hc, "/", 0);
    root_handler_t *h = (root_handler_t *)h2o_create_handler(pc, sizeof(*h));
    h->super.on_req = on_req;
    h->s = s;
    metrics_logger_t *lg = (metrics_logger_t *)h2o_create_logger(pc, sizeof(*lg));
    lg->super.log_access = log_access;
    lg->s = s;
    rc = EM_OK;
out:
    if (rc != EM_OK) {
        for (int i = 0; i < s->n_threads; i++)
            if (s->threads[i].fd >= 0)
                close(s->threads[i].fd);
        if (s->ssl_ctx)
            SSL_CTX_free(s->ssl_ctx);
        free(s->threads);
        free(s->prefix);
        free(s);
        return rc;
    }
    *out = s;
    return EM_OK;
}

int em_http_server_port(const em_http_server_t *s)
{
    return s->port;
}

int em_http_server_start(em_http_server_t *s, em_err_t *err)
{
    sem_t ready;
    sem_init(&ready, 0, 0);
    int started = 0, rc = EM_OK;
    for (int i = 0; i < s->n_threads; i++) {
        loop_thread_t *t = &s->threads[i];
        t->s = s;
        t->idx = i;
        t->ready = &ready;
        atomic_fetch_add(&s->loops_running, 1);
        if (pthread_create(&t->th, NULL, loop_main, t) != 0) {
            atomic_fetch_sub(&s->loops_running, 1);
            rc = em_err_set(err, EM_EIO, "cannot start HTTP thread");
            break;
        }
        pthread_setname_np(t->th, "ember-http");
        t->running = true;
        started++;
    }
    /* Every started loop has created its h2o objects before anyone may stop it or send it messages. */
    for (int i = 0; i < started; i++)
        while (sem_wait(&ready) != 0)
            ;
    sem_destroy(&ready);
    s->started = started > 0; /* so that stop and free end the loops that did start */
    return rc;
}

void em_http_server_stop(em_http_server_t *s, int64_t timeout_ms)
{
    if (!s->started)
        return;
    s->stop_timeout_ms = timeout_ms;
    for (int i = 0; i < s->n_threads; i++)
        h2o_multithread_send_message(&s->threads[i].stop_receiver, &s->threads[i].stop_msg);
    for (int i = 0; i < s->n_threads; i++)
        if (s->threads[i].running)
            while (sem_wait(&s->threads[i].stopped) != 0)
                ;
    atomic_store(&s->loops_stopped, true);
    s->started = false;
}

/* Entries left on a context's timeouts after its loop stopped (the graceful-shutdown timer, timers of
 * connections closed in the last iteration) would trip h2o's checks at dispose; nothing runs them any
 * more, so they are unlinked. */
static void drain_timeout(h2o_timeout_t *t)
{
    while (!h2o_linklist_is_empty(&t->_entries)) {
        h2o_timeout_entry_t *e = H2O_STRUCT_FROM_MEMBER(h2o_timeout_entry_t, _link, t->_entries.next);
        h2o_timeout_unlink(e);
    }
}

static void drain_timeouts(h2o_context_t *ctx)
{
    drain_timeout(&ctx->zero_timeout);
    drain_timeout(&ctx->one_sec_timeout);
    drain_timeout(&ctx->hundred_ms_timeout);
    drain_timeout(&ctx->handshake_timeout);
    drain_timeout(&ctx->http1.req_timeout);
    drain_timeout(&ctx->http2.idle_timeout);
    drain_timeout(&ctx->http2.graceful_shutdown_timeout);
    drain_timeout(&ctx->proxy.io_timeout);
}

/* Messages sent after the loops stopped (work that outlived the stop timeout, and saw itself canceled):
 * nobody can answer them any more. Release what they hold so the receivers can be unregistered.
 * Thread: main, once the workers are gone. */
static void drain_late_messages(loop_thread_t *t)
{
    h2o_linklist_t *l = &t->job_receiver._messages;
    while (!h2o_linklist_is_empty(l)) {
        h2o_multithread_message_t *msg = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, l->next);
        h2o_linklist_unlink(&msg->link);
        em_http_job_t *job = (em_http_job_t *)msg;
        job->finish(NULL, job->arg);
        job_unref(job);
        atomic_fetch_sub(&t->s->jobs_inflight, 1);
    }
    l = &t->stream_receiver._messages;
    while (!h2o_linklist_is_empty(l)) {
        h2o_multithread_message_t *msg = H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, l->next);
        h2o_linklist_unlink(&msg->link);
        job_unref(H2O_STRUCT_FROM_MEMBER(http_stream_t, msg, msg)->job);
    }
}

void em_http_server_free(em_http_server_t *s)
{
    if (!s)
        return;
    if (s->started)
        em_http_server_stop(s, 10000);
    for (int i = 0; i < s->n_threads; i++) {
        loop_thread_t *t = &s->threads[i];
        if (t->running) {
            sem_post(&t->teardown);
            pthread_join(t->th, NULL);
            t->running = false;
        } else if (t->fd >= 0 && !t->loop) {
            close(t->fd);
        }
        sem_destroy(&t->stopped);
        sem_destroy(&t->teardown);
    }
    h2o_config_dispose(&s->conf);
    if (s->ssl_ctx)
        SSL_CTX_free(s->ssl_ctx);
    for (size_t i = 0; i < s->n_routes; i++) {
        free(s->routes[i].path);
        free(s->routes[i].label);
    }
    free(s->threads);
    free(s->prefix);
    free(s);
}
