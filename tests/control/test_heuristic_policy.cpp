// The heuristic policy behind the controller, on synthetic telemetry: plateau detection, the
// worst-health seed, the bandit's blueprint, budgets, embargo, rewards, alerts.
#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "control/health_score.hpp"
#include "core/stateful.hpp"
#include "tests/common/state_compare.hpp"
#include "tests/control/control_test_rig.hpp"

namespace kasmina::control {
namespace {

using morph::BlueprintKind;
using morph::Reason;
using morph::Stage;
using testing::Rig;
using testing::seed_stats;

TEST(HealthScore, SumsDeadCollapsedAndGradientTerms) {
  EXPECT_DOUBLE_EQ(capacity_need(seed_stats(0, 0.25, 3.0)), 0.25 + 0.25);
  EXPECT_DOUBLE_EQ(capacity_need(seed_stats(0, 0.0, 1.0, 4.0f)), 0.5 + 0.8);
  morph::SeedTelemetry empty = seed_stats(0, 0.9, 0.0);
  empty.samples = 0;
  EXPECT_EQ(capacity_need(empty), 0.0);
}

TEST(HeuristicPolicy, PlateauGerminatesTheWorstHealthSeedWithTheBanditsBlueprint) {
  Rig rig;
  // need: layer 1 seed 2 = 0.8 + 0.5 = 1.3 (worst), layer 0 seed 1 = 0 + 1/1.01 = 0.99, others 0.5
  rig.health(0, {{1, seed_stats(2, 0.8, 1.0)}, {0, seed_stats(1, 0.0, 0.01)}});
  const double losses[] = {1.0, 0.9, 0.8995, 0.9};
  int64_t step = 100;
  for (double l : losses) {
    rig.validation(step, l);
    EXPECT_TRUE(rig.decide(step).empty()) << "loss " << l;
    step += 100;
  }
  EXPECT_DOUBLE_EQ(rig.heuristic->best_loss(), 0.9);
  EXPECT_EQ(rig.heuristic->since_improvement(), 2);
  rig.validation(step, 0.95);
  const std::vector<Command> cmds = rig.decide(step);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].kind, CommandKind::germinate);
  EXPECT_EQ(cmds[0].layer, 1);
  EXPECT_EQ(cmds[0].seed, 2);
  EXPECT_EQ(cmds[0].blueprint, BlueprintKind::low_rank);  // first unplayed arm of layer 1
  EXPECT_NE(cmds[0].reason.find("plateau: 3 measurements"), std::string::npos) << cmds[0].reason;
  EXPECT_EQ(rig.heuristic->since_improvement(), 0);
  // The germination counts against the budgets at once.
  EXPECT_EQ(rig.controller->observation().layers[1].seeds[2].stage, Stage::germinated);
  // The counter restarted: one more flat measurement is not a plateau.
  rig.validation(step + 100, 0.95);
  EXPECT_TRUE(rig.decide(step + 100).empty());
  // A refusal of the germination puts the seed back to dormant.
  rig.event(step + 101, 1, 2, Stage::dormant, Stage::germinated, Reason::refused_pool_exhausted,
            BlueprintKind::low_rank);
  rig.decide(step + 101);
  EXPECT_EQ(rig.controller->observation().layers[1].seeds[2].stage, Stage::dormant);
}

TEST(HeuristicPolicy, NoDecisionWithoutValidationMeasurements) {
  Rig rig;
  rig.health(0, {{0, seed_stats(0, 1.0, 0.0)}});
  for (int64_t s = 0; s < 50; ++s) EXPECT_TRUE(rig.decide(s).empty());
}

