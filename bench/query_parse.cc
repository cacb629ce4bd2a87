// PromQL parsing (and printing) throughput on typical dashboard and alerting expressions, the work
// every /api/v1/query and format_query request does before evaluation. Each iteration parses one
// expression into a reused arena, compiles its label matchers and type-checks it.
#include <benchmark/benchmark.h>

#include <cstring>

extern "C" {
long bench_parse_once(const char *expr, int print);
}

namespace
{

const char *const kExprs[] = {
    "up",
    "sum by (job) (rate(http_requests_total{job=\"api\",code=~\"5..\"}[5m]))",
    "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))",
    "sum by (job, instance) (rate(node_cpu_seconds_total{mode!=\"idle\"}[5m])) / on (job, instance) "
    "group_left () count by (job, instance) (node_cpu_seconds_total{mode=\"idle\"}) > 0.8",
    "max_over_time(deriv(rate(distance_covered_total[5s])[30s:5s])[10m:] @ end() offset 1h)",
};

void BM_Parse(benchmark::State &state)
{
    const char *e = kExprs[state.range(0)];
    state.SetLabel(e);
    for (auto _ : state)
        if (bench_parse_once(e, 0) < 0)
            state.SkipWithError("parse error");
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(std::strlen(e)));
}
BENCHMARK(BM_Parse)->DenseRange(0, 4)->Unit(benchmark::kMicrosecond);

void BM_ParseAndPrint(benchmark::State &state)
{
    const char *e = kExprs[state.range(0)];
    state.SetLabel(e);
    for (auto _ : state)
        if (bench_parse_once(e, 1) < 0)
            state.SkipWithError("parse error");
}
BENCHMARK(BM_ParseAndPrint)->DenseRange(1, 3, 2)->Unit(benchmark::kMicrosecond);

} // namespace

BENCHMARK_MAIN();
