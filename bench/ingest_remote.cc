// Remote write decoding: the hand-written zero-copy decoder against protobuf-c, snappy included, on
// node-exporter-like requests of 500, 2000 and 10000 samples (see bench/ingest_remote_shim.c and
// docs/benchmarks.md). Counter "per_sample" is the time per sample; "label_bytes" checks the workload.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <map>

extern "C" {
void *rb_new(int n_samples);
size_t rb_body_len(void *r);
size_t rb_pb_len(void *r);
double rb_avg_labels(void *r);
double rb_avg_label_bytes(void *r);
int rb_snappy(void *r);
int rb_hand(void *r);
int rb_hand_nul_pass(void *r);
int rb_hand_arena(void *r);
int rb_check(void *r);
int rb_pbc(void *r);
int rb_pbc_arena(void *r);
int rb_encode(void *r);
}

static void *request(int n)
{
    static std::map<int, void *> cache;
    auto it = cache.find(n);
    if (it != cache.end())
        return it->second;
    void *r = rb_new(n);
    rb_hand(r); // leaves a decoded request for the benchmarks that need one
    cache[n] = r;
    return r;
}

template <int (*F)(void *)> static void run(benchmark::State &st)
{
    int n = (int)st.range(0);
    void *r = request(n);
    for (auto _ : st)
        benchmark::DoNotOptimize(F(r));
    st.counters["per_sample"] = benchmark::Counter((double)n, benchmark::Counter::kIsIterationInvariantRate |
                                                                  benchmark::Counter::kInvert);
    st.counters["body_B_per_sample"] = (double)rb_body_len(r) / n;
    st.counters["pb_B_per_sample"] = (double)rb_pb_len(r) / n;
    st.counters["labels"] = rb_avg_labels(r);
    st.counters["label_bytes"] = rb_avg_label_bytes(r);
    st.SetBytesProcessed((int64_t)st.iterations() * (int64_t)rb_pb_len(r));
}

#define SIZES Arg(500)->Arg(2000)->Arg(10000)
BENCHMARK(run<rb_snappy>)->Name("snappy_uncompress")->SIZES;
BENCHMARK(run<rb_hand>)->Name("hand_decode")->SIZES;
BENCHMARK(run<rb_hand_nul_pass>)->Name("hand_nul_pass_only")->SIZES;
BENCHMARK(run<rb_hand_arena>)->Name("hand_decode_arena_copy")->SIZES;
BENCHMARK(run<rb_pbc>)->Name("protobuf_c_malloc")->SIZES;
BENCHMARK(run<rb_pbc_arena>)->Name("protobuf_c_arena")->SIZES;
BENCHMARK(run<rb_check>)->Name("series_check")->SIZES;
BENCHMARK(run<rb_encode>)->Name("encode_snappy")->SIZES;

BENCHMARK_MAIN();
