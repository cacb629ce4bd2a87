/* Relabelling table test. Expectations follow Prometheus's documented behaviour (configuration.md,
 * relabel_config) and its model/relabel semantics; the hashmod values were computed independently with
 * Python's hashlib (last 8 bytes of md5, big-endian, modulo) and checked against a real Prometheus 2.42
 * (tests/integration/test_scrape.py compares the targets it builds with hashmod). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/config.h"
#include "base/mem.h"
#include "ingest/relabel.h"

typedef struct rcase {
    const char *name;
    const char *rules; /* YAML flow sequence of relabel configs */
    const char *in;    /* "name=value|name=value" */
    const char *want;  /* same form, sorted by name; NULL: the set is dropped */
} rcase_t;

static const rcase_t cases[] = {
    {"replace_basic", "[{source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch${1}-ch${1}'}]",
     "a=foo", "a=foo|d=choo-choo"},
    {"replace_two_sources_joined",
     "[{source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, replacement: '$1$2'}]", "a=foo|b=bar",
     "a=ooba|b=bar"},
    {"replace_braced_groups",
     "[{source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: c, replacement: '${1}_${2}'}]",
     "a=foo|b=bar", "a=foo|b=bar|c=oo_ba"},
    {"replace_no_match_changes_nothing", "[{source_labels: [a, c], regex: '(b).*', target_label: d}]",
     "a=foo|b=bar|c=baz", "a=foo|b=bar|c=baz"},
    {"replace_default_regex_copies_joined_value", "[{source_labels: [a, b], target_label: c}]", "a=foo|b=bar",
     "a=foo|b=bar|c=foo;bar"},
    {"replace_custom_separator", "[{source_labels: [a, b], separator: '-', target_label: c}]", "a=foo|b=bar",
     "a=foo|b=bar|c=foo-bar"},
    {"replace_empty_separator", "[{source_labels: [a, b], separator: '', target_label: c}]", "a=foo|b=bar",
     "a=foo|b=bar|c=foobar"},
    {"replace_empty_result_deletes_target", "[{source_labels: [a], target_label: b, replacement: ''}]",
     "a=foo|b=bar", "a=foo"},
    {"replace_variable_target",
     "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${1}', replacement: '${2}'}]",
     "a=some-name-value", "a=some-name-value|name=value"},
    {"replace_invalid_expanded_target_is_ignored",
     "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${3}', replacement: '${1}'}]",
     "a=some-name-0", "a=some-name-0"},
    {"replace_target_expanding_to_digit_name_is_ignored",
     "[{source_labels: [a], regex: 'some-([^-]+)-([^,]+)', target_label: '${2}', replacement: '${1}'}]",
     "a=some-name-0", "a=some-name-0"},
    {"replace_without_sources_sets_constant", "[{target_label: foo, replacement: bar}]", "a=1",
     "a=1|foo=bar"},
    {"replace_without_sources_default_replacement_deletes_target", "[{target_label: job}]", "a=1|job=x",
     "a=1"},
    {"replace_missing_source_is_empty",
     "[{source_labels: [z], regex: '(.*)', target_label: c, replacement: 'x${1}y'}]", "a=1", "a=1|c=xy"},
    {"replace_named_group",
     "[{source_labels: [addr], regex: '(?P<host>[^:]+):(?P<port>\\d+)', target_label: h, replacement: "
     "'$host'}]",
     "addr=node1:9100", "addr=node1:9100|h=node1"},
    {"replace_dollar_dollar_is_literal", "[{source_labels: [a], target_label: b, replacement: '$$1'}]",
     "a=foo", "a=foo|b=$1"},
    {"replace_longest_name_rule", "[{source_labels: [a], target_label: b, replacement: '$1x'}]",
     "a=foo|b=old", "a=foo"},
    {"replace_braces_end_name", "[{source_labels: [a], target_label: b, replacement: '${1}x'}]", "a=foo",
     "a=foo|b=foox"},
    {"replace_unmatched_optional_group_is_empty",
     "[{source_labels: [a], regex: '(a)?(foo)', target_label: b, replacement: '$1-$2'}]", "a=foo",
     "a=foo|b=-foo"},
    {"replace_regex_is_anchored", "[{source_labels: [a], regex: 'oo', target_label: b, replacement: 'hit'}]",
     "a=foo", "a=foo"},
    {"replace_renames_metric",
     "[{source_labels: [__name__], regex: 'old_(.*)', target_label: __name__, replacement: 'new_$1'}]",
     "__name__=old_total|x=1", "__name__=new_total|x=1"},
    {"replace_utf8_value", "[{source_labels: [a], target_label: b}]", "a=ünïcødé", "a=ünïcødé|b=ünïcødé"},
    {"replace_overwrites_existing", "[{source_labels: [a], target_label: b}]", "a=1|b=2", "a=1|b=1"},
    {"keep_matching", "[{source_labels: [a], regex: 'f.*', action: keep}]", "a=foo", "a=foo"},
    {"keep_not_matching_drops", "[{source_labels: [a], regex: 'f.*', action: keep}]", "a=boo", NULL},
    {"keep_is_anchored", "[{source_labels: [a], regex: 'o+', action: keep}]", "a=foo", NULL},
    {"keep_alternation_is_anchored_as_a_whole", "[{source_labels: [a], regex: 'a|b', action: keep}]", "a=ab",
     NULL},
    {"keep_empty_regex_matches_missing_label", "[{source_labels: [z], regex: '', action: keep}]", "a=1",
     "a=1"},
    {"keep_case_insensitive_flag", "[{source_labels: [a], regex: '(?i)FOO', action: keep}]", "a=foo",
     "a=foo"},
    {"keep_dot_matches_newline", "[{source_labels: [a], regex: 'x.y', action: keep}]", "a=x\ny", "a=x\ny"},
    {"drop_matching", "[{source_labels: [a], regex: 'f.*', action: drop}]", "a=foo", NULL},
    {"drop_not_matching_keeps", "[{source_labels: [a], regex: 'f.*', action: drop}]", "a=boo", "a=boo"},
    {"drop_missing_label_with_nonempty_regex_keeps", "[{source_labels: [z], regex: '.+', action: drop}]",
     "a=1", "a=1"},
    {"drop_joined_with_missing_second", "[{source_labels: [a, z], regex: 'foo;', action: drop}]", "a=foo",
     NULL},
    {"keepequal_equal_keeps", "[{source_labels: [a], target_label: b, action: keepequal}]", "a=1|b=1",
     "a=1|b=1"},
    {"keepequal_different_drops", "[{source_labels: [a], target_label: b, action: keepequal}]", "a=1|b=2",
     NULL},
    {"keepequal_both_absent_keeps", "[{source_labels: [x], target_label: y, action: keepequal}]", "a=1",
     "a=1"},
    {"keepequal_joined_sources", "[{source_labels: [a, b], target_label: c, action: keepequal}]",
     "a=1|b=2|c=1;2", "a=1|b=2|c=1;2"},
    {"dropequal_equal_drops", "[{source_labels: [a], target_label: b, action: dropequal}]", "a=1|b=1", NULL},
    {"dropequal_different_keeps", "[{source_labels: [a], target_label: b, action: dropequal}]", "a=1|b=2",
     "a=1|b=2"},
    {"dropequal_both_absent_drops", "[{source_labels: [x], target_label: y, action: dropequal}]", "a=1",
     NULL},
    {"hashmod_foo_1000", "[{source_labels: [a], modulus: 1000, target_label: d, action: hashmod}]", "a=foo",
     "a=foo|d=696"},
    {"hashmod_joined_7", "[{source_labels: [a, b], modulus: 7, target_label: d, action: hashmod}]",
     "a=foo|b=bar", "a=foo|b=bar|d=6"},
    {"hashmod_address_16",
     "[{source_labels: [__address__], modulus: 16, target_label: __tmp_hash, action: hashmod}]",
     "__address__=10.0.0.1:9100", "__address__=10.0.0.1:9100|__tmp_hash=13"},
    {"hashmod_modulus_1_is_zero", "[{source_labels: [a], modulus: 1, target_label: d, action: hashmod}]",
     "a=foo", "a=foo|d=0"},
    {"hashmod_then_keep_shard_kept",
     "[{source_labels: [__address__], modulus: 2, target_label: __tmp_hash, action: hashmod},"
     " {source_labels: [__tmp_hash], regex: '1', action: keep}]",
     "__address__=localhost:9100", "__address__=localhost:9100|__tmp_hash=1"},
    {"hashmod_then_keep_shard_dropped",
     "[{source_labels: [__address__], modulus: 2, target_label: __tmp_hash, action: hashmod},"
     " {source_labels: [__tmp_hash], regex: '0', action: keep}]",
     "__address__=node1:9100", NULL},
    {"labelmap_default_replacement", "[{regex: '__meta_(my.*)', action: labelmap}]",
     "__meta_my_bar=aaa|__meta_my_baz=bbb|__meta_other=ccc|a=1",
     "__meta_my_bar=aaa|__meta_my_baz=bbb|__meta_other=ccc|a=1|my_bar=aaa|my_baz=bbb"},
    {"labelmap_custom_replacement", "[{regex: '__meta_(.+)', replacement: '${1}_x', action: labelmap}]",
     "__meta_a=1|b=2", "__meta_a=1|a_x=1|b=2"},
    {"labelmap_overwrites_existing", "[{regex: '__meta_(.+)', action: labelmap}]", "__meta_b=new|b=old",
     "__meta_b=new|b=new"},
    {"labelmap_no_match_unchanged", "[{regex: 'zzz(.*)', action: labelmap}]", "a=1|b=2", "a=1|b=2"},
    {"labeldrop_matching", "[{regex: 'b.*', action: labeldrop}]", "a=1|b1=2|b2=3|c=4", "a=1|c=4"},
    {"labeldrop_is_anchored", "[{regex: 'b', action: labeldrop}]", "a=1|ab=2|b=3", "a=1|ab=2"},
    {"labelkeep_matching", "[{regex: '(b.*|a)', action: labelkeep}]", "a=1|b1=2|c=3", "a=1|b1=2"},
    {"labelkeep_nothing_matches_empties_set", "[{regex: 'zzz', action: labelkeep}]", "a=1|b=2", ""},
    {"lowercase", "[{source_labels: [foo], target_label: bar, action: lowercase}]", "foo=ABC-Def_1",
     "bar=abc-def_1|foo=ABC-Def_1"},
    {"uppercase", "[{source_labels: [foo], target_label: bar, action: uppercase}]", "foo=aBc-1",
     "bar=ABC-1|foo=aBc-1"},
    {"lowercase_missing_source_deletes_target",
     "[{source_labels: [z], target_label: bar, action: lowercase}]", "bar=X|foo=1", "foo=1"},
    {"uppercase_joined_sources", "[{source_labels: [a, b], target_label: c, action: uppercase}]", "a=x|b=y",
     "a=x|b=y|c=X;Y"},
    {"rules_apply_in_order",
     "[{source_labels: [a], target_label: b, replacement: 'set'}, {source_labels: [b], regex: 'set', action: "
     "drop}]",
     "a=1", NULL},
    {"later_rule_sees_earlier_change",
     "[{source_labels: [a], regex: '(.*)', target_label: b, replacement: 'x$1'},"
     " {source_labels: [b], target_label: c, action: uppercase}]",
     "a=y", "a=y|b=xy|c=XY"},
    {"metric_relabel_drop_by_name", "[{source_labels: [__name__], regex: 'go_.*', action: drop}]",
     "__name__=go_goroutines|job=a", NULL},
};

