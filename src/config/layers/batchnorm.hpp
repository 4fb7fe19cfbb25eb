// The parameters of `type: batchnorm2d` (keys and rules: batchnorm.cpp).
#pragma once

namespace kasmina {

struct BatchNormConfig {
  static constexpr const char* kName = "BatchNormConfig";
  double momentum = 0.1;  // running = (1 - momentum) * running + momentum * batch statistic
  double eps = 1e-5;

  bool operator==(const BatchNormConfig&) const = default;
};

}  // namespace kasmina
