/* Design: see eval.h. */
#include "query/eval.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "engine/chunk.h"
#include "query/eval_int.h"

/* Evaluation scratch memory (intermediate matrices) comes from arenas the engine keeps between queries,
 * rewound to a budget after each: a busy server stops paying page faults for every query. */
#define SCRATCH_KEEP_BYTES ((size_t)256 << 20)

struct em_query_engine {
    em_query_engine_opts_t o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running;         /* guarded by mu */
    em_arena_t *scratch; /* guarded by mu: max_concurrency idle arenas */
    bool *scratch_busy;
};

em_query_engine_t *em_query_engine_new(const em_query_engine_opts_t *opts)
{
    em_query_engine_t *e = EM_NEW(em_query_engine_t);
    if (opts)
        e->o = *opts;
    if (e->o.lookback_ms <= 0)
        e->o.lookback_ms = 5 * 60 * 1000;
    if (e->o.max_samples <= 0)
        e->o.max_samples = 50000000;
    if (e->o.timeout_ms <= 0)
        e->o.timeout_ms = 2 * 60 * 1000;
    if (e->o.max_concurrency <= 0)
        e->o.max_concurrency = 20;
    if (e->o.default_subquery_step_ms <= 0)
        e->o.default_subquery_step_ms = 60 * 1000;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->scratch = em_calloc((size_t)e->o.max_concurrency, sizeof *e->scratch);
    e->scratch_busy = em_calloc((size_t)e->o.max_concurrency, sizeof *e->scratch_busy);
    for (int i = 0; i < e->o.max_concurrency; i++)
        em_arena_init(&e->scratch[i]);
    return e;
}

void em_query_engine_free(em_query_engine_t *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->o.max_concurrency; i++)
        em_arena_fini(&e->scratch[i]);
    free(e->scratch);
    free(e->scratch_busy);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

const em_query_engine_opts_t *em_query_engine_opts(const em_query_engine_t *e)
{
    return &e->o;
}

const char *em_qerr_kind_str(em_qerr_kind_t k)
{
    switch (k) {
    case EM_QERR_NONE:
        return "";
    case EM_QERR_BAD_DATA:
        return "bad_data";
    case EM_QERR_EXECUTION:
        return "execution";
    case EM_QERR_TIMEOUT:
        return "timeout";
    case EM_QERR_CANCELED:
        return "canceled";
    case EM_QERR_INTERNAL:
        return "internal";
    }
    return "internal";
}

/* ---- errors, cancellation, annotations ---- */

void ev_fail(ev_t *ev, int code, em_qerr_kind_t kind, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ev->err_code = code;
    ev->err_kind = kind;
    ev->err_msg = em_arena_strdup(ev->a, buf);
    longjmp(*ev->jb, 1);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noreturn)) static void too_many_samples(ev_t *ev)
{
    ev_fail(ev, EM_ELIMIT, EM_QERR_EXECUTION,
            "query processing would load too many samples into memory in query execution");
}

void ev_hold(ev_t *ev, int64_t extra)
{
    int64_t now = ev->held + extra;
    if (now > ev->stat_peak)
        ev->stat_peak = now;
    if (now > ev->max_samples)
        too_many_samples(ev);
}

void ev_check(ev_t *ev)
{
    if ((ev->tick++ & 63) != 0)
        return;
    if (ev->cancel && *ev->cancel)
        ev_fail(ev, EM_ECANCELED, EM_QERR_CANCELED, "query was canceled in expression evaluation");
    if (ev->deadline_ns && now_ns() > ev->deadline_ns)
        ev_fail(ev, EM_ETIMEOUT, EM_QERR_TIMEOUT, "query timed out in expression evaluation");
}

static void anno_add(ev_t *ev, bool warn, const char *fmt, va_list ap)
{
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    ev_annos_t *an = ev->annos;
    const char ***arr = warn ? &an->warn : &an->info;
    size_t *n = warn ? &an->n_warn : &an->n_info, *cap = warn ? &an->cap_warn : &an->cap_info;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*arr)[i], buf) == 0)
            return; /* Prometheus deduplicates annotations by text */
    *arr = em_value_grow(ev->a, (void *)*arr, *n, cap, sizeof **arr);
    (*arr)[(*n)++] = em_arena_strdup(ev->a, buf);
}

void ev_warn(ev_t *ev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    anno_add(ev, true, fmt, ap);
    va_end(ap);
}

void ev_info(ev_t *ev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    anno_add(ev, false, fmt, ap);
    va_end(ap);
}

bool ev_is_stale(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b == EM_STALE_NAN_BITS;
}

/* ---- labels ---- */

/* Prometheus's DropReserved(schema.IsMetadataLabel): __name__, __type__ and __unit__ go together. */
static bool is_metadata_label(const char *name)
{
    return name[0] == '_' && name[1] == '_' &&
           (strcmp(name, EM_METRIC_NAME) == 0 || strcmp(name, "__type__") == 0 ||
            strcmp(name, "__unit__") == 0);
}

em_labels_t ev_labels_drop_name(ev_t *ev, const em_labels_t *ls)
{
    size_t i;
    for (i = 0; i < ls->n; i++)
        if (is_metadata_label(ls->v[i].name))
            break;
    if (i == ls->n)
        return *ls;
    em_label_t *v = em_arena_alloc(ev->a, (ls->n ? ls->n : 1) * sizeof *v);
    size_t k = 0;
    for (size_t j = 0; j < ls->n; j++)
        if (!is_metadata_label(ls->v[j].name))
            v[k++] = ls->v[j];
    return (em_labels_t){v, k};
}

