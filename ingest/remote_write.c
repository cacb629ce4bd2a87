/* Design: see remote.h
 *
 * The WriteRequest decoder: one pass over the decompressed message, then one pass over the output arrays.
 *
 * Pass 1 walks the wire format with bounded reads and fills flat arrays owned by em_remote_write_t: all
 * series' labels (em_label_t pointing into the buffer, lengths beside them), all samples, all exemplars
 * and their labels, metadata. A series records only its counts; because each series' labels, samples and
 * exemplars are contiguous and in series order, pass 2 derives their positions by running sums (the
 * arrays may move while they grow, so pointers are set only then).
 *
 * Pass 2 also NUL-terminates every kept string in place. The byte after a string is the tag or length of
 * a later field, or the spare byte after the message, and pass 1 has already read all of them; no kept
 * string can start there, since each is preceded by its own tag and length. Absent strings (protobuf
 * defaults) point at a static "".
 */
#include "ingest/remote.h"
#include "ingest/remote_int.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/mem.h"

static const char EMPTY[] = "";

typedef struct wdec {
    em_remote_write_t *w;
    em_err_t *err;
    pb_where_t where;
    size_t n_series, n_samples, n_exemplars, n_meta;
} wdec_t;

/* A tag: the one-byte form inline (fields 1-15 with a real wire type), anything else out of line. */
static inline int next_tag(wdec_t *d, const uint8_t **pp, const uint8_t *end, uint32_t *tag)
{
    uint8_t c = **pp;
    if (c < 0x80 && c >= 8 && (c & 7) < 6) {
        *tag = c;
        (*pp)++;
        return EM_OK;
    }
    uint32_t field, wt;
    int rc = remote_pb_read_tag(pp, end, &field, &wt, &d->where, d->err);
    *tag = field << 3 | wt;
    return rc;
}

/* The length of a LEN field, checked against the end of the enclosing message. */
static inline int next_len(wdec_t *d, const uint8_t **pp, const uint8_t *end, size_t *n)
{
    const uint8_t *p = *pp, *at = p;
    uint64_t v = 0;
    if (p < end && *p < 0x80) {
        v = *p++;
    } else {
        int rc = pb_varint(&p, end, &v);
        if (rc)
            return remote_pb_fail(d->err, &d->where, at,
                                  rc == -1 ? "truncated varint" : "varint overflows 64 bits");
    }
    if (v > (uint64_t)(end - p))
        return remote_pb_fail(d->err, &d->where, at,
                              "length %llu past the end of the message (%zu bytes left)",
                              (unsigned long long)v, (size_t)(end - p));
    *n = (size_t)v;
    *pp = p;
    return EM_OK;
}

static inline int next_varint(wdec_t *d, const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
    const uint8_t *at = *pp;
    int rc = pb_varint(pp, end, v);
    if (rc)
        return remote_pb_fail(d->err, &d->where, at,
                              rc == -1 ? "truncated varint" : "varint overflows 64 bits");
    return EM_OK;
}

static inline int next_double(wdec_t *d, const uint8_t **pp, const uint8_t *end, const uint8_t *at, double *v)
{
    if (end - *pp < 8)
        return remote_pb_fail(d->err, &d->where, at, "truncated 8-byte field");
    *v = pb_le_double(*pp);
    *pp += 8;
    return EM_OK;
}

/* Unknown fields are skipped; a known field number with another wire type is an error. */
static int other_field(wdec_t *d, const uint8_t **pp, const uint8_t *end, const uint8_t *at, uint32_t tag,
                       const char *const *names, uint32_t n_names)
{
    uint32_t field = tag >> 3;
    if (field >= 1 && field <= n_names && names[field - 1])
        return remote_pb_wrong_wt(d->err, &d->where, at, field, names[field - 1], tag & 7);
    return remote_pb_skip(pp, end, tag & 7, at, &d->where, d->err);
}

static const char *const LABEL_FIELDS[] = {"Label.name", "Label.value"};
static const char *const SAMPLE_FIELDS[] = {"Sample.value", "Sample.timestamp"};
static const char *const EXEMPLAR_FIELDS[] = {"Exemplar.labels", "Exemplar.value", "Exemplar.timestamp"};
static const char *const SERIES_FIELDS[] = {"TimeSeries.labels", "TimeSeries.samples", "TimeSeries.exemplars",
                                            "TimeSeries.histograms"};
static const char *const META_FIELDS[] = {"MetricMetadata.type", "MetricMetadata.metric_family_name", NULL,
                                          "MetricMetadata.help", "MetricMetadata.unit"};
