#include <criterion/criterion.h>
#include <string.h>

#include "base/ulid.h"

Test(base_ulid, parse_and_format_round_trip_real_block_names)
{
    const char *names[] = {"01M81VYW8X6ZTPSTNA70FGTEZ3", "01M81VYWA3E6J9MNPDNTXDPSV8",
                           "00000000000000000000000000", "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"};
    for (size_t i = 0; i < 4; i++) {
        em_ulid_t u;
        cr_assert_eq(em_ulid_parse(names[i], strlen(names[i]), &u, NULL), EM_OK, "%s", names[i]);
        char s[EM_ULID_STR_LEN + 1];
        em_ulid_format(&u, s);
        cr_assert_str_eq(s, names[i]);
    }
}

Test(base_ulid, time_part_is_the_first_48_bits)
{
    uint8_t ent[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    em_ulid_t u = em_ulid_make(1469918176385ull, ent);
    char s[EM_ULID_STR_LEN + 1];
    em_ulid_format(&u, s);
    /* ulid spec example: time 1469918176385 encodes as 01ARYZ6S41 */
    cr_assert(strncmp(s, "01ARYZ6S41", 10) == 0, "%s", s);
    cr_assert_eq(em_ulid_time_ms(&u), 1469918176385ull);
    em_ulid_t p;
    cr_assert_eq(em_ulid_parse(s, 26, &p, NULL), EM_OK);
    cr_assert_eq(memcmp(p.b, u.b, 16), 0);
    /* lower case accepted */
    char lower[27];
    for (int i = 0; i < 27; i++)
        lower[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    cr_assert_eq(em_ulid_parse(lower, 26, &p, NULL), EM_OK);
    cr_assert_eq(memcmp(p.b, u.b, 16), 0);
}

Test(base_ulid, parse_rejects_bad_input)
{
    em_ulid_t u;
    em_err_t err;
    cr_assert_eq(em_ulid_parse("01M81VYW8X6ZTPSTNA70FGTEZ", 25, &u, &err), EM_EINVAL);
    cr_assert_eq(em_ulid_parse("01M81VYW8X6ZTPSTNA70FGTEZU", 26, &u, &err), EM_EINVAL);
    cr_assert(strstr(err.msg, "offset 25"), "%s", err.msg);
    cr_assert_eq(em_ulid_parse("81M81VYW8X6ZTPSTNA70FGTEZ3", 26, &u, &err), EM_EINVAL);
    cr_assert_eq(em_ulid_parse("01M81VYW8X6ZTPSTNA70FGTE\0"
                               "3",
                               26, &u, &err),
                 EM_EINVAL);
}

Test(base_ulid, new_is_strictly_increasing_within_one_millisecond)
{
    em_ulid_t prev = em_ulid_new(1000);
    for (int i = 0; i < 10000; i++) {
        em_ulid_t u = em_ulid_new(1000);
        cr_assert_gt(em_ulid_cmp(&u, &prev), 0, "iteration %d", i);
        cr_assert_eq(em_ulid_time_ms(&u), 1000);
        prev = u;
    }
    /* an older time still sorts after the last one */
    em_ulid_t back = em_ulid_new(500);
    cr_assert_gt(em_ulid_cmp(&back, &prev), 0);
    em_ulid_t later = em_ulid_new(2000);
    cr_assert_eq(em_ulid_time_ms(&later), 2000);
    em_ulid_t now = em_ulid_new(-1);
    cr_assert_gt(em_ulid_time_ms(&now), 1700000000000ull);
}
