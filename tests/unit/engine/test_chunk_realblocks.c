/* Checks the XOR codec against two blocks written by Prometheus's promtool (tsdb create-blocks-from
 * openmetrics) from testdata/prometheus-blocks/source.om.gz, and against promtool's dump of them
 * (expected-dump.txt.gz). For every chunk of every block: the CRC32C holds, the samples decode to exactly
 * the dumped ones (values bit for bit), and re-encoding them reproduces Prometheus's bytes.
 *
 * Blocks store series in label order and each series' chunks in time order, so the samples of all chunks
 * in file order equal, per block, the dump's samples (already sorted by series, then time) with
 * minTime <= t < maxTime from meta.json (Prometheus's block ranges are half-open).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/buf.h"
#include "base/hash.h"
#include "base/mem.h"
#include "base/strconv.h"
#include "engine/chunk.h"

#define BLOCKS_DIR EMBER_SHARED_DIR "/testdata/prometheus-blocks"
#define CHUNK_MAGIC 0x85BD40DDu

typedef struct {
    uint32_t series; /* index of the series in dump order */
    int64_t t;
    uint64_t v_bits;
} dump_sample_t;

typedef struct {
    dump_sample_t *v;
    size_t n, cap;
    uint32_t n_series;
} dump_t;

static void load_dump(dump_t *d)
{
    const char *path = BLOCKS_DIR "/expected-dump.txt.gz";
    gzFile f = gzopen(path, "rb");
    cr_assert_not_null(f, "test data missing: cannot open %s", path);
    memset(d, 0, sizeof(*d));
    char line[4096], prev[4096] = "";
    size_t lineno = 0;
    while (gzgets(f, line, sizeof(line))) {
        lineno++;
        size_t n = strlen(line);
        cr_assert(n > 0 && line[n - 1] == '\n', "%s:%zu: line too long or unterminated", path, lineno);
        line[--n] = 0;
        char *sp2 = strrchr(line, ' ');
        cr_assert_not_null(sp2, "%s:%zu: no timestamp", path, lineno);
        *sp2 = 0;
        char *sp1 = strrchr(line, ' ');
        cr_assert_not_null(sp1, "%s:%zu: no value", path, lineno);
        *sp1 = 0;
        char *end;
        long long t = strtoll(sp2 + 1, &end, 10);
        cr_assert(*end == 0, "%s:%zu: bad timestamp", path, lineno);
        double v;
        cr_assert(em_parse_float(sp1 + 1, strlen(sp1 + 1), &v), "%s:%zu: bad value %s", path, lineno,
                  sp1 + 1);
        if (strcmp(line, prev) != 0) {
            d->n_series++;
            snprintf(prev, sizeof(prev), "%s", line);
        }
        em_grow((void **)&d->v, &d->cap, d->n + 1, sizeof(*d->v));
        memcpy(&d->v[d->n].v_bits, &v, sizeof(v));
        d->v[d->n].t = t;
        d->v[d->n].series = d->n_series - 1;
        d->n++;
    }
    gzclose(f);
    cr_assert_gt(d->n, 0, "%s is empty", path);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "test data missing: cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = em_malloc((size_t)n + 1);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n, "short read of %s", path);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static int64_t json_int(const char *json, const char *key, const char *path)
{
    const char *p = strstr(json, key);
    cr_assert_not_null(p, "%s: no %s", path, key);
    p += strlen(key);
    while (*p == ' ' || *p == ':' || *p == '\t')
        p++;
    char *end;
    long long v = strtoll(p, &end, 10);
    cr_assert(end != p, "%s: bad %s", path, key);
    return v;
}

typedef struct {
    size_t chunks, samples, bytes_extra;
} block_stats_t;

/* Check one chunk against the dump samples starting at *cursor. */
static void check_chunk(const char *where, const uint8_t *data, size_t len, const dump_t *d,
                        const int64_t mint, const int64_t maxt, size_t *cursor, size_t *spare)
{
    size_t n = em_xor_num_samples(data, len);
    cr_assert(n > 0, "%s: empty chunk", where);
    int64_t *ts = em_malloc(n * sizeof(*ts));
    double *vs = em_malloc(n * sizeof(*vs));
    int rc;
    cr_assert_eq(em_xor_decode_all(data, len, ts, vs, n, &rc), n, "%s: bulk decode stopped early", where);
    cr_assert_eq(rc, EM_OK, "%s: bulk decode failed", where);

    /* The iterator agrees with the bulk path. */
    em_xor_iter_t it;
    em_xor_iter_init(&it, data, len);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(em_xor_iter_next(&it), EM_OK, "%s: iterator failed at sample %zu", where, i);
        int64_t t;
        double v;
        em_xor_iter_at(&it, &t, &v);
        cr_assert_eq(t, ts[i], "%s: sample %zu: iterator and bulk disagree", where, i);
        cr_assert_eq(memcmp(&v, &vs[i], 8), 0, "%s: sample %zu: iterator and bulk disagree", where, i);
    }
    cr_assert_eq(em_xor_iter_next(&it), EM_DONE, "%s", where);

    uint32_t series = 0;
    for (size_t i = 0; i < n; i++) {
        /* skip dump samples outside the block's range */
        while (*cursor < d->n && (d->v[*cursor].t < mint || d->v[*cursor].t >= maxt))
            (*cursor)++;
        cr_assert_lt(*cursor, d->n, "%s: more samples in the chunks than in the dump", where);
        const dump_sample_t *e = &d->v[*cursor];
        if (i == 0)
            series = e->series;
        cr_assert_eq(e->series, series, "%s: chunk spans two series at sample %zu", where, i);
        uint64_t vb;
        memcpy(&vb, &vs[i], 8);
        cr_assert_eq(ts[i], e->t, "%s: sample %zu: t=%" PRId64 ", dump has %" PRId64, where, i, ts[i], e->t);
        cr_assert_eq(vb, e->v_bits,
                     "%s: sample %zu (t=%" PRId64 "): value bits %016" PRIx64 ", dump %016" PRIx64, where, i,
                     ts[i], vb, e->v_bits);
        (*cursor)++;
    }

    /* Re-encoding gives Prometheus's bytes. */
    size_t cap = len + EM_XOR_MAX_SAMPLE_BYTES + 16;
    uint8_t *buf = em_malloc(cap);
    em_xor_enc_t enc;
    em_xor_enc_init(&enc, buf, cap);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(em_xor_enc_append(&enc, ts[i], vs[i]), EM_OK, "%s: append %zu", where, i);
    /* The blocks come from Prometheus 2.42, whose bstream sometimes left one spare zero byte at the end;
     * Prometheus 3 (and Ember) write the chunk without it. Both lengths must be exactly predicted. */
    size_t ours = em_xor_enc_bytes(&enc);
    cr_assert_eq(em_xor_enc_bytes_prom2(&enc), len, "%s: Prometheus 2 length %zu, the block has %zu", where,
                 em_xor_enc_bytes_prom2(&enc), len);
    cr_assert(ours == len || (ours + 1 == len && data[ours] == 0),
              "%s: re-encoded %zu bytes, Prometheus wrote %zu", where, ours, len);
    *spare += len - ours;
    for (size_t i = 0; i < ours; i++)
        cr_assert_eq(buf[i], data[i], "%s: re-encoded byte %zu is %02x, Prometheus wrote %02x", where, i,
                     buf[i], data[i]);
    free(buf);
    free(ts);
    free(vs);
}

