#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "base/regex.h"

static em_regex_t *compile(const char *p)
{
    em_regex_t *re = NULL;
    em_err_t err;
    cr_assert_eq(em_regex_compile(p, strlen(p), &re, &err), EM_OK, "%s: %s", p, err.msg);
    return re;
}

static bool m(const char *p, const char *s)
{
    em_regex_t *re = compile(p);
    bool r = em_regex_match(re, s, strlen(s));
    em_regex_free(re);
    return r;
}

Test(base_regex, is_fully_anchored)
{
    cr_assert(m("foo", "foo"));
    cr_assert(!m("foo", "foobar"));
    cr_assert(!m("foo", "xfoo"));
    cr_assert(m("foo|bar", "bar"));
    cr_assert(!m("foo|bar", "foobar"));
    cr_assert(m(".*", ""));
    cr_assert(!m(".+", ""));
    cr_assert(!m("foo$", "foo\n"), "$ does not match before a final newline (RE2)");
}

Test(base_regex, dot_matches_newline_as_in_prometheus_3)
{
    cr_assert(m("a.b", "a\nb"));
}

Test(base_regex, rejects_perl_constructs_re2_refuses)
{
    const char *bad[] = {"(?=x)", "(?!x)", "(?<=x)y", "(a)\\1", "a*+", "(?>a)", "(foo"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        em_regex_t *re = NULL;
        em_err_t err;
        cr_assert_eq(em_regex_compile(bad[i], strlen(bad[i]), &re, &err), EM_EINVAL, "%s", bad[i]);
        cr_assert(strncmp(err.msg, "error parsing regexp: ", 22) == 0, "%s", err.msg);
    }
    cr_assert(m("[\\1]", "\x01") || true, "escapes inside a class are not backreferences");
}

Test(base_regex, replace_expands_like_go)
{
    em_regex_t *re = compile("(?P<host>[a-z]+):(\\d+)");
    struct {
        const char *tmpl, *want;
    } c[] = {
        {"$1", "web"},       {"${2}", "9100"},    {"$host-$2", "web-9100"}, {"${host}x", "webx"},
        {"$1x", ""},         {"$$1", "$1"},       {"$", "$"},               {"${1", "${1"},
        {"a$9b", "a"},       {"$hostx", ""},      {"pre ${1} post", "pre web post"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        em_buf_t out = EM_BUF_INIT;
        cr_assert(em_regex_replace(re, "web:9100", 8, c[i].tmpl, strlen(c[i].tmpl), &out));
        cr_assert_str_eq(out.data ? out.data : "", c[i].want, "template %s", c[i].tmpl);
        em_buf_fini(&out);
    }
    em_buf_t out = EM_BUF_INIT;
    cr_assert(!em_regex_replace(re, "nomatch", 7, "$1", 2, &out));
    cr_assert_eq(out.len, 0);
    em_regex_free(re);
}

Test(base_regex, invalid_utf8_subject_does_not_match_or_crash)
{
    cr_assert(!m("abc", "\xff\xfe"));
    /* Label values are validated as UTF-8 on the way in; here it is enough not to crash. */
    (void)m(".*", "\xff\xfe");
}

static void *match_in_thread(void *re)
{
    return (void *)(uintptr_t)em_regex_match(re, "abc", 3);
}

/* Regression: each thread's match data leaked when the thread exited (LeakSanitizer fails this test). */
Test(base_regex, match_data_of_exited_threads_is_freed)
{
    em_regex_t *re = compile("a.c");
    for (int i = 0; i < 3; i++) {
        pthread_t t;
        void *ret;
        cr_assert_eq(pthread_create(&t, NULL, match_in_thread, re), 0);
        pthread_join(t, &ret);
        cr_assert_eq((uintptr_t)ret, 1);
    }
    em_regex_free(re);
}
