#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <urcu/urcu-memb.h>

#include "engine/memindex.h"

/* ---- helpers ---- */

/* A series for tests: labels parsed from "name=value,name=value" (names given sorted). */
typedef struct tseries {
    uint32_t ref;
    em_label_t l[8];
    em_labels_t ls;
    char buf[256];
    bool alive;
} tseries_t;

static void tseries_set(tseries_t *s, uint32_t ref, const char *spec)
{
    memset(s, 0, sizeof(*s));
    s->ref = ref;
    s->alive = true;
    snprintf(s->buf, sizeof(s->buf), "%s", spec);
    size_t n = 0;
    char *p = s->buf;
    while (*p && n < 8) {
        char *eq = strchr(p, '=');
        cr_assert_not_null(eq, "bad spec %s", spec);
        *eq = '\0';
        char *comma = strchr(eq + 1, ',');
        if (comma)
            *comma = '\0';
        s->l[n++] = (em_label_t){p, eq + 1};
        p = comma ? comma + 1 : eq + 1 + strlen(eq + 1);
    }
    em_labels_sort(s->l, n);
    s->ls = (em_labels_t){s->l, n};
}

static void mk(em_matcher_t *m, const char *name, em_match_type_t t, const char *v)
{
    em_err_t err;
    cr_assert_eq(em_matcher_init(m, t, name, v, &err), EM_OK, "%s", err.msg);
}

static bool series_matches(const tseries_t *s, const em_matcher_t *const *ms, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = em_labels_get(&s->ls, ms[i]->name);
        if (!v)
            v = "";
        if (!em_matcher_matches_slow(ms[i], v, strlen(v)))
            return false;
    }
    return true;
}

static void fmt_matchers(const em_matcher_t *const *ms, size_t n, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%s%s\"%s\"", i ? "," : "{", ms[i]->name,
                                em_match_type_str(ms[i]->type), ms[i]->value);
    if (len < cap)
        snprintf(out + len, cap - len, "}");
}

/* select() must equal brute force over the live series. */
static void check_select(em_memindex_t *ix, const tseries_t *all, size_t n_all, const em_matcher_t *const *ms,
                         size_t n, const char *ctx)
{
    em_postings_t got;
    em_postings_init(&got);
    urcu_memb_read_lock();
    cr_assert_eq(em_memindex_select(ix, ms, n, &got), EM_OK);
    urcu_memb_read_unlock();
    char desc[512];
    fmt_matchers(ms, n, desc, sizeof(desc));
    size_t k = 0;
    for (size_t i = 0; i < n_all; i++) {
        if (!all[i].alive || !series_matches(&all[i], ms, n))
            continue;
        cr_assert_lt(k, got.n, "%s %s: missing ref %u", ctx, desc, all[i].ref);
        cr_assert_eq(got.v[k], all[i].ref, "%s %s: position %zu is %u, want %u", ctx, desc, k, got.v[k],
                     all[i].ref);
        k++;
    }
    cr_assert_eq(k, got.n, "%s %s: %zu extra refs", ctx, desc, got.n - k);
    em_postings_fini(&got);
}

static void select_refs(em_memindex_t *ix, const em_matcher_t *const *ms, size_t n, em_postings_t *out)
{
    urcu_memb_read_lock();
    em_memindex_select(ix, ms, n, out);
    urcu_memb_read_unlock();
}

static void setup(void)
{
    urcu_memb_register_thread();
}

static void teardown(void)
{
    urcu_memb_unregister_thread();
}

TestSuite(engine_memindex, .init = setup, .fini = teardown);

static const char *const base_series[] = {
    "__name__=up,job=node,instance=a",
    "__name__=up,job=api,instance=b",
    "__name__=up,instance=c",
    "__name__=cpu,job=node,instance=a,mode=idle",
    "__name__=cpu,job=node,instance=a,mode=user",
    "__name__=cpu,job=node.x,instance=b,mode=system",
    "__name__=weird,job=h\xc3\xa9llo,path=a\nb,instance=d",
};
#define N_BASE (sizeof(base_series) / sizeof(base_series[0]))