static int cmp_series_labels(const void *a, const void *b)
{
    return em_labels_cmp(&((const em_series_t *)a)->labels, &((const em_series_t *)b)->labels);
}

void ev_check_dup_labels(ev_t *ev, const em_matrix_t *m)
{
    if (m->n < 2)
        return;
    em_series_t *tmp = em_arena_alloc(ev->a, m->n * sizeof *tmp);
    memcpy(tmp, m->v, m->n * sizeof *tmp);
    em_qsort(tmp, m->n, sizeof *tmp, cmp_series_labels);
    for (size_t i = 1; i < m->n; i++)
        if (em_labels_equal(&tmp[i - 1].labels, &tmp[i].labels))
            EV_EXEC_FAIL(ev, "vector cannot contain metrics with the same labelset");
}

static int cmp_point(const void *a, const void *b)
{
    int64_t x = ((const em_fpoint_t *)a)->t, y = ((const em_fpoint_t *)b)->t;
    return x < y ? -1 : x > y;
}

em_matrix_t ev_merge_same_labels(ev_t *ev, em_matrix_t m)
{
    if (m.n < 2)
        return m;
    em_series_t *tmp = em_arena_alloc(ev->a, m.n * sizeof *tmp);
    memcpy(tmp, m.v, m.n * sizeof *tmp);
    em_qsort(tmp, m.n, sizeof *tmp, cmp_series_labels);
    bool dup = false;
    for (size_t i = 1; i < m.n && !dup; i++)
        dup = em_labels_equal(&tmp[i - 1].labels, &tmp[i].labels);
    if (!dup)
        return m;
    em_matrix_t out = {0};
    for (size_t i = 0; i < m.n;) {
        size_t j = i + 1;
        while (j < m.n && em_labels_equal(&tmp[i].labels, &tmp[j].labels))
            j++;
        em_series_t *s = em_matrix_push(ev->a, &out);
        *s = tmp[i];
        if (j > i + 1) {
            em_series_t merged = tmp[i];
            merged.pts = NULL;
            merged.n = merged.cap = 0;
            for (size_t k = i; k < j; k++)
                for (size_t p = 0; p < tmp[k].n; p++)
                    em_series_push(ev->a, &merged, tmp[k].pts[p].t, tmp[k].pts[p].v);
            em_qsort(merged.pts, merged.n, sizeof *merged.pts, cmp_point);
            for (size_t p = 1; p < merged.n; p++)
                if (merged.pts[p].t == merged.pts[p - 1].t)
                    EV_EXEC_FAIL(ev, "vector cannot contain metrics with the same labelset");
            *s = merged;
        }
        i = j;
    }
    return out;
}

/* ---- step-wise helpers ---- */

void ev_gather_init(ev_t *ev, ev_gather_t *g, const em_matrix_t *m)
{
    g->m = m;
    g->cur = em_arena_alloc(ev->a, (m->n ? m->n : 1) * sizeof *g->cur);
    memset(g->cur, 0, (m->n ? m->n : 1) * sizeof *g->cur);
}

void ev_gather_at(ev_t *ev, ev_gather_t *g, int64_t ts, em_vector_t *out)
{
    out->n = 0;
    for (size_t i = 0; i < g->m->n; i++) {
        const em_series_t *s = &g->m->v[i];
        size_t c = g->cur[i];
        while (c < s->n && s->pts[c].t < ts)
            c++;
        g->cur[i] = c;
        if (c < s->n && s->pts[c].t == ts) {
            em_sample_t *o = em_vector_push(ev->a, out);
            o->labels = s->labels;
            o->t = ts;
            o->v = s->pts[c].v;
            o->src = (uint32_t)i;
            o->drop_name = s->drop_name;
            g->cur[i] = c + 1;
        }
    }
}

double ev_scalar_at(const em_matrix_t *m, size_t step, int64_t ts)
{
    if (m->n == 0)
        return NAN;
    const em_series_t *s = &m->v[0];
    if (step < s->n && s->pts[step].t == ts)
        return s->pts[step].v;
    for (size_t i = 0; i < s->n; i++)
        if (s->pts[i].t == ts)
            return s->pts[i].v;
    return NAN;
}

void ev_out_init(ev_t *ev, ev_out_t *o)
{
    memset(o, 0, sizeof *o);
    o->instant = ev->start == ev->end;
}

static void out_rehash(ev_t *ev, ev_out_t *o)
{
    size_t nc = o->cap ? o->cap * 2 : 64;
    uint64_t *keys = em_arena_alloc(ev->a, nc * sizeof *keys);
    uint32_t *slot = em_arena_alloc(ev->a, nc * sizeof *slot);
    memset(slot, 0, nc * sizeof *slot);
    for (size_t i = 0; i < o->cap; i++) {
        if (!o->slot[i])
            continue;
        size_t h = o->keys[i] & (nc - 1);
        while (slot[h])
            h = (h + 1) & (nc - 1);
        keys[h] = o->keys[i];
        slot[h] = o->slot[i];
    }
    o->keys = keys;
    o->slot = slot;
    o->cap = nc;
}

