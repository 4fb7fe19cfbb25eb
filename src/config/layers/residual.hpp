// The parameters of `type: residual` (keys and rules: residual.cpp): a block whose output is its
// input (or its shortcut's output) plus its layers' output.
#pragma once
#include <vector>

#include "config/config.hpp"

namespace kasmina {

struct ResidualConfig {
  static constexpr const char* kName = "ResidualConfig";
  std::vector<LayerConfig> layers;  // its body
  // The path of the input to the add (a projection: a 1x1 convolution with a stride, a
  // normalisation); empty: the identity. The body and the shortcut produce the same shape.
  std::vector<LayerConfig> shortcut;

  bool operator==(const ResidualConfig&) const = default;
};

// Whether `layers` hold a layer of type `t`, in a residual block's body or shortcut included.
bool contains_layer_type(const std::vector<LayerConfig>& layers, LayerType t);

}  // namespace kasmina
