// Seeds walked through the lifecycle by a germination schedule on synthetic data: one to
// FOSSILIZED, one to CULLED (and back to DORMANT), one rolled back to its pre-graft state; the
// events are recorded in order.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <utility>

#include "control/germination_schedule.hpp"
#include "morph_test_util.hpp"

namespace kasmina::morph {
namespace {

using Pair = std::pair<int32_t, int32_t>;

MorphConfig walk_config() {
  MorphConfig c = testing::small_config(32, 4);  // C = 8
  c.layer_index = 3;
  c.telemetry_every = 1;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::germinated)] = 1;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::training)] = 3;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::grafting)] = 1;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::stabilization)] = 2;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::evaluating)] = 2;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::fine_tuning)] = 3;
  c.lifecycle.training_loss_threshold = 10.0f;
  c.grafting_params.ramp_steps = 4;
  c.optimizer.lr = 1e-2f;
  return c;
}

TEST(MorphLifecycleWalk, ScheduleDrivesSeedsToFossilizedAndCulled) {
  KasminaLayer layer(walk_config());
  layer.prepare(16, Device::cpu());
  const GerminationSchedule schedule(
      {{3, 3, 2, BlueprintKind::low_rank}, {2, 3, 1, BlueprintKind::residual_mlp}});
  testing::StepClock clock(Device::cpu());
  std::vector<MorphEvent> events;
  std::map<int32_t, std::vector<Pair>> walk;
  for (int64_t step = 0; step < 40; ++step) {
    clock.set(step);
    EXPECT_EQ(schedule.apply(step, {&layer}), (step == 2 || step == 3) ? 1 : 0);
    const Tensor x = testing::random_tensor<float>({16, 32}, 1000 + step);
    layer.forward(x, Mode::train, clock.ctx);
    Tensor dx = Tensor::zeros({16, 32});
    layer.backward(testing::random_tensor<float>({16, 32}, 2000 + step, Device::cpu(), 0.1), &dx,
                   clock.ctx);
    layer.end_step(clock.ctx);
    for (const MorphEvent& e : layer.drain_events()) {
      events.push_back(e);
      walk[e.seed].push_back({e.from, e.to});
      // The trainer's evaluation: seed 1 helps, seed 2 does not.
      if (e.to == static_cast<int32_t>(Stage::evaluating) && e.from != e.to)
        layer.set_eval_score(e.seed, e.seed == 1 ? 0.1f : -0.1f);
    }
  }
  using S = Stage;
  auto p = [](S a, S b) { return Pair{static_cast<int32_t>(a), static_cast<int32_t>(b)}; };
  EXPECT_EQ(walk[1], (std::vector<Pair>{
                         p(S::dormant, S::germinated), p(S::germinated, S::training),
                         p(S::training, S::grafting), p(S::grafting, S::stabilization),
                         p(S::stabilization, S::evaluating),
                         p(S::evaluating, S::evaluating),  // score recorded
                         p(S::evaluating, S::fine_tuning), p(S::fine_tuning, S::fossilized)}));
  EXPECT_EQ(walk[2],
            (std::vector<Pair>{p(S::dormant, S::germinated), p(S::germinated, S::training),
                               p(S::training, S::grafting), p(S::grafting, S::stabilization),
                               p(S::stabilization, S::evaluating), p(S::evaluating, S::evaluating),
                               p(S::evaluating, S::culled), p(S::culled, S::dormant)}));
  // Germination events carry the step they were applied at and the layer index.
  EXPECT_EQ(events.front().step, 2);
  EXPECT_EQ(events.front().layer, 3);
  EXPECT_EQ(events.front().blueprint, static_cast<int32_t>(BlueprintKind::residual_mlp));
  for (const MorphEvent& e : events) EXPECT_FALSE(reason_is_refusal(static_cast<Reason>(e.reason)));
  for (const MorphEvent& e : events) {
    if (e.seed == 2 && e.to == static_cast<int32_t>(S::culled) && e.from != e.to) {
      EXPECT_EQ(e.reason, static_cast<int32_t>(Reason::not_improved));
    }
    if (e.seed == 1 && e.to == static_cast<int32_t>(S::grafting)) {
      EXPECT_EQ(e.reason, static_cast<int32_t>(Reason::loss_gate));
    }
  }
  // The fossilized seed is applied; the culled one is the identity again and its slot is free.
  const Tensor x = testing::random_tensor<float>({16, 32}, 77);
  const std::vector<float> xv = x.to_vector<float>();
  const std::vector<float> yv = layer.forward(x, Mode::eval, clock.ctx).to_vector<float>();
  int differ1 = 0;
  for (int b = 0; b < 16; ++b)
    for (int c = 0; c < 8; ++c) {
      differ1 += yv[b * 32 + 8 + c] != xv[b * 32 + 8 + c];
      EXPECT_EQ(yv[b * 32 + 16 + c], xv[b * 32 + 16 + c]);
    }
  EXPECT_GT(differ1, 100);
  const std::vector<int32_t> owner = layer.buffers().slot_owner.to_vector<int32_t>();
  EXPECT_EQ(std::count(owner.begin(), owner.end(), 1), 1);
  EXPECT_EQ(std::count(owner.begin(), owner.end(), 2), 0);
  // Masked evaluation: seed 1 forced to alpha 0 gives the identity in eval mode.
  layer.set_eval_alpha_zero({1});
  EXPECT_TRUE(testing::bitwise_equal(layer.forward(x, Mode::eval, clock.ctx), x));
  layer.clear_eval_alpha_zero();
  EXPECT_FALSE(testing::bitwise_equal(layer.forward(x, Mode::eval, clock.ctx), x));
}

