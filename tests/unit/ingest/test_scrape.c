/* Scrape manager pieces: target labels as Prometheus builds them, URLs, the Accept header, and the
 * page -> batch path (cache, honor_labels, limits, staleness, synthetic series) against an in-memory head. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/mem.h"
#include "engine/chunk.h"
#include "engine/head.h"
#include "engine/querier.h"
#include "ingest/metastore.h"
#include "ingest/scrape_int.h"

static em_config_t *load(const char *text)
{
    em_config_t *cfg = NULL;
    em_err_t err = {0};
    int rc = em_config_load_string(text, strlen(text), "t.yml", &cfg, &err);
    cr_assert_eq(rc, EM_OK, "config: %s\n%s", err.msg, text);
    return cfg;
}

static em_labels_t set_of(em_arena_t *a, const char *const *kv)
{
    size_t n = 0;
    while (kv[2 * n])
        n++;
    em_label_t *v = em_arena_alloc(a, sizeof(em_label_t) * (n + 1));
    for (size_t i = 0; i < n; i++)
        v[i] = (em_label_t){kv[2 * i], kv[2 * i + 1]};
    em_labels_sort(v, n);
    return (em_labels_t){v, n};
}

static void fmt_labels(const em_labels_t *ls, char *out, size_t cap)
{
    em_buf_t b = EM_BUF_INIT;
    em_labels_format(ls, &b);
    snprintf(out, cap, "%s", b.data ? b.data : "");
    em_buf_fini(&b);
}

/* Build target labels for one address with group labels; returns the rc. */
static int build(const char *cfgtext, const char *const *target, const char *const *group, bool *kept,
                 char *labels, char *disc, em_err_t *err)
{
    em_config_t *cfg = load(cfgtext);
    em_arena_t a;
    em_arena_init(&a);
    em_labels_t t = set_of(&a, target), g = set_of(&a, group), ls = {0}, d = {0};
    int rc = em_scrape_target_labels(cfg->scrape_configs[0], &t, &g, &a, kept, &ls, &d, err);
    if (rc == EM_OK) {
        fmt_labels(&d, disc, 1024);
        if (*kept)
            fmt_labels(&ls, labels, 1024);
    }
    em_arena_fini(&a);
    em_config_free(cfg);
    return rc;
}

Test(ingest_scrape, target_labels_get_prometheus_defaults_and_instance)
{
    const char *cfg =
        "global: {scrape_interval: 30s}\nscrape_configs:\n  - job_name: node\n"
        "    params: {module: [if_mib], x: [a, b]}\n    static_configs: [{targets: ['h:9100']}]\n";
    const char *const t[] = {"__address__", "h:9100", NULL};
    const char *const g[] = {"__meta_filepath", "/f.json", "env", "prod", NULL};
    bool kept;
    char labels[1024], disc[1024];
    em_err_t err = {0};
    cr_assert_eq(build(cfg, t, g, &kept, labels, disc, &err), EM_OK, "%s", err.msg);
    cr_assert(kept);
    cr_expect_str_eq(
        disc, "{__address__=\"h:9100\", __meta_filepath=\"/f.json\", __metrics_path__=\"/metrics\", "
              "__param_module=\"if_mib\", __param_x=\"a\", __scheme__=\"http\", __scrape_interval__=\"30s\", "
              "__scrape_timeout__=\"10s\", env=\"prod\", job=\"node\"}");
    cr_expect_str_eq(
        labels,
        "{__address__=\"h:9100\", __metrics_path__=\"/metrics\", __param_module=\"if_mib\", "
        "__param_x=\"a\", __scheme__=\"http\", __scrape_interval__=\"30s\", __scrape_timeout__=\"10s\", "
        "env=\"prod\", instance=\"h:9100\", job=\"node\"}");
}

