// The parameters of `type: kasmina`, the morphogenetic layer (keys and rules: kasmina.cpp). Its
// width is the previous layer's width (in == out). Limits, names and defaults:
// src/morph/morph_limits.hpp (morph::MorphConfig documents them).
#pragma once
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "morph/morph_limits.hpp"

namespace kasmina {

struct KasminaConfig {
  static constexpr const char* kName = "KasminaConfig";
  int64_t seeds = 0;  // S (required; width % S == 0, chunk C = width / S <= morph::kMaxChunk)
  // blueprints germination may use: residual_mlp, low_rank, diag_scale (the built-ins)
  std::vector<std::string> blueprints = {std::begin(morph::kBuiltinBlueprintNames),
                                         std::end(morph::kBuiltinBlueprintNames)};
  int64_t hidden = morph::kDefaultHidden;  // residual_mlp hidden width (1..morph::kMaxHidden)
  int64_t rank = morph::kDefaultRank;      // low_rank rank (1..morph::kMaxHidden)
  // grafting strategy: fixed_ramp | performance_linked | drift_controlled | grad_norm_gated
  std::string grafting = morph::kGraftingNames[morph::kDefaultGrafting];
  int64_t ramp_steps = morph::kDefaultRampSteps;
  double performance_gain = morph::kDefaultPerformanceGain;
  double drift_threshold = morph::kDefaultDriftThreshold;
  double grad_norm_lo = morph::kDefaultGradNormLo, grad_norm_hi = morph::kDefaultGradNormHi;
  // lifecycle: minimum steps per stage, gates and limits
  int64_t min_germinated_steps = morph::kDefaultMinGerminatedSteps;
  int64_t min_training_steps = morph::kDefaultMinTrainingSteps;
  int64_t min_grafting_steps = morph::kDefaultMinGraftingSteps;
  int64_t min_stabilization_steps = morph::kDefaultMinStabilizationSteps;
  int64_t min_evaluating_steps = morph::kDefaultMinEvaluatingSteps;
  int64_t min_fine_tuning_steps = morph::kDefaultMinFineTuningSteps;
  // what TRAINING trains on: reconstruction | task_gradient (morph::TrainingObjective)
  std::string training_objective = "reconstruction";
  // TRAINING -> GRAFTING gate: reconstruction, the isolated loss EMA below this ...
  double training_loss_threshold = morph::kDefaultTrainingLossThreshold;
  // ... task_gradient: the EMA of the estimated gain -<delta(x), dy> above this
  double training_gain_threshold = 0.0;
  // ... by this many standard errors of the gain EMA (0: the EMA alone)
  double training_gain_z = 2.0;
  // else TRAINING -> CULLED after this many steps
  int64_t max_training_steps = morph::kDefaultMaxTrainingSteps;
  // EVALUATING -> CULLED without a score by then
  int64_t max_evaluating_steps = morph::kDefaultMaxEvaluatingSteps;
  // seeds of the layer in TRAINING at once
  int64_t max_training_seeds = morph::kDefaultMaxTrainingSeeds;
  double ema_decay = morph::kDefaultEmaDecay;
  int64_t max_errors = morph::kDefaultMaxErrors;
  // blueprint optimizer (AdamW, constant lr)
  double blueprint_lr = morph::kDefaultBlueprintLr;
  double blueprint_weight_decay = morph::kDefaultBlueprintWeightDecay;
  // its learning rate rises linearly over a seed's first this many AdamW steps (0: none)
  int64_t blueprint_warmup_steps = 0;
  int64_t pool_slots = morph::kDefaultPoolSlots;  // blueprints the layer can hold at once
  // steps between host reads of the layer's telemetry/events
  int64_t telemetry_every = morph::kDefaultTelemetryEvery;
  double dead_eps = morph::kDefaultDeadEps;  // |x| below this counts as dead

  bool operator==(const KasminaConfig&) const = default;
};

}  // namespace kasmina
