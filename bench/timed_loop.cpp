#include "bench/timed_loop.hpp"

#include <vector>

#include "bench/bench_env.hpp"
#include "core/rng.hpp"
#include "ops/ops.hpp"
#include "ops/timer.hpp"

namespace kasmina::bench {

namespace {

// Bytes overwritten before each timed CUDA iteration: over twice the largest L2 of the GPUs
// kasmina targets (H100/H200: 50 MB).
constexpr int64_t kL2FlushBytes = 128ll << 20;

}  // namespace

BenchEnv& bench_env() {
  static BenchEnv env;
  return env;
}

double timed_loop(benchmark::State& state, const std::function<void()>& fn, const Work& work,
                  const std::function<void()>& before, int warmup) {
  const Device dev = bench_env().device;
  Tensor flush;
  if (dev.is_cuda()) flush = Tensor::empty({kL2FlushBytes / 4}, DType::f32, dev);
  for (int i = 0; i < warmup; ++i) {
    if (before) before();
    fn();
  }
  ops::synchronize(dev);
  ops::DeviceTimer timer(dev);
  double total = 0.0;
  float flush_value = 0.0f;
  for (auto _ : state) {
    if (before) before();
    if (flush.defined()) ops::fill(flush, flush_value += 1.0f);
    timer.start();
    fn();
    const double s = timer.stop();
    state.SetIterationTime(s);
    total += s;
  }
  const double iters = static_cast<double>(state.iterations());
  if (total <= 0.0 || iters <= 0.0) return 0.0;
  const BenchEnv& env = bench_env();
  if (work.bytes > 0.0) {
    const double bw = work.bytes * iters / total;
    state.counters["bytes_per_second"] = bw;
    if (env.peak_bandwidth > 0.0) state.counters["frac_of_peak_bw"] = bw / env.peak_bandwidth;
  }
  if (work.flops > 0.0) {
    const double fl = work.flops * iters / total;
    state.counters["flops_per_second"] = fl;
    if (env.peak_flops > 0.0) state.counters["frac_of_peak_flops"] = fl / env.peak_flops;
  }
  return total / iters;
}

namespace {
std::vector<std::string>& names() {
  static std::vector<std::string> n;
  return n;
}
}  // namespace

const std::vector<std::string>& registered_benchmark_names() {
  return names();
}

benchmark::internal::Benchmark* register_timed(const std::string& name,
                                               std::function<void(benchmark::State&)> fn) {
  names().push_back(name);
  return benchmark::RegisterBenchmark(name.c_str(), std::move(fn))
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

Tensor random_normal(const Shape& shape, uint64_t seed, Device dev, double scale) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = static_cast<float>(rng.normal() * scale);
  return Tensor::from_vector(v, shape, dev);
}

Tensor random_ints(const Shape& shape, int32_t bound, uint64_t seed, Device dev) {
  Rng rng(seed);
  std::vector<int32_t> v(static_cast<size_t>(shape_numel(shape)));
  for (int32_t& x : v) x = static_cast<int32_t>(rng.below(static_cast<uint64_t>(bound)));
  return Tensor::from_vector(v, shape, dev);
}

}  // namespace kasmina::bench