Test(ingest_scrape, target_label_wins_over_group_label_and_relabel_can_set_everything)
{
    const char *cfg = "scrape_configs:\n  - job_name: j\n    relabel_configs:\n"
                      "      - {source_labels: [__meta_x], target_label: instance}\n"
                      "      - {target_label: __scrape_interval__, replacement: 5s}\n"
                      "      - {target_label: __scrape_timeout__, replacement: 2s}\n"
                      "      - {target_label: __scheme__, replacement: https}\n"
                      "      - {target_label: __param_target, replacement: 'a b&c'}\n"
                      "    static_configs: [{targets: ['h:1']}]\n";
    const char *const t[] = {"__address__", "h:1", "env", "mine", "__meta_x", "inst-1", NULL};
    const char *const g[] = {"env", "group", NULL};
    bool kept;
    char labels[1024], disc[1024];
    em_err_t err = {0};
    cr_assert_eq(build(cfg, t, g, &kept, labels, disc, &err), EM_OK, "%s", err.msg);
    cr_expect(strstr(labels, "env=\"mine\""), "%s", labels);
    cr_expect(strstr(labels, "instance=\"inst-1\""), "%s", labels);
    cr_expect(!strstr(labels, "__meta_x"), "meta labels go after relabelling: %s", labels);
    cr_expect(strstr(labels, "__scrape_interval__=\"5s\""), "%s", labels);

    /* The URL: scheme and params from labels, escaped as Go's url.Values.Encode, keys sorted. */
    em_config_t *c = load(cfg);
    em_arena_t a;
    em_arena_init(&a);
    em_labels_t ts = set_of(&a, t), gs = set_of(&a, g), ls, d;
    cr_assert_eq(em_scrape_target_labels(c->scrape_configs[0], &ts, &gs, &a, &kept, &ls, &d, &err), EM_OK);
    em_buf_t url = EM_BUF_INIT;
    em_scrape_target_url(c->scrape_configs[0], &ls, &url);
    cr_expect_str_eq(url.data, "https://h:1/metrics?target=a+b%26c");
    em_buf_fini(&url);
    em_arena_fini(&a);
    em_config_free(c);
}

Test(ingest_scrape, dropped_targets_keep_their_discovered_labels)
{
    const char *cfg = "scrape_configs:\n  - job_name: j\n    relabel_configs:\n"
                      "      - {source_labels: [__address__], regex: 'drop.*', action: drop}\n"
                      "    static_configs: [{targets: ['drop-me:1']}]\n";
    const char *const t[] = {"__address__", "drop-me:1", NULL};
    const char *const g[] = {NULL};
    bool kept = true;
    char labels[1024], disc[1024];
    em_err_t err = {0};
    cr_assert_eq(build(cfg, t, g, &kept, labels, disc, &err), EM_OK);
    cr_expect(!kept);
    cr_expect(strstr(disc, "__address__=\"drop-me:1\""), "%s", disc);
}

Test(ingest_scrape, bad_targets_are_refused_with_prometheus_messages)
{
    const char *const g[] = {NULL};
    bool kept;
    char labels[1024], disc[1024];
    em_err_t err = {0};
    const char *noaddr = "scrape_configs:\n  - job_name: j\n    relabel_configs:\n"
                         "      - {target_label: __address__, replacement: ''}\n"
                         "    static_configs: [{targets: ['h:1']}]\n";
    const char *const t[] = {"__address__", "h:1", NULL};
    cr_expect_eq(build(noaddr, t, g, &kept, labels, disc, &err), EM_EINVAL);
    cr_expect_str_eq(err.msg, "no address");
    const char *slash = "scrape_configs:\n  - job_name: j\n    relabel_configs:\n"
                        "      - {target_label: __address__, replacement: 'http://h:1'}\n"
                        "    static_configs: [{targets: ['h:1']}]\n";
    cr_expect_eq(build(slash, t, g, &kept, labels, disc, &err), EM_EINVAL);
    cr_expect_str_eq(err.msg, "\"http://h:1\" is not a valid hostname");
    const char *timeout = "scrape_configs:\n  - job_name: j\n    relabel_configs:\n"
                          "      - {target_label: __scrape_timeout__, replacement: 2m}\n"
                          "    static_configs: [{targets: ['h:1']}]\n";
    cr_expect_eq(build(timeout, t, g, &kept, labels, disc, &err), EM_EINVAL);
    cr_expect_str_eq(err.msg, "scrape timeout cannot be greater than scrape interval (\"2m\" > \"1m\")");
    const char *badiv = "scrape_configs:\n  - job_name: j\n    relabel_configs:\n"
                        "      - {target_label: __scrape_interval__, replacement: 0s}\n"
                        "    static_configs: [{targets: ['h:1']}]\n";
    cr_expect_eq(build(badiv, t, g, &kept, labels, disc, &err), EM_EINVAL);
    cr_expect_str_eq(err.msg, "scrape interval cannot be 0");
}

