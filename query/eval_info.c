/* Design: see eval.h. The experimental info() function (Prometheus's promql/info.go): enrich each
 * series with the data labels of the info series (target_info by default) that share its identifying
 * labels (instance, job). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/hash.h"
#include "query/eval_int.h"

static const char *const id_labels[] = {"instance", "job"};

/* The @ and offset that apply to the first vector selector of the argument (infoSelectTimestampAndOffset). */
static bool find_first_selector(const em_node_t *n, const em_node_t **sqs, size_t n_sqs,
                                const em_node_t **vs_out, const em_node_t **sq_path, size_t *n_path)
{
    if (!n)
        return false;
    switch (n->kind) {
    case EM_NODE_VECTOR_SEL:
        *vs_out = n;
        for (size_t i = 0; i < n_sqs; i++)
            sq_path[i] = sqs[i];
        *n_path = n_sqs;
        return true;
    case EM_NODE_MATRIX_SEL:
        return find_first_selector(n->ms.vs, sqs, n_sqs, vs_out, sq_path, n_path);
    case EM_NODE_SUBQUERY: {
        const em_node_t *more[32];
        size_t k = n_sqs < 31 ? n_sqs : 31;
        for (size_t i = 0; i < k; i++)
            more[i] = sqs[i];
        more[k] = n;
        return find_first_selector(n->sq.expr, more, k + 1, vs_out, sq_path, n_path);
    }
    case EM_NODE_CALL:
        for (size_t i = 0; i < n->call.n_args; i++)
            if (find_first_selector(n->call.args[i], sqs, n_sqs, vs_out, sq_path, n_path))
                return true;
        return false;
    case EM_NODE_AGGREGATE:
        return find_first_selector(n->agg.param, sqs, n_sqs, vs_out, sq_path, n_path) ||
               find_first_selector(n->agg.expr, sqs, n_sqs, vs_out, sq_path, n_path);
    case EM_NODE_BINARY:
        return find_first_selector(n->bin.lhs, sqs, n_sqs, vs_out, sq_path, n_path) ||
               find_first_selector(n->bin.rhs, sqs, n_sqs, vs_out, sq_path, n_path);
    case EM_NODE_UNARY:
        return find_first_selector(n->unary.expr, sqs, n_sqs, vs_out, sq_path, n_path);
    case EM_NODE_PAREN:
    case EM_NODE_STEP_INVARIANT:
        return find_first_selector(n->paren.expr, sqs, n_sqs, vs_out, sq_path, n_path);
    default:
        return false;
    }
}

static em_matcher_t *new_matcher(ev_t *ev, em_match_type_t t, const char *name, const char *value)
{
    em_matcher_t *m = em_arena_alloc(ev->a, sizeof *m);
    em_err_t err;
    if (em_matcher_init(m, t, name, value, &err) != EM_OK)
        EV_EXEC_FAIL(ev, "info: %s", err.msg);
    em_ast_own_matcher((em_ast_t *)ev->ast, ev->a, m);
    return m;
}

static bool name_matches_all(const em_matcher_t *const *ms, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!em_matcher_matches(ms[i], name, strlen(name)))
            return false;
    return true;
}

/* effectiveInfoNameMatchers */
static size_t effective_name_matchers(ev_t *ev, const em_matcher_t **in, size_t n, const em_matcher_t **out)
{
    for (size_t i = 0; i < n; i++) {
        if (in[i]->type == EM_MATCH_EQ || in[i]->type == EM_MATCH_RE) {
            memcpy(out, in, n * sizeof *in);
            return n;
        }
    }
    if (n > 0) {
        out[0] = new_matcher(ev, EM_MATCH_RE, EM_METRIC_NAME, ".+_info");
        memcpy(out + 1, in, n * sizeof *in);
        return n + 1;
    }
    out[0] = new_matcher(ev, EM_MATCH_EQ, EM_METRIC_NAME, "target_info");
    return 1;
}

