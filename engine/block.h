/* engine/block.h -- persistent blocks in the Prometheus TSDB on-disk format: write, open, query, delete.
 *
 * DESIGN. A block is an immutable directory holding every sample of a set of series for a time range
 * [min_time_ms, max_time_ms) (half-open, as Prometheus's BlockMeta). Its name is a ULID (base/ulid.h).
 * The files are byte-compatible with Prometheus's TSDB (tsdb/docs/format/{index,chunks,tombstones}.md),
 * so blocks move both ways between Ember and Prometheus (promtool tsdb dump/analyze read ours; we serve
 * theirs):
 *
 *     01M81VYW8X6ZTPSTNA70FGTEZ3/
 *         meta.json     {"ulid", "minTime", "maxTime", "stats", "compaction", "version": 1}
 *         index         series, their labels and chunk references; postings (index format v2)
 *         chunks/000001 chunk segment files (at most 512 MiB each)
 *         tombstones    deleted intervals per series
 *
 * CHUNK SEGMENT FILES (chunks/NNNNNN, numbered from 000001):
 *     offset   field
 *     0        magic 0x85BD40DD (BE32)
 *     4        version 1 (u8)
 *     5        3 zero bytes of padding
 *     8        chunk: len (uvarint, bytes of data) | encoding (u8, 1 = XOR) | data | CRC32C (BE32) of
 *              encoding and data
 *     ...      more chunks, back to back; a chunk never straddles two files
 *   A chunk reference is (file sequence, 0-based) << 32 | byte offset of the chunk in that file.
 *
 * INDEX (v2; all integers big-endian unless marked varint):
 *     offset   field
 *     0        magic 0xBAAAD700 (BE32) | version 2 (u8)
 *     5        symbol table: len (BE32) | n (BE32) | n x (uvarint len, bytes), sorted, unique | CRC32C
 *     .        series, each at a 16-byte aligned offset (its id, "series ref", is offset / 16), in label
 *              order: len (uvarint) | n_labels (uvarint) | n_labels x (name, value) symbol indexes
 *              (uvarint) | n_chunks (uvarint) | chunk 0: mint (varint), maxt - mint (uvarint), ref
 *              (uvarint) | chunk i: mint - prev maxt (uvarint), maxt - mint (uvarint), ref - prev ref
 *              (varint) | CRC32C of the bytes between len and CRC
 *     .        label indices, one per label name, 4-byte aligned: len (BE32) | 1 (BE32) | n (BE32) |
 *              n x symbol index (BE32), sorted | CRC32C
 *     .        postings lists, one per (name, value) and first the all-series list ("", ""), 4-byte
 *              aligned: len (BE32) | n (BE32) | n x series ref (BE32), increasing | CRC32C
 *     .        label offset table: len (BE32) | n (BE32) | n x (1 (uvarint), name (uvarint len, bytes),
 *              offset of the label index (uvarint)) | CRC32C
 *     .        postings offset table: len (BE32) | n (BE32) | n x (2 (uvarint), name, value (uvarint len,
 *              bytes), offset of the postings list (uvarint)), sorted by (name, value) | CRC32C
 *     end-52   TOC: offsets (BE64) of symbols, series, label indices, label offset table, postings,
 *              postings offset table | CRC32C of those 48 bytes
 *   Each "len" counts the bytes after itself up to (not including) the CRC; each CRC32C covers those
 *   bytes.
 *
 * TOMBSTONES: magic 0x0130BA30 (BE32) | version 1 (u8) | per series: series ref (uvarint), n (uvarint),
 *   n x (mint (varint), maxt (varint)) | CRC32C (BE32) of the entries. Intervals are closed
 *   [mint, maxt]; an empty file is 9 bytes.
 *
 * WRITING. em_block_writer_t receives series in label order (em_labels_cmp), either as samples (encoded
 * here into XOR chunks of at most 120 samples, as Prometheus cuts them) or as ready chunks (copied as
 * they are, except that chunks reaching outside [min_time_ms, max_time_ms) are re-encoded with only the
 * samples inside). Chunks stream to the segment files as they come; series labels and chunk metas are
 * kept in memory until commit writes the index, tombstones and meta.json, fsyncs every file, and renames
 * the directory from "<parent>/<ULID>.tmp-for-creation" to "<parent>/<ULID>" and fsyncs the parent.
 * A crash at any point leaves at most a *.tmp-for-creation directory, never a visible half block
 * (em_block_cleanup_tmp removes leftovers). A writer that failed stays failed (sticky error).
 *
 * READING. em_block_open reads meta.json, maps the index and the chunk files (mmap, read-only) and
 * checks what is cheap to check: magics, versions, the TOC and its CRC, and the CRCs of the symbol table,
 * the label offset table and label indices, and the postings offset table. The first querier loads the
 * symbol table and the postings offset table (symbols as NUL-terminated strings; the postings offset
 * table as a sorted array), so a block no query touches costs only its mappings; em_block_unload_idle
 * frees them again once no querier has used the block for a while (the db does so after
 * EM_DB_INDEX_IDLE_MS), so a query over months of blocks does not keep every index in memory. Series records,
 * postings lists and chunks stay on disk and are read on demand, each checked against its CRC before
 * use; a failed check turns into EM_ECORRUPT from the series set or iterator, with a message naming the
 * file and offset. em_block_verify checks everything.
 *
 * QUERYING. A block is an em_queryable_t (engine/querier.h). select() resolves matchers to postings
 * (engine/postings.h set algebra, the all-series list for matchers that accept the empty value), walks
 * the series in ref order -- which is label order -- and skips series with no chunk in [mint, maxt].
 * samples() decodes chunks lazily (engine/chunk.h) and trims to [mint, maxt]; chunks() hands out the
 * mapped chunk bytes without copying. Tombstones hide samples: samples() skips deleted ones, chunks()
 * re-encodes a chunk that a deleted interval touches (so compaction drops deleted data). Native
 * histogram chunks found in Prometheus blocks are not decoded: samples() skips them (Ember has no
 * histogram samples), chunks() hands them out unchanged, so compaction keeps them.
 *
 * LIFETIME. A block is reference counted. em_block_open returns it with one reference (the opener's);
 * each querier holds another until closed. em_block_mark_deleted asks for the directory to be removed:
 * removal happens when the last reference is released, so a block is deleted only after no query uses
 * it. Memory from a querier (labels, chunk bytes) stays valid until the querier is closed.
 *
 * THREADS. Opening, writing and querying are per-object single-threaded (one writer, one querier per
 * thread); one block may have any number of queriers in any threads. References are atomic. Tombstones
 * are an immutable table swapped under the block's mutex: a querier uses the table current when it
 * was opened, so em_block_delete is visible to queriers opened after it returns.
 */
