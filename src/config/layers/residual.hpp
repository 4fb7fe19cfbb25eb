// The parameters of `type: residual` (keys and rules: residual.cpp): a block whose output is its
// input plus its layers' output.
#pragma once
#include <vector>

#include "config/config.hpp"

namespace kasmina {

struct ResidualConfig {
  static constexpr const char* kName = "ResidualConfig";
  std::vector<LayerConfig> layers;  // its body; their widths return to the block's width

  bool operator==(const ResidualConfig&) const = default;
};

}  // namespace kasmina
