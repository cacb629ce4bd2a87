/* Design: see eval.h. Function calls: range-vector functions slide a window over each series'
 * samples (Prometheus's Call branch of evaluator.eval), instant-vector functions map or combine the
 * samples of each step (rangeEval with the function bodies of promql/functions.go). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/regex.h"
#include "base/strconv.h"
#include "query/eval_int.h"
#include "query/fn.h"

static const char *gfmt(double v, char *buf)
{
    em_fmt_float(v, 'g', buf);
    return buf;
}

static const em_node_t *arg(const em_node_t *n, size_t i)
{
    return em_node_unwrap(n->call.args[i]);
}

static const char *str_arg(const em_node_t *n, size_t i)
{
    return arg(n, i)->string.s;
}

/* ---- range-vector functions ---- */

typedef struct rctx {
    em_func_id_t id;
    int64_t ts, range_ms, range_start, range_end;
    bool anchored, smoothed;
    double p; /* the scalar parameter (quantile, predict duration, smoothing factor) */
    double p2;
    double *scratch;
    const int64_t *sts; /* the window's start timestamps, or NULL */
    bool st_overlap;    /* set when the series' start timestamps contradict its samples */
} rctx_t;

static bool cmp_over_time(const em_fpoint_t *p, size_t n, int mode, bool ret_ts, double *out)
{
    /* mode 0 max (>), 1 min (<), 2 ts max (>=), 3 ts min (<=) */
    double m = p[0].v;
    int64_t mt = p[0].t;
    for (size_t i = 0; i < n; i++) {
        double f = p[i].v;
        bool take;
        switch (mode) {
        case 0:
            take = f > m || isnan(m);
            break;
        case 1:
            take = f < m || isnan(m);
            break;
        case 2:
            take = f >= m || isnan(m);
            break;
        default:
            take = f <= m || isnan(m);
            break;
        }
        if (take) {
            m = f;
            mt = p[i].t;
        }
    }
    *out = ret_ts ? (double)mt / 1000 : m;
    return true;
}

static bool range_fn(ev_t *ev, rctx_t *c, const em_fpoint_t *p, size_t n, double *out)
{
    switch (c->id) {
    case EM_FN_RATE:
    case EM_FN_INCREASE:
    case EM_FN_DELTA: {
        bool counter = c->id != EM_FN_DELTA, rate = c->id == EM_FN_RATE;
        if (c->anchored || c->smoothed)
            return em_fn_extended_rate(p, n, c->range_start, c->range_end, c->range_ms, c->smoothed, counter,
                                       rate, out);
        return em_fn_extrapolated_rate(p, c->sts, n, c->range_start, c->range_end, c->range_ms, counter, rate,
                                       out, &c->st_overlap);
    }
    case EM_FN_IRATE:
        return em_fn_instant_value(p, c->sts, n, true, out);
    case EM_FN_IDELTA:
        return em_fn_instant_value(p, NULL, n, false, out);
    case EM_FN_DERIV: {
        if (n < 2)
            return false;
        double slope, icpt;
        em_fn_linear_regression(p, n, p[0].t, &slope, &icpt);
        *out = slope;
        return true;
    }
    case EM_FN_PREDICT_LINEAR: {
        if (n < 2)
            return false;
        double slope, icpt;
        em_fn_linear_regression(p, n, c->ts, &slope, &icpt);
        *out = slope * c->p + icpt;
        return true;
    }
    case EM_FN_AVG_OVER_TIME:
        *out = em_fn_avg(p, n);
        return true;
    case EM_FN_SUM_OVER_TIME:
        *out = em_fn_sum(p, n);
        return true;
    case EM_FN_COUNT_OVER_TIME:
        *out = (double)n;
        return true;
    case EM_FN_MAX_OVER_TIME:
        return cmp_over_time(p, n, 0, false, out);
    case EM_FN_MIN_OVER_TIME:
        return cmp_over_time(p, n, 1, false, out);
    case EM_FN_TS_OF_MAX_OVER_TIME:
        return cmp_over_time(p, n, 2, true, out);
    case EM_FN_TS_OF_MIN_OVER_TIME:
        return cmp_over_time(p, n, 3, true, out);
    case EM_FN_LAST_OVER_TIME:
        *out = p[n - 1].v;
        return true;
    case EM_FN_FIRST_OVER_TIME:
        *out = p[0].v;
        return true;
    case EM_FN_TS_OF_LAST_OVER_TIME:
        *out = (double)p[n - 1].t / 1000;
        return true;
    case EM_FN_TS_OF_FIRST_OVER_TIME:
        *out = (double)p[0].t / 1000;
        return true;
    case EM_FN_PRESENT_OVER_TIME:
        *out = 1;
        return true;
    case EM_FN_STDDEV_OVER_TIME:
        *out = sqrt(em_fn_variance(p, n));
        return true;
    case EM_FN_STDVAR_OVER_TIME:
        *out = em_fn_variance(p, n);
        return true;
    case EM_FN_QUANTILE_OVER_TIME:
        for (size_t i = 0; i < n; i++)
            c->scratch[i] = p[i].v;
        *out = em_fn_quantile(c->p, c->scratch, n);
        return true;
    case EM_FN_MAD_OVER_TIME:
        *out = em_fn_mad(p, n, c->scratch);
        return true;
    case EM_FN_CHANGES:
    case EM_FN_RESETS: {
        size_t first = 0;
        if (c->anchored) {
            /* the last sample at or before the range start anchors the window */
            size_t i = 0;
            while (i < n && p[i].t <= c->range_start)
                i++;
            first = i > 0 ? i - 1 : 0;
        }
        double cnt = 0;
        for (size_t i = first + 1; i < n; i++) {
            if (c->id == EM_FN_CHANGES) {
                if (p[i].v != p[i - 1].v && !(isnan(p[i].v) && isnan(p[i - 1].v)))
                    cnt++;
            } else if (p[i].v < p[i - 1].v ||
                       (c->sts && em_fn_st_reset(c->sts[i - 1], p[i - 1].t, c->sts[i], p[i].t))) {
                cnt++;
            }
        }
        *out = cnt;
        return true;
    }
    case EM_FN_ABSENT_OVER_TIME:
        *out = 1;
        return true;
    case EM_FN_DOUBLE_EXPONENTIAL_SMOOTHING:
        if (c->p <= 0 || c->p >= 1)
            EV_EXEC_FAIL(ev, "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", c->p);
        if (c->p2 <= 0 || c->p2 >= 1)
            EV_EXEC_FAIL(ev, "invalid trend factor. Expected: 0 < tf < 1, got: %f", c->p2);
        return em_fn_double_exp_smoothing(p, n, c->p, c->p2, out);
    default:
        ev_fail(ev, EM_EUNSUPPORTED, EM_QERR_EXECUTION, "function %s is not supported on float samples",
                em_func_get(c->id)->name);
    }
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && memcmp(s + a - b, suf, b) == 0;
}

