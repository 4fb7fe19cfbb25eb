// The seed lifecycle: ONE table of allowed transitions, the minimum steps and gates that guard
// them, and the per-seed rules the batched lifecycle step applies (CPU twin and CUDA kernel run
// these same functions; they differ only in how seeds are spread over threads).
//
// Allowed transitions (everything else is refused with Reason::refused_illegal):
//   DORMANT       -> GERMINATED                         (host: germinate)
//   GERMINATED    -> TRAINING                           (auto: a training slot is free)
//                 -> CANCELLED                          (host)
//   TRAINING      -> GRAFTING                           (gate: isolated-loss EMA < threshold)
//                 -> CULLED | CANCELLED                 (auto timeout | host)
//   GRAFTING      -> STABILIZATION                      (gate: alpha == 1)
//                 -> CULLED | ROLLED_BACK               (host, or non-finite emergency exit)
//   STABILIZATION -> EVALUATING                         (time)
//                 -> CULLED | ROLLED_BACK
//   EVALUATING    -> FINE_TUNING                        (gate: evaluation score > 0)
//                 -> CULLED | ROLLED_BACK               (score <= 0 or timeout | host)
//   FINE_TUNING   -> FOSSILIZED                         (time)
//                 -> CULLED | ROLLED_BACK
//   FOSSILIZED    -> (none: kept for good)
//   CULLED | CANCELLED | ROLLED_BACK -> DORMANT          (next boundary: slot freed)
// Minimum steps (LifecycleParams::min_steps[from]) guard every move to a non-exit stage, from
// time, gates or host requests alike; exits (CULLED, CANCELLED, ROLLED_BACK) requested by the
// host are emergency brakes and are never delayed. Host commands: lifecycle_commands.hpp.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/hd.hpp"
#include "morph/blueprint.hpp"
#include "morph/blueprint_pool.hpp"
#include "morph/grafting.hpp"
#include "morph/morph_config.hpp"
#include "morph/morph_events.hpp"
#include "morph/seed_state.hpp"
#include "morph/stage.hpp"

