#include "bench/peaks.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "bench/timed_loop.hpp"
#include "core/str_cat.hpp"
#include "ops/ops.hpp"
#include "ops/precision_ops.hpp"
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
  explicit CopyCase(Device dev, int64_t floats = 0)
      : src(random_normal({floats > 0 ? floats : copy_floats(dev)}, 1, dev)),
        dst(Tensor::empty(src.shape(), DType::f32, dev)) {}
  void run() { dst.copy_from(src); }
  double bytes() const { return 2.0 * static_cast<double>(src.nbytes()); }
  Tensor src, dst;
};

// y = x · wᵀ through ops::linear_forward, in math `math`: fp32 and TF32 feed fp32 operands under
// that math mode; bf16 feeds bf16 operands (cast once here), with fp32 sums and output, as the
// linear layers of `train.precision: bf16` do.
struct GemmCase {
  GemmCase(Device dev, ops::MathMode m) : n(gemm_side(dev)), math(m), device(dev) {
    x = random_normal({n, n}, 2, dev);
    w = random_normal({n, n}, 3, dev);
    if (math == ops::MathMode::bf16) {
      Tensor xb = Tensor::empty({n, n}, DType::bf16, dev),
             wb = Tensor::empty({n, n}, DType::bf16, dev);
      ops::cast_to_bf16(x, xb);
      ops::cast_to_bf16(w, wb);
      x = xb;
      w = wb;
    }
    b = Tensor::zeros({n}, DType::f32, dev);
    y = Tensor::empty({n, n}, DType::f32, dev);
  }
  void run() {
    // Set for each call (and put back): the other benchmarks of the run keep their mode.
    const ops::MathMode before = ops::math_mode(device);
    ops::set_math_mode(device, math == ops::MathMode::tf32 ? ops::MathMode::tf32 : before);
    ops::linear_forward(x, w, b, ops::Activation::none, y, aux);
    ops::set_math_mode(device, before);
  }
  double flops() const { return 2.0 * static_cast<double>(n) * n * n; }
  int64_t n;
  ops::MathMode math;
  Device device;
  Tensor x, w, b, y, aux;
};

const char* gemm_group(ops::MathMode m) {
  switch (m) {
    case ops::MathMode::tf32:
      return "peak/gemm_tf32/";
    case ops::MathMode::bf16:
      return "peak/gemm_bf16/";
    case ops::MathMode::fp32:
      break;
  }
  return "peak/gemm/";
}

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

Peaks measure_peaks(Device dev, PeakNeeds needs) {
  Peaks p;
  CopyCase copy(dev);
  p.bandwidth = copy.bytes() / best_seconds(dev, copy, 10);
  GemmCase gemm(dev, ops::MathMode::fp32);
  p.flops = gemm.flops() / best_seconds(dev, gemm, 5);
  if (needs.tf32) {
    if (dev.is_cuda()) {
      GemmCase tf32(dev, ops::MathMode::tf32);
      p.flops_tf32 = tf32.flops() / best_seconds(dev, tf32, 5);
    } else {
      p.flops_tf32 = p.flops;  // the CPU computes TF32 mode in fp32
    }
  }
  if (needs.bf16) {
    GemmCase bf16(dev, ops::MathMode::bf16);
    p.flops_bf16 = bf16.flops() / best_seconds(dev, bf16, 5);
  }
  return p;
}

PeakNeeds peak_needs(const std::vector<std::string>& benchmark_names) {
  PeakNeeds n;
  for (const std::string& name : benchmark_names) {
    n.tf32 = n.tf32 || name.find("/tf32") != std::string::npos ||
             name.find("gemm_tf32/") != std::string::npos;
    n.bf16 = n.bf16 || name.find("/bf16") != std::string::npos ||
             name.find("gemm_bf16/") != std::string::npos;
  }
  return n;
}

double peak_flops_of(const Peaks& p, ops::MathMode m) {
  switch (m) {
    case ops::MathMode::tf32:
      return p.flops_tf32;
    case ops::MathMode::bf16:
      return p.flops_bf16;
    case ops::MathMode::fp32:
      break;
  }
  return p.flops;
}

void register_copy_benchmark(const std::string& shape, int64_t floats, Device dev) {
  register_timed("peak/copy/" + shape, [dev, floats](benchmark::State& s) {
    CopyCase c(dev, floats);
    timed_loop(s, [&] { c.run(); }, {.bytes = c.bytes()});
  });
}

void register_peak_benchmarks(Device dev) {
  register_timed("peak/copy/" + std::to_string(copy_floats(dev) * 4 >> 20) + "MiB",
                 [dev](benchmark::State& s) {
                   CopyCase c(dev);
                   timed_loop(s, [&] { c.run(); }, {.bytes = c.bytes()});
                 });
  const int64_t n = gemm_side(dev);
  const std::string shape = str_cat("M", n, "_N", n, "_K", n);
  for (ops::MathMode m : {ops::MathMode::fp32, ops::MathMode::tf32, ops::MathMode::bf16}) {
    register_timed(gemm_group(m) + shape, [dev, m](benchmark::State& s) {
      GemmCase c(dev, m);
      timed_loop(
          s, [&] { c.run(); }, {.flops = c.flops(), .math = m}, {}, 1);
    });
  }
}

}  // namespace kasmina::bench
