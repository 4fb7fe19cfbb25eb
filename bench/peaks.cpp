#include "bench/peaks.hpp"

#include <algorithm>
#include <string>

#include "bench/timed_loop.hpp"
#include "ops/ops.hpp"
#include "ops/timer.hpp"

namespace kasmina::bench {

namespace {

// Copy size: far beyond any cache (the CPU's last level or the GPU's L2).
int64_t copy_floats(Device dev) {
  return dev.is_cuda() ? (256ll << 20) / 4 : (64ll << 20) / 4;
}
// Square GEMM side: large enough to reach the library's peak.
int64_t gemm_side(Device dev) {
  return dev.is_cuda() ? 8192 : 1024;
}

struct CopyCase {
  explicit CopyCase(Device dev)
      : src(random_normal({copy_floats(dev)}, 1, dev)),
        dst(Tensor::empty({copy_floats(dev)}, DType::f32, dev)) {}
  void run() { dst.copy_from(src); }
  double bytes() const { return 2.0 * static_cast<double>(src.nbytes()); }
  Tensor src, dst;
};

struct GemmCase {
  explicit GemmCase(Device dev) : n(gemm_side(dev)) {
    x = random_normal({n, n}, 2, dev);
    w = random_normal({n, n}, 3, dev);
    b = Tensor::zeros({n}, DType::f32, dev);
    y = Tensor::empty({n, n}, DType::f32, dev);
  }
  void run() { ops::linear_forward(x, w, b, ops::Activation::none, y, aux); }
  double flops() const { return 2.0 * static_cast<double>(n) * n * n; }
  int64_t n;
  Tensor x, w, b, y, aux;
};

// Fastest of `reps` timed calls after one warm-up call, in seconds.
template <class Case>
double best_seconds(Device dev, Case& c, int reps) {
  c.run();
  ops::synchronize(dev);
  ops::DeviceTimer timer(dev);
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    timer.start();
    c.run();
    best = std::min(best, timer.stop());
  }
  return best;
}

}  // namespace

Peaks measure_peaks(Device dev) {
  Peaks p;
  CopyCase copy(dev);
  p.bandwidth = copy.bytes() / best_seconds(dev, copy, 10);
  GemmCase gemm(dev);
  p.flops = gemm.flops() / best_seconds(dev, gemm, 5);
  return p;
}

void register_peak_benchmarks(Device dev) {
  register_timed("peak/copy/" + std::to_string(copy_floats(dev) * 4 >> 20) + "MiB",
                 [dev](benchmark::State& s) {
                   CopyCase c(dev);
                   timed_loop(s, [&] { c.run(); }, {.bytes = c.bytes()});
                 });
  const int64_t n = gemm_side(dev);
  register_timed(
      "peak/gemm/M" + std::to_string(n) + "_N" + std::to_string(n) + "_K" + std::to_string(n),
      [dev](benchmark::State& s) {
        GemmCase c(dev);
        timed_loop(
            s, [&] { c.run(); }, {.flops = c.flops()}, {}, 1);
      });
}

}  // namespace kasmina::bench
