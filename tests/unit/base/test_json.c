#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "base/json.h"

static em_arena_t A;
static void setup(void)
{
    em_arena_init(&A);
}
static void teardown(void)
{
    em_arena_fini(&A);
}
TestSuite(base_json, .init = setup, .fini = teardown);

static const em_json_t *parse_ok(const char *s)
{
    const em_json_t *v = NULL;
    em_err_t err = {0};
    int rc = em_json_parse(s, strlen(s), &A, EM_JSON_DEFAULT_DEPTH, &v, &err);
    cr_assert_eq(rc, EM_OK, "%s: %s", s, err.msg);
    return v;
}

static int parse_rc(const char *s, em_err_t *err)
{
    const em_json_t *v = NULL;
    return em_json_parse(s, strlen(s), &A, 8, &v, err);
}

Test(base_json, parses_meta_json_shape)
{
    const em_json_t *v =
        parse_ok("{\n\t\"ulid\": \"01M81\",\n\t\"minTime\": 1699999200000, \"stats\": {\"numSamples\": "
                 "18446744073709551615}, \"sources\": [\"a\", \"b\"], \"ok\": true, \"x\": null}");
    cr_assert_eq(v->type, EM_JSON_OBJECT);
    cr_assert_str_eq(em_json_get(v, "ulid")->str, "01M81");
    int64_t t;
    cr_assert_eq(em_json_int64(em_json_get(v, "minTime"), &t), EM_OK);
    cr_assert_eq(t, 1699999200000);
    uint64_t u;
    cr_assert_eq(em_json_uint64(em_json_get(em_json_get(v, "stats"), "numSamples"), &u), EM_OK);
    cr_assert_eq(u, UINT64_MAX);
    const em_json_t *src = em_json_get(v, "sources");
    cr_assert_eq(src->type, EM_JSON_ARRAY);
    cr_assert_eq(src->n, 2);
    cr_assert_str_eq(src->items[1].str, "b");
    cr_assert_eq(em_json_get(v, "ok")->b, true);
    cr_assert_eq(em_json_get(v, "x")->type, EM_JSON_NULL);
    cr_assert_null(em_json_get(v, "missing"));
}

Test(base_json, decodes_escapes_and_surrogates)
{
    const em_json_t *v = parse_ok("\"a\\n\\\"\\u00e9\\ud83d\\ude00\\/\"");
    cr_assert_str_eq(v->str, "a\n\"\xc3\xa9\xf0\x9f\x98\x80/");
}

Test(base_json, numbers_keep_raw_text)
{
    const em_json_t *v = parse_ok("[-0, 1.5e3, 9223372036854775807, 1e400, 2.5]");
    int64_t x;
    cr_assert_eq(em_json_int64(&v->items[1], &x), EM_OK);
    cr_assert_eq(x, 1500);
    cr_assert_eq(em_json_int64(&v->items[2], &x), EM_OK);
    cr_assert_eq(x, INT64_MAX);
    cr_assert_eq(em_json_int64(&v->items[3], &x), EM_EINVAL);
    cr_assert_eq(em_json_int64(&v->items[4], &x), EM_EINVAL);
    cr_assert_float_eq(v->items[4].num, 2.5, 0);
    uint64_t u;
    cr_assert_eq(em_json_uint64(&v->items[0], &u), EM_EINVAL);
}

Test(base_json, rejects_what_go_rejects)
{
    const char *bad[] = {"",
                         "{",
                         "[1,]",
                         "{\"a\":1,}",
                         "01",
                         "1.",
                         ".5",
                         "+1",
                         "NaN",
                         "'a'",
                         "\"\x01\"",
                         "\"\\x\"",
                         "[1] 2",
                         "{a:1}",
                         "\"\xff\"",
                         "\"\\ud800\"",
                         "\"\\udc00\"",
                         "tru",
                         "\"\xc0\xaf\"",
                         "\"\xed\xa0\x80\"",
                         "\"abc",
                         "1e",
                         "-",
                         "/*c*/1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        em_err_t err = {0};
        cr_assert_eq(parse_rc(bad[i], &err), EM_EINVAL, "accepted %s", bad[i]);
        cr_assert(strstr(err.msg, "offset"), "%s", err.msg);
    }
}

Test(base_json, depth_is_bounded)
{
    em_err_t err = {0};
    cr_assert_eq(parse_rc("[[[[[[[[[[1]]]]]]]]]]", &err), EM_ELIMIT);
    cr_assert_eq(parse_rc("[[[[[[[1]]]]]]]", &err), EM_OK);
}

Test(base_json, duplicate_keys_last_wins)
{
    const em_json_t *v = parse_ok("{\"a\": 1, \"a\": 2}");
    int64_t x;
    cr_assert_eq(em_json_int64(em_json_get(v, "a"), &x), EM_OK);
    cr_assert_eq(x, 2);
}
