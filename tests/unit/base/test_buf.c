#include <criterion/criterion.h>
#include <math.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/strconv.h"

Test(base_buf, uvarint_roundtrip_at_every_length_boundary)
{
    uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, (1ull << 35) - 1, 1ull << 35, UINT64_MAX};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        uint8_t b[10];
        size_t n = em_uvarint_put(b, vals[i]);
        cr_assert_eq(n, em_uvarint_len(vals[i]));
        uint64_t got = 0;
        cr_assert_eq(em_uvarint_get(b, b + n, &got), n);
        cr_assert_eq(got, vals[i]);
        /* one byte short is an error, not a wrong value */
        cr_assert_eq(em_uvarint_get(b, b + n - 1, &got), 0);
    }
}

Test(base_buf, varint_zigzag_matches_go)
{
    em_buf_t b = EM_BUF_INIT;
    em_buf_put_varint(&b, -1);
    em_buf_put_varint(&b, 1);
    em_buf_put_varint(&b, -64);
    cr_assert_eq(b.len, 3);
    cr_assert_eq((uint8_t)b.data[0], 1); /* Go: binary.PutVarint(-1) == 0x01 */
    cr_assert_eq((uint8_t)b.data[1], 2);
    cr_assert_eq((uint8_t)b.data[2], 127);
    em_dec_t d;
    em_dec_init(&d, b.data, b.len);
    cr_assert_eq(em_dec_varint(&d), -1);
    cr_assert_eq(em_dec_varint(&d), 1);
    cr_assert_eq(em_dec_varint(&d), -64);
    cr_assert_eq(em_dec_err(&d), 0);
    em_buf_fini(&b);
}

Test(base_buf, decoder_overrun_sets_sticky_error)
{
    uint8_t data[3] = {1, 2, 3};
    em_dec_t d;
    em_dec_init(&d, data, 3);
    cr_assert_eq(em_dec_be16(&d), 0x0102);
    cr_assert_eq(em_dec_be32(&d), 0);
    cr_assert_eq(em_dec_err(&d), EM_ECORRUPT);
    cr_assert_eq(em_dec_u8(&d), 0, "reads after an error return 0");
    uint8_t over[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    em_dec_init(&d, over, sizeof(over));
    em_dec_uvarint(&d);
    cr_assert_eq(em_dec_err(&d), EM_ECORRUPT, "an 11-byte varint overflows");
}

Test(base_buf, json_string_escapes_like_go)
{
    em_buf_t b = EM_BUF_INIT;
    const char s[] = "a\"b\\c\n<&>\x01\xff";
    em_buf_put_json_str(&b, s, sizeof(s) - 1);
    cr_assert_str_eq(b.data, "\"a\\\"b\\\\c\\n\\u003c\\u0026\\u003e\\u0001\\ufffd\"");
    em_buf_fini(&b);
}

Test(base_buf, printf_grows_past_small_buffer)
{
    em_buf_t b = EM_BUF_INIT;
    char big[1000];
    memset(big, 'x', sizeof(big) - 1);
    big[999] = 0;
    em_buf_printf(&b, "<%s>", big);
    cr_assert_eq(b.len, 1001);
    cr_assert_eq(b.data[1000], '>');
    em_buf_fini(&b);
}

Test(base_hash, crc32c_known_vectors_and_hw_equals_sw)
{
    /* RFC 3720 test vector: 32 bytes of zeros -> 0x8a9136aa; "123456789" -> 0xe3069283 */
    uint8_t zeros[32] = {0};
    cr_assert_eq(em_crc32c(0, zeros, 32), 0x8a9136aau);
    cr_assert_eq(em_crc32c(0, "123456789", 9), 0xe3069283u);
    uint8_t data[1000];
    for (int i = 0; i < 1000; i++)
        data[i] = (uint8_t)(i * 131 + 7);
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n < 200; n += 13)
            cr_assert_eq(em_crc32c(0, data + off, n), em_crc32c_sw(0, data + off, n));
    uint32_t part = em_crc32c(0, data, 300);
    cr_assert_eq(em_crc32c(part, data + 300, 700), em_crc32c(0, data, 1000), "incremental equals whole");
}

Test(base_strconv, formats_floats_like_go_strconv)
{
    struct {
        double v;
        char fmt;
        const char *want;
    } cases[] = {
        {1, 'f', "1"},
        {0.1, 'f', "0.1"},
        {-2.5, 'f', "-2.5"},
        {1e21, 'f', "1000000000000000000000"},
        {1.5e-7, 'f', "0.00000015"},
        {123456789, 'f', "123456789"},
        {0, 'f', "0"},
        {1e6, 'g', "1e+06"},
        {123456, 'g', "123456"},
        {0.0001, 'g', "0.0001"},
        {0.00001, 'g', "1e-05"},
        {1.7976931348623157e308, 'g', "1.7976931348623157e+308"},
        {5e-324, 'g', "5e-324"},
        {INFINITY, 'f', "+Inf"},
        {-INFINITY, 'g', "-Inf"},
        {NAN, 'f', "NaN"},
        {3.14159, 'e', "3.14159e+00"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[EM_FLOAT_BUF];
        em_fmt_float(cases[i].v, cases[i].fmt, out);
        cr_assert_str_eq(out, cases[i].want, "case %zu", i);
    }
}

Test(base_strconv, parses_prometheus_float_spellings)
{
    double v;
    cr_assert(em_parse_float("+Inf", 4, &v) && isinf(v) && v > 0);
    cr_assert(em_parse_float("-inf", 4, &v) && isinf(v) && v < 0);
    cr_assert(em_parse_float("NaN", 3, &v) && isnan(v));
    cr_assert(em_parse_float("1.5e3", 5, &v) && v == 1500);
    cr_assert(em_parse_float("0x10", 4, &v) && v == 16);
    cr_assert(!em_parse_float(" 1", 2, &v));
    cr_assert(!em_parse_float("1x", 2, &v));
    cr_assert(!em_parse_float("", 0, &v));
}
