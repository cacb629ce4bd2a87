/* Design: see server.h and ingest/remote.h. This file: POST /api/v1/read, the remote read endpoint.
 *
 * REQUEST STATES
 *     loop:  readiness, copy the body into a job                      --defer (query pool)-->
 *     pool:  wait for a slot of --storage.remote.read-concurrent-limit (polling for a gone client),
 *            decode, negotiate, answer every query from server_queryable()     --done-->
 *     loop:  send the answer, or the error text with its status
 *
 * WHAT PROMETHEUS DOES, AND SO DO WE (storage/remote/read_handler.go, codec.go):
 *   - Response type: the first of accepted_response_types the server implements, SAMPLES when none is
 *     listed; none implemented -> 400 "server does not support any of the requested response types".
 *   - An undecodable request -> 400 with the decoder's message.
 *   - External labels: an equality matcher whose name and value are an external label's becomes name=""
 *     (the label is not in storage); the external labels are added to every returned series, the
 *     series' own labels winning on a clash.
 *   - SAMPLES: one snappy ReadResponse; --storage.remote.read-sample-limit counts the samples of one
 *     query and, once exceeded, answers 400 "exceeded sample limit (N)".
 *   - STREAMED_XOR_CHUNKS: series in label order, each as frames of at most
 *     --storage.remote.read-max-bytes-in-frame carrying its raw chunks; the sample limit does not apply.
 *   - A bad regex in a matcher and storage errors -> 500 with the error text.
 *   - --storage.remote.read-concurrent-limit queues requests beyond the limit (it does not refuse them).
 * Errors are plain text ending in a newline, as Go's http.Error writes them.
 *
 * DIFFERENCES. Series whose samples all lie outside the query's range are left out of SAMPLES answers
 * (Prometheus may send them with no samples). Series come in label order in both response types.
 *
 * MEMORY. A SAMPLES answer is built whole (bounded by the sample limit). Frames of a streamed answer go to
 * the connection as they are made when the handler streams; otherwise they are buffered.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "engine/matcher.h"
#include "net/api.h"
#include "net/server_int.h"

#define CT_TEXT "text/plain; charset=utf-8"

static struct {
    em_gauge_t *queries;
    em_counter_t *requests_failed, *samples, *frames;
} m;

static void metrics_register(void)
{
    m.queries = em_gauge_new("ember_api_remote_read_queries",
                             "The current number of remote read queries being executed or waiting.", NULL);
    m.requests_failed = em_counter_new("ember_remote_read_requests_failed_total",
                                       "Remote read requests answered with an error.", NULL);
    m.samples = em_counter_new("ember_remote_read_samples_sent_total",
                               "Samples sent in SAMPLES remote read answers.", NULL);
    m.frames = em_counter_new("ember_remote_read_frames_sent_total",
                              "Frames sent in STREAMED_XOR_CHUNKS remote read answers.", NULL);
}

static void metrics_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, metrics_register);
}

/* ---- the answer, without HTTP ---- */

static void resp_error(api_read_resp_t *r, int status, const char *msg)
{
    r->status = status;
    r->content_type = CT_TEXT;
    r->snappy = false;
    em_buf_reset(&r->body);
    em_buf_puts(&r->body, msg);
    em_buf_putc(&r->body, '\n');
}

typedef struct read_ctx {
    em_queryable_t *qa;
    const em_labels_t *ext;
    const api_read_opts_t *o;
    const volatile int *canceled;
    em_label_t *merged; /* scratch for series labels with the external labels */
    size_t merged_cap;
    em_remote_sample_t *samples; /* scratch for one series' samples */
    size_t samples_cap;
} read_ctx_t;

/* Series labels and external labels, both sorted, into one sorted set; the series' value wins.
 * Prometheus: MergeLabels(primary, secondary). The result lives in c->merged until the next call. */
static em_labels_t merge_ext(read_ctx_t *c, const em_labels_t *ls)
{
    if (!c->ext || c->ext->n == 0)
        return *ls;
    em_grow((void **)&c->merged, &c->merged_cap, ls->n + c->ext->n, sizeof(em_label_t));
    size_t i = 0, j = 0, n = 0;
    while (i < ls->n || j < c->ext->n) {
        int cmp = i == ls->n ? 1 : j == c->ext->n ? -1 : strcmp(ls->v[i].name, c->ext->v[j].name);
        if (cmp <= 0) {
            c->merged[n++] = ls->v[i++];
            if (cmp == 0)
                j++;
        } else {
            c->merged[n++] = c->ext->v[j++];
        }
    }
    return (em_labels_t){c->merged, n};
}

static const char *ext_value(const em_labels_t *ext, const char *name)
{
    for (size_t i = 0; ext && i < ext->n; i++)
        if (strcmp(ext->v[i].name, name) == 0)
            return ext->v[i].value;
    return "";
}

