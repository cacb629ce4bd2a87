/* Tests of the OpenMetrics 1.0 parser: entries, errors with their lines, exemplars, strict mode.
 *
 * As in test_expfmt.c every case runs with and without the fast path. [P2.42] marks cases a real
 * Prometheus 2.42 scraped the same way (acceptance and stored labels); where 2.42 and Prometheus 3
 * differ (trailing commas, exemplars on any metric type, messages) the cases follow Prometheus 3.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "expfmt_dump.h"

typedef struct {
    const char *name;
    const char *in;
    size_t len;
    const char *want;
    unsigned flags;
} pcase_t;

#define LEN(s) (sizeof(s) - 1)
#define EOFL "# EOF\n"

static void run_cases(const pcase_t *cs, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const pcase_t *c = &cs[k];
        size_t len = c->len ? c->len : strlen(c->in);
        char *fast = expfmt_dump(c->in, len, EM_EXPFMT_OPENMETRICS, c->flags);
        char *slow = expfmt_dump(c->in, len, EM_EXPFMT_OPENMETRICS, c->flags | EM_EXPFMT_NO_FASTPATH);
        cr_expect_str_eq(fast, c->want, "case %s:\n got: %s\nwant: %s", c->name, fast, c->want);
        cr_expect_str_eq(fast, slow, "case %s: fast and exact paths differ:\nfast: %s\nslow: %s", c->name,
                         fast, slow);
        free(fast);
        free(slow);
    }
}

static const pcase_t om_valid[] = {
    {"eof_only", EOFL, 0, "eof\n", 0}, /* [P2.42] */
    {"eof_without_newline", "# EOF", 0, "eof\n", 0},
    {"sample_then_eof_without_newline", "a 1\n# EOF", 0, "series a|{__name__=\"a\"} 1\neof\n",
     0}, /* [P2.42] */
    {"counter_family",
     "# TYPE foo_seconds counter\n# UNIT foo_seconds seconds\n# HELP foo_seconds Total time.\n"
     "foo_seconds_total 17.0\nfoo_seconds_created 1520872607.123\n" EOFL,
     0,
     "type foo_seconds|counter\nunit foo_seconds|seconds\nhelp foo_seconds|Total time.\n"
     "series foo_seconds_total|{__name__=\"foo_seconds_total\"} 17\n"
     "series foo_seconds_created|{__name__=\"foo_seconds_created\"} 1.520872607123e+09\neof\n",
     0},
    {"timestamp_float_seconds", "a 1 1520879607.789\n" EOFL, 0,
     "series a|{__name__=\"a\"} 1 @1520879607789\neof\n", 0},
    {"timestamp_integer_seconds", "b 1 1520879607\n" EOFL, 0,
     "series b|{__name__=\"b\"} 1 @1520879607000\neof\n", 0},
    {"timestamp_negative", "c 1 -1.5\n" EOFL, 0, "series c|{__name__=\"c\"} 1 @-1500\neof\n", 0},
    {"timestamp_truncated_to_ms", "d 1 0.0005\ne 1 -0.0015\n" EOFL, 0,
     "series d|{__name__=\"d\"} 1 @0\nseries e|{__name__=\"e\"} 1 @-1\neof\n", 0},
    {"timestamp_exponent", "e 1 1e3\n" EOFL, 0, "series e|{__name__=\"e\"} 1 @1000000\neof\n", 0},
    {"exemplar_with_timestamp", "foo_total 1 # {trace_id=\"abc\"} 1.0 1.5\n" EOFL, 0,
     "series foo_total|{__name__=\"foo_total\"} 1 ex:{trace_id=\"abc\"} 1 @1500\neof\n", 0}, /* [P2.42] */
    {"exemplar_without_timestamp", "foo_total 1 # {trace_id=\"abc\",span=\"x\"} 2\n" EOFL, 0,
     "series foo_total|{__name__=\"foo_total\"} 1 ex:{span=\"x\", trace_id=\"abc\"} 2\neof\n", 0},
    {"exemplar_after_timestamp", "foo_total 1 123 # {a=\"b\"} 2 124\n" EOFL, 0,
     "series foo_total|{__name__=\"foo_total\"} 1 @123000 ex:{a=\"b\"} 2 @124000\neof\n", 0},
    {"exemplar_empty_labels", "foo_total 1 # {} 2\n" EOFL, 0,
     "series foo_total|{__name__=\"foo_total\"} 1 ex:{} 2\neof\n", 0},
    {"exemplar_on_gauge_accepted_as_prometheus_3", "a{b=\"c\"} 1 # {x=\"y\"} 5\n" EOFL, 0,
     "series a{b=\"c\"}|{__name__=\"a\", b=\"c\"} 1 ex:{x=\"y\"} 5\neof\n", 0},
    {"exemplar_escaped_value", "a_total 1 # {x=\"a\\\"b\"} 5\n" EOFL, 0,
     "series a_total|{__name__=\"a_total\"} 1 ex:{x=\"a\\\"b\"} 5\neof\n", 0},
    {"histogram_family_le_normalised",
     "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1.5\nh_created "
     "1.5\n" EOFL,
     0,
     "type h|histogram\nseries h_bucket{le=\"1\"}|{__name__=\"h_bucket\", le=\"1.0\"} 1\n"
     "series h_bucket{le=\"+Inf\"}|{__name__=\"h_bucket\", le=\"+Inf\"} 2\nseries "
     "h_count|{__name__=\"h_count\"} 2\n"
     "series h_sum|{__name__=\"h_sum\"} 1.5\nseries h_created|{__name__=\"h_created\"} 1.5\neof\n",
     0},
    {"gaugehistogram_family",
     "# TYPE g gaugehistogram\ng_bucket{le=\"0.5\"} 1\ng_gcount 1\ng_gsum 0.1\n" EOFL, 0,
     "type g|gaugehistogram\nseries g_bucket{le=\"0.5\"}|{__name__=\"g_bucket\", le=\"0.5\"} 1\n"
     "series g_gcount|{__name__=\"g_gcount\"} 1\nseries g_gsum|{__name__=\"g_gsum\"} 0.1\neof\n",
     0},
    {"info_family", "# TYPE i info\ni_info{version=\"1.2\"} 1\n" EOFL, 0,
     "type i|info\nseries i_info{version=\"1.2\"}|{__name__=\"i_info\", version=\"1.2\"} 1\neof\n", 0},
    {"stateset_family", "# TYPE s stateset\ns{s=\"a\"} 1\ns{s=\"b\"} 0\n" EOFL, 0,
     "type s|stateset\nseries s{s=\"a\"}|{__name__=\"s\", s=\"a\"} 1\nseries s{s=\"b\"}|{__name__=\"s\", "
     "s=\"b\"} 0\neof\n",
     0},
    {"summary_family",
     "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"1\"} 2\ns_sum 3\ns_count 2\n" EOFL, 0,
     "type s|summary\nseries s{quantile=\"0.5\"}|{__name__=\"s\", quantile=\"0.5\"} 1\n"
     "series s{quantile=\"1\"}|{__name__=\"s\", quantile=\"1.0\"} 2\nseries s_sum|{__name__=\"s_sum\"} 3\n"
     "series s_count|{__name__=\"s_count\"} 2\neof\n",
     0},
    {"unknown_type", "# TYPE u unknown\nu 1\n" EOFL, 0, "type u|unknown\nseries u|{__name__=\"u\"} 1\neof\n",
     0},
    {"help_escapes_include_quote", "# HELP m a\\\"b\\\\c\\nd\\t\n" EOFL, 0, "help m|a\"b\\c\nd\\t\neof\n", 0},
    {"help_empty", "# HELP m \n" EOFL, 0, "help m|\neof\n", 0},
    {"unit_empty", "# TYPE a_seconds gauge\n# UNIT a_seconds \na_seconds 1\n" EOFL, 0,
     "type a_seconds|gauge\nunit a_seconds|\nseries a_seconds|{__name__=\"a_seconds\"} 1\neof\n", 0},
    {"unit_suffix", "# UNIT a_seconds seconds\n# HELP a_seconds x \\\" y\na_seconds 1\n" EOFL, 0,
     "unit a_seconds|seconds\nhelp a_seconds|x \" y\nseries a_seconds|{__name__=\"a_seconds\"} 1\neof\n",
     0}, /* [P2.42] */
    {"label_value_escapes", "a{b=\"c\\\\d\\\"e\\nf\"} 1\n" EOFL, 0,
     "series a{b=\"c\\\\d\\\"e\\nf\"}|{__name__=\"a\", b=\"c\\\\d\\\"e\\nf\"} 1\neof\n", 0},
    {"trailing_comma_accepted_as_prometheus_3", "a{b=\"c\",} 1\n" EOFL, 0,
     "series a{b=\"c\",}|{__name__=\"a\", b=\"c\"} 1\neof\n", 0},
    {"special_values", "a NaN\nb +Inf\nc -Inf\n" EOFL, 0,
     "series a|{__name__=\"a\"} NaN(7ff8000000000001)\nseries b|{__name__=\"b\"} +Inf\n"
     "series c|{__name__=\"c\"} -Inf\neof\n",
     0},
    {"empty_label_value_means_absent", "a{b=\"\",c=\"d\"} 1\n" EOFL, 0,
     "series a{b=\"\",c=\"d\"}|{__name__=\"a\", c=\"d\"} 1\neof\n", 0},
    {"quoted_names_with_utf8_scheme", "{\"my.metric\",\"la bel\"=\"v\"} 1\n" EOFL, 0,
     "series {\"my.metric\",\"la bel\"=\"v\"}|{__name__=\"my.metric\", la bel=\"v\"} 1\neof\n",
     EM_EXPFMT_UTF8_NAMES},
    {"quoted_names_legacy_scheme_rejects", "{\"my.metric\"} 1\n" EOFL, 0,
     "series {\"my.metric\"}|labels-error line 1: invalid metric name or label names: "
     "{__name__=\"my.metric\"} 1\neof\n",
     0},
    {"created_series_returned_by_default", "# TYPE c counter\nc_total 1\nc_created 1.5e9\n" EOFL, 0,
     "type c|counter\nseries c_total|{__name__=\"c_total\"} 1\nseries c_created|{__name__=\"c_created\"} "
     "1.5e+09\neof\n",
     0},
    {"created_series_skipped_on_request",
     "# TYPE c counter\nc_total 1\nc_created 1.5e9\n# TYPE g gauge\ng_created 1\n" EOFL, 0,
     "type c|counter\nseries c_total|{__name__=\"c_total\"} 1\ntype g|gauge\nseries "
     "g_created|{__name__=\"g_created\"} 1\neof\n",
     EM_EXPFMT_SKIP_CREATED},
    /* Prometheus does not require counters to end in _total; neither does Ember unless strict. */
    {"counter_without_total_accepted", "# TYPE foo counter\nfoo 1\n" EOFL, 0,
     "type foo|counter\nseries foo|{__name__=\"foo\"} 1\neof\n", 0}, /* [P2.42] */
    {"strict_mode_accepts_proper_families",
     "# TYPE c counter\nc_total 1\nc_created 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\nh_sum "
     "1\n"
     "# TYPE s summary\ns 1\ns_count 1\n# TYPE g gauge\ng 1\ng_other 2\n" EOFL,
     0,
     "type c|counter\nseries c_total|{__name__=\"c_total\"} 1\nseries c_created|{__name__=\"c_created\"} 1\n"
     "type h|histogram\nseries h_bucket{le=\"1\"}|{__name__=\"h_bucket\", le=\"1.0\"} 1\n"
     "series h_count|{__name__=\"h_count\"} 1\nseries h_sum|{__name__=\"h_sum\"} 1\ntype s|summary\n"
     "series s|{__name__=\"s\"} 1\nseries s_count|{__name__=\"s_count\"} 1\ntype g|gauge\n"
     "series g|{__name__=\"g\"} 1\nseries g_other|{__name__=\"g_other\"} 2\neof\n",
     EM_EXPFMT_OM_STRICT},
};

