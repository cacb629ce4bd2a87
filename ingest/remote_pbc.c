/* Design: see remote.h
 *
 * Decoders of what a remote read server sends (ReadResponse, ChunkedReadResponse frames), built on the
 * protobuf-c code generated from ingest/proto/remote.proto. They serve tests, tools and a future remote
 * read client; being a different implementation from our hand-written encoders is what makes round
 * trips through them a check of those encoders. protobuf-c allocates from the response's arena (its
 * free is a no-op), so one arena reset drops a whole decoded message.
 */
#include "ingest/remote.h"
#include "ingest/remote_int.h"

#include "base/hash.h"
#include "ingest/proto/remote.pb-c.h"

static void *arena_alloc(void *data, size_t n)
{
    return em_arena_alloc(data, n);
}

static void arena_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

static em_labels_t conv_labels(em_arena_t *a, Prometheus__Label **v, size_t n)
{
    em_label_t *ls = em_arena_alloc(a, sizeof(*ls) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        ls[i].name = v[i]->name;
        ls[i].value = v[i]->value;
    }
    return (em_labels_t){ls, n};
}

/* ---- ReadResponse ---- */

void em_remote_read_resp_init(em_remote_read_resp_t *r)
{
    r->results = NULL;
    r->n_results = 0;
    em_arena_init(&r->arena);
    em_buf_init(&r->buf);
}

void em_remote_read_resp_fini(em_remote_read_resp_t *r)
{
    em_arena_fini(&r->arena);
    em_buf_fini(&r->buf);
    em_remote_read_resp_init(r);
}

static void conv_result(em_arena_t *a, const Prometheus__QueryResult *q, em_remote_query_result_t *out)
{
    em_remote_ts_t *ts = em_arena_alloc(a, sizeof(*ts) * (q->n_timeseries ? q->n_timeseries : 1));
    for (size_t i = 0; i < q->n_timeseries; i++) {
        const Prometheus__TimeSeries *t = q->timeseries[i];
        ts[i].labels = conv_labels(a, t->labels, t->n_labels);
        em_remote_sample_t *s = em_arena_alloc(a, sizeof(*s) * (t->n_samples ? t->n_samples : 1));
        for (size_t j = 0; j < t->n_samples; j++) {
            s[j].t_ms = t->samples[j]->timestamp;
            s[j].v = t->samples[j]->value;
        }
        ts[i].samples = s;
        ts[i].n_samples = t->n_samples;
    }
    out->series = ts;
    out->n_series = q->n_timeseries;
}

int em_remote_read_resp_decode(em_remote_read_resp_t *r, const void *body, size_t len,
                               size_t max_decoded_bytes, em_err_t *err)
{
    r->results = NULL;
    r->n_results = 0;
    em_arena_reset(&r->arena);
    int rc = remote_snappy_decode(body, len, max_decoded_bytes, &r->buf, err);
    if (rc)
        return rc;
    ProtobufCAllocator al = {arena_alloc, arena_free, &r->arena};
    Prometheus__ReadResponse *m =
        prometheus__read_response__unpack(&al, r->buf.len, (const uint8_t *)r->buf.data);
    if (!m)
        return em_err_set(err, EM_ECORRUPT, "proto: malformed ReadResponse");
    em_remote_query_result_t *res =
        em_arena_alloc(&r->arena, sizeof(*res) * (m->n_results ? m->n_results : 1));
    for (size_t i = 0; i < m->n_results; i++)
        conv_result(&r->arena, m->results[i], &res[i]);
    r->results = res;
    r->n_results = m->n_results;
    return EM_OK;
}

/* ---- ChunkedReadResponse frames ---- */

void em_remote_chunked_resp_init(em_remote_chunked_resp_t *r)
{
    r->query_index = 0;
    r->series = NULL;
    r->n_series = 0;
    em_arena_init(&r->arena);
}

void em_remote_chunked_resp_fini(em_remote_chunked_resp_t *r)
{
    em_arena_fini(&r->arena);
    em_remote_chunked_resp_init(r);
}

static void conv_chunked(em_arena_t *a, const Prometheus__ChunkedReadResponse *m, em_remote_chunked_resp_t *r)
{
    size_t n = m->n_chunked_series;
    em_remote_chunked_series_t *ss = em_arena_alloc(a, sizeof(*ss) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        const Prometheus__ChunkedSeries *cs = m->chunked_series[i];
        ss[i].labels = conv_labels(a, cs->labels, cs->n_labels);
        em_chunk_ref_t *cr = em_arena_alloc(a, sizeof(*cr) * (cs->n_chunks ? cs->n_chunks : 1));
        for (size_t j = 0; j < cs->n_chunks; j++) {
            const Prometheus__Chunk *c = cs->chunks[j];
            cr[j].mint_ms = c->min_time_ms;
            cr[j].maxt_ms = c->max_time_ms;
            cr[j].encoding = (uint8_t)c->type;
            cr[j].data = c->data.data;
            cr[j].len = c->data.len;
        }
        ss[i].chunks = cr;
        ss[i].n_chunks = cs->n_chunks;
    }
    r->series = ss;
    r->n_series = n;
    r->query_index = m->query_index;
}

int em_remote_chunked_decode_frame(em_remote_chunked_resp_t *r, const void *p, size_t n, size_t max_msg_bytes,
                                   size_t *consumed, em_err_t *err)
{
    const uint8_t *b = p;
    uint64_t msg_len = 0;
    size_t k = n ? em_uvarint_get(b, b + n, &msg_len) : 0;
    if (k == 0) {
        if (n >= 10)
            return em_err_set(err, EM_ECORRUPT, "chunkedReader: bad frame length varint");
        return EM_DONE;
    }
    /* Prometheus's ChunkedReader words both of these so. */
    if (msg_len > max_msg_bytes)
        return em_err_set(err, EM_ELIMIT,
                          "chunkedReader: message size exceeded the limit %zu bytes; got: %llu bytes",
                          max_msg_bytes, (unsigned long long)msg_len);
    if (n - k < 4 || n - k - 4 < msg_len)
        return EM_DONE;
    const uint8_t *msg = b + k + 4;
    if (em_crc32c(0, msg, (size_t)msg_len) != em_be32(b + k))
        return em_err_set(err, EM_ECORRUPT, "chunkedReader: corrupted frame; checksum mismatch");
    r->series = NULL;
    r->n_series = 0;
    r->query_index = 0;
    em_arena_reset(&r->arena);
    ProtobufCAllocator al = {arena_alloc, arena_free, &r->arena};
    Prometheus__ChunkedReadResponse *m = prometheus__chunked_read_response__unpack(&al, (size_t)msg_len, msg);
    if (!m)
        return em_err_set(err, EM_ECORRUPT, "proto: malformed ChunkedReadResponse");
    conv_chunked(&r->arena, m, r);
    *consumed = k + 4 + (size_t)msg_len;
    return EM_OK;
}