typedef struct query_state {
    em_matcher_t *ms;
    const em_matcher_t **mp;
    size_t n_ms;
    em_querier_t *q;
    em_series_set_t *set;
} query_state_t;

static void query_close(query_state_t *st)
{
    em_series_set_close(st->set);
    em_querier_close(st->q);
    for (size_t i = 0; i < st->n_ms; i++)
        em_matcher_fini(&st->ms[i]);
    free(st->ms);
    free(st->mp);
    memset(st, 0, sizeof(*st));
}

/* Build the matchers (Prometheus's filterExtLabelsFromMatchers), open a querier over the query's range
 * and select. Returns EM_OK, or an error with the text for a 500 (as Prometheus answers both). */
static int query_open(read_ctx_t *c, const em_remote_query_t *rq, bool sorted, query_state_t *st,
                      em_err_t *err)
{
    int rc = EM_OK;
    memset(st, 0, sizeof(*st));
    st->ms = em_calloc(rq->n_matchers ? rq->n_matchers : 1, sizeof(em_matcher_t));
    st->mp = em_calloc(rq->n_matchers ? rq->n_matchers : 1, sizeof(em_matcher_t *));
    for (size_t i = 0; i < rq->n_matchers; i++) {
        const em_remote_matcher_t *rm = &rq->matchers[i];
        const char *value = rm->value;
        if (rm->type == EM_MATCH_EQ && strcmp(ext_value(c->ext, rm->name), value) == 0)
            value = "";
        rc = em_matcher_init(&st->ms[i], rm->type, rm->name, value, err);
        if (rc != EM_OK)
            goto out;
        st->mp[i] = &st->ms[i];
        st->n_ms++;
    }
    if (rq->n_matchers == 0) {
        /* Prometheus's index intersects nothing: no series. */
        st->set = em_series_set_empty();
        goto out;
    }
    rc = em_queryable_querier(c->qa, rq->start_ms, rq->end_ms, &st->q, err);
    if (rc != EM_OK)
        goto out;
    em_select_hints_t hints = {.start_ms = rq->start_ms, .end_ms = rq->end_ms};
    if (rq->has_hints) {
        hints = (em_select_hints_t){.start_ms = rq->hints.start_ms,
                                    .end_ms = rq->hints.end_ms,
                                    .step_ms = rq->hints.step_ms,
                                    .func = rq->hints.func[0] ? rq->hints.func : NULL,
                                    .range_ms = rq->hints.range_ms};
    }
    rc = em_querier_select(st->q, sorted, &hints, st->mp, st->n_ms, &st->set, err);
out:
    if (rc != EM_OK)
        query_close(st);
    return rc;
}

static int set_error(em_series_set_t *set, int rc, em_err_t *err)
{
    const char *detail = set->ops->err(set);
    return em_err_set(err, rc, "%s", detail ? detail : em_strerror(rc));
}

/* Append one query's QueryResult. Returns EM_OK, EM_ELIMIT (sample limit; message set), EM_ECANCELED
 * or a storage error. */
static int samples_query(read_ctx_t *c, const em_remote_query_t *rq, em_remote_read_enc_t *enc, em_err_t *err)
{
    query_state_t st;
    int rc = query_open(c, rq, true, &st, err);
    if (rc != EM_OK)
        return rc;
    int64_t total = 0, limit = c->o->sample_limit;
    em_remote_read_enc_query_begin(enc);
    while ((rc = em_series_set_next(st.set)) == EM_OK) {
        if (c->canceled && *c->canceled) {
            rc = em_err_set(err, EM_ECANCELED, "the client went away");
            break;
        }
        em_sample_iter_t *it = NULL;
        rc = em_series_set_samples(st.set, &it);
        if (rc != EM_OK)
            break;
        size_t n = 0;
        while ((rc = em_sample_iter_next(it)) == EM_OK) {
            if (limit > 0 && ++total > limit) {
                rc = em_err_set(err, EM_ELIMIT, "exceeded sample limit (%lld)", (long long)limit);
                break;
            }
            em_grow((void **)&c->samples, &c->samples_cap, n + 1, sizeof(em_remote_sample_t));
            em_sample_iter_at(it, &c->samples[n].t_ms, &c->samples[n].v);
            n++;
        }
        em_sample_iter_free(it);
        if (rc != EM_DONE)
            break;
        rc = EM_OK;
        if (n == 0)
            continue;
        em_labels_t ls = em_series_set_labels(st.set);
        em_labels_t merged = merge_ext(c, &ls);
        em_remote_read_enc_series(enc, &merged, c->samples, n);
        em_counter_add(m.samples, n);
    }
    if (rc == EM_DONE)
        rc = EM_OK;
    else if (rc != EM_ELIMIT && rc != EM_ECANCELED && (!err || !err->msg[0]))
        set_error(st.set, rc, err);
    if (rc == EM_OK)
        em_remote_read_enc_query_end(enc);
    query_close(&st);
    return rc;
}

