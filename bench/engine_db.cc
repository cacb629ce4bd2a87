// The db over blocks: compaction throughput (three 2-hour blocks merged into one 6-hour block, as the
// leveled compactor does) and a 7-day range query over a week of daily blocks. Series are
// node_cpu_seconds_total-like counters scraped every 15 s (see engine_db_shim.c).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

extern "C" {
struct bench_db;
int bench_db_make(const char *dir, size_t n_series, size_t n_blocks, int64_t block_ms, size_t *samples);
bench_db *bench_db_open(const char *dir, int64_t min_block_ms, int64_t max_block_ms);
void bench_db_close(bench_db *b);
size_t bench_db_n_blocks(bench_db *b);
int bench_db_maintain(bench_db *b);
size_t bench_db_query(bench_db *b, const char *inst_re, int64_t mint, int64_t maxt);
int bench_db_copy(const char *from, const char *to);
void bench_db_remove(const char *dir);
}

namespace
{

constexpr int64_t kHour = 3600 * 1000LL;
constexpr int64_t kDay = 24 * kHour;

// Arg: series. Four 2h blocks; the leveled compactor merges the oldest three into one 6h block.
void BM_DbCompact(benchmark::State &state)
{
    size_t series = static_cast<size_t>(state.range(0));
    std::string tmpl = "/tmp/ember-bench-db-compact-tmpl", work = "/tmp/ember-bench-db-compact";
    size_t total = 0;
    bench_db_make(tmpl.c_str(), series, 4, 2 * kHour, &total);
    // bench/db_compact_compare.py hands the same four blocks to Prometheus.
    if (const char *keep = std::getenv("EMBER_BENCH_DB_KEEP"))
        bench_db_copy(tmpl.c_str(), keep);
    size_t merged = total / 4 * 3, samples = 0;
    for (auto _ : state) {
        state.PauseTiming();
        bench_db_copy(tmpl.c_str(), work.c_str());
        bench_db *b = bench_db_open(work.c_str(), 2 * kHour, 6 * kHour);
        state.ResumeTiming();
        if (bench_db_maintain(b) != 0 || bench_db_n_blocks(b) != 2)
            state.SkipWithError("compaction did not run");
        samples += merged;
        state.PauseTiming();
        bench_db_close(b);
        state.ResumeTiming();
    }
    state.counters["samples_per_s"] =
        benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kIsRate);
    bench_db_remove(tmpl.c_str());
    bench_db_remove(work.c_str());
}
BENCHMARK(BM_DbCompact)
    ->ArgName("series")
    ->Arg(1000)
    ->Arg(8000)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Args: series in the db, hosts selected (8 series each; 0 = all). Seven 1-day blocks, query [0, 7d].
void BM_DbQuery7d(benchmark::State &state)
{
    size_t series = static_cast<size_t>(state.range(0));
    std::string dir = "/tmp/ember-bench-db-query";
    size_t total = 0;
    bench_db_make(dir.c_str(), series, 7, kDay, &total);
    bench_db *b = bench_db_open(dir.c_str(), 2 * kHour, 31 * kDay);
    std::string sel =
        state.range(1) == 0 ? ".*" : "host-0000[0-" + std::to_string(state.range(1) - 1) + "]:9100";
    size_t samples = 0;
    for (auto _ : state)
        samples += bench_db_query(b, sel.c_str(), 0, 7 * kDay);
    state.counters["samples_per_s"] =
        benchmark::Counter(static_cast<double>(samples), benchmark::Counter::kIsRate);
    state.counters["samples_per_query"] =
        benchmark::Counter(static_cast<double>(samples) / static_cast<double>(state.iterations()));
    bench_db_close(b);
    bench_db_remove(dir.c_str());
}
BENCHMARK(BM_DbQuery7d)
    ->ArgNames({"series", "hosts"})
    ->Args({800, 1})
    ->Args({800, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

} // namespace

BENCHMARK_MAIN();
