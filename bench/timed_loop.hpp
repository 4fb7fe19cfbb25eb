// The measurement loop shared by the benchmarks: each iteration is timed on the device
// (ops::DeviceTimer: CUDA events, or a steady clock on the CPU) and reported as manual time.
// On CUDA the L2 cache is overwritten before every timed iteration, so results never come from
// a cache warmed by the previous iteration (H100: 50 MB of L2); the overwrite is queued before
// the start event, which also keeps the device busy while the host queues the timed work.
#pragma once
#include <benchmark/benchmark.h>

#include <functional>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "ops/ops.hpp"

namespace kasmina::bench {

// Work of one iteration, for the throughput counters.
struct Work {
  double bytes = 0.0;  // bytes read + written
  double flops = 0.0;  // floating-point operations
  // The math the FLOPs run in: frac_of_peak_flops is relative to the run's GEMM peak of that
  // math (bench_env(): fp32, TF32 or bf16 tensor cores).
  ops::MathMode math = ops::MathMode::fp32;
};

// Runs `fn` once per iteration (after `warmup` untimed calls) and sets the counters
// bytes_per_second, flops_per_second, frac_of_peak_bw and frac_of_peak_flops (those with
// non-zero work). `before` (optional) runs untimed before each iteration. Returns the mean
// seconds per timed iteration (0 when none ran).
double timed_loop(benchmark::State& state, const std::function<void()>& fn, const Work& work,
                  const std::function<void()>& before = {}, int warmup = 3);

// The steady state of a loop such as training: each timed iteration runs `before` and `fn`
// `steps` times back to back between two device timestamps, with no L2 overwrite (the caches
// stay as the previous calls left them, as between the steps of a training run, and as
// bench/torch_reference.py times PyTorch's steps), and reports the time per call. Same counters
// and return value as timed_loop, per call.
double timed_steady(benchmark::State& state, const std::function<void()>& fn, int steps,
                    const Work& work, const std::function<void()>& before = {}, int warmup = 3);

// Registers a benchmark that uses timed_loop: manual time, microseconds. The name is recorded
// (registered_benchmark_names) so a filter can be checked before anything runs.
benchmark::internal::Benchmark* register_timed(const std::string& name,
                                               std::function<void(benchmark::State&)> fn);
const std::vector<std::string>& registered_benchmark_names();

// A float32 tensor of N(0, scale²) values, deterministic from `seed`, on `dev`.
Tensor random_normal(const Shape& shape, uint64_t seed, Device dev, double scale = 1.0);
// int32 values uniform in [0, bound).
Tensor random_ints(const Shape& shape, int32_t bound, uint64_t seed, Device dev);

}  // namespace kasmina::bench
