/* Tests of ingest/remote.h: the remote write/read codecs.
 *
 * Independent references: vectors written by Google's protobuf (tests/tools/gen_remote_vectors.py),
 * bodies captured from a real Prometheus 2.42 (tests/tools/capture_prometheus_remote.py), protobuf-c's
 * decoder (generated from ingest/proto/remote.proto) compared field by field with the hand-written one,
 * and a real Prometheus accepting what the encoder writes. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <math.h>
#include <signal.h>
#include <snappy-c.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/hash.h"
#include "base/mem.h"
#include "common/rng.h"
#include "ingest/proto/remote.pb-c.h"
#include "ingest/remote.h"

#define DATA EMBER_SOURCE_DIR "/tests/unit/ingest/data/"
#define MAXD (1u << 20)

extern char **environ;

/* ---------------------------------------------------------------------------------------------------- */
/* helpers */

static em_buf_t slurp(const char *name)
{
    em_buf_t b = EM_BUF_INIT;
    FILE *f = fopen(name, "rb");
    cr_assert(f, "cannot open %s", name);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        em_buf_append(&b, tmp, n);
    fclose(f);
    em_buf_reserve(&b, 0);
    return b;
}

static uint64_t bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static void snappy_body(const void *pb, size_t n, em_buf_t *out)
{
    em_buf_reset(out);
    size_t cap = snappy_max_compressed_length(n);
    em_buf_reserve(out, cap);
    cr_assert_eq(snappy_compress(pb, n, out->data, &cap), SNAPPY_OK);
    out->len = cap;
}

/* Raw protobuf building, with explicit lengths (the encoder cannot write NULs or bad orders). */
static void put_field(em_buf_t *b, uint32_t field, const void *p, size_t n)
{
    em_buf_put_uvarint(b, field << 3 | 2);
    em_buf_put_uvarint(b, n);
    em_buf_append(b, p, n);
}

static void put_label(em_buf_t *ts, const char *name, size_t nl, const char *value, size_t vl)
{
    em_buf_t l = EM_BUF_INIT;
    put_field(&l, 1, name, nl);
    put_field(&l, 2, value, vl);
    put_field(ts, 1, l.data, l.len);
    em_buf_fini(&l);
}

/* A WriteRequest with one series made of "name=value" strings (no NULs) and one sample. */
static void one_series(em_buf_t *req, const char *const *kv, size_t n)
{
    em_buf_t ts = EM_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(kv[i], '=');
        put_label(&ts, kv[i], (size_t)(eq - kv[i]), eq + 1, strlen(eq + 1));
    }
    put_field(&ts, 2, "\x09\x00\x00\x00\x00\x00\x00\xf0\x3f\x10\x01", 11); /* 1.0 @ 1 */
    em_buf_reset(req);
    put_field(req, 1, ts.data, ts.len);
    em_buf_fini(&ts);
}

/* Decode req as a one-series request and return em_remote_series_check's verdict and message. */
static int check_one(const em_buf_t *req, em_err_t *err)
{
    em_remote_write_t w;
    em_remote_write_init(&w);
    cr_assert_eq(em_remote_write_decode_pb(&w, req->data, req->len, err), EM_OK, "%s", err->msg);
    cr_assert_eq(w.n_series, 1);
    int rc = em_remote_series_check(&w.series[0], err);
    em_remote_write_fini(&w);
    return rc;
}

/* Decode pb with protobuf-c and compare every field with the hand-written decoder's view. */
static void cross_check_with_protobuf_c(const em_remote_write_t *w, const em_buf_t *pb)
{
    Prometheus__WriteRequest *m = prometheus__write_request__unpack(NULL, pb->len, (const uint8_t *)pb->data);
    cr_assert(m, "protobuf-c refused a request the hand-written decoder accepted");
    cr_assert_eq(m->n_timeseries, w->n_series);
    size_t samples = 0;
    for (size_t i = 0; i < m->n_timeseries; i++) {
        const Prometheus__TimeSeries *t = m->timeseries[i];
        const em_remote_series_t *s = &w->series[i];
        cr_assert_eq(t->n_labels, s->labels.n, "series %zu", i);
        for (size_t j = 0; j < t->n_labels; j++) {
            cr_assert_str_eq(t->labels[j]->name, s->labels.v[j].name);
            cr_assert_str_eq(t->labels[j]->value, s->labels.v[j].value);
            cr_assert_eq(strlen(s->labels.v[j].name), s->label_lens[2 * j]);
            cr_assert_eq(strlen(s->labels.v[j].value), s->label_lens[2 * j + 1]);
        }
        cr_assert_eq(t->n_samples, s->n_samples);
        for (size_t j = 0; j < t->n_samples; j++) {
            cr_assert_eq(t->samples[j]->timestamp, s->samples[j].t_ms);
            cr_assert_eq(bits(t->samples[j]->value), bits(s->samples[j].v));
        }
        samples += t->n_samples;
        cr_assert_eq(t->n_exemplars, s->n_exemplars);
        for (size_t j = 0; j < t->n_exemplars; j++) {
            cr_assert_eq(t->exemplars[j]->timestamp, s->exemplars[j].t_ms);
            cr_assert_eq(bits(t->exemplars[j]->value), bits(s->exemplars[j].v));
            cr_assert_eq(t->exemplars[j]->n_labels, s->exemplars[j].labels.n);
            for (size_t k = 0; k < t->exemplars[j]->n_labels; k++)
                cr_assert_str_eq(t->exemplars[j]->labels[k]->value, s->exemplars[j].labels.v[k].value);
        }
        cr_assert_eq(t->n_histograms, s->n_histograms);
    }
    cr_assert_eq(samples, w->n_samples);
    cr_assert_eq(m->n_metadata, w->n_metadata);
    for (size_t i = 0; i < m->n_metadata; i++) {
        cr_assert_eq((int)m->metadata[i]->type, w->metadata[i].type);
        cr_assert_str_eq(m->metadata[i]->metric_family_name, w->metadata[i].family);
        cr_assert_str_eq(m->metadata[i]->help, w->metadata[i].help);
        cr_assert_str_eq(m->metadata[i]->unit, w->metadata[i].unit);
    }
    prometheus__write_request__free_unpacked(m, NULL);
}

static void decompress(const em_buf_t *body, em_buf_t *pb)
{
    size_t n;
    cr_assert_eq(snappy_uncompressed_length(body->data, body->len, &n), SNAPPY_OK);
    em_buf_reset(pb);
    em_buf_reserve(pb, n);
    cr_assert_eq(snappy_uncompress(body->data, body->len, pb->data, &n), SNAPPY_OK);
    pb->len = n;
}

static void assert_label(const em_remote_series_t *s, size_t i, const char *name, const char *value)
{
    cr_assert_lt(i, s->labels.n);
    cr_assert_str_eq(s->labels.v[i].name, name);
    cr_assert_str_eq(s->labels.v[i].value, value);
}

/* ---------------------------------------------------------------------------------------------------- */
/* remote write: decoding vectors from independent encoders */