static em_memindex_t *load_base(tseries_t *ts)
{
    em_memindex_t *ix = em_memindex_new();
    for (size_t i = 0; i < N_BASE; i++) {
        tseries_set(&ts[i], (uint32_t)(10 + 3 * i), base_series[i]);
        em_memindex_add(ix, ts[i].ref, &ts[i].ls, NULL);
    }
    return ix;
}

Test(engine_memindex, select_with_every_matcher_kind_equals_brute_force)
{
    tseries_t ts[N_BASE];
    em_memindex_t *ix = load_base(ts);
    static const struct {
        const char *name;
        em_match_type_t t;
        const char *v;
    } specs[] = {
        {"job", EM_MATCH_EQ, "node"},     {"job", EM_MATCH_NEQ, "node"},
        {"job", EM_MATCH_RE, "node|api"}, {"job", EM_MATCH_NRE, "node|api"},
        {"job", EM_MATCH_RE, "n.*"},      {"job", EM_MATCH_RE, ".*e"},
        {"job", EM_MATCH_RE, ".*od.*"},   {"job", EM_MATCH_RE, ".*"},
        {"job", EM_MATCH_RE, ".+"},       {"job", EM_MATCH_NRE, ".+"},
        {"job", EM_MATCH_EQ, ""},         {"job", EM_MATCH_NEQ, ""},
        {"job", EM_MATCH_RE, ""},         {"job", EM_MATCH_RE, "node|"},
        {"job", EM_MATCH_RE, "(?i)NODE"}, {"job", EM_MATCH_RE, "node\\.x"},
        {"job", EM_MATCH_RE, "no.e"},     {"job", EM_MATCH_NRE, "n.*"},
        {"job", EM_MATCH_NRE, ""},        {"job", EM_MATCH_NRE, ".*"},
        {"mode", EM_MATCH_NEQ, "idle"},   {"nolabel", EM_MATCH_EQ, ""},
        {"nolabel", EM_MATCH_NEQ, ""},    {"nolabel", EM_MATCH_RE, ".+"},
        {"nolabel", EM_MATCH_RE, "x|"},   {"nolabel", EM_MATCH_EQ, "x"},
        {"instance", EM_MATCH_RE, "a|c"}, {"__name__", EM_MATCH_EQ, "cpu"},
        {"job", EM_MATCH_RE, "h.llo"},    {"path", EM_MATCH_RE, "a.b"},
        {"job", EM_MATCH_EQ, "nope"},     {"job", EM_MATCH_RE, "nope|api"},
        {"job", EM_MATCH_NRE, "nope"},    {"instance", EM_MATCH_NRE, "a|b|c"},
        {"job", EM_MATCH_RE, "[a-n]+"},
    };
    size_t ns = sizeof(specs) / sizeof(specs[0]);
    em_matcher_t *ms = calloc(ns, sizeof(*ms));
    for (size_t i = 0; i < ns; i++)
        mk(&ms[i], specs[i].name, specs[i].t, specs[i].v);
    /* every single matcher, and every pair */
    for (size_t i = 0; i < ns; i++) {
        const em_matcher_t *one[1] = {&ms[i]};
        check_select(ix, ts, N_BASE, one, 1, "single");
        for (size_t j = 0; j < ns; j++) {
            const em_matcher_t *two[2] = {&ms[i], &ms[j]};
            check_select(ix, ts, N_BASE, two, 2, "pair");
        }
    }
    check_select(ix, ts, N_BASE, NULL, 0, "no matchers");
    for (size_t i = 0; i < ns; i++)
        em_matcher_fini(&ms[i]);
    free(ms);
    em_memindex_free(ix);
}

Test(engine_memindex, prometheus_examples_by_hand)
{
    tseries_t ts[N_BASE];
    em_memindex_t *ix = load_base(ts);
    em_matcher_t a, b;
    em_postings_t got;
    em_postings_init(&got);

    mk(&a, "__name__", EM_MATCH_EQ, "cpu");
    mk(&b, "mode", EM_MATCH_NEQ, "idle");
    const em_matcher_t *q1[] = {&a, &b};
    select_refs(ix, q1, 2, &got);
    cr_assert(got.n == 2 && got.v[0] == 22 && got.v[1] == 25, "cpu without idle");
    em_matcher_fini(&a);
    em_matcher_fini(&b);

    mk(&a, "job", EM_MATCH_EQ, ""); /* all series minus those with a job label */
    const em_matcher_t *q2[] = {&a};
    select_refs(ix, q2, 1, &got);
    cr_assert(got.n == 1 && got.v[0] == 16, "job=\"\" is the series without job");
    em_matcher_fini(&a);

    mk(&a, "job", EM_MATCH_NEQ, "node"); /* includes the series without job */
    const em_matcher_t *q3[] = {&a};
    select_refs(ix, q3, 1, &got);
    cr_assert(got.n == 4 && got.v[0] == 13 && got.v[1] == 16 && got.v[2] == 25 && got.v[3] == 28);
    em_matcher_fini(&a);

    em_postings_fini(&got);
    em_memindex_free(ix);
}

