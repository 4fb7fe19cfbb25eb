// config_warnings: affine blueprints directly before a linear layer; a kasmina layer of one seed
// under the heuristic controller's gradient trigger (see the header).
#include "config/config_warnings.hpp"

#include "config/layers/kasmina.hpp"
#include "config/layers/residual.hpp"
#include "config/rules.hpp"
#include "core/str_cat.hpp"
#include "morph/blueprint_registry.hpp"

namespace kasmina {

namespace {

std::string where(const Config& c, const LayerConfig& layer) {
  return layer.line > 0 ? str_cat(c.source_path, ":", layer.line, ": ") : c.source_path + ": ";
}

// The blueprints of a kasmina layer that are affine maps, joined ("low_rank, diag_scale").
std::string affine_blueprints(const KasminaConfig& k) {
  std::string names;
  for (const std::string& name : k.blueprints) {
    const morph::BlueprintDescriptor* d = morph::find_blueprint(name);
    if (d && d->affine) names += (names.empty() ? "" : ", ") + name;
  }
  return names;
}

// Walks one sequence of layers (the model's, or a residual block's body) at `path`.
void check_sequence(const Config& c, const std::vector<LayerConfig>& layers,
                    const std::string& path, std::vector<std::string>& out) {
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerConfig& layer = layers[i];
    const std::string at = path + "[" + std::to_string(i) + "]";
    if (layer.type == LayerType::residual) {
      check_sequence(c, layer.as<ResidualConfig>().layers, at + ".layers", out);
      continue;
    }
    if (layer.type != LayerType::kasmina) continue;
    const ControllerConfig& ctl = c.controller;
    if (layer.as<KasminaConfig>().seeds == 1 && ctl.type == ControllerType::heuristic &&
        ctl.seed_choice == "gradient" && ctl.grad_trigger_ratio > 1.0) {
      out.push_back(
          where(c, layer) + at +
          ".seeds: a layer of one seed never meets controller.grad_trigger_ratio (" +
          config_detail::number_text(ctl.grad_trigger_ratio) +
          "): the gradient trigger compares a seed's chunk score with its layer's mean, "
          "which is the seed's own, so only a validation plateau germinates it (germinate "
          "it by a schedule:, or split the layer into several seeds)");
    }
    if (i + 1 >= layers.size() || layers[i + 1].type != LayerType::linear) continue;
    const std::string affine = affine_blueprints(layer.as<KasminaConfig>());
    if (affine.empty()) continue;
    out.push_back(where(c, layer) + at + ".blueprints: the affine blueprints (" + affine +
                  ") cannot add function here: the next layer (" + path + "[" +
                  std::to_string(i + 1) +
                  "]) is a linear layer, which absorbs an affine map of its input exactly (use "
                  "residual_mlp, or place the kasmina layer before a nonlinearity)");
  }
}

}  // namespace

std::vector<std::string> config_warnings(const Config& c) {
  std::vector<std::string> out;
  check_sequence(c, c.model.layers, "model.layers", out);
  return out;
}

}  // namespace kasmina