#ifndef EMBER_ENGINE_BLOCK_H
#define EMBER_ENGINE_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/ulid.h"
#include "engine/labels.h"
#include "engine/matcher.h"
#include "engine/querier.h"

#define EM_BLOCK_INDEX_MAGIC 0xBAAAD700u
#define EM_BLOCK_INDEX_VERSION 2
#define EM_BLOCK_CHUNKS_MAGIC 0x85BD40DDu
#define EM_BLOCK_CHUNKS_VERSION 1
#define EM_BLOCK_TOMBSTONES_MAGIC 0x0130BA30u
#define EM_BLOCK_META_VERSION 1
/* Prometheus's chunks.DefaultChunkSegmentSize. */
#define EM_BLOCK_SEGMENT_MAX_BYTES (512u * 1024u * 1024u)
/* Samples per chunk when this module encodes chunks (Prometheus's compaction re-encodes to 120). */
#define EM_BLOCK_CHUNK_SAMPLES 120
/* Suffix of a directory under construction (Prometheus's tmpForCreationBlockDirSuffix). */
#define EM_BLOCK_TMP_SUFFIX ".tmp-for-creation"
/* meta.json larger than this is refused (Prometheus's are a few hundred bytes; sources lists grow). */
#define EM_BLOCK_META_MAX_BYTES (16u * 1024u * 1024u)

/* ---- meta.json ---- */

/* A block as named in another block's compaction.parents. */
typedef struct em_block_desc {
    em_ulid_t ulid;
    int64_t min_time_ms, max_time_ms;
} em_block_desc_t;