static void strlist_expect(const em_strlist_t *l, const char *const *want, size_t n, const char *what)
{
    cr_assert_eq(l->n, n, "%s: %zu strings, want %zu", what, l->n, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(l->v[i], want[i], "%s[%zu]", what, i);
}

Test(engine_memindex, label_names_and_values_restricted_and_not)
{
    tseries_t ts[N_BASE];
    em_memindex_t *ix = load_base(ts);
    em_arena_t a;
    em_arena_init(&a);
    em_strlist_t l;
    em_strlist_init(&l);

    urcu_memb_read_lock();
    em_memindex_label_names(ix, NULL, &a, &l);
    const char *names[] = {"__name__", "instance", "job", "mode", "path"};
    strlist_expect(&l, names, 5, "names");

    l.n = 0;
    em_memindex_label_values(ix, "job", NULL, &a, &l);
    const char *jobs[] = {"api", "h\xc3\xa9llo", "node", "node.x"};
    strlist_expect(&l, jobs, 4, "job values");

    l.n = 0;
    em_memindex_label_values(ix, "nolabel", NULL, &a, &l);
    cr_assert_eq(l.n, 0);

    /* restricted to the 'up' series: refs 10, 13, 16 */
    em_postings_t r;
    em_postings_init(&r);
    em_postings_push(&r, 10);
    em_postings_push(&r, 13);
    em_postings_push(&r, 16);
    l.n = 0;
    em_memindex_label_names(ix, &r, &a, &l);
    const char *up_names[] = {"__name__", "instance", "job"};
    strlist_expect(&l, up_names, 3, "restricted names");
    l.n = 0;
    em_memindex_label_values(ix, "job", &r, &a, &l);
    const char *up_jobs[] = {"api", "node"};
    strlist_expect(&l, up_jobs, 2, "restricted job values");
    l.n = 0;
    em_memindex_label_values(ix, "mode", &r, &a, &l);
    cr_assert_eq(l.n, 0, "no 'up' series has a mode");

    /* values merge with what the list already holds */
    l.n = 0;
    em_strlist_add(&l, "zzz");
    em_strlist_add(&l, "node");
    em_memindex_label_values(ix, "job", &r, &a, &l);
    const char *merged[] = {"api", "node", "zzz"};
    strlist_expect(&l, merged, 3, "merged");

    /* an empty restriction selects nothing */
    r.n = 0;
    l.n = 0;
    em_memindex_label_names(ix, &r, &a, &l);
    cr_assert_eq(l.n, 0);
    urcu_memb_read_unlock();

    em_postings_fini(&r);
    em_strlist_fini(&l);
    em_arena_fini(&a);
    em_memindex_free(ix);
}

Test(engine_memindex, interned_strings_are_shared_and_survive_until_removal)
{
    em_memindex_t *ix = em_memindex_new();
    tseries_t s1, s2, s3;
    tseries_set(&s1, 1, "__name__=up,job=node");
    tseries_set(&s2, 2, "__name__=up,job=api,other=node");
    tseries_set(&s3, 3, "__name__=node");
    const char *i1[4], *i2[6], *i3[2];
    em_memindex_add(ix, 1, &s1.ls, i1);
    em_memindex_add(ix, 2, &s2.ls, i2);
    em_memindex_add(ix, 3, &s3.ls, i3);

    cr_assert_str_eq(i1[0], "__name__");
    cr_assert_str_eq(i1[3], "node");
    cr_assert_neq(i1[3], s1.l[1].value, "the index keeps its own copy");
    cr_assert_eq(i1[0], i2[0], "same name, same pointer");
    cr_assert_eq(i1[1], i2[1], "same value, same pointer");
    cr_assert_eq(i1[2], i2[2], "label name 'job'");
    cr_assert_eq(i1[3], i2[5], "value 'node' under 'job' and under 'other' is one string");
    cr_assert_eq(i1[3], i3[1], "and as a metric name");

    /* remove s1: 'node' is still used by s2 and s3, so the pointer stays valid and shared */
    const em_labels_t *rm1[] = {&s1.ls};
    uint32_t r1 = 1;
    em_memindex_remove(ix, &r1, 1, rm1);
    cr_assert_str_eq(i2[5], "node");
    tseries_t s4;
    tseries_set(&s4, 4, "job=node");
    const char *i4[2];
    em_memindex_add(ix, 4, &s4.ls, i4);
    cr_assert_eq(i4[1], i2[5]);
    cr_assert_eq(i4[0], i2[2]);

    em_memindex_free(ix);
}

Test(engine_memindex, removal_drops_empty_values_and_names)
{
    tseries_t ts[N_BASE];
    em_memindex_t *ix = load_base(ts);
    em_arena_t a;
    em_arena_init(&a);
    em_strlist_t l;
    em_strlist_init(&l);
    cr_assert_eq(em_memindex_series(ix), N_BASE);

    /* remove the idle series (ref 19) and the weird one (ref 28, the only one with 'path') */
    uint32_t refs[] = {28, 19};
    const em_labels_t *labels[] = {&ts[6].ls, &ts[3].ls};
    em_memindex_remove(ix, refs, 2, labels);
    ts[3].alive = ts[6].alive = false;
    cr_assert_eq(em_memindex_series(ix), N_BASE - 2);

    urcu_memb_read_lock();
    em_memindex_label_values(ix, "mode", NULL, &a, &l);
    const char *modes[] = {"system", "user"};
    strlist_expect(&l, modes, 2, "modes after removal");
    l.n = 0;
    em_memindex_label_names(ix, NULL, &a, &l);
    const char *names[] = {"__name__", "instance", "job", "mode"};
    strlist_expect(&l, names, 4, "'path' is gone");
    l.n = 0;
    em_memindex_label_values(ix, "__name__", NULL, &a, &l);
    const char *metrics[] = {"cpu", "up"};
    strlist_expect(&l, metrics, 2, "'weird' is gone");
    urcu_memb_read_unlock();

    em_matcher_t m;
    mk(&m, "mode", EM_MATCH_EQ, "idle");
    const em_matcher_t *q[] = {&m};
    check_select(ix, ts, N_BASE, q, 1, "after removal");
    em_matcher_fini(&m);
    mk(&m, "job", EM_MATCH_NEQ, "node");
    check_select(ix, ts, N_BASE, q, 1, "after removal");
    em_matcher_fini(&m);
    check_select(ix, ts, N_BASE, NULL, 0, "after removal");

    /* removing unknown refs and labels is harmless */
    tseries_t ghost;
    tseries_set(&ghost, 999, "__name__=ghost,job=node");
    const em_labels_t *gl[] = {&ghost.ls};
    uint32_t gr = 999;
    em_memindex_remove(ix, &gr, 1, gl);
    cr_assert_eq(em_memindex_series(ix), N_BASE - 2);

    /* remove everything: no names left */
    uint32_t rest[N_BASE];
    const em_labels_t *rest_l[N_BASE];
    size_t k = 0;
    for (size_t i = 0; i < N_BASE; i++)
        if (ts[i].alive) {
            rest[k] = ts[i].ref;
            rest_l[k++] = &ts[i].ls;
        }
    em_memindex_remove(ix, rest, k, rest_l);
    cr_assert_eq(em_memindex_series(ix), 0);
    urcu_memb_read_lock();
    l.n = 0;
    em_memindex_label_names(ix, NULL, &a, &l);
    cr_assert_eq(l.n, 0);
    urcu_memb_read_unlock();

    /* and the index is usable again */
    tseries_t again;
    tseries_set(&again, 1000, "__name__=up");
    em_memindex_add(ix, 1000, &again.ls, NULL);
    cr_assert_eq(em_memindex_series(ix), 1);

    em_strlist_fini(&l);
    em_arena_fini(&a);
    em_memindex_free(ix);
}

Test(engine_memindex, memory_accounting_follows_adds_and_removals)
{
    em_memindex_t *ix = em_memindex_new();
    size_t empty = em_memindex_bytes(ix);
    cr_assert_gt(empty, 0);
    enum { N = 20000 };
    tseries_t *ts = malloc(N * sizeof(*ts));
    for (uint32_t i = 0; i < N; i++) {
        char spec[128];
        snprintf(spec, sizeof(spec), "__name__=m%u,job=node,instance=host%u:9100,series=%u", i % 50, i % 200,
                 i);
        tseries_set(&ts[i], i + 1, spec);
        em_memindex_add(ix, i + 1, &ts[i].ls, NULL);
    }
    size_t full = em_memindex_bytes(ix);
    double per_series = (double)(full - empty) / N;
    /* one unique value per series ('series') dominates: entry, string, list, hash node */
    cr_assert(per_series > 40 && per_series < 400, "%.1f bytes per series", per_series);

    /* remove half: the unique values go, shared lists shrink */
    uint32_t *refs = malloc(N / 2 * sizeof(uint32_t));
    const em_labels_t **ls = malloc(N / 2 * sizeof(*ls));
    for (uint32_t i = 0; i < N / 2; i++) {
        refs[i] = 2 * i + 1;
        ls[i] = &ts[2 * i].ls;
    }
    em_memindex_remove(ix, refs, N / 2, ls);
    size_t half = em_memindex_bytes(ix);
    cr_assert_lt(half, full - (full - empty) / 3, "bytes %zu -> %zu after removing half", full, half);

    /* remove the rest: back near the empty size */
    for (uint32_t i = 0; i < N / 2; i++) {
        refs[i] = 2 * i + 2;
        ls[i] = &ts[2 * i + 1].ls;
    }
    em_memindex_remove(ix, refs, N / 2, ls);
    size_t after = em_memindex_bytes(ix);
    cr_assert_lt(after, empty + 4096, "bytes %zu after removing all (empty %zu)", after, empty);
    cr_assert_eq(em_memindex_series(ix), 0);

    free(refs);
    free(ls);
    free(ts);
    em_memindex_free(ix);
}

Test(engine_memindex, long_lists_grow_and_stay_sorted)
{
    em_memindex_t *ix = em_memindex_new();
    tseries_t s;
    tseries_set(&s, 0, "__name__=up,job=node");
    for (uint32_t r = 5; r < 50000; r += 2)
        em_memindex_add(ix, r, &s.ls, NULL);
    em_matcher_t m;
    mk(&m, "job", EM_MATCH_EQ, "node");
    const em_matcher_t *q[] = {&m};
    em_postings_t got;
    em_postings_init(&got);
    select_refs(ix, q, 1, &got);
    cr_assert_eq(got.n, (49999 - 5) / 2 + 1);
    cr_assert(em_postings_is_sorted(got.v, got.n));
    cr_assert_eq(got.v[0], 5);
    em_matcher_fini(&m);
    em_postings_fini(&got);
    em_memindex_free(ix);
}

/* Shapes that take select()'s other strategies: a small result against a big multi-value group
 * (intersect per list, then merge) and against many negative lists (subtract one by one). */
Test(engine_memindex, select_strategies_for_skewed_groups_equal_brute_force)
{
    enum { N = 3000 };
    tseries_t *ts = calloc(N, sizeof(*ts));
    em_memindex_t *ix = em_memindex_new();
    for (uint32_t i = 0; i < N; i++) {
        char spec[128];
        snprintf(spec, sizeof(spec), "__name__=m%u,host=h%03u%s", i % 3, i % 300,
                 i % 97 == 0 ? ",rare=1" : "");
        tseries_set(&ts[i], i, spec);
        em_memindex_add(ix, i, &ts[i].ls, NULL);
    }
    static const struct {
        const char *name;
        em_match_type_t t;
        const char *v;
    } q[][3] = {
        {{"rare", EM_MATCH_EQ, "1"}, {"host", EM_MATCH_RE, "h.*"}, {NULL, 0, NULL}},
        {{"rare", EM_MATCH_EQ, "1"}, {"host", EM_MATCH_RE, "h1.*"}, {"__name__", EM_MATCH_RE, "m0|m2"}},
        {{"rare", EM_MATCH_EQ, "1"}, {"host", EM_MATCH_EQ, ""}, {NULL, 0, NULL}},
        {{"rare", EM_MATCH_EQ, "1"}, {"host", EM_MATCH_NRE, "h0.*"}, {NULL, 0, NULL}},
        {{"rare", EM_MATCH_EQ, "1"}, {"host", EM_MATCH_NRE, "h0.*|h1.*"}, {"__name__", EM_MATCH_NEQ, "m1"}},
        {{"__name__", EM_MATCH_RE, "m0|m1"}, {"host", EM_MATCH_RE, "h00.*"}, {"rare", EM_MATCH_EQ, ""}},
        {{"host", EM_MATCH_RE, "h.*"}, {"__name__", EM_MATCH_RE, "m.*"}, {"rare", EM_MATCH_NEQ, ""}},
    };
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        em_matcher_t ms[3];
        const em_matcher_t *mp[3];
        size_t n = 0;
        for (; n < 3 && q[i][n].name; n++) {
            mk(&ms[n], q[i][n].name, q[i][n].t, q[i][n].v);
            mp[n] = &ms[n];
        }
        check_select(ix, ts, N, mp, n, "skewed");
        for (size_t j = 0; j < n; j++)
            em_matcher_fini(&ms[j]);
    }
    em_memindex_free(ix);
    free(ts);
}

