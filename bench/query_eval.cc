// PromQL evaluation latency on dashboard-like queries over an in-memory head (see query_eval_shim.c):
// 10,000 counters and 100 x 11 classic histogram buckets at 15 s, range queries over 1 h at 15 s steps
// (241 steps). bench/query_compare.py runs the same queries on Prometheus 2.42 over the same samples.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" {
struct bench_query;
bench_query *bench_query_new(void);
long bench_query_run(bench_query *q, const char *expr, long step_ms);
void bench_query_free(bench_query *q);
int bench_query_dump(const char *path);
}

namespace
{

bench_query *data()
{
    static bench_query *q = bench_query_new();
    return q;
}

const char *const kQueries[] = {
    "sum by (job) (rate(x_total[5m]))",
    "topk(10, rate(x_total[5m]))",
    "histogram_quantile(0.99, sum by (le) (rate(req_seconds_bucket[5m])))",
    "sum(x_total)",
    "x_total{job=\"job-3\"} / on(instance, job) x_total{job=\"job-3\"}",
};

void BM_QueryRange(benchmark::State &state)
{
    const char *expr = kQueries[state.range(0)];
    state.SetLabel(expr);
    bench_query *q = data(); // build the head outside the timed loop
    long n = 0;
    for (auto _ : state)
        n = bench_query_run(q, expr, 15000);
    if (n < 0)
        state.SkipWithError("query failed");
    state.counters["series"] = static_cast<double>(n);
}
BENCHMARK(BM_QueryRange)->DenseRange(0, 4)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_QueryInstant(benchmark::State &state)
{
    const char *expr = kQueries[state.range(0)];
    state.SetLabel(expr);
    bench_query *q = data();
    long n = 0;
    for (auto _ : state)
        n = bench_query_run(q, expr, 0);
    if (n < 0)
        state.SkipWithError("query failed");
}
BENCHMARK(BM_QueryInstant)->DenseRange(0, 2)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace

int main(int argc, char **argv)
{
    // `bench_query_eval --dump FILE` writes the data set as OpenMetrics for promtool.
    if (argc == 3 && std::string_view(argv[1]) == "--dump")
        return bench_query_dump(argv[2]) == 0 ? 0 : 1;
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
