/* Design: see head.h and wal.h. This file: the head's WAL records, replay and checkpoints.
 *
 * RECORD PAYLOADS (varints are Go's; "bytes" is a uvarint length and the bytes)
 *   SERIES   repeated { uvarint ref, uvarint n_labels, n_labels x { bytes name, bytes value } }
 *   SAMPLES  be32 count, uvarint base_ref, varint base_t,
 *            count x { varint ref - base_ref, varint t - base_t, 8 bytes value bits (little-endian) }
 *   CHUNK    repeated { uvarint ref, varint mint, varint maxt, uvarint n_samples, bytes xor_chunk }
 *   START_TIMES  repeated { uvarint ref, varint t, varint st - t }: the start timestamps of samples
 *            that have one, after the SAMPLES or CHUNK records holding those samples
 * Refs are the shard-local refs. A series record always precedes the samples that use its ref, in the
 * same or an earlier record. Checkpoints hold SERIES records of live series, their closed chunks as
 * CHUNK records and their open chunks' samples as SAMPLES.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "engine/head_int.h"

/* ---- writing (Thread: shard) ---- */

static void put_bytes(em_buf_t *b, const char *s)
{
    size_t n = strlen(s);
    em_buf_put_uvarint(b, n);
    em_buf_append(b, s, n);
}

static void encode_series(em_buf_t *b, const hseries_t *se)
{
    em_buf_put_uvarint(b, se->ref);
    em_buf_put_uvarint(b, se->n_labels);
    for (uint16_t i = 0; i < se->n_labels; i++) {
        put_bytes(b, se->lbl[i].name);
        put_bytes(b, se->lbl[i].value);
    }
}

void wal_log_series(shard_t *s, const hseries_t *se)
{
    if (s->wal)
        encode_series(&s->wal_series, se);
}

static void put_le64(em_buf_t *b, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    em_buf_append(b, t, 8);
}

static void samples_add(em_buf_t *b, uint32_t *count, uint32_t *base_ref, int64_t *base_t, uint32_t ref, int64_t t,
                        double v)
{
    if (*count == 0) {
        em_buf_reset(b);
        em_buf_put_be32(b, 0); /* patched when the record is written */
        em_buf_put_uvarint(b, ref);
        em_buf_put_varint(b, t);
        *base_ref = ref;
        *base_t = t;
    }
    em_buf_put_varint(b, (int64_t)ref - (int64_t)*base_ref);
    em_buf_put_varint(b, t - *base_t);
    put_le64(b, f64_bits(v));
    (*count)++;
}

static void st_add(em_buf_t *b, uint32_t ref, int64_t t, int64_t st)
{
    em_buf_put_uvarint(b, ref);
    em_buf_put_varint(b, t);
    em_buf_put_varint(b, st - t);
}

void wal_log_sample(shard_t *s, uint32_t ref, int64_t t, double v, int64_t st)
{
    if (!s->wal)
        return;
    samples_add(&s->wal_samples, &s->wal_n_samples, &s->wal_base_ref, &s->wal_base_t, ref, t, v);
    if (st != 0)
        st_add(&s->wal_sts, ref, t, st);
}

int wal_commit(shard_t *s, em_err_t *err)
{
    if (!s->wal)
        return EM_OK;
    if (s->wal_series.len) {
        em_wal_add(s->wal, EM_WAL_REC_SERIES, s->wal_series.data, s->wal_series.len);
        em_buf_reset(&s->wal_series);
    }
    if (s->wal_n_samples) {
        em_buf_set_be32(&s->wal_samples, 0, s->wal_n_samples);
        em_wal_add(s->wal, EM_WAL_REC_SAMPLES, s->wal_samples.data, s->wal_samples.len);
        s->wal_n_samples = 0;
        em_buf_reset(&s->wal_samples);
    }
    if (s->wal_sts.len) {
        em_wal_add(s->wal, EM_WAL_REC_START_TIMES, s->wal_sts.data, s->wal_sts.len);
        em_buf_reset(&s->wal_sts);
    }
    return em_wal_flush(s->wal, err);
}

