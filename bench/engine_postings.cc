// Postings intersection throughput: scalar merge vs SSE4.1 vs AVX2 vs galloping, on lists of 1M refs.
// Items processed are input elements (na + nb), so items/s / 1e9 is elements per nanosecond.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>

extern "C" {
void *bp_new(size_t na, size_t nb, uint32_t universe, uint64_t seed);
void bp_free(void *p);
int bp_available(int impl);
size_t bp_intersect(void *p, int impl);
size_t bp_union(void *p);
size_t bp_difference(void *p);
size_t bp_difference_avx2(void *p);
size_t bp_difference_skewed_avx2(void *p);
}

static const char *const kImpl[] = {"scalar",   "sse41",       "avx2",         "gallop",
                                    "dispatch", "skewed_avx2", "branchy_merge"};

// args: impl, na, nb, universe
static void BM_Intersect(benchmark::State &st)
{
    int impl = (int)st.range(0);
    size_t na = (size_t)st.range(1), nb = (size_t)st.range(2);
    if (!bp_available(impl)) {
        st.SkipWithError("CPU lacks this instruction set");
        return;
    }
    void *c = bp_new(na, nb, (uint32_t)st.range(3), 12345);
    size_t n = 0;
    for (auto _ : st) {
        n = bp_intersect(c, impl);
        benchmark::DoNotOptimize(n);
    }
    st.SetItemsProcessed((int64_t)st.iterations() * (int64_t)(na + nb));
    st.SetLabel(kImpl[impl]);
    st.counters["result"] = (double)n;
    bp_free(c);
}

static void IntersectArgs(benchmark::internal::Benchmark *b)
{
    for (int impl = 0; impl < 7; impl++) {
        b->Args({impl, 1000000, 1000000, 2000000});  // equal sizes, density 1/2: ~25% common
        b->Args({impl, 1000000, 1000000, 1100000});  // dense: ~83% common
        b->Args({impl, 1000000, 1000000, 20000000}); // sparse: ~5% common
        b->Args({impl, 1000000, 10000, 2000000});    // skewed 100:1
    }
}
// The ratio at which galloping beats the block merge (EM_POSTINGS_GALLOP_RATIO).
static void RatioArgs(benchmark::internal::Benchmark *b)
{
    for (int impl : {0, 2, 3, 5})
        for (int nb : {250000, 100000, 50000, 25000, 10000, 4000, 2000, 1000})
            b->Args({impl, 1000000, nb, 2000000});
}
BENCHMARK(BM_Intersect)
    ->Name("BM_IntersectRatio")
    ->Apply(RatioArgs)
    ->ArgNames({"impl", "na", "nb", "universe"})
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_Intersect)
    ->Apply(IntersectArgs)
    ->ArgNames({"impl", "na", "nb", "universe"})
    ->Unit(benchmark::kMicrosecond);

static void BM_Union(benchmark::State &st)
{
    void *c = bp_new(1000000, 1000000, 2000000, 99);
    for (auto _ : st)
        benchmark::DoNotOptimize(bp_union(c));
    st.SetItemsProcessed((int64_t)st.iterations() * 2000000);
    bp_free(c);
}
BENCHMARK(BM_Union)->Unit(benchmark::kMicrosecond);

static void BM_Difference(benchmark::State &st)
{
    void *c = bp_new((size_t)st.range(0), (size_t)st.range(1), 2000000, 98);
    for (auto _ : st)
        benchmark::DoNotOptimize(bp_difference(c));
    st.SetItemsProcessed((int64_t)st.iterations() * (st.range(0) + st.range(1)));
    bp_free(c);
}
BENCHMARK(BM_Difference)
    ->Args({1000000, 1000000})
    ->Args({1000000, 10000})
    ->Args({1000000, 250000})
    ->Args({1000000, 125000})
    ->Args({1000000, 62500})
    ->Args({1000000, 31250})
    ->Args({250000, 1000000})
    ->Args({125000, 1000000})
    ->Args({62500, 1000000})
    ->Args({31250, 1000000})
    ->Unit(benchmark::kMicrosecond);

static void BM_DifferenceAvx2(benchmark::State &st)
{
    if (!bp_available(2)) {
        st.SkipWithError("CPU lacks AVX2");
        return;
    }
    void *c = bp_new((size_t)st.range(0), (size_t)st.range(1), 2000000, 98);
    for (auto _ : st)
        benchmark::DoNotOptimize(bp_difference_avx2(c));
    st.SetItemsProcessed((int64_t)st.iterations() * (st.range(0) + st.range(1)));
    bp_free(c);
}
BENCHMARK(BM_DifferenceAvx2)
    ->Args({1000000, 1000000})
    ->Args({1000000, 125000})
    ->Args({1000000, 62500})
    ->Args({1000000, 31250})
    ->Args({1000000, 10000})
    ->Args({125000, 1000000})
    ->Args({62500, 1000000})
    ->Args({31250, 1000000})
    ->Args({10000, 1000000})
    ->Unit(benchmark::kMicrosecond);

static void BM_DifferenceSkewedAvx2(benchmark::State &st)
{
    if (!bp_available(2)) {
        st.SkipWithError("CPU lacks AVX2");
        return;
    }
    void *c = bp_new((size_t)st.range(0), (size_t)st.range(1), 2000000, 98);
    for (auto _ : st)
        benchmark::DoNotOptimize(bp_difference_skewed_avx2(c));
    st.SetItemsProcessed((int64_t)st.iterations() * (st.range(0) + st.range(1)));
    bp_free(c);
}
BENCHMARK(BM_DifferenceSkewedAvx2)
    ->Args({125000, 1000000})
    ->Args({62500, 1000000})
    ->Args({31250, 1000000})
    ->Args({10000, 1000000})
    ->Args({1000, 1000000})
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