static const char *const anchored_ok[] = {"changes", "delta", "increase", "rate", "resets"};
static const char *const smoothed_ok[] = {"delta", "increase", "rate"};

static bool name_in(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, list[i]) == 0)
            return true;
    return false;
}

static em_matrix_t absent_over_time_result(ev_t *ev, const em_node_t *n, const em_matrix_t *mat);
static em_labels_t absent_labels(ev_t *ev, const em_node_t *a);

typedef struct range_ctx {
    const em_node_t *n;
    size_t mi;
    em_func_id_t id;
    em_matrix_t params[EM_FUNC_MAX_ARGS];
    int64_t range, off, at, ext_lo, ext_hi;
    bool has_at, keep_name;
    rctx_t c;
    size_t scratch_cap;
    em_matrix_t out;
} range_ctx_t;

/* One input series of a range-vector function: slide the window over its samples step by step. */
static void range_series(ev_t *ev, range_ctx_t *rc, const em_labels_t *ls, bool drop_name, em_fpoint_t *pts,
                         int64_t *sts, size_t n_pts)
{
    const em_node_t *n = rc->n;
    em_func_id_t id = rc->id;
    /* stale markers never enter a window */
    size_t k = 0;
    for (size_t j = 0; j < n_pts; j++) {
        if (ev_is_stale(pts[j].v))
            continue;
        if (sts)
            sts[k] = sts[j];
        pts[k++] = pts[j];
    }
    n_pts = k;
    rc->c.st_overlap = false;
    if (n_pts > rc->scratch_cap) {
        rc->scratch_cap = n_pts * 2;
        rc->c.scratch = em_arena_alloc(ev->a, rc->scratch_cap * sizeof(double));
    }
    size_t steps = ev_steps(ev);
    em_series_t o = {.drop_name = drop_name};
    size_t lo = 0, hi = 0, window = 0; /* the last window, held until the series is done */
    for (size_t s = 0; s < steps; s++) {
        ev_check(ev);
        int64_t ts = ev->start + (int64_t)s * ev->interval;
        int64_t ref = (rc->has_at ? rc->at : ts) - rc->off;
        int64_t wlo = ref - rc->range - rc->ext_lo, whi = ref + rc->ext_hi;
        while (lo < n_pts && pts[lo].t <= wlo)
            lo++;
        if (hi < lo)
            hi = lo;
        while (hi < n_pts && pts[hi].t <= whi)
            hi++;
        if (hi == lo)
            continue;
        window = hi - lo;
        ev->stat_total += (int64_t)window;
        ev_hold(ev, ev->sel_out + (int64_t)window);
        rc->c.ts = ts;
        rc->c.range_start = ref - rc->range;
        rc->c.range_end = ref;
        for (size_t a = 0, pi = 0; a < n->call.n_args; a++) {
            if (a == rc->mi)
                continue;
            double v = ev_scalar_at(&rc->params[a], s, ts);
            if (pi++ == 0)
                rc->c.p = v;
            else
                rc->c.p2 = v;
        }
        if (id == EM_FN_QUANTILE_OVER_TIME && (isnan(rc->c.p) || rc->c.p < 0 || rc->c.p > 1)) {
            char b[EM_FLOAT_BUF];
            ev_warn(ev, "PromQL warning: quantile value should be between 0 and 1, got %s", gfmt(rc->c.p, b));
        }
        double v;
        rc->c.sts = sts ? sts + lo : NULL;
        if (range_fn(ev, &rc->c, pts + lo, hi - lo, &v)) {
            if (!o.pts)
                o.pts = em_arena_alloc(ev->a, (o.cap = steps) * sizeof *o.pts);
            o.pts[o.n++] = (em_fpoint_t){ts, v};
        }
    }
    if (rc->c.st_overlap)
        ev_warn(
            ev,
            "PromQL warning: sample has start time that overlaps with previous sample timestamp for metric "
            "\"%s\"",
            em_labels_get(ls, EM_METRIC_NAME) ? em_labels_get(ls, EM_METRIC_NAME) : "");
    if (!o.n)
        return;
    if ((id == EM_FN_RATE || id == EM_FN_INCREASE)) {
        const char *name = em_labels_get(ls, EM_METRIC_NAME);
        if (name && *name && !has_suffix(name, "_total") && !has_suffix(name, "_sum") &&
            !has_suffix(name, "_count") && !has_suffix(name, "_bucket"))
            ev_info(ev,
                    "PromQL info: metric might not be a counter, name does not end in "
                    "_total/_sum/_count/_bucket: \"%s\"",
                    name);
    }
    ev_hold(ev, ev->sel_out + (int64_t)(window + o.n));
    ev->sel_out += (int64_t)o.n;
    o.labels = em_labels_copy(ls, ev->a);
    if (!rc->keep_name)
        ev_mark_drop(ev, &o.labels, &o.drop_name);
    else if (o.drop_name && !ev->delayed_name_removal)
        o.labels = ev_labels_drop_name(ev, &o.labels);
    *em_matrix_push(ev->a, &rc->out) = o;
    ev_check(ev);
}

