#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "ingest/metastore.h"

static char *json(em_metastore_t *m, const char *metric, long limit, long per)
{
    static char out[8192];
    em_buf_t b = EM_BUF_INIT;
    em_metastore_json(m, metric, limit, per, &b);
    snprintf(out, sizeof(out), "%s", b.data ? b.data : "");
    em_buf_fini(&b);
    return out;
}

Test(ingest_metastore, keeps_distinct_entries_newest_first_sorted_by_name)
{
    em_metastore_t *m = em_metastore_new();
    em_metastore_add(m, "up", "gauge", "Up.", "");
    em_metastore_add(m, "b_total", "counter", "B \"quoted\".", "");
    em_metastore_add(m, "up", "gauge", "Up.", "");
    em_metastore_add(m, "up", "gauge", "Up, changed.", "");
    cr_assert_eq(em_metastore_families(m), 2);
    cr_assert_str_eq(json(m, NULL, -1, -1),
                     "{\"b_total\":[{\"type\":\"counter\",\"help\":\"B \\\"quoted\\\".\",\"unit\":\"\"}],"
                     "\"up\":[{\"type\":\"gauge\",\"help\":\"Up, changed.\",\"unit\":\"\"},"
                     "{\"type\":\"gauge\",\"help\":\"Up.\",\"unit\":\"\"}]}");
    cr_assert_str_eq(json(m, "up", -1, 1), "{\"up\":[{\"type\":\"gauge\",\"help\":\"Up, changed.\",\"unit\":\"\"}]}");
    cr_assert_str_eq(json(m, NULL, 1, -1), "{\"b_total\":[{\"type\":\"counter\",\"help\":\"B \\\"quoted\\\".\",\"unit\":\"\"}]}");
    cr_assert_str_eq(json(m, "nope", -1, -1), "{}");
    em_metastore_free(m);
}

Test(ingest_metastore, bounds_entries_per_family_and_grows_its_table)
{
    em_metastore_t *m = em_metastore_new();
    char help[32], name[32];
    for (int i = 0; i < 20; i++) {
        snprintf(help, sizeof(help), "help %d", i);
        em_metastore_add(m, "x", "gauge", help, "");
    }
    char *j = json(m, "x", -1, -1);
    cr_assert(strstr(j, "help 19"));
    cr_assert_null(strstr(j, "help 11\""), "only the newest %d are kept", EM_METASTORE_MAX_PER_FAMILY);
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "m_%d", i);
        em_metastore_add(m, name, "counter", "", "");
    }
    cr_assert_eq(em_metastore_families(m), 5001);
    em_metastore_free(m);
}