/* ---- randomized: adds, removals and selects against brute force ---- */

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void random_matcher(uint64_t *seed, em_matcher_t *m)
{
    static const char *const names[] = {"a", "b", "c", "d", "e"};
    static const char *const lits[] = {"", "x", "y", "xy", "q"};
    static const char *const res[] = {"",    "x",     "x|y", ".*",    ".+",    "x.*",
                                      ".*y", ".*y.*", "x|",  "(?i)X", "[xy]+", "xy|q"};
    const char *name = names[rnd(seed) % 5];
    em_match_type_t t = (em_match_type_t)(rnd(seed) % 4);
    const char *v = t < EM_MATCH_RE ? lits[rnd(seed) % 5] : res[rnd(seed) % 12];
    mk(m, name, t, v);
}

Test(engine_memindex, random_operations_match_brute_force)
{
    uint64_t seed = 777;
    static const char *const names[] = {"a", "b", "c", "d"};
    static const char *const values[] = {"x", "y", "xy", "yz", "z"};
    enum { N = 3000 };
    tseries_t *ts = calloc(N, sizeof(*ts));
    em_memindex_t *ix = em_memindex_new();
    uint32_t ref = 0;
    for (int round = 0; round < 6; round++) {
        for (int i = 0; i < N / 6; i++) {
            tseries_t *s = &ts[ref];
            char spec[128];
            size_t len = 0;
            spec[0] = '\0';
            for (int k = 0; k < 4; k++)
                if (rnd(&seed) % 3)
                    len += (size_t)snprintf(spec + len, sizeof(spec) - len, "%s%s=%s", len ? "," : "",
                                            names[k], values[rnd(&seed) % 5]);
            tseries_set(s, ref, spec);
            em_memindex_add(ix, ref, &s->ls, NULL);
            ref++;
        }
        /* remove a random tenth of the live series */
        uint32_t rm[N];
        const em_labels_t *rml[N];
        size_t n_rm = 0;
        for (uint32_t r = 0; r < ref; r++)
            if (ts[r].alive && rnd(&seed) % 10 == 0) {
                rm[n_rm] = r;
                rml[n_rm++] = &ts[r].ls;
                ts[r].alive = false;
            }
        em_memindex_remove(ix, rm, n_rm, rml);
        for (int q = 0; q < 150; q++) {
            em_matcher_t ms[3];
            const em_matcher_t *mp[3];
            size_t n = 1 + rnd(&seed) % 3;
            for (size_t i = 0; i < n; i++) {
                random_matcher(&seed, &ms[i]);
                mp[i] = &ms[i];
            }
            char ctx[64];
            snprintf(ctx, sizeof(ctx), "round %d query %d (seed 777)", round, q);
            check_select(ix, ts, ref, mp, n, ctx);
            for (size_t i = 0; i < n; i++)
                em_matcher_fini(&ms[i]);
        }
    }
    em_memindex_free(ix);
    free(ts);
}