Test(ingest_scrape, accept_header_follows_scrape_protocols_like_prometheus_3)
{
    em_config_t *c = load("scrape_configs:\n  - job_name: j\n    static_configs: [{targets: ['h:1']}]\n"
                          "  - job_name: k\n    scrape_protocols: [PrometheusText0.0.4]\n"
                          "    static_configs: [{targets: ['h:1']}]\n");
    em_buf_t b = EM_BUF_INIT;
    em_scrape_accept_header(c->scrape_configs[0], &b);
    cr_expect_str_eq(b.data, "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,"
                             "application/openmetrics-text;version=0.0.1;q=0.5,"
                             "text/plain;version=1.0.0;escaping=underscores;q=0.4,"
                             "text/plain;version=0.0.4;q=0.3,*/*;q=0.2");
    em_buf_reset(&b);
    em_scrape_accept_header(c->scrape_configs[1], &b);
    cr_expect_str_eq(b.data, "text/plain;version=0.0.4;q=0.6,*/*;q=0.5");
    em_buf_fini(&b);
    em_config_free(c);
}

/* ---- the page -> batch path against an in-memory head ---- */

typedef struct fixture {
    em_config_t *cfg;
    em_head_t *head;
    em_arena_t a;
    scrape_loop_t l;
} fixture_t;

static void fx_init(fixture_t *f, const char *job_extra)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "scrape_configs:\n  - job_name: j\n%s    static_configs: [{targets: ['h:1']}]\n", job_extra);
    f->cfg = load(text);
    em_head_opts_t ho = {.n_shards = 2};
    cr_assert_eq(em_head_open(&ho, &f->head, NULL), EM_OK);
    em_arena_init(&f->a);
    const char *const kv[] = {"__address__", "h:1", "__scheme__", "http", "instance",
                              "h:1",         "job", "j",          NULL};
    em_labels_t tl = set_of(&f->a, kv);
    scrape_loop_init(&f->l, f->cfg->scrape_configs[0], &tl);
}

static void fx_fini(fixture_t *f)
{
    scrape_loop_fini(&f->l);
    em_head_close(f->head);
    em_arena_fini(&f->a);
    em_config_free(f->cfg);
}

static int scrape(fixture_t *f, const char *page, int64_t t_ms, em_err_t *err)
{
    em_err_clear(err);
    int rc = scrape_loop_append(&f->l, page, strlen(page), "text/plain; version=0.0.4", t_ms, 0.25, EM_OK,
                                NULL, NULL, NULL, err);
    cr_assert_eq(em_head_append_wait(f->head, f->l.batch), EM_OK);
    scrape_loop_harvest(&f->l);
    return rc;
}

