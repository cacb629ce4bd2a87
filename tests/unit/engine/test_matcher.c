#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "engine/matcher.h"

static void init_ok(em_matcher_t *m, em_match_type_t t, const char *name, const char *v)
{
    em_err_t err;
    int rc = em_matcher_init(m, t, name, v, &err);
    cr_assert_eq(rc, EM_OK, "%s%s\"%s\": %s", name, em_match_type_str(t), v, err.msg);
}

static const struct {
    em_match_type_t t;
    const char *pattern, *value;
    bool want;
} cases[] = {
    {EM_MATCH_EQ, "foo", "foo", true},
    {EM_MATCH_EQ, "foo", "foobar", false},
    {EM_MATCH_EQ, "", "", true}, /* a missing label equals "" */
    {EM_MATCH_EQ, "", "x", false},
    {EM_MATCH_NEQ, "foo", "", true}, /* job!="x" keeps series without job */
    {EM_MATCH_NEQ, "foo", "foo", false},
    {EM_MATCH_NEQ, "", "", false},
    {EM_MATCH_NEQ, "", "a", true},
    {EM_MATCH_RE, "foo", "foo", true},
    {EM_MATCH_RE, "foo", "foobar", false}, /* anchored at the end */
    {EM_MATCH_RE, "foo", "xfoo", false},   /* and at the start */
    {EM_MATCH_RE, "", "", true},
    {EM_MATCH_RE, "", "a", false},
    {EM_MATCH_NRE, "", "", false},
    {EM_MATCH_NRE, "", "a", true},
    {EM_MATCH_NRE, ".+", "", true}, /* selects series lacking the label */
    {EM_MATCH_NRE, ".+", "a", false},
    {EM_MATCH_RE, "a|", "", true},
    {EM_MATCH_RE, "a|", "a", true},
    {EM_MATCH_RE, "a|", "b", false},
    {EM_MATCH_RE, "a|b|c", "b", true},
    {EM_MATCH_RE, "a|b|c", "ab", false},
    {EM_MATCH_RE, "(a|b)", "a", true},
    {EM_MATCH_RE, "(?:a|bc)", "bc", true},
    {EM_MATCH_RE, "(?:a|bc)", "abc", false},
    {EM_MATCH_RE, "foo.*", "foo", true},
    {EM_MATCH_RE, "foo.*", "foobar", true},
    {EM_MATCH_RE, "foo.*", "xfoo", false},
    {EM_MATCH_RE, ".*foo", "barfoo", true},
    {EM_MATCH_RE, ".*foo", "foob", false},
    {EM_MATCH_RE, ".*oo.*", "xooy", true},
    {EM_MATCH_RE, ".*oo.*", "oxo", false},
    {EM_MATCH_RE, ".*", "", true},
    {EM_MATCH_RE, ".*", "a\nb", true},
    {EM_MATCH_RE, ".+", "", false},
    {EM_MATCH_RE, ".+", "\n", true},
    {EM_MATCH_RE, "a.b", "a\nb", true}, /* '.' matches a newline, as in Prometheus 3 */
    {EM_MATCH_RE, "foo.*", "foo\nbar", true},
    {EM_MATCH_RE, "foo\\.bar", "foo.bar", true},
    {EM_MATCH_RE, "foo\\.bar", "fooxbar", false},
    {EM_MATCH_RE, "foo.bar", "fooxbar", true},
    {EM_MATCH_RE, "foo\\.*", "foo...", true}, /* \.* is "dots", not the prefix foo */
    {EM_MATCH_RE, "foo\\.*", "foox", false},
    {EM_MATCH_RE, "(?i)foo", "FoO", true},
    {EM_MATCH_RE, "(?i)foo", "FOOx", false},
    {EM_MATCH_RE, "héllo|wörld", "wörld", true}, /* UTF-8 */
    {EM_MATCH_RE, "h.llo", "héllo", true},       /* '.' is one code point, not one byte */
    {EM_MATCH_RE, "h.llo", "hxxllo", false},
    {EM_MATCH_RE, ".*ö", "wö", true},
    {EM_MATCH_RE, "\\$\\^\\*\\[", "$^*[", true},
    {EM_MATCH_RE, "10\\.0\\.0\\.1:9100", "10.0.0.1:9100", true},
    {EM_MATCH_RE, ".*\\.example\\.com", "www.example.com", true},
    {EM_MATCH_RE, ".*\\.example\\.com", "wwwxexample.com", false},
    {EM_MATCH_RE, "a\\|b", "a|b", true},
    {EM_MATCH_RE, "a\\|b", "a", false},
    {EM_MATCH_NRE, "a|b", "c", true},
    {EM_MATCH_NRE, "a|b", "a", false},
    {EM_MATCH_RE, "[a-c]+", "abc", true},
    {EM_MATCH_RE, "foo|bar.*", "barx", true},
    {EM_MATCH_RE, "foo|bar.*", "foox", false},
    {EM_MATCH_RE, "(foo)|(bar)", "bar", true},
    {EM_MATCH_RE, "(foo)|(bar)", "foobar", false},
    {EM_MATCH_RE, "foo.*?", "foobar", true},
    {EM_MATCH_RE, "a+", "aaa", true},
    {EM_MATCH_RE, "\\d+", "123", true},
    {EM_MATCH_RE, "()", "", true},
    {EM_MATCH_RE, "foo$", "foo", true},
};

