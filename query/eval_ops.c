/* Design: see eval.h. Binary operators and aggregations (Prometheus's VectorBinop, VectorAnd/Or/Unless,
 * VectorscalarBinop, aggregation, aggregationK, aggregationCountValues). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "base/buf.h"
#include "base/strconv.h"
#include "query/eval_int.h"
#include "query/fn.h"

/* ---- a small u64 -> u32 map in the arena ---- */

typedef struct u64map {
    uint64_t *k;
    uint32_t *v; /* value + 1; 0 empty */
    size_t cap, n;
} u64map_t;

static void map_init(ev_t *ev, u64map_t *m, size_t hint)
{
    size_t cap = 16;
    while (cap < hint * 2)
        cap *= 2;
    m->k = em_arena_alloc(ev->a, cap * sizeof *m->k);
    m->v = em_arena_alloc(ev->a, cap * sizeof *m->v);
    memset(m->v, 0, cap * sizeof *m->v);
    m->cap = cap;
    m->n = 0;
}

/* Returns a pointer to the value slot (0 if new). */
static uint32_t *map_slot(ev_t *ev, u64map_t *m, uint64_t key)
{
    if ((m->n + 1) * 2 > m->cap) {
        u64map_t nm;
        map_init(ev, &nm, m->cap);
        for (size_t i = 0; i < m->cap; i++)
            if (m->v[i])
                *map_slot(ev, &nm, m->k[i]) = m->v[i];
        nm.n = m->n;
        *m = nm;
    }
    size_t h = (size_t)(key * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);
    while (m->v[h]) {
        if (m->k[h] == key)
            return &m->v[h];
        h = (h + 1) & (m->cap - 1);
    }
    m->k[h] = key;
    m->n++;
    return &m->v[h];
}