/* The samples of the one series named 'name' as "t=v t=v" (stale markers as "S"), its labels in 'ls'. */
static void samples_of(fixture_t *f, const char *name, char *out, size_t cap, char *ls, size_t lcap)
{
    em_rcu_thread_online();
    em_querier_t *q;
    cr_assert_eq(em_head_querier(f->head, INT64_MIN, INT64_MAX, &q, NULL), EM_OK);
    em_matcher_t m;
    cr_assert_eq(em_matcher_init(&m, EM_MATCH_EQ, "__name__", name, NULL), EM_OK);
    const em_matcher_t *ms[] = {&m};
    em_series_set_t *set;
    cr_assert_eq(em_querier_select(q, true, NULL, ms, 1, &set, NULL), EM_OK);
    size_t o = 0;
    out[0] = '\0';
    if (ls)
        ls[0] = '\0';
    while (em_series_set_next(set) == EM_OK) {
        em_labels_t l = em_series_set_labels(set);
        if (ls)
            fmt_labels(&l, ls, lcap);
        em_sample_iter_t *it;
        cr_assert_eq(em_series_set_samples(set, &it), EM_OK);
        int64_t t;
        double v;
        while (em_sample_iter_next(it) == EM_OK) {
            em_sample_iter_at(it, &t, &v);
            if (em_is_stale_nan(v))
                o += (size_t)snprintf(out + o, cap - o, "%s%lld=S", o ? " " : "", (long long)t);
            else
                o += (size_t)snprintf(out + o, cap - o, "%s%lld=%g", o ? " " : "", (long long)t, v);
        }
        em_sample_iter_free(it);
    }
    em_series_set_close(set);
    em_matcher_fini(&m);
    em_querier_close(q);
    em_rcu_thread_offline();
}

