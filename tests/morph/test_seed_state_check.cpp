// seed_state_problem: a state a run writes passes; each field out of its range is named with its
// seed and what is allowed; a slot table that disagrees with the seeds is refused.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "morph/seed_state_check.hpp"
#include "morph/stage.hpp"

namespace kasmina::morph {
namespace {

constexpr int32_t kSeeds = 4;
constexpr int32_t kSlots = 8;

MorphConfig layer_config() {
  MorphConfig c;
  c.seeds = kSeeds;
  c.pool_slots = kSlots;
  c.allowed_blueprints = {BlueprintKind::residual_mlp, BlueprintKind::diag_scale};
  return c;
}

// A valid busy state: seed 1 GRAFTING with diag_scale in slot 5.
HostSeedState busy(std::vector<int32_t>& owners) {
  HostSeedState h = SeedState::initial_host_state(kSeeds);
  SeedStateView v = h.view();
  v.stage[1] = static_cast<int32_t>(Stage::grafting);
  v.parent_stage[1] = static_cast<int32_t>(Stage::training);
  v.blueprint[1] = static_cast<int32_t>(BlueprintKind::diag_scale);
  v.slot[1] = 5;
  v.steps_in_stage[1] = 7;
  v.has_snapshot[1] = 1;
  owners.assign(kSlots, -1);
  owners[5] = 1;
  return h;
}

SeedStateProblem problem_after(
    const std::function<void(SeedStateView&, std::vector<int32_t>&)>& f) {
  std::vector<int32_t> owners;
  HostSeedState h = busy(owners);
  SeedStateView v = h.view();
  f(v, owners);
  return seed_state_problem(h, owners, layer_config());
}

// An edit of the busy state and the problem it must raise.
struct Case {
  std::function<void(SeedStateView&, std::vector<int32_t>&)> edit;
  const char* field;
  const char* text;
};
template <size_t N>
void expect_problems(const Case (&cases)[N]) {
  for (const Case& c : cases) {
    const SeedStateProblem p = problem_after(c.edit);
    EXPECT_EQ(p.field, c.field);
    EXPECT_EQ(p.text, c.text);
  }
}

TEST(SeedStateCheck, AStateARunWritesPasses) {
  EXPECT_FALSE(problem_after([](SeedStateView&, std::vector<int32_t>&) {}));
}

TEST(SeedStateCheck, EachFieldOutOfRangeIsNamed) {
  const Case cases[] = {
      {[](SeedStateView& v, auto&) { v.stage[2] = 77; }, "stage",
       "seed 2 is 77 (allowed: 0..10, a stage code)"},
      {[](SeedStateView& v, auto&) { v.parent_stage[0] = -1; }, "parent_stage",
       "seed 0 is -1 (allowed: 0..10, a stage code)"},
      {[](SeedStateView& v, auto&) {
         v.blueprint[1] = static_cast<int32_t>(BlueprintKind::low_rank);
       },
       "blueprint", "seed 1 is 1 (allowed: -1 or a blueprint kind this layer allows)"},
      {[](SeedStateView& v, auto&) { v.slot[3] = kSlots; }, "slot",
       "seed 3 is 8 (allowed: -1..7, a pool slot or -1)"},
      {[](SeedStateView& v, auto&) { v.strategy[0] = 4; }, "strategy",
       "seed 0 is 4 (allowed: 0..3, a grafting strategy)"},
      {[](SeedStateView& v, auto&) { v.has_eval_score[2] = 2; }, "has_eval_score",
       "seed 2 is 2 (allowed: 0 or 1)"},
      {[](SeedStateView& v, auto&) { v.opt_step[1] = -3; }, "opt_step",
       "seed 1 is -3 (allowed: a count >= 0)"},
      {[](SeedStateView&, std::vector<int32_t>& o) { o[6] = kSeeds; }, "slot_owner",
       "slot 6 is 4 (allowed: -1..3, a seed or -1)"},
  };
  expect_problems(cases);
}

// The per-seed kernels find the seeds with work through the slot table, so a seed that holds no
// slot, a DORMANT seed that holds one, and a slot whose owner does not hold it are refused.
TEST(SeedStateCheck, TheSlotTableAgreesWithTheSeeds) {
  const Case cases[] = {
      {[](SeedStateView& v, auto& o) {
         v.slot[1] = -1;
         o[5] = -1;
       },
       "slot", "seed 1 is -1 (allowed: the slot of a seed that is not DORMANT)"},
      {[](SeedStateView& v, auto&) { v.slot[2] = 3; }, "slot",
       "seed 2 is 3 (allowed: -1 for a DORMANT seed)"},
      {[](SeedStateView&, std::vector<int32_t>& o) { o[5] = -1; }, "slot",
       "seed 1 is 5 (allowed: a slot whose slot_owner entry is this seed; slot 5 belongs to -1)"},
      {[](SeedStateView&, std::vector<int32_t>& o) { o[2] = 1; }, "slot_owner",
       "slot 2 is 1 (allowed: -1 or the seed whose slot it is; seed 1 holds slot 5)"},
      {[](SeedStateView&, std::vector<int32_t>& o) {
         o[5] = -1;
         o[2] = 1;
       },
       "slot_owner", "slot 2 is 1 (allowed: -1 or the seed whose slot it is; seed 1 holds slot 5)"},
  };
  expect_problems(cases);
  // Two seeds that are not DORMANT, each in its own slot: valid.
  EXPECT_FALSE(problem_after([](SeedStateView& v, std::vector<int32_t>& o) {
    v.stage[3] = static_cast<int32_t>(Stage::germinated);
    v.blueprint[3] = static_cast<int32_t>(BlueprintKind::residual_mlp);
    v.slot[3] = 0;
    o[0] = 3;
  }));
}

}  // namespace
}  // namespace kasmina::morph