/* ---- replay (Thread: shard, before it serves its queue) ---- */

typedef struct replay {
    shard_t *s;
    em_arena_t arena;
    /* WAL ref -> live ref, for duplicate series records (a series removed and created again). */
    uint32_t *alias_from, *alias_to;
    size_t n_alias, cap_alias;
    uint64_t unknown_refs;
} replay_t;

static uint32_t resolve(replay_t *r, uint32_t ref)
{
    for (size_t i = 0; i < r->n_alias; i++)
        if (r->alias_from[i] == ref)
            return r->alias_to[i];
    return ref;
}

static int replay_series(replay_t *r, const uint8_t *p, size_t n)
{
    em_dec_t d;
    em_dec_init(&d, p, n);
    while (em_dec_left(&d) > 0) {
        em_arena_reset(&r->arena);
        uint32_t ref = (uint32_t)em_dec_uvarint(&d);
        uint64_t nl = em_dec_uvarint(&d);
        if (d.err || nl > 4096)
            return EM_ECORRUPT;
        em_label_t *v = em_arena_alloc(&r->arena, sizeof(em_label_t) * (nl ? nl : 1));
        for (uint64_t i = 0; i < nl; i++) {
            size_t a, b;
            const uint8_t *name = em_dec_uvarint_bytes(&d, &a);
            const uint8_t *value = em_dec_uvarint_bytes(&d, &b);
            if (d.err)
                return EM_ECORRUPT;
            v[i].name = em_arena_strndup(&r->arena, (const char *)name, a);
            v[i].value = em_arena_strndup(&r->arena, (const char *)value, b);
        }
        em_labels_t ls = {v, (size_t)nl};
        hseries_t *se = shard_create_with_ref(r->s, &ls, em_labels_hash(&ls), ref);
        if (se->ref != ref) {
            em_grow((void **)&r->alias_from, &r->cap_alias, r->n_alias + 1, sizeof(uint32_t));
            r->alias_to = em_realloc(r->alias_to, r->cap_alias * sizeof(uint32_t));
            r->alias_from[r->n_alias] = ref;
            r->alias_to[r->n_alias] = se->ref;
            r->n_alias++;
        }
    }
    return d.err ? EM_ECORRUPT : EM_OK;
}

static void note_time(shard_t *s, int64_t mint, int64_t maxt)
{
    if (mint < atomic_load(&s->min_t))
        atomic_store(&s->min_t, mint);
    if (maxt > atomic_load(&s->max_t))
        atomic_store(&s->max_t, maxt);
}

static int replay_samples(replay_t *r, const uint8_t *p, size_t n)
{
    em_dec_t d;
    em_dec_init(&d, p, n);
    uint32_t count = em_dec_be32(&d);
    uint32_t base_ref = (uint32_t)em_dec_uvarint(&d);
    int64_t base_t = em_dec_varint(&d);
    int64_t mint = INT64_MAX, maxt = INT64_MIN;
    for (uint32_t i = 0; i < count && !d.err; i++) {
        uint32_t ref = (uint32_t)((int64_t)base_ref + em_dec_varint(&d));
        int64_t t = base_t + em_dec_varint(&d);
        const uint8_t *vb = em_dec_bytes(&d, 8);
        if (d.err)
            break;
        uint64_t bits = 0;
        for (int k = 7; k >= 0; k--)
            bits = (bits << 8) | vb[k];
        hseries_t *se = shard_series_get(r->s, resolve(r, ref));
        if (!se) {
            r->unknown_refs++;
            continue;
        }
        if (series_append(r->s, se, t, bits_f64(bits), 0) == EM_SAMPLE_OK) {
            atomic_fetch_add_explicit(&r->s->c.replay_samples, 1, memory_order_relaxed);
            if (t < mint)
                mint = t;
            if (t > maxt)
                maxt = t;
        }
    }
    if (mint != INT64_MAX)
        note_time(r->s, mint, maxt);
    return d.err ? EM_ECORRUPT : EM_OK;
}