static void range_series_cb(ev_t *ev, const em_labels_t *ls, em_fpoint_t *pts, int64_t *sts, size_t n,
                            void *ctx)
{
    range_series(ev, ctx, ls, false, pts, sts, n);
}

/* Prometheus 3 with use-start-timestamps: the functions that read samples' start timestamps, when they
 * read a selector directly (subqueries produce points without them). */
static bool uses_sts(const ev_t *ev, em_func_id_t id, bool anchored, bool smoothed)
{
    if (!ev->use_start_timestamps)
        return false;
    if (id == EM_FN_RESETS)
        return true;
    return (id == EM_FN_RATE || id == EM_FN_INCREASE || id == EM_FN_IRATE) && !anchored && !smoothed;
}

static em_matrix_t call_range(ev_t *ev, const em_node_t *n, size_t mi)
{
    em_func_id_t id = n->call.func->id;
    const char *fname = n->call.func->name;
    const em_node_t *ma = arg(n, mi);
    range_ctx_t rc = {.n = n, .mi = mi, .id = id};
    /* Scalar parameters, one value per step. */
    for (size_t i = 0; i < n->call.n_args; i++)
        if (i != mi)
            rc.params[i] = ev_eval(ev, n->call.args[i]);
    bool anchored = false, smoothed = false;
    rc.keep_name = id == EM_FN_LAST_OVER_TIME || id == EM_FN_FIRST_OVER_TIME;
    if (ma->kind == EM_NODE_MATRIX_SEL) {
        const em_vector_sel_t *vs = &ma->ms.vs->vs;
        rc.range = ev_duration(ev, ma->ms.range_ms, ma->ms.range_expr);
        rc.off = ev_duration(ev, vs->offset_ms, vs->offset_expr);
        rc.at = ev_at_time(ev, &vs->at, &rc.has_at);
        anchored = vs->anchored;
        smoothed = vs->smoothed;
        if (anchored && !name_in(fname, anchored_ok, 5))
            EV_EXEC_FAIL(ev,
                         "anchored modifier can only be used with: changes, delta, increase, rate, resets - "
                         "not with %s",
                         fname);
        if (smoothed && !name_in(fname, smoothed_ok, 3))
            EV_EXEC_FAIL(ev, "smoothed modifier can only be used with: delta, increase, rate - not with %s",
                         fname);
        rc.ext_lo = (anchored || smoothed) ? ev->lookback_ms : 0;
        rc.ext_hi = smoothed ? ev->lookback_ms : 0;
        rc.c = (rctx_t){.id = id, .range_ms = rc.range, .anchored = anchored, .smoothed = smoothed};
        int64_t lo = (rc.has_at ? rc.at : ev->start) - rc.off - rc.range + 1 - rc.ext_lo;
        int64_t hi = (rc.has_at ? rc.at : ev->end) - rc.off + rc.ext_hi;
        ev_select_each(ev, vs, lo, hi, fname, rc.range, uses_sts(ev, id, anchored, smoothed), range_series_cb,
                       &rc);
    } else {
        rc.range = ev_duration(ev, ma->sq.range_ms, ma->sq.range_expr);
        rc.off = ev_duration(ev, ma->sq.offset_ms, ma->sq.offset_expr);
        rc.at = ev_at_time(ev, &ma->sq.at, &rc.has_at);
        rc.c = (rctx_t){.id = id, .range_ms = rc.range};
        em_matrix_t raw = ev_subquery(ev, ma);
        ev->sel_out = 0;
        for (size_t i = 0; i < raw.n; i++)
            range_series(ev, &rc, &raw.v[i].labels, raw.v[i].drop_name, raw.v[i].pts, NULL, raw.v[i].n);
    }
    if (id == EM_FN_ABSENT_OVER_TIME)
        return absent_over_time_result(ev, n, &rc.out);
    if (!ev->delayed_name_removal)
        ev_check_dup_labels(ev, &rc.out);
    return rc.out;
}

static em_matrix_t absent_over_time_result(ev_t *ev, const em_node_t *n, const em_matrix_t *mat)
{
    size_t steps = ev_steps(ev);
    uint8_t *found = em_arena_alloc(ev->a, steps);
    memset(found, 0, steps);
    for (size_t i = 0; i < mat->n; i++)
        for (size_t j = 0; j < mat->v[i].n; j++)
            found[(mat->v[i].pts[j].t - ev->start) / ev->interval] = 1;
    em_matrix_t out = {0};
    em_series_t s = {.labels = absent_labels(ev, n->call.args[0]), .drop_name = true};
    for (size_t k = 0; k < steps; k++)
        if (!found[k])
            em_series_push(ev->a, &s, ev->start + (int64_t)k * ev->interval, 1);
    if (s.n)
        *em_matrix_push(ev->a, &out) = s;
    return out;
}