static bool in_names(const char *name, const char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

/* Labels kept (on) or with the listed ones and __name__ removed (ignoring): Prometheus's MatchLabels. */
static em_labels_t match_labels(ev_t *ev, const em_labels_t *ls, bool on, const char **names, size_t n)
{
    em_label_t *v = em_arena_alloc(ev->a, (ls->n ? ls->n : 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < ls->n; i++) {
        bool listed = in_names(ls->v[i].name, names, n);
        if (on ? listed : (!listed && strcmp(ls->v[i].name, EM_METRIC_NAME) != 0))
            v[k++] = ls->v[i];
    }
    return (em_labels_t){v, k};
}

static uint64_t sig_hash(const em_labels_t *ls, const em_vector_matching_t *vm)
{
    if (vm->on)
        return em_labels_hash_subset(ls, vm->labels, vm->n_labels, false);
    const char *names[65];
    size_t k = 0;
    for (size_t i = 0; i < vm->n_labels && k < 64; i++)
        names[k++] = vm->labels[i];
    names[k++] = EM_METRIC_NAME;
    return em_labels_hash_subset(ls, names, k, true);
}

static double scalar_binop(em_op_t op, double l, double r)
{
    switch (op) {
    case EM_OP_ADD:
        return l + r;
    case EM_OP_SUB:
        return l - r;
    case EM_OP_MUL:
        return l * r;
    case EM_OP_DIV:
        return l / r;
    case EM_OP_POW:
        return pow(l, r);
    case EM_OP_MOD:
        return fmod(l, r);
    case EM_OP_EQLC:
        return l == r;
    case EM_OP_NEQ:
        return l != r;
    case EM_OP_GTR:
        return l > r;
    case EM_OP_LSS:
        return l < r;
    case EM_OP_GTE:
        return l >= r;
    case EM_OP_LTE:
        return l <= r;
    case EM_OP_ATAN2:
        return atan2(l, r);
    default:
        return NAN;
    }
}

/* vectorElemBinop for floats: the value and whether to keep it. */
static double elem_binop(em_op_t op, double l, double r, bool *keep)
{
    *keep = true;
    if (em_op_is_comparison(op)) {
        *keep = scalar_binop(op, l, r) != 0;
        return l;
    }
    return scalar_binop(op, l, r);
}

static bool changes_schema(em_op_t op)
{
    switch (op) {
    case EM_OP_ADD:
    case EM_OP_SUB:
    case EM_OP_MUL:
    case EM_OP_DIV:
    case EM_OP_POW:
    case EM_OP_MOD:
    case EM_OP_ATAN2:
        return true;
    default:
        return false;
    }
}

static void check_trim(ev_t *ev, em_op_t op)
{
    if (op == EM_OP_TRIM_LOWER || op == EM_OP_TRIM_UPPER)
        ev_fail(ev, EM_EUNSUPPORTED, EM_QERR_EXECUTION,
                "operator %s needs native histograms, which are not supported", em_op_str(op));
}

static em_matrix_t scalar_scalar(ev_t *ev, const em_node_t *n)
{
    em_matrix_t l = ev_eval(ev, n->bin.lhs), r = ev_eval(ev, n->bin.rhs);
    em_matrix_t out = {0};
    em_series_t *s = em_matrix_push(ev->a, &out);
    size_t steps = ev_steps(ev);
    for (size_t k = 0; k < steps; k++) {
        int64_t ts = ev->start + (int64_t)k * ev->interval;
        em_series_push(ev->a, s, ts,
                       scalar_binop(n->bin.op, ev_scalar_at(&l, k, ts), ev_scalar_at(&r, k, ts)));
    }
    return out;
}

static em_matrix_t vector_scalar(ev_t *ev, const em_node_t *n, bool swap)
{
    em_matrix_t l = ev_eval(ev, n->bin.lhs), r = ev_eval(ev, n->bin.rhs);
    em_matrix_t vec = swap ? r : l, sc = swap ? l : r;
    em_op_t op = n->bin.op;
    bool drop = changes_schema(op) || n->bin.return_bool;
    em_matrix_t out = {0};
    for (size_t i = 0; i < vec.n; i++) {
        ev_check(ev);
        const em_series_t *s = &vec.v[i];
        em_series_t o = {.labels = s->labels, .drop_name = s->drop_name};
        if (drop)
            ev_mark_drop(ev, &o.labels, &o.drop_name);
        for (size_t j = 0; j < s->n; j++) {
            int64_t ts = s->pts[j].t;
            double sv = ev_scalar_at(&sc, (size_t)((ts - ev->start) / ev->interval), ts);
            double lf = swap ? sv : s->pts[j].v, rf = swap ? s->pts[j].v : sv;
            bool keep;
            double v = elem_binop(op, lf, rf, &keep);
            if (em_op_is_comparison(op) && swap)
                v = rf;
            if (n->bin.return_bool) {
                v = keep ? 1.0 : 0.0;
                keep = true;
            }
            if (keep)
                em_series_push(ev->a, &o, ts, v);
        }
        if (o.n)
            *em_matrix_push(ev->a, &out) = o;
    }
    if (!ev->delayed_name_removal && drop)
        out = ev_merge_same_labels(ev, out);
    return out;
}

/* Signature ordinals of both sides' series. */
static uint32_t *sig_ordinals(ev_t *ev, const em_matrix_t *m, const em_vector_matching_t *vm, u64map_t *map)
{
    uint32_t *o = em_arena_alloc(ev->a, (m->n ? m->n : 1) * sizeof *o);
    for (size_t i = 0; i < m->n; i++) {
        uint32_t *slot = map_slot(ev, map, sig_hash(&m->v[i].labels, vm));
        if (!*slot)
            *slot = (uint32_t)map->n;
        o[i] = *slot - 1;
    }
    return o;
}

typedef struct binctx {
    ev_t *ev;
    const em_node_t *n;
    const em_vector_matching_t *vm;
    uint32_t *lsig, *rsig;
    size_t n_sigs;
    u64map_t metric_cache; /* (lhs src, rhs src) -> index into metrics */
    em_labels_t *metrics;
    size_t n_metrics, cap_metrics;
    /* per step */
    int32_t *right_idx;     /* sig -> index in the rhs vector, -1 */
    uint8_t *matched;       /* one-to-one: sig matched */
    u64map_t *matched_sets; /* many-to-one: per sig, the result label hashes (lazily) */
} binctx_t;

static em_labels_t result_metric(binctx_t *c, const em_sample_t *ls, const em_sample_t *rs, bool synth)
{
    ev_t *ev = c->ev;
    uint32_t *slot = NULL;
    if (!synth) {
        uint64_t key = ((uint64_t)ls->src << 32) | rs->src;
        slot = map_slot(ev, &c->metric_cache, key);
        if (*slot)
            return c->metrics[*slot - 1];
    }
    em_labels_builder_t b;
    em_labels_builder_init(&b, &ls->labels);
    bool drop = (!ev->delayed_name_removal && c->n->bin.return_bool) || changes_schema(c->n->bin.op);
    if (drop) {
        em_labels_builder_del(&b, EM_METRIC_NAME);
        em_labels_builder_del(&b, "__type__");
        em_labels_builder_del(&b, "__unit__");
    }
    const em_vector_matching_t *vm = c->vm;
    if (vm->card == EM_CARD_ONE_TO_ONE) {
        if (vm->on) {
            for (size_t i = 0; i < ls->labels.n; i++)
                if (!in_names(ls->labels.v[i].name, vm->labels, vm->n_labels))
                    em_labels_builder_del(&b, ls->labels.v[i].name);
        } else {
            for (size_t i = 0; i < vm->n_labels; i++)
                em_labels_builder_del(&b, vm->labels[i]);
        }
    }
    for (size_t i = 0; i < vm->n_include; i++) {
        const char *v = em_labels_get(&rs->labels, vm->include[i]);
        if (v && *v)
            em_labels_builder_set(&b, vm->include[i], v);
        else
            em_labels_builder_del(&b, vm->include[i]);
    }
    em_labels_t res = em_labels_builder_labels(&b);
    em_labels_t copy = {0};
    copy.n = res.n;
    em_label_t *v = em_arena_alloc(ev->a, (res.n ? res.n : 1) * sizeof *v);
    if (res.n)
        memcpy(v, res.v, res.n * sizeof *v);
    copy.v = v;
    em_labels_builder_fini(&b);
    if (slot) {
        c->metrics = em_value_grow(ev->a, c->metrics, c->n_metrics, &c->cap_metrics, sizeof *c->metrics);
        c->metrics[c->n_metrics++] = copy;
        *slot = (uint32_t)c->n_metrics;
    }
    return copy;
}

static void fmt_labels(const em_labels_t *ls, char *out, size_t cap)
{
    em_buf_t b = EM_BUF_INIT;
    em_labels_format(ls, &b);
    snprintf(out, cap, "%s", b.data ? b.data : "{}");
    em_buf_fini(&b);
}

static void do_binop(binctx_t *c, const em_sample_t *ls, const em_sample_t *rs, uint32_t sig, bool synth,
                     em_vector_t *out)
{
    ev_t *ev = c->ev;
    const em_vector_matching_t *vm = c->vm;
    double fl = ls->v, fr = rs->v;
    if (vm->card == EM_CARD_ONE_TO_MANY) {
        double t = fl;
        fl = fr;
        fr = t;
    }
    bool keep;
    double v = elem_binop(c->n->bin.op, fl, fr, &keep);
    if (c->n->bin.return_bool) {
        v = keep ? 1.0 : 0.0;
    }
    em_labels_t metric = result_metric(c, ls, rs, synth);
    if (vm->card == EM_CARD_ONE_TO_ONE) {
        if (c->matched[sig])
            EV_EXEC_FAIL(ev, "multiple matches for labels: many-to-one matching must be explicit "
                             "(group_left/group_right)");
        c->matched[sig] = 1;
    } else {
        u64map_t *ms = &c->matched_sets[sig];
        if (!ms->cap)
            map_init(ev, ms, 4);
        uint32_t *slot = map_slot(ev, ms, em_labels_hash(&metric));
        if (*slot)
            EV_EXEC_FAIL(ev, "multiple matches for labels: grouping labels must ensure unique matches");
        *slot = 1;
    }
    if (!keep && !c->n->bin.return_bool)
        return;
    em_sample_t *o = em_vector_push(ev->a, out);
    o->labels = metric;
    o->v = v;
    o->drop_name = c->n->bin.return_bool;
    if (o->drop_name && !ev->delayed_name_removal)
        o->labels = ev_labels_drop_name(ev, &o->labels);
}

static void vector_binop_step(binctx_t *c, em_vector_t *lhs, em_vector_t *rhs, uint32_t *lsig, uint32_t *rsig,
                              em_vector_t *out)
{
    ev_t *ev = c->ev;
    const em_vector_matching_t *vm = c->vm;
    if ((lhs->n == 0 && rhs->n == 0) ||
        ((lhs->n == 0 || rhs->n == 0) && !vm->has_fill_lhs && !vm->has_fill_rhs))
        return;
    if (vm->card == EM_CARD_ONE_TO_MANY) {
        em_vector_t *t = lhs;
        lhs = rhs;
        rhs = t;
        uint32_t *ts = lsig;
        lsig = rsig;
        rsig = ts;
    }
    for (size_t i = 0; i < c->n_sigs; i++)
        c->right_idx[i] = -1;
    for (size_t i = 0; i < rhs->n; i++) {
        uint32_t sig = rsig[rhs->v[i].src];
        if (c->right_idx[sig] >= 0) {
            const em_sample_t *d = &rhs->v[c->right_idx[sig]];
            char a[512], b[512], m[512];
            fmt_labels(&rhs->v[i].labels, a, sizeof a);
            fmt_labels(&d->labels, b, sizeof b);
            em_labels_t ml = match_labels(ev, &rhs->v[i].labels, vm->on, vm->labels, vm->n_labels);
            fmt_labels(&ml, m, sizeof m);
            bool swap = strcmp(a, b) > 0;
            EV_EXEC_FAIL(
                ev,
                "found duplicate series for the match group %s on the %s hand-side of the operation: "
                "[%s, %s];many-to-many matching not allowed: matching labels must be unique on one side",
                m, vm->card == EM_CARD_ONE_TO_MANY ? "left" : "right", swap ? b : a, swap ? a : b);
        }
        c->right_idx[sig] = (int32_t)i;
    }
    if (vm->card == EM_CARD_ONE_TO_ONE)
        memset(c->matched, 0, c->n_sigs);
    else
        memset(c->matched_sets, 0, c->n_sigs * sizeof *c->matched_sets);
    for (size_t i = 0; i < lhs->n; i++) {
        uint32_t sig = lsig[lhs->v[i].src];
        if (c->right_idx[sig] >= 0) {
            do_binop(c, &lhs->v[i], &rhs->v[c->right_idx[sig]], sig, false, out);
        } else if (vm->has_fill_rhs) {
            /* Prometheus uses the right fill here even when group_right swapped the sides. */
            em_sample_t rs = {.labels = match_labels(ev, &lhs->v[i].labels, vm->on, vm->labels, vm->n_labels),
                              .v = vm->fill_rhs};
            do_binop(c, &lhs->v[i], &rs, sig, true, out);
        }
    }
    if (vm->has_fill_lhs) {
        double fv = vm->fill_lhs;
        for (size_t i = 0; i < rhs->n; i++) {
            uint32_t sig = rsig[rhs->v[i].src];
            if (vm->card == EM_CARD_ONE_TO_ONE ? c->matched[sig] != 0 : c->matched_sets[sig].n > 0)
                continue;
            em_sample_t ls = {.labels = match_labels(ev, &rhs->v[i].labels, vm->on, vm->labels, vm->n_labels),
                              .v = fv};
            do_binop(c, &ls, &rhs->v[i], sig, true, out);
        }
    }
}

static void set_step(ev_t *ev, em_op_t op, em_vector_t *lhs, em_vector_t *rhs, uint32_t *lsig, uint32_t *rsig,
                     uint8_t *present, size_t n_sigs, em_vector_t *out)
{
    out->n = 0;
    memset(present, 0, n_sigs ? n_sigs : 1);
    switch (op) {
    case EM_OP_LAND:
        if (lhs->n == 0 || rhs->n == 0)
            return;
        for (size_t i = 0; i < rhs->n; i++)
            present[rsig[rhs->v[i].src]] = 1;
        for (size_t i = 0; i < lhs->n; i++)
            if (present[lsig[lhs->v[i].src]])
                *em_vector_push(ev->a, out) = lhs->v[i];
        return;
    case EM_OP_LOR:
        for (size_t i = 0; i < lhs->n; i++) {
            present[lsig[lhs->v[i].src]] = 1;
            *em_vector_push(ev->a, out) = lhs->v[i];
        }
        for (size_t i = 0; i < rhs->n; i++)
            if (!present[rsig[rhs->v[i].src]])
                *em_vector_push(ev->a, out) = rhs->v[i];
        return;
    default: /* unless */
        if (rhs->n)
            for (size_t i = 0; i < rhs->n; i++)
                present[rsig[rhs->v[i].src]] = 1;
        for (size_t i = 0; i < lhs->n; i++)
            if (!present[lsig[lhs->v[i].src]])
                *em_vector_push(ev->a, out) = lhs->v[i];
        return;
    }
}

static em_matrix_t vector_vector(ev_t *ev, const em_node_t *n)
{
    const em_vector_matching_t *vm = n->bin.matching;
    em_vector_matching_t dflt = {.card = em_op_is_set(n->bin.op) ? EM_CARD_MANY_TO_MANY : EM_CARD_ONE_TO_ONE};
    if (!vm)
        vm = &dflt;
    em_matrix_t l = ev_eval(ev, n->bin.lhs), r = ev_eval(ev, n->bin.rhs);
    u64map_t sigs;
    map_init(ev, &sigs, l.n + r.n);
    binctx_t c = {.ev = ev, .n = n, .vm = vm};
    c.lsig = sig_ordinals(ev, &l, vm, &sigs);
    c.rsig = sig_ordinals(ev, &r, vm, &sigs);
    c.n_sigs = sigs.n;
    size_t ns = c.n_sigs ? c.n_sigs : 1;
    c.right_idx = em_arena_alloc(ev->a, ns * sizeof *c.right_idx);
    c.matched = em_arena_alloc(ev->a, ns);
    c.matched_sets = em_arena_alloc(ev->a, ns * sizeof *c.matched_sets);
    map_init(ev, &c.metric_cache, 64);
    ev_gather_t gl, gr;
    ev_gather_init(ev, &gl, &l);
    ev_gather_init(ev, &gr, &r);
    em_vector_t vl = {0}, vr = {0}, vo = {0};
    ev_out_t out;
    ev_out_init(ev, &out);
    size_t steps = ev_steps(ev);
    for (size_t k = 0; k < steps; k++) {
        ev_check(ev);
        int64_t ts = ev->start + (int64_t)k * ev->interval;
        ev_gather_at(ev, &gl, ts, &vl);
        ev_gather_at(ev, &gr, ts, &vr);
        vo.n = 0;
        if (em_op_is_set(n->bin.op))
            set_step(ev, n->bin.op, &vl, &vr, c.lsig, c.rsig, c.matched, c.n_sigs, &vo);
        else
            vector_binop_step(&c, &vl, &vr, c.lsig, c.rsig, &vo);
        ev_out_vector(ev, &out, &vo, ts);
    }
    return out.m;
}

em_matrix_t ev_binary(ev_t *ev, const em_node_t *n)
{
    check_trim(ev, n->bin.op);
    em_vtype_t lt = em_node_type(n->bin.lhs), rt = em_node_type(n->bin.rhs);
    if (lt == EM_VTYPE_SCALAR && rt == EM_VTYPE_SCALAR)
        return scalar_scalar(ev, n);
    if (lt == EM_VTYPE_VECTOR && rt == EM_VTYPE_SCALAR)
        return vector_scalar(ev, n, false);
    if (lt == EM_VTYPE_SCALAR && rt == EM_VTYPE_VECTOR)
        return vector_scalar(ev, n, true);
    return vector_vector(ev, n);
}

/* ---- aggregations ---- */

typedef struct group {
    bool seen, incremental, drop_name, complete;
    double v, mean, c, count;
    double *vals; /* quantile */
    size_t n_vals, cap_vals;
    em_sample_t *heap; /* topk & co */
    size_t n_heap, cap_heap;
} group_t;

static bool grouping_has(const em_node_t *n, const char *name)
{
    return in_names(name, n->agg.grouping, n->agg.n_grouping);
}

static em_labels_t grouping_labels(ev_t *ev, const em_node_t *n, const em_labels_t *ls)
{
    em_label_t *v = em_arena_alloc(ev->a, (ls->n ? ls->n : 1) * sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < ls->n; i++) {
        bool listed = grouping_has(n, ls->v[i].name);
        if (n->agg.without ? (!listed && strcmp(ls->v[i].name, EM_METRIC_NAME) != 0) : listed)
            v[k++] = ls->v[i];
    }
    return (em_labels_t){v, k};
}

static uint64_t grouping_key(const em_node_t *n, const em_labels_t *ls)
{
    if (n->agg.without) {
        const char *names[65];
        size_t k = 0;
        for (size_t i = 0; i < n->agg.n_grouping && k < 64; i++)
            names[k++] = n->agg.grouping[i];
        names[k++] = EM_METRIC_NAME;
        return em_labels_hash_subset(ls, names, k, true);
    }
    if (n->agg.n_grouping == 0)
        return 0;
    return em_labels_hash_subset(ls, n->agg.grouping, n->agg.n_grouping, false);
}

/* Go's container/heap over vectorByValueHeap (reverse: vectorByReverseValueHeap). */
static bool heap_less(const em_sample_t *h, size_t i, size_t j, bool reverse)
{
    if (isnan(h[i].v))
        return true;
    return reverse ? h[i].v > h[j].v : h[i].v < h[j].v;
}

static void heap_swap(em_sample_t *h, size_t i, size_t j)
{
    em_sample_t t = h[i];
    h[i] = h[j];
    h[j] = t;
}

static void heap_up(em_sample_t *h, size_t j, bool rev)
{
    while (j > 0) {
        size_t i = (j - 1) / 2;
        if (!heap_less(h, j, i, rev))
            break;
        heap_swap(h, i, j);
        j = i;
    }
}

static bool heap_down(em_sample_t *h, size_t i0, size_t n, bool rev)
{
    size_t i = i0;
    for (;;) {
        size_t j1 = 2 * i + 1;
        if (j1 >= n)
            break;
        size_t j = j1;
        if (j1 + 1 < n && heap_less(h, j1 + 1, j1, rev))
            j = j1 + 1;
        if (!heap_less(h, j, i, rev))
            break;
        heap_swap(h, i, j);
        i = j;
    }
    return i > i0;
}

static void heap_push(ev_t *ev, group_t *g, const em_sample_t *s, bool rev)
{
    g->heap = em_value_grow(ev->a, g->heap, g->n_heap, &g->cap_heap, sizeof *g->heap);
    g->heap[g->n_heap++] = *s;
    heap_up(g->heap, g->n_heap - 1, rev);
}

/* sort.Sort(sort.Reverse(heap)) with Go's insertion sort (stable for the small heaps seen in practice). */
static void heap_sort_reverse(em_sample_t *h, size_t n, bool rev)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && heap_less(h, j - 1, j, rev); j--)
            heap_swap(h, j, j - 1);
}