Test(ingest_expfmt_om, valid_pages_give_exact_entries)
{
    cr_assert_geq(sizeof(om_valid) / sizeof(om_valid[0]), 30);
    run_cases(om_valid, sizeof(om_valid) / sizeof(om_valid[0]));
}

static const pcase_t om_invalid[] = {
    {"empty_page", "", 0, "error line 1: data does not end with # EOF\n", 0},
    {"missing_eof", "a 1\nb 2\n", 0,
     "series a|{__name__=\"a\"} 1\nseries b|{__name__=\"b\"} 2\nerror line 2: data does not end with # EOF\n",
     0},
    {"missing_eof_no_final_newline", "a 1", 0, "error line 1: data does not end with # EOF\n", 0},
    {"data_after_eof", "# EOF\na 1\n", 0, "error line 1: unexpected data after # EOF\n", 0},
    {"blank_line_after_eof", "# EOF\n\n", 0, "error line 1: unexpected data after # EOF\n", 0},
    {"blank_line", "a 1\n\n" EOFL, 0,
     "series a|{__name__=\"a\"} 1\nerror line 2: expected a valid start token, got \"\\n\" (\"INVALID\") "
     "while "
     "parsing: \"\\n\"\n",
     0}, /* [P2.42] */
    {"plain_comment", "# random\na 1\n" EOFL, 0,
     "error line 1: expected a valid start token, got \"# r\" (\"INVALID\") while parsing: \"# r\"\n",
     0}, /* [P2.42] */
    {"comment_without_space", "#EOF\n", 0,
     "error line 1: expected a valid start token, got \"#E\" (\"INVALID\") while parsing: \"#E\"\n", 0},
    {"leading_space", " a 1\n" EOFL, 0,
     "error line 1: expected a valid start token, got \" \" (\"INVALID\") while parsing: \" \"\n", 0},
    {"tab_separator", "a\t1\n" EOFL, 0,
     "error line 1: expected value after metric, got \"\\t\" (\"INVALID\") while parsing: \"a\\t\"\n", 0},
    {"two_spaces_before_value", "a  1\n" EOFL, 0,
     "error line 1: expected value after metric, got \"  \" (\"INVALID\") while parsing: \"a  \"\n", 0},
    {"space_after_comma", "a{b=\"c\", d=\"e\"} 1\n" EOFL, 0,
     "error line 1: expected label name, got \" \" (\"INVALID\") while parsing: \"a{b=\\\"c\\\", \"\n",
     0}, /* [P2.42] */
    {"missing_comma", "a{b=\"c\"d=\"e\"} 1\n" EOFL, 0,
     "error line 1: expected comma or brace close, got \"d=\" (\"LNAME\") while parsing: "
     "\"a{b=\\\"c\\\"d=\"\n",
     0},
    {"newline_in_label_value", "a{b=\"c\nd\"} 1\n" EOFL, 0,
     "error line 1: expected label value, got \"\\\"c\\n\" (\"INVALID\") while parsing: \"a{b=\\\"c\\n\"\n",
     0},
    {"crlf", "a 1\r\n" EOFL, 0,
     "error line 1: strconv.ParseFloat: parsing \"1\\r\": invalid syntax while parsing: \"a 1\\r\"\n",
     0}, /* [P2.42] */
    {"untyped_is_not_an_openmetrics_type", "# TYPE u untyped\n" EOFL, 0,
     "error line 1: invalid metric type \"untyped\"\n", 0},
    {"type_trailing_space", "# TYPE c counter \n" EOFL, 0, "error line 1: invalid metric type \"counter \"\n",
     0},
    {"type_without_text", "# TYPE m\n" EOFL, 0, "error line 1: expected text in TYPE\n", 0},
    {"help_without_text", "# HELP m\n" EOFL, 0, "error line 1: expected text in HELP\n", 0},
    {"type_at_end_without_newline", "# TYPE m gauge", 0, "error line 1: expected text in TYPE\n", 0},
    {"unit_not_a_suffix", "# TYPE a gauge\n# UNIT a seconds\na 1\n" EOFL, 0,
     "type a|gauge\nerror line 2: unit \"seconds\" not a suffix of metric \"a\"\n", 0}, /* [P2.42] */
    {"unit_without_underscore", "# UNIT aseconds seconds\n" EOFL, 0,
     "error line 1: unit \"seconds\" not a suffix of metric \"aseconds\"\n", 0},
    {"timestamp_nan", "a 1 NaN\n" EOFL, 0, "error line 1: invalid timestamp NaN\n", 0},
    {"timestamp_inf", "a 1 +Inf\n" EOFL, 0, "error line 1: invalid timestamp +Inf\n", 0},
    {"timestamp_garbage", "a 1 12x\n" EOFL, 0,
     "error line 1: strconv.ParseFloat: parsing \"12x\": invalid syntax while parsing: \"a 1 12x\"\n", 0},
    {"value_out_of_range", "a 1e400\n" EOFL, 0,
     "error line 1: strconv.ParseFloat: parsing \"1e400\": value out of range while parsing: \"a 1e400\"\n",
     0},
    {"exemplar_without_value", "a_total 1 # {a=\"b\"}\n" EOFL, 0,
     "error line 1: expected value after exemplar labels, got \"\\n\" (\"INVALID\") while parsing: "
     "\"a_total 1 # {a=\\\"b\\\"}\\n\"\n",
     0},
    {"exemplar_timestamp_nan", "a_total 1 # {a=\"b\"} 1 NaN\n" EOFL, 0,
     "error line 1: invalid exemplar timestamp NaN\n", 0},
    {"exemplar_extra_field", "a_total 1 # {a=\"b\"} 1 2 3\n" EOFL, 0,
     "error line 1: expected next entry after exemplar timestamp, got \" 3\\n\" (\"TIMESTAMP\") while "
     "parsing: "
     "\"a_total 1 # {a=\\\"b\\\"} 1 2 3\\n\"\n",
     0},
    {"exemplar_quoted_metric_name", "a_total 1 # {\"x\"} 1\n" EOFL, 0,
     "error line 1: expected label name, got \"} \" (\"BCLOSE\") while parsing: \"a_total 1 # {\\\"x\\\"} "
     "\"\n",
     0},
    {"exemplar_unterminated", "a_total 1 # {a=\"b\"", 0,
     "error line 1: expected comma or brace close, got \"\\\"b\\\"\" (\"EOF\") while parsing: \"a_total 1 # "
     "{a=\\\"b\\\"\"\n",
     0},
    /* Same quirk as below: " # x" is no exemplar start; the sample stands and "x" is refused. */
    {"hash_after_value_without_brace", "a 1 # x\n" EOFL, 0,
     "series a|{__name__=\"a\"} 1\nerror line 1: expected a valid start token, got \"x\" (\"INVALID\") while "
     "parsing: \"x\"\n",
     0},
    /* Prometheus quirk kept on purpose: a blank after the value ends the sample silently and the
     * leftover newline is then refused as the start of the next entry. */
    {"trailing_space_after_value", "a 1 \n" EOFL, 0,
     "series a|{__name__=\"a\"} 1\nerror line 1: expected a valid start token, got \"\\n#\" (\"LINEBREAK\") "
     "while "
     "parsing: \"\\n#\"\n",
     0},
    {"metric_name_not_set", "{b=\"c\"} 1\n" EOFL, 0,
     "error line 1: metric name not set while parsing: \"{b=\\\"c\\\"} 1\"\n", 0},
    {"error_line_counts_metadata", "# TYPE a gauge\n# HELP a x\na 1\na{ 2\n" EOFL, 0,
     "type a|gauge\nhelp a|x\nseries a|{__name__=\"a\"} 1\n"
     "error line 4: expected label name, got \" \" (\"INVALID\") while parsing: \"a{ \"\n",
     0},
};

