// Builds a morphogenetic layer's options (MorphConfig) from a validated `type: kasmina` layer
// of the model config.
#pragma once
#include "config/config.hpp"
#include "morph/morph_config.hpp"

namespace kasmina::morph {

MorphConfig morph_config_from(const LayerConfig& layer, int64_t width, int32_t layer_index);
// The blueprint of a config name; UserError naming the allowed ones when unknown.
BlueprintKind blueprint_of(const std::string& name);

}  // namespace kasmina::morph