static em_labels_t absent_labels(ev_t *ev, const em_node_t *a)
{
    const em_vector_sel_t *vs = NULL;
    if (a->kind == EM_NODE_VECTOR_SEL)
        vs = &a->vs;
    else if (a->kind == EM_NODE_MATRIX_SEL)
        vs = &a->ms.vs->vs;
    if (!vs)
        return (em_labels_t){0};
    em_labels_builder_t b;
    em_labels_builder_init(&b, NULL);
    const char **seen = em_arena_alloc(ev->a, (vs->n_matchers + 1) * sizeof *seen);
    size_t n_seen = 0;
    for (size_t i = 0; i < vs->n_matchers; i++) {
        const em_matcher_t *m = vs->matchers[i];
        if (strcmp(m->name, EM_METRIC_NAME) == 0)
            continue;
        bool has = false;
        for (size_t j = 0; j < n_seen; j++)
            has = has || strcmp(seen[j], m->name) == 0;
        if (m->type == EM_MATCH_EQ && !has) {
            em_labels_builder_set(&b, m->name, m->value);
            seen[n_seen++] = m->name;
        } else {
            em_labels_builder_del(&b, m->name);
        }
    }
    em_labels_t ls = em_labels_builder_labels(&b);
    em_labels_t copy = em_labels_copy(&ls, ev->a);
    em_labels_builder_fini(&b);
    return copy;
}

/* ---- per-series maps ---- */

static double map1(em_func_id_t id, double v, double a, double b)
{
    switch (id) {
    case EM_FN_ABS:
        return fabs(v);
    case EM_FN_CEIL:
        return ceil(v);
    case EM_FN_FLOOR:
        return floor(v);
    case EM_FN_EXP:
        return exp(v);
    case EM_FN_SQRT:
        return sqrt(v);
    case EM_FN_LN:
        return log(v);
    case EM_FN_LOG2:
        return log2(v);
    case EM_FN_LOG10:
        return log10(v);
    case EM_FN_SIN:
        return sin(v);
    case EM_FN_COS:
        return cos(v);
    case EM_FN_TAN:
        return tan(v);
    case EM_FN_ASIN:
        return asin(v);
    case EM_FN_ACOS:
        return acos(v);
    case EM_FN_ATAN:
        return atan(v);
    case EM_FN_SINH:
        return sinh(v);
    case EM_FN_COSH:
        return cosh(v);
    case EM_FN_TANH:
        return tanh(v);
    case EM_FN_ASINH:
        return asinh(v);
    case EM_FN_ACOSH:
        return acosh(v);
    case EM_FN_ATANH:
        return atanh(v);
    case EM_FN_DEG:
        return v * 180 / M_PI;
    case EM_FN_RAD:
        return v * M_PI / 180;
    case EM_FN_SGN:
        return v < 0 ? -1 : v > 0 ? 1 : v;
    case EM_FN_CLAMP:
        return fmax(a, fmin(b, v));
    case EM_FN_CLAMP_MAX:
        return fmax(-INFINITY, fmin(a, v));
    case EM_FN_CLAMP_MIN:
        return fmax(a, fmin(INFINITY, v));
    case EM_FN_ROUND: {
        double inv = 1.0 / a;
        return floor(v * inv + 0.5) / inv;
    }
    case EM_FN_DAY_OF_MONTH:
        return em_fn_date(EM_DATE_DAY_OF_MONTH, v);
    case EM_FN_DAY_OF_WEEK:
        return em_fn_date(EM_DATE_DAY_OF_WEEK, v);
    case EM_FN_DAY_OF_YEAR:
        return em_fn_date(EM_DATE_DAY_OF_YEAR, v);
    case EM_FN_DAYS_IN_MONTH:
        return em_fn_date(EM_DATE_DAYS_IN_MONTH, v);
    case EM_FN_HOUR:
        return em_fn_date(EM_DATE_HOUR, v);
    case EM_FN_MINUTE:
        return em_fn_date(EM_DATE_MINUTE, v);
    case EM_FN_MONTH:
        return em_fn_date(EM_DATE_MONTH, v);
    case EM_FN_YEAR:
        return em_fn_date(EM_DATE_YEAR, v);
    default:
        return NAN;
    }
}

static em_matrix_t call_map(ev_t *ev, const em_node_t *n)
{
    em_func_id_t id = n->call.func->id;
    em_matrix_t in = ev_eval(ev, n->call.args[0]);
    em_matrix_t p1 = {0}, p2 = {0};
    if (n->call.n_args > 1)
        p1 = ev_eval(ev, n->call.args[1]);
    if (n->call.n_args > 2)
        p2 = ev_eval(ev, n->call.args[2]);
    bool is_ts = id == EM_FN_TIMESTAMP;
    em_matrix_t out = {0};
    for (size_t i = 0; i < in.n; i++) {
        ev_check(ev);
        em_series_t *s = &in.v[i];
        em_series_t o = {.labels = s->labels, .drop_name = s->drop_name};
        ev_mark_drop(ev, &o.labels, &o.drop_name);
        for (size_t j = 0; j < s->n; j++) {
            int64_t ts = s->pts[j].t;
            size_t step = (size_t)((ts - ev->start) / ev->interval);
            double a = n->call.n_args > 1 ? ev_scalar_at(&p1, step, ts) : 1;
            double b = n->call.n_args > 2 ? ev_scalar_at(&p2, step, ts) : 0;
            if (id == EM_FN_CLAMP && b < a)
                continue;
            double v = is_ts ? (double)ts / 1000 : map1(id, s->pts[j].v, a, b);
            em_series_push(ev->a, &o, ts, v);
        }
        if (o.n)
            *em_matrix_push(ev->a, &out) = o;
    }
    if (!ev->delayed_name_removal)
        out = ev_merge_same_labels(ev, out);
    return out;
}