Test(ingest_expfmt_om, invalid_pages_give_prometheus_messages_with_line)
{
    cr_assert_geq(sizeof(om_invalid) / sizeof(om_invalid[0]), 30);
    run_cases(om_invalid, sizeof(om_invalid) / sizeof(om_invalid[0]));
}

static const pcase_t om_strict[] = {
    {"counter_needs_total", "# TYPE foo counter\nfoo 1\n" EOFL, 0,
     "type foo|counter\nerror line 2: sample \"foo\" does not belong to counter metric family \"foo\" "
     "(allowed "
     "suffixes |_total|_created|)\n",
     EM_EXPFMT_OM_STRICT},
    {"histogram_needs_suffix", "# TYPE h histogram\nh 1\n" EOFL, 0,
     "type h|histogram\nerror line 2: sample \"h\" does not belong to histogram metric family \"h\" (allowed "
     "suffixes |_bucket|_count|_sum|_created|)\n",
     EM_EXPFMT_OM_STRICT},
    {"gauge_total_reserved", "# TYPE g gauge\ng_total 1\n" EOFL, 0,
     "type g|gauge\nerror line 2: sample \"g_total\" does not belong to gauge metric family \"g\" (allowed "
     "suffixes ||)\n",
     EM_EXPFMT_OM_STRICT},
    {"gaugehistogram_no_created", "# TYPE g gaugehistogram\ng_created 1\n" EOFL, 0,
     "type g|gaugehistogram\nerror line 2: sample \"g_created\" does not belong to gaugehistogram metric "
     "family "
     "\"g\" (allowed suffixes |_bucket|_gcount|_gsum|)\n",
     EM_EXPFMT_OM_STRICT},
    {"info_needs_info_suffix", "# TYPE i info\ni 1\n" EOFL, 0,
     "type i|info\nerror line 2: sample \"i\" does not belong to info metric family \"i\" (allowed suffixes "
     "|_info|)\n",
     EM_EXPFMT_OM_STRICT},
};