/* Stream one query's series as frames into 'out', handing 'out' to the flush callback as it fills. */
static int chunks_query(read_ctx_t *c, const em_remote_query_t *rq, int64_t index,
                        em_remote_chunked_enc_t *enc, api_read_resp_t *resp, em_err_t *err)
{
    query_state_t st;
    int rc = query_open(c, rq, true, &st, err);
    if (rc != EM_OK)
        return rc;
    em_buf_t *out = &resp->body;
    while ((rc = em_series_set_next(st.set)) == EM_OK) {
        if (c->canceled && *c->canceled) {
            rc = em_err_set(err, EM_ECANCELED, "the client went away");
            break;
        }
        em_chunk_iter_t *it = NULL;
        rc = em_series_set_chunks(st.set, &it);
        if (rc != EM_OK)
            break;
        em_labels_t ls = em_series_set_labels(st.set);
        em_labels_t merged = merge_ext(c, &ls);
        size_t frames = enc->n_frames;
        em_remote_chunked_enc_series_begin(enc, index, &merged);
        while ((rc = em_chunk_iter_next(it)) == EM_OK) {
            em_chunk_ref_t ref;
            em_chunk_iter_at(it, &ref);
            em_remote_chunked_enc_chunk(enc, &ref, out);
        }
        em_remote_chunked_enc_series_end(enc, out);
        em_chunk_iter_free(it);
        em_counter_add(m.frames, enc->n_frames - frames);
        if (rc != EM_DONE)
            break;
        rc = EM_OK;
        if (c->o->flush && out->len >= c->o->flush_bytes) {
            resp->streamed = true;
            rc = c->o->flush(out, c->o->flush_arg);
            if (rc != EM_OK) {
                em_err_set(err, rc, "the client went away");
                break;
            }
        }
    }
    if (rc == EM_DONE)
        rc = EM_OK;
    else if (rc != EM_ECANCELED && (!err || !err->msg[0]))
        set_error(st.set, rc, err);
    query_close(&st);
    return rc;
}

static void answer_samples(read_ctx_t *c, const em_remote_read_req_t *r, api_read_resp_t *resp)
{
    em_err_t err;
    em_remote_read_enc_t enc;
    em_remote_read_enc_init(&enc);
    for (size_t i = 0; i < r->n_queries; i++) {
        em_err_clear(&err);
        int rc = samples_query(c, &r->queries[i], &enc, &err);
        if (rc != EM_OK) {
            resp_error(resp, rc == EM_ELIMIT ? 400 : 500, err.msg);
            goto out;
        }
    }
    em_remote_read_enc_finish_buf(&enc, &resp->body);
    resp->status = 200;
    resp->content_type = EM_REMOTE_READ_CT_SAMPLES;
    resp->snappy = true;
out:
    em_remote_read_enc_fini(&enc);
}

static void answer_chunks(read_ctx_t *c, const em_remote_read_req_t *r, api_read_resp_t *resp)
{
    em_err_t err;
    em_remote_chunked_enc_t enc;
    em_remote_chunked_enc_init(&enc, c->o->max_bytes_in_frame);
    resp->status = 200;
    resp->content_type = EM_REMOTE_READ_CT_CHUNKED;
    resp->snappy = false;
    em_buf_reset(&resp->body);
    for (size_t i = 0; i < r->n_queries; i++) {
        em_err_clear(&err);
        int rc = chunks_query(c, &r->queries[i], (int64_t)i, &enc, resp, &err);
        if (rc != EM_OK) {
            bool streamed = resp->streamed;
            resp_error(resp, 500, err.msg);
            resp->streamed = streamed;
            break;
        }
    }
    em_remote_chunked_enc_fini(&enc);
}

void api_read_body(em_queryable_t *qa, const void *body, size_t len, const em_labels_t *ext,
                   const api_read_opts_t *o, const volatile int *canceled, api_read_resp_t *resp)
{
    metrics_init();
    em_err_t err;
    em_remote_read_req_t r;
    em_remote_read_req_init(&r);
    resp->streamed = false;
    int rc = em_remote_read_req_decode(
        &r, body, len, o->max_decoded_bytes ? o->max_decoded_bytes : EM_REMOTE_DEFAULT_MAX_DECODED_BYTES,
        &err);
    em_remote_read_type_t type = EM_REMOTE_READ_SAMPLES;
    if (rc == EM_OK)
        rc = em_remote_read_negotiate(&r, &type, &err);
    if (rc != EM_OK) {
        resp_error(resp, 400, err.msg);
        goto out;
    }
    read_ctx_t c = {.qa = qa, .ext = ext, .o = o, .canceled = canceled};
    if (type == EM_REMOTE_READ_STREAMED_XOR_CHUNKS)
        answer_chunks(&c, &r, resp);
    else
        answer_samples(&c, &r, resp);
    free(c.merged);
    free(c.samples);
out:
    if (resp->status != 200)
        em_counter_inc(m.requests_failed);
    em_remote_read_req_fini(&r);
}