Test(ingest_remote, decodes_python_protobuf_write_request_with_every_field)
{
    em_buf_t body = slurp(DATA "write_v1.snappy"), pb = EM_BUF_INIT;
    em_remote_write_t w;
    em_remote_write_init(&w);
    em_err_t err;
    cr_assert_eq(em_remote_write_decode(&w, body.data, body.len, MAXD, &err), EM_OK, "%s", err.msg);
    cr_assert_eq(w.n_series, 4);
    cr_assert_eq(w.n_samples, 5);
    cr_assert_eq(w.n_exemplars, 1);
    cr_assert_eq(w.n_histograms, 2);

    const em_remote_series_t *s = &w.series[0];
    assert_label(s, 0, "__name__", "up");
    assert_label(s, 1, "instance", "localhost:9090");
    assert_label(s, 2, "job", "prometheus");
    cr_assert_eq(s->n_samples, 2);
    cr_assert_eq(s->samples[0].t_ms, 1700000000000);
    cr_assert_eq(s->samples[0].v, 1.0);
    cr_assert_eq(s->samples[1].t_ms, 1700000015000);
    cr_assert_eq(bits(s->samples[1].v), 0); /* omitted on the wire: protobuf default */

    s = &w.series[1];
    cr_assert_eq(bits(s->samples[0].v), 0x7ff0000000000002ull, "stale marker bits kept");
    cr_assert_eq(s->samples[0].t_ms, -1000, "negative timestamps are 10-byte varints");
    cr_assert(isinf(s->samples[1].v));
    cr_assert_eq(s->samples[1].t_ms, 0);

    s = &w.series[2];
    assert_label(s, 1, "city", "naïve ☃");
    cr_assert_eq(s->samples[0].v, -12.5);
    cr_assert_eq(s->n_exemplars, 1);
    cr_assert_eq(s->exemplars[0].t_ms, 1700000000123);
    cr_assert_eq(s->exemplars[0].v, 0.5);
    cr_assert_eq(s->exemplars[0].labels.n, 1);
    cr_assert_str_eq(s->exemplars[0].labels.v[0].name, "trace_id");
    cr_assert_str_eq(s->exemplars[0].labels.v[0].value, "abc123");

    s = &w.series[3];
    cr_assert_eq(s->n_histograms, 2);
    cr_assert_eq(s->n_samples, 0);

    cr_assert_eq(w.n_metadata, 2);
    cr_assert_eq(w.metadata[0].type, EM_REMOTE_METRIC_COUNTER);
    cr_assert_str_eq(w.metadata[0].family, "http_requests_total");
    cr_assert_str_eq(w.metadata[0].help, "Total HTTP requests.");
    cr_assert_str_eq(w.metadata[0].unit, "");
    cr_assert_eq(w.metadata[1].type, EM_REMOTE_METRIC_GAUGE);
    cr_assert_str_eq(w.metadata[1].unit, "celsius");
    cr_assert_eq(w.metadata[1].unit_len, 7);

    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(em_remote_series_check(&w.series[i], &err), EM_OK, "series %zu: %s", i, err.msg);
    cr_assert_eq(em_remote_series_check(&w.series[3], &err), EM_EUNSUPPORTED);
    cr_assert_str_eq(err.msg,
                     "native histograms are not supported, got series {__name__=\"latency_seconds\", "
                     "job=\"api\"} with 2 histogram samples");

    decompress(&body, &pb);
    cr_assert_eq(w.decoded_bytes, pb.len);
    cross_check_with_protobuf_c(&w, &pb);
    em_remote_write_fini(&w);
    em_buf_fini(&body);
    em_buf_fini(&pb);
}

Test(ingest_remote, uncompressed_decode_equals_snappy_decode)
{
    em_buf_t pb = slurp(DATA "write_v1.pb");
    em_remote_write_t w;
    em_remote_write_init(&w);
    cr_assert_eq(em_remote_write_decode_pb(&w, pb.data, pb.len, NULL), EM_OK);
    cr_assert_eq(w.n_series, 4);
    cross_check_with_protobuf_c(&w, &pb);
    em_remote_write_fini(&w);
    em_buf_fini(&pb);
}

Test(ingest_remote, skips_unknown_fields_of_every_wire_type_at_every_level)
{
    em_buf_t pb = slurp(DATA "write_unknown_fields.pb");
    em_remote_write_t w;
    em_remote_write_init(&w);
    em_err_t err;
    cr_assert_eq(em_remote_write_decode_pb(&w, pb.data, pb.len, &err), EM_OK, "%s", err.msg);
    cr_assert_eq(w.n_series, 1);
    assert_label(&w.series[0], 0, "__name__", "up");
    assert_label(&w.series[0], 1, "job", "x");
    cr_assert_eq(w.series[0].n_samples, 1);
    cr_assert_eq(w.series[0].samples[0].t_ms, 5);
    cr_assert_eq(w.series[0].samples[0].v, 2.0);
    cr_assert_eq(w.n_metadata, 1);
    cr_assert_str_eq(w.metadata[0].family, "up");
    cross_check_with_protobuf_c(&w, &pb);
    em_remote_write_fini(&w);
    em_buf_fini(&pb);
}

Test(ingest_remote, decodes_real_prometheus_2_42_remote_write_body)
{
    em_buf_t body = slurp(DATA "prometheus-2.42-write.snappy"), pb = EM_BUF_INIT;
    em_remote_write_t w;
    em_remote_write_init(&w);
    em_err_t err;
    cr_assert_eq(em_remote_write_decode(&w, body.data, body.len, MAXD, &err), EM_OK, "%s", err.msg);
    cr_assert_eq(w.n_series, 377);
    cr_assert_eq(w.n_samples, 377);
    for (size_t i = 0; i < w.n_series; i++) {
        cr_assert_eq(em_remote_series_check(&w.series[i], &err), EM_OK, "series %zu: %s", i, err.msg);
        cr_assert_str_eq(em_labels_get(&w.series[i].labels, "job"), "prometheus");
    }
    assert_label(&w.series[0], 0, "__name__", "go_gc_duration_seconds");
    assert_label(&w.series[0], 3, "quantile", "0");
    decompress(&body, &pb);
    cross_check_with_protobuf_c(&w, &pb);
    em_remote_write_fini(&w);
    em_buf_fini(&body);
    em_buf_fini(&pb);
}

Test(ingest_remote, decodes_real_prometheus_2_42_metadata_body)
{
    em_buf_t body = slurp(DATA "prometheus-2.42-metadata.snappy"), pb = EM_BUF_INIT;
    em_remote_write_t w;
    em_remote_write_init(&w);
    cr_assert_eq(em_remote_write_decode(&w, body.data, body.len, MAXD, NULL), EM_OK);
    cr_assert_eq(w.n_series, 0);
    cr_assert_eq(w.n_metadata, 193);
    cr_assert_eq(w.metadata[0].type, EM_REMOTE_METRIC_GAUGE);
    cr_assert_str_eq(w.metadata[0].family, "go_memstats_stack_inuse_bytes");
    cr_assert_str_eq(w.metadata[0].help, "Number of bytes in use by the stack allocator.");
    decompress(&body, &pb);
    cross_check_with_protobuf_c(&w, &pb);
    em_remote_write_fini(&w);
    em_buf_fini(&body);
    em_buf_fini(&pb);
}

Test(ingest_remote, one_decoder_object_is_reused_across_requests_of_different_sizes)
{
    em_buf_t big = slurp(DATA "prometheus-2.42-write.snappy"), small = slurp(DATA "write_v1.snappy");
    em_remote_write_t w;
    em_remote_write_init(&w);
    for (int round = 0; round < 3; round++) {
        cr_assert_eq(em_remote_write_decode(&w, big.data, big.len, MAXD, NULL), EM_OK);
        cr_assert_eq(w.n_series, 377);
        cr_assert_eq(em_remote_write_decode(&w, small.data, small.len, MAXD, NULL), EM_OK);
        cr_assert_eq(w.n_series, 4);
        assert_label(&w.series[2], 1, "city", "naïve ☃");
    }
    em_remote_write_fini(&w);
    em_buf_fini(&big);
    em_buf_fini(&small);
}

/* ---------------------------------------------------------------------------------------------------- */
/* remote write: encoding */