void ev_out_add(ev_t *ev, ev_out_t *o, const em_labels_t *ls, bool drop_name, int64_t ts, double v)
{
    if (o->instant) {
        em_series_t *s = em_matrix_push(ev->a, &o->m);
        s->labels = *ls;
        s->drop_name = drop_name;
        s->pts = em_arena_alloc(ev->a, sizeof *s->pts);
        s->cap = 1;
        s->pts[0] = (em_fpoint_t){ts, v};
        s->n = 1;
        return;
    }
    if ((o->m.n + 1) * 2 > o->cap)
        out_rehash(ev, o);
    uint64_t key = em_labels_hash(ls);
    size_t h = key & (o->cap - 1);
    while (o->slot[h]) {
        if (o->keys[h] == key) {
            em_series_t *s = &o->m.v[o->slot[h] - 1];
            if (em_labels_equal(&s->labels, ls)) {
                if (s->n && s->pts[s->n - 1].t == ts)
                    EV_EXEC_FAIL(ev, "vector cannot contain metrics with the same labelset");
                em_series_push(ev->a, s, ts, v);
                return;
            }
        }
        h = (h + 1) & (o->cap - 1);
    }
    em_series_t *s = em_matrix_push(ev->a, &o->m);
    s->labels = *ls;
    s->drop_name = drop_name;
    em_series_push(ev->a, s, ts, v);
    o->keys[h] = key;
    o->slot[h] = (uint32_t)o->m.n;
}

void ev_out_vector(ev_t *ev, ev_out_t *o, const em_vector_t *vec, int64_t ts)
{
    if (o->instant && !ev->delayed_name_removal && vec->n > 1) {
        em_matrix_t tmp = {0};
        for (size_t i = 0; i < vec->n; i++)
            em_matrix_push(ev->a, &tmp)->labels = vec->v[i].labels;
        ev_check_dup_labels(ev, &tmp);
    }
    for (size_t i = 0; i < vec->n; i++)
        ev_out_add(ev, o, &vec->v[i].labels, vec->v[i].drop_name, ts, vec->v[i].v);
}

/* ---- durations, @ ---- */

static double dur_eval(ev_t *ev, const em_node_t *n)
{
    switch (n->kind) {
    case EM_NODE_NUMBER:
        return n->number.v;
    case EM_NODE_PAREN:
        return dur_eval(ev, n->paren.expr);
    case EM_NODE_UNARY: {
        double v = dur_eval(ev, n->unary.expr);
        return n->unary.op == EM_OP_SUB ? -v : v;
    }
    case EM_NODE_DURATION:
        break;
    default:
        EV_EXEC_FAIL(ev, "unexpected expression in duration");
    }
    switch (n->dur.op) {
    case EM_OP_STEP:
        return (double)ev->q_step / 1000;
    case EM_OP_RANGE:
        return (double)(ev->q_end - ev->q_start) / 1000;
    default:
        break;
    }
    if (!n->dur.lhs) {
        double v = dur_eval(ev, n->dur.rhs);
        return n->dur.op == EM_OP_SUB ? -v : v;
    }
    double l = dur_eval(ev, n->dur.lhs), r = dur_eval(ev, n->dur.rhs);
    switch (n->dur.op) {
    case EM_OP_ADD:
        return l + r;
    case EM_OP_SUB:
        return l - r;
    case EM_OP_MUL:
        return l * r;
    case EM_OP_DIV:
        if (r == 0)
            EV_EXEC_FAIL(ev, "division by zero");
        return l / r;
    case EM_OP_MOD:
        if (r == 0)
            EV_EXEC_FAIL(ev, "modulo by zero");
        return fmod(l, r);
    case EM_OP_POW:
        return pow(l, r);
    case EM_OP_MIN_OF:
        return l < r ? l : r;
    case EM_OP_MAX_OF:
        return l > r ? l : r;
    default:
        EV_EXEC_FAIL(ev, "unexpected operator %s in duration expression", em_op_str(n->dur.op));
    }
}

int64_t ev_duration(ev_t *ev, int64_t lit_ms, const em_node_t *expr)
{
    if (!expr)
        return lit_ms;
    double s = dur_eval(ev, expr);
    if (isnan(s) || isinf(s) || fabs(s) > 9.2e15)
        EV_EXEC_FAIL(ev, "duration out of range");
    return (int64_t)llround(s * 1000);
}

int64_t ev_at_time(ev_t *ev, const em_at_t *at, bool *has)
{
    *has = at->kind != EM_AT_NONE;
    switch (at->kind) {
    case EM_AT_TIME:
        return at->t_ms;
    case EM_AT_START:
        return ev->q_start;
    case EM_AT_END:
        return ev->q_end;
    default:
        return 0;
    }
}

/* ---- selectors ---- */

void ev_storage_close(ev_storage_t *st)
{
    em_sample_iter_free(st->it);
    st->it = NULL;
    em_series_set_close(st->set);
    st->set = NULL;
    em_querier_close(st->q);
    st->q = NULL;
}

static void storage_fail(ev_t *ev, int rc, em_err_t *err)
{
    ev_storage_close(ev->st);
    ev_fail(ev, rc == EM_OK ? EM_EIO : rc, EM_QERR_INTERNAL, "expanding series: %s",
            err->msg[0] ? err->msg : em_strerror(rc));
}

