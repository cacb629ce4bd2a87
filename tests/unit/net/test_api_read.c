/* The remote read answer (net/api_read.c) and the federation page (net/api_federate.c) over an in-memory
 * head, without HTTP: requests encoded and answers decoded with ingest/remote.h's independent codecs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/chunk.h"
#include "engine/head.h"
#include "net/api.h"

#define T0 1700000000000LL
#define MAXD (64u << 20)

static em_head_t *head;

static double bits_f(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t f_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

/* Value of sample j of series 'job'/'inst': j * 0.5, except a stale marker at j == 100. */
static double value_at(int j)
{
    return j == 100 ? bits_f(EM_STALE_NAN_BITS) : j * 0.5;
}

static void add_series(em_batch_t *b, const char *name, const char *job, const char *inst, int n,
                       int64_t step)
{
    em_label_t v[3] = {{"__name__", name}, {"instance", inst}, {"job", job}};
    em_labels_t ls = {v, 3};
    em_batch_add_series(b, &ls, true, 0);
    for (int j = 0; j < n; j++)
        em_batch_add_sample(b, T0 + j * step, value_at(j));
}

static void setup(void)
{
    em_rcu_thread_online();
    em_head_opts_t o = {.n_shards = 2};
    em_err_t err;
    cr_assert_eq(em_head_open(&o, &head, &err), EM_OK, "%s", err.msg);
    em_batch_t *b = em_batch_new();
    add_series(b, "rr", "a", "i1", 300, 1000);
    add_series(b, "rr", "b", "i2", 300, 1000);
    add_series(b, "other", "a", "i1", 10, 1000);
    em_label_t v[2] = {{"__name__", "noinst"}, {"job", "c"}};
    em_labels_t ls = {v, 2};
    em_batch_add_series(b, &ls, true, 0);
    em_batch_add_sample(b, T0, -0.0);
    cr_assert_eq(em_head_append_wait(head, b), EM_OK);
    em_batch_free(b);
}

static void teardown(void)
{
    em_head_close(head);
    em_rcu_thread_offline();
}

static void encode(em_buf_t *body, const em_remote_matcher_t *ms, size_t n, int64_t start, int64_t end,
                   const em_remote_read_type_t *acc, size_t n_acc)
{
    em_remote_query_t q = {.start_ms = start, .end_ms = end, .matchers = ms, .n_matchers = n};
    em_remote_read_req_encode(&q, 1, acc, n_acc, body);
}

static void run(const em_buf_t *body, const em_labels_t *ext, const api_read_opts_t *o, api_read_resp_t *resp)
{
    em_buf_init(&resp->body);
    api_read_body(em_head_queryable(head), body->data, body->len, ext, o, NULL, resp);
}

TestSuite(net_api_read, .init = setup, .fini = teardown);

Test(net_api_read, samples_answer_returns_every_sample_in_range_with_stale_marker_bits)
{
    em_remote_matcher_t ms[] = {{EM_MATCH_EQ, "__name__", "rr"}, {EM_MATCH_NRE, "job", "b|c"}};
    em_buf_t body = EM_BUF_INIT;
    encode(&body, ms, 2, T0 + 50000, T0 + 150000, NULL, 0);
    api_read_opts_t o = {0};
    api_read_resp_t resp;
    run(&body, NULL, &o, &resp);
    cr_assert_eq(resp.status, 200, "%.*s", (int)resp.body.len, resp.body.data);
    cr_assert(resp.snappy);
    cr_assert_str_eq(resp.content_type, EM_REMOTE_READ_CT_SAMPLES);

    em_remote_read_resp_t r;
    em_remote_read_resp_init(&r);
    em_err_t err;
    cr_assert_eq(em_remote_read_resp_decode(&r, resp.body.data, resp.body.len, MAXD, &err), EM_OK, "%s",
                 err.msg);
    cr_assert_eq(r.n_results, 1);
    cr_assert_eq(r.results[0].n_series, 1);
    const em_remote_ts_t *ts = &r.results[0].series[0];
    cr_assert_str_eq(em_labels_get(&ts->labels, "job"), "a");
    cr_assert_eq(ts->n_samples, 101);
    for (size_t k = 0; k < ts->n_samples; k++) {
        int j = 50 + (int)k;
        cr_assert_eq(ts->samples[k].t_ms, T0 + j * 1000);
        cr_assert_eq(f_bits(ts->samples[k].v), f_bits(value_at(j)), "sample %d", j);
    }
    em_remote_read_resp_fini(&r);
    em_buf_fini(&resp.body);
    em_buf_fini(&body);
}