Test(ingest_expfmt_om, strict_mode_enforces_family_suffixes)
{
    run_cases(om_strict, sizeof(om_strict) / sizeof(om_strict[0]));
}

Test(ingest_expfmt_om, exemplar_label_set_is_limited_to_128_runes)
{
    em_buf_t b = EM_BUF_INIT;
    /* "a" + 127 runes of value = 128: allowed. Then 129 with a two-byte rune: refused, sample kept. */
    em_buf_puts(&b, "x_total 1 # {a=\"");
    for (int k = 0; k < 127; k++)
        em_buf_putc(&b, 'v');
    em_buf_puts(&b, "\"} 1\nx_total 2 # {a=\"");
    for (int k = 0; k < 127; k++)
        em_buf_puts(&b, "ž");
    em_buf_puts(&b, "v\"} 1\n# EOF\n");
    em_expfmt_parser_t p;
    em_arena_t a;
    em_arena_init(&a);
    em_expfmt_parser_init(&p, b.data, b.len, EM_EXPFMT_OPENMETRICS);
    em_labels_t ls;
    double v;
    cr_assert_eq(em_expfmt_next(&p), EM_EXPFMT_SERIES);
    cr_assert_eq(em_expfmt_exemplar(&p, &a, &ls, &v, NULL, NULL), EM_OK);
    cr_assert_eq(ls.n, 1);
    cr_assert_eq(strlen(ls.v[0].value), 127);
    cr_assert_eq(em_expfmt_next(&p), EM_EXPFMT_SERIES);
    cr_assert_eq(em_expfmt_exemplar(&p, &a, &ls, &v, NULL, NULL), EM_ELIMIT);
    cr_assert_str_eq(em_expfmt_error(&p),
                     "line 2: label length for exemplar exceeds maximum of 128 UTF-8 characters");
    cr_assert_eq(em_expfmt_labels(&p, &a, &ls), EM_OK, "the sample itself is fine");
    cr_assert_eq(em_expfmt_next(&p), EM_EXPFMT_EOF);
    em_expfmt_parser_fini(&p);
    em_arena_fini(&a);
    em_buf_fini(&b);
}