void ev_select_each(ev_t *ev, const em_vector_sel_t *vs, int64_t mint, int64_t maxt, const char *func,
                    int64_t range_ms, bool want_sts, ev_series_fn fn, void *ctx)
{
    ev_storage_t *st = ev->st;
    em_err_t err;
    em_err_clear(&err);
    int rc = em_queryable_querier(ev->qa, mint, maxt, &st->q, &err);
    if (rc != EM_OK)
        storage_fail(ev, rc, &err);
    em_select_hints_t hints = {.start_ms = mint,
                               .end_ms = maxt,
                               .step_ms = ev->start == ev->end ? 0 : ev->interval,
                               .func = func,
                               .range_ms = range_ms};
    rc = em_querier_select(st->q, true, &hints, (const em_matcher_t *const *)vs->matchers, vs->n_matchers,
                           &st->set, &err);
    if (rc != EM_OK)
        storage_fail(ev, rc, &err);
    ev->sel_out = 0;
    while ((rc = em_series_set_next(st->set)) == EM_OK) {
        em_labels_t ls = em_series_set_labels(st->set);
        rc = em_series_set_samples(st->set, &st->it);
        if (rc != EM_OK)
            storage_fail(ev, rc, &err);
        size_t n = 0;
        bool has_sts = false;
        while ((rc = em_sample_iter_next(st->it)) == EM_OK) {
            int64_t t;
            double v;
            em_sample_iter_at(st->it, &t, &v);
            if (t < mint)
                continue;
            if (t > maxt)
                break;
            if (n == st->scratch_cap) {
                st->scratch_cap = st->scratch_cap ? st->scratch_cap * 2 : 1024;
                st->scratch = em_realloc(st->scratch, st->scratch_cap * sizeof *st->scratch);
            }
            if (want_sts) {
                if (st->scratch_st_cap < st->scratch_cap) {
                    st->scratch_st_cap = st->scratch_cap;
                    st->scratch_st = em_realloc(st->scratch_st, st->scratch_st_cap * sizeof *st->scratch_st);
                }
                st->scratch_st[n] = em_sample_iter_at_st(st->it);
                has_sts |= st->scratch_st[n] != 0;
            }
            st->scratch[n++] = (em_fpoint_t){t, v};
        }
        em_sample_iter_free(st->it);
        st->it = NULL;
        if (rc < 0)
            storage_fail(ev, rc, &err);
        /* A series is read whole, but what Prometheus counts as held is what the callbacks keep (windows,
         * selected samples): they call ev_hold. One series beyond the limit is refused all the same. */
        if ((int64_t)n > ev->max_samples)
            too_many_samples(ev);
        if (n)
            fn(ev, &ls, st->scratch, has_sts ? st->scratch_st : NULL, n, ctx);
    }
    if (rc < 0) {
        const char *d = st->set->ops->err ? st->set->ops->err(st->set) : NULL;
        if (d)
            em_err_set(&err, rc, "%s", d);
        storage_fail(ev, rc, &err);
    }
    ev_storage_close(st);
}

static void collect_series(ev_t *ev, const em_labels_t *ls, em_fpoint_t *pts, int64_t *sts, size_t n,
                           void *ctx)
{
    em_matrix_t *m = ctx;
    em_series_t *s = em_matrix_push(ev->a, m);
    ev_hold(ev, ev->sel_out + (int64_t)n);
    ev->sel_out += (int64_t)n;
    s->labels = em_labels_copy(ls, ev->a);
    s->pts = em_arena_alloc(ev->a, n * sizeof *pts);
    memcpy(s->pts, pts, n * sizeof *pts);
    s->n = s->cap = n;
}

em_matrix_t ev_load_selector(ev_t *ev, const em_vector_sel_t *vs, int64_t mint, int64_t maxt,
                             const char *func, int64_t range_ms)
{
    em_matrix_t m = {0};
    ev_select_each(ev, vs, mint, maxt, func, range_ms, false, collect_series, &m);
    return m;
}

typedef struct vs_ctx {
    em_matrix_t out;
    ev_vs_yield_t yield;
    bool has_at, smoothed;
    int64_t at, off;
} vs_ctx_t;

/* A `smoothed` instant selector (promql-extended-range-selectors, Prometheus's smoothSeries): the
 * sample at the step time, else the linear interpolation between its neighbours within the lookback
 * on either side, else the last sample before it. */
static bool smoothed_value(const em_fpoint_t *pts, size_t n, int64_t ref, int64_t lb, double *out)
{
    size_t lo = 0;
    while (lo < n && pts[lo].t <= ref - lb)
        lo++;
    size_t i = lo;
    while (i < n && pts[i].t < ref)
        i++;
    bool has_next = i < n && pts[i].t <= ref + lb;
    if (has_next && pts[i].t == ref) {
        *out = pts[i].v;
        return true;
    }
    if (i > lo && has_next) {
        const em_fpoint_t *a = &pts[i - 1], *b = &pts[i];
        *out = a->v + (b->v - a->v) * (double)(ref - a->t) / (double)(b->t - a->t);
        return true;
    }
    if (i > lo) {
        *out = pts[i - 1].v;
        return true;
    }
    return false;
}

