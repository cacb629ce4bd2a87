/* Design: see remote.h
 *
 * The ReadRequest decoder. Cold (one request per remote read query), so it favours plain code: it copies
 * every string into the request's arena and collects queries, matchers and grouping labels in growable
 * arrays, then moves them into the arena. Each query's matchers (and grouping labels) are contiguous in
 * those arrays, so their final positions follow from running sums.
 *
 * Protobuf semantics kept: absent fields are defaults, the last of repeated singular scalars wins, a
 * repeated 'hints' message merges into the first, accepted_response_types may be packed or not.
 */
#include "ingest/remote.h"
#include "ingest/remote_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/mem.h"

typedef struct rdec {
    em_remote_read_req_t *r;
    em_err_t *err;
    pb_where_t where;
    em_remote_query_t *qs;
    size_t n_qs, qs_cap;
    em_remote_matcher_t *ms;
    size_t n_ms, ms_cap;
    const char **grp;
    size_t n_grp, grp_cap;
    int32_t *acc;
    size_t n_acc, acc_cap;
} rdec_t;

/* A string field, copied NUL-terminated into the arena; NUL bytes inside are refused (Ember's strings
 * are C strings, and a truncated matcher would silently select other series). */
static int dec_str(rdec_t *d, const uint8_t **pp, const uint8_t *end, const char *what, const char **out)
{
    const uint8_t *b, *be;
    if (remote_pb_read_len(pp, end, &b, &be, &d->where, d->err))
        return EM_ECORRUPT;
    if (memchr(b, 0, (size_t)(be - b)))
        return em_err_set(d->err, EM_EINVAL, "remote read: %s contains a NUL byte", what);
    *out = em_arena_strndup(&d->r->arena, (const char *)b, (size_t)(be - b));
    return EM_OK;
}

static int dec_i64(rdec_t *d, const uint8_t **pp, const uint8_t *end, int64_t *out)
{
    uint64_t u = 0;
    if (remote_pb_read_varint(pp, end, &u, &d->where, d->err))
        return EM_ECORRUPT;
    *out = (int64_t)u;
    return EM_OK;
}

/* For a known field: 1 when it has the expected wire type, else 0 with *rc set to the error. */
static int expect(rdec_t *d, const uint8_t *at, uint32_t field, uint32_t wt, uint32_t want_wt,
                  const char *name, int *rc)
{
    if (wt == want_wt)
        return 1;
    *rc = remote_pb_wrong_wt(d->err, &d->where, at, field, name, wt);
    return 0;
}

static int dec_matcher(rdec_t *d, const uint8_t *p, const uint8_t *end, em_remote_matcher_t *m)
{
    int64_t type = 0;
    m->name = m->value = "";
    while (p < end) {
        const uint8_t *at = p;
        uint32_t field, wt;
        int rc = EM_OK;
        d->where.msg = "LabelMatcher";
        if (remote_pb_read_tag(&p, end, &field, &wt, &d->where, d->err))
            return EM_ECORRUPT;
        switch (field) {
        case 1:
            if (expect(d, at, field, wt, PB_VARINT, "LabelMatcher.type", &rc))
                rc = dec_i64(d, &p, end, &type);
            break;
        case 2:
            if (expect(d, at, field, wt, PB_LEN, "LabelMatcher.name", &rc))
                rc = dec_str(d, &p, end, "matcher name", &m->name);
            break;
        case 3:
            if (expect(d, at, field, wt, PB_LEN, "LabelMatcher.value", &rc))
                rc = dec_str(d, &p, end, "matcher value", &m->value);
            break;
        default:
            rc = remote_pb_skip(&p, end, wt, at, &d->where, d->err);
            break;
        }
        if (rc)
            return rc;
    }
    /* Prometheus: FromLabelMatchers answers "invalid matcher type". The enum is int32 on the wire. */
    if ((int32_t)type < EM_MATCH_EQ || (int32_t)type > EM_MATCH_NRE)
        return em_err_set(d->err, EM_EINVAL, "invalid matcher type");
    m->type = (em_match_type_t)(int32_t)type;
    return EM_OK;
}