/* ---- label_replace, label_join ---- */

static em_matrix_t label_replace(ev_t *ev, const em_node_t *n)
{
    const char *dst = str_arg(n, 1), *repl = str_arg(n, 2), *src = str_arg(n, 3), *re_s = str_arg(n, 4);
    em_regex_t *re = NULL;
    em_err_t err;
    if (em_regex_compile(re_s, strlen(re_s), &re, &err) != EM_OK)
        EV_EXEC_FAIL(ev, "invalid regular expression in label_replace(): %s", re_s);
    if (!ev_label_name_valid(dst)) {
        em_regex_free(re);
        EV_EXEC_FAIL(ev, "invalid destination label name in label_replace(): %s", dst);
    }
    em_matrix_t m;
    {
        /* The regex is heap memory: evaluate the argument first would leak it on error, so compile
         * again after (cheap) -- keep it simple: free, evaluate, recompile. */
        em_regex_free(re);
        m = ev_eval(ev, n->call.args[0]);
        if (em_regex_compile(re_s, strlen(re_s), &re, &err) != EM_OK)
            EV_EXEC_FAIL(ev, "invalid regular expression in label_replace(): %s", re_s);
    }
    em_buf_t b = EM_BUF_INIT;
    for (size_t i = 0; i < m.n; i++) {
        const char *sv = em_labels_get(&m.v[i].labels, src);
        if (!sv)
            sv = "";
        em_buf_reset(&b);
        if (!em_regex_replace(re, sv, strlen(sv), repl, strlen(repl), &b))
            continue;
        em_labels_builder_t lb;
        em_labels_builder_init(&lb, &m.v[i].labels);
        em_labels_builder_set(&lb, dst, em_arena_strndup(ev->a, b.data ? b.data : "", b.len));
        em_labels_t ls = em_labels_builder_labels(&lb);
        m.v[i].labels = em_labels_copy(&ls, ev->a);
        em_labels_builder_fini(&lb);
        if (strcmp(dst, EM_METRIC_NAME) == 0)
            m.v[i].drop_name = false;
    }
    em_buf_fini(&b);
    em_regex_free(re);
    return ev_merge_same_labels(ev, m);
}

static em_matrix_t label_join(ev_t *ev, const em_node_t *n)
{
    const char *dst = str_arg(n, 1), *sep = str_arg(n, 2);
    for (size_t i = 3; i < n->call.n_args; i++) {
        const char *s = str_arg(n, i);
        if (!ev_label_name_valid(s))
            EV_EXEC_FAIL(ev, "invalid source label name in label_join(): %s", s);
    }
    if (!ev_label_name_valid(dst))
        EV_EXEC_FAIL(ev, "invalid destination label name in label_join(): %s", dst);
    em_matrix_t m = ev_eval(ev, n->call.args[0]);
    em_buf_t b = EM_BUF_INIT;
    for (size_t i = 0; i < m.n; i++) {
        em_buf_reset(&b);
        for (size_t j = 3; j < n->call.n_args; j++) {
            if (j > 3)
                em_buf_puts(&b, sep);
            const char *v = em_labels_get(&m.v[i].labels, str_arg(n, j));
            em_buf_puts(&b, v ? v : "");
        }
        em_labels_builder_t lb;
        em_labels_builder_init(&lb, &m.v[i].labels);
        em_labels_builder_set(&lb, dst, em_arena_strndup(ev->a, b.data ? b.data : "", b.len));
        em_labels_t ls = em_labels_builder_labels(&lb);
        m.v[i].labels = em_labels_copy(&ls, ev->a);
        em_labels_builder_fini(&lb);
        if (strcmp(dst, EM_METRIC_NAME) == 0)
            m.v[i].drop_name = false;
    }
    em_buf_fini(&b);
    return ev_merge_same_labels(ev, m);
}

/* ---- step-wise functions ---- */

static em_matrix_t scalar_series(ev_t *ev, em_func_id_t id, const em_matrix_t *a0)
{
    em_matrix_t out = {0};
    em_series_t *s = em_matrix_push(ev->a, &out);
    size_t steps = ev_steps(ev);
    ev_gather_t g;
    em_vector_t vec = {0};
    if (a0)
        ev_gather_init(ev, &g, a0);
    for (size_t k = 0; k < steps; k++) {
        int64_t ts = ev->start + (int64_t)k * ev->interval;
        double v = NAN;
        switch (id) {
        case EM_FN_TIME:
            v = (double)ts / 1000;
            break;
        case EM_FN_PI:
            v = M_PI;
            break;
        case EM_FN_START:
            v = (double)ev->q_start / 1000;
            break;
        case EM_FN_END:
            v = (double)ev->q_end / 1000;
            break;
        case EM_FN_RANGE:
            v = (double)(ev->q_end - ev->q_start) / 1000;
            break;
        case EM_FN_STEP:
            v = (double)ev->q_step / 1000;
            break;
        case EM_FN_SCALAR:
            ev_gather_at(ev, &g, ts, &vec);
            v = vec.n == 1 ? vec.v[0].v : NAN;
            break;
        default:
            break;
        }
        em_series_push(ev->a, s, ts, v);
    }
    return out;
}

