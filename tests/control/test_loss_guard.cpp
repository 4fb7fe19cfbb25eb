// The loss guard and the NaN-injection hook: CPU twin semantics (non-finite, spike, warm-up,
// accumulator repair, dlogits zeroing) and the CUDA op against the CPU twin.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/error.hpp"
#include "ops/guard/loss_guard.hpp"
#include "ops/ops.hpp"

namespace kasmina::ops {
namespace {

double read_f64(const Tensor& t) {
  return t.to_vector<double>()[0];
}
int64_t read_i64(const Tensor& t) {
  return t.to_vector<int64_t>()[0];
}
int32_t read_i32(const Tensor& t) {
  return t.to_vector<int32_t>()[0];
}

// A training run's loss accumulator on `dev`, guarded step by step.
struct GuardedRun {
  GuardedRun(Device d, LossGuardParams p, int64_t batch, int64_t classes)
      : dev(d), params(p), batch(batch), state(make_loss_guard_state(d)) {
    loss_sum = Tensor::zeros({1}, DType::f64, dev);
    dlogits = Tensor::empty({batch, classes}, DType::f32, dev);
  }
  // One step whose mean loss is `mean` (what softmax_xent adds), with fresh dlogits.
  int32_t step(double mean, const std::vector<float>& grad) {
    const double sum = read_f64(loss_sum) + mean * static_cast<double>(batch);
    loss_sum.copy_from(Tensor::from_vector<double>({sum}, {1}));
    dlogits.copy_from(Tensor::from_vector(grad, dlogits.shape()));
    loss_guard(loss_sum, batch, params, state, &dlogits);
    return read_i32(state.flag);
  }
  Device dev;
  LossGuardParams params;
  int64_t batch;
  LossGuardState state;
  Tensor loss_sum, dlogits;
};

std::vector<float> ones(size_t n) {
  return std::vector<float>(n, 1.0f);
}

TEST(LossGuard, WarmupThenSpikeIsFlaggedAndLeftOutOfTheAccumulator) {
  LossGuardParams p;
  p.spike_factor = 3.0f;
  p.warmup_steps = 3;
  p.ema_decay = 0.5f;
  GuardedRun r(Device::cpu(), p, 4, 2);
  // Warm-up: no spike test, running = plain average.
  EXPECT_EQ(r.step(1.0, ones(8)), 0);
  EXPECT_EQ(r.step(20.0, ones(8)), 0);
  EXPECT_EQ(r.step(0.5, ones(8)), 0);
  EXPECT_NEAR(read_f64(r.state.running), (1.0 + 20.0 + 0.5) / 3.0, 1e-12);
  EXPECT_EQ(read_i64(r.state.accepted), 3);
  EXPECT_DOUBLE_EQ(read_f64(r.loss_sum), 4.0 * 21.5);
  // 25 > 3 * 7.1667: spike.
  EXPECT_EQ(r.step(25.0, ones(8)), static_cast<int32_t>(LossGuardFlag::spike));
  EXPECT_DOUBLE_EQ(read_f64(r.loss_sum), 4.0 * 21.5);
  EXPECT_EQ(read_i64(r.state.flagged), 1);
  EXPECT_DOUBLE_EQ(read_f64(r.state.last_flagged_mean), 25.0);
  EXPECT_EQ(read_i32(r.state.last_flagged_kind), 2);
  for (float g : r.dlogits.to_vector<float>()) EXPECT_EQ(g, 0.0f);
  // 21 < 21.5: accepted; after warm-up the running value is an EMA.
  EXPECT_EQ(r.step(21.0, ones(8)), 0);
  EXPECT_NEAR(read_f64(r.state.running), 0.5 * (21.5 / 3.0) + 0.5 * 21.0, 1e-12);
  EXPECT_EQ(read_i64(r.state.accepted), 4);
  for (float g : r.dlogits.to_vector<float>()) EXPECT_EQ(g, 1.0f);
}

TEST(LossGuard, NonFiniteLossIsFlaggedAndDoesNotPoisonLaterSteps) {
  LossGuardParams p;
  p.warmup_steps = 2;
  GuardedRun r(Device::cpu(), p, 8, 3);
  EXPECT_EQ(r.step(2.0, ones(24)), 0);
  EXPECT_EQ(r.step(std::numeric_limits<double>::quiet_NaN(), ones(24)),
            static_cast<int32_t>(LossGuardFlag::non_finite));
  EXPECT_DOUBLE_EQ(read_f64(r.loss_sum), 16.0);
  EXPECT_EQ(r.step(std::numeric_limits<double>::infinity(), ones(24)), 1);
  EXPECT_DOUBLE_EQ(read_f64(r.loss_sum), 16.0);
  EXPECT_EQ(read_i64(r.state.flagged), 2);
  EXPECT_EQ(read_i32(r.state.last_flagged_kind), 1);
  EXPECT_TRUE(std::isinf(read_f64(r.state.last_flagged_mean)));
  EXPECT_EQ(r.step(3.0, ones(24)), 0);
  EXPECT_DOUBLE_EQ(read_f64(r.loss_sum), 40.0);
  EXPECT_DOUBLE_EQ(read_f64(r.state.running), 2.5);
  // A NaN during warm-up is flagged as well (the spike test is off, the finiteness test is not).
  GuardedRun w(Device::cpu(), p, 8, 3);
  EXPECT_EQ(w.step(std::numeric_limits<double>::quiet_NaN(), ones(24)), 1);
  EXPECT_EQ(read_i64(w.state.accepted), 0);
}

TEST(LossGuard, MarkResetFollowsAnEpochReset) {
  LossGuardParams p;
  p.warmup_steps = 1;
  GuardedRun r(Device::cpu(), p, 2, 2);
  EXPECT_EQ(r.step(1.0, ones(4)), 0);
  EXPECT_EQ(r.step(1.2, ones(4)), 0);
  fill(r.loss_sum, 0.0);  // the trainer's begin_epoch
  fill(r.state.mark, 0.0);
  EXPECT_EQ(r.step(1.1, ones(4)), 0);
  EXPECT_DOUBLE_EQ(read_f64(r.loss_sum), 2.2);
}

TEST(LossGuard, RejectsParametersOutOfRange) {
  LossGuardState st = make_loss_guard_state(Device::cpu());
  Tensor sum = Tensor::zeros({1}, DType::f64);
  LossGuardParams p;
  p.spike_factor = 1.0f;
  EXPECT_THROW(loss_guard(sum, 4, p, st, nullptr), UserError);
  p = {};
  p.warmup_steps = 0;
  EXPECT_THROW(loss_guard(sum, 4, p, st, nullptr), UserError);
  p = {};
  p.ema_decay = 1.0f;
  EXPECT_THROW(loss_guard(sum, 4, p, st, nullptr), UserError);
}

TEST(InjectNan, FiresOnlyAtItsStep) {
  Tensor step = Tensor::from_vector<int64_t>({4}, {1});
  Tensor sum = Tensor::from_vector<double>({3.0}, {1});
  Tensor g = Tensor::from_vector<float>({1.0f, 2.0f, 3.0f}, {1, 3});
  inject_nan_at_step(step, 5, sum, &g);
  inject_nan_at_step(step, -1, sum, &g);
  EXPECT_EQ(read_f64(sum), 3.0);
  EXPECT_EQ(g.to_vector<float>(), (std::vector<float>{1.0f, 2.0f, 3.0f}));
  inject_nan_at_step(step, 4, sum, &g);
  EXPECT_TRUE(std::isnan(read_f64(sum)));
  for (float v : g.to_vector<float>()) EXPECT_TRUE(std::isnan(v));
  // The guard then catches the poisoned step.
  LossGuardState st = make_loss_guard_state(Device::cpu());
  Tensor s2 = Tensor::from_vector<double>({0.0}, {1});
  inject_nan_at_step(step, 4, s2, nullptr);
  loss_guard(s2, 1, LossGuardParams{}, st, &g);
  EXPECT_EQ(read_i32(st.flag), 1);
  EXPECT_EQ(read_f64(s2), 0.0);
  for (float v : g.to_vector<float>()) EXPECT_EQ(v, 0.0f);
}

TEST(LossGuardCuda, MatchesTheCpuTwinOnRandomRuns) {
  init();
  if (!cuda_built()) GTEST_SKIP() << "no CUDA device: this build has no CUDA support";
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: none visible to the CUDA runtime";
  const Device gpu = Device::cuda(0);
  for (uint64_t seed : {11u, 12u, 13u}) {
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
  // The injection hook on the device.
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