/* ---- the concurrency limit: a gate requests wait at, as Prometheus's gate.Gate ---- */

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_in; /* Locks: gate_mu */

/* Wait for a slot; false when the client went away first. Polls the cancel flag every 100 ms. */
static bool gate_enter(int limit, const em_http_job_t *job)
{
    if (limit <= 0)
        return true;
    bool ok = true;
    pthread_mutex_lock(&gate_mu);
    while (gate_in >= limit) {
        if (em_http_job_canceled(job)) {
            ok = false;
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&gate_cv, &gate_mu, &ts);
    }
    if (ok)
        gate_in++;
    pthread_mutex_unlock(&gate_mu);
    return ok;
}

static void gate_leave(int limit)
{
    if (limit <= 0)
        return;
    pthread_mutex_lock(&gate_mu);
    gate_in--;
    pthread_cond_signal(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

/* ---- the handler ---- */

/* Streamed answers go to the connection in pieces of about this size. */
#define STREAM_PIECE_BYTES (256u << 10)

typedef struct read_job {
    em_server_t *s;
    em_http_job_t *job;
    em_buf_t body;
    api_read_resp_t resp;
} read_job_t;

/* api_read_opts_t.flush: start the HTTP stream at the first piece, then hand pieces over. */
static int stream_flush(em_buf_t *out, void *arg)
{
    read_job_t *j = arg;
    if (!em_http_stream_started(j->job))
        em_http_stream_start(j->job, 200, EM_REMOTE_READ_CT_CHUNKED, NULL);
    return em_http_stream_write(j->job, out);
}

/* The rest of a streamed answer. An error after frames went out cannot change the status any more:
 * like Prometheus, append its text, which the client's frame reader reports as a corrupt frame
 * rather than taking a cut stream for a complete one. */
static void stream_end(read_job_t *j)
{
    if (em_http_job_canceled(j->job))
        return; /* nobody is reading any more */
    if (j->resp.status != 200) {
        j->resp.body.data[j->resp.body.len - 1] = '\0'; /* the log line without the newline */
        em_warn("web", "Remote read stream failed after it started", "err=%s", em_q(j->resp.body.data));
        j->resp.body.data[j->resp.body.len - 1] = '\n';
    }
    em_http_stream_write(j->job, &j->resp.body);
}

static void read_work(em_http_job_t *job, void *arg)
{
    read_job_t *j = arg;
    em_server_t *s = j->s;
    int limit = s->o.remote_read_concurrent_limit;
    em_gauge_add(m.queries, 1);
    if (!gate_enter(limit, job)) {
        resp_error(&j->resp, 503, "the client went away");
        goto out;
    }
    em_arena_t a;
    em_arena_init(&a);
    em_labels_t ext = server_external_labels(s, &a);
    api_read_opts_t o = {.sample_limit = s->o.remote_read_sample_limit,
                         .max_bytes_in_frame = s->o.remote_read_max_bytes_in_frame,
                         .flush = stream_flush,
                         .flush_arg = j,
                         .flush_bytes = STREAM_PIECE_BYTES};
    j->job = job;
    api_read_body(server_queryable(s), j->body.data, j->body.len, &ext, &o, em_http_job_cancel_flag(job),
                  &j->resp);
    if (em_http_stream_started(job))
        stream_end(j);
    em_arena_fini(&a);
    gate_leave(limit);
out:
    em_gauge_add(m.queries, -1);
    em_http_job_done(job);
}

static void read_finish(h2o_req_t *req, void *arg)
{
    read_job_t *j = arg;
    if (req) {
        if (j->resp.snappy)
            em_http_add_header(req, "Content-Encoding", "snappy");
        if (j->resp.status != 200)
            em_http_add_header(req, "X-Content-Type-Options", "nosniff");
        em_http_respond_buf(req, j->resp.status, j->resp.content_type, &j->resp.body);
    }
    em_buf_fini(&j->body);
    em_buf_fini(&j->resp.body);
    free(j);
}

int api_read(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    metrics_init();
    if (!api_ready(s, req))
        return 0;
    read_job_t *j = EM_NEW(read_job_t);
    j->s = s;
    /* The request's memory goes away if the client disconnects while the job runs: copy the body. */
    em_buf_append(&j->body, req->entity.base, req->entity.len);
    if (em_http_defer(req, s->pool, read_work, read_finish, j) != EM_OK) {
        em_buf_fini(&j->body);
        free(j);
    }
    return 0;
}
