// The parameters of `type: layernorm` (keys and rules: layernorm.cpp).
#pragma once

namespace kasmina {

struct LayerNormConfig {
  static constexpr const char* kName = "LayerNormConfig";
  double eps = 1e-5;  // epsilon added to the variance

  bool operator==(const LayerNormConfig&) const = default;
};

}  // namespace kasmina