static int dec_hints(rdec_t *d, const uint8_t *p, const uint8_t *end, em_remote_hints_t *h)
{
    while (p < end) {
        const uint8_t *at = p;
        uint32_t field, wt;
        int rc = EM_OK;
        int64_t by = 0;
        d->where.msg = "ReadHints";
        if (remote_pb_read_tag(&p, end, &field, &wt, &d->where, d->err))
            return EM_ECORRUPT;
        switch (field) {
        case 1:
            if (expect(d, at, field, wt, PB_VARINT, "ReadHints.step_ms", &rc))
                rc = dec_i64(d, &p, end, &h->step_ms);
            break;
        case 2:
            if (expect(d, at, field, wt, PB_LEN, "ReadHints.func", &rc))
                rc = dec_str(d, &p, end, "hints func", &h->func);
            break;
        case 3:
            if (expect(d, at, field, wt, PB_VARINT, "ReadHints.start_ms", &rc))
                rc = dec_i64(d, &p, end, &h->start_ms);
            break;
        case 4:
            if (expect(d, at, field, wt, PB_VARINT, "ReadHints.end_ms", &rc))
                rc = dec_i64(d, &p, end, &h->end_ms);
            break;
        case 5:
            if (expect(d, at, field, wt, PB_LEN, "ReadHints.grouping", &rc)) {
                em_grow((void **)&d->grp, &d->grp_cap, d->n_grp + 1, sizeof(*d->grp));
                rc = dec_str(d, &p, end, "hints grouping", &d->grp[d->n_grp]);
                d->n_grp++;
                h->n_grouping++;
            }
            break;
        case 6:
            if (expect(d, at, field, wt, PB_VARINT, "ReadHints.by", &rc)) {
                rc = dec_i64(d, &p, end, &by);
                h->by = by != 0;
            }
            break;
        case 7:
            if (expect(d, at, field, wt, PB_VARINT, "ReadHints.range_ms", &rc))
                rc = dec_i64(d, &p, end, &h->range_ms);
            break;
        default:
            rc = remote_pb_skip(&p, end, wt, at, &d->where, d->err);
            break;
        }
        if (rc)
            return rc;
    }
    return EM_OK;
}

static int dec_query(rdec_t *d, const uint8_t *p, const uint8_t *end, em_remote_query_t *q)
{
    memset(q, 0, sizeof(*q));
    q->hints.func = "";
    while (p < end) {
        const uint8_t *at = p;
        uint32_t field, wt;
        int rc = EM_OK;
        const uint8_t *b, *be;
        d->where.msg = "Query";
        if (remote_pb_read_tag(&p, end, &field, &wt, &d->where, d->err))
            return EM_ECORRUPT;
        switch (field) {
        case 1:
            if (expect(d, at, field, wt, PB_VARINT, "Query.start_timestamp_ms", &rc))
                rc = dec_i64(d, &p, end, &q->start_ms);
            break;
        case 2:
            if (expect(d, at, field, wt, PB_VARINT, "Query.end_timestamp_ms", &rc))
                rc = dec_i64(d, &p, end, &q->end_ms);
            break;
        case 3:
            if (expect(d, at, field, wt, PB_LEN, "Query.matchers", &rc)) {
                rc = remote_pb_read_len(&p, end, &b, &be, &d->where, d->err);
                if (rc)
                    break;
                em_grow((void **)&d->ms, &d->ms_cap, d->n_ms + 1, sizeof(*d->ms));
                rc = dec_matcher(d, b, be, &d->ms[d->n_ms]);
                d->n_ms++;
                q->n_matchers++;
            }
            break;
        case 4:
            if (expect(d, at, field, wt, PB_LEN, "Query.hints", &rc)) {
                rc = remote_pb_read_len(&p, end, &b, &be, &d->where, d->err);
                if (rc)
                    break;
                q->has_hints = true;
                rc = dec_hints(d, b, be, &q->hints);
            }
            break;
        default:
            rc = remote_pb_skip(&p, end, wt, at, &d->where, d->err);
            break;
        }
        if (rc)
            return rc;
    }
    return EM_OK;
}

static int dec_accepted(rdec_t *d, const uint8_t **pp, const uint8_t *end, uint32_t wt, const uint8_t *at)
{
    uint64_t u = 0;
    if (wt == PB_VARINT) {
        if (remote_pb_read_varint(pp, end, &u, &d->where, d->err))
            return EM_ECORRUPT;
        em_grow((void **)&d->acc, &d->acc_cap, d->n_acc + 1, sizeof(*d->acc));
        d->acc[d->n_acc++] = (int32_t)u;
        return EM_OK;
    }
    if (wt != PB_LEN)
        return remote_pb_wrong_wt(d->err, &d->where, at, 2, "ReadRequest.accepted_response_types", wt);
    const uint8_t *b, *be;
    if (remote_pb_read_len(pp, end, &b, &be, &d->where, d->err))
        return EM_ECORRUPT;
    while (b < be) {
        if (remote_pb_read_varint(&b, be, &u, &d->where, d->err))
            return EM_ECORRUPT;
        em_grow((void **)&d->acc, &d->acc_cap, d->n_acc + 1, sizeof(*d->acc));
        d->acc[d->n_acc++] = (int32_t)u;
    }
    return EM_OK;
}

static int dec_request(rdec_t *d, const uint8_t *p, const uint8_t *end)
{
    while (p < end) {
        const uint8_t *at = p;
        uint32_t field, wt;
        int rc;
        const uint8_t *b, *be;
        d->where.msg = "ReadRequest";
        d->where.ctx_fmt = NULL;
        if (remote_pb_read_tag(&p, end, &field, &wt, &d->where, d->err))
            return EM_ECORRUPT;
        if (field == 1) {
            if (wt != PB_LEN)
                return remote_pb_wrong_wt(d->err, &d->where, at, 1, "ReadRequest.queries", wt);
            if (remote_pb_read_len(&p, end, &b, &be, &d->where, d->err))
                return EM_ECORRUPT;
            em_grow((void **)&d->qs, &d->qs_cap, d->n_qs + 1, sizeof(*d->qs));
            d->where.ctx_fmt = "query %zu";
            d->where.ctx_i = d->n_qs;
            rc = dec_query(d, b, be, &d->qs[d->n_qs]);
            d->n_qs++;
        } else if (field == 2) {
            rc = dec_accepted(d, &p, end, wt, at);
        } else {
            rc = remote_pb_skip(&p, end, wt, at, &d->where, d->err);
        }
        if (rc)
            return rc;
    }
    return EM_OK;
}