typedef struct em_block_meta {
    em_ulid_t ulid;
    int64_t min_time_ms, max_time_ms; /* [min, max) */
    uint64_t num_samples, num_series, num_chunks, num_tombstones;
    int level;          /* compaction.level: 1 for blocks cut from the head */
    em_ulid_t *sources; /* compaction.sources: the level-1 blocks this one descends from; malloc'd */
    size_t n_sources;
    em_block_desc_t *parents; /* compaction.parents (absent for level 1); malloc'd */
    size_t n_parents;
    bool deletable; /* compaction.deletable: an empty result of compaction, to be removed */
    bool failed;    /* compaction.failed */
    int version;    /* 1 */
    /* Prometheus 3's split of num_samples (stats.numFloatSamples / numHistogramSamples; 2.x has neither).
     * Ember writes only float (XOR) chunks: the writer sets num_float_samples = num_samples. */
    uint64_t num_float_samples, num_histogram_samples;
} em_block_meta_t;

/* Free sources and parents and zero the struct. NULL allowed. Thread: owner. */
void em_block_meta_fini(em_block_meta_t *m);
/* Deep copy (dst must be zeroed or finied). Thread: owner of both. */
void em_block_meta_copy(em_block_meta_t *dst, const em_block_meta_t *src);

/* Append meta.json's text in Prometheus 3's layout (json.MarshalIndent with a tab; every stats field,
 * parents, deletable and failed omitted when zero/empty). Prometheus 2.x wrote the same minus
 * numFloatSamples. Thread: any. */
void em_block_meta_format(const em_block_meta_t *m, em_buf_t *out);

/* Parse meta.json text. Unknown fields are ignored (newer Prometheus adds some). Returns EM_OK (out
 * filled; the caller finis it), EM_ECORRUPT for malformed JSON or a missing/invalid ulid, minTime,
 * maxTime or version != 1, with the reason in err. Thread: any. */
int em_block_meta_parse(const char *s, size_t n, em_block_meta_t *out, em_err_t *err);

/* Read / atomically (re)write <dir>/meta.json. Read errors name the file. Thread: any. */
int em_block_meta_read(const char *dir, em_block_meta_t *out, em_err_t *err);
int em_block_meta_write(const char *dir, const em_block_meta_t *m, em_err_t *err);

/* ---- tombstones ---- */

typedef struct em_interval {
    int64_t mint_ms, maxt_ms; /* closed: [mint, maxt] */
} em_interval_t;

/* A series' deleted intervals, sorted and non-overlapping (adjacent ones merged). */
typedef struct em_tombstone {
    uint64_t series_ref;
    em_interval_t *iv; /* malloc'd */
    size_t n;
} em_tombstone_t;

/* A tombstones file's content, sorted by series_ref. */
typedef struct em_tombstones {
    em_tombstone_t *v;
    size_t n, cap;
} em_tombstones_t;

/* An empty table owning nothing / free everything and re-init (safe twice). Thread: owner. */
void em_tombstones_init(em_tombstones_t *t);
void em_tombstones_fini(em_tombstones_t *t);
/* Add [mint, maxt] to series 'ref', merging overlapping and adjacent intervals (Prometheus's
 * Intervals.Add). O(n_refs) for a new ref, O(intervals of ref) otherwise. Thread: owner. */
void em_tombstones_add(em_tombstones_t *t, uint64_t ref, int64_t mint_ms, int64_t maxt_ms);
/* The intervals of 'ref' (binary search), or NULL; valid until the next add or fini. Thread: any reader
 * of a table nobody modifies. */
const em_tombstone_t *em_tombstones_get(const em_tombstones_t *t, uint64_t ref);
/* Total number of intervals (meta.json's numTombstones). Thread: as get. */
uint64_t em_tombstones_count(const em_tombstones_t *t);
/* Append the file's bytes to 'out'. Thread: as get. */
void em_tombstones_encode(const em_tombstones_t *t, em_buf_t *out);
/* Decode a whole file: EM_OK (*out filled, the caller finis it) or EM_ECORRUPT naming the offset (bad
 * magic, version, CRC, truncation, maxt < mint); *out untouched on error. Thread: any. */