TEST(HeuristicPolicy, RespectsMaxActiveSeeds) {
  Rig rig;
  morph::SeedTelemetry t0 = seed_stats(0, 0.0, 1.0, 1.0f, Stage::training);
  t0.blueprint = 2;
  morph::SeedTelemetry t1 = seed_stats(1, 0.0, 1.0, 1.0f, Stage::grafting);
  t1.blueprint = 2;
  rig.health(0, {{0, t0}, {0, t1}, {1, seed_stats(3, 0.5, 1.0)}});
  for (int i = 0; i < 4; ++i) {
    rig.validation(100 * i, 1.0);
    EXPECT_TRUE(rig.decide(100 * i).empty());
  }
  EXPECT_EQ(rig.controller->observation().active_seeds, 2);
  EXPECT_EQ(rig.heuristic->since_improvement(), 3);  // plateau, but no room
  rig.event(350, 0, 0, Stage::training, Stage::grafting, Reason::loss_gate,
            BlueprintKind::diag_scale);
  EXPECT_TRUE(rig.decide(350).empty());  // GRAFTING still counts
  rig.event(360, 0, 1, Stage::grafting, Stage::stabilization, Reason::alpha_complete,
            BlueprintKind::diag_scale, 1.0f);
  const std::vector<Command> cmds = rig.decide(360);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].layer, 1);
  EXPECT_EQ(cmds[0].seed, 3);
  // The two diag_scale seeds plus the new low_rank germination (counted at once).
  EXPECT_EQ(rig.controller->observation().added_parameters, 2 * 32 + 128);
  EXPECT_EQ(rig.controller->observation().active_seeds, 2);
}

TEST(HeuristicPolicy, RespectsTheParameterBudget) {
  ControllerConfig cfg = testing::heuristic_config();
  cfg.max_added_parameters = 148 + 100;
  Rig rig(cfg);
  morph::SeedTelemetry fossil = seed_stats(3, 0.0, 1.0, -1.0f, Stage::fossilized);
  fossil.blueprint = static_cast<int32_t>(BlueprintKind::residual_mlp);
  rig.health(0, {{0, fossil}, {0, seed_stats(0, 0.9, 1.0)}});
  for (int i = 0; i < 3; ++i) {
    rig.validation(100 * i, 1.0);
    EXPECT_TRUE(rig.decide(100 * i).empty());
  }
  rig.validation(300, 1.0);
  std::vector<Command> cmds = rig.decide(300);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].layer, 0);
  EXPECT_EQ(cmds[0].seed, 0);
  // 100 parameters left: residual_mlp (148) and low_rank (128) do not fit, diag_scale (32) does.
  EXPECT_EQ(cmds[0].blueprint, BlueprintKind::diag_scale);
  EXPECT_EQ(rig.controller->observation().added_parameters, 148 + 32);

  // 20 parameters left: nothing fits anywhere.
  ControllerConfig tight = testing::heuristic_config();
  tight.max_added_parameters = 148 + 20;
  Rig rig2(tight);
  rig2.health(0, {{0, fossil}, {0, seed_stats(0, 0.9, 1.0)}});
  for (int i = 0; i < 6; ++i) {
    rig2.validation(100 * i, 1.0);
    EXPECT_TRUE(rig2.decide(100 * i).empty());
  }
}