static int replay_chunks(replay_t *r, const uint8_t *p, size_t n)
{
    em_dec_t d;
    em_dec_init(&d, p, n);
    while (em_dec_left(&d) > 0) {
        uint32_t ref = (uint32_t)em_dec_uvarint(&d);
        int64_t mint = em_dec_varint(&d), maxt = em_dec_varint(&d);
        uint64_t ns = em_dec_uvarint(&d);
        size_t len;
        const uint8_t *data = em_dec_uvarint_bytes(&d, &len);
        if (d.err || ns > UINT16_MAX || len > UINT32_MAX)
            return EM_ECORRUPT;
        hseries_t *se = shard_series_get(r->s, resolve(r, ref));
        if (!se) {
            r->unknown_refs++;
            continue;
        }
        series_import_chunk(r->s, se, mint, maxt, (uint16_t)ns, data, (uint32_t)len);
        atomic_fetch_add_explicit(&r->s->c.replay_samples, ns, memory_order_relaxed);
        note_time(r->s, mint, maxt);
    }
    return d.err ? EM_ECORRUPT : EM_OK;
}

static int replay_start_times(replay_t *r, const uint8_t *p, size_t n)
{
    em_dec_t d;
    em_dec_init(&d, p, n);
    while (em_dec_left(&d) > 0) {
        uint32_t ref = (uint32_t)em_dec_uvarint(&d);
        int64_t t = em_dec_varint(&d);
        int64_t st = t + em_dec_varint(&d);
        if (d.err)
            return EM_ECORRUPT;
        hseries_t *se = shard_series_get(r->s, resolve(r, ref));
        if (se)
            series_put_st(r->s, se, t, st);
    }
    return EM_OK;
}

static int on_record(void *arg, uint8_t type, const uint8_t *p, size_t n)
{
    replay_t *r = arg;
    int rc = EM_OK;
    switch (type) {
    case EM_WAL_REC_SERIES: rc = replay_series(r, p, n); break;
    case EM_WAL_REC_SAMPLES: rc = replay_samples(r, p, n); break;
    case EM_WAL_REC_CHUNK: rc = replay_chunks(r, p, n); break;
    case EM_WAL_REC_START_TIMES: rc = replay_start_times(r, p, n); break;
    case EM_WAL_REC_TOMBSTONES: break; /* applied by the storage layer above the head */
    default:
        em_warn("head", "Skipping WAL record of unknown type", "shard=%d type=%u", r->s->id, type);
        break;
    }
    if (rc == EM_ECORRUPT) {
        /* The record's checksum was right, so this is a bug or a format mismatch, not a torn write: keep what
         * was decoded and go on. */
        em_warn("head", "Malformed WAL record skipped", "shard=%d type=%u bytes=%zu", r->s->id, type, n);
        rc = EM_OK;
    }
    return rc;
}

int shard_replay(shard_t *s, em_err_t *err)
{
    if (!s->wal_dir)
        return EM_OK;
    replay_t r = {.s = s};
    em_arena_init(&r.arena);
    s->replaying = true;
    int rc = em_wal_replay(s->wal_dir, on_record, &r, &s->replay_stats, err);
    s->replaying = false;
    if (r.unknown_refs)
        em_warn("head", "WAL samples for unknown series were skipped", "shard=%d samples=%llu", s->id,
                (unsigned long long)r.unknown_refs);
    int64_t maxt = atomic_load(&s->max_t);
    int64_t cur = atomic_load(&s->h->max_t);
    while (maxt > cur && !atomic_compare_exchange_weak(&s->h->max_t, &cur, maxt))
        ;
    em_arena_fini(&r.arena);
    free(r.alias_from);
    free(r.alias_to);
    return rc;
}

/* ---- checkpoints (Thread: the truncating thread, registered with RCU) ---- */

#define CKPT_FLUSH_BYTES (1u << 20)

typedef struct ckpt {
    em_wal_checkpoint_t *c;
    em_buf_t series, chunks, samples, sts;
    uint32_t n_samples, base_ref;
    int64_t base_t;
} ckpt_t;