static double ratio_offset(const em_labels_t *ls)
{
    /* Prometheus: float64(labels.Hash()) / MaxUint64, labels.Hash being xxhash64 of name\xff value\xff. */
    XXH64_state_t *st = XXH64_createState();
    XXH64_reset(st, 0);
    const char sep = (char)0xff;
    for (size_t i = 0; i < ls->n; i++) {
        XXH64_update(st, ls->v[i].name, strlen(ls->v[i].name));
        XXH64_update(st, &sep, 1);
        XXH64_update(st, ls->v[i].value, strlen(ls->v[i].value));
        XXH64_update(st, &sep, 1);
    }
    uint64_t h = XXH64_digest(st);
    XXH64_freeState(st);
    return (double)h / 18446744073709551615.0;
}

static em_matrix_t count_values(ev_t *ev, const em_node_t *n)
{
    const em_node_t *p = em_node_unwrap(n->agg.param);
    const char *label = p->string.s;
    if (!ev_label_name_valid(label))
        EV_EXEC_FAIL(ev, "invalid label name \"%s\"", label);
    em_matrix_t in = ev_eval(ev, n->agg.expr);
    ev_gather_t g;
    ev_gather_init(ev, &g, &in);
    em_vector_t vec = {0}, res = {0};
    ev_out_t out;
    ev_out_init(ev, &out);
    size_t steps = ev_steps(ev);
    /* count_values groups by the value label too (unless 'without' names it). */
    em_node_t nn = *n;
    if (!n->agg.without) {
        const char **gr = em_arena_alloc(ev->a, (n->agg.n_grouping + 1) * sizeof *gr);
        if (n->agg.n_grouping)
            memcpy(gr, n->agg.grouping, n->agg.n_grouping * sizeof *gr);
        gr[n->agg.n_grouping] = label;
        nn.agg.grouping = gr;
        nn.agg.n_grouping = n->agg.n_grouping + 1;
    }
    for (size_t k = 0; k < steps; k++) {
        ev_check(ev);
        int64_t ts = ev->start + (int64_t)k * ev->interval;
        ev_gather_at(ev, &g, ts, &vec);
        u64map_t groups;
        map_init(ev, &groups, vec.n);
        res.n = 0;
        for (size_t i = 0; i < vec.n; i++) {
            char num[EM_FLOAT_BUF];
            em_fmt_float(vec.v[i].v, 'f', num);
            em_labels_builder_t b;
            em_labels_builder_init(&b, &vec.v[i].labels);
            em_labels_builder_set(&b, label, em_arena_strdup(ev->a, num));
            em_labels_t ls = em_labels_builder_labels(&b);
            uint64_t key = grouping_key(&nn, &ls);
            uint32_t *slot = map_slot(ev, &groups, key);
            if (!*slot) {
                em_sample_t *s = em_vector_push(ev->a, &res);
                s->labels = grouping_labels(ev, &nn, &ls);
                s->labels = em_labels_copy(&s->labels, ev->a);
                s->v = 1;
                *slot = (uint32_t)res.n;
            } else {
                res.v[*slot - 1].v++;
            }
            em_labels_builder_fini(&b);
        }
        ev_out_vector(ev, &out, &res, ts);
    }
    return out.m;
}

