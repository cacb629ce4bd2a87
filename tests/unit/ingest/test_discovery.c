#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/fs.h"
#include "base/metrics.h"
#include "common/tmpdir.h"
#include "ingest/discovery.h"

static em_config_t *load(const char *text)
{
    em_config_t *cfg = NULL;
    em_err_t err = {0};
    int rc = em_config_load_string(text, strlen(text), "t.yml", &cfg, &err);
    cr_assert_eq(rc, EM_OK, "config: %s", err.msg);
    return cfg;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

/* "source addr,addr {labels}" per group, joined by "; ". */
static void describe(em_discovery_t *d, char *out, size_t cap)
{
    const em_target_group_t *g;
    size_t n = em_discovery_groups(d, &g), o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const char *src = strrchr(g[i].source, '/');
        o += (size_t)snprintf(out + o, cap - o, "%s%s ", i ? "; " : "", src ? src + 1 : g[i].source);
        for (size_t k = 0; k < g[i].n_targets; k++)
            o += (size_t)snprintf(out + o, cap - o, "%s%s", k ? "," : "",
                                  em_labels_get(&g[i].targets[k], "__address__"));
        o += (size_t)snprintf(out + o, cap - o, " {");
        for (size_t k = 0; k < g[i].labels.n; k++) {
            const char *v = g[i].labels.v[k].value;
            if (strcmp(g[i].labels.v[k].name, "__meta_filepath") == 0)
                v = strrchr(v, '/') ? strrchr(v, '/') + 1 : v;
            o += (size_t)snprintf(out + o, cap - o, "%s%s=%s", k ? "," : "", g[i].labels.v[k].name, v);
        }
        o += (size_t)snprintf(out + o, cap - o, "}");
    }
}

Test(ingest_discovery, static_groups_are_numbered_with_their_labels)
{
    em_config_t *cfg = load("scrape_configs:\n  - job_name: j\n    static_configs:\n"
                            "      - targets: ['a:1', 'b:2']\n        labels: {env: prod, az: x}\n"
                            "      - targets: ['c:3']\n");
    em_discovery_t *d = em_discovery_new(cfg->scrape_configs[0]);
    em_config_free(cfg); /* the discoverer keeps copies */
    cr_assert(em_discovery_refresh(d, 1000, false));
    char got[512];
    describe(d, got, sizeof(got));
    cr_expect_str_eq(got, "0 a:1,b:2 {az=x,env=prod}; 1 c:3 {}");
    cr_expect(!em_discovery_refresh(d, 5000, false), "nothing changed");
    em_discovery_free(d);
}

Test(ingest_discovery, file_sd_reads_json_and_yaml_globs_and_follows_changes)
{
    char dir[256], cfgtext[1024], p1[300], p2[300], p3[300];
    em_test_tmpdir(dir, sizeof(dir), "sd");
    snprintf(p1, sizeof(p1), "%s/a.json", dir);
    snprintf(p2, sizeof(p2), "%s/b.yml", dir);
    snprintf(p3, sizeof(p3), "%s/c.json", dir);
    write_file(p1, "[{\"targets\": [\"h1:9100\", \"h2:9100\"], \"labels\": {\"team\": \"db\"}},"
                   " {\"targets\": [\"h3:9100\"]}]");
    write_file(p2, "- targets: ['y1:80']\n  labels:\n    zone: eu\n");
    snprintf(
        cfgtext, sizeof(cfgtext),
        "scrape_configs:\n  - job_name: j\n    file_sd_configs:\n      - files: ['%s/*.json', '%s/*.yml']\n"
        "        refresh_interval: 1h\n",
        dir, dir);
    em_config_t *cfg = load(cfgtext);
    em_discovery_t *d = em_discovery_new(cfg->scrape_configs[0]);
    em_config_free(cfg);
    char got[1024];
    cr_assert(em_discovery_refresh(d, 1000, false));
    describe(d, got, sizeof(got));
    cr_expect_str_eq(
        got, "a.json:0 h1:9100,h2:9100 {__meta_filepath=a.json,team=db}; "
             "a.json:1 h3:9100 {__meta_filepath=a.json}; b.yml:0 y1:80 {__meta_filepath=b.yml,zone=eu}");

    /* A new file matching the glob appears. */
    write_file(p3, "[{\"targets\": [\"n:1\"]}]");
    cr_expect(!em_discovery_refresh(d, 1500, false), "checked at most once a second");
    cr_assert(em_discovery_refresh(d, 2100, false));
    describe(d, got, sizeof(got));
    cr_expect(strstr(got, "c.json:0 n:1 {__meta_filepath=c.json}"), "got %s", got);

    /* A bad file keeps its previous groups and is counted. */
    em_counter_t *errs =
        em_counter_new("ember_sd_file_read_errors_total", "The number of file SD read errors.", NULL);
    uint64_t before = em_counter_get(errs);
    write_file(p1, "[{\"targets\": [\"h1:9100\"], \"labels\": {\"0bad\": \"x\"}}]  ");
    em_discovery_refresh(d, 3200, false);
    cr_expect_eq(em_counter_get(errs), before + 1);
    describe(d, got, sizeof(got));
    cr_expect(strstr(got, "a.json:0 h1:9100,h2:9100 {__meta_filepath=a.json,team=db}"), "kept: %s", got);

    /* A good change replaces them; a removed file takes its groups with it. */
    write_file(p1, "[{\"targets\": [\"h9:9100\"]}]\n\n");
    unlink(p2);
    cr_assert(em_discovery_refresh(d, 4300, false));
    describe(d, got, sizeof(got));
    cr_expect_str_eq(got, "a.json:0 h9:9100 {__meta_filepath=a.json}; c.json:0 n:1 {__meta_filepath=c.json}");
    em_discovery_free(d);
    em_test_rmdir(dir);
}

Test(ingest_discovery, parse_errors_name_the_file_and_line)
{
    em_arena_t a;
    em_arena_init(&a);
    em_target_group_t *g;
    size_t n;
    em_err_t err = {0};
    static const char yml[] = "- targets: ['a:1']\n  lables: {x: y}\n";
    cr_expect_eq(em_discovery_parse_file("f.yml", yml, strlen(yml), &a, &g, &n, &err), EM_EINVAL);
    cr_expect(strstr(err.msg, "f.yml:2:3: field lables not found"), "%s", err.msg);
    static const char notlist[] = "{\"targets\": []}";
    cr_expect_eq(em_discovery_parse_file("f.json", notlist, strlen(notlist), &a, &g, &n, &err), EM_EINVAL);
    cr_expect(strstr(err.msg, "f.json:1:1:"), "%s", err.msg);
    static const char broken[] = "[{\"targets\": [\"a:1\"]";
    cr_expect_eq(em_discovery_parse_file("f.json", broken, strlen(broken), &a, &g, &n, &err), EM_EINVAL);
    static const char empty[] = "";
    cr_expect_eq(em_discovery_parse_file("f.json", empty, 0, &a, &g, &n, &err), EM_OK);
    cr_expect_eq(n, 0);
    /* JSON is read leniently, as Go's encoding/json does: unknown keys are ignored. */
    static const char extra[] = "[{\"targets\": [\"a:1\"], \"comment\": \"x\"}]";
    cr_expect_eq(em_discovery_parse_file("f.json", extra, strlen(extra), &a, &g, &n, &err), EM_OK);
    cr_expect_eq(n, 1);
    cr_expect_str_eq(g[0].source, "f.json:0");
    em_arena_fini(&a);
}
