// Host commands applied by the batched lifecycle step (germinate, cancel, cull, evaluation
// scores...): the layer's static facts the rules need and one command applied serially, with the
// same transition checks as the automatic moves (lifecycle.hpp). The CPU twin and the CUDA kernel
// call these same functions.
#pragma once
#include <cstdint>

#include "core/hd.hpp"
#include "morph/lifecycle.hpp"

namespace kasmina::morph {

// Static facts of one layer the lifecycle rules need.
struct LayerRules {
  int32_t layer = 0;
  uint32_t allowed_blueprints = 0;  // bit k: blueprint kind k may be germinated (k < 32)
  int32_t strategy = 0;             // GraftingKind given to new seeds
  BlueprintShape shape;
  uint64_t run_seed = 0;
};

// Result of a host command: the event to record and, for an accepted germination, the slot to
// initialise (-1 otherwise).
struct CommandOutcome {
  MorphEvent event;
  int32_t init_slot = -1;
  int32_t init_blueprint = -1;
};

// Applies one host command serially (commands are few; the caller initialises the slot of an
// accepted germination, possibly with many threads). `training_count` is kept up to date.
template <class T>
KASMINA_HD CommandOutcome apply_command(const MorphCommand& cmd, const SeedStateView& st,
                                        const PoolView<T>& pool, const LifecycleParams& lp,
                                        const LayerRules& rules, int64_t step,
                                        int32_t* training_count) {
  CommandOutcome out;
  MorphEvent& e = out.event;
  e.step = step;
  e.layer = rules.layer;
  e.seed = cmd.seed;
  e.from = -1;
  e.to = -1;
  e.blueprint = -1;
  e.reason = static_cast<int32_t>(Reason::command);
  e.value = 0.0f;
  e.pad = 0;
  const int32_t s = cmd.seed;
  if (s < 0 || s >= st.seeds) {
    e.reason = static_cast<int32_t>(Reason::refused_bad_seed);
    e.value = static_cast<float>(s);
    if (cmd.type == static_cast<int32_t>(CommandType::germinate)) e.blueprint = cmd.arg;
    return out;
  }
  const int32_t from = st.stage[s];
  e.from = from;
  e.blueprint = st.blueprint[s];
  int32_t type = cmd.type;
  int32_t blueprint_arg = cmd.arg;
  if (type == static_cast<int32_t>(CommandType::transition) &&
      cmd.arg == static_cast<int32_t>(Stage::germinated)) {
    // A plain request for GERMINATED germinates the layer's first allowed blueprint.
    type = static_cast<int32_t>(CommandType::germinate);
    blueprint_arg = -1;
    for (int32_t k = kMaxBlueprintKinds - 1; k >= 0; --k)
      if ((rules.allowed_blueprints >> k) & 1u) blueprint_arg = k;
  }
  switch (type) {
    case static_cast<int32_t>(CommandType::germinate): {
      e.to = static_cast<int32_t>(Stage::germinated);
      e.blueprint = blueprint_arg;
      if (!transition_allowed(from, e.to)) {
        e.reason = static_cast<int32_t>(Reason::refused_illegal);
        return out;
      }
      if (blueprint_arg < 0 || blueprint_arg >= kMaxBlueprintKinds ||
          ((rules.allowed_blueprints >> blueprint_arg) & 1u) == 0u) {
        e.reason = static_cast<int32_t>(Reason::refused_blueprint);
        e.value = static_cast<float>(blueprint_arg);
        return out;
      }
      int32_t slot = -1;
      for (int32_t i = 0; i < pool.slots; ++i) {
        if (pool.owner[i] < 0) {
          slot = i;
          break;
        }
      }
      if (slot < 0) {
        e.reason = static_cast<int32_t>(Reason::refused_pool_exhausted);
        e.value = static_cast<float>(pool.slots);
        return out;
      }
      pool.owner[slot] = s;
      st.slot[s] = slot;
      st.blueprint[s] = blueprint_arg;
      st.strategy[s] = rules.strategy;
      st.parent_stage[s] = from;
      st.stage[s] = e.to;
      st.steps_in_stage[s] = 0;
      st.alpha[s] = 0.0f;
      st.opt_step[s] = 0;
      st.has_snapshot[s] = 0;
      e.value = static_cast<float>(slot);
      out.init_slot = slot;
      out.init_blueprint = blueprint_arg;
      return out;
    }
    case static_cast<int32_t>(CommandType::transition): {
      const TransitionDecision d =
          check_transition(st, s, cmd.arg, lp, *training_count, Reason::command);
      e.to = cmd.arg;
      e.reason = d.reason;
      e.value = d.value;
      if (d.reason == static_cast<int32_t>(Reason::command)) {
        if (from == static_cast<int32_t>(Stage::training)) *training_count -= 1;
        if (cmd.arg == static_cast<int32_t>(Stage::training)) *training_count += 1;
        apply_transition(st, s, cmd.arg, pool);
      }
      return out;
    }
    case static_cast<int32_t>(CommandType::set_eval_score):
      e.to = from;
      e.value = cmd.value;
      e.reason = static_cast<int32_t>(Reason::score_set);
      st.eval_score[s] = cmd.value;
      st.has_eval_score[s] = 1;
      return out;
    case static_cast<int32_t>(CommandType::set_improvement):
      e.to = from;
      e.value = cmd.value;
      e.reason = static_cast<int32_t>(Reason::improvement_set);
      st.improvement[s] = cmd.value;
      return out;
    default:
      e.to = from;
      e.reason = static_cast<int32_t>(Reason::refused_bad_command);
      e.value = static_cast<float>(cmd.type);
      return out;
  }
}

}  // namespace kasmina::morph
