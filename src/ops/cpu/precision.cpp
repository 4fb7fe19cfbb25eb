// CPU twins of the storage precision ops (ops/precision_ops.hpp) and the widening of bf16 GEMM
// inputs (ops/cpu/bf16_inputs.hpp).
#include "core/bf16.hpp"
#include "ops/cpu/bf16_inputs.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::ops::cpu {

void cast_to_bf16(const Tensor& src, Tensor& dst) {
  constexpr const char* op = "cast_to_bf16";
  check_cpu_tensor(op, "src", src);
  check_cpu_tensor(op, "dst", dst);
  check_dtype(op, "src", src, DType::f32);
  check_dtype(op, "dst", dst, DType::bf16);
  KASMINA_CHECK(src.numel() == dst.numel(), std::string(op) + ": src " + shape_str(src.shape()) +
                                                " and dst " + shape_str(dst.shape()) +
                                                " differ in element count");
  const float* s = src.data<float>();
  bf16* d = dst.data<bf16>();
  const int64_t n = src.numel();
  for (int64_t i = 0; i < n; ++i) d[i] = bf16::from_float(s[i]);
}

Tensor widen_bf16(const char* op, const char* name, const Tensor& t) {
  check_cpu_tensor(op, name, t);
  check_dtype(op, name, t, DType::bf16);
  Tensor out = Tensor::empty(t.shape(), DType::f32, Device::cpu());
  const bf16* s = t.data<bf16>();
  float* d = out.data<float>();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) d[i] = s[i].to_float();
  return out;
}

}  // namespace kasmina::ops::cpu
