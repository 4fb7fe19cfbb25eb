// Helpers of the bf16 tests: uniform random float32 tensors, their bf16 copies (on the float32
// tensor's device), a bf16 tensor widened back to float32 (on the CPU) and its bit patterns.
#pragma once
#include <cstdint>
#include <vector>

#include "core/bf16.hpp"

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

inline Tensor widen(const Tensor& t) {
  const Tensor host = t.to(Device::cpu());
  Tensor out = Tensor::empty(t.shape());
  cast_from_bf16(host, out);
  return out;
}

inline std::vector<uint16_t> bits(const Tensor& t) {
  std::vector<uint16_t> out;
  for (const bf16 v : t.to(Device::cpu()).to_vector<bf16>()) out.push_back(v.bits);
  return out;
}

}  // namespace kasmina::ops::bf16_test
