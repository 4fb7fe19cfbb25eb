// Training FLOPs of a kasmina layer's seeds, by stage, counted from the lifecycle events
// (SeedFlopLedger): a hand-computed walk, independence from the drain cadence, and the
// checkpoint round trip.
#include <gtest/gtest.h>

#include "core/run_state.hpp"
#include "morph_test_util.hpp"

namespace kasmina::morph {
namespace {

MorphConfig flops_config(int32_t telemetry_every) {
  MorphConfig c = testing::small_config(32, 4);  // C = 8
  c.hidden = 3;
  c.telemetry_every = telemetry_every;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::germinated)] = 1;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::training)] = 2;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::grafting)] = 3;
  c.lifecycle.min_steps[static_cast<int32_t>(Stage::stabilization)] = 2;
  c.grafting_params.ramp_steps = 2;
  return c;
}

// Steps as the trainer runs them: the step value is k during step k's forward and backward and
// k + 1 at its boundary. Seed 1 is germinated (residual_mlp) before the first boundary.
void walk(KasminaLayer& layer, int64_t steps) {
  testing::StepClock clock(Device::cpu());
  layer.germinate(1, BlueprintKind::residual_mlp);
  for (int64_t k = 0; k < steps; ++k) {
    clock.set(k);
    layer.forward(testing::random_tensor<float>({4, 32}, 10 + k), Mode::train, clock.ctx);
    Tensor dx = Tensor::zeros({4, 32});
    layer.backward(testing::random_tensor<float>({4, 32}, 50 + k), &dx, clock.ctx);
    clock.set(k + 1);
    layer.end_step(clock.ctx);
  }
}

TEST(SeedFlops, AWalkThroughTheStagesMatchesTheHandCount) {
  KasminaLayer layer(flops_config(1));
  layer.prepare(4, Device::cpu());
  walk(layer, 12);
  // Boundaries (step values): 1 germinated, 2 training, 4 grafting, 7 stabilization,
  // 9 evaluating; so TRAINING steps 3-4, GRAFTING 5-7, STABILIZATION 8-9, EVALUATING 10-12.
  std::vector<std::pair<int64_t, int32_t>> moves;
  for (const MorphEvent& e : layer.drain_events()) moves.push_back({e.step, e.to});
  using S = Stage;
  auto m = [](int64_t step, S to) { return std::pair<int64_t, int32_t>{step, int32_t(to)}; };
  ASSERT_EQ(moves, (std::vector<std::pair<int64_t, int32_t>>{
                       m(1, S::germinated), m(2, S::training), m(4, S::grafting),
                       m(7, S::stabilization), m(9, S::evaluating)}));
  // residual_mlp, C 8, h 3, batch 4, 59 parameters (AdamW 16 each = 944). Per row: forward
  // 4hC + h(1 + 9) + C = 134, hidden gradients 2Ch + h(1 + 14) = 93, input gradient 2hC = 48,
  // parameter gradient 4hC + h + C = 107.
  //   TRAINING: (134 + 93 + 107 + 4 C) * 4 + 944                 = 2408 a step
  //   GRAFTING: (134 + 2 C + 93 + 48 + 2 C + 107) * 4 + 944       = 2600
  //   STABILIZATION, EVALUATING: (134 + 2 C + 93 + 48 + 2 C) * 4 = 1228
  EXPECT_EQ(layer.counted_train_flops(12), 2 * 2408.0 + 3 * 2600.0 + 2 * 1228.0 + 3 * 1228.0);
  // One boundary later the open interval (EVALUATING) has one more step.
  EXPECT_EQ(layer.counted_train_flops(13), 2 * 2408.0 + 3 * 2600.0 + 2 * 1228.0 + 4 * 1228.0);
  EXPECT_EQ(layer.train_flops(4, true), 0.0);  // the dormant chunks: copies
}

TEST(SeedFlops, TheCountDoesNotDependOnTheDrainCadence) {
  KasminaLayer every(flops_config(1)), sparse(flops_config(5));
  every.prepare(4, Device::cpu());
  sparse.prepare(4, Device::cpu());
  walk(every, 12);
  walk(sparse, 12);
  every.drain_events();
  sparse.drain_events();
  EXPECT_EQ(sparse.counted_train_flops(12), every.counted_train_flops(12));
  EXPECT_GT(every.counted_train_flops(12), 0.0);
}

TEST(SeedFlops, CheckpointRoundTripKeepsTheCount) {
  KasminaLayer a(flops_config(5));
  a.prepare(4, Device::cpu());
  walk(a, 7);  // drained at boundary 5 (seed 1 grafted at 4), in flight since
  RunState st;
  StateWriter w(st);
  a.save_state(w);
  KasminaLayer b(flops_config(5));
  b.prepare(4, Device::cpu());
  b.load_state(StateReader(st));
  EXPECT_EQ(b.counted_train_flops(7), a.counted_train_flops(7));
  EXPECT_GT(b.counted_train_flops(7), 0.0);
}

}  // namespace
}  // namespace kasmina::morph
