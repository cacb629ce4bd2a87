/* Fuzz target for ingest/expfmt: both formats, every entry, labels and exemplar of every series.
 *
 * The input is copied into an allocation of exactly its size, so reading one byte past the page is a
 * sanitizer error. Each page is parsed twice per format, with and without the fast path, and the two
 * digests of everything the accessors return (entry kinds, raw bytes, values, timestamps, labels,
 * exemplars, metadata, error messages) must be equal. Series parsed from the text format are written
 * back with the writer and parsed again: labels, value and timestamp must survive.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/buf.h"
#include "ingest/expfmt.h"
#include "ingest/expfmt_int.h"

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    return mix(h, s, strlen(s) + 1);
}

static uint64_t mix_labels(uint64_t h, const em_labels_t *ls)
{
    for (size_t k = 0; k < ls->n; k++) {
        h = mix_str(h, ls->v[k].name);
        h = mix_str(h, ls->v[k].value);
    }
    return h;
}

static void check_round_trip(const em_labels_t *ls, double v, bool has_ts, int64_t t)
{
    em_buf_t out = EM_BUF_INIT;
    em_arena_t a;
    em_arena_init(&a);
    em_expfmt_write_sample(&out, ls, v, has_ts, t);
    em_expfmt_parser_t p;
    em_expfmt_parser_init(&p, out.data, out.len, EM_EXPFMT_TEXT);
    em_labels_t got;
    bool gh;
    int64_t gt;
    double gv;
    if (em_expfmt_next(&p) != EM_EXPFMT_SERIES || em_expfmt_labels(&p, &a, &got) != EM_OK) {
        fprintf(stderr, "round trip: cannot re-parse %s: %s\n", out.data, em_expfmt_error(&p));
        abort();
    }
    em_expfmt_series(&p, NULL, NULL, &gh, &gt, &gv);
    /* The Go client writes -0 as "0". */
    bool same_v = memcmp(&gv, &v, sizeof(v)) == 0 || (v == 0 && gv == 0);
    if (!em_labels_equal(ls, &got) || !same_v || gh != has_ts || (has_ts && gt != t) ||
        em_expfmt_next(&p) != EM_EXPFMT_EOF) {
        fprintf(stderr, "round trip changed the sample: %s\n", out.data);
        abort();
    }
    em_expfmt_parser_fini(&p);
    em_arena_fini(&a);
    em_buf_fini(&out);
}

static uint64_t run(const char *page, size_t len, em_expfmt_format_t fmt, unsigned flags, bool round_trip)
{
    em_expfmt_parser_t p;
    em_arena_t a;
    em_arena_init(&a);
    em_expfmt_parser_init(&p, page, len, fmt);
    em_expfmt_parser_set_flags(&p, flags);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t guard = 0; guard <= len + 2; guard++) {
        int k = em_expfmt_next(&p);
        h = mix(h, &k, sizeof(k));
        if (k < 0) {
            h = mix_str(h, em_expfmt_error(&p));
            if (em_expfmt_next(&p) != k)
                abort(); /* errors are sticky */
            break;
        }
        if (k == EM_EXPFMT_EOF)
            break;
        const char *s, *t;
        size_t sn, tn;
        switch (k) {
        case EM_EXPFMT_SERIES: {
            bool has_ts;
            int64_t ts;
            double v;
            em_labels_t ls;
            em_expfmt_series(&p, &s, &sn, &has_ts, &ts, &v);
            if (s < page || s + sn > page + len)
                abort();
            h = mix(h, s, sn);
            h = mix(h, &v, sizeof(v));
            h = mix(h, &has_ts, sizeof(has_ts));
            h = mix(h, &ts, sizeof(ts));
            size_t nl = em_expfmt_series_nlabels(&p);
            h = mix(h, &nl, sizeof(nl));
            int rc = em_expfmt_labels(&p, &a, &ls);
            h = mix(h, &rc, sizeof(rc));
            if (rc == EM_OK) {
                h = mix_labels(h, &ls);
                if (round_trip)
                    check_round_trip(&ls, v, has_ts, ts);
            } else {
                h = mix_str(h, em_expfmt_error(&p));
            }
            double ev;
            bool eh;
            int64_t et;
            rc = em_expfmt_exemplar(&p, &a, &ls, &ev, &eh, &et);
            h = mix(h, &rc, sizeof(rc));
            if (rc == EM_OK) {
                h = mix_labels(h, &ls);
                h = mix(h, &ev, sizeof(ev));
                h = mix(h, &et, sizeof(et));
            }
            break;
        }
        case EM_EXPFMT_HELP:
            em_expfmt_help(&p, &s, &sn, &t, &tn);
            h = mix(mix(h, s, sn), t, tn);
            break;
        case EM_EXPFMT_TYPE: {
            em_expfmt_type_t ty = em_expfmt_type(&p, &s, &sn);
            h = mix(mix(h, s, sn), &ty, sizeof(ty));
            break;
        }
        case EM_EXPFMT_UNIT:
            em_expfmt_unit(&p, &s, &sn, &t, &tn);
            h = mix(mix(h, s, sn), t, tn);
            break;
        case EM_EXPFMT_COMMENT:
            em_expfmt_comment(&p, &t, &tn);
            h = mix(h, t, tn);
            break;
        default:
            abort();
        }
        if (a.total_bytes > (1u << 20))
            em_arena_reset(&a);
    }
    em_expfmt_parser_fini(&p);
    em_arena_fini(&a);
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20))
        return 0;
    char *page = malloc(size ? size : 1);
    if (size)
        memcpy(page, data, size);
    static const em_expfmt_format_t fmts[] = {EM_EXPFMT_TEXT, EM_EXPFMT_OPENMETRICS};
    for (size_t f = 0; f < 2; f++) {
        unsigned flags = size && (data[0] & 1) ? EM_EXPFMT_UTF8_NAMES | EM_EXPFMT_OM_STRICT : 0;
        uint64_t fast = run(page, size, fmts[f], flags, fmts[f] == EM_EXPFMT_TEXT && !flags);
        uint64_t slow = run(page, size, fmts[f], flags | EM_EXPFMT_NO_FASTPATH, false);
        if (fast != slow) {
            fprintf(stderr, "fast and exact paths disagree (format %d) on %zu bytes: \"", (int)fmts[f], size);
            for (size_t i = 0; i < size && i < 4096; i++)
                fprintf(stderr,
                        data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"' && data[i] != '\\' ? "%c"
                                                                                               : "\\x%02x",
                        data[i]);
            fprintf(stderr, "\"\n");
            abort();
        }
    }
    free(page);
    return 0;
}
