// The loss guard and the NaN-injection hook: CPU twin semantics (non-finite, spike, warm-up,
// accumulator repair, dlogits zeroing). The CUDA op against the CPU twin is the op table's
// loss_guard entry (tests/ops/cuda/entries_guard.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "core/error.hpp"
#include "ops/guard/loss_guard.hpp"
#include "ops/ops.hpp"
#include "tests/control/guarded_run.hpp"

namespace kasmina::ops {
namespace {

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

}  // namespace
}  // namespace kasmina::ops