namespace kasmina::morph {

KASMINA_HD uint32_t stage_bit(Stage s) {
  return 1u << static_cast<int32_t>(s);
}

// The transition table: bit `to` of allowed_targets(from) is set when from -> to is allowed.
KASMINA_HD uint32_t allowed_targets(int32_t from) {
  const uint32_t graft_exits = stage_bit(Stage::culled) | stage_bit(Stage::rolled_back);
  switch (from) {
    case static_cast<int32_t>(Stage::dormant):
      return stage_bit(Stage::germinated);
    case static_cast<int32_t>(Stage::germinated):
      return stage_bit(Stage::training) | stage_bit(Stage::cancelled);
    case static_cast<int32_t>(Stage::training):
      return stage_bit(Stage::grafting) | stage_bit(Stage::culled) | stage_bit(Stage::cancelled);
    case static_cast<int32_t>(Stage::grafting):
      return stage_bit(Stage::stabilization) | graft_exits;
    case static_cast<int32_t>(Stage::stabilization):
      return stage_bit(Stage::evaluating) | graft_exits;
    case static_cast<int32_t>(Stage::evaluating):
      return stage_bit(Stage::fine_tuning) | graft_exits;
    case static_cast<int32_t>(Stage::fine_tuning):
      return stage_bit(Stage::fossilized) | graft_exits;
    case static_cast<int32_t>(Stage::culled):
    case static_cast<int32_t>(Stage::cancelled):
    case static_cast<int32_t>(Stage::rolled_back):
      return stage_bit(Stage::dormant);
    case static_cast<int32_t>(Stage::fossilized):
    default:
      return 0u;
  }
}

KASMINA_HD bool transition_allowed(int32_t from, int32_t to) {
  return to >= 0 && to < kStageCount && from >= 0 && from < kStageCount &&
         (allowed_targets(from) >> to & 1u) != 0u;
}

// A decision of the lifecycle rules: `to` < 0 means "stay".
struct TransitionDecision {
  int32_t to = -1;
  int32_t reason = 0;
  float value = 0.0f;
};

KASMINA_HD TransitionDecision make_decision(Stage to, Reason r, float value) {
  TransitionDecision d;
  d.to = static_cast<int32_t>(to);
  d.reason = static_cast<int32_t>(r);
  d.value = value;
  return d;
}

// The TRAINING -> GRAFTING gate on the seed's TRAINING EMA (iso_loss_ema): the reconstruction
// loss below its threshold, or (task_gradient) the estimated gain above its threshold. Under
// task_gradient the EMA holds the measured sum of <delta, dy> (negative: a gain), so the gain
// is -ema; it is set from the seed's first TRAINING boundary on (steps_in_stage >= 1).
KASMINA_HD bool task_objective(const LifecycleParams& lp) {
  return lp.training_objective == static_cast<int32_t>(TrainingObjective::task_gradient);
}
// The standard error of that EMA under task_gradient (its noise, issue 15): over k =
// steps_in_stage measurements, started at the first one, the EMA's weights are w_1 = d^(k-1),
// w_i = (1 - d) d^(k-i), with W2 = sum w_i^2 = d^(2(k-1)) + (1 - d)(1 - d^(2(k-1))) / (1 + d);
// (iso_sq_ema - ema^2) / (1 - W2) estimates the measurements' variance without bias, and the
// EMA's variance is that times W2. FLT_MAX while there is no estimate (one measurement, or
// W2 = 1), so the gate stays closed for any z > 0.
KASMINA_HD float training_gain_se(const SeedStateView& st, int32_t s, const LifecycleParams& lp) {
  const int32_t k = st.steps_in_stage[s];
  const float d = lp.ema_decay;
  const float dk = powf(d, 2.0f * static_cast<float>(k - 1));
  const float w2 = dk + (1.0f - d) * (1.0f - dk) / (1.0f + d);
  if (k < 2 || !(w2 < 1.0f)) return 3.402823466e38f;
  const float mean = st.iso_loss_ema[s];
  const float var = fmaxf(0.0f, st.iso_sq_ema[s] - mean * mean) / (1.0f - w2);
  return sqrtf(var * w2);
}
// task_gradient: open when the gain exceeds the threshold by training_gain_z standard errors
// (z = 0: the EMA alone, the earlier gate).
KASMINA_HD bool training_gate_open(const SeedStateView& st, int32_t s, const LifecycleParams& lp) {
  const float ema = st.iso_loss_ema[s];
  if (task_objective(lp)) {
    if (st.steps_in_stage[s] < 1) return false;
    const float noise =
        lp.training_gain_z > 0.0f ? lp.training_gain_z * training_gain_se(st, s, lp) : 0.0f;
    return -ema - noise > lp.training_gain_threshold;
  }
  return ema >= 0.0f && ema < lp.training_loss_threshold;
}

// Validates a request to move seed s to `to` (pair, minimum steps, gate). Returns the decision
// with reason `accept_reason` when it may be applied, or a refusal reason.
KASMINA_HD TransitionDecision check_transition(const SeedStateView& st, int32_t s, int32_t to,
                                               const LifecycleParams& lp, int32_t training_count,
                                               Reason accept_reason) {
  TransitionDecision d;
  d.to = to;
  const int32_t from = st.stage[s];
  if (!transition_allowed(from, to)) {
    d.reason = static_cast<int32_t>(Reason::refused_illegal);
    return d;
  }
  if (!stage_is_exit(to) && to != static_cast<int32_t>(Stage::dormant) &&
      st.steps_in_stage[s] < lp.min_steps[from]) {
    d.reason = static_cast<int32_t>(Reason::refused_min_steps);
    d.value = static_cast<float>(st.steps_in_stage[s]);
    return d;
  }
  if (to == static_cast<int32_t>(Stage::training) && training_count >= lp.max_training_seeds) {
    d.reason = static_cast<int32_t>(Reason::refused_gate);
    d.value = static_cast<float>(training_count);
    return d;
  }
  if (from == static_cast<int32_t>(Stage::training) &&
      to == static_cast<int32_t>(Stage::grafting) && !training_gate_open(st, s, lp)) {
    d.reason = static_cast<int32_t>(Reason::refused_gate);
    d.value = st.iso_loss_ema[s];
    return d;
  }
  if (to == static_cast<int32_t>(Stage::stabilization) && !(st.alpha[s] >= 1.0f)) {
    d.reason = static_cast<int32_t>(Reason::refused_gate);
    d.value = st.alpha[s];
    return d;
  }
  if (to == static_cast<int32_t>(Stage::fine_tuning) &&
      !(st.has_eval_score[s] != 0 && st.eval_score[s] > 0.0f)) {
    d.reason = static_cast<int32_t>(Reason::refused_gate);
    d.value = st.eval_score[s];
    return d;
  }
  d.reason = static_cast<int32_t>(accept_reason);
  return d;
}

// Initialises a freshly allocated slot: parameters from blueprint_init_value, moments, gradient
// and snapshot zeroed. start/stride split the work over threads (0/1 on the CPU).
template <class T>
KASMINA_HD void init_slot(const PoolView<T>& pool, int32_t slot, int32_t kind,
                          const BlueprintShape& sh, uint64_t run_seed, int32_t layer, int32_t seed,
                          int32_t start, int32_t stride) {
  const int32_t n = blueprint_param_count(kind, sh);
  T* base = pool.at(slot, PoolRegion::params);
  for (int64_t i = start; i < pool.slot_stride(); i += stride) {
    base[i] = i < n ? static_cast<T>(blueprint_init_value(kind, sh, static_cast<int32_t>(i),
                                                          run_seed, layer, seed))
                    : T(0);
  }
}

// The parameter-region work of a transition: entering GRAFTING snapshots the slot's parameters
// and moments (and zeroes the moments), ROLLED_BACK restores them from the snapshot.
enum class RegionWork : int32_t { none = 0, snapshot = 1, restore = 2 };

// Where the three values of a region work come from and go to: a snapshot copies the parameters
// and both moments into the snapshot regions and zeroes the moments; a restore copies back.
struct RegionMove {
  PoolRegion from[3];
  PoolRegion to[3];
  bool zero_moments;
};

KASMINA_HD RegionMove region_move(RegionWork work) {
  if (work == RegionWork::snapshot)
    return {
        {PoolRegion::params, PoolRegion::moment1, PoolRegion::moment2},
        {PoolRegion::snapshot_params, PoolRegion::snapshot_moment1, PoolRegion::snapshot_moment2},
        true};
  return {{PoolRegion::snapshot_params, PoolRegion::snapshot_moment1, PoolRegion::snapshot_moment2},
          {PoolRegion::params, PoolRegion::moment1, PoolRegion::moment2},
          false};
}

// The two halves of the move of value i of a slot's regions: the loads, then the stores (so a
// caller may keep several values in flight; the CUDA lifecycle kernel shares this work among a
// block's threads).
template <class T>
KASMINA_HD void load_region_values(const PoolView<T>& pool, int32_t slot, const RegionMove& m,
                                   int32_t i, T* v) {
  for (int r = 0; r < 3; ++r) v[r] = pool.at(slot, m.from[r])[i];
}
template <class T>
KASMINA_HD void store_region_values(const PoolView<T>& pool, int32_t slot, const RegionMove& m,
                                    int32_t i, const T* v) {
  for (int r = 0; r < 3; ++r) pool.at(slot, m.to[r])[i] = v[r];
  // The objective changes from the isolated loss to the global one: fresh AdamW moments.
  if (m.zero_moments) {
    pool.at(slot, PoolRegion::moment1)[i] = T(0);
    pool.at(slot, PoolRegion::moment2)[i] = T(0);
  }
}

// Applies the seed-state part of an accepted transition of seed s (the caller has validated it)
// and returns the region work the caller must then do on the seed's slot (st.slot[s], unchanged
// by the transitions that have region work). Region work touches the seed's own slot only, so
// seeds can be processed in parallel.
template <class T>
KASMINA_HD RegionWork apply_transition_state(const SeedStateView& st, int32_t s, int32_t to,
                                             const PoolView<T>& pool) {
  const int32_t from = st.stage[s];
  const int32_t slot = st.slot[s];
  st.parent_stage[s] = from;
  st.stage[s] = to;
  st.steps_in_stage[s] = 0;
  RegionWork work = RegionWork::none;
  switch (to) {
    case static_cast<int32_t>(Stage::training):
      st.iso_loss_ema[s] = -1.0f;
      st.iso_sq_ema[s] = 0.0f;
      break;
    case static_cast<int32_t>(Stage::grafting):
      st.snapshot_opt_step[s] = st.opt_step[s];
      st.has_snapshot[s] = 1;
      st.opt_step[s] = 0;
      st.alpha[s] = 0.0f;
      st.ramp_steps[s] = 0;
      st.grad_norm_ema[s] = -1.0f;
      work = RegionWork::snapshot;
      break;
    case static_cast<int32_t>(Stage::stabilization):
      st.alpha[s] = 1.0f;
      break;
    case static_cast<int32_t>(Stage::evaluating):
      st.has_eval_score[s] = 0;
      st.eval_score[s] = 0.0f;
      break;
    case static_cast<int32_t>(Stage::rolled_back): {
      if (st.has_snapshot[s] != 0 && slot >= 0) {
        st.opt_step[s] = st.snapshot_opt_step[s];
        work = RegionWork::restore;
      }
      st.alpha[s] = 0.0f;
      break;
    }
    case static_cast<int32_t>(Stage::culled):
    case static_cast<int32_t>(Stage::cancelled):
      st.alpha[s] = 0.0f;
      break;
    case static_cast<int32_t>(Stage::dormant): {
      if (slot >= 0) pool.owner[slot] = -1;
      st.slot[s] = -1;
      st.blueprint[s] = -1;
      st.alpha[s] = 0.0f;
      st.error_count[s] = 0;
      st.eval_score[s] = 0.0f;
      st.has_eval_score[s] = 0;
      st.iso_loss_ema[s] = -1.0f;
      st.iso_sq_ema[s] = 0.0f;
      st.drift_ema[s] = 0.0f;
      st.input_ms_ema[s] = -1.0f;
      st.grad_norm_ema[s] = -1.0f;
      st.improvement[s] = 0.0f;
      st.ramp_steps[s] = 0;
      st.opt_step[s] = 0;
      st.snapshot_opt_step[s] = 0;
      st.has_snapshot[s] = 0;
      break;
    }
    default:
      break;
  }
  return work;
}

// Applies an accepted transition of seed s with its region work, by one thread.
template <class T>
KASMINA_HD void apply_transition(const SeedStateView& st, int32_t s, int32_t to,
                                 const PoolView<T>& pool) {
  const RegionWork work = apply_transition_state(st, s, to, pool);
  if (work == RegionWork::none) return;
  const RegionMove m = region_move(work);
  for (int32_t i = 0; i < pool.region; ++i) {
    T v[3];
    load_region_values(pool, st.slot[s], m, i, v);
    store_region_values(pool, st.slot[s], m, i, v);
  }
}

// Measurements of the step that just ended, per seed (written by the fused forward/backward).
struct SeedMeasurements {
  bool stats_fresh = false;  // a train-mode forward ran with statistics this step
  float input_mean_square = 0.0f;
  // TRAINING seeds: the isolated reconstruction loss, or (task_gradient) the sum over the batch
  // of <delta(x), dy> (written by the backward)
  float iso_loss = 0.0f;
  bool grads_fresh = false;  // a backward ran this step
  float grad_norm = 0.0f;    // blueprint gradient norm (training stages)
  int32_t loss_alarm = 0;    // the loss guard's flag for this step (0: none; ops/guard/)
};

KASMINA_HD float ema_update(float ema, float value, float decay) {
  return ema < 0.0f ? value : decay * ema + (1.0f - decay) * value;
}

// Pass A of the lifecycle step for one seed: counts the step, folds this step's measurements
// into the EMAs, advances alpha, and decides the transition that time or a gate causes
// (GERMINATED -> TRAINING is decided by pass B, which needs the layer-wide training count).
KASMINA_HD TransitionDecision advance_seed(const SeedStateView& st, int32_t s,
                                           const LifecycleParams& lp, const GraftingParams& gp,
                                           const SeedMeasurements& m) {
  TransitionDecision none;
  const int32_t stage = st.stage[s];
  if (stage == static_cast<int32_t>(Stage::dormant)) return none;
  const int32_t steps = ++st.steps_in_stage[s];

  if (m.stats_fresh) {
    const float ref = st.input_ms_ema[s];
    if (ref >= 0.0f) {
      const float drift = fabsf(m.input_mean_square - ref) / (ref + 1e-12f);
      if (finite_value(drift))
        st.drift_ema[s] = lp.ema_decay * st.drift_ema[s] + (1.0f - lp.ema_decay) * drift;
    }
    if (finite_value(m.input_mean_square))
      st.input_ms_ema[s] = ema_update(ref, m.input_mean_square, lp.ema_decay);
    if (stage == static_cast<int32_t>(Stage::training)) {
      if (finite_value(m.iso_loss)) {
        const float prev = st.iso_loss_ema[s];
        // (task_gradient: the measurement may be negative, so the EMA starts at the first one)
        if (!task_objective(lp))
          st.iso_loss_ema[s] = ema_update(prev, m.iso_loss, lp.ema_decay);
        else {
          const float sq = m.iso_loss * m.iso_loss;
          st.iso_loss_ema[s] =
              steps == 1 ? m.iso_loss : lp.ema_decay * prev + (1.0f - lp.ema_decay) * m.iso_loss;
          st.iso_sq_ema[s] =
              steps == 1 ? sq : lp.ema_decay * st.iso_sq_ema[s] + (1.0f - lp.ema_decay) * sq;
        }
      } else {
        st.error_count[s] += 1;
      }
    }
  }
  if (m.grads_fresh && stage_trains(stage)) {
    if (finite_value(m.grad_norm)) {
      st.grad_norm_ema[s] = ema_update(st.grad_norm_ema[s], m.grad_norm, lp.ema_decay);
    } else {
      st.error_count[s] += 1;
    }
  }
  if (st.error_count[s] > lp.max_errors && !stage_is_exit(stage) &&
      stage != static_cast<int32_t>(Stage::fossilized)) {
    const Stage exit = st.has_snapshot[s] != 0 ? Stage::rolled_back : Stage::culled;
    if (transition_allowed(stage, static_cast<int32_t>(exit)))
      return make_decision(exit, Reason::non_finite, static_cast<float>(st.error_count[s]));
  }

  // Emergency rollback: a non-finite or spiking loss while the seed shapes the host's output and
  // is trained by the global loss restores its pre-graft snapshot.
  if (m.loss_alarm != 0 && st.has_snapshot[s] != 0 &&
      (stage == static_cast<int32_t>(Stage::grafting) ||
       stage == static_cast<int32_t>(Stage::stabilization) ||
       stage == static_cast<int32_t>(Stage::fine_tuning)))
    return make_decision(Stage::rolled_back, Reason::loss_alarm, static_cast<float>(m.loss_alarm));

  switch (stage) {
    case static_cast<int32_t>(Stage::culled):
    case static_cast<int32_t>(Stage::cancelled):
    case static_cast<int32_t>(Stage::rolled_back):
      return make_decision(Stage::dormant, Reason::released, 0.0f);
    case static_cast<int32_t>(Stage::training): {
      const float ema = st.iso_loss_ema[s];
      if (steps >= lp.min_steps[stage] && training_gate_open(st, s, lp))
        return make_decision(Stage::grafting, Reason::loss_gate, ema);
      if (steps >= lp.max_training_steps)
        return make_decision(Stage::culled, Reason::training_timeout, ema);
      return none;
    }
    case static_cast<int32_t>(Stage::grafting): {
      GraftingContext c;
      c.alpha = st.alpha[s];
      c.ramp_steps = st.ramp_steps[s];
      c.drift_ema = st.drift_ema[s];
      c.grad_norm_ema = st.grad_norm_ema[s];
      c.improvement = st.improvement[s];
      const int32_t kind = st.strategy[s];
      if (c.alpha < 1.0f && !grafting_should_pause(kind, gp, c)) {
        st.alpha[s] = grafting_next_alpha(kind, gp, c);
        st.ramp_steps[s] = c.ramp_steps + 1;
      }
      if (st.alpha[s] >= 1.0f && steps >= lp.min_steps[stage])
        return make_decision(Stage::stabilization, Reason::alpha_complete, st.alpha[s]);
      return none;
    }
    case static_cast<int32_t>(Stage::stabilization):
      if (steps >= lp.min_steps[stage])
        return make_decision(Stage::evaluating, Reason::stabilized, 0.0f);
      return none;
    case static_cast<int32_t>(Stage::evaluating):
      if (steps >= lp.min_steps[stage] && st.has_eval_score[s] != 0) {
        const float score = st.eval_score[s];
        return score > 0.0f ? make_decision(Stage::fine_tuning, Reason::improved, score)
                            : make_decision(Stage::culled, Reason::not_improved, score);
      }
      if (steps >= lp.max_evaluating_steps)
        return make_decision(Stage::culled, Reason::evaluation_timeout, 0.0f);
      return none;
    case static_cast<int32_t>(Stage::fine_tuning):
      if (steps >= lp.min_steps[stage])
        return make_decision(Stage::fossilized, Reason::fine_tuned, 0.0f);
      return none;
    default:
      return none;
  }
}

// Pass B: whether a GERMINATED seed is ready to take a training slot (the caller grants slots in
// seed order while fewer than max_training_seeds seeds are TRAINING).
KASMINA_HD bool wants_training_slot(const SeedStateView& st, int32_t s, const LifecycleParams& lp) {
  return st.stage[s] == static_cast<int32_t>(Stage::germinated) &&
         st.steps_in_stage[s] >= lp.min_steps[static_cast<int32_t>(Stage::germinated)];
}

// Fills the event of an automatic (pass A or B) transition.
KASMINA_HD MorphEvent make_event(int64_t step, int32_t layer, int32_t seed, int32_t from,
                                 int32_t blueprint, const TransitionDecision& d) {
  MorphEvent e;
  e.step = step;
  e.layer = layer;
  e.seed = seed;
  e.from = from;
  e.to = d.to;
  e.blueprint = blueprint;
  e.reason = d.reason;
  e.value = d.value;
  e.pad = 0;
  return e;
}

}  // namespace kasmina::morph
