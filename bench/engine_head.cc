// The head: append throughput with the WAL on (one shard and all shards), the same with series refs
// cached by the producer (as a scrape loop does), WAL replay speed, and memory per series.
// Series are node_exporter-like (see engine_head_shim.c); every round appends one sample to each.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>

extern "C" {
struct bench_head;
bench_head *bench_head_new(int shards, int wal, size_t n_series);
size_t bench_head_round(bench_head *b, size_t batch_size, int use_refs);
double bench_head_bytes_per_series(bench_head *b);
double bench_rss_bytes(void);
double bench_head_rss_before(bench_head *b);
double bench_head_reopen(bench_head *b, int shards);
void bench_head_free(bench_head *b);
}

namespace
{

// Args: shards, series, batch size, use refs.
void BM_HeadAppend(benchmark::State &state)
{
    int shards = static_cast<int>(state.range(0));
    size_t series = static_cast<size_t>(state.range(1));
    bench_head *b = bench_head_new(shards, 1, series);
    bench_head_round(b, 2000, 0); // create the series outside the timed loop
    size_t samples = 0;
    for (auto _ : state)
        samples += bench_head_round(b, static_cast<size_t>(state.range(2)), static_cast<int>(state.range(3)));
    state.SetItemsProcessed(static_cast<int64_t>(samples));
    state.counters["samples_per_s"] = benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kIsRate);
    bench_head_free(b);
}
BENCHMARK(BM_HeadAppend)
    ->ArgNames({"shards", "series", "batch", "refs"})
    ->Args({1, 100000, 2000, 0})
    ->Args({2, 100000, 2000, 0})
    ->Args({2, 100000, 2000, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_HeadCreateSeries(benchmark::State &state)
{
    size_t series = static_cast<size_t>(state.range(0));
    for (auto _ : state) {
        bench_head *b = bench_head_new(2, 1, series);
        bench_head_round(b, 2000, 0);
        state.PauseTiming();
        bench_head_free(b);
        state.ResumeTiming();
    }
    state.counters["series_per_s"] =
        benchmark::Counter(static_cast<double>(series), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_HeadCreateSeries)->Arg(100000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

void BM_HeadWalReplay(benchmark::State &state)
{
    size_t series = static_cast<size_t>(state.range(0));
    int rounds = static_cast<int>(state.range(1));
    bench_head *b = bench_head_new(2, 1, series);
    for (int r = 0; r < rounds; r++)
        bench_head_round(b, 2000, 0);
    double secs = 0;
    for (auto _ : state) {
        secs = bench_head_reopen(b, 2);
        state.SetIterationTime(secs);
    }
    state.counters["samples_per_s"] = static_cast<double>(series) * rounds / secs;
    bench_head_free(b);
}
BENCHMARK(BM_HeadWalReplay)->Args({100000, 30})->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

// Memory per series: resident growth of the process and the head's own estimate, at 1M series after
// 1 and 10 samples each (BASELINE.md's table has Prometheus's figures for the same shapes).
void BM_HeadMemoryPerSeries(benchmark::State &state)
{
    size_t series = static_cast<size_t>(state.range(0));
    int samples = static_cast<int>(state.range(1));
    for (auto _ : state) {
        bench_head *b = bench_head_new(2, 0, series);
        double rss0 = bench_head_rss_before(b);
        for (int i = 0; i < samples; i++)
            bench_head_round(b, 2000, 1);
        double rss1 = bench_rss_bytes();
        state.counters["rss_bytes_per_series"] = (rss1 - rss0) / static_cast<double>(series);
        state.counters["est_bytes_per_series"] = bench_head_bytes_per_series(b);
        bench_head_free(b);
    }
}
BENCHMARK(BM_HeadMemoryPerSeries)
    ->Args({1000000, 1})
    ->Args({1000000, 10})
    ->Args({100000, 130})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