Test(engine_matcher, table_of_prometheus_semantics)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        em_matcher_t m;
        init_ok(&m, cases[i].t, "job", cases[i].pattern);
        bool got = em_matcher_matches(&m, cases[i].value, strlen(cases[i].value));
        cr_assert_eq(got, cases[i].want, "case %zu: job%s\"%s\" on \"%s\": got %d", i,
                     em_match_type_str(cases[i].t), cases[i].pattern, cases[i].value, got);
        cr_assert_eq(em_matcher_matches_slow(&m, cases[i].value, strlen(cases[i].value)), cases[i].want,
                     "case %zu (PCRE2 alone)", i);
        em_matcher_fini(&m);
    }
}

Test(engine_matcher, classifies_fast_paths)
{
    static const struct {
        const char *pattern;
        em_match_fast_t fast;
        const char *affix;
    } c[] = {
        {"foo", EM_MATCH_FAST_LITERAL, "foo"},
        {"foo\\.bar", EM_MATCH_FAST_LITERAL, "foo.bar"},
        {"(foo)", EM_MATCH_FAST_LITERAL, "foo"},
        {"((?:foo))", EM_MATCH_FAST_LITERAL, "foo"},
        {"a|a", EM_MATCH_FAST_LITERAL, "a"},
        {"", EM_MATCH_FAST_LITERAL, ""},
        {"a|b", EM_MATCH_FAST_SET, NULL},
        {"(a|b|c)", EM_MATCH_FAST_SET, NULL},
        {"(?:a|b|c)", EM_MATCH_FAST_SET, NULL},
        {"a|", EM_MATCH_FAST_SET, NULL},
        {"foo.*", EM_MATCH_FAST_PREFIX, "foo"},
        {"foo\\..*", EM_MATCH_FAST_PREFIX, "foo."},
        {".*foo", EM_MATCH_FAST_SUFFIX, "foo"},
        {".*foo.*", EM_MATCH_FAST_CONTAINS, "foo"},
        {"(.*foo.*)", EM_MATCH_FAST_CONTAINS, "foo"},
        {".*", EM_MATCH_FAST_ANY, NULL},
        {".*.*", EM_MATCH_FAST_ANY, NULL},
        {".+", EM_MATCH_FAST_NONEMPTY, NULL},
        {"(?i)foo", EM_MATCH_FAST_NONE, NULL},
        {"(?i:foo)", EM_MATCH_FAST_NONE, NULL},
        {"(?P<x>foo)", EM_MATCH_FAST_NONE, NULL},
        {"a.b", EM_MATCH_FAST_NONE, NULL},
        {"foo.*?", EM_MATCH_FAST_NONE, NULL},
        {"foo\\.*", EM_MATCH_FAST_NONE, NULL},
        {"(a)|(b)", EM_MATCH_FAST_NONE, NULL},
        {"a|b.*", EM_MATCH_FAST_NONE, NULL},
        {"\\d", EM_MATCH_FAST_NONE, NULL},
        {"[ab]", EM_MATCH_FAST_NONE, NULL},
        {"^foo", EM_MATCH_FAST_NONE, NULL},
        {"foo+", EM_MATCH_FAST_NONE, NULL},
        {".+foo", EM_MATCH_FAST_NONE, NULL},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        em_matcher_t m;
        init_ok(&m, EM_MATCH_RE, "x", c[i].pattern);
        cr_assert_eq(m.fast, c[i].fast, "%s: fast path %d, want %d", c[i].pattern, m.fast, c[i].fast);
        if (c[i].affix)
            cr_assert_str_eq(m.affix, c[i].affix, "%s", c[i].pattern);
        em_matcher_fini(&m);
    }
}

