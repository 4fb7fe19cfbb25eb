// Op table entry of the loss guard: the CUDA guard against the CPU twin over random runs (one
// case per seed of the old LossGuardCuda test) and the NaN-injection hook on the device.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ops/guard/loss_guard.hpp"
#include "ops/ops.hpp"
#include "tests/control/guarded_run.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::ops {
namespace {

// 300 guarded steps of random losses (NaN, Inf and spikes mixed in) with random parameters and
// batch, on both devices; every state field after every step.
void guard_run_case(uint64_t seed) {
  const Device gpu = Device::cuda(0);
  {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    LossGuardParams p;
    p.spike_factor = 2.0f + static_cast<float>(u(rng));
    p.warmup_steps = 1 + static_cast<int32_t>(rng() % 6);
    p.ema_decay = static_cast<float>(0.8 + 0.19 * u(rng));
    const int64_t batch = 1 + static_cast<int64_t>(rng() % 64), classes = 10;
    GuardedRun c(Device::cpu(), p, batch, classes), g(gpu, p, batch, classes);
    int flagged = 0;
    for (int step = 0; step < 300; ++step) {
      double mean = 0.5 + u(rng);
      const double r = u(rng);
      if (r < 0.03)
        mean = std::numeric_limits<double>::quiet_NaN();
      else if (r < 0.05)
        mean = std::numeric_limits<double>::infinity();
      else if (r < 0.10)
        mean *= 10.0;
      std::vector<float> grad(static_cast<size_t>(batch * classes));
      for (float& x : grad) x = static_cast<float>(u(rng) - 0.5);
      const int32_t fc = c.step(mean, grad), fg = g.step(mean, grad);
      ASSERT_EQ(fc, fg) << "seed " << seed << " step " << step;
      flagged += fc != 0;
      ASSERT_EQ(read_f64(c.loss_sum), read_f64(g.loss_sum)) << "step " << step;
      ASSERT_EQ(read_f64(c.state.mark), read_f64(g.state.mark));
      ASSERT_NEAR(read_f64(c.state.running), read_f64(g.state.running),
                  1e-13 * std::abs(read_f64(c.state.running)));
      ASSERT_EQ(read_i64(c.state.accepted), read_i64(g.state.accepted));
      ASSERT_EQ(read_i64(c.state.flagged), read_i64(g.state.flagged));
      ASSERT_EQ(read_i32(c.state.last_flagged_kind), read_i32(g.state.last_flagged_kind));
      const double mc = read_f64(c.state.last_flagged_mean),
                   mg = read_f64(g.state.last_flagged_mean);
      ASSERT_TRUE(mc == mg || (std::isnan(mc) && std::isnan(mg)));
      ASSERT_EQ(c.dlogits.to_vector<float>(), g.dlogits.to_vector<float>());
    }
    EXPECT_GT(flagged, 5);
  }
}

// The injection hook on the device.
void inject_nan_case() {
  const Device gpu = Device::cuda(0);
  Tensor step = Tensor::from_vector<int64_t>({9}, {1}, gpu);
  Tensor sum = Tensor::from_vector<double>({1.0}, {1}, gpu);
  Tensor grad = Tensor::from_vector<float>(std::vector<float>(1000, 0.5f), {100, 10}, gpu);
  inject_nan_at_step(step, 8, sum, &grad);
  EXPECT_EQ(read_f64(sum), 1.0);
  inject_nan_at_step(step, 9, sum, &grad);
  EXPECT_TRUE(std::isnan(read_f64(sum)));
  for (float v : grad.to_vector<float>()) ASSERT_TRUE(std::isnan(v));
}

}  // namespace
}  // namespace kasmina::ops

namespace kasmina::op_table {

KASMINA_OP_TABLE_ENTRY(loss_guard) {
  OpTestEntry e;
  e.ops = {"loss_guard", "inject_nan_at_step"};
  e.correctness = [] {
    std::vector<OpCase> out;
    for (uint64_t seed : {11u, 12u, 13u}) {
      out.push_back(
          {"random_run_seed" + std::to_string(seed), [seed] { ops::guard_run_case(seed); }});
    }
    out.push_back({"inject_nan_at_step", &ops::inject_nan_case});
    return out;
  };
  e.perf = [] {
    return std::vector<OpCase>{{"one_step", [] {
                                  const Device dev = perf_device();
                                  ops::LossGuardState st = ops::make_loss_guard_state(dev);
                                  Tensor sum = Tensor::zeros({1}, DType::f64, dev);
                                  Tensor g = Tensor::zeros({8192, 10}, DType::f32, dev);
                                  time_op("loss_guard (dlogits 8192x10)", dev, [&] {
                                    ops::loss_guard(sum, 8192, ops::LossGuardParams{}, st, &g);
                                  });
                                }}};
  };
  return e;
}

}  // namespace kasmina::op_table
