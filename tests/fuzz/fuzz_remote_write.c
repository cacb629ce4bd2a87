/* Fuzz target: remote write request decoding (ingest/remote.h).
 *
 * Every input is decoded three ways: as an uncompressed WriteRequest, as a snappy body (mutated real
 * bodies), and compressed by snappy first (so mutations reach the protobuf walk through the snappy path).
 * Whatever decodes is checked series by series, formatted, and the series that pass the check are
 * re-encoded, decoded again and compared bit for bit: the round trip must hold for everything Ember
 * accepts. */
#include <snappy-c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "ingest/remote.h"

static void roundtrip(const em_remote_write_t *w)
{
    em_remote_write_enc_t e;
    em_remote_write_enc_init(&e);
    size_t kept = 0;
    em_buf_t tmp = EM_BUF_INIT;
    for (size_t i = 0; i < w->n_series; i++) {
        const em_remote_series_t *s = &w->series[i];
        em_remote_series_format(s, 200, &tmp);
        if (em_remote_series_check(s, NULL) != EM_OK)
            continue;
        em_remote_write_enc_series(&e, &s->labels, s->samples, s->n_samples);
        kept++;
    }
    em_buf_fini(&tmp);
    const void *body;
    size_t len;
    em_remote_write_enc_finish(&e, &body, &len, NULL, NULL);
    em_remote_write_t w2;
    em_remote_write_init(&w2);
    if (em_remote_write_decode(&w2, body, len, UINT32_MAX, NULL) != EM_OK || w2.n_series != kept)
        abort();
    size_t j = 0;
    for (size_t i = 0; i < w->n_series; i++) {
        const em_remote_series_t *s = &w->series[i];
        if (em_remote_series_check(s, NULL) != EM_OK)
            continue;
        const em_remote_series_t *t = &w2.series[j++];
        if (!em_labels_equal(&s->labels, &t->labels) || s->n_samples != t->n_samples)
            abort();
        for (size_t k = 0; k < s->n_samples; k++)
            if (s->samples[k].t_ms != t->samples[k].t_ms ||
                memcmp(&s->samples[k].v, &t->samples[k].v, sizeof(double)) != 0)
                abort();
    }
    em_remote_write_fini(&w2);
    em_remote_write_enc_fini(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    em_remote_write_t w;
    em_remote_write_init(&w);
    em_err_t err;
    if (em_remote_write_decode_pb(&w, data, size, &err) == EM_OK)
        roundtrip(&w);
    if (em_remote_write_decode(&w, data, size, 1u << 20, &err) == EM_OK)
        roundtrip(&w);
    size_t cap = snappy_max_compressed_length(size), n = cap;
    char *z = malloc(cap ? cap : 1);
    if (snappy_compress((const char *)data, size, z, &n) == SNAPPY_OK &&
        em_remote_write_decode(&w, z, n, 1u << 20, &err) == EM_OK)
        roundtrip(&w);
    free(z);
    em_remote_write_fini(&w);
    return 0;
}