/* Decode all chunks of a segment with em_xor_decode_batch (consecutive chunks paired, as a merge or a
 * compaction decodes a series) and compare with one em_xor_decode_all per chunk. */
static void check_batch(const char *path, em_xor_decode_job_t *jobs, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        jobs[j].max = em_xor_num_samples(jobs[j].data, jobs[j].len);
        jobs[j].ts_ms = em_malloc((jobs[j].max + 1) * sizeof(int64_t));
        jobs[j].vs = em_malloc((jobs[j].max + 1) * sizeof(double));
    }
    em_xor_decode_batch(jobs, n);
    for (size_t j = 0; j < n; j++) {
        size_t max = jobs[j].max;
        int64_t *ts = em_malloc((max + 1) * sizeof(*ts));
        double *vs = em_malloc((max + 1) * sizeof(*vs));
        int rc;
        size_t got = em_xor_decode_all(jobs[j].data, jobs[j].len, ts, vs, max, &rc);
        cr_assert_eq(jobs[j].rc, EM_OK, "%s: chunk %zu: batch decode failed", path, j);
        cr_assert_eq(jobs[j].n, got, "%s: chunk %zu: batch decoded %zu samples, one call %zu", path, j,
                     jobs[j].n, got);
        cr_assert_eq(memcmp(jobs[j].ts_ms, ts, got * sizeof(*ts)), 0, "%s: chunk %zu: timestamps differ",
                     path, j);
        cr_assert_eq(memcmp(jobs[j].vs, vs, got * sizeof(*vs)), 0, "%s: chunk %zu: value bits differ", path,
                     j);
        free(ts);
        free(vs);
        free(jobs[j].ts_ms);
        free(jobs[j].vs);
    }
}