Test(net_api_read, sample_limit_counts_one_query_and_answers_400)
{
    em_remote_matcher_t ms[] = {{EM_MATCH_EQ, "__name__", "rr"}};
    em_buf_t body = EM_BUF_INIT;
    encode(&body, ms, 1, T0, T0 + 1000000, NULL, 0);
    api_read_opts_t o = {.sample_limit = 599};
    api_read_resp_t resp;
    run(&body, NULL, &o, &resp);
    cr_assert_eq(resp.status, 400);
    cr_assert(!resp.snappy);
    cr_assert_eq(resp.body.len, strlen("exceeded sample limit (599)\n"));
    cr_assert(memcmp(resp.body.data, "exceeded sample limit (599)\n", resp.body.len) == 0);
    em_buf_fini(&resp.body);

    o.sample_limit = 600; /* exactly the 600 samples of the two series */
    run(&body, NULL, &o, &resp);
    cr_assert_eq(resp.status, 200);
    em_buf_fini(&resp.body);

    /* Streams ignore the limit, as in Prometheus. */
    em_buf_reset(&body);
    em_remote_read_type_t acc = EM_REMOTE_READ_STREAMED_XOR_CHUNKS;
    encode(&body, ms, 1, T0, T0 + 1000000, &acc, 1);
    o.sample_limit = 1;
    run(&body, NULL, &o, &resp);
    cr_assert_eq(resp.status, 200);
    cr_assert(resp.body.len > 0);
    em_buf_fini(&resp.body);
    em_buf_fini(&body);
}

typedef struct flushed {
    em_buf_t all;
    int calls;
} flushed_t;

static int flush(em_buf_t *out, void *arg)
{
    flushed_t *f = arg;
    em_buf_append(&f->all, out->data, out->len);
    em_buf_reset(out);
    f->calls++;
    return EM_OK;
}

Test(net_api_read, streamed_frames_hold_one_series_within_the_frame_limit_and_every_chunk)
{
    em_remote_matcher_t ms[] = {{EM_MATCH_RE, "__name__", "rr|other"}};
    em_buf_t body = EM_BUF_INIT;
    em_remote_read_type_t acc[] = {(em_remote_read_type_t)9, EM_REMOTE_READ_STREAMED_XOR_CHUNKS};
    encode(&body, ms, 1, T0, T0 + 1000000, acc, 2);
    flushed_t f = {EM_BUF_INIT, 0};
    api_read_opts_t o = {.max_bytes_in_frame = 300, .flush = flush, .flush_arg = &f, .flush_bytes = 1};
    em_label_t extv[] = {{"region", "eu"}};
    em_labels_t ext = {extv, 1};
    api_read_resp_t resp;
    run(&body, &ext, &o, &resp);
    cr_assert_eq(resp.status, 200);
    cr_assert(resp.streamed);
    cr_assert_str_eq(resp.content_type, EM_REMOTE_READ_CT_CHUNKED);
    cr_assert_eq(f.calls, 3, "flushed after each series");
    em_buf_append(&f.all, resp.body.data, resp.body.len);

    em_remote_chunked_resp_t r;
    em_remote_chunked_resp_init(&r);
    size_t off = 0, used, frames = 0;
    int rc;
    em_err_t err;
    const char *order[] = {"other", "rr", "rr"};
    int series = -1, samples[3] = {0};
    char last_job[8] = "";
    const char *last_name = "";
    while ((rc = em_remote_chunked_decode_frame(&r, f.all.data + off, f.all.len - off, MAXD, &used, &err)) ==
           EM_OK) {
        off += used;
        frames++;
        cr_assert_eq(r.n_series, 1);
        cr_assert(used - 5 <= 300 || r.series[0].n_chunks == 1, "frame of %zu bytes", used);
        const em_labels_t *ls = &r.series[0].labels;
        cr_assert_str_eq(em_labels_get(ls, "region"), "eu");
        const char *name = em_labels_get(ls, "__name__"), *job = em_labels_get(ls, "job");
        if (strcmp(name, last_name) != 0 || strcmp(job, last_job) != 0) {
            series++;
            cr_assert_str_eq(name, order[series]);
            last_name = order[series];
            snprintf(last_job, sizeof(last_job), "%s", job);
        }
        for (size_t c = 0; c < r.series[0].n_chunks; c++) {
            const em_chunk_ref_t *ch = &r.series[0].chunks[c];
            em_xor_iter_t it;
            em_xor_iter_init(&it, ch->data, ch->len);
            while (em_xor_iter_next(&it) == EM_OK) {
                int64_t t;
                double v;
                em_xor_iter_at(&it, &t, &v);
                int j = (int)((t - T0) / 1000);
                cr_assert_eq(j, samples[series], "samples in order, none lost");
                cr_assert_eq(f_bits(v), f_bits(value_at(j)));
                samples[series]++;
            }
        }
    }
    cr_assert_eq(rc, EM_DONE, "%s", err.msg);
    cr_assert_eq(off, f.all.len);
    cr_assert_eq(series, 2);
    cr_assert_eq(samples[0], 10);
    cr_assert_eq(samples[1], 300);
    cr_assert_eq(samples[2], 300);
    cr_assert(frames > 6, "long series are split (%zu frames)", frames);
    em_remote_chunked_resp_fini(&r);
    em_buf_fini(&f.all);
    em_buf_fini(&resp.body);
    em_buf_fini(&body);
}

