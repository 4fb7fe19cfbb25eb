// Builds a morphogenetic layer's options (MorphConfig) from a validated `type: kasmina` layer
// of the model config, and the germination schedule from the config's `schedule:` list.
#pragma once
#include "config/config.hpp"
#include "morph/germination_schedule.hpp"
#include "morph/morph_config.hpp"

namespace kasmina::morph {

MorphConfig morph_config_from(const LayerConfig& layer, int64_t width, int32_t layer_index);
GerminationSchedule schedule_from(const std::vector<GerminationConfig>& entries);

}  // namespace kasmina::morph
