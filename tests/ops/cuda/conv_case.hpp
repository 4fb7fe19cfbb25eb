// One convolution case of the op table (entries_conv.cpp, entries_conv_bf16.cpp): the geometry,
// the tensor shapes and the case's name.
#pragma once
#include <cstdint>
#include <iterator>
#include <string>
#include <vector>

#include "core/env_switch.hpp"
#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"

namespace kasmina::cuda_test {

struct ConvCase {
  int64_t n, h, w, cin, cout, k, stride, padding, groups;
  bool bias = true;
  Shape x() const { return {n, h, w, cin}; }
  Shape wt() const { return {cout, k, k, cin / groups}; }
  ops::Conv2dParams params() const {
    return {.stride = stride, .padding = padding, .groups = groups};
  }
  Shape y() const { return ops::conv_geometry("test", x(), wt(), params()).y_shape(); }
};

inline std::string conv_name(const ConvCase& c) {
  const char* keys[] = {"N", "H", "W", "Cin", "Cout", "k", "s", "p", "g"};
  const int64_t vals[] = {c.n, c.h, c.w, c.cin, c.cout, c.k, c.stride, c.padding, c.groups};
  std::string out;
  for (size_t i = 0; i < std::size(keys); ++i) {
    if (i) out += '_';
    out += keys[i];
    out += std::to_string(vals[i]);
  }
  return c.bias ? out : out + "_nobias";
}

// The correctness cases of the convolution entries (float32 and bf16): odd channel counts,
// strides, paddings, groups, depthwise, 1x1, 5x5, batch 1 and 256.
inline std::vector<ConvCase> conv_cases() {
  return {
      {1, 28, 28, 3, 5, 3, 1, 1, 1},           // batch 1, odd channels
      {2, 9, 9, 5, 7, 3, 2, 0, 1},             // stride 2, padding 0
      {3, 11, 10, 7, 3, 3, 2, 2, 1},           // padding 2, non-square image
      {4, 8, 8, 6, 10, 3, 1, 1, 2},            // groups 2
      {4, 14, 14, 32, 32, 3, 1, 1, 32},        // depthwise
      {2, 13, 13, 7, 7, 3, 2, 1, 7, false},    // depthwise, odd, stride 2, no bias
      {5, 7, 7, 5, 3, 1, 1, 0, 1},             // 1x1, odd
      {8, 14, 14, 32, 64, 1, 2, 0, 1, false},  // 1x1 stride-2 projection shortcut
      {2, 12, 12, 3, 4, 5, 1, 2, 1},           // 5x5
      {256, 28, 28, 1, 32, 3, 1, 1, 1},        // the stem: batch 256, one input channel
      {256, 28, 28, 32, 32, 3, 1, 1, 1},       // batch 256, 28x28x32
      {128, 14, 14, 64, 128, 3, 2, 1, 1},      // stage transition
  };
}

// Runs `run` with the 1x1 weight gradient as one GEMM switched on (ops::gemm_weight_gradients),
// then the setting as it was.
template <class Case>
void with_gemm_wgrad(Case run) {
  const ScopedSwitch gemm(ops::gemm_weight_gradients, ops::set_gemm_weight_gradients, true);
  run();
}

// 1x1 convolutions for the GEMM weight gradient: stride 1 and 2, a stride that does not divide
// the image, odd channel counts (float32 only: 4-byte pixel rows), and the ResNet's projection
// shortcut at batch 128.
inline std::vector<ConvCase> conv_1x1_cases(bool bf16) {
  if (bf16) {
    return {{4, 9, 9, 16, 24, 1, 1, 0, 1},
            {2, 10, 11, 8, 16, 1, 3, 0, 1},
            {8, 14, 14, 32, 64, 1, 2, 0, 1},
            {128, 28, 28, 32, 64, 1, 2, 0, 1, false}};
  }
  return {{5, 7, 7, 5, 3, 1, 1, 0, 1},
          {3, 9, 11, 7, 6, 1, 2, 0, 1},
          {2, 10, 10, 3, 5, 1, 3, 0, 1, false},
          {128, 28, 28, 32, 64, 1, 2, 0, 1, false}};
}

// The perf cases' shapes: the ResNet's convolutions at batch 128 (stage 1, 2, 3, the stride-2
// transition and its 1x1 projection shortcut).
inline std::vector<ConvCase> resnet_conv_shapes() {
  return {{128, 28, 28, 32, 32, 3, 1, 1, 1, false},
          {128, 14, 14, 64, 64, 3, 1, 1, 1, false},
          {128, 7, 7, 128, 128, 3, 1, 1, 1, false},
          {128, 28, 28, 32, 64, 3, 2, 1, 1, false},
          {128, 28, 28, 32, 64, 1, 2, 0, 1, false}};
}

}  // namespace kasmina::cuda_test