static uint64_t info_sig(const char *name, const em_labels_t *ls)
{
    em_buf_t b = EM_BUF_INIT;
    em_buf_puts(&b, name);
    em_buf_putc(&b, (char)0xff);
    for (size_t i = 0; i < 2; i++) {
        const char *v = em_labels_get(ls, id_labels[i]);
        if (v && *v) {
            em_buf_puts(&b, id_labels[i]);
            em_buf_putc(&b, (char)0xff);
            em_buf_puts(&b, v);
            em_buf_putc(&b, (char)0xff);
        }
    }
    uint64_t h = em_hash64(b.data, b.len);
    em_buf_fini(&b);
    return h;
}

static void quote_meta(em_buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (strchr("\\.+*?()|[]{}^$", *s))
            em_buf_putc(b, '\\');
        em_buf_putc(b, *s);
    }
}

typedef struct data_matchers {
    const em_matcher_t **v; /* data label matchers without __name__ ones (after fetch) */
    size_t n;
} data_matchers_t;

static bool data_has(const data_matchers_t *d, const char *name)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->v[i]->name, name) == 0)
            return true;
    return false;
}

em_matrix_t ev_call_info(ev_t *ev, const em_node_t *n)
{
    const em_node_t *a0 = n->call.args[0];
    const em_node_t *first = NULL, *path[32];
    size_t n_path = 0;
    int64_t off = 0;
    bool has_at = false;
    int64_t at = 0;
    if (find_first_selector(a0, NULL, 0, &first, path, &n_path)) {
        off = ev_duration(ev, first->vs.offset_ms, first->vs.offset_expr);
        at = ev_at_time(ev, &first->vs.at, &has_at);
        for (size_t i = n_path; !has_at && i-- > 0;) {
            off += ev_duration(ev, path[i]->sq.offset_ms, path[i]->sq.offset_expr);
            at = ev_at_time(ev, &path[i]->sq.at, &has_at);
        }
    }
    em_matrix_t base = ev_eval(ev, a0);

    /* Data label matchers (the second argument), and the info metric name matchers among them. */
    const em_vector_sel_t *sel = n->call.n_args > 1 ? &em_node_unwrap(n->call.args[1])->vs : NULL;
    size_t n_sel = sel ? sel->n_matchers : 0;
    const em_matcher_t **all = em_arena_alloc(ev->a, (n_sel + 1) * sizeof *all);
    const em_matcher_t **names = em_arena_alloc(ev->a, (n_sel + 1) * sizeof *names);
    size_t n_names = 0;
    for (size_t i = 0; i < n_sel; i++) {
        all[i] = sel->matchers[i];
        if (strcmp(all[i]->name, EM_METRIC_NAME) == 0)
            names[n_names++] = all[i];
    }
    if (!sel)
        names[n_names++] = new_matcher(ev, EM_MATCH_EQ, EM_METRIC_NAME, "target_info");
    const em_matcher_t **eff = em_arena_alloc(ev->a, (n_names + 2) * sizeof *eff);
    size_t n_eff = effective_name_matchers(ev, names, n_names, eff);

    bool *ignore = em_arena_alloc(ev->a, (base.n ? base.n : 1) * sizeof *ignore);
    for (size_t i = 0; i < base.n; i++) {
        const char *nm = em_labels_get(&base.v[i].labels, EM_METRIC_NAME);
        ignore[i] = name_matches_all(eff, n_eff, nm ? nm : "");
    }

    /* Data matchers without the name ones: what the join keeps. */
    data_matchers_t data = {em_arena_alloc(ev->a, (n_sel + 1) * sizeof *data.v), 0};
    for (size_t i = 0; i < n_sel; i++)
        if (strcmp(all[i]->name, EM_METRIC_NAME) != 0)
            data.v[data.n++] = all[i];

    /* Identifying label values of the base series: the info series to fetch. */
    em_matrix_t info = {0};
    {
        em_buf_t re[2] = {EM_BUF_INIT, EM_BUF_INIT};
        const char **seen[2];
        size_t n_seen[2] = {0, 0};
        seen[0] = em_arena_alloc(ev->a, (base.n + 1) * sizeof(char *));
        seen[1] = em_arena_alloc(ev->a, (base.n + 1) * sizeof(char *));
        for (size_t i = 0; i < base.n; i++) {
            if (ignore[i])
                continue;
            for (size_t l = 0; l < 2; l++) {
                const char *v = em_labels_get(&base.v[i].labels, id_labels[l]);
                if (!v || !*v)
                    continue;
                bool dup = false;
                for (size_t k = 0; k < n_seen[l] && !dup; k++)
                    dup = strcmp(seen[l][k], v) == 0;
                if (dup)
                    continue;
                seen[l][n_seen[l]++] = v;
                if (re[l].len)
                    em_buf_putc(&re[l], '|');
                quote_meta(&re[l], v);
            }
        }
        if (n_seen[0] + n_seen[1] > 0) {
            em_matcher_t **ms = em_arena_alloc(ev->a, (n_sel + 4) * sizeof *ms);
            size_t nm = 0;
            for (size_t l = 0; l < 2; l++) {
                if (n_seen[l]) {
                    char *pat = em_arena_strndup(ev->a, re[l].data, re[l].len);
                    em_buf_fini(&re[l]);
                    ms[nm++] = new_matcher(ev, EM_MATCH_RE, id_labels[l], pat);
                }
            }
            for (size_t i = 0; i < data.n; i++)
                ms[nm++] = (em_matcher_t *)data.v[i];
            const em_matcher_t **eff2 = em_arena_alloc(ev->a, (n_names + 2) * sizeof *eff2);
            size_t n_eff2 = effective_name_matchers(ev, names, sel ? n_names : 0, eff2);
            for (size_t i = 0; i < n_eff2; i++)
                ms[nm++] = (em_matcher_t *)eff2[i];
            em_node_t tmp = {.kind = EM_NODE_VECTOR_SEL};
            tmp.vs.matchers = ms;
            tmp.vs.n_matchers = nm;
            tmp.vs.offset_ms = off;
            if (has_at)
                tmp.vs.at = (em_at_t){EM_AT_TIME, at};
            /* Values are the samples' own timestamps (recordOrigT), to pick the newest info sample. */
            info = ev_vector_selector(ev, &tmp, EV_VS_TIMESTAMP);
        }
        em_buf_fini(&re[0]);
        em_buf_fini(&re[1]);
    }

    /* Signatures: per info series its own; per base series one per info metric name. */
    const char **info_names = em_arena_alloc(ev->a, (info.n + 1) * sizeof *info_names);
    size_t n_info_names = 0;
    uint64_t *isig = em_arena_alloc(ev->a, (info.n + 1) * sizeof *isig);
    for (size_t i = 0; i < info.n; i++) {
        const char *nm = em_labels_get(&info.v[i].labels, EM_METRIC_NAME);
        nm = nm ? nm : "";
        bool dup = false;
        for (size_t k = 0; k < n_info_names && !dup; k++)
            dup = strcmp(info_names[k], nm) == 0;
        if (!dup)
            info_names[n_info_names++] = nm;
        isig[i] = info_sig(nm, &info.v[i].labels);
    }
    uint64_t *bsig = em_arena_alloc(ev->a, (base.n * n_info_names + 1) * sizeof *bsig);
    for (size_t i = 0; i < base.n; i++)
        for (size_t k = 0; k < n_info_names; k++)
            bsig[i * n_info_names + k] = info_sig(info_names[k], &base.v[i].labels);

    bool all_match_empty = true;
    for (size_t i = 0; i < data.n; i++)
        if (!em_matcher_matches_empty(data.v[i]))
            all_match_empty = false;

    ev_gather_t gb, gi;
    ev_gather_init(ev, &gb, &base);
    ev_gather_init(ev, &gi, &info);
    em_vector_t vb = {0}, vi = {0}, res = {0};
    ev_out_t out;
    ev_out_init(ev, &out);
    int32_t *pick = em_arena_alloc(ev->a, (info.n + 1) * sizeof *pick);
    size_t steps = ev_steps(ev);
    for (size_t s = 0; s < steps; s++) {
        ev_check(ev);
        int64_t ts = ev->start + (int64_t)s * ev->interval;
        ev_gather_at(ev, &gb, ts, &vb);
        ev_gather_at(ev, &gi, ts, &vi);
        res.n = 0;
        if (vb.n == 0)
            continue;
        /* Per signature, the info sample with the newest original timestamp. */
        size_t n_pick = 0;
        for (size_t i = 0; i < vi.n; i++) {
            uint64_t sig = isig[vi.v[i].src];
            int64_t t = (int64_t)llround(vi.v[i].v * 1000);
            size_t k;
            for (k = 0; k < n_pick; k++)
                if (isig[vi.v[pick[k]].src] == sig)
                    break;
            if (k == n_pick) {
                pick[n_pick++] = (int32_t)i;
                continue;
            }
            int64_t et = (int64_t)llround(vi.v[pick[k]].v * 1000);
            if (et < t) {
                pick[k] = (int32_t)i;
            } else if (et == t) {
                em_buf_t b1 = EM_BUF_INIT, b2 = EM_BUF_INIT;
                em_labels_format(&vi.v[pick[k]].labels, &b1);
                em_labels_format(&vi.v[i].labels, &b2);
                char m1[512], m2[512];
                snprintf(m1, sizeof m1, "%s", b1.data ? b1.data : "{}");
                snprintf(m2, sizeof m2, "%s", b2.data ? b2.data : "{}");
                em_buf_fini(&b1);
                em_buf_fini(&b2);
                EV_EXEC_FAIL(ev, "found duplicate series for info metric: existing %s @ %lld, new %s @ %lld",
                             m1, (long long)et, m2, (long long)t);
            }
        }
        for (size_t i = 0; i < vb.n; i++) {
            const em_sample_t *bs = &vb.v[i];
            if (ignore[bs->src]) {
                *em_vector_push(ev->a, &res) = *bs;
                continue;
            }
            em_labels_builder_t lb;
            em_labels_builder_init(&lb, NULL);
            size_t seen = 0;
            const char *conflict = NULL;
            for (size_t k = 0; k < n_info_names && !conflict; k++) {
                uint64_t sig = bsig[bs->src * n_info_names + k];
                const em_sample_t *is = NULL;
                for (size_t p = 0; p < n_pick; p++)
                    if (isig[vi.v[pick[p]].src] == sig)
                        is = &vi.v[pick[p]];
                if (!is)
                    continue;
                for (size_t l = 0; l < is->labels.n; l++) {
                    const em_label_t *lab = &is->labels.v[l];
                    if (strcmp(lab->name, EM_METRIC_NAME) == 0)
                        continue;
                    if (data.n > 0 && !data_has(&data, lab->name))
                        continue;
                    const char *have = em_labels_builder_get(&lb, lab->name);
                    if (have && *have && strcmp(have, lab->value) != 0) {
                        conflict = lab->name;
                        break;
                    }
                    if (em_labels_get(&bs->labels, lab->name))
                        continue;
                    em_labels_builder_set(&lb, lab->name, lab->value);
                }
                seen++;
            }
            if (conflict) {
                em_labels_builder_fini(&lb);
                EV_EXEC_FAIL(ev, "conflicting label: %s", conflict);
            }
            if (seen == 0 && !all_match_empty) {
                em_labels_builder_fini(&lb);
                continue;
            }
            em_labels_t add = em_labels_builder_labels(&lb);
            em_labels_builder_t ob;
            em_labels_builder_init(&ob, &bs->labels);
            for (size_t l = 0; l < add.n; l++)
                em_labels_builder_set(&ob, add.v[l].name, add.v[l].value);
            em_labels_t ol = em_labels_builder_labels(&ob);
            em_sample_t *o = em_vector_push(ev->a, &res);
            *o = *bs;
            o->labels = em_labels_copy(&ol, ev->a);
            em_labels_builder_fini(&ob);
            em_labels_builder_fini(&lb);
        }
        ev_out_vector(ev, &out, &res, ts);
    }
    return out.m;
}
