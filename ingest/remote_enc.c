/* Design: see remote.h
 *
 * The hand-written encoders: WriteRequest (hot for load generators: each series is sized first and then
 * written through a cursor into reserved room, no per-field calls), ReadRequest, ReadResponse and framed
 * ChunkedReadResponse messages. Fields are written in field-number order and protobuf 3 defaults (0, "",
 * +0.0) are omitted, as Go's protobuf does, so our bytes equal Prometheus's for the same content.
 */
#include "ingest/remote.h"
#include "ingest/remote_int.h"

#include <assert.h>
#include <string.h>

#include "base/hash.h"

/* ---- WriteRequest ---- */

void em_remote_write_enc_init(em_remote_write_enc_t *e)
{
    em_buf_init(&e->pb);
    em_buf_init(&e->meta);
    em_buf_init(&e->out);
    e->n_series = e->n_samples = 0;
}

void em_remote_write_enc_fini(em_remote_write_enc_t *e)
{
    em_buf_fini(&e->pb);
    em_buf_fini(&e->meta);
    em_buf_fini(&e->out);
    em_remote_write_enc_init(e);
}

void em_remote_write_enc_reset(em_remote_write_enc_t *e)
{
    em_buf_reset(&e->pb);
    em_buf_reset(&e->meta);
    em_buf_reset(&e->out);
    e->n_series = e->n_samples = 0;
}

void em_remote_write_enc_series(em_remote_write_enc_t *e, const em_labels_t *ls, const em_remote_sample_t *s,
                                size_t n)
{
    remote_pb_put_timeseries(&e->pb, 1, ls, s, n);
    e->n_series++;
    e->n_samples += n;
}

static void put_str(em_buf_t *b, uint32_t field, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n)
        remote_pb_put_len_field(b, field, s, n);
}

void em_remote_write_enc_metadata(em_remote_write_enc_t *e, em_remote_metric_type_t type, const char *family,
                                  const char *help, const char *unit)
{
    em_buf_t body = EM_BUF_INIT;
    remote_pb_put_varint_field(&body, 1, (uint64_t)(int64_t)type);
    put_str(&body, 2, family);
    put_str(&body, 4, help);
    put_str(&body, 5, unit);
    remote_pb_put_len_field(&e->meta, 3, body.data, body.len);
    em_buf_fini(&body);
}

void em_remote_write_enc_finish(em_remote_write_enc_t *e, const void **body, size_t *len, const void **pb,
                                size_t *pb_len)
{
    em_buf_append(&e->pb, e->meta.data, e->meta.len);
    em_buf_reset(&e->meta);
    em_buf_reserve(&e->pb, 0); /* data is non-NULL even for an empty request */
    remote_snappy_encode(e->pb.data, e->pb.len, &e->out);
    *body = e->out.data;
    *len = e->out.len;
    if (pb)
        *pb = e->pb.data;
    if (pb_len)
        *pb_len = e->pb.len;
}

/* ---- ReadRequest ---- */

static void put_matcher(em_buf_t *b, const em_remote_matcher_t *m)
{
    em_buf_t body = EM_BUF_INIT;
    remote_pb_put_varint_field(&body, 1, (uint64_t)m->type);
    put_str(&body, 2, m->name);
    put_str(&body, 3, m->value);
    remote_pb_put_len_field(b, 3, body.data, body.len);
    em_buf_fini(&body);
}

static void put_hints(em_buf_t *b, const em_remote_hints_t *h)
{
    em_buf_t body = EM_BUF_INIT;
    remote_pb_put_varint_field(&body, 1, (uint64_t)h->step_ms);
    put_str(&body, 2, h->func);
    remote_pb_put_varint_field(&body, 3, (uint64_t)h->start_ms);
    remote_pb_put_varint_field(&body, 4, (uint64_t)h->end_ms);
    for (size_t i = 0; i < h->n_grouping; i++)
        remote_pb_put_len_field(&body, 5, h->grouping[i],
                                strlen(h->grouping[i])); /* repeated: "" is written */
    remote_pb_put_varint_field(&body, 6, h->by ? 1 : 0);
    remote_pb_put_varint_field(&body, 7, (uint64_t)h->range_ms);
    remote_pb_put_len_field(b, 4, body.data, body.len);
    em_buf_fini(&body);
}