/* One series of an instant vector selector: the newest sample in (ref - lookback, ref] per step. */
static void vs_series(ev_t *ev, const em_labels_t *ls, em_fpoint_t *pts, int64_t *sts, size_t n, void *ctxp)
{
    vs_ctx_t *c = ctxp;
    size_t steps = ev_steps(ev);
    em_series_t s = {0};
    size_t j = 0;
    if (c->smoothed) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (!ev_is_stale(pts[i].v))
                pts[k++] = pts[i];
        n = k;
    }
    for (size_t k = 0; k < steps && c->smoothed; k++) {
        int64_t ts = ev->start + (int64_t)k * ev->interval;
        double v;
        if (!smoothed_value(pts, n, (c->has_at ? c->at : ts) - c->off, ev->lookback_ms, &v))
            continue;
        if (!s.pts)
            s.pts = em_arena_alloc(ev->a, (s.cap = steps) * sizeof *s.pts);
        s.pts[s.n++] = (em_fpoint_t){ts, v};
    }
    for (size_t k = 0; k < steps && !c->smoothed; k++) {
        int64_t ts = ev->start + (int64_t)k * ev->interval;
        int64_t ref = (c->has_at ? c->at : ts) - c->off;
        while (j < n && pts[j].t <= ref)
            j++;
        if (j == 0)
            continue;
        const em_fpoint_t *p = &pts[j - 1];
        if (p->t <= ref - ev->lookback_ms || ev_is_stale(p->v))
            continue;
        if (!s.pts)
            s.pts = em_arena_alloc(ev->a, (s.cap = steps) * sizeof *s.pts);
        double v = p->v;
        if (c->yield == EV_VS_TIMESTAMP)
            v = (double)p->t / 1000;
        else if (c->yield == EV_VS_START_TIMESTAMP)
            v = sts ? (double)sts[j - 1] / 1000 : 0;
        s.pts[s.n++] = (em_fpoint_t){ts, v};
    }
    if (s.n) {
        s.labels = em_labels_copy(ls, ev->a);
        ev_hold(ev, ev->sel_out + (int64_t)s.n);
        ev->sel_out += (int64_t)s.n;
        ev->stat_total += (int64_t)s.n;
        *em_matrix_push(ev->a, &c->out) = s;
    }
    ev_check(ev);
}

em_matrix_t ev_vector_selector(ev_t *ev, const em_node_t *n, ev_vs_yield_t yield)
{
    const em_vector_sel_t *vs = &n->vs;
    vs_ctx_t c = {.yield = yield, .smoothed = vs->smoothed};
    c.off = ev_duration(ev, vs->offset_ms, vs->offset_expr);
    c.at = ev_at_time(ev, &vs->at, &c.has_at);
    int64_t lo = (c.has_at ? c.at : ev->start) - c.off, hi = (c.has_at ? c.at : ev->end) - c.off;
    if (c.smoothed)
        hi += ev->lookback_ms;
    ev_select_each(ev, vs, lo - ev->lookback_ms + 1, hi, NULL, 0, yield == EV_VS_START_TIMESTAMP, vs_series,
                   &c);
    return c.out;
}

/* A matrix selector outside a function: only in instant queries (the API shows the raw samples). */
/* Prometheus's extendFloats: an anchored/smoothed range vector gets points exactly at its boundaries
 * (the last sample before, or the interpolation when smoothed). */
static em_series_t extend_floats(ev_t *ev, const em_series_t *in, int64_t mint, int64_t maxt, bool smoothed)
{
    em_series_t out = {.labels = in->labels};
    const em_fpoint_t *f = in->pts;
    size_t n = in->n;
    if (n == 0)
        return out;
    size_t last = n - 1, first = 0;
    while (first < last && f[first].t <= mint)
        first++;
    first = first > 0 ? first - 1 : 0;
    if (smoothed) {
        size_t i = 0;
        while (i < last && f[i].t < maxt)
            i++;
        last = i;
    }
    if (f[last].t <= mint)
        return out;
    double left = f[first].v, right = f[last].v;
    if (smoothed && f[first].t < mint)
        left = f[first].v + (f[first + 1].v - f[first].v) * (double)(mint - f[first].t) /
                                (double)(f[first + 1].t - f[first].t);
    if (smoothed && last > 0 && f[last].t > maxt)
        right = f[last - 1].v + (f[last].v - f[last - 1].v) * (double)(maxt - f[last - 1].t) /
                                    (double)(f[last].t - f[last - 1].t);
    long lo = (long)first, hi = (long)last;
    if (f[lo].t <= mint)
        lo++;
    if (f[hi].t >= maxt)
        hi--;
    em_series_push(ev->a, &out, mint, left);
    for (long i = lo; i <= hi; i++)
        em_series_push(ev->a, &out, f[i].t, f[i].v);
    em_series_push(ev->a, &out, maxt, right);
    return out;
}

/* A matrix selector outside a function: only in instant queries (the API shows the raw samples). */
static em_matrix_t matrix_selector(ev_t *ev, const em_node_t *n)
{
    const em_vector_sel_t *vs = &n->ms.vs->vs;
    int64_t range = ev_duration(ev, n->ms.range_ms, n->ms.range_expr);
    int64_t off = ev_duration(ev, vs->offset_ms, vs->offset_expr);
    bool has_at;
    int64_t at = ev_at_time(ev, &vs->at, &has_at);
    int64_t ref = (has_at ? at : ev->start) - off;
    int64_t lo = ref - range, hi = ref;
    if (vs->anchored || vs->smoothed)
        lo -= ev->lookback_ms;
    if (vs->smoothed)
        hi += ev->lookback_ms;
    em_matrix_t raw = ev_load_selector(ev, vs, lo + 1, hi, NULL, range);
    em_matrix_t out = {0};
    for (size_t i = 0; i < raw.n; i++) {
        em_series_t s = {.labels = raw.v[i].labels};
        for (size_t j = 0; j < raw.v[i].n; j++)
            if (!ev_is_stale(raw.v[i].pts[j].v))
                em_series_push(ev->a, &s, raw.v[i].pts[j].t, raw.v[i].pts[j].v);
        if (vs->anchored || vs->smoothed)
            s = extend_floats(ev, &s, ref - range, ref, vs->smoothed);
        ev->stat_total += (int64_t)s.n;
        if (s.n)
            *em_matrix_push(ev->a, &out) = s;
    }
    return out;
}

