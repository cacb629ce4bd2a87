/* net/http.h -- Ember's HTTP server: h2o event loops, routing, parameters, deferred work, responses.
 *
 * DESIGN. 'n_threads' event-loop threads each own an h2o context and a descriptor of one shared
 * listening socket; each loop accepts from it. (Not SO_REUSEPORT: a second server on the same address
 * must fail to start, not silently share the port.) Every connection speaks HTTP/1.1, HTTP/2 with
 * prior knowledge (h2c), HTTP/1.1 Upgrade to h2c, and, when a certificate is configured, TLS with h2 by
 * ALPN. Requests are routed by exact path (or by prefix for routes registered with a trailing '*') to
 * an em_http_handler_fn, on the loop thread. A handler either answers at once (cheap work only) or
 * hands the work to a pool with em_http_defer() and answers when the work is done: long work never
 * runs on a loop thread.
 *
 * DEFERRED REQUEST STATES
 *     loop: defer() --> pool: work(job) ... em_http_job_done(job) [any thread]
 *                        --> loop: finish(req, arg)        the client is still there: answer it
 *                        --> loop: finish(NULL, arg)       the client went away: only free 'arg'
 * If the client disconnects while the work runs, em_http_job_canceled() turns true, so long work can
 * stop early; finish() is still called exactly once.
 *
 * Every request is counted by handler and status code (ember_http_requests_total) and timed
 * (ember_http_request_duration_seconds), like Prometheus's prometheus_http_* metrics.
 *
 * SHUTDOWN. em_http_server_stop closes the listeners, asks connections to finish (GOAWAY, closing idle
 * keep-alives), waits for in-flight requests and deferred jobs up to a timeout, then stops the loops.
 */
#ifndef EMBER_NET_HTTP_H
#define EMBER_NET_HTTP_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/workpool.h"

typedef struct em_http_server em_http_server_t;

/* Bits for em_http_route's 'methods'. */
enum { EM_HTTP_GET = 1, EM_HTTP_POST = 2, EM_HTTP_PUT = 4, EM_HTTP_DELETE = 8, EM_HTTP_HEAD = 16 };

/* Handle a request on its loop thread. Return 0 once the request has been answered or deferred. */
typedef int (*em_http_handler_fn)(h2o_req_t *req, void *arg);

/* Optional authentication hook: return true to let the request through. On false the server answers
 * 401 with a WWW-Authenticate header. Thread: loop. */
typedef bool (*em_http_auth_fn)(h2o_req_t *req, void *arg);

typedef struct em_http_opts {
    const char *listen;        /* "host:port", "[v6]:port" or ":port" */
    int n_threads;             /* event loops */
    size_t max_body_bytes;     /* larger request bodies get 413 */
    int max_connections;       /* per server; beyond it new connections wait in the backlog */
    int64_t read_timeout_ms;   /* idle/request timeout */
    const char *route_prefix;  /* "/" or "/prefix" (--web.route-prefix) */
    /* TLS: a certificate and key (files, or inline PEM) make the server speak HTTPS, h2 by ALPN. */
    const char *tls_cert_file, *tls_key_file;
    const char *tls_cert_pem, *tls_key_pem;
    const char *tls_client_ca_file;  /* CA for client certificates */
    int tls_client_auth;             /* 0 none, 1 request, 2 require any, 3 verify if given, 4 require+verify */
    int tls_min_version, tls_max_version; /* 0 any, 1 TLS1.0 ... 4 TLS1.3 */
    bool disable_http2;
    const char *const *extra_headers; /* name, value, name, value, ..., NULL: added to every response */
    em_http_auth_fn auth;
    void *auth_arg;
} em_http_opts_t;

/* Create the server and bind its sockets, so address errors show before anything starts. Returns EM_OK
 * or EM_EIO/EM_EINVAL with the address in err. Thread: main. */
int em_http_server_new(const em_http_opts_t *o, em_http_server_t **out, em_err_t *err);

/* Register a route before start. 'path' is relative to the route prefix; a trailing '*' makes it a
 * prefix route. 'label' is the handler label used in metrics (e.g. "/api/v1/query"). Thread: main. */
void em_http_route(em_http_server_t *s, const char *path, unsigned methods, const char *label, em_http_handler_fn fn,
                   void *arg);

/* Start the event-loop threads. Thread: main. */
int em_http_server_start(em_http_server_t *s, em_err_t *err);
/* Graceful stop (see above), waiting at most timeout_ms for in-flight work. Thread: main. */
void em_http_server_stop(em_http_server_t *s, int64_t timeout_ms);
void em_http_server_free(em_http_server_t *s);
/* The port actually bound (useful with port 0). */
int em_http_server_port(const em_http_server_t *s);

/* ---- responses (Thread: loop) ---- */

