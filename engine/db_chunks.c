/* Design: see db.h. This file: chunks re-encoded from a sample iterator (series whose head data has
 * deletions are written to blocks this way, so no deleted sample reaches disk). */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "engine/chunk.h"
#include "engine/db_int.h"

typedef struct enc_chunks {
    em_chunk_iter_t super;
    em_sample_iter_t *in;
    uint8_t *buf;
    size_t cap;
    em_chunk_ref_t cur;
    bool done;
} enc_chunks_t;

static int ec_next(em_chunk_iter_t *it)
{
    enc_chunks_t *c = (enc_chunks_t *)it;
    if (c->done)
        return EM_DONE;
    em_xor_enc_t enc;
    em_xor_enc_init(&enc, c->buf, c->cap);
    size_t n = 0;
    int rc = EM_OK;
    while (n < 120 && (rc = em_sample_iter_next(c->in)) == EM_OK) {
        int64_t t;
        double v;
        em_sample_iter_at(c->in, &t, &v);
        em_xor_enc_append(&enc, t, v);
        if (n++ == 0)
            c->cur.mint_ms = t;
        c->cur.maxt_ms = t;
    }
    if (rc < 0)
        return rc;
    if (n < 120)
        c->done = true;
    if (n == 0)
        return EM_DONE;
    c->cur.encoding = EM_CHUNK_XOR;
    c->cur.data = c->buf;
    c->cur.len = em_xor_enc_bytes(&enc);
    return EM_OK;
}

static void ec_at(const em_chunk_iter_t *it, em_chunk_ref_t *out)
{
    *out = ((const enc_chunks_t *)it)->cur;
}

static void ec_free(em_chunk_iter_t *it)
{
    enc_chunks_t *c = (enc_chunks_t *)it;
    em_sample_iter_free(c->in);
    free(c->buf);
    free(c);
}

static const em_chunk_iter_ops_t enc_chunks_ops = {ec_next, ec_at, ec_free};

em_chunk_iter_t *db_chunks_from_samples(em_sample_iter_t *in)
{
    enc_chunks_t *c = EM_NEW(enc_chunks_t);
    c->super.ops = &enc_chunks_ops;
    c->in = in;
    c->cap = 120 * EM_XOR_MAX_SAMPLE_BYTES + EM_XOR_HEADER_BYTES + 16;
    c->buf = em_malloc(c->cap);
    return &c->super;
}