/* Parse "n=v|n=v" into a sorted label array (strings in the arena). */
static em_labels_t parse_set(const char *s, em_arena_t *a)
{
    em_label_t *v = em_arena_alloc(a, sizeof(em_label_t) * 32);
    size_t n = 0;
    char *copy = em_arena_strdup(a, s);
    char *p = copy;
    while (*p) {
        char *bar = strchr(p, '|');
        if (bar)
            *bar = '\0';
        char *eq = strchr(p, '=');
        cr_assert(eq, "bad set %s", s);
        *eq = '\0';
        v[n].name = p;
        v[n].value = eq + 1;
        n++;
        if (!bar)
            break;
        p = bar + 1;
    }
    em_labels_sort(v, n);
    return (em_labels_t){v, n};
}

static void format_set(em_labels_t ls, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < ls.n; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s=%s", i ? "|" : "", ls.v[i].name, ls.v[i].value);
}

static em_config_t *rules_config(const char *rules)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "scrape_configs:\n  - job_name: t\n    relabel_configs: %s\n    static_configs: [{targets: "
             "['x:1']}]\n",
             rules);
    em_config_t *cfg = NULL;
    em_err_t err = {0};
    int rc = em_config_load_string(text, strlen(text), "t.yml", &cfg, &err);
    cr_assert_eq(rc, EM_OK, "config error %s for\n%s", err.msg, text);
    return cfg;
}

