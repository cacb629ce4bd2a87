// XOR chunk codec: encode and decode cost per sample on node_exporter-like data (see engine_chunk_shim.c).
// Each case works over 1000 chunks of 120 samples (about 0.2-1 MB of chunk data, like a query that
// touches 1000 series' chunks); "ns_per_sample" is the time per sample, "B_per_sample" the chunk size.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>

extern "C" {
struct bench_chunks;
bench_chunks *bench_chunks_new(int kind, size_t n_chunks);
void bench_chunks_free(bench_chunks *b);
size_t bench_chunks_samples(const bench_chunks *b);
double bench_chunks_bytes_per_sample(const bench_chunks *b);
size_t bench_chunks_encode(bench_chunks *b);
uint64_t bench_chunks_decode_iter(bench_chunks *b);
uint64_t bench_chunks_decode_sample_iter(bench_chunks *b);
uint64_t bench_chunks_decode_bulk(bench_chunks *b);
uint64_t bench_chunks_decode_batch(bench_chunks *b);
uint64_t bench_clock_probe(uint64_t n);
}

namespace
{

const char *const kKinds[] = {"counter", "int_counter", "gauge", "int_gauge", "const", "mix"};
constexpr size_t kChunks = 1000;

template <typename F> void Run(benchmark::State &state, F f)
{
    bench_chunks *b = bench_chunks_new(static_cast<int>(state.range(0)), kChunks);
    const double samples = static_cast<double>(bench_chunks_samples(b));
    for (auto _ : state)
        benchmark::DoNotOptimize(f(b));
    state.SetLabel(kKinds[state.range(0)]);
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * samples));
    state.counters["ns_per_sample"] = benchmark::Counter(
        samples, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
    state.counters["B_per_sample"] = bench_chunks_bytes_per_sample(b);
    bench_chunks_free(b);
}

void BM_ChunkEncode(benchmark::State &state)
{
    Run(state, bench_chunks_encode);
}

void BM_ChunkDecodeIter(benchmark::State &state)
{
    Run(state, bench_chunks_decode_iter);
}

void BM_ChunkDecodeSampleIter(benchmark::State &state)
{
    Run(state, bench_chunks_decode_sample_iter);
}

void BM_ChunkDecodeBulk(benchmark::State &state)
{
    Run(state, bench_chunks_decode_bulk);
}

void BM_ChunkDecodeBatch(benchmark::State &state)
{
    Run(state, bench_chunks_decode_batch);
}

// Not a codec case: a chain of dependent adds, one per cycle, so "GHz" is the clock the core ran at.
// Run it right before and after a group; the shared machine's clock moves with the neighbours' load.
void BM_ClockProbe(benchmark::State &state)
{
    constexpr uint64_t kAdds = 10000000;
    for (auto _ : state)
        benchmark::DoNotOptimize(bench_clock_probe(kAdds));
    state.counters["GHz"] =
        benchmark::Counter(static_cast<double>(kAdds) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

} // namespace

// The clock probe runs first and last, around whatever the filter selects (include "ClockProbe" in it).
BENCHMARK(BM_ClockProbe)->Name("BM_ClockProbe/before");
BENCHMARK(BM_ChunkEncode)->DenseRange(0, 5);
BENCHMARK(BM_ChunkDecodeIter)->DenseRange(0, 5);
BENCHMARK(BM_ChunkDecodeSampleIter)->DenseRange(0, 5);
BENCHMARK(BM_ChunkDecodeBulk)->DenseRange(0, 5);
BENCHMARK(BM_ChunkDecodeBatch)->DenseRange(0, 5);
BENCHMARK(BM_ClockProbe)->Name("BM_ClockProbe/after");

BENCHMARK_MAIN();