Test(net_api_read, external_labels_are_added_and_equality_on_them_means_absent)
{
    em_label_t extv[] = {{"job", "ext"}, {"region", "eu"}};
    em_labels_t ext = {extv, 2};
    em_remote_matcher_t eu[] = {{EM_MATCH_EQ, "__name__", "other"}, {EM_MATCH_EQ, "region", "eu"}};
    em_remote_matcher_t us[] = {{EM_MATCH_EQ, "__name__", "other"}, {EM_MATCH_EQ, "region", "us"}};
    em_remote_query_t qs[] = {{.start_ms = T0, .end_ms = T0 + 5000, .matchers = eu, .n_matchers = 2},
                              {.start_ms = T0, .end_ms = T0 + 5000, .matchers = us, .n_matchers = 2}};
    em_buf_t body = EM_BUF_INIT;
    em_remote_read_req_encode(qs, 2, NULL, 0, &body);
    api_read_opts_t o = {0};
    api_read_resp_t resp;
    run(&body, &ext, &o, &resp);
    cr_assert_eq(resp.status, 200);
    em_remote_read_resp_t r;
    em_remote_read_resp_init(&r);
    cr_assert_eq(em_remote_read_resp_decode(&r, resp.body.data, resp.body.len, MAXD, NULL), EM_OK);
    cr_assert_eq(r.n_results, 2);
    cr_assert_eq(r.results[0].n_series, 1);
    cr_assert_eq(r.results[1].n_series, 0);
    const em_labels_t *ls = &r.results[0].series[0].labels;
    cr_assert_eq(ls->n, 4);
    cr_assert_str_eq(em_labels_get(ls, "job"), "a", "the series' own label wins");
    cr_assert_str_eq(em_labels_get(ls, "region"), "eu");
    cr_assert_str_eq(ls->v[3].name, "region", "sorted");
    cr_assert_eq(r.results[0].series[0].n_samples, 6);
    em_remote_read_resp_fini(&r);
    em_buf_fini(&resp.body);
    em_buf_fini(&body);
}

Test(net_api_read, bad_requests_get_prometheus_statuses)
{
    api_read_opts_t o = {0};
    api_read_resp_t resp;
    em_buf_t body = EM_BUF_INIT;
    em_buf_puts(&body, "\x05garbage");
    run(&body, NULL, &o, &resp);
    cr_assert_eq(resp.status, 400);
    em_buf_fini(&resp.body);

    em_buf_reset(&body);
    em_remote_read_type_t acc = (em_remote_read_type_t)4;
    em_remote_matcher_t ms[] = {{EM_MATCH_EQ, "__name__", "rr"}};
    encode(&body, ms, 1, T0, T0 + 1000, &acc, 1);
    run(&body, NULL, &o, &resp);
    cr_assert_eq(resp.status, 400);
    cr_assert(strstr(resp.body.data, "server does not support any of the requested response types: [4]"));
    em_buf_fini(&resp.body);

    em_buf_reset(&body);
    em_remote_matcher_t bad[] = {{EM_MATCH_RE, "__name__", "r("}};
    encode(&body, bad, 1, T0, T0 + 1000, NULL, 0);
    run(&body, NULL, &o, &resp);
    cr_assert_eq(resp.status, 500);
    cr_assert(strstr(resp.body.data, "error parsing regexp"), "%s", resp.body.data);
    em_buf_fini(&resp.body);
    em_buf_fini(&body);
}