static const char *const REQUEST_FIELDS[] = {"WriteRequest.timeseries", NULL, "WriteRequest.metadata"};

/* Label{name, value} into l and lens[0..1]; absent strings stay NULL until pass 2. */
static inline int dec_label(wdec_t *d, const uint8_t *p, const uint8_t *end, em_label_t *l, uint32_t *lens)
{
    /* Fast path: the canonical encoding (name then value, one-byte lengths) filling the message exactly;
     * anything else takes the general loop below, which gives the same result. */
    if (end - p >= 4 && p[0] == PB_TAG(1, PB_LEN) && p[1] < 0x80 && p[1] <= end - p - 4) {
        const uint8_t *q = p + 2 + p[1];
        if (q[0] == PB_TAG(2, PB_LEN) && q[1] < 0x80 && q + 2 + q[1] == end) {
            l->name = (const char *)p + 2;
            lens[0] = p[1];
            l->value = (const char *)q + 2;
            lens[1] = q[1];
            return EM_OK;
        }
    }
    l->name = l->value = NULL;
    lens[0] = lens[1] = 0;
    d->where.msg = "Label";
    while (p < end) {
        const uint8_t *at = p;
        uint32_t tag;
        size_t n = 0;
        if (next_tag(d, &p, end, &tag))
            return EM_ECORRUPT;
        if (tag == PB_TAG(1, PB_LEN) || tag == PB_TAG(2, PB_LEN)) {
            if (next_len(d, &p, end, &n))
                return EM_ECORRUPT;
            int i = tag == PB_TAG(2, PB_LEN);
            if (i)
                l->value = (const char *)p;
            else
                l->name = (const char *)p;
            lens[i] = (uint32_t)n;
            p += n;
        } else if (other_field(d, &p, end, at, tag, LABEL_FIELDS, 2)) {
            return EM_ECORRUPT;
        }
    }
    return EM_OK;
}

static inline int dec_sample(wdec_t *d, const uint8_t *p, const uint8_t *end, em_remote_sample_t *s)
{
    /* Fast path: value then a timestamp varint that ends the message. */
    if (end - p >= 11 && p[0] == PB_TAG(1, PB_I64) && p[9] == PB_TAG(2, PB_VARINT)) {
        const uint8_t *q = p + 10;
        uint64_t u = 0;
        if (pb_varint(&q, end, &u) == 0 && q == end) {
            s->v = pb_le_double(p + 1);
            s->t_ms = (int64_t)u;
            return EM_OK;
        }
    }
    s->t_ms = 0;
    s->v = 0;
    d->where.msg = "Sample";
    while (p < end) {
        const uint8_t *at = p;
        uint32_t tag;
        uint64_t u = 0;
        if (next_tag(d, &p, end, &tag))
            return EM_ECORRUPT;
        if (tag == PB_TAG(1, PB_I64)) {
            if (next_double(d, &p, end, at, &s->v))
                return EM_ECORRUPT;
        } else if (tag == PB_TAG(2, PB_VARINT)) {
            if (next_varint(d, &p, end, &u))
                return EM_ECORRUPT;
            s->t_ms = (int64_t)u;
        } else if (other_field(d, &p, end, at, tag, SAMPLE_FIELDS, 2)) {
            return EM_ECORRUPT;
        }
    }
    return EM_OK;
}

static void grow_labels(em_remote_write_t *w)
{
    size_t c1 = w->labels_cap, c2 = w->labels_cap;
    em_grow((void **)&w->labels, &c1, w->n_labels + 1, sizeof(em_label_t));
    em_grow((void **)&w->lens, &c2, w->n_labels + 1, 2 * sizeof(uint32_t));
    w->labels_cap = c1;
}

static void grow_ex_labels(em_remote_write_t *w)
{
    size_t c1 = w->ex_labels_cap, c2 = w->ex_labels_cap;
    em_grow((void **)&w->ex_labels, &c1, w->n_ex_labels + 1, sizeof(em_label_t));
    em_grow((void **)&w->ex_lens, &c2, w->n_ex_labels + 1, 2 * sizeof(uint32_t));
    w->ex_labels_cap = c1;
}

