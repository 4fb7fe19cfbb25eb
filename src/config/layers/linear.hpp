// The parameters of `type: linear` (keys and rules: linear.cpp).
#pragma once
#include <cstdint>

namespace kasmina {

struct LinearConfig {
  static constexpr const char* kName = "LinearConfig";
  int64_t out = 0;  // output width (required)
  int64_t in = 0;   // optional declared input width (0 = inferred); checked
  bool bias = true;

  bool operator==(const LinearConfig&) const = default;
};

}  // namespace kasmina
