// Scheduled growth runs through the real trainer: seeds walk the whole lifecycle to FOSSILIZED,
// others end CULLED, every transition is recorded, and the run is deterministic.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "config/config.hpp"
#include "data/dataset.hpp"
#include "morph/stage.hpp"
#include "tests/common/source_root.hpp"
#include "train/trainer.hpp"

using namespace kasmina;
using kasmina::testing::source_root;
using morph::Stage;

namespace {

class Quiet final : public TrainerObserver {};

TrainSummary run_config(const std::string& name, const std::vector<std::string>& sets) {
  Overrides ov;
  ov.sets = sets;
  if (const char* d = std::getenv("KASMINA_DATA_DIR"))
    ov.sets.push_back(string_override("data.dir", d));
  const Config cfg = load_config(source_root() + "/configs/" + name, ov);
  const DataSplits data = load_data(cfg.data, cfg.seed);
  Trainer t(cfg, data, Device::cpu());
  Quiet q;
  return t.run(q);
}

// The stages seed (layer, seed) went through, in order, from its transition events.
std::vector<Stage> walk(const TrainSummary& s, int layer, int seed) {
  std::vector<Stage> stages;
  for (const auto& e : s.growth_events) {
    if (e.layer != layer || e.seed != seed || e.from == e.to) continue;
    if (morph::reason_is_refusal(static_cast<morph::Reason>(e.reason))) continue;
    if (stages.empty()) stages.push_back(static_cast<Stage>(e.from));
    stages.push_back(static_cast<Stage>(e.to));
  }
  return stages;
}

const std::vector<Stage> kFullWalk = {Stage::dormant,     Stage::germinated,    Stage::training,
                                      Stage::grafting,    Stage::stabilization, Stage::evaluating,
                                      Stage::fine_tuning, Stage::fossilized};

}  // namespace

TEST(ScheduledGrowth, SpiralsFossilizesAndCulls) {
  const TrainSummary s = run_config("spirals_seeds.yaml", {});
  ASSERT_EQ(s.growth.size(), 2u);
  EXPECT_EQ(walk(s, 0, 0), kFullWalk);
  EXPECT_EQ(walk(s, 0, 7), kFullWalk);
  // Layer 1's gate cannot be passed: TRAINING times out, the seed is culled and released.
  EXPECT_EQ(walk(s, 1, 2), (std::vector<Stage>{Stage::dormant, Stage::germinated, Stage::training,
                                               Stage::culled, Stage::dormant}));
  EXPECT_GE(s.growth[0].fossilized, 1);
  EXPECT_EQ(s.growth[1].culled, 1);
  EXPECT_EQ(s.growth[0].stage_counts[static_cast<int>(Stage::fossilized)], s.growth[0].fossilized);
  EXPECT_GT(s.growth[0].parameters_added, 0);
  EXPECT_EQ(s.growth[1].parameters_added, 0);
  EXPECT_GE(s.test.accuracy, 0.95);
  // Deterministic: the same events and the same final loss again.
  const TrainSummary again = run_config("spirals_seeds.yaml", {});
  ASSERT_EQ(again.growth_events.size(), s.growth_events.size());
  for (size_t i = 0; i < s.growth_events.size(); ++i) {
    EXPECT_EQ(again.growth_events[i].step, s.growth_events[i].step);
    EXPECT_EQ(again.growth_events[i].to, s.growth_events[i].to);
    EXPECT_EQ(again.growth_events[i].value, s.growth_events[i].value);
  }
  EXPECT_EQ(again.final_train_loss, s.final_train_loss);
}

TEST(ScheduledGrowth, FashionMnistWalksSeedsToFossilizedAndCulled) {
  // One epoch is enough: the schedule germinates at steps 20 and 40 and the lifecycle takes
  // about 250 steps.
  const TrainSummary s = run_config("fmnist_seeds.yaml", {"train.epochs=1"});
  int fossilized = 0, culled = 0;
  for (const LayerGrowth& g : s.growth) {
    fossilized += static_cast<int>(g.fossilized);
    culled += static_cast<int>(g.culled);
  }
  EXPECT_GE(fossilized, 1);
  EXPECT_GE(culled, 1);
  bool some_full_walk = false;
  for (int layer = 0; layer < 2; ++layer)
    for (int seed : {0, 9, 17, 4, 11}) some_full_walk |= walk(s, layer, seed) == kFullWalk;
  EXPECT_TRUE(some_full_walk);
  EXPECT_GE(s.test.accuracy, 0.80);
}

