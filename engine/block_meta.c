/* Design: see block.h (meta.json and the tombstones file). */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "base/hash.h"
#include "base/json.h"
#include "base/mem.h"
#include "engine/block.h"

/* ---- meta.json ---- */

void em_block_meta_fini(em_block_meta_t *m)
{
    if (!m)
        return;
    free(m->sources);
    free(m->parents);
    memset(m, 0, sizeof(*m));
}

void em_block_meta_copy(em_block_meta_t *dst, const em_block_meta_t *src)
{
    *dst = *src;
    dst->sources = NULL;
    dst->parents = NULL;
    if (src->n_sources) {
        dst->sources = em_malloc(src->n_sources * sizeof(*src->sources));
        memcpy(dst->sources, src->sources, src->n_sources * sizeof(*src->sources));
    }
    if (src->n_parents) {
        dst->parents = em_malloc(src->n_parents * sizeof(*src->parents));
        memcpy(dst->parents, src->parents, src->n_parents * sizeof(*src->parents));
    }
}

static void put_ulid(em_buf_t *out, const em_ulid_t *u)
{
    char s[EM_ULID_STR_LEN + 1];
    em_ulid_format(u, s);
    em_buf_printf(out, "\"%s\"", s);
}

/* Go's json.MarshalIndent(meta, "", "\t") of Prometheus's BlockMeta: fields in struct order, omitempty
 * ones left out when zero, no trailing newline. */
void em_block_meta_format(const em_block_meta_t *m, em_buf_t *out)
{
    em_buf_puts(out, "{\n\t\"ulid\": ");
    put_ulid(out, &m->ulid);
    em_buf_printf(out, ",\n\t\"minTime\": %" PRId64 ",\n\t\"maxTime\": %" PRId64 ",\n\t\"stats\": {",
                  m->min_time_ms, m->max_time_ms);
    const char *sep = "\n";
    const struct {
        const char *name;
        uint64_t v;
    } st[] = {{"numSamples", m->num_samples},
              {"numFloatSamples", m->num_float_samples},
              {"numHistogramSamples", m->num_histogram_samples},
              {"numSeries", m->num_series},
              {"numChunks", m->num_chunks},
              {"numTombstones", m->num_tombstones}};
    for (size_t i = 0; i < EM_ARRAY_LEN(st); i++) {
        if (st[i].v == 0)
            continue;
        em_buf_printf(out, "%s\t\t\"%s\": %" PRIu64, sep, st[i].name, st[i].v);
        sep = ",\n";
    }
    em_buf_puts(out, *sep == ',' ? "\n\t},\n" : "},\n");
    em_buf_printf(out, "\t\"compaction\": {\n\t\t\"level\": %d", m->level);
    if (m->n_sources) {
        em_buf_puts(out, ",\n\t\t\"sources\": [\n");
        for (size_t i = 0; i < m->n_sources; i++) {
            em_buf_puts(out, "\t\t\t");
            put_ulid(out, &m->sources[i]);
            em_buf_puts(out, i + 1 < m->n_sources ? ",\n" : "\n");
        }
        em_buf_puts(out, "\t\t]");
    }
    if (m->deletable)
        em_buf_puts(out, ",\n\t\t\"deletable\": true");
    if (m->n_parents) {
        em_buf_puts(out, ",\n\t\t\"parents\": [\n");
        for (size_t i = 0; i < m->n_parents; i++) {
            em_buf_puts(out, "\t\t\t{\n\t\t\t\t\"ulid\": ");
            put_ulid(out, &m->parents[i].ulid);
            em_buf_printf(
                out, ",\n\t\t\t\t\"minTime\": %" PRId64 ",\n\t\t\t\t\"maxTime\": %" PRId64 "\n\t\t\t}%s\n",
                m->parents[i].min_time_ms, m->parents[i].max_time_ms, i + 1 < m->n_parents ? "," : "");
        }
        em_buf_puts(out, "\t\t]");
    }
    if (m->failed)
        em_buf_puts(out, ",\n\t\t\"failed\": true");
    em_buf_printf(out, "\n\t},\n\t\"version\": %d\n}", m->version);
}

