// The head's inverted index: add throughput, select latency and bytes per series, on node-exporter-like
// series (80 metric names, 500 instances, cpu/mode/device labels; 100k series).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>

extern "C" {
void *bm_series_make(size_t n, bool unique);
void bm_series_free(void *s);
size_t bm_series_count(void *s);
void bm_rcu_register(void);
void *bm_index_build(void *series);
void bm_index_free(void *ix);
size_t bm_index_bytes(void *ix);
size_t bm_index_remove_tenth(void *ix, void *series);
void *bm_query_new(int which);
void bm_query_free(void *q);
size_t bm_select(void *ix, void *q);
}

static const size_t kSeries = 100000;

static void *Series()
{
    static void *s = bm_series_make(kSeries, false);
    return s;
}

static void *UniqueSeries()
{
    static void *s = bm_series_make(kSeries, true);
    return s;
}

// arg 0: node-exporter-like labels; arg 1: plus an 'id' label unique to each series.
static void BM_Add(benchmark::State &st)
{
    bm_rcu_register();
    void *s = st.range(0) ? UniqueSeries() : Series();
    size_t bytes = 0;
    for (auto _ : st) {
        void *ix = bm_index_build(s);
        st.PauseTiming();
        bytes = bm_index_bytes(ix);
        bm_index_free(ix);
        st.ResumeTiming();
    }
    st.SetItemsProcessed((int64_t)st.iterations() * (int64_t)bm_series_count(s));
    st.counters["bytes_per_series"] = (double)bytes / (double)bm_series_count(s);
}
BENCHMARK(BM_Add)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

static void BM_RemoveTenth(benchmark::State &st)
{
    bm_rcu_register();
    void *s = Series();
    size_t n = 0;
    for (auto _ : st) {
        st.PauseTiming();
        void *ix = bm_index_build(s);
        st.ResumeTiming();
        n = bm_index_remove_tenth(ix, s);
        st.PauseTiming();
        bm_index_free(ix);
        st.ResumeTiming();
    }
    st.SetItemsProcessed((int64_t)st.iterations() * (int64_t)n);
}
BENCHMARK(BM_RemoveTenth)->Unit(benchmark::kMillisecond);

static const char *const kQuery[] = {
    "{__name__=\"node_cpu_seconds_total\",mode!=\"idle\"}",
    "{__name__=~\"node_(disk|network)_metric_[0-9]+_total\"}",
    "{instance=~\"host-1.*\"}",
    "{__name__=\"node_cpu_seconds_total\",instance=~\"host-00[0-9]...\",cpu=~\"1|3\"}",
    "{__name__=~\"node_scalar_metric_0.\",job!=\"node\"}",
    "{job=\"node\"}",
};

static void BM_Select(benchmark::State &st)
{
    bm_rcu_register();
    static void *ix = bm_index_build(Series());
    void *q = bm_query_new((int)st.range(0));
    size_t n = 0;
    for (auto _ : st) {
        n = bm_select(ix, q);
        benchmark::DoNotOptimize(n);
    }
    st.SetLabel(kQuery[st.range(0)]);
    st.counters["series"] = (double)n;
    bm_query_free(q);
}
BENCHMARK(BM_Select)->DenseRange(0, 5)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
