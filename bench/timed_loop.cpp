#include "bench/timed_loop.hpp"

#include <vector>

#include "bench/bench_env.hpp"
#include "bench/l2_flush.hpp"
#include "core/rng.hpp"
#include "ops/ops.hpp"
#include "ops/timer.hpp"

namespace kasmina::bench {

BenchEnv& bench_env() {
  static BenchEnv env;
  return env;
}

namespace {

// The throughput counters of `iters` timed iterations of `work` that took `total` seconds.
void set_counters(benchmark::State& state, const Work& work, double total, double iters) {
  const BenchEnv& env = bench_env();
  if (work.bytes > 0.0) {
    const double bw = work.bytes * iters / total;
    state.counters["bytes_per_second"] = bw;
    if (env.peak_bandwidth > 0.0) state.counters["frac_of_peak_bw"] = bw / env.peak_bandwidth;
  }
  if (work.flops > 0.0) {
    const double fl = work.flops * iters / total;
    state.counters["flops_per_second"] = fl;
    const double peak = work.math == ops::MathMode::bf16   ? env.peak_flops_bf16
                        : work.math == ops::MathMode::tf32 ? env.peak_flops_tf32
                                                           : env.peak_flops;
    if (peak > 0.0) state.counters["frac_of_peak_flops"] = fl / peak;
  }
}

// `warmup` untimed calls of `before` and `fn`, then each benchmark iteration timed by
// `iteration` (its seconds), and the counters; the mean seconds per iteration (0 when none ran).
double measure(benchmark::State& state, const std::function<void()>& fn, const Work& work,
               const std::function<void()>& before, int warmup,
               const std::function<double(ops::DeviceTimer&)>& iteration) {
  for (int i = 0; i < warmup; ++i) {
    if (before) before();
    fn();
  }
  ops::synchronize(bench_env().device);
  ops::DeviceTimer timer(bench_env().device);
  double total = 0.0;
  for (auto _ : state) {
    const double s = iteration(timer);
    state.SetIterationTime(s);
    total += s;
  }
  const double iters = static_cast<double>(state.iterations());
  if (total <= 0.0 || iters <= 0.0) return 0.0;
  set_counters(state, work, total, iters);
  return total / iters;
}

}  // namespace

double timed_loop(benchmark::State& state, const std::function<void()>& fn, const Work& work,
                  const std::function<void()>& before, int warmup) {
  L2Flush flush(bench_env().device);  // a cold L2 before each timed iteration (l2_flush.hpp)
  return measure(state, fn, work, before, warmup, [&](ops::DeviceTimer& timer) {
    if (before) before();
    flush();
    timer.start();
    fn();
    return timer.stop();
  });
}

double timed_steady(benchmark::State& state, const std::function<void()>& fn, int steps,
                    const Work& work, const std::function<void()>& before, int warmup) {
  return measure(state, fn, work, before, warmup, [&](ops::DeviceTimer& timer) {
    timer.start();
    for (int i = 0; i < steps; ++i) {
      if (before) before();
      fn();
    }
    return timer.stop() / steps;
  });
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