static int get_ulid(const em_json_t *v, em_ulid_t *out, const char *what, em_err_t *err)
{
    if (!v || v->type != EM_JSON_STRING)
        return em_err_set(err, EM_ECORRUPT, "%s: missing or not a string", what);
    if (em_ulid_parse(v->str, v->str_len, out, err) != EM_OK) {
        em_err_prefix(err, "%s", what);
        return EM_ECORRUPT;
    }
    return EM_OK;
}

static int get_i64(const em_json_t *obj, const char *key, bool required, int64_t *out, em_err_t *err)
{
    const em_json_t *v = em_json_get(obj, key);
    *out = 0;
    if (!v)
        return required ? em_err_set(err, EM_ECORRUPT, "%s missing", key) : EM_OK;
    if (em_json_int64(v, out) != EM_OK)
        return em_err_set(err, EM_ECORRUPT, "%s: not an integer", key);
    return EM_OK;
}

static int get_u64(const em_json_t *obj, const char *key, uint64_t *out, em_err_t *err)
{
    const em_json_t *v = em_json_get(obj, key);
    *out = 0;
    if (v && em_json_uint64(v, out) != EM_OK)
        return em_err_set(err, EM_ECORRUPT, "stats.%s: not a non-negative integer", key);
    return EM_OK;
}

static int parse_compaction(const em_json_t *c, em_block_meta_t *m, em_err_t *err)
{
    int64_t level;
    if (get_i64(c, "level", false, &level, err) != EM_OK)
        return EM_ECORRUPT;
    if (level < 0 || level > INT_MAX)
        return em_err_set(err, EM_ECORRUPT, "compaction.level out of range");
    m->level = (int)level;
    const em_json_t *v = em_json_get(c, "deletable");
    m->deletable = v && v->type == EM_JSON_BOOL && v->b;
    v = em_json_get(c, "failed");
    m->failed = v && v->type == EM_JSON_BOOL && v->b;
    const em_json_t *src = em_json_get(c, "sources");
    if (src && src->type == EM_JSON_ARRAY && src->n) {
        m->sources = em_calloc(src->n, sizeof(*m->sources));
        for (size_t i = 0; i < src->n; i++, m->n_sources++)
            if (get_ulid(&src->items[i], &m->sources[i], "compaction.sources", err) != EM_OK)
                return EM_ECORRUPT;
    }
    const em_json_t *par = em_json_get(c, "parents");
    if (par && par->type == EM_JSON_ARRAY && par->n) {
        m->parents = em_calloc(par->n, sizeof(*m->parents));
        for (size_t i = 0; i < par->n; i++, m->n_parents++) {
            const em_json_t *p = &par->items[i];
            if (get_ulid(em_json_get(p, "ulid"), &m->parents[i].ulid, "compaction.parents.ulid", err) !=
                    EM_OK ||
                get_i64(p, "minTime", false, &m->parents[i].min_time_ms, err) != EM_OK ||
                get_i64(p, "maxTime", false, &m->parents[i].max_time_ms, err) != EM_OK)
                return EM_ECORRUPT;
        }
    }
    return EM_OK;
}