static int dec_exemplar(wdec_t *d, const uint8_t *p, const uint8_t *end, em_remote_exemplar_t *ex)
{
    em_remote_write_t *w = d->w;
    ex->labels.v = NULL;
    ex->labels.n = 0;
    ex->label_lens = NULL;
    ex->t_ms = 0;
    ex->v = 0;
    while (p < end) {
        const uint8_t *at = p;
        uint32_t tag;
        uint64_t u = 0;
        size_t n = 0;
        d->where.msg = "Exemplar";
        if (next_tag(d, &p, end, &tag))
            return EM_ECORRUPT;
        if (tag == PB_TAG(1, PB_LEN)) {
            if (next_len(d, &p, end, &n))
                return EM_ECORRUPT;
            if (w->n_ex_labels == w->ex_labels_cap)
                grow_ex_labels(w);
            if (dec_label(d, p, p + n, &w->ex_labels[w->n_ex_labels], &w->ex_lens[2 * w->n_ex_labels]))
                return EM_ECORRUPT;
            w->n_ex_labels++;
            ex->labels.n++;
            p += n;
        } else if (tag == PB_TAG(2, PB_I64)) {
            if (next_double(d, &p, end, at, &ex->v))
                return EM_ECORRUPT;
        } else if (tag == PB_TAG(3, PB_VARINT)) {
            if (next_varint(d, &p, end, &u))
                return EM_ECORRUPT;
            ex->t_ms = (int64_t)u;
        } else if (other_field(d, &p, end, at, tag, EXEMPLAR_FIELDS, 3)) {
            return EM_ECORRUPT;
        }
    }
    return EM_OK;
}

/* One TimeSeries: its labels, samples and exemplars are appended to the flat arrays; s gets the counts. */
static int dec_series(wdec_t *d, const uint8_t *p, const uint8_t *end, em_remote_series_t *s)
{
    em_remote_write_t *w = d->w;
    memset(s, 0, sizeof(*s));
    while (p < end) {
        const uint8_t *at = p;
        uint32_t tag;
        size_t n = 0;
        d->where.msg = "TimeSeries";
        if (next_tag(d, &p, end, &tag))
            return EM_ECORRUPT;
        switch (tag) {
        case PB_TAG(1, PB_LEN):
            if (next_len(d, &p, end, &n))
                return EM_ECORRUPT;
            if (w->n_labels == w->labels_cap)
                grow_labels(w);
            if (dec_label(d, p, p + n, &w->labels[w->n_labels], &w->lens[2 * w->n_labels]))
                return EM_ECORRUPT;
            w->n_labels++;
            s->labels.n++;
            break;
        case PB_TAG(2, PB_LEN):
            if (next_len(d, &p, end, &n))
                return EM_ECORRUPT;
            em_grow((void **)&w->samples, &w->samples_cap, d->n_samples + 1, sizeof(em_remote_sample_t));
            if (dec_sample(d, p, p + n, &w->samples[d->n_samples]))
                return EM_ECORRUPT;
            d->n_samples++;
            s->n_samples++;
            break;
        case PB_TAG(3, PB_LEN):
            if (next_len(d, &p, end, &n))
                return EM_ECORRUPT;
            em_grow((void **)&w->exemplars, &w->exemplars_cap, d->n_exemplars + 1,
                    sizeof(em_remote_exemplar_t));
            if (dec_exemplar(d, p, p + n, &w->exemplars[d->n_exemplars]))
                return EM_ECORRUPT;
            d->n_exemplars++;
            s->n_exemplars++;
            break;
        case PB_TAG(4, PB_LEN):
            /* Native histograms: counted so the series can be rejected, content not looked at. */
            if (next_len(d, &p, end, &n))
                return EM_ECORRUPT;
            s->n_histograms++;
            break;
        default:
            if (other_field(d, &p, end, at, tag, SERIES_FIELDS, 4))
                return EM_ECORRUPT;
            continue;
        }
        p += n;
    }
    return EM_OK;
}

static int dec_string_field(wdec_t *d, const uint8_t **pp, const uint8_t *end, const char **s, uint32_t *len)
{
    size_t n = 0;
    if (next_len(d, pp, end, &n))
        return EM_ECORRUPT;
    *s = (const char *)*pp;
    *len = (uint32_t)n;
    *pp += n;
    return EM_OK;
}