Test(ingest_remote, encoder_writes_the_same_bytes_as_google_protobuf)
{
    em_buf_t want = slurp(DATA "write_for_encoder.pb");
    em_remote_write_enc_t e;
    em_remote_write_enc_init(&e);
    for (int i = 0; i < 3; i++) {
        char cpu[2] = {(char)('0' + i), 0};
        em_label_t v[] = {{"__name__", "node_cpu_seconds_total"},
                          {"cpu", cpu},
                          {"instance", "host-00001:9100"},
                          {"job", "node"},
                          {"mode", "idle"}};
        em_labels_t ls = {v, 5};
        em_remote_sample_t s = {1700000000000 + i, 1234.56 + i};
        em_remote_write_enc_series(&e, &ls, &s, 1);
    }
    em_label_t v1[] = {{"__name__", "empty_series"}};
    em_labels_t l1 = {v1, 1};
    em_remote_write_enc_series(&e, &l1, NULL, 0);
    em_label_t v2[] = {{"__name__", "zero"}, {"job", "node"}};
    em_labels_t l2 = {v2, 2};
    em_remote_sample_t s2[] = {{0, 0.0}, {-5, -1.0}};
    em_remote_write_enc_series(&e, &l2, s2, 2);
    em_remote_write_enc_metadata(&e, EM_REMOTE_METRIC_COUNTER, "node_cpu_seconds_total",
                                 "Seconds the CPUs spent in each mode.", NULL);
    em_remote_write_enc_metadata(&e, EM_REMOTE_METRIC_STATESET, "x", "", "u");
    const void *body, *pb;
    size_t len, pb_len;
    em_remote_write_enc_finish(&e, &body, &len, &pb, &pb_len);
    cr_assert_eq(pb_len, want.len);
    cr_assert(memcmp(pb, want.data, want.len) == 0, "encoded bytes differ from Google's protobuf");

    /* The snappy body decodes back to the same content. */
    em_remote_write_t w;
    em_remote_write_init(&w);
    cr_assert_eq(em_remote_write_decode(&w, body, len, MAXD, NULL), EM_OK);
    cr_assert_eq(w.n_series, 5);
    cr_assert_eq(w.n_samples, 5);
    cr_assert_eq(w.series[4].samples[1].t_ms, -5);
    cr_assert_eq(w.n_metadata, 2);
    cr_assert_str_eq(w.metadata[1].unit, "u");
    em_remote_write_fini(&w);
    em_remote_write_enc_fini(&e);
    em_buf_fini(&want);
}

Test(ingest_remote, random_requests_round_trip_bit_exactly)
{
    const uint64_t seed = 20240601;
    rng_seed(seed);
    em_arena_t a;
    em_arena_init(&a);
    em_remote_write_enc_t e;
    em_remote_write_enc_init(&e);
    em_remote_write_t w;
    em_remote_write_init(&w);
    static const double special[] = {0.0, -0.0, INFINITY, -INFINITY, 1e-310, 1.7976931348623157e308};
    for (int round = 0; round < 50; round++) {
        em_arena_reset(&a);
        em_remote_write_enc_reset(&e);
        size_t n_series = 1 + rng() % 40;
        em_labels_t *sets = em_arena_alloc(&a, sizeof(*sets) * n_series);
        em_remote_sample_t **samples = em_arena_alloc(&a, sizeof(*samples) * n_series);
        size_t *ns = em_arena_alloc(&a, sizeof(*ns) * n_series);
        for (size_t i = 0; i < n_series; i++) {
            size_t nl = 1 + rng() % 10;
            em_label_t *v = em_arena_alloc(&a, sizeof(*v) * nl);
            for (size_t j = 0; j < nl; j++) {
                char name[32], value[300];
                snprintf(name, sizeof(name), "l%02zu", j);
                size_t vl = 1 + rng() % 250;
                for (size_t k = 0; k < vl; k++)
                    value[k] = (char)('a' + rng() % 26);
                value[vl] = 0;
                v[j].name = j == 0 ? "__name__" : em_arena_strdup(&a, name);
                v[j].value = em_arena_strdup(&a, value);
            }
            sets[i] = (em_labels_t){v, nl};
            ns[i] = rng() % 5;
            samples[i] = em_arena_alloc(&a, sizeof(em_remote_sample_t) * (ns[i] ? ns[i] : 1));
            for (size_t j = 0; j < ns[i]; j++) {
                uint64_t r = rng();
                samples[i][j].t_ms =
                    (int64_t)(r % 3 == 0 ? -(int64_t)(rng() % 100000) : (int64_t)(rng() >> 20));
                if (r % 5 == 0) {
                    samples[i][j].v = special[rng() % 6];
                } else {
                    uint64_t b = rng();
                    memcpy(&samples[i][j].v, &b, 8); /* any bit pattern, NaNs included */
                }
            }
            em_remote_write_enc_series(&e, &sets[i], samples[i], ns[i]);
        }
        const void *body;
        size_t len;
        em_remote_write_enc_finish(&e, &body, &len, NULL, NULL);
        cr_assert_eq(em_remote_write_decode(&w, body, len, 16u << 20, NULL), EM_OK, "seed %llu round %d",
                     (unsigned long long)seed, round);
        cr_assert_eq(w.n_series, n_series);
        for (size_t i = 0; i < n_series; i++) {
            cr_assert(em_labels_equal(&w.series[i].labels, &sets[i]), "seed %llu round %d series %zu",
                      (unsigned long long)seed, round, i);
            cr_assert_eq(w.series[i].n_samples, ns[i]);
            for (size_t j = 0; j < ns[i]; j++) {
                cr_assert_eq(w.series[i].samples[j].t_ms, samples[i][j].t_ms);
                cr_assert_eq(bits(w.series[i].samples[j].v), bits(samples[i][j].v), "seed %llu round %d",
                             (unsigned long long)seed, round);
            }
        }
    }
    em_remote_write_fini(&w);
    em_remote_write_enc_fini(&e);
    em_arena_fini(&a);
}

/* ---------------------------------------------------------------------------------------------------- */
/* remote write: malformed input, each with its exact error */

static void expect_pb_error(const void *p, size_t n, int code, const char *msg)
{
    em_remote_write_t w;
    em_remote_write_init(&w);
    em_err_t err;
    em_err_clear(&err);
    int rc = em_remote_write_decode_pb(&w, p, n, &err);
    cr_assert_eq(rc, code, "rc %d (%s)", rc, err.msg);
    cr_assert_str_eq(err.msg, msg);
    cr_assert_eq(w.n_series, 0, "no views after an error");
    em_remote_write_fini(&w);
}

Test(ingest_remote, rejects_truncated_varint)
{
    expect_pb_error("\x0a", 1, EM_ECORRUPT, "proto: truncated varint in WriteRequest at byte 1");
    expect_pb_error("\x0a\x80", 2, EM_ECORRUPT, "proto: truncated varint in WriteRequest at byte 1");
    expect_pb_error("\x88", 1, EM_ECORRUPT, "proto: truncated varint in WriteRequest at byte 0");
}

Test(ingest_remote, rejects_varint_over_64_bits)
{
    expect_pb_error("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 11, EM_ECORRUPT,
                    "proto: varint overflows 64 bits in WriteRequest at byte 1");
}

Test(ingest_remote, rejects_wrong_wire_types_of_known_fields)
{
    expect_pb_error(
        "\x08\x01", 2, EM_ECORRUPT,
        "proto: wrong wire type 0 for field 1 (WriteRequest.timeseries) in WriteRequest at byte 0");
    /* TimeSeries{labels: Label{name as varint}} */
    expect_pb_error("\x0a\x04\x0a\x02\x08\x01", 6, EM_ECORRUPT,
                    "proto: wrong wire type 0 for field 1 (Label.name) in Label at byte 4 (timeseries 0)");
    /* TimeSeries{samples: Sample{value as varint}} */
    expect_pb_error("\x0a\x04\x12\x02\x08\x01", 6, EM_ECORRUPT,
                    "proto: wrong wire type 0 for field 1 (Sample.value) in Sample at byte 4 (timeseries 0)");
    /* TimeSeries{samples: Sample{timestamp as fixed64}} */
    expect_pb_error(
        "\x0a\x0b\x12\x09\x11\x01\x02\x03\x04\x05\x06\x07\x08", 13, EM_ECORRUPT,
        "proto: wrong wire type 1 for field 2 (Sample.timestamp) in Sample at byte 4 (timeseries 0)");
    /* metadata as a varint */
    expect_pb_error("\x18\x01", 2, EM_ECORRUPT,
                    "proto: wrong wire type 0 for field 3 (WriteRequest.metadata) in WriteRequest at byte 0");
}

