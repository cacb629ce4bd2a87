/* Design: see block.h (INDEX, READING). Parsing of a v2 index held in memory; every read is bounded by
 * the input and every failed check is EM_ECORRUPT naming the offset. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/hash.h"
#include "base/mem.h"
#include "engine/block_int.h"

/* The table at 'off': len (BE32) | body | CRC32C(body). Sets body/len on success. */
static int read_table(const em_index_t *ix, uint64_t off, const char *what, const uint8_t **body, size_t *len,
                      em_err_t *err)
{
    if (off > ix->n || ix->n - off < 8)
        return em_err_set(err, EM_ECORRUPT, "index: %s at offset %" PRIu64 " out of bounds", what, off);
    uint32_t l = em_be32(ix->p + off);
    if (l > ix->n - off - 8)
        return em_err_set(err, EM_ECORRUPT, "index: %s at offset %" PRIu64 ": length %u exceeds the file",
                          what, off, l);
    const uint8_t *b = ix->p + off + 4;
    uint32_t want = em_be32(b + l), got = ix->no_crc ? want : em_crc32c(0, b, l);
    if (want != got)
        return em_err_set(err, EM_ECORRUPT, "index: %s at offset %" PRIu64 ": checksum mismatch", what, off);
    *body = b;
    *len = l;
    return EM_OK;
}

static int parse_symbols(em_index_t *ix, uint64_t off, em_err_t *err)
{
    const uint8_t *b;
    size_t len;
    int rc = read_table(ix, off, "symbol table", &b, &len, err);
    if (rc != EM_OK)
        return rc;
    em_dec_t d;
    em_dec_init(&d, b, len);
    uint32_t n = em_dec_be32(&d);
    if (em_dec_err(&d) || n > len)
        return em_err_set(err, EM_ECORRUPT, "index: symbol table at offset %" PRIu64 ": bad count", off);
    ix->sym_store = em_malloc(len + n + 1);
    ix->syms = em_malloc((n + 1) * sizeof(*ix->syms));
    ix->sym_len = em_malloc((n + 1) * sizeof(*ix->sym_len));
    char *w = ix->sym_store;
    for (uint32_t i = 0; i < n; i++) {
        size_t sl;
        const uint8_t *s = em_dec_uvarint_bytes(&d, &sl);
        if (!s || em_dec_err(&d))
            return em_err_set(err, EM_ECORRUPT, "index: symbol %u at offset %zu truncated", i,
                              (size_t)(d.p - ix->p));
        memcpy(w, s, sl);
        w[sl] = 0;
        ix->syms[i] = w;
        ix->sym_len[i] = (uint32_t)sl;
        w += sl + 1;
        ix->n_syms = i + 1;
    }
    return EM_OK;
}

/* The loaded symbol equal to s[0, n), or NULL. The format keeps symbols sorted (byte order), so a binary
 * search finds it; in a table that is not sorted the search may miss, and the caller copies instead. */