int em_tombstones_decode(const uint8_t *p, size_t n, em_tombstones_t *out, em_err_t *err);
/* <dir>/tombstones: read (a missing file is an empty table, as in Prometheus; errors name the file) /
 * write atomically (temporary file, fsync, rename, fsync the directory). EM_OK, EM_ECORRUPT, EM_EIO.
 * Thread: any. */
int em_tombstones_read(const char *dir, em_tombstones_t *out, em_err_t *err);
int em_tombstones_write(const char *dir, const em_tombstones_t *t, em_err_t *err);

/* ---- writing ---- */

typedef struct em_block_writer_opts {
    int64_t min_time_ms, max_time_ms; /* the block's range [min, max); samples outside are dropped */
    em_ulid_t ulid;                   /* all zero: a new ULID (em_ulid_new(-1)) */
    int level;                        /* 0 means 1 */
    const em_ulid_t *sources;         /* NULL: { ulid } (a level-1 block is its own source) */
    size_t n_sources;
    const em_block_desc_t *parents;
    size_t n_parents;
    size_t segment_max_bytes; /* 0: EM_BLOCK_SEGMENT_MAX_BYTES (tests use small values) */
    bool no_fsync;            /* tests and benchmarks only */
} em_block_writer_opts_t;

typedef struct em_block_writer em_block_writer_t;

/* Start a block in "<parent_dir>/<ULID>.tmp-for-creation" (created; an existing one is removed first).
 * Returns EM_OK (*out set) or EM_EIO. The caller owns the writer and frees it with
 * em_block_writer_free. Thread: the writer is used by one thread at a time. */
int em_block_writer_new(const char *parent_dir, const em_block_writer_opts_t *o, em_block_writer_t **out,
                        em_err_t *err);

/* Add one series from its samples (times strictly increasing), encoded here into chunks of
 * EM_BLOCK_CHUNK_SAMPLES. Labels must sort after the previous series' (EM_EINVAL otherwise) and are
 * copied. A series left with no sample in range is not written. Returns EM_OK, EM_EINVAL, EM_EIO;
 * errors are sticky. */
int em_block_writer_add_samples(em_block_writer_t *w, const em_labels_t *ls, const int64_t *ts_ms,
                                const double *vs, size_t n, em_err_t *err);
/* Add one series from a sample iterator (consumed, not freed). As add_samples. */
int em_block_writer_add_sample_iter(em_block_writer_t *w, const em_labels_t *ls, em_sample_iter_t *it,
                                    em_err_t *err);
/* Add one series from its chunks in time order, non-overlapping (consumed, not freed); chunks are
 * copied byte for byte (not decoded: their mint/maxt are trusted) unless they reach outside the block's
 * range, when the samples inside are re-encoded; empty chunks are skipped. Chunks of other encodings
 * (Prometheus's native histograms) are copied likewise, but dropped when they reach outside the range
 * (Ember cannot re-encode them). As add_samples, plus EM_ECORRUPT for chunks that overlap or are out of
 * order or a re-encoded chunk that does not decode. */
int em_block_writer_add_chunk_iter(em_block_writer_t *w, const em_labels_t *ls, em_chunk_iter_t *it,
                                   em_err_t *err);

/* Set the tombstones to write (copied; refs are of this block's series, i.e. only for rewrites that
 * keep refs; normally none). Thread: writer. */
void em_block_writer_set_tombstones(em_block_writer_t *w, const em_tombstones_t *t);

/* Finish: write the index, tombstones and meta.json, fsync, rename to "<parent_dir>/<ULID>", fsync the
 * parent. On EM_OK, meta_out (may be NULL; finied by the caller) describes the block. A block with no
 * series at all is still written (meta.compaction.deletable is NOT set here; the caller decides).
 * On error the temporary directory is removed. The writer must still be freed. */
int em_block_writer_commit(em_block_writer_t *w, em_block_meta_t *meta_out, em_err_t *err);

/* Free the writer; an uncommitted block's temporary directory is removed. NULL allowed. */
void em_block_writer_free(em_block_writer_t *w);

/* Convenience: write every series of 'set' (sorted, as select(sorted=true) returns) into a new block,
 * copying chunks through set's chunks() (or samples() when chunks() returns EM_EUNSUPPORTED). Does not
 * close the set. Returns EM_OK (meta_out as in commit) or the first error. Thread: the set's. */