/* Write what is buffered, series first: a record never names a ref whose series comes later. */
static void ckpt_flush(ckpt_t *k)
{
    if (k->series.len) {
        em_wal_checkpoint_add(k->c, EM_WAL_REC_SERIES, k->series.data, k->series.len);
        em_buf_reset(&k->series);
    }
    if (k->chunks.len) {
        em_wal_checkpoint_add(k->c, EM_WAL_REC_CHUNK, k->chunks.data, k->chunks.len);
        em_buf_reset(&k->chunks);
    }
    if (k->n_samples) {
        em_buf_set_be32(&k->samples, 0, k->n_samples);
        em_wal_checkpoint_add(k->c, EM_WAL_REC_SAMPLES, k->samples.data, k->samples.len);
        k->n_samples = 0;
        em_buf_reset(&k->samples);
    }
    if (k->sts.len) {
        em_wal_checkpoint_add(k->c, EM_WAL_REC_START_TIMES, k->sts.data, k->sts.len);
        em_buf_reset(&k->sts);
    }
}

static void ckpt_series(ckpt_t *k, const hseries_t *se)
{
    series_snap_t snap;
    series_snapshot(se, &snap);
    encode_series(&k->series, se);
    if (snap.closed) {
        for (uint32_t i = 0; i < snap.closed->n; i++) {
            const hchunk_t *c = snap.closed->c[i];
            em_buf_put_uvarint(&k->chunks, se->ref);
            em_buf_put_varint(&k->chunks, c->mint);
            em_buf_put_varint(&k->chunks, c->maxt);
            em_buf_put_uvarint(&k->chunks, c->n);
            em_buf_put_uvarint(&k->chunks, c->len);
            em_buf_append(&k->chunks, c->data, c->len);
        }
    }
    if (snap.open_n) {
        em_xor_iter_t it;
        em_xor_iter_init_n(&it, snap.open, snap.stable_bytes, snap.stable_n);
        int64_t t;
        double v;
        while (em_xor_iter_next(&it) == EM_OK) {
            em_xor_iter_at(&it, &t, &v);
            samples_add(&k->samples, &k->n_samples, &k->base_ref, &k->base_t, se->ref, t, v);
        }
        for (uint32_t i = snap.stable_n; i < snap.open_n; i++)
            samples_add(&k->samples, &k->n_samples, &k->base_ref, &k->base_t, se->ref,
                        snap.tail_t[i % HEAD_TAIL], snap.tail_v[i % HEAD_TAIL]);
    }
    for (uint32_t i = 0; i < snap.n_sts; i++)
        st_add(&k->sts, se->ref, snap.sts[i].t, snap.sts[i].st);
    if (k->series.len + k->chunks.len + k->samples.len + k->sts.len > CKPT_FLUSH_BYTES)
        ckpt_flush(k);
}

int shard_checkpoint(shard_t *s, uint32_t upto, em_err_t *err)
{
    ckpt_t k = {0};
    int rc = em_wal_checkpoint_begin(s->wal_dir, upto, &k.c, err);
    if (rc != EM_OK)
        return rc;
    urcu_memb_read_lock();
    page_dir_t *dir = HEAD_LOAD(s->pages);
    for (uint32_t p = 0; dir && p < dir->n; p++) {
        series_page_t *page = atomic_load_explicit(&dir->pages[p], memory_order_acquire);
        if (!page)
            continue;
        for (uint32_t i = 0; i < PAGE_SLOTS; i++) {
            hseries_t *se = atomic_load_explicit(&page->slot[i], memory_order_acquire);
            if (se)
                ckpt_series(&k, se);
        }
    }
    HEAD_READER_DONE();
    urcu_memb_read_unlock();
    ckpt_flush(&k);
    rc = em_wal_checkpoint_commit(k.c, err);
    em_buf_fini(&k.series);
    em_buf_fini(&k.chunks);
    em_buf_fini(&k.samples);
    em_buf_fini(&k.sts);
    if (rc == EM_OK)
        em_info("head", "WAL checkpoint written", "shard=%d upto_segment=%u", s->id, upto);
    return rc;
}