Test(ingest_remote, rejects_lengths_past_the_end)
{
    expect_pb_error("\x0a\x05\x0a", 3, EM_ECORRUPT,
                    "proto: length 5 past the end of the message (1 bytes left) in WriteRequest at byte 1");
    /* a Label whose length runs past its TimeSeries, though not past the buffer */
    expect_pb_error("\x0a\x02\x0a\x05\x00\x00\x00\x00\x00", 9, EM_ECORRUPT,
                    "proto: length 5 past the end of the message (0 bytes left) in TimeSeries at byte 3 "
                    "(timeseries 0)");
    /* a string running past its Label */
    expect_pb_error(
        "\x0a\x04\x0a\x02\x0a\x09", 6, EM_ECORRUPT,
        "proto: length 9 past the end of the message (0 bytes left) in Label at byte 5 (timeseries 0)");
    /* the second series is the broken one */
    expect_pb_error("\x0a\x00\x0a\x03\x12\x01\x09", 7, EM_ECORRUPT,
                    "proto: truncated 8-byte field in Sample at byte 6 (timeseries 1)");
}

Test(ingest_remote, rejects_illegal_tags_and_groups)
{
    expect_pb_error("\x0f", 1, EM_ECORRUPT, "proto: illegal wire type 7 in WriteRequest at byte 0");
    expect_pb_error("\x02\x00", 2, EM_ECORRUPT, "proto: illegal field number 0 in WriteRequest at byte 0");
    expect_pb_error("\x13\x14", 2, EM_ECORRUPT,
                    "proto: groups are not supported (wire type 3) in WriteRequest at byte 0");
    expect_pb_error(
        "\x0b\x0c", 2, EM_ECORRUPT,
        "proto: wrong wire type 3 for field 1 (WriteRequest.timeseries) in WriteRequest at byte 0");
    expect_pb_error("\x1a\x02\x1d\x01", 4, EM_ECORRUPT,
                    "proto: truncated 4-byte field in MetricMetadata at byte 2 (metadata 0)");
}

Test(ingest_remote, accepts_empty_request_and_non_minimal_varints)
{
    em_remote_write_t w;
    em_remote_write_init(&w);
    cr_assert_eq(em_remote_write_decode_pb(&w, "", 0, NULL), EM_OK);
    cr_assert_eq(w.n_series, 0);
    /* tag 0x0a written as two bytes, length 0 as two bytes: legal protobuf */
    cr_assert_eq(em_remote_write_decode_pb(&w, "\x8a\x00\x80\x00", 4, NULL), EM_OK);
    cr_assert_eq(w.n_series, 1);
    cr_assert_eq(w.series[0].labels.n, 0);
    em_remote_write_fini(&w);
}

Test(ingest_remote, keeps_last_of_repeated_singular_fields_and_minus_zero)
{
    /* Label{name "a", name "__name__", value "x"}, Sample{value -0.0, timestamp 1, timestamp 2} */
    const char req[] = "\x0a\x21"
                       "\x0a\x10\x0a\x01"
                       "a"
                       "\x0a\x08"
                       "__name__"
                       "\x12\x01"
                       "x"
                       "\x12\x0d\x09\x00\x00\x00\x00\x00\x00\x00\x80\x10\x01\x10\x02";
    em_remote_write_t w;
    em_remote_write_init(&w);
    em_err_t err;
    cr_assert_eq(em_remote_write_decode_pb(&w, req, sizeof(req) - 1, &err), EM_OK, "%s", err.msg);
    assert_label(&w.series[0], 0, "__name__", "x");
    cr_assert_eq(w.series[0].samples[0].t_ms, 2);
    cr_assert_eq(bits(w.series[0].samples[0].v), 0x8000000000000000ull);
    em_remote_write_fini(&w);
}

Test(ingest_remote, rejects_bad_snappy_with_go_snappy_wording)
{
    em_remote_write_t w;
    em_remote_write_init(&w);
    em_err_t err;
    cr_assert_eq(em_remote_write_decode(&w, "", 0, MAXD, &err), EM_ECORRUPT);
    cr_assert_str_eq(err.msg, "snappy: corrupt input");
    /* declares 16 bytes, then a literal of 4 bytes and a copy reaching before the start */
    const char bad[] = "\x10\x0c"
                       "abcd"
                       "\x05\x10";
    cr_assert_eq(em_remote_write_decode(&w, bad, sizeof(bad) - 1, MAXD, &err), EM_ECORRUPT);
    cr_assert_str_eq(err.msg, "snappy: corrupt input");
    /* a valid body, truncated */
    em_buf_t body = slurp(DATA "prometheus-2.42-write.snappy");
    cr_assert_eq(em_remote_write_decode(&w, body.data, body.len / 2, MAXD, &err), EM_ECORRUPT);
    cr_assert_str_eq(err.msg, "snappy: corrupt input");
    cr_assert_eq(w.n_series, 0);
    em_buf_fini(&body);
    em_remote_write_fini(&w);
}

Test(ingest_remote, refuses_declared_length_over_the_limit_before_decompressing)
{
    em_remote_write_t w;
    em_remote_write_init(&w);
    em_err_t err;
    /* 100 MiB declared, nothing behind it: must be refused on the header alone */
    uint8_t hdr[10];
    size_t n = em_uvarint_put(hdr, 100u << 20);
    cr_assert_eq(em_remote_write_decode(&w, hdr, n, MAXD, &err), EM_ELIMIT);
    cr_assert_str_eq(err.msg, "snappy: decoded length 104857600 exceeds the limit of 1048576 bytes");
    cr_assert_lt(w.buf.cap, 1u << 20, "nothing was allocated for the declared size");
    /* at the limit exactly: accepted */
    em_buf_t pb = slurp(DATA "write_v1.pb"), body = EM_BUF_INIT;
    snappy_body(pb.data, pb.len, &body);
    cr_assert_eq(em_remote_write_decode(&w, body.data, body.len, pb.len, &err), EM_OK);
    cr_assert_eq(em_remote_write_decode(&w, body.data, body.len, pb.len - 1, &err), EM_ELIMIT);
    em_buf_fini(&pb);
    em_buf_fini(&body);
    em_remote_write_fini(&w);
}

/* ---------------------------------------------------------------------------------------------------- */
/* remote write: series checks */

static void expect_check(const char *const *kv, size_t n, int code, const char *msg)
{
    em_buf_t req = EM_BUF_INIT;
    one_series(&req, kv, n);
    em_err_t err;
    em_err_clear(&err);
    cr_assert_eq(check_one(&req, &err), code, "%s", err.msg);
    cr_assert_str_eq(err.msg, msg);
    em_buf_fini(&req);
}

Test(ingest_remote, check_rejects_unsorted_labels)
{
    const char *kv[] = {"__name__=a", "job=x", "instance=y"};
    expect_check(
        kv, 3, EM_EINVAL,
        "invalid metric name or labels, got {__name__=\"a\", job=\"x\", instance=\"y\"}: labels not sorted "
        "by name (instance after job)");
}

Test(ingest_remote, check_rejects_duplicate_label_names_in_prometheus_wording)
{
    const char *kv[] = {"__name__=a", "job=x", "job=y"};
    expect_check(
        kv, 3, EM_EINVAL,
        "invalid labels for series, labels {__name__=\"a\", job=\"x\", job=\"y\"}, duplicated label job");
}

