// The parameters of `type: dropout` (keys and rules: dropout.cpp).
#pragma once

namespace kasmina {

struct DropoutConfig {
  static constexpr const char* kName = "DropoutConfig";
  double p = 0.1;  // probability of dropping a value

  bool operator==(const DropoutConfig&) const = default;
};

}  // namespace kasmina