static int dec_metadata(wdec_t *d, const uint8_t *p, const uint8_t *end, em_remote_metadata_t *m)
{
    memset(m, 0, sizeof(*m));
    d->where.msg = "MetricMetadata";
    while (p < end) {
        const uint8_t *at = p;
        uint32_t tag;
        uint64_t u = 0;
        int rc = EM_OK;
        if (next_tag(d, &p, end, &tag))
            return EM_ECORRUPT;
        switch (tag) {
        case PB_TAG(1, PB_VARINT):
            rc = next_varint(d, &p, end, &u);
            m->type = (int32_t)u; /* enums are int32 on the wire: negatives take 10 bytes */
            break;
        case PB_TAG(2, PB_LEN):
            rc = dec_string_field(d, &p, end, &m->family, &m->family_len);
            break;
        case PB_TAG(4, PB_LEN):
            rc = dec_string_field(d, &p, end, &m->help, &m->help_len);
            break;
        case PB_TAG(5, PB_LEN):
            rc = dec_string_field(d, &p, end, &m->unit, &m->unit_len);
            break;
        default:
            rc = other_field(d, &p, end, at, tag, META_FIELDS, 5);
            break;
        }
        if (rc)
            return rc;
    }
    return EM_OK;
}

static int dec_request(wdec_t *d, const uint8_t *p, const uint8_t *end)
{
    em_remote_write_t *w = d->w;
    while (p < end) {
        const uint8_t *at = p;
        uint32_t tag;
        size_t n = 0;
        d->where.msg = "WriteRequest";
        d->where.ctx_fmt = NULL;
        if (next_tag(d, &p, end, &tag))
            return EM_ECORRUPT;
        if (tag == PB_TAG(1, PB_LEN)) {
            if (next_len(d, &p, end, &n))
                return EM_ECORRUPT;
            em_grow((void **)&w->series_v, &w->series_cap, d->n_series + 1, sizeof(em_remote_series_t));
            d->where.ctx_fmt = "timeseries %zu";
            d->where.ctx_i = d->n_series;
            if (dec_series(d, p, p + n, &w->series_v[d->n_series]))
                return EM_ECORRUPT;
            d->n_series++;
            p += n;
        } else if (tag == PB_TAG(3, PB_LEN)) {
            if (next_len(d, &p, end, &n))
                return EM_ECORRUPT;
            em_grow((void **)&w->meta, &w->meta_cap, d->n_meta + 1, sizeof(em_remote_metadata_t));
            d->where.ctx_fmt = "metadata %zu";
            d->where.ctx_i = d->n_meta;
            if (dec_metadata(d, p, p + n, &w->meta[d->n_meta]))
                return EM_ECORRUPT;
            d->n_meta++;
            p += n;
        } else if (other_field(d, &p, end, at, tag, REQUEST_FIELDS, 3)) {
            return EM_ECORRUPT;
        }
    }
    return EM_OK;
}

/* NUL-terminate a kept string in place, or point an absent one at "". */
static inline void terminate(const char **s, uint32_t len)
{
    if (*s)
        ((char *)*s)[len] = '\0';
    else
        *s = EMPTY;
}

static void terminate_labels(em_label_t *v, const uint32_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        terminate(&v[i].name, lens[2 * i]);
        terminate(&v[i].value, lens[2 * i + 1]);
    }
}

/* Pass 2: pointers from running sums, strings terminated, totals. */
static void finish(wdec_t *d)
{
    em_remote_write_t *w = d->w;
    size_t lo = 0, so = 0, eo = 0, n_hist = 0;
    for (size_t i = 0; i < d->n_series; i++) {
        em_remote_series_t *s = &w->series_v[i];
        /* An array never grown is NULL, and NULL + 0 is undefined: hence the conditions. */
        s->labels.v = s->labels.n ? w->labels + lo : NULL;
        s->label_lens = s->labels.n ? w->lens + 2 * lo : NULL;
        s->samples = s->n_samples ? w->samples + so : NULL;
        s->exemplars = s->n_exemplars ? w->exemplars + eo : NULL;
        lo += s->labels.n;
        so += s->n_samples;
        eo += s->n_exemplars;
        n_hist += s->n_histograms;
    }
    size_t elo = 0;
    for (size_t i = 0; i < d->n_exemplars; i++) {
        em_remote_exemplar_t *ex = &w->exemplars[i];
        ex->labels.v = ex->labels.n ? w->ex_labels + elo : NULL;
        ex->label_lens = ex->labels.n ? w->ex_lens + 2 * elo : NULL;
        elo += ex->labels.n;
    }
    terminate_labels(w->labels, w->lens, w->n_labels);
    terminate_labels(w->ex_labels, w->ex_lens, w->n_ex_labels);
    for (size_t i = 0; i < d->n_meta; i++) {
        terminate(&w->meta[i].family, w->meta[i].family_len);
        terminate(&w->meta[i].help, w->meta[i].help_len);
        terminate(&w->meta[i].unit, w->meta[i].unit_len);
    }
    w->series = w->series_v;
    w->n_series = d->n_series;
    w->metadata = w->meta;
    w->n_metadata = d->n_meta;
    w->n_samples = d->n_samples;
    w->n_exemplars = d->n_exemplars;
    w->n_histograms = n_hist;
    w->decoded_bytes = w->buf.len;
}