static void agg_k_step(ev_t *ev, const em_node_t *n, const em_vector_t *vec, const uint32_t *sgroup,
                       group_t *groups, size_t n_groups, double param, size_t n_input, em_vector_t *res)
{
    em_agg_op_t op = n->agg.op;
    int64_t k = 0;
    double r = 0;
    for (size_t i = 0; i < n_groups; i++) {
        groups[i].seen = false;
        groups[i].n_heap = 0;
        groups[i].complete = false;
    }
    if (op == EM_AGG_LIMIT_RATIO) {
        if (param == 0)
            return;
        r = param < -1.0 ? -1.0 : param > 1.0 ? 1.0 : param;
    } else {
        k = (int64_t)param;
        if (k > (int64_t)n_input)
            k = (int64_t)n_input;
        if (k < 1)
            return;
    }
    bool rev = op == EM_AGG_BOTTOMK;
    for (size_t i = 0; i < vec->n; i++) {
        const em_sample_t *s = &vec->v[i];
        group_t *g = &groups[sgroup[s->src]];
        switch (op) {
        case EM_AGG_LIMIT_RATIO: {
            double off = ratio_offset(&s->labels);
            bool add = (r >= 0 && off < r) || (r < 0 && off >= 1.0 + r);
            g->seen = true;
            if (add)
                heap_push(ev, g, s, false);
            break;
        }
        case EM_AGG_LIMITK:
            g->seen = true;
            if ((int64_t)g->n_heap < k)
                heap_push(ev, g, s, false);
            break;
        case EM_AGG_TOPK:
        case EM_AGG_BOTTOMK:
            g->seen = true;
            if ((int64_t)g->n_heap < k) {
                heap_push(ev, g, s, rev);
            } else if ((rev ? g->heap[0].v > s->v : g->heap[0].v < s->v) ||
                       (isnan(g->heap[0].v) && !isnan(s->v))) {
                g->heap[0] = *s;
                if (k > 1 && !heap_down(g->heap, 0, g->n_heap, rev))
                    heap_up(g->heap, 0, rev);
            }
            break;
        default:
            break;
        }
    }
    for (size_t gi = 0; gi < n_groups; gi++) {
        group_t *g = &groups[gi];
        if (!g->seen)
            continue;
        if (op == EM_AGG_TOPK || op == EM_AGG_BOTTOMK)
            heap_sort_reverse(g->heap, g->n_heap, rev);
        for (size_t j = 0; j < g->n_heap; j++)
            *em_vector_push(ev->a, res) = g->heap[j];
    }
}