em_matrix_t ev_subquery(ev_t *ev, const em_node_t *n)
{
    int64_t off = ev_duration(ev, n->sq.offset_ms, n->sq.offset_expr);
    int64_t range = ev_duration(ev, n->sq.range_ms, n->sq.range_expr);
    int64_t step = ev_duration(ev, n->sq.step_ms, n->sq.step_expr);
    if (step <= 0)
        step = ev->subq_step_ms;
    bool has_at;
    int64_t at = ev_at_time(ev, &n->sq.at, &has_at);
    int64_t base = has_at ? at : ev->start;
    int64_t parent_end = has_at ? at : ev->start + ((ev->end - ev->start) / ev->interval) * ev->interval;
    ev_t child = *ev;
    /* Prometheus: subquery steps are aligned to absolute multiples of the step. */
    int64_t first = base - off - range;
    child.start = step * (first / step);
    if (child.start <= first)
        child.start += step;
    child.end = parent_end - off;
    child.interval = step;
    if (child.end < child.start)
        return (em_matrix_t){0};
    if ((child.end - child.start) / step > 11000 * 100)
        EV_EXEC_FAIL(ev, "subquery has too many steps");
    em_matrix_t m = ev_eval(&child, n->sq.expr);
    ev->tick = child.tick;
    ev->held = child.held;
    ev->stat_peak = child.stat_peak; /* the inner samples are not part of totalQueryableSamples */
    return m;
}

/* ---- the dispatch ---- */

static em_matrix_t scalar_const(ev_t *ev, double v)
{
    em_matrix_t m = {0};
    em_series_t *s = em_matrix_push(ev->a, &m);
    size_t steps = ev_steps(ev);
    s->pts = em_arena_alloc(ev->a, steps * sizeof *s->pts);
    s->cap = steps;
    for (size_t k = 0; k < steps; k++)
        s->pts[k] = (em_fpoint_t){ev->start + (int64_t)k * ev->interval, v};
    s->n = steps;
    return m;
}

static em_matrix_t unary(ev_t *ev, const em_node_t *n)
{
    em_matrix_t m = ev_eval(ev, n->unary.expr);
    if (n->unary.op != EM_OP_SUB)
        return m;
    bool is_scalar = em_node_type(n->unary.expr) == EM_VTYPE_SCALAR;
    for (size_t i = 0; i < m.n; i++) {
        if (!is_scalar)
            ev_mark_drop(ev, &m.v[i].labels, &m.v[i].drop_name);
        for (size_t j = 0; j < m.v[i].n; j++)
            m.v[i].pts[j].v = -m.v[i].pts[j].v;
    }
    if (!ev->delayed_name_removal && !is_scalar)
        m = ev_merge_same_labels(ev, m);
    return m;
}

static em_matrix_t eval_node(ev_t *ev, const em_node_t *n);

static int64_t matrix_points(const em_matrix_t *m)
{
    int64_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        k += (int64_t)m->v[i].n;
    return k;
}

em_matrix_t ev_eval(ev_t *ev, const em_node_t *n)
{
    ev_check(ev);
    if (ev->end < ev->start)
        return (em_matrix_t){0};
    switch (n->kind) {
    case EM_NODE_PAREN:
    case EM_NODE_STEP_INVARIANT:
        return ev_eval(ev, n->paren.expr);
    case EM_NODE_UNARY:
        return unary(ev, n); /* in place: the operand's samples, already held */
    case EM_NODE_SUBQUERY:
        return ev_subquery(ev, n); /* held by the inner evaluation */
    default:
        break;
    }
    /* As Prometheus's rangeEval: a node holds its operands' results and its own until it returns, then
     * only its own. */
    int64_t before = ev->held;
    em_matrix_t m = eval_node(ev, n);
    int64_t out = matrix_points(&m);
    ev_hold(ev, out);
    ev->held = before + out;
    return m;
}

static em_matrix_t eval_node(ev_t *ev, const em_node_t *n)
{
    switch (n->kind) {
    case EM_NODE_NUMBER:
        return scalar_const(ev, n->number.v);
    case EM_NODE_PAREN:
    case EM_NODE_STEP_INVARIANT:
    case EM_NODE_UNARY:
    case EM_NODE_SUBQUERY:
        break; /* ev_eval */
    case EM_NODE_VECTOR_SEL:
        return ev_vector_selector(ev, n, EV_VS_VALUE);
    case EM_NODE_MATRIX_SEL:
        if (ev->start != ev->end)
            EV_EXEC_FAIL(ev, "cannot do range evaluation of matrix selector");
        return matrix_selector(ev, n);
    case EM_NODE_BINARY:
        return ev_binary(ev, n);
    case EM_NODE_AGGREGATE:
        return ev_aggregate(ev, n);
    case EM_NODE_CALL:
        return ev_call(ev, n);
    case EM_NODE_DURATION:
        return scalar_const(ev, dur_eval(ev, n));
    case EM_NODE_STRING:
        EV_EXEC_FAIL(ev, "unexpected string expression");
    }
    EV_EXEC_FAIL(ev, "unhandled expression");
}