void em_remote_read_req_encode(const em_remote_query_t *qs, size_t n_queries,
                               const em_remote_read_type_t *accepted, size_t n_accepted, em_buf_t *out)
{
    em_buf_t msg = EM_BUF_INIT, q = EM_BUF_INIT, z = EM_BUF_INIT;
    for (size_t i = 0; i < n_queries; i++) {
        em_buf_reset(&q);
        remote_pb_put_varint_field(&q, 1, (uint64_t)qs[i].start_ms);
        remote_pb_put_varint_field(&q, 2, (uint64_t)qs[i].end_ms);
        for (size_t j = 0; j < qs[i].n_matchers; j++)
            put_matcher(&q, &qs[i].matchers[j]);
        if (qs[i].has_hints)
            put_hints(&q, &qs[i].hints);
        remote_pb_put_len_field(&msg, 1, q.data, q.len);
    }
    if (n_accepted) {
        em_buf_reset(&q);
        for (size_t i = 0; i < n_accepted; i++)
            em_buf_put_uvarint(&q, (uint64_t)accepted[i]);
        remote_pb_put_len_field(&msg, 2, q.data, q.len);
    }
    em_buf_reserve(&msg, 0);
    remote_snappy_encode(msg.data, msg.len, &z);
    em_buf_append(out, z.data, z.len);
    em_buf_fini(&msg);
    em_buf_fini(&q);
    em_buf_fini(&z);
}

/* ---- ReadResponse (SAMPLES) ---- */

void em_remote_read_enc_init(em_remote_read_enc_t *e)
{
    em_buf_init(&e->msg);
    em_buf_init(&e->out);
    e->in_query = false;
    e->n_queries = 0;
}

void em_remote_read_enc_fini(em_remote_read_enc_t *e)
{
    em_buf_fini(&e->msg);
    em_buf_fini(&e->out);
    em_remote_read_enc_init(e);
}

void em_remote_read_enc_reset(em_remote_read_enc_t *e)
{
    em_buf_reset(&e->msg);
    em_buf_reset(&e->out);
    e->in_query = false;
    e->n_queries = 0;
}

/* A QueryResult is written in place in 'msg' behind QUERY_HDR_MAX bytes kept for its tag and length;
 * query_end writes the real header and moves the body down over the unused bytes (at most 10), so a
 * large answer is not copied from one buffer into another. */
#define QUERY_HDR_MAX 11

void em_remote_read_enc_query_begin(em_remote_read_enc_t *e)
{
    assert(!e->in_query);
    e->query_at = e->msg.len;
    em_buf_reserve(&e->msg, QUERY_HDR_MAX);
    e->msg.len += QUERY_HDR_MAX;
    e->in_query = true;
}

void em_remote_read_enc_series(em_remote_read_enc_t *e, const em_labels_t *ls, const em_remote_sample_t *s,
                               size_t n)
{
    assert(e->in_query);
    remote_pb_put_timeseries(&e->msg, 1, ls, s, n);
}

void em_remote_read_enc_query_end(em_remote_read_enc_t *e)
{
    assert(e->in_query);
    size_t body_at = e->query_at + QUERY_HDR_MAX, body_len = e->msg.len - body_at;
    uint8_t hdr[QUERY_HDR_MAX];
    uint8_t *h = hdr;
    h = pb_put_varint(h, PB_TAG(1, PB_LEN));
    h = pb_put_varint(h, body_len);
    size_t hl = (size_t)(h - hdr);
    memmove(e->msg.data + e->query_at + hl, e->msg.data + body_at, body_len);
    memcpy(e->msg.data + e->query_at, hdr, hl);
    e->msg.len -= QUERY_HDR_MAX - hl;
    e->msg.data[e->msg.len] = '\0';
    e->in_query = false;
    e->n_queries++;
}

size_t em_remote_read_enc_size(const em_remote_read_enc_t *e)
{
    return e->msg.len;
}

void em_remote_read_enc_finish(em_remote_read_enc_t *e, const void **body, size_t *len)
{
    assert(!e->in_query);
    em_buf_reserve(&e->msg, 0);
    remote_snappy_encode(e->msg.data, e->msg.len, &e->out);
    *body = e->out.data;
    *len = e->out.len;
}

void em_remote_read_enc_finish_buf(em_remote_read_enc_t *e, em_buf_t *out)
{
    assert(!e->in_query);
    em_buf_reserve(&e->msg, 0);
    remote_snappy_encode(e->msg.data, e->msg.len, out);
}

/* ---- ChunkedReadResponse frames ---- */

