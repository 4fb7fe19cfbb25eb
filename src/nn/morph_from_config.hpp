// Builds a morphogenetic layer's options (MorphConfig) from a validated `type: kasmina` layer
// of the model config.
#pragma once
#include <memory>

#include "config/config.hpp"
#include "morph/morph_config.hpp"
#include "nn/layer.hpp"

namespace kasmina {
struct LayerBuildContext;
}

namespace kasmina::morph {

MorphConfig morph_config_from(const LayerConfig& layer, int64_t width, int32_t layer_index);
// The blueprint of a config name; UserError naming the allowed ones when unknown.
BlueprintKind blueprint_of(const std::string& name);
// The registry's builder for `type: kasmina` (the layer's index counts the morphogenetic layers
// built before it, in model order).
std::unique_ptr<Layer> build_kasmina_layer(const LayerConfig& cfg, LayerBuildContext& ctx);

}  // namespace kasmina::morph