/* ---- federation ---- */

TestSuite(net_api_federate, .init = setup, .fini = teardown);

static void federate(const em_matcher_t *const *ms, size_t n, const em_labels_t *ext, int64_t now,
                     em_buf_t *out)
{
    api_federate_sel_t sel[2] = {{ms, n}, {ms, n}}; /* the same selector twice: series appear once */
    em_err_t err;
    em_buf_init(out);
    cr_assert_eq(api_federate_write(em_head_queryable(head), sel, 2, ext, now, 300000, out, &err), EM_OK,
                 "%s", err.msg);
    em_buf_putc(out, '\0');
}

Test(net_api_federate, newest_sample_per_series_sorted_by_name_with_instance_and_external_labels)
{
    em_matcher_t m;
    cr_assert_eq(em_matcher_init(&m, EM_MATCH_EQ, "instance", "i1", NULL), EM_OK);
    const em_matcher_t *ms[] = {&m};
    em_label_t extv[] = {{"job", "ext"}, {"zone", "z1"}};
    em_labels_t ext = {extv, 2};
    em_buf_t out;
    federate(ms, 1, &ext, T0 + 250000, &out);
    cr_assert_str_eq(out.data, "# TYPE other untyped\n"
                               "other{instance=\"i1\",job=\"a\",zone=\"z1\"} 4.5 1700000009000\n"
                               "# TYPE rr untyped\n"
                               "rr{instance=\"i1\",job=\"a\",zone=\"z1\"} 125 1700000250000\n");
    em_buf_fini(&out);

    /* Without an instance label on the series or in the external labels: instance="" is appended. */
    em_matcher_t j;
    cr_assert_eq(em_matcher_init(&j, EM_MATCH_EQ, "job", "b", NULL), EM_OK);
    em_matcher_t sub;
    em_matcher_init(&sub, EM_MATCH_NEQ, "instance", "nope", NULL);
    const em_matcher_t *ms2[] = {&j, &sub};
    federate(ms2, 2, NULL, T0 + 1000000, &out); /* window (T0+700s, T0+1000s]: only samples <= 299s exist */
    cr_assert_str_eq(out.data, "");
    em_buf_fini(&out);
    federate(ms2, 2, NULL, T0 + 299500, &out);
    cr_assert_str_eq(out.data, "# TYPE rr untyped\nrr{instance=\"i2\",job=\"b\"} 149.5 1700000299000\n");
    em_buf_fini(&out);
    em_matcher_t c;
    cr_assert_eq(em_matcher_init(&c, EM_MATCH_EQ, "job", "c", NULL), EM_OK);
    const em_matcher_t *ms3[] = {&c};
    em_label_t extv2[] = {{"region", "eu"}};
    em_labels_t ext2 = {extv2, 1};
    federate(ms3, 1, &ext2, T0, &out);
    cr_assert_str_eq(
        out.data, "# TYPE noinst untyped\nnoinst{job=\"c\",instance=\"\",region=\"eu\"} 0 1700000000000\n");
    em_buf_fini(&out);
    em_matcher_fini(&c);
    em_matcher_fini(&m);
    em_matcher_fini(&j);
    em_matcher_fini(&sub);
}

Test(net_api_federate, stale_newest_sample_leaves_the_series_out)
{
    em_matcher_t m;
    cr_assert_eq(em_matcher_init(&m, EM_MATCH_EQ, "__name__", "rr", NULL), EM_OK);
    const em_matcher_t *ms[] = {&m};
    em_buf_t out;
    federate(ms, 1, NULL, T0 + 100000, &out); /* sample 100 is the stale marker */
    cr_assert_str_eq(out.data, "");
    em_buf_fini(&out);
    federate(ms, 1, NULL, T0 + 99999, &out);
    cr_assert_str_eq(out.data, "# TYPE rr untyped\n"
                               "rr{instance=\"i1\",job=\"a\"} 49.5 1700000099000\n"
                               "rr{instance=\"i2\",job=\"b\"} 49.5 1700000099000\n");
    em_buf_fini(&out);
    em_matcher_fini(&m);
}
