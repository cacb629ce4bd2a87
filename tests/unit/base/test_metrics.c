#include <criterion/criterion.h>
#include <string.h>

#include "base/metrics.h"

static void collect(em_buf_t *out, void *arg)
{
    em_buf_printf(out, "test_collected{shard=\"%d\"} 7\n", *(int *)arg);
}

Test(base_metrics, renders_text_format_sorted_with_help_and_type)
{
    em_counter_t *c = em_counter_new("test_requests_total", "Requests.", "code=\"200\"");
    em_counter_add(c, 3);
    cr_assert_eq(em_counter_new("test_requests_total", "Requests.", "code=\"200\""), c, "get-or-create");
    em_gauge_t *g = em_gauge_new("test_temperature", "Temp.", NULL);
    em_gauge_set(g, 1.5);
    static const double b[] = {0.1, 1};
    em_histogram_t *h = em_histogram_new("test_latency_seconds", "Latency.", "h=\"x\"", b, 2);
    em_histogram_observe(h, 0.05);
    em_histogram_observe(h, 0.5);
    em_histogram_observe(h, 5);
    int shard = 4;
    em_metrics_collector_add("test_collected", "Collected.", EM_METRIC_GAUGE, collect, &shard);

    em_buf_t out = EM_BUF_INIT;
    em_metrics_render(&out);
    const char *s = out.data;
    cr_assert(strstr(s, "# HELP test_requests_total Requests.\n# TYPE test_requests_total counter\n"
                        "test_requests_total{code=\"200\"} 3\n"));
    cr_assert(strstr(s, "test_temperature 1.5\n"));
    cr_assert(strstr(s, "test_latency_seconds_bucket{h=\"x\",le=\"0.1\"} 1\n"));
    cr_assert(strstr(s, "test_latency_seconds_bucket{h=\"x\",le=\"1\"} 2\n"));
    cr_assert(strstr(s, "test_latency_seconds_bucket{h=\"x\",le=\"+Inf\"} 3\n"));
    cr_assert(strstr(s, "test_latency_seconds_sum{h=\"x\"} 5.55\n"));
    cr_assert(strstr(s, "test_latency_seconds_count{h=\"x\"} 3\n"));
    cr_assert(strstr(s, "test_collected{shard=\"4\"} 7\n"));
    cr_assert(strstr(s, "# HELP test_latency") > strstr(s, "# HELP test_collected"), "families sorted by name");
    cr_assert(strstr(s, "# HELP test_temperature") > strstr(s, "# HELP test_requests"), "families sorted by name");
    em_buf_fini(&out);

    em_metrics_collector_remove(collect, &shard);
    em_metrics_render(&out);
    cr_assert_null(strstr(out.data, "test_collected{"));
    em_buf_fini(&out);
}