Test(engine_matcher, other_regexes_keep_their_literal_prefix_as_a_prefilter)
{
    static const struct {
        const char *pattern, *prefix;
    } c[] = {
        {"host-0[0-9]+", "host-0"},
        {"(host-0[0-9]+)", "host-0"},
        {"ab*", "a"},
        {"ab+", "a"},
        {"ab{2}", "a"},
        {"a\\.?", "a"},
        {"x\xc3\xa9?", "x"}, /* the whole optional code point goes */
        {"\xc3\xa9?", NULL},
        {"ab\\d+", "ab"},
        {"a(b|c)", "a"},
        {"a|b[0-9]", NULL},
        {"(?i)ab", NULL},
        {"[ab]c", NULL},
        {"ab(?i)c", "ab"},
        {"^ab", NULL},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        em_matcher_t m;
        init_ok(&m, EM_MATCH_RE, "x", c[i].pattern);
        cr_assert_eq(m.fast, EM_MATCH_FAST_NONE, "%s", c[i].pattern);
        if (c[i].prefix)
            cr_assert(m.prefix && strcmp(m.prefix, c[i].prefix) == 0, "%s: prefix %s, want %s", c[i].pattern,
                      m.prefix ? m.prefix : "(none)", c[i].prefix);
        else
            cr_assert_null(m.prefix, "%s: prefix %s, want none", c[i].pattern, m.prefix);
        em_matcher_fini(&m);
    }
    em_matcher_t m;
    init_ok(&m, EM_MATCH_RE, "x", "x\xc3\xa9?y");
    cr_assert(em_matcher_matches(&m, "xy", 2));
    cr_assert(em_matcher_matches(&m, "x\xc3\xa9y", 4));
    cr_assert(!em_matcher_matches(&m, "y", 1));
    em_matcher_fini(&m);
}