static em_matrix_t call_min_max_of(ev_t *ev, const em_node_t *n)
{
    em_matrix_t a = ev_eval(ev, n->call.args[0]), b = ev_eval(ev, n->call.args[1]);
    em_matrix_t out = {0};
    em_series_t *s = em_matrix_push(ev->a, &out);
    size_t steps = ev_steps(ev);
    for (size_t k = 0; k < steps; k++) {
        int64_t ts = ev->start + (int64_t)k * ev->interval;
        double x = ev_scalar_at(&a, k, ts), y = ev_scalar_at(&b, k, ts);
        double v = n->call.func->id == EM_FN_MIN_OF ? fmin(x, y) : fmax(x, y);
        if (isnan(x) || isnan(y))
            v = NAN;
        em_series_push(ev->a, s, ts, v);
    }
    return out;
}

static em_matrix_t call_vector(ev_t *ev, const em_node_t *n)
{
    em_matrix_t a = ev_eval(ev, n->call.args[0]);
    if (a.n)
        a.v[0].labels = (em_labels_t){0};
    return a;
}

static em_matrix_t call_date_now(ev_t *ev, const em_node_t *n)
{
    em_matrix_t out = {0};
    em_series_t *s = em_matrix_push(ev->a, &out);
    size_t steps = ev_steps(ev);
    for (size_t k = 0; k < steps; k++) {
        int64_t ts = ev->start + (int64_t)k * ev->interval;
        em_series_push(ev->a, s, ts, map1(n->call.func->id, (double)(ts / 1000), 0, 0));
    }
    return out;
}

static em_matrix_t call_absent(ev_t *ev, const em_node_t *n)
{
    em_matrix_t in = ev_eval(ev, n->call.args[0]);
    size_t steps = ev_steps(ev);
    uint8_t *found = em_arena_alloc(ev->a, steps);
    memset(found, 0, steps);
    for (size_t i = 0; i < in.n; i++)
        for (size_t j = 0; j < in.v[i].n; j++)
            found[(in.v[i].pts[j].t - ev->start) / ev->interval] = 1;
    em_matrix_t out = {0};
    em_series_t s = {.labels = absent_labels(ev, arg(n, 0))};
    for (size_t k = 0; k < steps; k++)
        if (!found[k])
            em_series_push(ev->a, &s, ev->start + (int64_t)k * ev->interval, 1);
    if (s.n)
        *em_matrix_push(ev->a, &out) = s;
    return out;
}

/* qsort has no context argument: the sort parameters are per thread (a query runs on one thread). */
static _Thread_local const char *sort_labels_ctx_names[16];
static _Thread_local size_t sort_labels_ctx_n;
static _Thread_local bool sort_desc_ctx;

static int cmp_sort_value(const void *a, const void *b)
{
    double x = ((const em_series_t *)a)->pts[0].v, y = ((const em_series_t *)b)->pts[0].v;
    /* ascending, NaN last (sort); descending, NaN last (sort_desc) */
    if (isnan(x) || isnan(y))
        return isnan(x) - isnan(y);
    if (sort_desc_ctx)
        return x > y ? -1 : x < y;
    return x < y ? -1 : x > y;
}

static int cmp_sort_label(const void *a, const void *b)
{
    const em_series_t *x = a, *y = b;
    for (size_t i = 0; i < sort_labels_ctx_n; i++) {
        const char *l1 = em_labels_get(&x->labels, sort_labels_ctx_names[i]);
        const char *l2 = em_labels_get(&y->labels, sort_labels_ctx_names[i]);
        l1 = l1 ? l1 : "";
        l2 = l2 ? l2 : "";
        if (strcmp(l1, l2) == 0)
            continue;
        bool less = em_fn_natsort_less(l1, l2);
        return (less ? -1 : 1) * (sort_desc_ctx ? -1 : 1);
    }
    int c = em_labels_cmp(&x->labels, &y->labels);
    return sort_desc_ctx ? -c : c;
}

static em_matrix_t call_sort(ev_t *ev, const em_node_t *n)
{
    em_func_id_t id = n->call.func->id;
    em_matrix_t m = ev_eval(ev, n->call.args[0]);
    if (ev->start != ev->end) {
        ev_warn(ev,
                "PromQL warning: sort is ineffective for range queries since results are always ordered by "
                "labels");
        return m;
    }
    if (id == EM_FN_SORT || id == EM_FN_SORT_DESC) {
        sort_desc_ctx = id == EM_FN_SORT_DESC;
        em_qsort(m.v, m.n, sizeof *m.v, cmp_sort_value);
    } else {
        sort_labels_ctx_n = 0;
        for (size_t i = 1; i < n->call.n_args && sort_labels_ctx_n < 16; i++)
            sort_labels_ctx_names[sort_labels_ctx_n++] = str_arg(n, i);
        sort_desc_ctx = id == EM_FN_SORT_BY_LABEL_DESC;
        em_qsort(m.v, m.n, sizeof *m.v, cmp_sort_label);
    }
    return m;
}

static void fmt_om_float(double q, char *out)
{
    /* labels.FormatOpenMetricsFloat */
    if (q == 1 || q == 0 || q == -1 || isnan(q) || isinf(q)) {
        snprintf(out, 32, "%s",
                 isnan(q)   ? "NaN"
                 : isinf(q) ? (q > 0 ? "+Inf" : "-Inf")
                 : q == 1   ? "1.0"
                 : q == 0   ? "0.0"
                            : "-1.0");
        return;
    }
    size_t n = em_fmt_float(q, 'g', out);
    if (!strpbrk(out, "e."))
        memcpy(out + n, ".0", 3);
}

static void warn_quantile(ev_t *ev, double q)
{
    if (isnan(q) || q < 0 || q > 1) {
        char b[EM_FLOAT_BUF];
        ev_warn(ev, "PromQL warning: quantile value should be between 0 and 1, got %s", gfmt(q, b));
    }
}