TEST(HeuristicGrowth, SpiralsGerminatesFossilizesAndCullsDeterministically) {
  const TrainSummary s = run_config("spirals_grow.yaml", {});
  int64_t germinated = 0, fossilized = 0, culled = 0;
  for (const LayerGrowth& g : s.growth) {
    germinated += g.germinated;
    fossilized += g.fossilized;
    culled += g.culled;
  }
  EXPECT_GE(germinated, 3);
  EXPECT_GE(fossilized, 1);
  EXPECT_GE(culled, 1);
  // Every germination came from the controller's commands, none from a hand schedule.
  for (const auto& e : s.growth_events) {
    if (e.to == static_cast<int32_t>(Stage::germinated) && e.from == 0) {
      EXPECT_EQ(e.reason, static_cast<int32_t>(morph::Reason::command));
    }
  }
  const TrainSummary again = run_config("spirals_grow.yaml", {});
  ASSERT_EQ(again.growth_events.size(), s.growth_events.size());
  for (size_t i = 0; i < s.growth_events.size(); ++i) {
    EXPECT_EQ(again.growth_events[i].step, s.growth_events[i].step) << i;
    EXPECT_EQ(again.growth_events[i].seed, s.growth_events[i].seed) << i;
    EXPECT_EQ(again.growth_events[i].blueprint, s.growth_events[i].blueprint) << i;
  }
  EXPECT_EQ(again.final_train_loss, s.final_train_loss);
}

TEST(EmergencyRollback, InjectedNanRollsBackGraftingSeedsAndTrainingCompletes) {
  // Step 110 of configs/spirals_seeds.yaml: seeds 0, 3 and 5 of layer 0 are GRAFTING.
  const TrainSummary s = run_config("spirals_seeds.yaml", {"controller.debug_nan_step=110"});
  std::vector<int32_t> rolled;
  for (const auto& e : s.growth_events) {
    if (e.to == static_cast<int32_t>(Stage::rolled_back)) {
      EXPECT_EQ(e.reason, static_cast<int32_t>(morph::Reason::loss_alarm));
      EXPECT_EQ(e.from, static_cast<int32_t>(Stage::grafting));
      EXPECT_EQ(e.step, 111);  // rolled back in the boundary of the poisoned step itself
      rolled.push_back(e.seed);
    }
  }
  EXPECT_EQ(rolled, (std::vector<int32_t>{0, 3, 5}));
  EXPECT_EQ(s.flagged_steps, 1);
  for (const EpochReport& r : s.epoch_reports) {
    EXPECT_TRUE(std::isfinite(r.train_loss)) << "epoch " << r.epoch;
    EXPECT_TRUE(std::isfinite(r.test.loss)) << "epoch " << r.epoch;
  }
  EXPECT_EQ(s.epoch_reports.size(), 20u);
  EXPECT_GE(s.test.accuracy, 0.95);
  EXPECT_EQ(s.growth[0].rolled_back, 3);
}

// The loss guard runs only while a seed may be active: configs/spirals_seeds.yaml schedules its
// first germinations at step 60, applied at that step's boundary, so a run that ends before has
// no guarded step, and a longer run guards every step from 61 on.
TEST(LossGuard, RunsOnlyWhileSeedsMayBeActive) {
  auto accepted_after = [](int epochs) {
    Overrides ov;
    ov.sets = {"train.epochs=" + std::to_string(epochs)};
    const Config cfg = load_config(source_root() + "/configs/spirals_seeds.yaml", ov);
    const DataSplits data = load_data(cfg.data, cfg.seed);
    Trainer t(cfg, data, Device::cpu());
    Quiet q;
    const TrainSummary s = t.run(q);
    EXPECT_EQ(s.flagged_steps, 0);
    const RunState st = t.capture_state();
    return std::make_pair(st.get("guard/accepted").to_vector<int64_t>()[0], t.global_step());
  };
  const auto [before, steps_before] = accepted_after(1);  // 31 steps, all seeds dormant
  EXPECT_EQ(steps_before, 31);
  EXPECT_EQ(before, 0);
  const auto [after, steps_after] = accepted_after(3);  // 93 steps
  EXPECT_EQ(steps_after, 93);
  EXPECT_EQ(after, 93 - 61);
}