Test(ingest_remote, check_rejects_missing_metric_name)
{
    const char *kv[] = {"instance=a", "job=x"};
    expect_check(kv, 2, EM_EINVAL,
                 "invalid metric name or labels, got {instance=\"a\", job=\"x\"}: missing __name__ label");
    const char *none[] = {NULL};
    expect_check(none, 0, EM_EINVAL, "invalid metric name or labels, got {}: missing __name__ label");
}

Test(ingest_remote, check_rejects_invalid_label_names)
{
    const char *kv[] = {"1bad=x", "__name__=a"};
    expect_check(
        kv, 2, EM_EINVAL,
        "invalid metric name or labels, got {\"1bad\"=\"x\", __name__=\"a\"}: invalid label name \"1bad\"");
    const char *dash[] = {"__name__=a", "a-b=x"};
    expect_check(
        dash, 2, EM_EINVAL,
        "invalid metric name or labels, got {__name__=\"a\", \"a-b\"=\"x\"}: invalid label name \"a-b\"");
    const char *empty[] = {"=x", "__name__=a"};
    expect_check(empty, 2, EM_EINVAL,
                 "invalid metric name or labels, got {\"\"=\"x\", __name__=\"a\"}: invalid label name \"\"");
}

Test(ingest_remote, check_rejects_empty_label_values)
{
    const char *kv[] = {"__name__=a", "job="};
    expect_check(kv, 2, EM_EINVAL,
                 "invalid metric name or labels, got {__name__=\"a\", job=\"\"}: empty value for label job");
}

Test(ingest_remote, check_rejects_invalid_utf8_and_nul_bytes_in_values)
{
    const char *kv[] = {"__name__=a", "job=\xff\xfe"};
    expect_check(
        kv, 2, EM_EINVAL,
        "invalid metric name or labels, got {__name__=\"a\", job=\"\\xff\\xfe\"}: value of label job is not "
        "valid UTF-8");
    const char *overlong[] = {"__name__=a", "job=abcdefgh\xc0\xaf"};
    expect_check(
        overlong, 2, EM_EINVAL,
        "invalid metric name or labels, got {__name__=\"a\", job=\"abcdefgh\\xc0\\xaf\"}: value of label job "
        "is not valid UTF-8");

    em_buf_t ts = EM_BUF_INIT, req = EM_BUF_INIT;
    put_label(&ts, "__name__", 8, "a", 1);
    put_label(&ts, "job", 3, "a\0b", 3);
    put_field(&req, 1, ts.data, ts.len);
    em_err_t err;
    cr_assert_eq(check_one(&req, &err), EM_EINVAL);
    cr_assert_str_eq(err.msg,
                     "invalid metric name or labels, got {__name__=\"a\", job=\"a\\x00b\"}: value of label "
                     "job contains a NUL byte");
    em_buf_fini(&ts);
    em_buf_fini(&req);
}

Test(ingest_remote, check_accepts_utf8_values_and_utf8_metric_names)
{
    const char *kv[] = {"__name__=http.server.duration", "city=Zürich", "emoji=☃ and more text past 8 bytes"};
    expect_check(kv, 3, EM_OK, "");
}

Test(ingest_remote, series_format_cuts_long_label_sets)
{
    char big[600];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    char kv0[700];
    snprintf(kv0, sizeof(kv0), "__name__=%s", big);
    const char *kv[] = {kv0};
    em_buf_t req = EM_BUF_INIT, out = EM_BUF_INIT;
    one_series(&req, kv, 1);
    em_remote_write_t w;
    em_remote_write_init(&w);
    cr_assert_eq(em_remote_write_decode_pb(&w, req.data, req.len, NULL), EM_OK);
    em_remote_series_format(&w.series[0], 100, &out);
    cr_assert_eq(out.len, 100);
    cr_assert(strncmp(out.data, "{__name__=\"vvv", 14) == 0);
    cr_assert_str_eq(out.data + 97, "...");
    em_remote_write_fini(&w);
    em_buf_fini(&req);
    em_buf_fini(&out);
}

/* ---------------------------------------------------------------------------------------------------- */
/* remote read: requests */

static void assert_matcher(const em_remote_matcher_t *m, em_match_type_t t, const char *name,
                           const char *value)
{
    cr_assert_eq(m->type, t);
    cr_assert_str_eq(m->name, name);
    cr_assert_str_eq(m->value, value);
}

static void assert_python_read_request(const em_remote_read_req_t *r)
{
    cr_assert_eq(r->n_queries, 2);
    const em_remote_query_t *q = &r->queries[0];
    cr_assert_eq(q->start_ms, 1700000000000);
    cr_assert_eq(q->end_ms, 1700003600000);
    cr_assert_eq(q->n_matchers, 4);
    assert_matcher(&q->matchers[0], EM_MATCH_EQ, "__name__", "up");
    assert_matcher(&q->matchers[1], EM_MATCH_NEQ, "job", "");
    assert_matcher(&q->matchers[2], EM_MATCH_RE, "instance", "local.*");
    assert_matcher(&q->matchers[3], EM_MATCH_NRE, "mode", "idle|iowait");
    cr_assert(q->has_hints);
    cr_assert_eq(q->hints.step_ms, 15000);
    cr_assert_str_eq(q->hints.func, "rate");
    cr_assert_eq(q->hints.start_ms, 1699999700000);
    cr_assert_eq(q->hints.end_ms, 1700003600000);
    cr_assert_eq(q->hints.n_grouping, 2);
    cr_assert_str_eq(q->hints.grouping[0], "job");
    cr_assert_str_eq(q->hints.grouping[1], "instance");
    cr_assert(q->hints.by);
    cr_assert_eq(q->hints.range_ms, 300000);
    q = &r->queries[1];
    cr_assert_eq(q->start_ms, -5000);
    cr_assert_eq(q->end_ms, 1000);
    cr_assert_eq(q->n_matchers, 1);
    assert_matcher(&q->matchers[0], EM_MATCH_EQ, "__name__", "x");
    cr_assert(!q->has_hints);
    cr_assert_str_eq(q->hints.func, "");
    cr_assert_eq(r->n_accepted, 2);
    cr_assert_eq(r->accepted[0], 1);
    cr_assert_eq(r->accepted[1], 0);
    em_remote_read_type_t t;
    cr_assert_eq(em_remote_read_negotiate(r, &t, NULL), EM_OK);
    cr_assert_eq(t, EM_REMOTE_READ_STREAMED_XOR_CHUNKS);
}

Test(ingest_remote, decodes_python_read_requests_packed_and_unpacked)
{
    em_remote_read_req_t r;
    em_remote_read_req_init(&r);
    em_err_t err;
    em_buf_t b = slurp(DATA "read_request.snappy");
    cr_assert_eq(em_remote_read_req_decode(&r, b.data, b.len, MAXD, &err), EM_OK, "%s", err.msg);
    assert_python_read_request(&r);
    em_buf_fini(&b);
    b = slurp(DATA "read_request_unpacked.pb");
    cr_assert_eq(em_remote_read_req_decode_pb(&r, b.data, b.len, &err), EM_OK, "%s", err.msg);
    assert_python_read_request(&r);
    em_buf_fini(&b);
    em_remote_read_req_fini(&r);
}

Test(ingest_remote, decodes_real_prometheus_2_42_read_request)
{
    em_remote_read_req_t r;
    em_remote_read_req_init(&r);
    em_buf_t b = slurp(DATA "prometheus-2.42-read-request.snappy");
    cr_assert_eq(em_remote_read_req_decode(&r, b.data, b.len, MAXD, NULL), EM_OK);
    cr_assert_eq(r.n_queries, 1);
    const em_remote_query_t *q = &r.queries[0];
    cr_assert_eq(q->end_ms - q->start_ms, 300000, "Prometheus asks for its 5m lookback");
    cr_assert_eq(q->n_matchers, 1);
    assert_matcher(&q->matchers[0], EM_MATCH_EQ, "__name__", "up");
    cr_assert(q->has_hints);
    cr_assert_eq(q->hints.start_ms, q->start_ms);
    cr_assert_eq(r.n_accepted, 0);
    em_remote_read_type_t t;
    cr_assert_eq(em_remote_read_negotiate(&r, &t, NULL), EM_OK);
    cr_assert_eq(t, EM_REMOTE_READ_SAMPLES, "no accepted types means SAMPLES");
    em_buf_fini(&b);
    em_remote_read_req_fini(&r);
}

