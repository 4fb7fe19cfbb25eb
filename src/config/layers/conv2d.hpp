// The parameters of `type: conv2d` (keys and rules: conv2d.cpp) and of the 2-D poolings
// `maxpool2d` / `avgpool2d` (pool.cpp).
#pragma once
#include <cstdint>

namespace kasmina {

struct Conv2dConfig {
  static constexpr const char* kName = "Conv2dConfig";
  int64_t out = 0;      // output channels (required)
  int64_t kernel = 3;   // square kernel
  int64_t stride = 1;   // the same along both axes
  int64_t padding = 0;  // zeros on each side, both axes
  int64_t groups = 1;   // grouped convolution (in and out channels divisible by it)
  bool bias = true;

  bool operator==(const Conv2dConfig&) const = default;
};

struct Pool2dConfig {
  static constexpr const char* kName = "Pool2dConfig";
  int64_t kernel = 2;
  int64_t stride = 0;  // 0: the kernel size
  int64_t padding = 0;

  int64_t effective_stride() const { return stride > 0 ? stride : kernel; }
  bool operator==(const Pool2dConfig&) const = default;
};

}  // namespace kasmina