/* Classic-bucket histogram_quantile, histogram_quantiles and histogram_fraction (resetHistograms +
 * BucketQuantile / BucketFraction). Native histograms are not supported (no such samples exist). */
static em_matrix_t call_histogram(ev_t *ev, const em_node_t *n)
{
    em_func_id_t id = n->call.func->id;
    size_t vi = id == EM_FN_HISTOGRAM_QUANTILE ? 1 : id == EM_FN_HISTOGRAM_FRACTION ? 2 : 0;
    em_matrix_t sc[EM_FUNC_MAX_ARGS + 16];
    size_t n_sc = 0;
    size_t first_sc = id == EM_FN_HISTOGRAM_QUANTILES ? 2 : 0;
    size_t last_sc = id == EM_FN_HISTOGRAM_QUANTILES ? n->call.n_args : vi;
    if (last_sc - first_sc > sizeof sc / sizeof sc[0])
        EV_EXEC_FAIL(ev, "too many quantiles");
    for (size_t i = first_sc; i < last_sc; i++)
        sc[n_sc++] = ev_eval(ev, n->call.args[i]);
    const char *qlabel = id == EM_FN_HISTOGRAM_QUANTILES ? str_arg(n, 1) : NULL;
    em_matrix_t in = ev_eval(ev, n->call.args[vi]);
    /* Per input series: its le and its bucket group (labels without le). */
    double *le = em_arena_alloc(ev->a, (in.n ? in.n : 1) * sizeof *le);
    int32_t *grp = em_arena_alloc(ev->a, (in.n ? in.n : 1) * sizeof *grp);
    em_matrix_t groups = {0};
    for (size_t i = 0; i < in.n; i++) {
        const char *l = em_labels_get(&in.v[i].labels, "le");
        if (!em_fn_parse_le(l, &le[i])) {
            grp[i] = -1;
            continue;
        }
        em_labels_builder_t b;
        em_labels_builder_init(&b, &in.v[i].labels);
        em_labels_builder_del(&b, "le");
        em_labels_t ls = em_labels_builder_labels(&b);
        size_t g;
        for (g = 0; g < groups.n; g++)
            if (em_labels_equal(&groups.v[g].labels, &ls))
                break;
        if (g == groups.n)
            em_matrix_push(ev->a, &groups)->labels = em_labels_copy(&ls, ev->a);
        grp[i] = (int32_t)g;
        em_labels_builder_fini(&b);
    }
    size_t ng = groups.n ? groups.n : 1;
    em_bucket_t *buckets = em_arena_alloc(ev->a, (in.n ? in.n : 1) * sizeof *buckets);
    em_bucket_t *scratch = em_arena_alloc(ev->a, (in.n ? in.n : 1) * sizeof *scratch);
    size_t *nb = em_arena_alloc(ev->a, ng * sizeof *nb);
    size_t *gstart = em_arena_alloc(ev->a, ng * sizeof *gstart);
    size_t *gcount = em_arena_alloc(ev->a, ng * sizeof *gcount);
    memset(gcount, 0, ng * sizeof *gcount);
    for (size_t i = 0; i < in.n; i++)
        if (grp[i] >= 0)
            gcount[grp[i]]++;
    for (size_t g = 0, acc = 0; g < groups.n; g++) {
        gstart[g] = acc;
        acc += gcount[g];
    }
    ev_gather_t gt;
    ev_gather_init(ev, &gt, &in);
    em_vector_t vec = {0}, res = {0};
    ev_out_t out;
    ev_out_init(ev, &out);
    size_t steps = ev_steps(ev);
    double qs[EM_FUNC_MAX_ARGS + 16];
    for (size_t k = 0; k < steps; k++) {
        ev_check(ev);
        int64_t ts = ev->start + (int64_t)k * ev->interval;
        for (size_t i = 0; i < n_sc; i++)
            qs[i] = ev_scalar_at(&sc[i], k, ts);
        if (id != EM_FN_HISTOGRAM_FRACTION)
            for (size_t i = 0; i < n_sc; i++)
                warn_quantile(ev, qs[i]);
        ev_gather_at(ev, &gt, ts, &vec);
        memset(nb, 0, ng * sizeof *nb);
        for (size_t i = 0; i < vec.n; i++) {
            int32_t g = grp[vec.v[i].src];
            if (g < 0) {
                const char *l = em_labels_get(&vec.v[i].labels, "le");
                const char *name = em_labels_get(&vec.v[i].labels, EM_METRIC_NAME);
                if (name && *name)
                    ev_warn(ev,
                            "PromQL warning: bucket label \"le\" is missing or has a malformed value of "
                            "\"%s\" for "
                            "metric name \"%s\"",
                            l ? l : "", name);
                else
                    ev_warn(
                        ev,
                        "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"%s\"",
                        l ? l : "");
                continue;
            }
            buckets[gstart[g] + nb[g]++] = (em_bucket_t){le[vec.v[i].src], vec.v[i].v};
        }
        res.n = 0;
        size_t n_q = id == EM_FN_HISTOGRAM_QUANTILES ? n_sc : 1;
        for (size_t qi = 0; qi < n_q; qi++) {
            for (size_t g = 0; g < groups.n; g++) {
                if (!nb[g])
                    continue;
                /* the kernels sort and fix buckets in place: work on a copy */
                memcpy(scratch, buckets + gstart[g], nb[g] * sizeof *scratch);
                double v;
                if (id == EM_FN_HISTOGRAM_FRACTION) {
                    v = em_fn_bucket_fraction(qs[0], qs[1], scratch, nb[g]);
                } else {
                    bool forced;
                    double mn, mx, md, q = id == EM_FN_HISTOGRAM_QUANTILES ? qs[qi] : qs[0];
                    v = em_fn_bucket_quantile(q, scratch, nb[g], &forced, &mn, &mx, &md);
                    if (forced) {
                        const char *name = em_labels_get(&groups.v[g].labels, EM_METRIC_NAME);
                        if (name && *name)
                            ev_info(ev,
                                    "PromQL info: input to histogram_quantile needed to be fixed for "
                                    "monotonicity "
                                    "(see https://prometheus.io/docs/prometheus/latest/querying/functions/"
                                    "#histogram_quantile) for metric name \"%s\"",
                                    name);
                        else
                            ev_info(ev,
                                    "PromQL info: input to histogram_quantile needed to be fixed for "
                                    "monotonicity "
                                    "(see https://prometheus.io/docs/prometheus/latest/querying/functions/"
                                    "#histogram_quantile)");
                    }
                }
                em_sample_t *o = em_vector_push(ev->a, &res);
                o->labels = groups.v[g].labels;
                if (qlabel) {
                    char qs_str[EM_FLOAT_BUF + 4];
                    fmt_om_float(qs[qi], qs_str);
                    em_labels_builder_t b;
                    em_labels_builder_init(&b, &o->labels);
                    em_labels_builder_set(&b, qlabel, qs_str);
                    em_labels_t ls = em_labels_builder_labels(&b);
                    o->labels = em_labels_copy(&ls, ev->a);
                    em_labels_builder_fini(&b);
                }
                o->v = v;
                ev_mark_drop(ev, &o->labels, &o->drop_name);
            }
        }
        ev_out_vector(ev, &out, &res, ts);
    }
    return out.m;
}