Test(ingest_remote, read_request_encoder_round_trips_and_matches_protobuf_c)
{
    const char *grouping[] = {"job", ""};
    em_remote_matcher_t ms[] = {{EM_MATCH_NRE, "__name__", "go_.*"}, {EM_MATCH_EQ, "job", "prometheus"}};
    em_remote_query_t qs[2] = {0};
    qs[0] =
        (em_remote_query_t){.start_ms = -1, .end_ms = 99, .matchers = ms, .n_matchers = 2, .has_hints = true};
    qs[0].hints = (em_remote_hints_t){.step_ms = 60000, .func = "sum", .grouping = grouping, .n_grouping = 2};
    qs[1] = (em_remote_query_t){.start_ms = 0, .end_ms = 1, .matchers = ms + 1, .n_matchers = 1};
    em_remote_read_type_t acc[] = {EM_REMOTE_READ_SAMPLES};
    em_buf_t body = EM_BUF_INIT, pb = EM_BUF_INIT;
    em_remote_read_req_encode(qs, 2, acc, 1, &body);

    em_remote_read_req_t r;
    em_remote_read_req_init(&r);
    cr_assert_eq(em_remote_read_req_decode(&r, body.data, body.len, MAXD, NULL), EM_OK);
    cr_assert_eq(r.n_queries, 2);
    cr_assert_eq(r.queries[0].start_ms, -1);
    assert_matcher(&r.queries[0].matchers[0], EM_MATCH_NRE, "__name__", "go_.*");
    cr_assert_eq(r.queries[0].hints.n_grouping, 2);
    cr_assert_str_eq(r.queries[0].hints.grouping[1], "");
    assert_matcher(&r.queries[1].matchers[0], EM_MATCH_EQ, "job", "prometheus");
    cr_assert(!r.queries[1].has_hints);
    cr_assert_eq(r.n_accepted, 1);

    decompress(&body, &pb);
    Prometheus__ReadRequest *m = prometheus__read_request__unpack(NULL, pb.len, (const uint8_t *)pb.data);
    cr_assert(m);
    cr_assert_eq(m->n_queries, 2);
    cr_assert_eq(m->queries[0]->matchers[0]->type, PROMETHEUS__LABEL_MATCHER__TYPE__NRE);
    cr_assert_str_eq(m->queries[0]->hints->func, "sum");
    cr_assert_eq(m->n_accepted_response_types, 1);
    prometheus__read_request__free_unpacked(m, NULL);
    em_remote_read_req_fini(&r);
    em_buf_fini(&body);
    em_buf_fini(&pb);
}

static void expect_read_error(const void *p, size_t n, int code, const char *msg)
{
    em_remote_read_req_t r;
    em_remote_read_req_init(&r);
    em_err_t err;
    em_err_clear(&err);
    cr_assert_eq(em_remote_read_req_decode_pb(&r, p, n, &err), code, "%s", err.msg);
    cr_assert_str_eq(err.msg, msg);
    cr_assert_eq(r.n_queries, 0);
    em_remote_read_req_fini(&r);
}

Test(ingest_remote, read_request_errors_are_exact)
{
    /* Query{matchers: LabelMatcher{type: 7}} */
    expect_read_error("\x0a\x04\x1a\x02\x08\x07", 6, EM_EINVAL, "invalid matcher type");
    /* Query{matchers: LabelMatcher{value: "a\0"}} */
    expect_read_error("\x0a\x06\x1a\x04\x1a\x02"
                      "a\0",
                      8, EM_EINVAL, "remote read: matcher value contains a NUL byte");
    expect_read_error("\x0a\x03\x08", 3, EM_ECORRUPT,
                      "proto: length 3 past the end of the message (1 bytes left) in ReadRequest at byte 1");
    expect_read_error("\x0a\x01\x08", 3, EM_ECORRUPT, "proto: truncated varint in Query at byte 3 (query 0)");
    expect_read_error("\x0a\x02\x22\x00\x12\x01\x80", 7, EM_ECORRUPT,
                      "proto: truncated varint in ReadRequest at byte 6");
    expect_read_error("\x0a\x02\x20\x01", 4, EM_ECORRUPT,
                      "proto: wrong wire type 0 for field 4 (Query.hints) in Query at byte 2 (query 0)");
    expect_read_error(
        "\x15\x00\x00\x00\x00", 5, EM_ECORRUPT,
        "proto: wrong wire type 5 for field 2 (ReadRequest.accepted_response_types) in ReadRequest at "
        "byte 0");

    em_remote_read_req_t r;
    em_remote_read_req_init(&r);
    em_err_t err;
    uint8_t hdr[10];
    size_t n = em_uvarint_put(hdr, 5u << 20);
    cr_assert_eq(em_remote_read_req_decode(&r, hdr, n, MAXD, &err), EM_ELIMIT);
    cr_assert_str_eq(err.msg, "snappy: decoded length 5242880 exceeds the limit of 1048576 bytes");
    em_remote_read_req_fini(&r);
}

Test(ingest_remote, negotiation_fails_with_prometheus_wording_when_nothing_is_supported)
{
    em_remote_read_req_t r;
    em_remote_read_req_init(&r);
    em_err_t err;
    cr_assert_eq(em_remote_read_req_decode_pb(&r, "\x12\x02\x05\x07", 4, &err), EM_OK, "%s", err.msg);
    em_remote_read_type_t t;
    cr_assert_eq(em_remote_read_negotiate(&r, &t, &err), EM_EUNSUPPORTED);
    cr_assert_str_eq(err.msg,
                     "server does not support any of the requested response types: [5 7]; supported: "
                     "[SAMPLES STREAMED_XOR_CHUNKS]");
    cr_assert_eq(em_remote_read_req_decode_pb(&r, "\x12\x02\x05\x01", 4, &err), EM_OK);
    cr_assert_eq(em_remote_read_negotiate(&r, &t, &err), EM_OK);
    cr_assert_eq(t, EM_REMOTE_READ_STREAMED_XOR_CHUNKS,
                 "unknown types are passed over, in the client's order");
    em_remote_read_req_fini(&r);
}

/* ---------------------------------------------------------------------------------------------------- */
/* remote read: responses */