/* Send a complete response; the body is copied. */
void em_http_respond(h2o_req_t *req, int status, const char *content_type, const char *body, size_t len);
/* Send a complete response, taking the buffer's memory (no copy); 'b' is left empty. */
void em_http_respond_buf(h2o_req_t *req, int status, const char *content_type, em_buf_t *b);
/* {"status":"success","data":<data_json>} with optional warnings (NULL-terminated list or NULL). */
void em_http_respond_json_data(h2o_req_t *req, const char *data_json, size_t len, const char *const *warnings);
/* {"status":"error","errorType":<type>,"error":<msg>} with the status code given. */
void em_http_respond_json_error(h2o_req_t *req, int status, const char *error_type, const char *msg);
/* Add a response header (copied). */
void em_http_add_header(h2o_req_t *req, const char *name, const char *value);

/* ---- request helpers (Thread: loop) ---- */

typedef struct em_http_param {
    const char *name;  /* decoded, NUL-terminated, in the request pool */
    const char *value;
} em_http_param_t;

typedef struct em_http_params {
    em_http_param_t *v;
    size_t n;
} em_http_params_t;

/* Decode the URL query and, for POST/PUT with Content-Type application/x-www-form-urlencoded, the body,
 * as Go's Request.ParseForm does (body values first). Strings live in the request pool. Returns EM_OK or
 * EM_EINVAL on bad percent-encoding (with a message). */
int em_http_params_parse(h2o_req_t *req, em_http_params_t *out, em_err_t *err);
/* First value of 'name', or NULL. */
const char *em_http_param(const em_http_params_t *p, const char *name);
/* Number of values of 'name'; fills up to 'max' of them into vals. */
size_t em_http_param_all(const em_http_params_t *p, const char *name, const char **vals, size_t max);
/* Copy of a request header's value into the pool, or NULL. */
const char *em_http_header(h2o_req_t *req, const char *name);
/* The request path after the route prefix, without query string, NUL-terminated in the pool. */
const char *em_http_path(h2o_req_t *req);
/* Percent-decode in place-ish: returns a pool copy, or NULL on a bad escape. '+' means space if 'form'. */
char *em_http_unescape(h2o_mem_pool_t *pool, const char *s, size_t n, bool form);

/* ---- deferred work ---- */

typedef struct em_http_job em_http_job_t;
/* Runs on a pool thread; must call em_http_job_done(job) exactly once, from any thread, when finished
 * (it may return first and call it later, e.g. from a storage completion). */
typedef void (*em_http_work_fn)(em_http_job_t *job, void *arg);
/* Runs on the request's loop thread after done(); req is NULL when the client went away. */
typedef void (*em_http_finish_fn)(h2o_req_t *req, void *arg);

/* Queue work for 'req' on 'pool'. On EM_EBUSY (queue full) the request has been answered with 503 and
 * neither callback will run; the caller still owns 'arg'. Thread: loop. */
int em_http_defer(h2o_req_t *req, em_workpool_t *pool, em_http_work_fn work, em_http_finish_fn finish, void *arg);
/* Thread: any, once per job. */
void em_http_job_done(em_http_job_t *job);
/* True once the client has gone away. Thread: any. */
bool em_http_job_canceled(const em_http_job_t *job);
/* The flag itself, for code that polls it without knowing about jobs (e.g. query cancellation). */
const volatile int *em_http_job_cancel_flag(const em_http_job_t *job);

/* ---- streamed responses from deferred work ----
 * Instead of leaving the answer to finish(), work may stream it: em_http_stream_start fixes the status
 * and headers, em_http_stream_write hands over pieces as they are made, and the loop sends them as the
 * connection drains (HTTP/1.1 chunked, or HTTP/2 DATA frames). The response ends when the job is done
 * and everything written has been sent; finish() then receives req == NULL and only frees its argument.
 * A writer blocks while more than EM_HTTP_STREAM_MAX_PENDING bytes are written but unsent, so a slow
 * client bounds the memory one response holds.
 *     work: start --> write ... write --> em_http_job_done
 *     loop:   (first piece) start the response --> send --> proceed --> send ... --> final */
#define EM_HTTP_STREAM_MAX_PENDING (4u << 20)
/* Start the stream: status, Content-Type (may be NULL) and extra headers (name, value, ..., NULL; may be
 * NULL), all copied. At most once per job, before em_http_job_done. Thread: the job's worker. */
void em_http_stream_start(em_http_job_t *job, int status, const char *content_type, const char *const *headers);
/* Queue the contents of 'b' (taken; 'b' is left empty). Blocks while too much is pending. Returns EM_OK,
 * or EM_ECANCELED once the client has gone away (stop producing). Thread: the job's worker. */
int em_http_stream_write(em_http_job_t *job, em_buf_t *b);
/* True once em_http_stream_start ran for this job. Thread: the job's worker. */
bool em_http_stream_started(const em_http_job_t *job);

#endif