Test(engine_matcher, set_values_for_direct_lookups)
{
    em_matcher_t m;
    const char *const *v;
    size_t n;

    init_ok(&m, EM_MATCH_EQ, "job", "node");
    cr_assert(em_matcher_set_values(&m, &v, &n));
    cr_assert(n == 1 && strcmp(v[0], "node") == 0);
    em_matcher_fini(&m);

    init_ok(&m, EM_MATCH_RE, "job", "(?:c|a|b|a)");
    cr_assert(em_matcher_set_values(&m, &v, &n));
    cr_assert_eq(n, 3);
    cr_assert(strcmp(v[0], "a") == 0 && strcmp(v[1], "b") == 0 && strcmp(v[2], "c") == 0, "sorted, unique");
    em_matcher_fini(&m);

    init_ok(&m, EM_MATCH_RE, "job", "no\\.de");
    cr_assert(em_matcher_set_values(&m, &v, &n));
    cr_assert(n == 1 && strcmp(v[0], "no.de") == 0, "unescaped");
    em_matcher_fini(&m);

    init_ok(&m, EM_MATCH_RE, "job", "a|");
    cr_assert(em_matcher_set_values(&m, &v, &n));
    cr_assert(n == 2 && strcmp(v[0], "") == 0 && strcmp(v[1], "a") == 0);
    em_matcher_fini(&m);

    init_ok(&m, EM_MATCH_RE, "job", "no.*");
    cr_assert(!em_matcher_set_values(&m, &v, &n));
    cr_assert(!em_matcher_literal_values(&m, &v, &n));
    em_matcher_fini(&m);

    init_ok(&m, EM_MATCH_NEQ, "job", "node");
    cr_assert(!em_matcher_set_values(&m, &v, &n), "a negative matcher has no positive set");
    cr_assert(em_matcher_literal_values(&m, &v, &n));
    cr_assert(n == 1 && strcmp(v[0], "node") == 0);
    em_matcher_fini(&m);

    init_ok(&m, EM_MATCH_NRE, "job", "a|b");
    cr_assert(!em_matcher_set_values(&m, &v, &n));
    cr_assert(em_matcher_literal_values(&m, &v, &n));
    cr_assert_eq(n, 2);
    em_matcher_fini(&m);
}

Test(engine_matcher, empty_and_everything)
{
    static const struct {
        em_match_type_t t;
        const char *p;
        bool empty, everything;
    } c[] = {
        {EM_MATCH_EQ, "", true, false},     {EM_MATCH_EQ, "a", false, false},
        {EM_MATCH_NEQ, "", false, false},   {EM_MATCH_NEQ, "a", true, false},
        {EM_MATCH_RE, ".*", true, true},    {EM_MATCH_RE, ".+", false, false},
        {EM_MATCH_NRE, ".+", true, false},  {EM_MATCH_RE, "a|", true, false},
        {EM_MATCH_NRE, ".*", false, false}, {EM_MATCH_RE, "(?:.*)", true, true},
        {EM_MATCH_RE, "a*", true, false},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        em_matcher_t m;
        init_ok(&m, c[i].t, "x", c[i].p);
        cr_assert_eq(em_matcher_matches_empty(&m), c[i].empty, "x%s\"%s\"", em_match_type_str(c[i].t),
                     c[i].p);
        cr_assert_eq(em_matcher_matches_everything(&m), c[i].everything, "x%s\"%s\"",
                     em_match_type_str(c[i].t), c[i].p);
        em_matcher_fini(&m);
    }
}

Test(engine_matcher, bad_regex_is_einval_with_go_wording_and_leaves_matcher_zeroed)
{
    em_matcher_t m;
    em_err_t err;
    cr_assert_eq(em_matcher_init(&m, EM_MATCH_RE, "job", "(foo", &err), EM_EINVAL);
    cr_assert(strncmp(err.msg, "error parsing regexp: ", 22) == 0, "%s", err.msg);
    cr_assert_null(m.name);
    cr_assert_null(m.re);
    em_matcher_fini(&m);
    cr_assert_eq(em_matcher_init(&m, EM_MATCH_NRE, "job", "(?=x)", &err), EM_EINVAL);
    cr_assert_eq(em_matcher_init(&m, (em_match_type_t)9, "job", "x", &err), EM_EINVAL);
    em_matcher_fini(NULL);
}

Test(engine_matcher, type_strings)
{
    cr_assert_str_eq(em_match_type_str(EM_MATCH_EQ), "=");
    cr_assert_str_eq(em_match_type_str(EM_MATCH_NEQ), "!=");
    cr_assert_str_eq(em_match_type_str(EM_MATCH_RE), "=~");
    cr_assert_str_eq(em_match_type_str(EM_MATCH_NRE), "!~");
}