Test(ingest_remote, samples_response_encoder_writes_the_same_bytes_as_google_protobuf)
{
    em_buf_t want = slurp(DATA "read_response.pb"), pb = EM_BUF_INIT;
    em_remote_read_enc_t e;
    em_remote_read_enc_init(&e);
    em_remote_read_enc_query_begin(&e);
    em_label_t a[] = {{"__name__", "up"}, {"instance", "a:9100"}, {"job", "node"}};
    em_label_t b[] = {{"__name__", "up"}, {"instance", "b:9100"}, {"job", "node"}};
    em_labels_t la = {a, 3}, lb = {b, 3};
    em_remote_sample_t sa[3];
    for (int i = 0; i < 3; i++)
        sa[i] = (em_remote_sample_t){1700000000000 + 15000 * i, (double)i};
    em_remote_sample_t sb;
    uint64_t stale = 0x7ff0000000000002ull;
    sb.t_ms = 1700000000000;
    memcpy(&sb.v, &stale, 8);
    em_remote_read_enc_series(&e, &la, sa, 3);
    em_remote_read_enc_series(&e, &lb, &sb, 1);
    em_remote_read_enc_query_end(&e);
    em_remote_read_enc_query_begin(&e);
    em_remote_read_enc_query_end(&e);
    em_remote_read_enc_query_begin(&e);
    em_label_t x[] = {{"__name__", "x"}};
    em_labels_t lx = {x, 1};
    em_remote_read_enc_series(&e, &lx, NULL, 0);
    em_remote_read_enc_query_end(&e);
    cr_assert_eq(em_remote_read_enc_size(&e), want.len);
    const void *body;
    size_t len;
    em_remote_read_enc_finish(&e, &body, &len);
    em_buf_t bb = EM_BUF_INIT;
    em_buf_append(&bb, body, len);
    decompress(&bb, &pb);
    cr_assert_eq(pb.len, want.len);
    cr_assert(memcmp(pb.data, want.data, want.len) == 0);

    em_remote_read_resp_t r;
    em_remote_read_resp_init(&r);
    cr_assert_eq(em_remote_read_resp_decode(&r, body, len, MAXD, NULL), EM_OK);
    cr_assert_eq(r.n_results, 3);
    cr_assert_eq(r.results[0].n_series, 2);
    cr_assert(em_labels_equal(&r.results[0].series[1].labels, &lb));
    cr_assert_eq(bits(r.results[0].series[1].samples[0].v), stale);
    cr_assert_eq(r.results[0].series[0].samples[2].t_ms, 1700000030000);
    cr_assert_eq(r.results[1].n_series, 0);
    cr_assert_eq(r.results[2].series[0].n_samples, 0);
    em_remote_read_resp_fini(&r);
    em_remote_read_enc_fini(&e);
    em_buf_fini(&want);
    em_buf_fini(&pb);
    em_buf_fini(&bb);
}

Test(ingest_remote, decodes_real_prometheus_2_42_samples_response)
{
    em_buf_t b = slurp(DATA "prometheus-2.42-read-response.snappy");
    em_remote_read_resp_t r;
    em_remote_read_resp_init(&r);
    cr_assert_eq(em_remote_read_resp_decode(&r, b.data, b.len, MAXD, NULL), EM_OK);
    cr_assert_eq(r.n_results, 1);
    cr_assert_eq(r.results[0].n_series, 1);
    const em_remote_ts_t *s = &r.results[0].series[0];
    cr_assert_str_eq(em_labels_get(&s->labels, "__name__"), "prometheus_build_info");
    cr_assert_str_eq(em_labels_get(&s->labels, "version"), "2.42.0+ds");
    cr_assert_geq(s->n_samples, 1);
    cr_assert_eq(s->samples[0].v, 1.0);
    em_remote_read_resp_fini(&r);
    em_buf_fini(&b);
}

static em_chunk_ref_t chunk(int64_t mint, int64_t maxt, uint8_t *data, size_t n, uint8_t tag)
{
    data[0] = 0;
    data[1] = tag;
    for (size_t i = 2; i < n; i++)
        data[i] = (uint8_t)(7 * (i - 2) + tag);
    return (em_chunk_ref_t){mint, maxt, 1, data, n};
}

Test(ingest_remote, chunked_encoder_writes_the_same_frames_as_google_protobuf)
{
    em_buf_t want = slurp(DATA "chunked_frames.bin"), out = EM_BUF_INIT;
    em_remote_chunked_enc_t e;
    em_remote_chunked_enc_init(&e, 0);
    uint8_t d1[13], d2[14], d3[15];
    em_label_t a[] = {{"__name__", "a"}, {"job", "x"}};
    em_labels_t la = {a, 2};
    em_remote_chunked_enc_series_begin(&e, 0, &la);
    em_chunk_ref_t c1 = chunk(1000, 2000, d1, sizeof(d1), 1), c2 = chunk(2001, 3000, d2, sizeof(d2), 2);
    em_remote_chunked_enc_chunk(&e, &c1, &out);
    em_remote_chunked_enc_chunk(&e, &c2, &out);
    cr_assert_eq(out.len, 0, "nothing sent before the series ends or the frame fills");
    em_remote_chunked_enc_series_end(&e, &out);
    em_label_t b[] = {{"__name__", "b"}};
    em_labels_t lb = {b, 1};
    em_remote_chunked_enc_series_begin(&e, 1, &lb);
    em_chunk_ref_t c3 = chunk(-10, 10, d3, sizeof(d3), 3);
    em_remote_chunked_enc_chunk(&e, &c3, &out);
    em_remote_chunked_enc_series_end(&e, &out);
    cr_assert_eq(e.n_frames, 2);
    cr_assert_eq(out.len, want.len);
    cr_assert(memcmp(out.data, want.data, want.len) == 0);
    em_remote_chunked_enc_fini(&e);
    em_buf_fini(&want);
    em_buf_fini(&out);
}

Test(ingest_remote, chunked_decoder_reads_frames_one_by_one)
{
    em_buf_t in = slurp(DATA "chunked_frames.bin");
    em_remote_chunked_resp_t r;
    em_remote_chunked_resp_init(&r);
    size_t off = 0, used = 0;
    em_err_t err;
    cr_assert_eq(em_remote_chunked_decode_frame(&r, in.data, in.len, MAXD, &used, &err), EM_OK, "%s",
                 err.msg);
    cr_assert_eq(r.query_index, 0);
    cr_assert_eq(r.n_series, 1);
    cr_assert_str_eq(em_labels_get(&r.series[0].labels, "job"), "x");
    cr_assert_eq(r.series[0].n_chunks, 2);
    cr_assert_eq(r.series[0].chunks[1].mint_ms, 2001);
    cr_assert_eq(r.series[0].chunks[1].len, 14);
    cr_assert_eq(r.series[0].chunks[1].data[1], 2);
    cr_assert_eq(r.series[0].chunks[1].encoding, 1);
    off += used;
    /* a partial frame asks for more, whatever the cut */
    for (size_t cut = 0; cut < in.len - off; cut++)
        cr_assert_eq(em_remote_chunked_decode_frame(&r, in.data + off, cut, MAXD, &used, NULL), EM_DONE);
    cr_assert_eq(em_remote_chunked_decode_frame(&r, in.data + off, in.len - off, MAXD, &used, NULL), EM_OK);
    cr_assert_eq(r.query_index, 1);
    cr_assert_eq(r.series[0].chunks[0].mint_ms, -10);
    off += used;
    cr_assert_eq(off, in.len);
    cr_assert_eq(em_remote_chunked_decode_frame(&r, in.data + off, 0, MAXD, &used, NULL), EM_DONE);

    /* a flipped bit in the message fails the checksum; an oversize frame is refused on its length */
    in.data[10] ^= 1;
    cr_assert_eq(em_remote_chunked_decode_frame(&r, in.data, in.len, MAXD, &used, &err), EM_ECORRUPT);
    cr_assert_str_eq(err.msg, "chunkedReader: corrupted frame; checksum mismatch");
    cr_assert_eq(em_remote_chunked_decode_frame(&r, in.data, in.len, 20, &used, &err), EM_ELIMIT);
    cr_assert(strncmp(err.msg, "chunkedReader: message size exceeded the limit 20 bytes; got: ", 61) == 0,
              "%s", err.msg);
    em_remote_chunked_resp_fini(&r);
    em_buf_fini(&in);
}

