// One convolution case of the op table (entries_conv.cpp, entries_conv_bf16.cpp): the geometry,
// the tensor shapes and the case's name.
#pragma once
#include <cstdint>
#include <iterator>
#include <string>

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

}  // namespace kasmina::cuda_test
