// Persistent blocks (engine/block.h) on node_exporter-like data (bench/block_data.h): write and read
// throughput, open cost, compaction throughput, bytes per sample on disk. Arg = hosts (209 series each,
// 2 h at 15 s = 480 samples per series). Temporary blocks live under /tmp.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>

extern "C" {
struct bench_block_env;
bench_block_env *bench_block_env_new(size_t hosts);
void bench_block_env_free(bench_block_env *e);
uint64_t bench_block_samples(const bench_block_env *e);
uint64_t bench_block_write(bench_block_env *e, int fsync_);
uint64_t bench_block_read(bench_block_env *e);
void bench_block_open(bench_block_env *e);
uint64_t bench_block_compact(bench_block_env *e, int overlapping);
}

namespace
{

void SetRate(benchmark::State &state, double samples_per_iter)
{
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * samples_per_iter));
    state.counters["ns_per_sample"] = benchmark::Counter(
        samples_per_iter, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void BM_BlockWrite(benchmark::State &state)
{
    bench_block_env *e = bench_block_env_new(static_cast<size_t>(state.range(0)));
    const double samples = static_cast<double>(bench_block_samples(e));
    uint64_t bytes = 0;
    for (auto _ : state)
        bytes = bench_block_write(e, static_cast<int>(state.range(1)));
    SetRate(state, samples);
    state.counters["B_per_sample"] = static_cast<double>(bytes) / samples;
    state.SetLabel(state.range(1) ? "fsync" : "no fsync");
    bench_block_env_free(e);
}

void BM_BlockRead(benchmark::State &state)
{
    bench_block_env *e = bench_block_env_new(static_cast<size_t>(state.range(0)));
    uint64_t n = 0;
    for (auto _ : state)
        benchmark::DoNotOptimize(n = bench_block_read(e));
    SetRate(state, static_cast<double>(n));
    bench_block_env_free(e);
}

void BM_BlockOpen(benchmark::State &state)
{
    bench_block_env *e = bench_block_env_new(static_cast<size_t>(state.range(0)));
    for (auto _ : state)
        bench_block_open(e);
    bench_block_env_free(e);
}

void BM_BlockCompact(benchmark::State &state)
{
    bench_block_env *e = bench_block_env_new(static_cast<size_t>(state.range(0)));
    uint64_t n = 0;
    for (auto _ : state)
        n = bench_block_compact(e, static_cast<int>(state.range(1)));
    SetRate(state, static_cast<double>(n));
    state.SetLabel(state.range(1) ? "3 overlapping blocks (re-encoded)"
                                  : "3 adjacent blocks (chunks copied)");
    bench_block_env_free(e);
}

} // namespace

BENCHMARK(BM_BlockWrite)->Args({20, 0})->Args({20, 1})->Args({200, 0})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_BlockRead)->Arg(20)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_BlockOpen)->Arg(20)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_BlockCompact)->Args({20, 0})->Args({20, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