TEST(HeuristicPolicy, EmbargoesCulledSeedsAndLearnsFromOutcomes) {
  Rig rig;
  rig.health(0, {{1, seed_stats(2, 0.8, 1.0)}, {0, seed_stats(1, 0.0, 0.01)}});
  // Layer 1 seed 2 (the worst) was culled at step 50: embargoed until 550.
  rig.event(50, 1, 2, Stage::grafting, Stage::culled, Reason::command, BlueprintKind::low_rank);
  rig.event(51, 1, 2, Stage::culled, Stage::dormant, Reason::released, BlueprintKind::low_rank);
  // Layer 0 seed 0: improved by 0.004, then fossilized; seed 3 rolled back.
  rig.event(60, 0, 0, Stage::evaluating, Stage::fine_tuning, Reason::improved,
            BlueprintKind::residual_mlp, 0.004f);
  rig.event(70, 0, 0, Stage::fine_tuning, Stage::fossilized, Reason::fine_tuned,
            BlueprintKind::residual_mlp);
  rig.event(80, 0, 3, Stage::grafting, Stage::rolled_back, Reason::non_finite,
            BlueprintKind::low_rank);
  for (int i = 0; i < 3; ++i) {
    rig.validation(100 + 10 * i, 1.0);
    EXPECT_TRUE(rig.decide(100 + 10 * i).empty());
  }
  EXPECT_EQ(rig.heuristic->embargo_until(1, 2), 550);
  EXPECT_EQ(rig.heuristic->embargo_until(0, 3), 580);
  EXPECT_EQ(rig.heuristic->embargo_until(0, 0), 0);
  const BlueprintBandit& b0 = rig.heuristic->bandit(0);
  EXPECT_EQ(b0.plays(), (std::vector<int64_t>{1, 1, 0}));
  const double reward = 0.004f / (0.004f + 1e-3);
  EXPECT_DOUBLE_EQ(b0.reward_sums()[0], reward);
  EXPECT_DOUBLE_EQ(rig.heuristic->fossil_reward(0.004f), reward);
  EXPECT_EQ(b0.reward_sums()[1], 0.0);
  EXPECT_EQ(rig.heuristic->bandit(1).plays(), (std::vector<int64_t>{1, 0}));

  rig.validation(130, 1.0);
  std::vector<Command> cmds = rig.decide(130);
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].layer, 0);  // the next worst seed, not the embargoed one
  EXPECT_EQ(cmds[0].seed, 1);
  EXPECT_EQ(cmds[0].blueprint, BlueprintKind::diag_scale);  // the only arm never played

  // After the embargo the culled seed is the worst candidate again; layer 1's bandit now
  // prefers the unplayed diag_scale over low_rank (reward 0).
  for (int i = 0; i < 3; ++i) {
    rig.validation(560 + i, 1.0);
    cmds = rig.decide(560 + i);
  }
  ASSERT_EQ(cmds.size(), 1u);
  EXPECT_EQ(cmds[0].layer, 1);
  EXPECT_EQ(cmds[0].seed, 2);
  EXPECT_EQ(cmds[0].blueprint, BlueprintKind::diag_scale);
}

TEST(Controller, LossAlertRollsBackBlendedTrainingSeeds) {
  Rig rig;
  rig.health(0, {{0, seed_stats(0, 0, 1, 1.0f, Stage::grafting)},
                 {0, seed_stats(1, 0, 1, 1.0f, Stage::training)},
                 {0, seed_stats(2, 0, 1, 1.0f, Stage::evaluating)},
                 {1, seed_stats(0, 0, 1, 1.0f, Stage::stabilization)},
                 {1, seed_stats(3, 0, 1, 1.0f, Stage::fine_tuning)}});
  rig.bus.dispatch();
  Alert a;
  a.kind = AlertKind::non_finite_loss;
  a.value = std::numeric_limits<double>::quiet_NaN();
  rig.bus.publish(42, a);
  rig.bus.dispatch();
  ASSERT_EQ(rig.commands.size(), 3u);
  const std::pair<int32_t, int32_t> expected[] = {{0, 0}, {1, 0}, {1, 3}};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(rig.commands[i].kind, CommandKind::rollback);
    EXPECT_EQ(rig.commands[i].layer, expected[i].first);
    EXPECT_EQ(rig.commands[i].seed, expected[i].second);
    EXPECT_EQ(rig.commands[i].reason, "alert non_finite_loss");
  }
}