void em_remote_chunked_enc_init(em_remote_chunked_enc_t *e, size_t max_frame_bytes)
{
    e->max_frame_bytes = max_frame_bytes ? max_frame_bytes : EM_REMOTE_READ_MAX_BYTES_IN_FRAME;
    e->query_index = 0;
    em_buf_init(&e->labels);
    em_buf_init(&e->chunks);
    e->n_chunks = 0;
    e->in_series = false;
    e->n_frames = 0;
}

void em_remote_chunked_enc_fini(em_remote_chunked_enc_t *e)
{
    em_buf_fini(&e->labels);
    em_buf_fini(&e->chunks);
    em_remote_chunked_enc_init(e, e->max_frame_bytes);
}

void em_remote_chunked_enc_series_begin(em_remote_chunked_enc_t *e, int64_t query_index,
                                        const em_labels_t *ls)
{
    assert(!e->in_series);
    e->query_index = query_index;
    em_buf_reset(&e->labels);
    em_buf_reset(&e->chunks);
    remote_pb_put_labels(&e->labels, 1, ls);
    e->n_chunks = 0;
    e->in_series = true;
}

/* Size of the ChunkedReadResponse holding the open series' labels and chunks_len bytes of Chunk fields. */
static size_t frame_msg_size(const em_remote_chunked_enc_t *e, size_t chunks_len)
{
    size_t qi = e->query_index ? 1 + em_uvarint_len((uint64_t)e->query_index) : 0;
    return pb_len_field_size(e->labels.len + chunks_len) + qi;
}

/* Append one frame with the pending chunks to out: uvarint(len) | be32 crc32c(msg) | msg. */
static void emit_frame(em_remote_chunked_enc_t *e, em_buf_t *out)
{
    size_t msg_len = frame_msg_size(e, e->chunks.len);
    em_buf_reserve(out, 10 + 4 + msg_len);
    em_buf_put_uvarint(out, msg_len);
    size_t crc_at = out->len;
    em_buf_put_be32(out, 0);
    size_t msg_at = out->len;
    uint8_t hdr[16];
    uint8_t *h = hdr;
    *h++ = (uint8_t)PB_TAG(1, PB_LEN);
    h = pb_put_varint(h, e->labels.len + e->chunks.len);
    em_buf_append(out, hdr, (size_t)(h - hdr));
    em_buf_append(out, e->labels.data, e->labels.len);
    em_buf_append(out, e->chunks.data, e->chunks.len);
    remote_pb_put_varint_field(out, 2, (uint64_t)e->query_index);
    assert(out->len - msg_at == msg_len);
    em_buf_set_be32(out, crc_at, em_crc32c(0, out->data + msg_at, msg_len));
    em_buf_reset(&e->chunks);
    e->n_chunks = 0;
    e->n_frames++;
}

void em_remote_chunked_enc_chunk(em_remote_chunked_enc_t *e, const em_chunk_ref_t *c, em_buf_t *out)
{
    assert(e->in_series);
    em_buf_t *b = &e->chunks;
    size_t body = (c->mint_ms ? 1 + em_uvarint_len((uint64_t)c->mint_ms) : 0) +
                  (c->maxt_ms ? 1 + em_uvarint_len((uint64_t)c->maxt_ms) : 0) +
                  (c->encoding ? 1 + em_uvarint_len(c->encoding) : 0) +
                  (c->len ? pb_len_field_size(c->len) : 0);
    /* Prometheus: at most one series per frame, a series split over frames by size. Cut before a chunk
     * that would take the frame past the limit (a lone chunk always goes out, whatever its size). */
    if (e->n_chunks > 0 && frame_msg_size(e, b->len + pb_len_field_size(body)) > e->max_frame_bytes)
        emit_frame(e, out);
    em_buf_reserve(b, pb_len_field_size(body));
    uint8_t hdr[16];
    uint8_t *h = hdr;
    *h++ = (uint8_t)PB_TAG(2, PB_LEN);
    h = pb_put_varint(h, body);
    em_buf_append(b, hdr, (size_t)(h - hdr));
    remote_pb_put_varint_field(b, 1, (uint64_t)c->mint_ms);
    remote_pb_put_varint_field(b, 2, (uint64_t)c->maxt_ms);
    remote_pb_put_varint_field(b, 3, c->encoding);
    if (c->len)
        remote_pb_put_len_field(b, 4, c->data, c->len);
    e->n_chunks++;
}

void em_remote_chunked_enc_series_end(em_remote_chunked_enc_t *e, em_buf_t *out)
{
    assert(e->in_series);
    if (e->n_chunks)
        emit_frame(e, out);
    e->in_series = false;
}
