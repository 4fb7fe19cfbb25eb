#include "morph/seed_state_check.hpp"

#include <algorithm>
#include <utility>

#include "morph/stage.hpp"

namespace kasmina::morph {

namespace {

std::string range_text(int64_t lo, int64_t hi, const char* what) {
  return std::to_string(lo) + ".." + std::to_string(hi) + ", " + what;
}

SeedStateProblem problem(const char* field, const char* unit, int64_t index, int64_t value,
                         const std::string& allowed) {
  return {field, std::string(unit) + " " + std::to_string(index) + " is " + std::to_string(value) +
                     " (allowed: " + allowed + ")"};
}

}  // namespace

SeedStateProblem seed_state_problem(const HostSeedState& host,
                                    const std::vector<int32_t>& slot_owner,
                                    const MorphConfig& cfg) {
  HostSeedState copy = host;  // view() hands out mutable pointers
  const SeedStateView v = copy.view();
  const int32_t S = host.seeds;
  const auto pool = static_cast<int32_t>(slot_owner.size());
  auto allowed_blueprint = [&](int32_t b) {
    return b == -1 || std::find(cfg.allowed_blueprints.begin(), cfg.allowed_blueprints.end(),
                                static_cast<BlueprintKind>(b)) != cfg.allowed_blueprints.end();
  };
  const std::string stages = range_text(0, kStageCount - 1, "a stage code");
  for (int32_t s = 0; s < S; ++s) {
    const std::pair<const char*, const int32_t*> codes[] = {{"stage", v.stage},
                                                            {"parent_stage", v.parent_stage}};
    for (const auto& [name, values] : codes)
      if (values[s] < 0 || values[s] >= kStageCount)
        return problem(name, "seed", s, values[s], stages);
    if (!allowed_blueprint(v.blueprint[s]))
      return problem("blueprint", "seed", s, v.blueprint[s],
                     "-1 or a blueprint kind this layer allows");
    if (v.slot[s] < -1 || v.slot[s] >= pool)
      return problem("slot", "seed", s, v.slot[s], range_text(-1, pool - 1, "a pool slot or -1"));
    if (v.strategy[s] < 0 || v.strategy[s] >= kGraftingKindCount)
      return problem("strategy", "seed", s, v.strategy[s],
                     range_text(0, kGraftingKindCount - 1, "a grafting strategy"));
    const std::pair<const char*, const int32_t*> flags[] = {{"has_eval_score", v.has_eval_score},
                                                            {"has_snapshot", v.has_snapshot}};
    for (const auto& [name, values] : flags)
      if (values[s] != 0 && values[s] != 1) return problem(name, "seed", s, values[s], "0 or 1");
    const std::pair<const char*, const int32_t*> counts[] = {
        {"steps_in_stage", v.steps_in_stage},
        {"error_count", v.error_count},
        {"ramp_steps", v.ramp_steps},
        {"opt_step", v.opt_step},
        {"snapshot_opt_step", v.snapshot_opt_step}};
    for (const auto& [name, values] : counts)
      if (values[s] < 0) return problem(name, "seed", s, values[s], "a count >= 0");
  }
  for (int32_t p = 0; p < pool; ++p) {
    const int32_t owner = slot_owner[static_cast<size_t>(p)];
    if (owner < -1 || owner >= S)
      return problem("slot_owner", "slot", p, owner, range_text(-1, S - 1, "a seed or -1"));
    if (owner >= 0 && v.slot[owner] != p)
      return problem("slot_owner", "slot", p, owner,
                     "-1 or the seed whose slot it is; seed " + std::to_string(owner) +
                         " holds slot " + std::to_string(v.slot[owner]));
  }
  // The lifecycle gives a seed a slot when it germinates and takes it back when the seed returns
  // to DORMANT; the per-seed kernels find the seeds with work through the slot table
  // (kernels/morph/morph_kernel_common.cuh).
  for (int32_t s = 0; s < S; ++s) {
    const bool dormant = v.stage[s] == static_cast<int32_t>(Stage::dormant);
    if (dormant != (v.slot[s] < 0))
      return problem("slot", "seed", s, v.slot[s],
                     dormant ? "-1 for a DORMANT seed" : "the slot of a seed that is not DORMANT");
    if (v.slot[s] >= 0 && slot_owner[static_cast<size_t>(v.slot[s])] != s)
      return problem("slot", "seed", s, v.slot[s],
                     "a slot whose slot_owner entry is this seed; slot " +
                         std::to_string(v.slot[s]) + " belongs to " +
                         std::to_string(slot_owner[static_cast<size_t>(v.slot[s])]));
  }
  return {};
}

}  // namespace kasmina::morph
