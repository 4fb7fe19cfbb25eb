// `type: kasmina` (the morphogenetic layer): seeds (required), blueprints, their sizes, the
// grafting strategy, lifecycle limits, the blueprint optimizer, pool and telemetry. Keeps its
// width, which its seeds must split (check_kasmina_seeds, with the morph limits).
#include "config/layers/kasmina.hpp"

#include <algorithm>

#include "config/blueprints.hpp"
#include "config/config_checks.hpp"
#include "config/layer_schemas.hpp"
#include "config/morph_names.hpp"
#include "config/rules.hpp"
#include "morph/morph_limits.hpp"

namespace kasmina::config_detail {

namespace {

std::vector<Field<LayerConfig>> kasmina_fields() {
  return layer_fields<KasminaConfig>({
      // seeds and blueprints
      value("seeds", &KasminaConfig::seeds, int32_at_least(1)),
      value_list("blueprints", &KasminaConfig::blueprints, registered_blueprint()),
      value("hidden", &KasminaConfig::hidden, in_range(1, morph::kMaxHidden)),
      value("rank", &KasminaConfig::rank, in_range(1, morph::kMaxHidden)),
      // grafting
      value("grafting", &KasminaConfig::grafting, one_of(grafting_names())),
      value("ramp_steps", &KasminaConfig::ramp_steps, int32_at_least(0)),
      value("performance_gain", &KasminaConfig::performance_gain, non_negative()),
      value("drift_threshold", &KasminaConfig::drift_threshold, above(0.0)),
      value("grad_norm_lo", &KasminaConfig::grad_norm_lo, non_negative()),
      value("grad_norm_hi", &KasminaConfig::grad_norm_hi, non_negative()),
      // lifecycle
      value("min_germinated_steps", &KasminaConfig::min_germinated_steps, int32_at_least(0)),
      value("min_training_steps", &KasminaConfig::min_training_steps, int32_at_least(0)),
      value("min_grafting_steps", &KasminaConfig::min_grafting_steps, int32_at_least(0)),
      value("min_stabilization_steps", &KasminaConfig::min_stabilization_steps, int32_at_least(0)),
      value("min_evaluating_steps", &KasminaConfig::min_evaluating_steps, int32_at_least(0)),
      value("min_fine_tuning_steps", &KasminaConfig::min_fine_tuning_steps, int32_at_least(0)),
      value("training_objective", &KasminaConfig::training_objective,
            one_of({"reconstruction", "task_gradient"})),
      value("training_loss_threshold", &KasminaConfig::training_loss_threshold, above(0.0)),
      value("training_gain_threshold", &KasminaConfig::training_gain_threshold, non_negative()),
      value("training_gain_z", &KasminaConfig::training_gain_z, non_negative()),
      value("max_training_steps", &KasminaConfig::max_training_steps, int32_at_least(1)),
      value("max_evaluating_steps", &KasminaConfig::max_evaluating_steps, int32_at_least(1)),
      value("max_training_seeds", &KasminaConfig::max_training_seeds, int32_at_least(1)),
      value("ema_decay", &KasminaConfig::ema_decay, in_half_open(0.0, 1.0)),
      value("max_errors", &KasminaConfig::max_errors, int32_at_least(1)),
      // blueprint optimizer, pool, telemetry
      value("blueprint_lr", &KasminaConfig::blueprint_lr, above(0.0)),
      value("blueprint_weight_decay", &KasminaConfig::blueprint_weight_decay, non_negative()),
      value("blueprint_warmup_steps", &KasminaConfig::blueprint_warmup_steps, int32_at_least(0)),
      value("pool_slots", &KasminaConfig::pool_slots, int32_at_least(1)),
      value("telemetry_every", &KasminaConfig::telemetry_every, int32_at_least(1)),
      value("dead_eps", &KasminaConfig::dead_eps, non_negative()),
  });
}

// The blueprint list: at least one name, each at most once.
void check_blueprint_list(const KasminaConfig& layer, const YAML::Node& node,
                          const ReadContext& ctx, const std::string& path) {
  const std::string list_path = path + ".blueprints";
  if (layer.blueprints.empty()) {
    ctx.fail(locate(node, "blueprints"), list_path,
             "must name at least one blueprint (allowed: " + join(blueprint_names()) + ")");
  }
  for (std::size_t k = 1; k < layer.blueprints.size(); ++k) {
    const auto end = layer.blueprints.begin() + static_cast<std::ptrdiff_t>(k);
    if (std::find(layer.blueprints.begin(), end, layer.blueprints[k]) == end) continue;
    ctx.fail(locate(node, "blueprints", k), element_path(list_path, k),
             "'" + layer.blueprints[k] + "' is listed twice (each blueprint at most once)");
  }
}

// Seeds are required; the grad-norm band has lo <= hi.
void check_kasmina_keys(LayerConfig& entry, const YAML::Node& node, const ReadContext& ctx,
                        const std::string& path) {
  const KasminaConfig& layer = entry.as<KasminaConfig>();
  if (layer.seeds == 0) {
    ctx.fail(node, path,
             "a kasmina layer needs 'seeds' (how many chunks its width is split into, >= 1)");
  }
  check_blueprint_list(layer, node, ctx, path);
  if (layer.grad_norm_lo > layer.grad_norm_hi) {
    ctx.fail(locate(node, "grad_norm_lo"), path + ".grad_norm_lo",
             "must be <= grad_norm_hi (" + number_text(layer.grad_norm_hi) + "), got " +
                 number_text(layer.grad_norm_lo));
  }
}

}  // namespace

LayerSchema kasmina_layer_schema() {
  LayerSchema s;
  s.type = LayerType::kasmina;
  s.make_params = [] { return LayerParams::of(KasminaConfig{}); };
  s.fields = kasmina_fields;
  s.check = check_kasmina_keys;
  s.out_width = [](const LayerConfig& layer, const YAML::Node& node, const std::string& path,
                   const WidthWalk& walk, const ReadContext& ctx) {
    check_kasmina_seeds(layer.as<KasminaConfig>(), walk.width, node, path, ctx);
    check_ir_blueprint_shapes(layer.as<KasminaConfig>(), walk.width, node, path, ctx);
    return walk.width;
  };
  return s;
}

}  // namespace kasmina::config_detail