/* Move the collected arrays into the arena and set the pointers. */
static void publish(rdec_t *d)
{
    em_remote_read_req_t *r = d->r;
    em_arena_t *a = &r->arena;
    em_remote_query_t *qs = em_arena_alloc(a, sizeof(*qs) * (d->n_qs ? d->n_qs : 1));
    em_remote_matcher_t *ms = em_arena_alloc(a, sizeof(*ms) * (d->n_ms ? d->n_ms : 1));
    const char **grp = em_arena_alloc(a, sizeof(*grp) * (d->n_grp ? d->n_grp : 1));
    int32_t *acc = em_arena_alloc(a, sizeof(*acc) * (d->n_acc ? d->n_acc : 1));
    if (d->n_ms)
        memcpy(ms, d->ms, sizeof(*ms) * d->n_ms);
    if (d->n_grp)
        memcpy(grp, d->grp, sizeof(*grp) * d->n_grp);
    if (d->n_acc)
        memcpy(acc, d->acc, sizeof(*acc) * d->n_acc);
    size_t mo = 0, go = 0;
    for (size_t i = 0; i < d->n_qs; i++) {
        qs[i] = d->qs[i];
        qs[i].matchers = ms + mo;
        qs[i].hints.grouping = grp + go;
        mo += qs[i].n_matchers;
        go += qs[i].hints.n_grouping;
    }
    r->queries = qs;
    r->n_queries = d->n_qs;
    r->accepted = acc;
    r->n_accepted = d->n_acc;
}

void em_remote_read_req_init(em_remote_read_req_t *r)
{
    r->queries = NULL;
    r->n_queries = 0;
    r->accepted = NULL;
    r->n_accepted = 0;
    em_arena_init(&r->arena);
    em_buf_init(&r->buf);
}

void em_remote_read_req_fini(em_remote_read_req_t *r)
{
    em_arena_fini(&r->arena);
    em_buf_fini(&r->buf);
    em_remote_read_req_init(r);
}

static int decode_buf(em_remote_read_req_t *r, em_err_t *err)
{
    rdec_t d = {.r = r, .err = err};
    d.where.base = (const uint8_t *)r->buf.data;
    d.where.msg = "ReadRequest";
    const uint8_t *p = (const uint8_t *)r->buf.data;
    int rc = dec_request(&d, p, p + r->buf.len);
    if (rc == EM_OK)
        publish(&d);
    else
        em_arena_reset(&r->arena);
    free(d.qs);
    free(d.ms);
    free(d.grp);
    free(d.acc);
    return rc;
}

static void clear(em_remote_read_req_t *r)
{
    r->queries = NULL;
    r->n_queries = 0;
    r->accepted = NULL;
    r->n_accepted = 0;
    em_arena_reset(&r->arena);
}

int em_remote_read_req_decode(em_remote_read_req_t *r, const void *body, size_t len, size_t max_decoded_bytes,
                              em_err_t *err)
{
    clear(r);
    int rc = remote_snappy_decode(body, len, max_decoded_bytes, &r->buf, err);
    if (rc)
        return rc;
    return decode_buf(r, err);
}

int em_remote_read_req_decode_pb(em_remote_read_req_t *r, const void *pb, size_t len, em_err_t *err)
{
    clear(r);
    em_buf_reset(&r->buf);
    em_buf_append(&r->buf, pb, len);
    return decode_buf(r, err);
}

int em_remote_read_negotiate(const em_remote_read_req_t *r, em_remote_read_type_t *out, em_err_t *err)
{
    if (r->n_accepted == 0) {
        *out = EM_REMOTE_READ_SAMPLES;
        return EM_OK;
    }
    for (size_t i = 0; i < r->n_accepted; i++) {
        if (r->accepted[i] == EM_REMOTE_READ_SAMPLES ||
            r->accepted[i] == EM_REMOTE_READ_STREAMED_XOR_CHUNKS) {
            *out = (em_remote_read_type_t)r->accepted[i];
            return EM_OK;
        }
    }
    /* Prometheus: NegotiateResponseType's message; unknown types print as numbers. */
    char list[160];
    size_t o = 0;
    for (size_t i = 0; i < r->n_accepted && o < sizeof(list) - 16; i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%d", i ? " " : "", (int)r->accepted[i]);
    return em_err_set(err, EM_EUNSUPPORTED,
                      "server does not support any of the requested response types: [%s]; supported: "
                      "[SAMPLES STREAMED_XOR_CHUNKS]",
                      list);
}
