// The layer registry: one builder per YAML layer `type` (the config side of the same registry,
// each type's keys and their validation, is src/config/layer_schemas.hpp). A builder turns one
// validated LayerConfig into a Layer; the model builds every entry through here, with no switch
// over types.
//
// To add a layer type: its config entry (src/config/layers/<type>.cpp and one line in
// src/config/layer_schemas.cpp), its layer (src/nn/<type>.hpp/.cpp with a builder), and one
// line in layer_registry.cpp below.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "nn/layer.hpp"

namespace kasmina {

// What a builder needs besides the layer's own config; build_layers() advances it.
struct LayerBuildContext {
  SampleShape shape;  // what the layer receives (its width: shape.width)
  uint64_t seed = 0;  // run seed (parameter initialisation streams)
  Device dev = Device::cpu();
  DType dtype = DType::f32;
  std::string init = "kaiming_uniform";  // ModelConfig::init
  std::string prefix = "layers";         // parameter names are "<prefix>.<index>.<name>"
  std::string name;                      // the layer's own name ("layers.3")
  // Pre-order position of the entry among all entries of the model config (an entry of a
  // residual block counts after its block): the initialisation and dropout streams. For a model
  // without blocks it is the index in model.layers.
  uint64_t position = 0;
  uint64_t next_position = 0;  // the next entry's position
  int32_t morph_layers = 0;    // morphogenetic layers built so far (the next one's index)
};

using LayerBuilder = std::unique_ptr<Layer> (*)(const LayerConfig& cfg, LayerBuildContext& ctx);

// The builder registered for `type` (a YAML layer type name); null when none is.
LayerBuilder find_layer_builder(std::string_view type);
std::vector<std::string> layer_builder_names();

// Builds `configs` in order starting from ctx.shape; a layer may absorb the one that follows
// it (Layer::absorb_next: linear + relu/gelu). Leaves ctx.shape at the output shape.
std::vector<std::unique_ptr<Layer>> build_layers(const std::vector<LayerConfig>& configs,
                                                 LayerBuildContext& ctx);

}  // namespace kasmina