static void check_segment(const char *path, const dump_t *d, int64_t mint, int64_t maxt, size_t *cursor,
                          block_stats_t *st)
{
    size_t flen;
    uint8_t *f = read_file(path, &flen);
    cr_assert_geq(flen, 8, "%s: shorter than its header", path);
    cr_assert_eq(em_be32(f), CHUNK_MAGIC, "%s: bad magic", path);
    cr_assert_eq(f[4], 1, "%s: chunk format version %u", path, f[4]);
    size_t off = 8, n_jobs = 0, cap_jobs = 0;
    em_xor_decode_job_t *jobs = NULL;
    while (off < flen) {
        char where[512];
        snprintf(where, sizeof(where), "%s@%zu", path, off);
        uint64_t dlen;
        size_t k = em_uvarint_get(f + off, f + flen, &dlen);
        cr_assert(k > 0, "%s: bad length varint", where);
        cr_assert_leq(off + k + 1 + dlen + 4, flen, "%s: chunk runs past the end of the file", where);
        const uint8_t *enc = f + off + k;
        const uint8_t *data = enc + 1;
        uint32_t want = em_be32(data + dlen);
        cr_assert_eq(em_crc32c(0, enc, 1 + dlen), want, "%s: CRC32C mismatch", where);
        cr_assert_eq(*enc, EM_CHUNK_XOR, "%s: encoding %u, expected XOR", where, *enc);
        check_chunk(where, data, dlen, d, mint, maxt, cursor, &st->bytes_extra);
        st->chunks++;
        st->samples += em_xor_num_samples(data, dlen);
        em_grow((void **)&jobs, &cap_jobs, n_jobs + 1, sizeof(*jobs));
        jobs[n_jobs++] = (em_xor_decode_job_t){.data = data, .len = dlen};
        off += k + 1 + dlen + 4;
    }
    check_batch(path, jobs, n_jobs);
    free(jobs);
    free(f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(engine_chunk_realblocks, prometheus_blocks_decode_to_dump_and_reencode_identically)
{
    dump_t d;
    load_dump(&d);

    DIR *dir = opendir(BLOCKS_DIR);
    cr_assert_not_null(dir, "test data missing: cannot open %s", BLOCKS_DIR);
    char *names[16];
    size_t n_blocks = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (strlen(de->d_name) == 26) { /* a ULID */
            cr_assert_lt(n_blocks, 16);
            names[n_blocks++] = em_strdup(de->d_name);
        }
    }
    closedir(dir);
    cr_assert_eq(n_blocks, 2, "expected 2 blocks in %s, found %zu", BLOCKS_DIR, n_blocks);
    qsort(names, n_blocks, sizeof(names[0]), cmp_str);

    size_t total = 0;
    for (size_t b = 0; b < n_blocks; b++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s/meta.json", BLOCKS_DIR, names[b]);
        size_t mlen;
        char *meta = (char *)read_file(path, &mlen);
        meta[mlen] = 0;
        int64_t mint = json_int(meta, "\"minTime\"", path), maxt = json_int(meta, "\"maxTime\"", path);
        int64_t want_samples = json_int(meta, "\"numSamples\"", path);
        int64_t want_chunks = json_int(meta, "\"numChunks\"", path);
        free(meta);

        block_stats_t st = {0};
        size_t cursor = 0;
        for (int seg = 1;; seg++) {
            snprintf(path, sizeof(path), "%s/%s/chunks/%06d", BLOCKS_DIR, names[b], seg);
            FILE *probe = fopen(path, "rb");
            if (!probe) {
                cr_assert_gt(seg, 1, "test data missing: %s", path);
                break;
            }
            fclose(probe);
            check_segment(path, &d, mint, maxt, &cursor, &st);
        }
        /* every dump sample of the block's range was in a chunk */
        while (cursor < d.n && (d.v[cursor].t < mint || d.v[cursor].t >= maxt))
            cursor++;
        cr_assert_eq(cursor, d.n, "block %s: dump samples in range missing from the chunks", names[b]);
        cr_assert_eq((int64_t)st.samples, want_samples, "block %s: %zu samples, meta.json says %" PRId64,
                     names[b], st.samples, want_samples);
        cr_assert_eq((int64_t)st.chunks, want_chunks, "block %s: %zu chunks, meta.json says %" PRId64,
                     names[b], st.chunks, want_chunks);
        total += st.samples;
        free(names[b]);
    }
    cr_assert_eq(total, d.n, "the blocks hold %zu samples, the dump %zu", total, d.n);
    free(d.v);
}
