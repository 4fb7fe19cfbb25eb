// Options of one morphogenetic layer (KasminaLayer) as plain structs with documented defaults.
// YAML parsing lives in src/config/; this header only defines the values. The POD parts
// (LifecycleParams, GraftingParams, BlueprintShape, BlueprintOptimizer) are passed by value to
// the fused kernels.
#pragma once
#include <cstdint>
#include <vector>

#include "morph/morph_limits.hpp"
#include "morph/seed_path.hpp"
#include "morph/stage.hpp"

namespace kasmina::morph {

// Built-in blueprints (C -> C modules a seed can grow into), the ids of their descriptors
// (blueprint_registry.hpp; the math is in blueprint_<name>.hpp). Kinds registered at run time
// take the ids from kBlueprintKindCount up (below kMaxBlueprintKinds).
enum class BlueprintKind : int32_t { residual_mlp = 0, low_rank = 1, diag_scale = 2 };
inline constexpr int32_t kBlueprintKindCount = kBuiltinBlueprintCount;
static_assert(kBlueprintKindCount == 3);

// Grafting strategies (how alpha ramps 0 -> 1 in GRAFTING). See grafting.hpp.
enum class GraftingKind : int32_t {
  fixed_ramp = 0,
  performance_linked = 1,
  drift_controlled = 2,
  grad_norm_gated = 3,
};
inline constexpr int32_t kGraftingKindCount = kGraftingCount;
static_assert(kGraftingKindCount == 4);

// Sizes of the blueprints for a chunk width C.
struct BlueprintShape {
  int32_t chunk = 16;               // C = H / S
  int32_t hidden = kDefaultHidden;  // residual_mlp hidden width (1..kMaxHidden)
  int32_t rank = kDefaultRank;      // low_rank rank r (1..kMaxHidden)
  int32_t width = 0;                // H, the layer's width (row_mlp reads the whole row)
};

struct GraftingParams {
  // Steps of a full 0 -> 1 ramp (all strategies advance by 1/ramp_steps per unpaused step;
  // performance_linked scales that increment). 0 counts as 1: alpha 1 at the first boundary.
  int32_t ramp_steps = kDefaultRampSteps;
  // performance_linked: increment = (1/ramp_steps) * clamp(1 + gain * improvement,
  // min_scale, max_scale); paused while improvement < -pause_below.
  float performance_gain = static_cast<float>(kDefaultPerformanceGain);
  float performance_min_scale = 0.25f;
  float performance_max_scale = 4.0f;
  float performance_pause_below = 0.0f;
  // drift_controlled: paused while the activation-drift EMA is above this.
  float drift_threshold = static_cast<float>(kDefaultDriftThreshold);
  // grad_norm_gated: advances only while lo <= gradient-norm EMA <= hi.
  float grad_norm_lo = static_cast<float>(kDefaultGradNormLo);
  float grad_norm_hi = static_cast<float>(kDefaultGradNormHi);
};

// What TRAINING (the isolated stage: the host's outputs and gradients untouched) trains the
// blueprint on.
//   reconstruction: minimise mean(delta(x)^2) over the chunk (a zero-initialised blueprint
//                   starts at its optimum); gate: its EMA below training_loss_threshold.
//   task_gradient:  the task loss's gradient at the chunk, straight through as if the seed were
//                   blended at alpha 1: dL/dp = J_p(x)^T dy, while the forward still returns the
//                   host's output. The step's measurement is the first-order loss change the
//                   seed would cause, sum over the batch of <delta(x), dy> (negative: a gain);
//                   gate: the EMA of the estimated gain -<delta, dy> above
//                   training_gain_threshold.
enum class TrainingObjective : int32_t { reconstruction = 0, task_gradient = 1 };

struct LifecycleParams {
  // Minimum steps a seed spends in a stage before time or a gate may move it on (indexed by
  // Stage). Defaults: GERMINATED 1, TRAINING 50, GRAFTING 1 (alpha decides), STABILIZATION 20,
  // EVALUATING 20, FINE_TUNING 50; others 0 (exit stages always last exactly one boundary).
  int32_t min_steps[kStageCount] = {0,
                                    kDefaultMinGerminatedSteps,
                                    kDefaultMinTrainingSteps,
                                    kDefaultMinGraftingSteps,
                                    kDefaultMinStabilizationSteps,
                                    kDefaultMinEvaluatingSteps,
                                    kDefaultMinFineTuningSteps,
                                    0,
                                    0,
                                    0,
                                    0};
  // TRAINING's objective (TrainingObjective) ...
  int32_t training_objective = 0;
  // ... reconstruction: TRAINING -> GRAFTING when the isolated-loss EMA is below this ...
  float training_loss_threshold = static_cast<float>(kDefaultTrainingLossThreshold);
  // ... task_gradient: when the EMA of the estimated gain -<delta(x), dy> is above this ...
  float training_gain_threshold = 0.0f;
  // ... by this many standard errors of that EMA (lifecycle.hpp training_gain_se; 0: the EMA
  // alone) ...
  float training_gain_z = 2.0f;
  // ... else TRAINING -> CULLED after this many steps in TRAINING.
  int32_t max_training_steps = kDefaultMaxTrainingSteps;
  // EVALUATING -> CULLED when no evaluation score arrived within this many steps.
  int32_t max_evaluating_steps = kDefaultMaxEvaluatingSteps;
  // GERMINATED -> TRAINING only while fewer than this many seeds of the layer are TRAINING.
  int32_t max_training_seeds = kDefaultMaxTrainingSeeds;
  // Decay of the isolated-loss, drift and gradient-norm EMAs (ema = d*ema + (1-d)*value).
  float ema_decay = static_cast<float>(kDefaultEmaDecay);
  // Non-finite losses/gradients tolerated before the emergency exit (ROLLED_BACK once a
  // pre-graft snapshot exists, CULLED before).
  int32_t max_errors = kDefaultMaxErrors;
};

// AdamW for the blueprint pool (PyTorch semantics). Its learning rate is its own, not the host's
// schedule, so a blueprint grown late starts with an undecayed rate; with warmup_steps > 0 it
// rises linearly over a seed's first AdamW steps (t / warmup_steps, t = 1, 2, ... counted per
// seed, from 1 again at grafting).
struct BlueprintOptimizer {
  float lr = static_cast<float>(kDefaultBlueprintLr);
  int32_t warmup_steps = 0;
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  float weight_decay = static_cast<float>(kDefaultBlueprintWeightDecay);
};

struct MorphConfig {
  int64_t width = 0;        // H: layer width (in == out)
  int32_t seeds = 1;        // S: H % S must be 0; C = H / S (C <= kMaxChunk, morph_limits.hpp)
  int32_t layer_index = 0;  // index of this layer among the model's morphogenetic layers
  // Blueprints germination may use (default: all built-in ones).
  std::vector<BlueprintKind> allowed_blueprints = {
      BlueprintKind::residual_mlp, BlueprintKind::low_rank, BlueprintKind::diag_scale};
  int32_t hidden = kDefaultHidden;  // residual_mlp hidden width
  int32_t rank = kDefaultRank;      // low_rank rank
  GraftingKind grafting = static_cast<GraftingKind>(kDefaultGrafting);
  GraftingParams grafting_params;
  LifecycleParams lifecycle;
  BlueprintOptimizer optimizer;
  // Pool capacity: number of blueprint slots (seeds that can hold a blueprint at once).
  int32_t pool_slots = kDefaultPoolSlots;
  // Telemetry: accumulated on the device, read by the host every `telemetry_every` steps.
  int32_t telemetry_every = kDefaultTelemetryEvery;
  // Measure the chunks' gradient score (nn/gradient_score.hpp) for each telemetry read: set when
  // the controller chooses seeds by it.
  bool gradient_score = false;
  // An activation counts as dead when |x| < dead_eps.
  float dead_eps = static_cast<float>(kDefaultDeadEps);
  // Device event ring capacity (events kept between two host drains).
  int32_t event_capacity = 4096;
  // Host commands uploaded per step boundary (more stay queued for the next boundary).
  int32_t command_capacity = 256;
  // Which code computes residual_mlp seeds (seed_path.hpp: automatic by the shape).
  SeedPath seed_path = SeedPath::automatic;
};

}  // namespace kasmina::morph