int em_block_write_set(const char *parent_dir, const em_block_writer_opts_t *o, em_series_set_t *set,
                       em_block_meta_t *meta_out, em_err_t *err);

/* Remove "*.tmp-for-creation" directories (and Prometheus's ".tmp-for-deletion") left in parent_dir by
 * a crash. Returns EM_OK or EM_EIO. Thread: any, before blocks are written there. */
int em_block_cleanup_tmp(const char *parent_dir, em_err_t *err);

/* Remove a block directory so that a crash half-way never leaves a half block under its ULID name: it
 * is renamed to <dir>.tmp-for-deletion first (which em_block_cleanup_tmp removes), as Prometheus does.
 * EM_OK or EM_EIO. Thread: any. */
int em_block_remove_dir(const char *dir, em_err_t *err);

/* ---- reading ---- */

typedef struct em_block em_block_t;

/* Open the block directory 'dir' (see READING). Returns EM_OK (*out with one reference), EM_ENOTFOUND
 * when meta.json is missing, EM_ECORRUPT (message names the file and offset) or EM_EIO. Never crashes
 * on any content. Thread: any. */
int em_block_open(const char *dir, em_block_t **out, em_err_t *err);

/* Reference counting. release of the last reference unmaps and frees; if the block was marked deleted
 * its directory is removed then. NULL allowed for release. Thread: any. */
void em_block_acquire(em_block_t *b);
void em_block_release(em_block_t *b);

/* Remove the directory once the last reference is gone (retention, compaction). Thread: any. */
void em_block_mark_deleted(em_block_t *b);

/* Fields fixed at open; valid while a reference is held. Thread: any. */
const em_block_meta_t *em_block_meta(const em_block_t *b);
const char *em_block_dir(const em_block_t *b);
/* Bytes on disk of index, chunks, tombstones and meta.json (retention by size). */
uint64_t em_block_size_bytes(const em_block_t *b);

/* The block as a queryable (engine/querier.h); its queriers each hold a reference. The pointer is valid
 * while the caller holds a reference. Thread: any. */
em_queryable_t *em_block_queryable(em_block_t *b);
/* Open a querier over [mint_ms, maxt_ms] (closed, as engine/querier.h). The first querier of a block
 * loads its index tables (open only validated them): EM_OK, or EM_ECORRUPT if that fails (it does not
 * after a successful open, short of the file changing underneath). Thread: any; the querier is used by
 * its creator. */
int em_block_querier(em_block_t *b, int64_t mint_ms, int64_t maxt_ms, em_querier_t **out, em_err_t *err);

/* Check every CRC (series, postings, label indices, chunks) and that every chunk decodes. EM_OK or
 * EM_ECORRUPT naming the file and offset. Reads the whole block. Thread: any. */
int em_block_verify(em_block_t *b, em_err_t *err);

/* Tombstone every sample in [mint_ms, maxt_ms] of the series matching all matchers: the tombstones
 * file is rewritten atomically and meta.json's numTombstones updated; queriers opened afterwards no
 * longer see the data. Returns EM_OK, EM_EIO, EM_ECORRUPT. Thread: any (serialized by the block). */
int em_block_delete(em_block_t *b, int64_t mint_ms, int64_t maxt_ms, const em_matcher_t *const *ms,
                    size_t n_ms, em_err_t *err);
/* The current tombstones' interval count (0: nothing to clean). Thread: any. */
uint64_t em_block_num_tombstones(em_block_t *b);

/* Per-block figures for /api/v1/status/tsdb and the block listing. */
typedef struct em_block_stats {
    uint64_t num_series, num_chunks, num_samples, num_tombstones;
    uint64_t index_bytes, chunks_bytes;
    size_t n_symbols;
} em_block_stats_t;
void em_block_stats(em_block_t *b, em_block_stats_t *st);
/* Free the index tables loaded for queries if the block has had no querier for idle_ms or more; the
 * next querier loads them again. Returns whether it freed them. Thread: any. */
bool em_block_unload_idle(em_block_t *b, int64_t idle_ms);
/* Whether the index tables are in memory (tests, metrics). Thread: any. */
bool em_block_index_loaded(em_block_t *b);

#endif
