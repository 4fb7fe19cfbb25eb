// The IR blueprints of a config's kasmina layers, each at its layer's shape: what
// `kasmina blueprint compile CONFIG` warms and `kasmina blueprint tune CONFIG` times
// (src/cli/blueprint_config.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "ir/blueprint.hpp"

namespace CLI {
class App;
}

namespace kasmina::cli {

// `kasmina blueprint tune CONFIG` (blueprint_tune.cpp) under `blueprint`.
void add_tune_command(CLI::App* blueprint, int& exit_code);

struct IrLayerWork {
  int32_t layer = 0;  // the kasmina layer's index among the model's
  std::string name;
  const ir::IrBlueprint* blueprint = nullptr;
  morph::BlueprintShape shape;
  int32_t seeds = 0, pool_slots = 0;
  int64_t batch = 0;  // train.batch_size
};

// Loads the config (registering its blueprints) and lists every (IR blueprint, layer) pair, a
// blueprint once per distinct shape. UserError for an invalid config.
std::vector<IrLayerWork> ir_layer_work(const std::string& config_path);

// "gated_mlp C=8 h=8 r=4 f32" (CUDA runs float32 only).
std::string work_label(const IrLayerWork& w);

// The architecture to compile for: `given` when not empty, else the first CUDA device's
// ("sm_90"), else sm_90.
std::string target_arch(const std::string& given);

}  // namespace kasmina::cli
