#include "nn/morph_from_config.hpp"

#include "config/layers/kasmina.hpp"
#include "core/error.hpp"
#include "morph/blueprint_registry.hpp"
#include "morph/grafting.hpp"
#include "nn/kasmina_layer.hpp"
#include "nn/layer_registry.hpp"

namespace kasmina::morph {

BlueprintKind blueprint_of(const std::string& name) {
  return static_cast<BlueprintKind>(blueprint_named(name).kind);
}

namespace {

int32_t i32(int64_t v) {
  return static_cast<int32_t>(v);
}

}  // namespace

MorphConfig morph_config_from(const LayerConfig& layer, int64_t width, int32_t layer_index) {
  const KasminaConfig& l = layer.as<KasminaConfig>();
  MorphConfig m;
  m.width = width;
  m.seeds = i32(l.seeds);
  m.layer_index = layer_index;
  m.allowed_blueprints.clear();
  for (const std::string& b : l.blueprints) m.allowed_blueprints.push_back(blueprint_of(b));
  m.hidden = i32(l.hidden);
  m.rank = i32(l.rank);
  if (!parse_grafting(l.grafting.c_str(), &m.grafting)) {
    throw UserError("unknown grafting strategy '" + l.grafting +
                    "' (allowed: " + grafting_names_allowed() + ")");
  }
  m.grafting_params.ramp_steps = i32(l.ramp_steps);
  m.grafting_params.performance_gain = static_cast<float>(l.performance_gain);
  m.grafting_params.drift_threshold = static_cast<float>(l.drift_threshold);
  m.grafting_params.grad_norm_lo = static_cast<float>(l.grad_norm_lo);
  m.grafting_params.grad_norm_hi = static_cast<float>(l.grad_norm_hi);
  LifecycleParams& lc = m.lifecycle;
  lc.min_steps[static_cast<int>(Stage::germinated)] = i32(l.min_germinated_steps);
  lc.min_steps[static_cast<int>(Stage::training)] = i32(l.min_training_steps);
  lc.min_steps[static_cast<int>(Stage::grafting)] = i32(l.min_grafting_steps);
  lc.min_steps[static_cast<int>(Stage::stabilization)] = i32(l.min_stabilization_steps);
  lc.min_steps[static_cast<int>(Stage::evaluating)] = i32(l.min_evaluating_steps);
  lc.min_steps[static_cast<int>(Stage::fine_tuning)] = i32(l.min_fine_tuning_steps);
  lc.training_loss_threshold = static_cast<float>(l.training_loss_threshold);
  lc.max_training_steps = i32(l.max_training_steps);
  lc.max_evaluating_steps = i32(l.max_evaluating_steps);
  lc.max_training_seeds = i32(l.max_training_seeds);
  lc.ema_decay = static_cast<float>(l.ema_decay);
  lc.max_errors = i32(l.max_errors);
  m.optimizer.lr = static_cast<float>(l.blueprint_lr);
  m.optimizer.weight_decay = static_cast<float>(l.blueprint_weight_decay);
  m.optimizer.warmup_steps = i32(l.blueprint_warmup_steps);
  m.lifecycle.training_objective = static_cast<int32_t>(l.training_objective == "task_gradient"
                                                            ? TrainingObjective::task_gradient
                                                            : TrainingObjective::reconstruction);
  m.lifecycle.training_gain_threshold = static_cast<float>(l.training_gain_threshold);
  m.lifecycle.training_gain_z = static_cast<float>(l.training_gain_z);
  m.pool_slots = i32(l.pool_slots);
  m.telemetry_every = i32(l.telemetry_every);
  m.dead_eps = static_cast<float>(l.dead_eps);
  return m;
}

std::unique_ptr<Layer> build_kasmina_layer(const LayerConfig& cfg, LayerBuildContext& ctx) {
  return std::make_unique<KasminaLayer>(morph_config_from(cfg, ctx.shape.width, ctx.morph_layers++),
                                        ctx.dtype);
}

}  // namespace kasmina::morph