static void clear_views(em_remote_write_t *w)
{
    w->series = NULL;
    w->metadata = NULL;
    w->n_series = w->n_metadata = w->n_samples = w->n_exemplars = w->n_histograms = 0;
    w->decoded_bytes = 0;
    w->n_labels = w->n_ex_labels = 0;
}

/* Decode w->buf (which has a spare byte after its end). */
static int decode_buf(em_remote_write_t *w, em_err_t *err)
{
    wdec_t d = {.w = w, .err = err};
    d.where.base = (const uint8_t *)w->buf.data;
    d.where.msg = "WriteRequest";
    const uint8_t *p = (const uint8_t *)w->buf.data;
    int rc = dec_request(&d, p, p + w->buf.len);
    if (rc) {
        clear_views(w);
        return rc;
    }
    finish(&d);
    return EM_OK;
}

void em_remote_write_init(em_remote_write_t *w)
{
    memset(w, 0, sizeof(*w));
    em_buf_init(&w->buf);
}

void em_remote_write_fini(em_remote_write_t *w)
{
    em_buf_fini(&w->buf);
    free(w->series_v);
    free(w->labels);
    free(w->lens);
    free(w->samples);
    free(w->exemplars);
    free(w->ex_labels);
    free(w->ex_lens);
    free(w->meta);
    em_remote_write_init(w);
}

int em_remote_write_decode(em_remote_write_t *w, const void *body, size_t len, size_t max_decoded_bytes,
                           em_err_t *err)
{
    clear_views(w);
    /* Lengths are kept in 32 bits. */
    if (max_decoded_bytes > UINT32_MAX)
        max_decoded_bytes = UINT32_MAX;
    int rc = remote_snappy_decode(body, len, max_decoded_bytes, &w->buf, err);
    if (rc)
        return rc;
    return decode_buf(w, err);
}

int em_remote_write_decode_pb(em_remote_write_t *w, const void *pb, size_t len, em_err_t *err)
{
    clear_views(w);
    if (len > UINT32_MAX)
        return em_err_set(err, EM_ELIMIT, "remote write: message of %zu bytes exceeds the limit of %u bytes",
                          len, (unsigned)UINT32_MAX);
    em_buf_reset(&w->buf);
    em_buf_append(&w->buf, pb, len);
    return decode_buf(w, err);
}

/* ---- series checks ---- */

/* Label name characters: 1 for [a-zA-Z_] (may start a name), 2 for digits (may not). */
static const uint8_t NAME_CH[256] = {
    ['0'] = 2, ['1'] = 2, ['2'] = 2, ['3'] = 2, ['4'] = 2, ['5'] = 2, ['6'] = 2, ['7'] = 2, ['8'] = 2,
    ['9'] = 2, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1,
    ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['_'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1,
    ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* [a-zA-Z_][a-zA-Z0-9_]* (the remote write specification's label name rule). */
static bool name_ok(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0 || NAME_CH[u[0]] != 1)
        return false;
    for (size_t i = 1; i < n; i++)
        if (!NAME_CH[u[i]])
            return false;
    return true;
}

/* 0 when s[0..n) is valid UTF-8 without NUL bytes, else 1 (a NUL) or 2 (bad UTF-8). Label values are
 * nearly always ASCII: 8 bytes at a time while they are, the full check from the first word that is not. */
static int value_problem(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    const uint64_t lo = 0x0101010101010101ull, hi = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, u + i, 8);
        if ((x & hi) | ((x - lo) & ~x & hi))
            goto slow;
    }
    for (; i < n; i++)
        if (u[i] == 0 || u[i] >= 0x80)
            goto slow;
    return 0;
slow:
    if (memchr(s + i, 0, n - i))
        return 1;
    return em_utf8_valid(s + i, n - i) ? 0 : 2;
}

/* Byte order of two names; an inline loop, since names are short and usually differ early. */
static inline int cmp_names(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
    return (an > bn) - (an < bn);
}