Test(ingest_scrape, vanished_series_get_stale_markers_and_synthetic_series_are_written)
{
    fixture_t f;
    fx_init(&f, "");
    em_err_t err;
    cr_assert_eq(scrape(&f, "# TYPE a counter\na 1\nb{x=\"1\"} 2\n", 1000, &err), EM_OK, "%s", err.msg);
    cr_assert_eq(scrape(&f, "a 2\n", 2000, &err), EM_OK);
    cr_assert_eq(scrape(&f, "a 3\nb{x=\"1\"} 5\n", 3000, &err), EM_OK);
    char got[512], ls[512];
    samples_of(&f, "a", got, sizeof(got), ls, sizeof(ls));
    cr_expect_str_eq(got, "1000=1 2000=2 3000=3");
    cr_expect_str_eq(ls, "{__name__=\"a\", instance=\"h:1\", job=\"j\"}");
    samples_of(&f, "b", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=2 2000=S 3000=5");
    samples_of(&f, "up", got, sizeof(got), ls, sizeof(ls));
    cr_expect_str_eq(got, "1000=1 2000=1 3000=1");
    cr_expect_str_eq(ls, "{__name__=\"up\", instance=\"h:1\", job=\"j\"}");
    samples_of(&f, "scrape_samples_scraped", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=2 2000=1 3000=2");
    samples_of(&f, "scrape_series_added", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=2 2000=0 3000=1");
    samples_of(&f, "scrape_duration_seconds", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=0.25 2000=0.25 3000=0.25");

    /* The target goes away: everything it appended last goes stale, synthetic series too. */
    scrape_loop_stale_all(&f.l, 4000);
    cr_assert_eq(em_head_append_wait(f.head, f.l.batch), EM_OK);
    scrape_loop_harvest(&f.l);
    samples_of(&f, "a", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=1 2000=2 3000=3 4000=S");
    samples_of(&f, "up", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=1 2000=1 3000=1 4000=S");
    fx_fini(&f);
}

Test(ingest_scrape, failed_scrape_marks_everything_stale_and_reports_up_0)
{
    fixture_t f;
    fx_init(&f, "");
    em_err_t err;
    cr_assert_eq(scrape(&f, "a 1\nb 2\n", 1000, &err), EM_OK);
    int rc = scrape(&f, "a 1\nb{ 2\n", 2000, &err);
    cr_expect_eq(rc, EM_EINVAL);
    cr_expect(strncmp(err.msg, "line 2: ", 8) == 0, "the parser's error names the line: %s", err.msg);
    cr_assert_eq(scrape(&f, "a 3\n", 3000, &err), EM_OK);
    /* A network failure is a failed scrape too. */
    em_err_clear(&err);
    rc = scrape_loop_append(&f.l, NULL, 0, NULL, 4000, 0.5, EM_EIO, "Get \"http://h:1/metrics\": refused",
                            NULL, NULL, &err);
    cr_assert_eq(em_head_append_wait(f.head, f.l.batch), EM_OK);
    scrape_loop_harvest(&f.l);
    cr_expect_eq(rc, EM_EIO);
    cr_expect_str_eq(err.msg, "Get \"http://h:1/metrics\": refused");
    char got[512];
    samples_of(&f, "a", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=1 2000=S 3000=3 4000=S");
    samples_of(&f, "b", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=2 2000=S");
    samples_of(&f, "up", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=1 2000=0 3000=1 4000=0");
    fx_fini(&f);
}

Test(ingest_scrape, honor_labels_false_renames_conflicts_to_exported)
{
    fixture_t f;
    fx_init(&f, "");
    em_err_t err;
    cr_assert_eq(scrape(&f, "m{job=\"other\",instance=\"x\",exported_job=\"taken\"} 1\n", 1000, &err), EM_OK,
                 "%s", err.msg);
    char got[512], ls[512];
    samples_of(&f, "m", got, sizeof(got), ls, sizeof(ls));
    cr_expect_str_eq(ls, "{__name__=\"m\", exported_exported_job=\"other\", exported_instance=\"x\", "
                         "exported_job=\"taken\", instance=\"h:1\", job=\"j\"}");
    fx_fini(&f);
}

Test(ingest_scrape, honor_labels_true_keeps_the_pages_labels)
{
    fixture_t f;
    fx_init(&f, "    honor_labels: true\n");
    em_err_t err;
    cr_assert_eq(scrape(&f, "m{job=\"other\"} 1\n", 1000, &err), EM_OK);
    char got[512], ls[512];
    samples_of(&f, "m", got, sizeof(got), ls, sizeof(ls));
    cr_expect_str_eq(ls, "{__name__=\"m\", instance=\"h:1\", job=\"other\"}");
    fx_fini(&f);
}

Test(ingest_scrape, honor_timestamps_uses_the_pages_time_and_skips_staleness)
{
    fixture_t f;
    fx_init(&f, "");
    em_err_t err;
    cr_assert_eq(scrape(&f, "a 1 500\nb 1\n", 1000, &err), EM_OK);
    cr_assert_eq(scrape(&f, "c 1\n", 2000, &err), EM_OK);
    char got[512];
    samples_of(&f, "a", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "500=1", "explicit timestamps are not tracked for staleness");
    samples_of(&f, "b", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=1 2000=S");
    fx_fini(&f);

    fx_init(&f, "    honor_timestamps: false\n");
    cr_assert_eq(scrape(&f, "a 1 500\n", 1000, &err), EM_OK);
    samples_of(&f, "a", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=1");
    fx_fini(&f);
}

Test(ingest_scrape, sample_limit_fails_the_scrape)
{
    fixture_t f;
    fx_init(&f, "    sample_limit: 2\n    metric_relabel_configs: [{source_labels: [__name__], regex: "
                "drop_me, action: drop}]\n");
    em_err_t err;
    /* Dropped series do not count against the limit, as in Prometheus. */
    cr_assert_eq(scrape(&f, "a 1\nb 1\ndrop_me 1\n", 1000, &err), EM_OK, "%s", err.msg);
    cr_expect_eq(scrape(&f, "a 1\nb 1\nc 1\n", 2000, &err), EM_ELIMIT);
    cr_expect_str_eq(err.msg, "sample limit exceeded");
    char got[512];
    samples_of(&f, "a", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=1 2000=S");
    samples_of(&f, "drop_me", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "");
    samples_of(&f, "scrape_samples_post_metric_relabeling", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=2 2000=0");
    samples_of(&f, "scrape_samples_scraped", got, sizeof(got), NULL, 0);
    cr_expect_str_eq(got, "1000=3 2000=3");
    fx_fini(&f);
}

Test(ingest_scrape, label_limits_fail_the_scrape_with_prometheus_messages)
{
    fixture_t f;
    fx_init(&f, "    label_limit: 4\n    label_value_length_limit: 5\n");
    em_err_t err;
    cr_expect_eq(scrape(&f, "m{a=\"1\",b=\"2\"} 1\n", 1000, &err), EM_ELIMIT);
    cr_expect(strstr(err.msg, "label_limit exceeded"), "%s", err.msg);
    cr_expect_eq(scrape(&f, "m{a=\"123456\"} 1\n", 2000, &err), EM_ELIMIT);
    cr_expect(strstr(err.msg, "label_value_length_limit exceeded"), "%s", err.msg);
    fx_fini(&f);
}

Test(ingest_scrape, metric_relabelling_applies_after_target_labels)
{
    fixture_t f;
    fx_init(&f, "    metric_relabel_configs:\n"
                "      - {source_labels: [job, __name__], regex: 'j;(.*)', target_label: __name__, "
                "replacement: 'j_$1'}\n"
                "      - {regex: 'tmp', action: labeldrop}\n");
    em_err_t err;
    cr_assert_eq(scrape(&f, "m{tmp=\"x\"} 1\n", 1000, &err), EM_OK, "%s", err.msg);
    char got[512], ls[512];
    samples_of(&f, "j_m", got, sizeof(got), ls, sizeof(ls));
    cr_expect_str_eq(got, "1000=1");
    cr_expect_str_eq(ls, "{__name__=\"j_m\", instance=\"h:1\", job=\"j\"}");
    fx_fini(&f);
}

Test(ingest_scrape, openmetrics_needs_eof_and_metadata_reaches_the_store)
{
    fixture_t f;
    fx_init(&f, "");
    em_metastore_t *ms = em_metastore_new();
    em_err_t err;
    const char *om = "# TYPE req_seconds counter\n# HELP req_seconds Requests.\n# UNIT req_seconds "
                     "seconds\nreq_seconds_total 3\n# EOF\n";
    int rc = scrape_loop_append(&f.l, om, strlen(om), "application/openmetrics-text; version=1.0.0", 1000,
                                0.1, EM_OK, NULL, NULL, ms, &err);
    cr_assert_eq(rc, EM_OK, "%s", err.msg);
    cr_assert_eq(em_head_append_wait(f.head, f.l.batch), EM_OK);
    scrape_loop_harvest(&f.l);
    cr_assert_eq(f.l.n_meta, 1);
    cr_expect_str_eq(f.l.meta[0].family, "req_seconds");
    cr_expect_str_eq(f.l.meta[0].type, "counter");
    cr_expect_str_eq(f.l.meta[0].help, "Requests.");
    cr_expect_str_eq(f.l.meta[0].unit, "seconds");
    em_buf_t b = EM_BUF_INIT;
    em_metastore_json(ms, "req_seconds", -1, -1, &b);
    cr_expect(strstr(b.data, "\"Requests.\""), "%s", b.data);
    em_buf_fini(&b);
    const char *noeof = "req_seconds_total 4\n";
    rc = scrape_loop_append(&f.l, noeof, strlen(noeof), "application/openmetrics-text; version=1.0.0", 2000,
                            0.1, EM_OK, NULL, NULL, ms, &err);
    cr_expect_eq(rc, EM_EINVAL);
    cr_assert_eq(em_head_append_wait(f.head, f.l.batch), EM_OK);
    scrape_loop_harvest(&f.l);
    em_metastore_free(ms);
    fx_fini(&f);
}
