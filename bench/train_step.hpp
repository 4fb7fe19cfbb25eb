// The whole training step as a benchmark (Trainer::train_step, captured in a CUDA graph on CUDA
// and replayed, as `kasmina train` runs it), shared by the MLP benchmarks
// (train_step_benchmarks.cpp) and those of the reference networks
// (network_step_benchmarks.cpp).
#pragma once
#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <string>

#include "config/config.hpp"
#include "core/device.hpp"
#include "data/dataset.hpp"
#include "nn/model.hpp"

namespace kasmina::bench {

// Timed iterations per repetition of a steady benchmark (a fixed count: Google Benchmark would
// size it from the time per step, the manual time, and run far too many steps).
inline constexpr int kSteadyIterations = 20;

// `n` synthetic uint8 images of the Fashion-MNIST shape (784 pixels, 10 classes), deterministic
// from `seed` (the values do not change the work done).
Dataset synthetic_split(const std::string& name, int64_t n, uint64_t seed);

// Times the training step of `cfg` on synthetic Fashion-MNIST-shaped data on `dev`: timed_loop,
// or with `steady` timed_steady with `steps` steps per timed iteration. The FLOPs of a step are
// flops(model) (frac_of_peak_flops against the GEMM peak of cfg's precision); the counter
// samples_per_second is the batch over the time. The device's math mode is restored after.
// Returns the seconds per step.
// `prepare`, when set, runs once the trainer is built, before the first step (e.g. seeds
// placed in the model's kasmina layers).
double run_train_step(benchmark::State& s, const Config& cfg, Device dev, bool steady, int steps,
                      const std::function<double(Model&)>& flops,
                      const std::function<void(Model&)>& prepare = {});

}  // namespace kasmina::bench