Test(ingest_remote, decodes_real_prometheus_2_42_streamed_chunks)
{
    em_buf_t in = slurp(DATA "prometheus-2.42-read-chunked.bin");
    em_remote_chunked_resp_t r;
    em_remote_chunked_resp_init(&r);
    size_t off = 0, used, frames = 0;
    em_err_t err;
    int rc;
    while ((rc = em_remote_chunked_decode_frame(&r, in.data + off, in.len - off, MAXD, &used, &err)) ==
           EM_OK) {
        cr_assert_eq(r.n_series, 1);
        cr_assert_str_eq(em_labels_get(&r.series[0].labels, "__name__"), "prometheus_build_info");
        cr_assert_geq(r.series[0].n_chunks, 1);
        const em_chunk_ref_t *c = &r.series[0].chunks[0];
        cr_assert_eq(c->encoding, 1, "XOR");
        cr_assert_geq(c->len, 2);
        cr_assert_geq(em_be16(c->data), 1, "chunk data starts with its sample count");
        cr_assert_leq(c->mint_ms, c->maxt_ms);
        off += used;
        frames++;
    }
    cr_assert_eq(rc, EM_DONE, "%s", err.msg);
    cr_assert_eq(off, in.len);
    cr_assert_eq(frames, 1);
    em_remote_chunked_resp_fini(&r);
    em_buf_fini(&in);
}

Test(ingest_remote, chunked_encoder_splits_a_series_across_frames_within_the_limit)
{
    const size_t max = 400;
    em_remote_chunked_enc_t e;
    em_remote_chunked_enc_init(&e, max);
    em_buf_t out = EM_BUF_INIT;
    em_label_t a[] = {{"__name__", "node_cpu_seconds_total"}, {"cpu", "0"}, {"mode", "idle"}};
    em_labels_t la = {a, 3};
    static uint8_t data[12][120];
    em_remote_chunked_enc_series_begin(&e, 3, &la);
    for (int i = 0; i < 12; i++) {
        em_chunk_ref_t c = chunk(1000 * i, 1000 * i + 999, data[i], 100 + i, (uint8_t)i);
        em_remote_chunked_enc_chunk(&e, &c, &out);
    }
    em_remote_chunked_enc_series_end(&e, &out);
    /* a series without chunks sends nothing */
    em_remote_chunked_enc_series_begin(&e, 3, &la);
    em_remote_chunked_enc_series_end(&e, &out);
    /* one chunk larger than the limit still goes out, alone */
    static uint8_t huge[1000];
    em_label_t b[] = {{"__name__", "b"}};
    em_labels_t lb = {b, 1};
    em_remote_chunked_enc_series_begin(&e, 4, &lb);
    em_chunk_ref_t hc = chunk(5, 6, huge, sizeof(huge), 9);
    em_remote_chunked_enc_chunk(&e, &hc, &out);
    em_chunk_ref_t c2 = chunk(7, 8, data[0], 10, 1);
    em_remote_chunked_enc_chunk(&e, &c2, &out);
    em_remote_chunked_enc_series_end(&e, &out);

    em_remote_chunked_resp_t r;
    em_remote_chunked_resp_init(&r);
    size_t off = 0, used, frames = 0, chunks_a = 0;
    int64_t next_mint = 0;
    while (em_remote_chunked_decode_frame(&r, out.data + off, out.len - off, 1u << 20, &used, NULL) ==
           EM_OK) {
        size_t msg = used - 4 - em_uvarint_len(used);
        cr_assert_eq(r.n_series, 1, "one series per frame");
        if (r.query_index == 3) {
            cr_assert_leq(msg, max, "frame %zu has %zu bytes", frames, msg);
            cr_assert(em_labels_equal(&r.series[0].labels, &la), "every frame repeats the labels");
            for (size_t j = 0; j < r.series[0].n_chunks; j++) {
                cr_assert_eq(r.series[0].chunks[j].mint_ms, next_mint, "chunks in order");
                next_mint += 1000;
            }
            chunks_a += r.series[0].n_chunks;
        } else {
            cr_assert_eq(r.query_index, 4);
        }
        off += used;
        frames++;
    }
    cr_assert_eq(off, out.len);
    cr_assert_eq(chunks_a, 12);
    /* Labels take 60 bytes and each chunk field 112: a frame of 2 chunks has 289 bytes, of 3 it would have
     * 401, so 6 frames for series a; then the huge chunk alone and the small one for series b. */
    cr_assert_eq(frames, 8);
    cr_assert_eq(e.n_frames, 8);
    em_remote_chunked_resp_fini(&r);
    em_remote_chunked_enc_fini(&e);
    em_buf_fini(&out);
}

/* ---------------------------------------------------------------------------------------------------- */
/* the real thing: Prometheus 2.42 accepts what the encoder writes */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static size_t collect(char *p, size_t sz, size_t n, void *ud)
{
    em_buf_append(ud, p, sz * n);
    return sz * n;
}

/* POST body (or GET when NULL) to url; returns the HTTP status, the response in out. */
static long http(const char *url, const void *body, size_t len, em_buf_t *out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    em_buf_reset(out);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/x-protobuf");
        h = curl_slist_append(h, "Content-Encoding: snappy");
        h = curl_slist_append(h, "X-Prometheus-Remote-Write-Version: 0.1.0");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    em_buf_reserve(out, 0);
    return status;
}

Test(ingest_remote, encoder_output_is_accepted_by_a_real_prometheus, .timeout = 60)
{
    if (access("/usr/bin/prometheus", X_OK) != 0)
        cr_skip_test("/usr/bin/prometheus is not installed");
    char dir[] = "/tmp/ember-remote-test-XXXXXX";
    cr_assert(mkdtemp(dir));
    char cfg[256], data[256], listen[64], cfgarg[300], dataarg[300], url[128];
    snprintf(cfg, sizeof(cfg), "%s/prometheus.yml", dir);
    snprintf(data, sizeof(data), "%s/data", dir);
    FILE *f = fopen(cfg, "w");
    fputs("global: {scrape_interval: 1h}\n", f);
    fclose(f);
    int port = free_port();
    snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%d", port);
    snprintf(cfgarg, sizeof(cfgarg), "--config.file=%s", cfg);
    snprintf(dataarg, sizeof(dataarg), "--storage.tsdb.path=%s", data);
    char *argv[] = {"/usr/bin/prometheus", cfgarg, dataarg, listen, "--web.enable-remote-write-receiver",
                    "--log.level=error",   NULL};
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, argv[0], NULL, NULL, argv, environ), 0);

    /* Two series at a fixed time, one with a stale marker after a value. */
    em_remote_write_enc_t e;
    em_remote_write_enc_init(&e);
    int64_t t0 = 1700000000000;
    em_label_t a[] = {{"__name__", "ember_test_total"}, {"instance", "h:1"}, {"job", "ember"}};
    em_label_t b[] = {{"__name__", "ember_test_total"}, {"instance", "h:2"}, {"job", "ember"}};
    em_labels_t la = {a, 3}, lb = {b, 3};
    em_remote_sample_t sa[] = {{t0, 41.5}, {t0 + 15000, 42.25}};
    em_remote_sample_t sb[] = {{t0 + 15000, 7}};
    em_remote_write_enc_series(&e, &la, sa, 2);
    em_remote_write_enc_series(&e, &lb, sb, 1);
    em_remote_write_enc_metadata(&e, EM_REMOTE_METRIC_COUNTER, "ember_test_total", "A test counter.", NULL);
    const void *body;
    size_t len;
    em_remote_write_enc_finish(&e, &body, &len, NULL, NULL);

    em_buf_t resp = EM_BUF_INIT;
    long st = 0;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/write", port);
    for (int i = 0; i < 200 && st != 204; i++) { /* up to 20 s for Prometheus to start */
        st = http(url, body, len, &resp);
        if (st != 204)
            usleep(100000);
    }
    cr_expect_eq(st, 204, "remote write answered %ld: %s", st, resp.data ? resp.data : "");
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/query?query=sum(ember_test_total)&time=%.3f", port,
             (double)(t0 + 15000) / 1000);
    st = http(url, NULL, 0, &resp);
    cr_expect_eq(st, 200);
    cr_expect(resp.data && strstr(resp.data, "[1700000015,\"49.25\"]"), "query answered: %s",
              resp.data ? resp.data : "");

    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    char rm[300];
    snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
    cr_expect_eq(system(rm), 0);
    em_buf_fini(&resp);
    em_remote_write_enc_fini(&e);
}