TEST(MorphLifecycleWalk, RollbackRestoresPreGraftState) {
  MorphConfig cfg = walk_config();
  cfg.grafting_params.ramp_steps = 100;  // stay in GRAFTING while training
  KasminaLayer layer(cfg);
  layer.prepare(8, Device::cpu());
  testing::StepClock clock(Device::cpu());
  // A seed already TRAINING with parameters away from the zero-delta init, so the isolated
  // objective moves them and their moments (a fresh blueprint starts at its optimum, loss 0).
  testing::arrange(layer, {{0, Stage::training, BlueprintKind::residual_mlp}}, 7, /*jitter=*/0.3);
  std::vector<float> at_graft;
  bool grafting = false;
  int graft_steps = 0;
  const ops::MorphLayerBuffers& L = layer.buffers();
  const int32_t n = blueprint_param_count(0, L.shape);
  for (int64_t step = 0; step < 40 && graft_steps < 5; ++step) {
    clock.set(step);
    const Tensor x = testing::random_tensor<float>({8, 32}, 300 + step);
    layer.forward(x, Mode::train, clock.ctx);
    Tensor dx = Tensor::zeros({8, 32});
    layer.backward(testing::random_tensor<float>({8, 32}, 400 + step), &dx, clock.ctx);
    layer.end_step(clock.ctx);
    for (const MorphEvent& e : layer.drain_events()) {
      if (e.to == static_cast<int32_t>(Stage::grafting)) {
        grafting = true;
        const std::vector<float> pool = L.pool.to_vector<float>();
        at_graft.assign(pool.begin(), pool.begin() + n);  // slot 0 parameters
        // Fresh AdamW state for the global objective; the snapshot kept the trained moments.
        const auto m1 = pool.begin() + L.pool_region * static_cast<int32_t>(PoolRegion::moment1);
        const auto snap_m1 =
            pool.begin() + L.pool_region * static_cast<int32_t>(PoolRegion::snapshot_moment1);
        EXPECT_TRUE(std::all_of(m1, m1 + n, [](float v) { return v == 0.0f; }));
        EXPECT_FALSE(std::all_of(snap_m1, snap_m1 + n, [](float v) { return v == 0.0f; }));
        EXPECT_EQ(layer.seed_state().download().view().opt_step[0], 0);
      }
    }
    if (grafting) ++graft_steps;
  }
  ASSERT_TRUE(grafting);
  std::vector<float> pool = L.pool.to_vector<float>();
  EXPECT_NE(std::vector<float>(pool.begin(), pool.begin() + n), at_graft);  // trained since
  layer.rollback(0);
  layer.end_step(clock.ctx);
  pool = L.pool.to_vector<float>();
  EXPECT_EQ(std::vector<float>(pool.begin(), pool.begin() + n), at_graft);
  std::vector<MorphEvent> ev = layer.drain_events();
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().to, static_cast<int32_t>(Stage::rolled_back));
  layer.end_step(clock.ctx);
  ev = layer.drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].to, static_cast<int32_t>(Stage::dormant));
  EXPECT_EQ(ev[0].reason, static_cast<int32_t>(Reason::released));
  EXPECT_EQ(layer.buffers().slot_owner.to_vector<int32_t>()[0], -1);
}

}  // namespace
}  // namespace kasmina::morph