// Feeds the same synthetic run to a rig.
void drive(Rig& rig, int64_t from, int64_t to, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int64_t step = from; step < to; ++step) {
    if (step % 7 == 0) {
      std::vector<std::pair<int32_t, morph::SeedTelemetry>> special;
      for (int32_t l = 0; l < 2; ++l)
        for (int32_t s = 0; s < 4; ++s) {
          const SeedObservation& so = rig.controller->observation().layers[l].seeds[s];
          morph::SeedTelemetry t =
              seed_stats(s, u(rng), 2.0 * u(rng), static_cast<float>(u(rng)), so.stage);
          t.blueprint = so.blueprint;
          special.push_back({l, t});
        }
      rig.health(step, special);
    }
    if (step % 5 == 0) rig.validation(step, 1.0 + 0.01 * u(rng));
    if (step % 11 == 0) {
      for (int32_t l = 0; l < 2; ++l)
        for (int32_t s = 0; s < 4; ++s) {
          const SeedObservation& so = rig.controller->observation().layers[l].seeds[s];
          if (so.stage != Stage::germinated) continue;
          const auto bp = static_cast<BlueprintKind>(so.blueprint);
          if (u(rng) < 0.15) {
            rig.event(step, l, s, Stage::germinated, Stage::fossilized, Reason::fine_tuned, bp);
          } else {
            rig.event(step, l, s, Stage::germinated, Stage::culled, Reason::training_timeout, bp);
            rig.event(step, l, s, Stage::culled, Stage::dormant, Reason::released, bp);
          }
        }
    }
    rig.decide(step);
  }
}

TEST(ControllerState, RoundTripRestoresBitForBit) {
  ControllerConfig cfg = testing::heuristic_config();
  cfg.embargo_steps = 40;
  cfg.patience = 2;
  Rig a(cfg);
  drive(a, 0, 200, 5);
  const ControllerState saved = a.controller->save();
  EXPECT_NE(saved.find("heuristic/bandit/layer1/plays"), nullptr);
  EXPECT_NE(saved.find("heuristic/embargo"), nullptr);
  int64_t plays = 0;
  for (int64_t n : a.heuristic->bandit(0).plays()) plays += n;
  EXPECT_GT(plays, 0) << "the synthetic run must exercise the bandit";

  Rig b(cfg);
  b.controller->restore(saved);
  kasmina::testing::expect_same_section(saved, b.controller->save());
  EXPECT_EQ(b.heuristic->best_loss(), a.heuristic->best_loss());
  // From here both see the same inputs; they must decide the same.
  a.commands.clear();
  b.commands.clear();
  std::vector<Command> ca, cb;
  a.bus.subscribe(Topic::commands,
                  [&](const Message& m) { ca.push_back(std::get<Command>(m.payload)); });
  b.bus.subscribe(Topic::commands,
                  [&](const Message& m) { cb.push_back(std::get<Command>(m.payload)); });
  drive(a, 200, 400, 9);
  drive(b, 200, 400, 9);
  ASSERT_EQ(ca.size(), cb.size());
  EXPECT_GT(ca.size(), 0u);
  for (size_t i = 0; i < ca.size(); ++i) {
    EXPECT_EQ(ca[i].layer, cb[i].layer);
    EXPECT_EQ(ca[i].seed, cb[i].seed);
    EXPECT_EQ(ca[i].blueprint, cb[i].blueprint);
    EXPECT_EQ(ca[i].reason, cb[i].reason);
  }
  kasmina::testing::expect_same_section(a.controller->save(), b.controller->save());
}

TEST(ControllerState, CheckpointSectionIsSaveUnderControllerPrefix) {
  ControllerConfig cfg = testing::heuristic_config();
  cfg.patience = 2;
  Rig a(cfg);
  drive(a, 0, 200, 5);
  RunState run;
  StateWriter out(run);
  a.controller->save_state(out);
  const ControllerState direct = a.controller->save();
  ASSERT_EQ(run.tensors.size(), direct.tensors.size());
  for (size_t i = 0; i < run.tensors.size(); ++i)
    EXPECT_EQ(run.tensors[i].first, "controller/" + direct.tensors[i].first);
  EXPECT_EQ(run.ints.size(), direct.ints.size());
  EXPECT_EQ(run.floats.size(), direct.floats.size());
  for (const auto& [k, v] : direct.ints) EXPECT_EQ(run.ints.at("controller/" + k), v);

  // Entries of other sections beside it are not the controller's.
  StateWriter(run).integer("controllers/x", 1);
  StateWriter(run).section("trainer").integer("flagged_steps", 0);
  Rig b(cfg);
  b.controller->load_state(StateReader(run));
  kasmina::testing::expect_same_section(direct, b.controller->save());
}

}  // namespace
}  // namespace kasmina::control