static em_matrix_t call_native_only(ev_t *ev, const em_node_t *n)
{
    /* histogram_count/sum/avg/... read native histograms only; float samples give nothing. */
    for (size_t i = 0; i < n->call.n_args; i++)
        if (em_node_type(n->call.args[i]) != EM_VTYPE_STRING)
            (void)ev_eval(ev, n->call.args[i]);
    return (em_matrix_t){0};
}

em_matrix_t ev_call(ev_t *ev, const em_node_t *n)
{
    em_func_id_t id = n->call.func->id;
    for (size_t i = 0; i < n->call.n_args; i++) {
        const em_node_t *a = arg(n, i);
        if (a->kind == EM_NODE_MATRIX_SEL || a->kind == EM_NODE_SUBQUERY)
            return call_range(ev, n, i);
    }
    switch (id) {
    case EM_FN_LABEL_REPLACE:
        return label_replace(ev, n);
    case EM_FN_LABEL_JOIN:
        return label_join(ev, n);
    case EM_FN_START_TIMESTAMP:
        /* Prometheus: start timestamps come only from storage, with use-start-timestamps; otherwise,
         * and over any other expression, the result is empty. */
        if (arg(n, 0)->kind != EM_NODE_VECTOR_SEL || !ev->use_start_timestamps) {
            ev_eval(ev, n->call.args[0]);
            return (em_matrix_t){0};
        }
        /* fall through */
    case EM_FN_TIMESTAMP:
        if (arg(n, 0)->kind == EM_NODE_VECTOR_SEL) {
            em_matrix_t m = ev_vector_selector(
                ev, arg(n, 0), id == EM_FN_TIMESTAMP ? EV_VS_TIMESTAMP : EV_VS_START_TIMESTAMP);
            for (size_t i = 0; i < m.n; i++)
                ev_mark_drop(ev, &m.v[i].labels, &m.v[i].drop_name);
            if (!ev->delayed_name_removal)
                m = ev_merge_same_labels(ev, m);
            return m;
        }
        return call_map(ev, n);
    case EM_FN_TIME:
    case EM_FN_PI:
    case EM_FN_START:
    case EM_FN_END:
    case EM_FN_RANGE:
    case EM_FN_STEP:
        return scalar_series(ev, id, NULL);
    case EM_FN_SCALAR: {
        em_matrix_t a = ev_eval(ev, n->call.args[0]);
        return scalar_series(ev, id, &a);
    }
    case EM_FN_MIN_OF:
    case EM_FN_MAX_OF:
        return call_min_max_of(ev, n);
    case EM_FN_VECTOR:
        return call_vector(ev, n);
    case EM_FN_ABSENT:
        return call_absent(ev, n);
    case EM_FN_SORT:
    case EM_FN_SORT_DESC:
    case EM_FN_SORT_BY_LABEL:
    case EM_FN_SORT_BY_LABEL_DESC:
        return call_sort(ev, n);
    case EM_FN_HISTOGRAM_QUANTILE:
    case EM_FN_HISTOGRAM_QUANTILES:
    case EM_FN_HISTOGRAM_FRACTION:
        return call_histogram(ev, n);
    case EM_FN_DAY_OF_MONTH:
    case EM_FN_DAY_OF_WEEK:
    case EM_FN_DAY_OF_YEAR:
    case EM_FN_DAYS_IN_MONTH:
    case EM_FN_HOUR:
    case EM_FN_MINUTE:
    case EM_FN_MONTH:
    case EM_FN_YEAR:
        if (n->call.n_args == 0)
            return call_date_now(ev, n);
        return call_map(ev, n);
    case EM_FN_HISTOGRAM_AVG:
    case EM_FN_HISTOGRAM_COUNT:
    case EM_FN_HISTOGRAM_STDDEV:
    case EM_FN_HISTOGRAM_STDVAR:
    case EM_FN_HISTOGRAM_SUM:
        return call_native_only(ev, n);
    case EM_FN_INFO:
        return ev_call_info(ev, n);
    default:
        return call_map(ev, n);
    }
}
