/* Design: see server.h. This file: POST /api/v1/write, the remote write 1.0 receiver.
 *
 * REQUEST STATES
 *     loop:   check headers, copy the body into a job        --defer-->
 *     pool:   decode (ingest/remote.h), check every series, fill a batch, em_head_append (async)
 *     shard:  the last shard to log the batch to its WAL completes it --> em_http_job_done
 *     loop:   answer 204, or 400 naming the first bad series, or 500 when the WAL failed
 * A job (body copy, decoder, batch) is recycled through a small free list, so a steady stream of requests
 * allocates nothing. The answer is sent only after every sample of the request is in the WAL.
 *
 * POLICY. Unlike Prometheus 2.42, which rolls back a whole request when one sample is out of order, every
 * valid sample is stored first; then a request with any rejected series or sample is answered 400 with
 * the first problem, naming the series (a 400 tells the sender not to retry it, so one bad sample does
 * not block a queue forever). Exact duplicates (same timestamp and value) are accepted silently, as in
 * Prometheus. A WAL failure answers 500, which senders retry.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "engine/head.h"
#include "ingest/metastore.h"
#include "ingest/remote.h"
#include "net/api.h"
#include "net/server_int.h"

#define MAX_FREE_JOBS 64
#define MAX_MESSAGE 1024

typedef struct write_job {
    struct write_job *next_free;
    em_server_t *s;
    em_http_job_t *job;
    em_buf_t body;
    em_remote_write_t dec;
    em_batch_t *batch;
    int status;
    em_buf_t msg;
    uint32_t *batch_to_series; /* batch series index -> decoded series index, for messages */
    size_t cap_map;
} write_job_t;

static pthread_mutex_t free_mu = PTHREAD_MUTEX_INITIALIZER;
static write_job_t *free_jobs; /* Locks: free_mu */
static size_t n_free;          /* Locks: free_mu */

static struct {
    em_counter_t *samples, *bytes, *decoded_bytes, *invalid_series, *histograms, *bad_requests;
} m;

static void metrics_register(void)
{
    m.samples = em_counter_new("ember_remote_write_samples_received_total",
                               "Samples received through remote write (before storage rules).", NULL);
    m.bytes = em_counter_new("ember_remote_write_bytes_received_total",
                             "Remote write request bodies received, compressed bytes.", NULL);
    m.decoded_bytes = em_counter_new("ember_remote_write_decoded_bytes_total",
                                     "Remote write request bodies after snappy decompression, bytes.", NULL);
    m.invalid_series = em_counter_new("ember_remote_write_invalid_series_total",
                                      "Series refused because their labels were invalid.", NULL);
    m.histograms = em_counter_new("ember_remote_write_native_histogram_series_total",
                                  "Series refused because they carried native histograms.", NULL);
    m.bad_requests = em_counter_new("ember_remote_write_malformed_requests_total",
                                    "Remote write requests refused as undecodable.", NULL);
}

static void metrics_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, metrics_register);
}

static write_job_t *job_get(em_server_t *s)
{
    pthread_mutex_lock(&free_mu);
    write_job_t *j = free_jobs;
    if (j) {
        free_jobs = j->next_free;
        n_free--;
    }
    pthread_mutex_unlock(&free_mu);
    if (!j) {
        j = EM_NEW(write_job_t);
        em_remote_write_init(&j->dec);
        j->batch = em_batch_new();
    }
    j->s = s;
    j->status = 204;
    em_buf_reset(&j->body);
    em_buf_reset(&j->msg);
    return j;
}

static void job_put(write_job_t *j)
{
    pthread_mutex_lock(&free_mu);
    if (n_free < MAX_FREE_JOBS) {
        j->next_free = free_jobs;
        free_jobs = j;
        n_free++;
        j = NULL;
    }
    pthread_mutex_unlock(&free_mu);
    if (j) {
        em_remote_write_fini(&j->dec);
        em_batch_free(j->batch);
        em_buf_fini(&j->body);
        em_buf_fini(&j->msg);
        free(j->batch_to_series);
        free(j);
    }
}

static const char *metric_type_name(int32_t t)
{
    switch (t) {
    case EM_REMOTE_METRIC_COUNTER: return "counter";
    case EM_REMOTE_METRIC_GAUGE: return "gauge";
    case EM_REMOTE_METRIC_HISTOGRAM: return "histogram";
    case EM_REMOTE_METRIC_GAUGEHISTOGRAM: return "gaugehistogram";
    case EM_REMOTE_METRIC_SUMMARY: return "summary";
    case EM_REMOTE_METRIC_INFO: return "info";
    case EM_REMOTE_METRIC_STATESET: return "stateset";
    default: return "unknown";
    }
}

static void fail(write_job_t *j, int status, const char *msg)
{
    if (j->status == 204 || (status == 500 && j->status != 500)) {
        j->status = status;
        em_buf_reset(&j->msg);
        em_buf_puts(&j->msg, msg);
    }
}