int em_block_meta_parse(const char *s, size_t n, em_block_meta_t *out, em_err_t *err)
{
    em_arena_t a;
    em_arena_init(&a);
    em_block_meta_t m;
    memset(&m, 0, sizeof(m));
    int rc = EM_ECORRUPT;
    const em_json_t *root;
    if (em_json_parse(s, n, &a, 16, &root, err) != EM_OK)
        goto out;
    if (root->type != EM_JSON_OBJECT) {
        em_err_set(err, EM_ECORRUPT, "not a JSON object");
        goto out;
    }
    int64_t version;
    if (get_ulid(em_json_get(root, "ulid"), &m.ulid, "ulid", err) != EM_OK ||
        get_i64(root, "minTime", true, &m.min_time_ms, err) != EM_OK ||
        get_i64(root, "maxTime", true, &m.max_time_ms, err) != EM_OK ||
        get_i64(root, "version", true, &version, err) != EM_OK)
        goto out;
    if (version != EM_BLOCK_META_VERSION) {
        em_err_set(err, EM_ECORRUPT, "unexpected meta file version %" PRId64, version);
        goto out;
    }
    m.version = (int)version;
    const em_json_t *st = em_json_get(root, "stats");
    if (get_u64(st, "numSamples", &m.num_samples, err) != EM_OK ||
        get_u64(st, "numSeries", &m.num_series, err) != EM_OK ||
        get_u64(st, "numChunks", &m.num_chunks, err) != EM_OK ||
        get_u64(st, "numTombstones", &m.num_tombstones, err) != EM_OK ||
        get_u64(st, "numFloatSamples", &m.num_float_samples, err) != EM_OK ||
        get_u64(st, "numHistogramSamples", &m.num_histogram_samples, err) != EM_OK)
        goto out;
    const em_json_t *c = em_json_get(root, "compaction");
    if (c && parse_compaction(c, &m, err) != EM_OK)
        goto out;
    *out = m;
    memset(&m, 0, sizeof(m));
    rc = EM_OK;
out:
    if (rc != EM_OK && err)
        err->code = rc;
    em_block_meta_fini(&m);
    em_arena_fini(&a);
    return rc;
}

int em_block_meta_read(const char *dir, em_block_meta_t *out, em_err_t *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/meta.json", dir);
    em_buf_t b = EM_BUF_INIT;
    int rc = em_read_file(path, EM_BLOCK_META_MAX_BYTES, &b, err);
    if (rc == EM_OK) {
        rc = em_block_meta_parse(b.data ? b.data : "", b.len, out, err);
        if (rc != EM_OK)
            em_err_prefix(err, "%s", path);
    }
    em_buf_fini(&b);
    return rc;
}

int em_block_meta_write(const char *dir, const em_block_meta_t *m, em_err_t *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/meta.json", dir);
    em_buf_t b = EM_BUF_INIT;
    em_block_meta_format(m, &b);
    int rc = em_write_file_atomic(path, b.data, b.len, err);
    em_buf_fini(&b);
    return rc;
}

/* ---- tombstones ---- */

void em_tombstones_init(em_tombstones_t *t)
{
    memset(t, 0, sizeof(*t));
}

void em_tombstones_fini(em_tombstones_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].iv);
    free(t->v);
    em_tombstones_init(t);
}

static size_t ts_find(const em_tombstones_t *t, uint64_t ref)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->v[mid].series_ref < ref)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const em_tombstone_t *em_tombstones_get(const em_tombstones_t *t, uint64_t ref)
{
    size_t i = ts_find(t, ref);
    return i < t->n && t->v[i].series_ref == ref ? &t->v[i] : NULL;
}

/* Prometheus's Intervals.Add: insert keeping order, merging overlapping and adjacent intervals. */
static void iv_add(em_tombstone_t *ts, int64_t mint, int64_t maxt)
{
    em_interval_t *v = em_malloc((ts->n + 1) * sizeof(*v));
    size_t n = 0;
    bool placed = false;
    for (size_t i = 0; i < ts->n; i++) {
        em_interval_t c = ts->iv[i];
        bool before = c.maxt_ms < mint && c.maxt_ms + 1 < mint; /* strictly before, not adjacent */
        bool after = c.mint_ms > maxt && c.mint_ms - 1 > maxt;
        if (before) {
            v[n++] = c;
        } else if (after) {
            if (!placed) {
                v[n++] = (em_interval_t){mint, maxt};
                placed = true;
            }
            v[n++] = c;
        } else {
            mint = c.mint_ms < mint ? c.mint_ms : mint;
            maxt = c.maxt_ms > maxt ? c.maxt_ms : maxt;
        }
    }
    if (!placed)
        v[n++] = (em_interval_t){mint, maxt};
    free(ts->iv);
    ts->iv = v;
    ts->n = n;
}

void em_tombstones_add(em_tombstones_t *t, uint64_t ref, int64_t mint_ms, int64_t maxt_ms)
{
    size_t i = ts_find(t, ref);
    if (i == t->n || t->v[i].series_ref != ref) {
        em_grow((void **)&t->v, &t->cap, t->n + 1, sizeof(*t->v));
        memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof(*t->v));
        t->v[i] = (em_tombstone_t){ref, NULL, 0};
        t->n++;
    }
    iv_add(&t->v[i], mint_ms, maxt_ms);
}