/* ---- queries ---- */

static int cmp_qseries(const void *a, const void *b)
{
    return em_labels_cmp(&((const em_qseries_t *)a)->labels, &((const em_qseries_t *)b)->labels);
}

static void finish_matrix(ev_t *ev, em_query_result_t *r, em_matrix_t m, em_vtype_t type, bool sort)
{
    if (ev->delayed_name_removal) {
        for (size_t i = 0; i < m.n; i++)
            if (m.v[i].drop_name)
                m.v[i].labels = ev_labels_drop_name(ev, &m.v[i].labels);
        if (type == EM_VTYPE_VECTOR)
            ev_check_dup_labels(ev, &m);
        else
            m = ev_merge_same_labels(ev, m);
    }
    r->type = type;
    /* The result outlives the scratch arena: copy it into the result's own. */
    r->series = em_arena_alloc(&r->arena, (m.n ? m.n : 1) * sizeof *r->series);
    size_t k = 0;
    for (size_t i = 0; i < m.n; i++) {
        if (m.v[i].n == 0)
            continue;
        r->series[k].labels = em_labels_copy(&m.v[i].labels, &r->arena);
        r->series[k].pts = em_arena_alloc(&r->arena, m.v[i].n * sizeof *r->series[k].pts);
        memcpy(r->series[k].pts, m.v[i].pts, m.v[i].n * sizeof *r->series[k].pts); /* same layout */
        r->series[k].n_pts = m.v[i].n;
        k++;
    }
    r->n_series = k;
    if (sort)
        em_qsort(r->series, k, sizeof *r->series, cmp_qseries);
}

_Static_assert(sizeof(em_qpoint_t) == sizeof(em_fpoint_t), "point layouts must agree");