/* Called on the shard thread that completed the batch. */
static void on_stored(em_batch_t *b, void *arg)
{
    write_job_t *j = arg;
    const em_batch_result_t *r = em_batch_result(b);
    if (r->wal_error != EM_OK) {
        fail(j, 500, "write-ahead log failure; the request can be retried");
    } else if (r->first_error_sample >= 0) {
        size_t i = (size_t)r->first_error_sample;
        uint32_t bs = em_batch_sample_series(b, i);
        em_labels_t ls = em_batch_series_labels(b, bs);
        em_buf_t msg = EM_BUF_INIT;
        em_buf_printf(&msg, "%s for series ", em_sample_status_str(em_batch_sample_status(b, i)));
        em_labels_format(&ls, &msg);
        uint64_t rejected = r->out_of_order + r->duplicate + r->out_of_bounds;
        em_buf_printf(&msg, " (%llu of %zu samples rejected; the others were stored)", (unsigned long long)rejected,
                      em_batch_n_samples(b));
        fail(j, 400, msg.data);
        em_buf_fini(&msg);
    }
    /* Prometheus: an append that makes the head compactable triggers the block cut at once. */
    if (j->s->db)
        em_db_wake(j->s->db);
    em_http_job_done(j->job);
}

static void write_work(em_http_job_t *job, void *arg)
{
    write_job_t *j = arg;
    em_server_t *s = j->s;
    em_err_t err;
    j->job = job;
    int rc = em_remote_write_decode(&j->dec, j->body.data, j->body.len, EM_REMOTE_DEFAULT_MAX_DECODED_BYTES, &err);
    if (rc != EM_OK) {
        em_counter_inc(m.bad_requests);
        fail(j, rc == EM_ELIMIT ? 413 : 400, err.msg);
        em_http_job_done(job);
        return;
    }
    em_counter_add(m.decoded_bytes, j->dec.decoded_bytes);
    for (size_t i = 0; i < j->dec.n_metadata; i++) {
        const em_remote_metadata_t *md = &j->dec.metadata[i];
        em_metastore_add(s->metadata, md->family, metric_type_name(md->type), md->help, md->unit);
    }
    em_batch_t *b = j->batch;
    em_batch_reset(b);
    size_t received = 0;
    for (size_t i = 0; i < j->dec.n_series; i++) {
        const em_remote_series_t *rs = &j->dec.series[i];
        received += rs->n_samples;
        rc = em_remote_series_check(rs, &err);
        if (rc != EM_OK) {
            em_counter_inc(rc == EM_EUNSUPPORTED ? m.histograms : m.invalid_series);
            fail(j, 400, err.msg);
            continue;
        }
        if (rs->n_samples == 0)
            continue;
        em_batch_add_series(b, &rs->labels, false, 0);
        for (size_t k = 0; k < rs->n_samples; k++)
            em_batch_add_sample(b, rs->samples[k].t_ms, rs->samples[k].v);
    }
    em_counter_add(m.samples, received);
    if (em_batch_n_series(b) == 0) {
        em_http_job_done(job);
        return;
    }
    /* May block while a shard's queue is full: back-pressure reaches the sender through this worker. */
    if (em_head_append(s->head, b, on_stored, j) != EM_OK) {
        fail(j, 503, "storage is shutting down");
        em_http_job_done(job);
    }
}

static void write_finish(h2o_req_t *req, void *arg)
{
    write_job_t *j = arg;
    if (req) {
        if (j->status == 204) {
            em_http_respond(req, 204, NULL, "", 0);
        } else {
            if (j->msg.len > MAX_MESSAGE)
                j->msg.len = MAX_MESSAGE;
            em_buf_putc(&j->msg, '\n');
            em_http_respond(req, j->status, "text/plain; charset=utf-8", j->msg.data, j->msg.len);
        }
    }
    job_put(j);
}

int api_write(h2o_req_t *req, void *arg)
{
    em_server_t *s = arg;
    metrics_init();
    if (!s->o.enable_remote_write) {
        static const char msg[] = "remote write receiver needs to be enabled with --web.enable-remote-write-receiver\n";
        em_http_respond(req, 404, "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
        return 0;
    }
    if (!api_ready(s, req))
        return 0;
    const char *ct = em_http_header(req, "content-type");
    if (ct && strstr(ct, "io.prometheus.write.v2.Request")) {
        static const char msg[] = "remote write 2.0 is not supported; send prometheus.WriteRequest (1.0)\n";
        em_http_respond(req, 415, "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
        return 0;
    }
    const char *ce = em_http_header(req, "content-encoding");
    if (ce && strcasecmp(ce, "snappy") != 0) {
        static const char msg[] = "unsupported Content-Encoding: only snappy is accepted\n";
        em_http_respond(req, 415, "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
        return 0;
    }
    write_job_t *j = job_get(s);
    /* The request's memory goes away if the client disconnects while the job runs: copy the body. */
    em_buf_append(&j->body, req->entity.base, req->entity.len);
    em_counter_add(m.bytes, req->entity.len);
    if (em_http_defer(req, s->ingest_pool, write_work, write_finish, j) != EM_OK)
        job_put(j);
    return 0;
}