/* Add one sample to its group (Prometheus's aggregation(), float part). */
static inline void agg_add(ev_t *ev, em_agg_op_t op, group_t *g, double f, bool drop_name)
{
    if (!g->seen) {
        g->seen = true;
        g->v = f;
        g->mean = f;
        g->c = 0;
        g->count = 1;
        g->incremental = false;
        g->drop_name = drop_name;
        g->n_vals = 0;
        switch (op) {
        case EM_AGG_STDVAR:
        case EM_AGG_STDDEV:
            g->v = (isnan(f) || isinf(f)) ? NAN : 0;
            break;
        case EM_AGG_QUANTILE:
            g->vals = em_value_grow(ev->a, g->vals, 0, &g->cap_vals, sizeof *g->vals);
            g->vals[0] = f;
            g->n_vals = 1;
            break;
        case EM_AGG_GROUP:
            g->v = 1;
            break;
        default:
            break;
        }
        return;
    }
    if (drop_name)
        g->drop_name = true;
    switch (op) {
    case EM_AGG_SUM:
        g->v = em_kahan_inc(f, g->v, &g->c);
        break;
    case EM_AGG_AVG:
        g->count++;
        if (!g->incremental) {
            double nc = g->c;
            double nv = em_kahan_inc(f, g->v, &nc);
            if (!isinf(nv)) {
                g->v = nv;
                g->c = nc;
                break;
            }
            g->incremental = true;
            g->mean = g->v / (g->count - 1);
            g->c /= g->count - 1;
        }
        {
            double qq = (g->count - 1) / g->count;
            double mc = qq * g->c;
            g->mean = em_kahan_inc(f / g->count, qq * g->mean, &mc);
            g->c = mc;
        }
        break;
    case EM_AGG_MAX:
        if (g->v < f || isnan(g->v))
            g->v = f;
        break;
    case EM_AGG_MIN:
        if (g->v > f || isnan(g->v))
            g->v = f;
        break;
    case EM_AGG_COUNT:
        g->count++;
        break;
    case EM_AGG_STDVAR:
    case EM_AGG_STDDEV:
        if (isnan(f) || isinf(f)) {
            g->v = NAN;
        } else {
            g->count++;
            double delta = f - g->mean;
            g->mean += delta / g->count;
            g->v += delta * (f - g->mean);
        }
        break;
    case EM_AGG_QUANTILE:
        g->vals = em_value_grow(ev->a, g->vals, g->n_vals, &g->cap_vals, sizeof *g->vals);
        g->vals[g->n_vals++] = f;
        break;
    default:
        break;
    }
}

