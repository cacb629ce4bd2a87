// Parse throughput of ingest/expfmt on a generated node_exporter page (see ingest_expfmt_shim.c):
// series-only iteration (what the scrape loop does for series its cache knows) and with label parsing
// (new series), in the text format and in OpenMetrics, with and without the fast path; and the writer.
// Counters: samples/s and bytes/s per core (single thread).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdlib>

extern "C" {
char *bench_expfmt_page(int om, size_t *len, size_t *n_samples);
size_t bench_expfmt_parse(const char *page, size_t len, int om, int with_labels, unsigned flags, void *arena);
void *bench_expfmt_arena_new(void);
void bench_expfmt_arena_free(void *a);
size_t bench_expfmt_write(size_t n_series);
}

static void parse(benchmark::State &state, int om, int with_labels, unsigned flags)
{
    size_t len = 0, n = 0;
    char *page = bench_expfmt_page(om, &len, &n);
    void *arena = bench_expfmt_arena_new();
    if (bench_expfmt_parse(page, len, om, with_labels, flags, arena) != n) {
        state.SkipWithError("page does not parse");
        return;
    }
    for (auto _ : state)
        benchmark::DoNotOptimize(bench_expfmt_parse(page, len, om, with_labels, flags, arena));
    state.SetBytesProcessed((int64_t)(state.iterations() * len));
    state.SetItemsProcessed((int64_t)(state.iterations() * n));
    state.counters["samples/s"] =
        benchmark::Counter((double)(state.iterations() * n), benchmark::Counter::kIsRate);
    state.counters["page_samples"] = (double)n;
    state.counters["page_bytes"] = (double)len;
    bench_expfmt_arena_free(arena);
    free(page);
}

static const unsigned kExact = 1u << 31; // EM_EXPFMT_NO_FASTPATH

static void BM_ExpfmtText_SeriesOnly(benchmark::State &s)
{
    parse(s, 0, 0, 0);
}
static void BM_ExpfmtText_WithLabels(benchmark::State &s)
{
    parse(s, 0, 1, 0);
}
static void BM_ExpfmtText_SeriesOnly_ExactPath(benchmark::State &s)
{
    parse(s, 0, 0, kExact);
}
static void BM_ExpfmtOpenMetrics_SeriesOnly(benchmark::State &s)
{
    parse(s, 1, 0, 0);
}
static void BM_ExpfmtOpenMetrics_WithLabels(benchmark::State &s)
{
    parse(s, 1, 1, 0);
}
static void BM_ExpfmtOpenMetrics_SeriesOnly_ExactPath(benchmark::State &s)
{
    parse(s, 1, 0, kExact);
}

static void BM_ExpfmtWrite(benchmark::State &state)
{
    size_t bytes = 0;
    for (auto _ : state)
        bytes = bench_expfmt_write(1000);
    state.SetBytesProcessed((int64_t)(state.iterations() * bytes));
    state.counters["samples/s"] =
        benchmark::Counter((double)(state.iterations() * 1000), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_ExpfmtText_SeriesOnly);
BENCHMARK(BM_ExpfmtText_WithLabels);
BENCHMARK(BM_ExpfmtText_SeriesOnly_ExactPath);
BENCHMARK(BM_ExpfmtOpenMetrics_SeriesOnly);
BENCHMARK(BM_ExpfmtOpenMetrics_WithLabels);
BENCHMARK(BM_ExpfmtOpenMetrics_SeriesOnly_ExactPath);
BENCHMARK(BM_ExpfmtWrite);

BENCHMARK_MAIN();
