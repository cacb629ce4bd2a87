/* engine/block_int.h -- internals of engine/block*.c shared with their tests and fuzz targets. */
#ifndef EMBER_ENGINE_BLOCK_INT_H
#define EMBER_ENGINE_BLOCK_INT_H

#include "engine/block.h"
#include "engine/postings.h"

#define EM_BLOCK_INDEX_TOC_BYTES 52
#define EM_BLOCK_CHUNKS_HEADER_BYTES 8

/* A parsed, read-only view of an index file in memory (mapped or not; the caller keeps it alive). */
typedef struct em_index_pentry {
    const char *name, *value; /* the symbols' loaded copies (pt_store holds any that are not symbols) */
    uint64_t off;             /* offset of the postings list */
} em_index_pentry_t;

typedef struct em_index {
    const uint8_t *p;
    size_t n;
    char *sym_store;   /* NUL-terminated copies of the symbols */
    const char **syms; /* symbol i */
    uint32_t *sym_len;
    size_t n_syms;
    em_index_pentry_t *pt; /* postings offset table, sorted by (name, value); pt[0] is ("", "") */
    size_t n_pt;
    em_arena_t pt_store;             /* names/values of pt */
    uint64_t series_off, series_end; /* the series section [series_off, series_end) */
    bool no_crc;                     /* fuzzing only: skip checksum checks to reach the parsers */
} em_index_t;

/* Parse the index's header, TOC, symbol table and postings offset table, checking magic, version and
 * those CRCs. Errors (EM_ECORRUPT) name the offset ("index: ..."). Thread: any. */
int em_index_parse(em_index_t *ix, const uint8_t *p, size_t n, em_err_t *err);
/* As em_index_parse; no_crc skips every checksum check (for the fuzz target, which otherwise would
 * rarely get past them). */
int em_index_parse_ex(em_index_t *ix, const uint8_t *p, size_t n, bool no_crc, em_err_t *err);
void em_index_fini(em_index_t *ix);

/* A series record read from the index. */
typedef struct em_index_chunk {
    int64_t mint_ms, maxt_ms;
    uint64_t ref;
} em_index_chunk_t;

typedef struct em_index_series {
    em_label_t *labels; /* strings borrowed from the index's symbols */
    size_t n_labels, cap_labels;
    em_index_chunk_t *chunks;
    size_t n_chunks, cap_chunks;
} em_index_series_t;

void em_index_series_fini(em_index_series_t *s);
/* Read series 'ref' (offset / 16), checking its CRC. EM_OK or EM_ECORRUPT (message with offset). */
int em_index_series(const em_index_t *ix, uint64_t ref, em_index_series_t *out, em_err_t *err);
/* The postings list at offset 'off' (from the postings offset table): checks its CRC and order, and
 * copies it into 'out'. */
int em_index_postings_at(const em_index_t *ix, uint64_t off, em_postings_t *out, em_err_t *err);
/* Index range [lo, hi) of the postings table entries with this name (all values). */
void em_index_name_range(const em_index_t *ix, const char *name, size_t *lo, size_t *hi);

#endif
