// Helpers of the bf16 tests: uniform random float32 tensors, their bf16 copies (on the float32
// tensor's device), a bf16 tensor widened back to float32 (on the CPU), the bit patterns of bf16
// and float32 tensors, and a device's math mode set for a scope.
#pragma once
#include <cstdint>
#include <vector>

#include "core/bf16.hpp"

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "ops/ops.hpp"
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

// The bit patterns of a float32 tensor (on any device).
inline std::vector<uint32_t> float_bits(const Tensor& t) {
  std::vector<uint32_t> out;
  for (const float v : t.to(Device::cpu()).to_vector<float>()) out.push_back(bit_copy<uint32_t>(v));
  return out;
}

// The math mode of `dev` for a scope; the mode it had is put back when the scope ends.
class ScopedMathMode {
 public:
  explicit ScopedMathMode(MathMode m, Device dev = Device::cpu())
      : dev_(dev), was_(math_mode(dev)) {
    set_math_mode(dev, m);
  }
  ~ScopedMathMode() { set_math_mode(dev_, was_); }
  ScopedMathMode(const ScopedMathMode&) = delete;
  ScopedMathMode& operator=(const ScopedMathMode&) = delete;

 private:
  Device dev_;
  MathMode was_;
};

}  // namespace kasmina::ops::bf16_test