static void agg_finish(em_agg_op_t op, group_t *groups, size_t n_groups, double q)
{
    for (size_t i = 0; i < n_groups; i++) {
        group_t *g = &groups[i];
        if (!g->seen)
            continue;
        switch (op) {
        case EM_AGG_AVG:
            g->v = g->incremental ? g->mean + g->c : g->v / g->count + g->c / g->count;
            break;
        case EM_AGG_COUNT:
            g->v = g->count;
            break;
        case EM_AGG_STDVAR:
            g->v /= g->count;
            break;
        case EM_AGG_STDDEV:
            g->v = sqrt(g->v / g->count);
            break;
        case EM_AGG_QUANTILE:
            g->v = em_fn_quantile(q, g->vals, g->n_vals);
            break;
        case EM_AGG_SUM:
            if (!isinf(g->v))
                g->v += g->c;
            break;
        default:
            break;
        }
    }
}

/* Finish one step's groups and append each group's value at ts to its output series (out->v[i] is
 * group i's). */
static void agg_emit(ev_t *ev, em_agg_op_t op, group_t *groups, size_t n_groups, double q, em_matrix_t *out,
                     int64_t ts)
{
    agg_finish(op, groups, n_groups, q);
    for (size_t i = 0; i < n_groups; i++) {
        if (!groups[i].seen)
            continue;
        em_series_t *s = &out->v[i];
        em_series_push(ev->a, s, ts, groups[i].v);
        if (groups[i].drop_name)
            s->drop_name = true;
    }
}