static const char *find_symbol(const em_index_t *ix, const uint8_t *s, size_t n)
{
    size_t lo = 0, hi = ix->n_syms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2, ml = ix->sym_len[mid];
        int c = memcmp(ix->syms[mid], s, ml < n ? ml : n);
        if (c == 0)
            c = (ml > n) - (ml < n);
        if (c == 0)
            return ix->syms[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* A postings-table string: the symbol's loaded copy when there is one (every label name and value is a
 * symbol, except the all-postings entry's empty pair), else a copy of its own. */
static const char *pt_string(em_index_t *ix, const uint8_t *s, size_t n)
{
    const char *sym = find_symbol(ix, s, n);
    return sym ? sym : em_arena_strndup(&ix->pt_store, (const char *)s, n);
}

static int parse_postings_table(em_index_t *ix, uint64_t off, em_err_t *err)
{
    const uint8_t *b;
    size_t len;
    int rc = read_table(ix, off, "postings offset table", &b, &len, err);
    if (rc != EM_OK)
        return rc;
    em_dec_t d;
    em_dec_init(&d, b, len);
    uint32_t n = em_dec_be32(&d);
    if (em_dec_err(&d) || n > len)
        return em_err_set(err, EM_ECORRUPT, "index: postings offset table at offset %" PRIu64 ": bad count",
                          off);
    ix->pt = em_calloc(n + 1, sizeof(*ix->pt));
    for (uint32_t i = 0; i < n; i++) {
        size_t at = (size_t)(d.p - ix->p), nl, vl;
        uint64_t k = em_dec_uvarint(&d);
        const uint8_t *nm = em_dec_uvarint_bytes(&d, &nl);
        const uint8_t *vv = em_dec_uvarint_bytes(&d, &vl);
        uint64_t po = em_dec_uvarint(&d);
        if (em_dec_err(&d) || k != 2 || po >= ix->n)
            return em_err_set(err, EM_ECORRUPT,
                              "index: postings offset table entry %u at offset %zu is invalid", i, at);
        em_index_pentry_t *e = &ix->pt[i];
        /* Entries of one name follow each other: look the name up once per run. */
        const char *prev = i > 0 ? ix->pt[i - 1].name : NULL;
        e->name = prev && strlen(prev) == nl && memcmp(prev, nm, nl) == 0 ? prev : pt_string(ix, nm, nl);
        e->value = pt_string(ix, vv, vl);
        e->off = po;
        if (strlen(e->name) != nl || strlen(e->value) != vl)
            return em_err_set(err, EM_ECORRUPT, "index: NUL byte in a label at offset %zu", at);
        if (i > 0) {
            int c = strcmp(ix->pt[i - 1].name, e->name);
            if (c > 0 || (c == 0 && strcmp(ix->pt[i - 1].value, e->value) >= 0))
                return em_err_set(err, EM_ECORRUPT, "index: postings offset table not sorted at offset %zu",
                                  at);
        }
        ix->n_pt = i + 1;
    }
    return EM_OK;
}

/* The label offset table and the label indices it points to are not needed to answer queries (the
 * postings offset table has the same information), but Prometheus reads them, so they are checked:
 * their CRCs, and that each index only names existing symbols. */
static int check_label_tables(em_index_t *ix, uint64_t off, em_err_t *err)
{
    const uint8_t *b;
    size_t len;
    int rc = read_table(ix, off, "label offset table", &b, &len, err);
    if (rc != EM_OK)
        return rc;
    em_dec_t d;
    em_dec_init(&d, b, len);
    uint32_t n = em_dec_be32(&d);
    for (uint32_t i = 0; i < n && !em_dec_err(&d); i++) {
        size_t at = (size_t)(d.p - ix->p), nl;
        uint64_t k = em_dec_uvarint(&d);
        em_dec_uvarint_bytes(&d, &nl);
        uint64_t lo = em_dec_uvarint(&d);
        if (em_dec_err(&d) || k != 1)
            return em_err_set(err, EM_ECORRUPT, "index: label offset table entry %u at offset %zu is invalid",
                              i, at);
        const uint8_t *lb;
        size_t ll;
        if ((rc = read_table(ix, lo, "label index", &lb, &ll, err)) != EM_OK)
            return rc;
        if (ll < 8 || em_be32(lb) != 1 || (uint64_t)em_be32(lb + 4) * 4 != ll - 8)
            return em_err_set(err, EM_ECORRUPT, "index: label index at offset %" PRIu64 " is malformed", lo);
        for (size_t j = 8; j < ll; j += 4)
            if (em_be32(lb + j) >= ix->n_syms)
                return em_err_set(err, EM_ECORRUPT, "index: label index at offset %" PRIu64 ": bad symbol",
                                  lo);
    }
    if (em_dec_err(&d) || em_dec_left(&d) != 0)
        return em_err_set(err, EM_ECORRUPT, "index: label offset table at offset %" PRIu64 " is malformed",
                          off);
    return EM_OK;
}

int em_index_parse(em_index_t *ix, const uint8_t *p, size_t n, em_err_t *err)
{
    return em_index_parse_ex(ix, p, n, false, err);
}

int em_index_parse_ex(em_index_t *ix, const uint8_t *p, size_t n, bool no_crc, em_err_t *err)
{
    memset(ix, 0, sizeof(*ix));
    ix->no_crc = no_crc;
    em_arena_init(&ix->pt_store);
    ix->p = p;
    ix->n = n;
    int rc = EM_ECORRUPT;
    if (n < 5 + EM_BLOCK_INDEX_TOC_BYTES) {
        em_err_set(err, EM_ECORRUPT, "index: file too short (%zu bytes)", n);
        goto out;
    }
    if (em_be32(p) != EM_BLOCK_INDEX_MAGIC) {
        em_err_set(err, EM_ECORRUPT, "index: invalid magic number %08x at offset 0", em_be32(p));
        goto out;
    }
    if (p[4] != EM_BLOCK_INDEX_VERSION) {
        em_err_set(err, EM_ECORRUPT, "index: unsupported format version %u at offset 4", p[4]);
        goto out;
    }
    const uint8_t *toc = p + n - EM_BLOCK_INDEX_TOC_BYTES;
    if (!ix->no_crc && em_be32(toc + 48) != em_crc32c(0, toc, 48)) {
        em_err_set(err, EM_ECORRUPT, "index: TOC checksum mismatch at offset %zu",
                   n - EM_BLOCK_INDEX_TOC_BYTES);
        goto out;
    }
    uint64_t t[6];
    for (int i = 0; i < 6; i++) {
        t[i] = em_be64(toc + 8 * i);
        if (t[i] < 5 || t[i] > n - EM_BLOCK_INDEX_TOC_BYTES) {
            em_err_set(err, EM_ECORRUPT, "index: TOC entry %d (%" PRIu64 ") out of bounds", i, t[i]);
            goto out;
        }
    }
    if (t[1] > t[2]) {
        em_err_set(err, EM_ECORRUPT, "index: series section [%" PRIu64 ", %" PRIu64 ") is inverted", t[1],
                   t[2]);
        goto out;
    }
    ix->series_off = t[1];
    ix->series_end = t[2];
    if ((rc = parse_symbols(ix, t[0], err)) != EM_OK || (rc = parse_postings_table(ix, t[5], err)) != EM_OK ||
        (rc = check_label_tables(ix, t[3], err)) != EM_OK)
        goto out;
    rc = EM_OK;
out:
    if (rc != EM_OK) {
        if (err)
            err->code = EM_ECORRUPT;
        em_index_fini(ix);
        rc = EM_ECORRUPT;
    }
    return rc;
}

void em_index_fini(em_index_t *ix)
{
    free(ix->sym_store);
    free(ix->syms);
    free(ix->sym_len);
    free(ix->pt);
    em_arena_fini(&ix->pt_store);
    memset(ix, 0, sizeof(*ix));
    em_arena_init(&ix->pt_store);
}

void em_index_series_fini(em_index_series_t *s)
{
    free(s->labels);
    free(s->chunks);
    memset(s, 0, sizeof(*s));
}

int em_index_series(const em_index_t *ix, uint64_t ref, em_index_series_t *out, em_err_t *err)
{
    uint64_t off = ref * 16;
    if (ref > UINT64_MAX / 16 || off < ix->series_off || off >= ix->series_end)
        return em_err_set(err, EM_ECORRUPT, "index: series ref %" PRIu64 " outside the series section", ref);
    em_dec_t d;
    em_dec_init(&d, ix->p + off, ix->n - off);
    uint64_t len = em_dec_uvarint(&d);
    if (em_dec_err(&d) || len > em_dec_left(&d) || em_dec_left(&d) - len < 4)
        return em_err_set(err, EM_ECORRUPT, "index: series at offset %" PRIu64 " truncated", off);
    const uint8_t *body = d.p;
    if (!ix->no_crc && em_be32(body + len) != em_crc32c(0, body, len))
        return em_err_set(err, EM_ECORRUPT, "index: series at offset %" PRIu64 ": checksum mismatch", off);
    em_dec_init(&d, body, len);
    uint64_t nl = em_dec_uvarint(&d);
    if (nl > len)
        goto bad;
    out->n_labels = out->n_chunks = 0;
    em_grow((void **)&out->labels, &out->cap_labels, nl + 1, sizeof(*out->labels));
    for (uint64_t i = 0; i < nl; i++) {
        uint64_t a = em_dec_uvarint(&d), b = em_dec_uvarint(&d);
        if (em_dec_err(&d) || a >= ix->n_syms || b >= ix->n_syms)
            goto bad;
        out->labels[out->n_labels++] = (em_label_t){ix->syms[a], ix->syms[b]};
    }
    uint64_t nc = em_dec_uvarint(&d);
    if (nc > len)
        goto bad;
    em_grow((void **)&out->chunks, &out->cap_chunks, nc + 1, sizeof(*out->chunks));
    int64_t maxt = 0;
    uint64_t cref = 0;
    for (uint64_t i = 0; i < nc; i++) {
        em_index_chunk_t c;
        if (i == 0) {
            c.mint_ms = em_dec_varint(&d);
            c.maxt_ms = (int64_t)((uint64_t)c.mint_ms + em_dec_uvarint(&d));
            c.ref = em_dec_uvarint(&d);
        } else {
            c.mint_ms = (int64_t)((uint64_t)maxt + em_dec_uvarint(&d));
            c.maxt_ms = (int64_t)((uint64_t)c.mint_ms + em_dec_uvarint(&d));
            c.ref = cref + (uint64_t)em_dec_varint(&d);
        }
        if (em_dec_err(&d))
            goto bad;
        maxt = c.maxt_ms;
        cref = c.ref;
        out->chunks[out->n_chunks++] = c;
    }
    if (em_dec_err(&d))
        goto bad;
    return EM_OK;
bad:
    return em_err_set(err, EM_ECORRUPT, "index: series at offset %" PRIu64 " is malformed", off);
}

int em_index_postings_at(const em_index_t *ix, uint64_t off, em_postings_t *out, em_err_t *err)
{
    const uint8_t *b;
    size_t len;
    int rc = read_table(ix, off, "postings list", &b, &len, err);
    if (rc != EM_OK)
        return rc;
    if (len < 4 || (uint64_t)em_be32(b) * 4 != len - 4)
        return em_err_set(err, EM_ECORRUPT, "index: postings list at offset %" PRIu64 ": bad count", off);
    size_t n = em_be32(b);
    em_postings_reserve(out, n);
    for (size_t i = 0; i < n; i++)
        out->v[i] = em_be32(b + 4 + 4 * i);
    out->n = n;
    if (!em_postings_is_sorted(out->v, n))
        return em_err_set(err, EM_ECORRUPT, "index: postings list at offset %" PRIu64 " not sorted", off);
    return EM_OK;
}

void em_index_name_range(const em_index_t *ix, const char *name, size_t *lo_out, size_t *hi_out)
{
    size_t lo = 0, hi = ix->n_pt;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix->pt[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < ix->n_pt && strcmp(ix->pt[end].name, name) == 0)
        end++;
    *lo_out = lo;
    *hi_out = end;
}