/* ---- randomized: every fast path against PCRE2 ---- */

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A random string of up to 7 pieces from a small alphabet (so matches are frequent). */
static size_t random_value(uint64_t *seed, char *buf, size_t cap)
{
    static const char *const alpha[] = {"a", "b", "o", ".", "\n", "\xc3\xa9" /* é */, "|", "ab"};
    size_t n = rnd(seed) % 8, len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = alpha[rnd(seed) % (sizeof(alpha) / sizeof(alpha[0]))];
        size_t l = strlen(p);
        if (len + l >= cap)
            break;
        memcpy(buf + len, p, l);
        len += l;
    }
    buf[len] = '\0';
    return len;
}

static size_t compare_on_random_values(const em_matcher_t *m, uint64_t seed, int n)
{
    char buf[64];
    size_t true_count = 0;
    for (int i = 0; i < n; i++) {
        size_t len = random_value(&seed, buf, sizeof(buf));
        bool fast = em_matcher_matches(m, buf, len), slow = em_matcher_matches_slow(m, buf, len);
        cr_assert_eq(fast, slow, "x%s\"%s\" (fast path %d) on \"%s\": fast %d, PCRE2 %d (seed %llu)",
                     em_match_type_str(m->type), m->value, m->fast, buf, fast, slow,
                     (unsigned long long)seed);
        true_count += fast;
    }
    return true_count;
}

Test(engine_matcher, fast_paths_agree_with_pcre2_on_random_strings)
{
    static const char *const patterns[] = {
        "a",     "ab",      "a|b",      "a|",         "|a|b",       "(a|ab)",  "(?:b|ba|)", "a.*",
        "ab.*",  ".*a",     ".*ba",     ".*a.*",      ".*ab.*",     ".*",      ".+",        "a\\.b",
        "\\.",   ".*\\..*", "\xc3\xa9", "\xc3\xa9.*", ".*\xc3\xa9", "((a|b))", "()",        "",
        "a\\|b", "\\(a\\)", ".*\\|.*",  ".*.*",       "(.*)",
    };
    uint64_t seed = 1;
    for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
        for (int t = EM_MATCH_RE; t <= EM_MATCH_NRE; t++) {
            em_matcher_t m;
            init_ok(&m, (em_match_type_t)t, "x", patterns[i]);
            cr_assert_neq(m.fast, EM_MATCH_FAST_NONE, "%s should have a fast path", patterns[i]);
            compare_on_random_values(&m, seed++, 3000);
            em_matcher_fini(&m);
        }
    }
}

Test(engine_matcher, random_patterns_agree_with_pcre2)
{
    static const char *const tokens[] = {"a",   "b",    "o", "\xc3\xa9", "\\.", ".",   ".*",
                                         ".+",  "|",    "(", ")",        "(?:", "*",   "?",
                                         "\\|", "(?i)", "+", "{2}",      "\\d", "[ab]"};
    uint64_t seed = 20240601;
    size_t compiled = 0, fast = 0;
    for (int i = 0; i < 4000; i++) {
        char pat[64];
        size_t len = 0, n = 1 + rnd(&seed) % 6;
        for (size_t k = 0; k < n; k++) {
            const char *t = tokens[rnd(&seed) % (sizeof(tokens) / sizeof(tokens[0]))];
            size_t l = strlen(t);
            if (len + l >= sizeof(pat))
                break;
            memcpy(pat + len, t, l);
            len += l;
        }
        pat[len] = '\0';
        em_matcher_t m;
        if (em_matcher_init(&m, EM_MATCH_RE, "x", pat, NULL) != EM_OK)
            continue;
        compiled++;
        fast += m.fast != EM_MATCH_FAST_NONE;
        compare_on_random_values(&m, seed + (uint64_t)i, 200);
        em_matcher_fini(&m);
    }
    cr_assert_gt(compiled, 1000, "compiled %zu", compiled);
    cr_assert_gt(fast, 300, "fast %zu", fast);
}