Test(ingest_expfmt_om, exemplar_absent_and_duplicate_names)
{
    const char *page = "a_total 1\nb_total 1 # {x=\"1\",x=\"2\"} 3\n# EOF\n";
    em_expfmt_parser_t p;
    em_arena_t a;
    em_arena_init(&a);
    em_expfmt_parser_init(&p, page, strlen(page), EM_EXPFMT_OPENMETRICS);
    em_labels_t ls;
    cr_assert_eq(em_expfmt_next(&p), EM_EXPFMT_SERIES);
    cr_assert_eq(em_expfmt_exemplar(&p, &a, &ls, NULL, NULL, NULL), EM_ENOTFOUND);
    cr_assert_eq(em_expfmt_next(&p), EM_EXPFMT_SERIES);
    cr_assert_eq(em_expfmt_exemplar(&p, &a, &ls, NULL, NULL, NULL), EM_EINVAL);
    cr_assert_str_eq(em_expfmt_error(&p), "line 2: label name \"x\" is not unique: invalid sample");
    em_expfmt_parser_fini(&p);
    em_arena_fini(&a);
}

Test(ingest_expfmt_om, unit_and_type_accessors)
{
    const char *page = "# TYPE \"a.b_bytes\" gauge\n# UNIT a_bytes bytes\n# EOF\n";
    em_expfmt_parser_t p;
    em_expfmt_parser_init(&p, page, strlen(page), EM_EXPFMT_OPENMETRICS);
    const char *n, *u;
    size_t nl, ul;
    cr_assert_eq(em_expfmt_next(&p), EM_EXPFMT_TYPE);
    cr_assert_eq(em_expfmt_type(&p, &n, &nl), EM_EXPFMT_TYPE_GAUGE);
    cr_assert_eq(nl, 9);
    cr_assert_eq(memcmp(n, "a.b_bytes", 9), 0);
    cr_assert_eq(em_expfmt_next(&p), EM_EXPFMT_UNIT);
    em_expfmt_unit(&p, &n, &nl, &u, &ul);
    cr_assert_eq(ul, 5);
    cr_assert_eq(memcmp(u, "bytes", 5), 0);
    cr_assert_eq(em_expfmt_next(&p), EM_EXPFMT_EOF);
    em_expfmt_parser_fini(&p);
}