/* Go's strconv.Quote-like escaping with explicit lengths, bounded. */
static void put_quoted_n(em_buf_t *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    em_buf_putc(out, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            em_buf_append(out, e, 2);
        } else if (c == '\n') {
            em_buf_append(out, "\\n", 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            em_buf_append(out, e, 4);
        } else if (c >= 0x80) {
            /* Keep valid multi-byte sequences, escape the bytes of invalid ones. */
            size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
            if (len && i + len <= n && em_utf8_valid(s + i, len)) {
                em_buf_append(out, s + i, len);
                i += len;
                continue;
            }
            char e[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            em_buf_append(out, e, 4);
        } else {
            em_buf_putc(out, (char)c);
        }
        i++;
    }
    em_buf_putc(out, '"');
}

void em_remote_series_format(const em_remote_series_t *s, size_t max_bytes, em_buf_t *out)
{
    size_t start = out->len;
    em_buf_putc(out, '{');
    for (size_t i = 0; i < s->labels.n; i++) {
        if (i)
            em_buf_append(out, ", ", 2);
        const char *name = s->labels.v[i].name, *value = s->labels.v[i].value;
        uint32_t nl = s->label_lens[2 * i], vl = s->label_lens[2 * i + 1];
        if (name_ok(name, nl))
            em_buf_append(out, name, nl);
        else
            put_quoted_n(out, name, nl);
        em_buf_putc(out, '=');
        put_quoted_n(out, value, vl);
        if (out->len - start > max_bytes)
            break;
    }
    em_buf_putc(out, '}');
    if (max_bytes >= 4 && out->len - start > max_bytes) {
        /* Cut on a character boundary, then mark the cut. */
        size_t keep = max_bytes - 3;
        while (keep > 0 && ((unsigned char)out->data[start + keep] & 0xc0) == 0x80)
            keep--;
        out->len = start + keep;
        em_buf_append(out, "...", 3);
    }
}

/* Report problem 'fmt' about series s. Prometheus's receiver words it "invalid metric name or labels, got
 * <labels>"; the reason follows after a colon. */
static int series_err(em_err_t *err, int code, const em_remote_series_t *s, const char *prefix,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int series_err(em_err_t *err, int code, const em_remote_series_t *s, const char *prefix,
                      const char *fmt, ...)
{
    if (!err)
        return code;
    em_buf_t b = EM_BUF_INIT;
    em_remote_series_format(s, 300, &b);
    char why[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    em_err_set(err, code, "%s%s%s", prefix, b.data, why);
    em_buf_fini(&b);
    return code;
}

#define BAD_LABELS "invalid metric name or labels, got "

int em_remote_series_check(const em_remote_series_t *s, em_err_t *err)
{
    if (s->n_histograms)
        return series_err(err, EM_EUNSUPPORTED, s, "native histograms are not supported, got series ",
                          " with %zu histogram samples", s->n_histograms);
    bool has_name = false;
    for (size_t i = 0; i < s->labels.n; i++) {
        const char *name = s->labels.v[i].name, *value = s->labels.v[i].value;
        uint32_t nl = s->label_lens[2 * i], vl = s->label_lens[2 * i + 1];
        if (!name_ok(name, nl)) {
            em_buf_t q = EM_BUF_INIT;
            put_quoted_n(&q, name, nl > 64 ? 64 : nl);
            int rc = series_err(err, EM_EINVAL, s, BAD_LABELS, ": invalid label name %s", q.data);
            em_buf_fini(&q);
            return rc;
        }
        if (vl == 0)
            return series_err(err, EM_EINVAL, s, BAD_LABELS, ": empty value for label %s", name);
        int vp = value_problem(value, vl);
        if (vp)
            return series_err(err, EM_EINVAL, s, BAD_LABELS, ": value of label %s %s", name,
                              vp == 1 ? "contains a NUL byte" : "is not valid UTF-8");
        if (i > 0) {
            const char *prev = s->labels.v[i - 1].name;
            int c = cmp_names(prev, s->label_lens[2 * i - 2], name, nl);
            /* Prometheus: "invalid labels for series, labels %v, duplicated label %s" */
            if (c == 0)
                return series_err(err, EM_EINVAL, s, "invalid labels for series, labels ",
                                  ", duplicated label %s", name);
            if (c > 0)
                return series_err(err, EM_EINVAL, s, BAD_LABELS, ": labels not sorted by name (%s after %s)",
                                  name, prev);
        }
        if (nl == 8 && memcmp(name, EM_METRIC_NAME, 8) == 0)
            has_name = true;
    }
    if (!has_name)
        return series_err(err, EM_EINVAL, s, BAD_LABELS, ": missing %s label", EM_METRIC_NAME);
    return EM_OK;
}