uint64_t em_tombstones_count(const em_tombstones_t *t)
{
    uint64_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += t->v[i].n;
    return n;
}

void em_tombstones_encode(const em_tombstones_t *t, em_buf_t *out)
{
    em_buf_put_be32(out, EM_BLOCK_TOMBSTONES_MAGIC);
    em_buf_put_u8(out, 1);
    size_t start = out->len;
    /* Prometheus writes one record per interval (series ref, 1, mint, maxt); readers accept both. */
    for (size_t i = 0; i < t->n; i++)
        for (size_t j = 0; j < t->v[i].n; j++) {
            em_buf_put_uvarint(out, t->v[i].series_ref);
            em_buf_put_uvarint(out, 1);
            em_buf_put_varint(out, t->v[i].iv[j].mint_ms);
            em_buf_put_varint(out, t->v[i].iv[j].maxt_ms);
        }
    em_buf_put_be32(out, em_crc32c(0, out->data + start, out->len - start));
}

int em_tombstones_decode(const uint8_t *p, size_t n, em_tombstones_t *out, em_err_t *err)
{
    if (n < 9)
        return em_err_set(err, EM_ECORRUPT, "tombstones: file too short (%zu bytes)", n);
    if (em_be32(p) != EM_BLOCK_TOMBSTONES_MAGIC)
        return em_err_set(err, EM_ECORRUPT, "tombstones: invalid magic number %08x at offset 0", em_be32(p));
    if (p[4] != 1)
        return em_err_set(err, EM_ECORRUPT, "tombstones: invalid format version %u at offset 4", p[4]);
    uint32_t want = em_be32(p + n - 4), got = em_crc32c(0, p + 5, n - 9);
    if (want != got)
        return em_err_set(err, EM_ECORRUPT, "tombstones: checksum mismatch (stored %08x, computed %08x)",
                          want, got);
    em_tombstones_t t;
    em_tombstones_init(&t);
    em_dec_t d;
    em_dec_init(&d, p + 5, n - 9);
    while (em_dec_left(&d) > 0 && !em_dec_err(&d)) {
        size_t off = (size_t)(d.p - p);
        uint64_t ref = em_dec_uvarint(&d), k = em_dec_uvarint(&d);
        for (uint64_t j = 0; j < k && !em_dec_err(&d); j++) {
            int64_t a = em_dec_varint(&d), b = em_dec_varint(&d);
            if (em_dec_err(&d))
                break;
            if (b < a) {
                em_tombstones_fini(&t);
                return em_err_set(err, EM_ECORRUPT, "tombstones: interval with maxt < mint at offset %zu",
                                  off);
            }
            em_tombstones_add(&t, ref, a, b);
        }
    }
    if (em_dec_err(&d)) {
        em_tombstones_fini(&t);
        return em_err_set(err, EM_ECORRUPT, "tombstones: truncated record at offset %zu", (size_t)(d.p - p));
    }
    *out = t;
    return EM_OK;
}

int em_tombstones_read(const char *dir, em_tombstones_t *out, em_err_t *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/tombstones", dir);
    em_buf_t b = EM_BUF_INIT;
    int rc = em_read_file(path, (size_t)1 << 30, &b, err);
    if (rc == EM_ENOTFOUND) {
        em_tombstones_init(out);
        rc = EM_OK;
    } else if (rc == EM_OK) {
        rc = em_tombstones_decode((const uint8_t *)b.data, b.len, out, err);
        if (rc != EM_OK)
            em_err_prefix(err, "%s", path);
    }
    em_buf_fini(&b);
    return rc;
}

int em_tombstones_write(const char *dir, const em_tombstones_t *t, em_err_t *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/tombstones", dir);
    em_buf_t b = EM_BUF_INIT;
    em_tombstones_encode(t, &b);
    int rc = em_write_file_atomic(path, b.data, b.len, err);
    em_buf_fini(&b);
    return rc;
}