static int run(em_query_engine_t *e, em_queryable_t *qa, const em_query_req_t *req, em_query_result_t **out)
{
    const char *expr = req->expr;
    size_t len = req->len;
    int64_t start = req->start_ms, end = req->end_ms, step = req->step_ms, timeout_ms = req->timeout_ms;
    const volatile int *cancel = req->cancel;
    em_query_result_t *r = EM_NEW(em_query_result_t);
    em_arena_init(&r->arena);
    *out = r;
    int64_t t_begin = now_ns();
    ev_annos_t annos = {0};
    ev_storage_t storage = {0};
    jmp_buf jb;
    em_ast_t *ast = NULL;
    em_err_t err;
    em_err_clear(&err);
    int rc = em_promql_parse(expr, len, &r->arena, &e->o.features, &ast, &err);
    if (rc != EM_OK) {
        r->err_kind = EM_QERR_BAD_DATA;
        r->err = em_arena_strdup(&r->arena, err.msg);
        return rc;
    }
    bool range = step > 0;
    em_vtype_t type = em_node_type(ast->root);
    if (range && type != EM_VTYPE_SCALAR && type != EM_VTYPE_VECTOR) {
        char buf[200];
        snprintf(buf, sizeof buf,
                 "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
                 em_vtype_doc(type));
        r->err_kind = EM_QERR_BAD_DATA;
        r->err = em_arena_strdup(&r->arena, buf);
        em_ast_fini(ast);
        return EM_EINVAL;
    }
    int64_t t_parsed = now_ns();
    pthread_mutex_lock(&e->mu);
    while (e->running >= e->o.max_concurrency)
        pthread_cond_wait(&e->cv, &e->mu);
    e->running++;
    int slot = 0;
    while (e->scratch_busy[slot])
        slot++;
    e->scratch_busy[slot] = true;
    em_arena_t *scratch = &e->scratch[slot];
    pthread_mutex_unlock(&e->mu);
    int64_t t_started = now_ns();
    volatile int64_t t_evaluated = 0; /* read after a longjmp */

    ev_t ev = {.a = scratch,
               .start = start,
               .end = end,
               .interval = range ? step : 1,
               .q_start = start,
               .q_end = end,
               .q_step = range ? step : 0,
               .lookback_ms = req->lookback_ms > 0 ? req->lookback_ms : e->o.lookback_ms,
               .max_samples = e->o.max_samples,
               .subq_step_ms = e->o.default_subquery_step_ms,
               .qa = qa,
               .cancel = cancel,
               .deadline_ns = now_ns() + (timeout_ms > 0 ? timeout_ms : e->o.timeout_ms) * 1000000LL,
               .delayed_name_removal = e->o.features.delayed_name_removal,
               .use_start_timestamps = e->o.features.use_start_timestamps,
               .ast = ast,
               .jb = &jb,
               .annos = &annos,
               .st = &storage};
    rc = EM_OK;
    if (setjmp(jb) == 0) {
        if (type == EM_VTYPE_STRING) {
            const em_node_t *s = em_node_unwrap(ast->root);
            r->type = EM_VTYPE_STRING;
            r->str = s->string.s;
            r->str_len = s->string.len;
            r->t_ms = start;
        } else {
            em_matrix_t m = ev_eval(&ev, ast->root);
            t_evaluated = now_ns();
            if (type == EM_VTYPE_SCALAR && !range) {
                r->type = EM_VTYPE_SCALAR;
                r->t_ms = start;
                r->scalar = ev_scalar_at(&m, 0, start);
            } else if (type == EM_VTYPE_MATRIX) {
                finish_matrix(&ev, r, m, EM_VTYPE_MATRIX, false);
            } else if (!range) {
                finish_matrix(&ev, r, m, EM_VTYPE_VECTOR, false);
            } else {
                finish_matrix(&ev, r, m, EM_VTYPE_MATRIX, true);
            }
        }
    } else {
        rc = ev.err_code ? ev.err_code : EM_EINVAL;
        r->type = EM_VTYPE_NONE;
        r->err_kind = ev.err_kind;
        r->err = em_arena_strdup(&r->arena, ev.err_msg ? ev.err_msg : "");
        r->series = NULL;
        r->n_series = 0;
    }
    int64_t t_done = now_ns();
    if (!t_evaluated)
        t_evaluated = t_done;
    r->stats = (em_query_stats_t){.exec_queue_s = (double)(t_started - t_parsed) / 1e9,
                                  .prep_s = (double)(t_parsed - t_begin) / 1e9,
                                  .inner_eval_s = (double)(t_evaluated - t_started) / 1e9,
                                  .sort_s = (double)(t_done - t_evaluated) / 1e9,
                                  .exec_total_s = (double)(t_done - t_begin) / 1e9,
                                  .total_samples = ev.stat_total,
                                  .peak_samples = ev.stat_peak};
    ev_storage_close(&storage); /* after an error unwound through a selector callback */
    free(storage.scratch);
    free(storage.scratch_st);
    r->n_warnings = annos.n_warn;
    r->warnings = em_arena_alloc(&r->arena, (annos.n_warn + 1) * sizeof *r->warnings);
    for (size_t i = 0; i < annos.n_warn; i++)
        r->warnings[i] = em_arena_strdup(&r->arena, annos.warn[i]);
    r->n_infos = annos.n_info;
    r->infos = em_arena_alloc(&r->arena, (annos.n_info + 1) * sizeof *r->infos);
    for (size_t i = 0; i < annos.n_info; i++)
        r->infos[i] = em_arena_strdup(&r->arena, annos.info[i]);
    em_ast_fini(ast);
    em_arena_rewind(scratch, SCRATCH_KEEP_BYTES);
    pthread_mutex_lock(&e->mu);
    e->scratch_busy[slot] = false;
    e->running--;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int em_query_exec_instant(em_query_engine_t *e, em_queryable_t *qa, const char *expr, size_t len,
                          int64_t t_ms, int64_t timeout_ms, const volatile int *cancel,
                          em_query_result_t **out)
{
    em_query_req_t req = {.expr = expr,
                          .len = len,
                          .start_ms = t_ms,
                          .end_ms = t_ms,
                          .timeout_ms = timeout_ms,
                          .cancel = cancel};
    return em_query_exec(e, qa, &req, out);
}

static int bad_range(em_query_result_t **out, const char *msg)
{
    em_query_result_t *r = EM_NEW(em_query_result_t);
    em_arena_init(&r->arena);
    r->err_kind = EM_QERR_BAD_DATA;
    r->err = em_arena_strdup(&r->arena, msg);
    *out = r;
    return EM_EINVAL;
}

/* Prometheus's checks of a range query's parameters, in its order. */
static int check_range(int64_t start_ms, int64_t end_ms, int64_t step_ms, em_query_result_t **out)
{
    if (end_ms < start_ms)
        return bad_range(out, "end timestamp must not be before start time");
    if (step_ms <= 0)
        return bad_range(out,
                         "zero or negative query resolution step widths are not accepted. Try a positive "
                         "integer");
    if ((end_ms - start_ms) / step_ms > 11000)
        return bad_range(out,
                         "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
                         "query resolution (?step=XX)");
    return EM_OK;
}

int em_query_exec_range(em_query_engine_t *e, em_queryable_t *qa, const char *expr, size_t len,
                        int64_t start_ms, int64_t end_ms, int64_t step_ms, int64_t timeout_ms,
                        const volatile int *cancel, em_query_result_t **out)
{
    if (step_ms <= 0) /* em_query_exec takes step 0 for an instant query */
        return check_range(start_ms, end_ms, step_ms, out);
    em_query_req_t req = {.expr = expr,
                          .len = len,
                          .start_ms = start_ms,
                          .end_ms = end_ms,
                          .step_ms = step_ms,
                          .timeout_ms = timeout_ms,
                          .cancel = cancel};
    return em_query_exec(e, qa, &req, out);
}

int em_query_exec(em_query_engine_t *e, em_queryable_t *qa, const em_query_req_t *req,
                  em_query_result_t **out)
{
    if (req->step_ms == 0) {
        em_query_req_t instant = *req;
        instant.end_ms = instant.start_ms;
        return run(e, qa, &instant, out);
    }
    int rc = check_range(req->start_ms, req->end_ms, req->step_ms, out);
    return rc == EM_OK ? run(e, qa, req, out) : rc;
}

void em_query_result_free(em_query_result_t *r)
{
    if (!r)
        return;
    em_arena_fini(&r->arena);
    free(r);
}