em_matrix_t ev_aggregate(ev_t *ev, const em_node_t *n)
{
    em_agg_op_t op = n->agg.op;
    if (op == EM_AGG_COUNT_VALUES)
        return count_values(ev, n);
    em_matrix_t params = {0};
    bool has_param = n->agg.param != NULL;
    if (has_param)
        params = ev_eval(ev, n->agg.param);
    em_matrix_t in = ev_eval(ev, n->agg.expr);
    size_t steps = ev_steps(ev);
    bool k_op = op == EM_AGG_TOPK || op == EM_AGG_BOTTOMK || op == EM_AGG_LIMITK || op == EM_AGG_LIMIT_RATIO;
    if (has_param) {
        double pmin = INFINITY, pmax = -INFINITY;
        bool any_nan = false;
        for (size_t k = 0; k < steps; k++) {
            double p = ev_scalar_at(&params, k, ev->start + (int64_t)k * ev->interval);
            if (isnan(p))
                any_nan = true;
            else {
                pmin = fmin(pmin, p);
                pmax = fmax(pmax, p);
            }
        }
        if (op == EM_AGG_TOPK || op == EM_AGG_BOTTOMK || op == EM_AGG_LIMITK) {
            if (pmax < 1 && !any_nan)
                return (em_matrix_t){0};
            if (any_nan)
                EV_EXEC_FAIL(ev, "Parameter value is NaN");
            if (pmin <= -9.223372036854775808e18)
                EV_EXEC_FAIL(ev, "Scalar value %g underflows int64", pmin);
            if (pmax >= 9.223372036854775807e18)
                EV_EXEC_FAIL(ev, "Scalar value %g overflows int64", pmax);
        } else if (op == EM_AGG_LIMIT_RATIO) {
            if (pmax == 0 && pmin == 0 && !any_nan)
                return (em_matrix_t){0};
            if (any_nan)
                EV_EXEC_FAIL(ev, "Ratio value is NaN");
            if (pmax > 1.0)
                ev_warn(ev, "PromQL warning: ratio value should be between -1 and 1, got %g, capping to 1",
                        pmax);
            if (pmin < -1.0)
                ev_warn(ev, "PromQL warning: ratio value should be between -1 and 1, got %g, capping to -1",
                        pmin);
        } else if (op == EM_AGG_QUANTILE) {
            if (any_nan)
                ev_warn(ev, "PromQL warning: quantile value should be between 0 and 1, got NaN");
            if (pmax > 1)
                ev_warn(ev, "PromQL warning: quantile value should be between 0 and 1, got %g", pmax);
            if (pmin < 0)
                ev_warn(ev, "PromQL warning: quantile value should be between 0 and 1, got %g", pmin);
        }
    }
    /* Group every input series once. */
    u64map_t gmap;
    map_init(ev, &gmap, in.n);
    uint32_t *sgroup = em_arena_alloc(ev->a, (in.n ? in.n : 1) * sizeof *sgroup);
    em_labels_t *glabels = em_arena_alloc(ev->a, (in.n ? in.n : 1) * sizeof *glabels);
    for (size_t i = 0; i < in.n; i++) {
        uint32_t *slot = map_slot(ev, &gmap, grouping_key(n, &in.v[i].labels));
        if (!*slot) {
            *slot = (uint32_t)gmap.n;
            if (!k_op)
                glabels[*slot - 1] = grouping_labels(ev, n, &in.v[i].labels);
        }
        sgroup[i] = *slot - 1;
    }
    size_t n_groups = gmap.n;
    group_t *groups = em_arena_alloc(ev->a, (n_groups ? n_groups : 1) * sizeof *groups);
    memset(groups, 0, (n_groups ? n_groups : 1) * sizeof *groups);
    ev_gather_t g;
    ev_gather_init(ev, &g, &in);
    em_vector_t vec = {0}, res = {0};
    ev_out_t out;
    ev_out_init(ev, &out);
    em_matrix_t agg_out = {0};
    if (!k_op) {
        for (size_t i = 0; i < n_groups; i++)
            em_matrix_push(ev->a, &agg_out)->labels = glabels[i];
    }
    for (size_t k = 0; k < steps; k++) {
        ev_check(ev);
        int64_t ts = ev->start + (int64_t)k * ev->interval;
        double p = has_param ? ev_scalar_at(&params, k, ts) : 0;
        if (!k_op) {
            /* Straight from the input series (each holds points at step times only): no vector. */
            for (size_t i = 0; i < n_groups; i++)
                groups[i].seen = false;
            for (size_t i = 0; i < in.n; i++) {
                const em_series_t *s = &in.v[i];
                size_t c = g.cur[i];
                if (c < s->n && s->pts[c].t == ts) {
                    agg_add(ev, op, &groups[sgroup[i]], s->pts[c].v, s->drop_name);
                    g.cur[i] = c + 1;
                }
            }
            agg_emit(ev, op, groups, n_groups, p, &agg_out, ts);
            continue;
        }
        ev_gather_at(ev, &g, ts, &vec);
        if (k_op) {
            res.n = 0;
            agg_k_step(ev, n, &vec, sgroup, groups, n_groups, p, in.n, &res);
            ev_out_vector(ev, &out, &res, ts);
        } else {
            for (size_t i = 0; i < n_groups; i++)
                groups[i].seen = false;
            for (size_t i = 0; i < vec.n; i++)
                agg_add(ev, op, &groups[sgroup[vec.v[i].src]], vec.v[i].v, vec.v[i].drop_name);
            agg_emit(ev, op, groups, n_groups, p, &agg_out, ts);
        }
    }
    if (k_op)
        return out.m;
    em_matrix_t res_m = {0};
    for (size_t i = 0; i < agg_out.n; i++)
        if (agg_out.v[i].n)
            *em_matrix_push(ev->a, &res_m) = agg_out.v[i];
    return res_m;
}