Test(ingest_relabel, table)
{
    cr_assert_geq(EM_ARRAY_LEN(cases), 50);
    for (size_t i = 0; i < EM_ARRAY_LEN(cases); i++) {
        const rcase_t *c = &cases[i];
        em_arena_t a;
        em_arena_init(&a);
        em_config_t *cfg = rules_config(c->rules);
        const em_scrape_config_t *sc = cfg->scrape_configs[0];
        em_labels_t in = parse_set(c->in, &a);
        em_labels_builder_t b;
        em_labels_builder_init(&b, &in);
        bool keep = em_relabel_process(&b, sc->relabel_configs, sc->n_relabel_configs, &a);
        if (!c->want) {
            cr_expect(!keep, "case %s: expected the set to be dropped", c->name);
        } else {
            cr_expect(keep, "case %s: expected the set to be kept", c->name);
            char got[1024];
            format_set(em_labels_builder_labels(&b), got, sizeof(got));
            cr_expect_str_eq(got, c->want, "case %s", c->name);
        }
        em_labels_builder_fini(&b);
        em_config_free(cfg);
        em_arena_fini(&a);
    }
}

Test(ingest_relabel, hashmod_matches_prometheus_md5_tail)
{
    /* md5("foo") = acbd18db4cc2f85cedef654fccc4a4d8; last 8 bytes 0xedef654fccc4a4d8. */
    cr_expect_eq(em_relabel_hashmod("foo", 3, UINT64_MAX), 0xedef654fccc4a4d8ULL);
    cr_expect_eq(em_relabel_hashmod("foo", 3, 1000), 0xedef654fccc4a4d8ULL % 1000);
    /* md5("") = d41d8cd98f00b204e9800998ecf8427e */
    cr_expect_eq(em_relabel_hashmod("", 0, UINT64_MAX), 0xe9800998ecf8427eULL);
}
