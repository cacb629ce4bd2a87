/* Fuzz target: remote read decoding (ingest/remote.h): ReadRequest (uncompressed and snappy),
 * ChunkedReadResponse frame streams, and ReadResponse bodies. A ReadRequest that decodes is encoded
 * again and must decode to the same queries. */
#include <snappy-c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/remote.h"

static void check_same(const em_remote_read_req_t *a, const em_remote_read_req_t *b)
{
    if (a->n_queries != b->n_queries)
        abort();
    for (size_t i = 0; i < a->n_queries; i++) {
        const em_remote_query_t *x = &a->queries[i], *y = &b->queries[i];
        if (x->start_ms != y->start_ms || x->end_ms != y->end_ms || x->n_matchers != y->n_matchers ||
            x->has_hints != y->has_hints || x->hints.n_grouping != y->hints.n_grouping)
            abort();
        for (size_t j = 0; j < x->n_matchers; j++)
            if (x->matchers[j].type != y->matchers[j].type ||
                strcmp(x->matchers[j].name, y->matchers[j].name) ||
                strcmp(x->matchers[j].value, y->matchers[j].value))
                abort();
        if (x->has_hints && (strcmp(x->hints.func, y->hints.func) || x->hints.step_ms != y->hints.step_ms ||
                             x->hints.range_ms != y->hints.range_ms || x->hints.by != y->hints.by))
            abort();
    }
}

static void read_request(const uint8_t *data, size_t size)
{
    em_remote_read_req_t r, r2;
    em_remote_read_req_init(&r);
    em_remote_read_req_init(&r2);
    em_remote_read_type_t t;
    if (em_remote_read_req_decode_pb(&r, data, size, NULL) == EM_OK) {
        em_remote_read_negotiate(&r, &t, NULL);
        /* Re-encode only known response types: the encoder takes the enum. */
        em_remote_read_type_t acc[8];
        size_t n_acc = 0;
        for (size_t i = 0; i < r.n_accepted && n_acc < 8; i++)
            if (r.accepted[i] == 0 || r.accepted[i] == 1)
                acc[n_acc++] = (em_remote_read_type_t)r.accepted[i];
        em_buf_t body = EM_BUF_INIT;
        em_remote_read_req_encode(r.queries, r.n_queries, acc, n_acc, &body);
        if (em_remote_read_req_decode(&r2, body.data, body.len, UINT32_MAX, NULL) != EM_OK)
            abort();
        check_same(&r, &r2);
        em_buf_fini(&body);
    }
    if (em_remote_read_req_decode(&r, data, size, 1u << 20, NULL) == EM_OK)
        em_remote_read_negotiate(&r, &t, NULL);
    em_remote_read_req_fini(&r);
    em_remote_read_req_fini(&r2);
}

static void chunked(const uint8_t *data, size_t size)
{
    em_remote_chunked_resp_t r;
    em_remote_chunked_resp_init(&r);
    size_t off = 0, used = 0;
    while (off < size &&
           em_remote_chunked_decode_frame(&r, data + off, size - off, 1u << 20, &used, NULL) == EM_OK) {
        for (size_t i = 0; i < r.n_series; i++)
            for (size_t j = 0; j < r.series[i].n_chunks; j++)
                if (r.series[i].chunks[j].len && r.series[i].chunks[j].data == NULL)
                    abort();
        off += used;
    }
    em_remote_chunked_resp_fini(&r);
}

static void read_response(const uint8_t *data, size_t size)
{
    em_remote_read_resp_t r;
    em_remote_read_resp_init(&r);
    em_remote_read_resp_decode(&r, data, size, 1u << 20, NULL);
    size_t cap = snappy_max_compressed_length(size), n = cap;
    char *z = malloc(cap ? cap : 1);
    if (snappy_compress((const char *)data, size, z, &n) == SNAPPY_OK)
        em_remote_read_resp_decode(&r, z, n, 1u << 20, NULL);
    free(z);
    em_remote_read_resp_fini(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    read_request(data, size);
    chunked(data, size);
    read_response(data, size);
    return 0;
}
