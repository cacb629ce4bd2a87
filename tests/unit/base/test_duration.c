#include <criterion/criterion.h>
#include <string.h>

#include "base/duration.h"

static int64_t parse_ok(const char *s)
{
    int64_t ms = -1;
    em_err_t err;
    cr_assert_eq(em_duration_parse(s, strlen(s), &ms, &err), EM_OK, "%s: %s", s, err.msg);
    return ms;
}

Test(base_duration, parses_prometheus_units)
{
    cr_assert_eq(parse_ok("0"), 0);
    cr_assert_eq(parse_ok("15s"), 15000);
    cr_assert_eq(parse_ok("500ms"), 500);
    cr_assert_eq(parse_ok("1h30m"), 90 * 60000);
    cr_assert_eq(parse_ok("1d"), 86400000);
    cr_assert_eq(parse_ok("1w"), 7 * 86400000LL);
    cr_assert_eq(parse_ok("1y"), 365 * 86400000LL);
    cr_assert_eq(parse_ok("2y3w4d5h6m7s8ms"),
                 2 * 365 * 86400000LL + 3 * 7 * 86400000LL + 4 * 86400000LL + 5 * 3600000LL + 6 * 60000 + 7000 + 8);
}

Test(base_duration, rejects_malformed_with_prometheus_text)
{
    const char *bad[] = {"", "1", "s", "1.5s", "1x", "15s1m", "1s1s", "-1s", " 1s", "1s ", "1S", "99999999999999999999y"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms;
        em_err_t err;
        int rc = em_duration_parse(bad[i], strlen(bad[i]), &ms, &err);
        cr_assert_eq(rc, EM_EINVAL, "'%s' should fail", bad[i]);
    }
    em_err_t err;
    int64_t ms;
    em_duration_parse("1x", 2, &ms, &err);
    cr_assert_str_eq(err.msg, "not a valid duration string: \"1x\"");
}

Test(base_duration, formats_like_model_duration_string)
{
    char out[32];
    struct {
        int64_t ms;
        const char *want;
    } c[] = {{0, "0s"}, {15000, "15s"}, {90 * 60000, "1h30m"}, {86400000, "1d"}, {7 * 86400000LL, "1w"},
             {365 * 86400000LL, "1y"}, {1500, "1s500ms"}, {-60000, "-1m"}};
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        em_duration_format(c[i].ms, out);
        cr_assert_str_eq(out, c[i].want);
    }
}

Test(base_duration, parses_api_times)
{
    int64_t t;
    cr_assert_eq(em_time_parse("1700000000", &t), EM_OK);
    cr_assert_eq(t, 1700000000000LL);
    cr_assert_eq(em_time_parse("1700000000.123", &t), EM_OK);
    cr_assert_eq(t, 1700000000123LL);
    cr_assert_eq(em_time_parse("2023-11-14T22:13:20Z", &t), EM_OK);
    cr_assert_eq(t, 1700000000000LL);
    cr_assert_eq(em_time_parse("2023-11-14T22:13:20.5Z", &t), EM_OK);
    cr_assert_eq(t, 1700000000500LL);
    cr_assert_eq(em_time_parse("2023-11-15T00:13:20+02:00", &t), EM_OK);
    cr_assert_eq(t, 1700000000000LL);
    cr_assert_eq(em_time_parse("yesterday", &t), EM_EINVAL);
    cr_assert_eq(em_time_parse("2023-13-14T22:13:20Z", &t), EM_EINVAL);
    char s[32];
    em_time_format_rfc3339(1700000000123LL, s);
    cr_assert_str_eq(s, "2023-11-14T22:13:20.123Z");
}
