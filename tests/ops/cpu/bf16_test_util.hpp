// Inputs of the bf16 tests: uniform random float32 tensors and their bf16 copies (on the
// float32 tensor's device).
#pragma once
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::ops::bf16_test {

inline Tensor random_f32(Rng& rng, const Shape& shape, double scale = 1.0) {
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = static_cast<float>(rng.uniform(-scale, scale));
  return Tensor::from_vector(v, shape);
}

inline Tensor to_bf16(const Tensor& t) {
  Tensor out = Tensor::empty(t.shape(), DType::bf16, t.device());
  cast_to_bf16(t, out);
  return out;
}

}  // namespace kasmina::ops::bf16_test
