// CPU twins of the storage precision ops (ops/precision_ops.hpp: the casts to and from bf16) and
// the widening of bf16 GEMM inputs (ops/cpu/bf16_inputs.hpp).
#include "core/bf16.hpp"
#include "ops/cpu/bf16_inputs.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::ops::cpu {

namespace {

// A cast's arguments: both on the CPU, of the dtypes `from` and `to`, with one element count.
void check_cast(const char* op, const Tensor& src, const Tensor& dst, DType from, DType to) {
  check_cpu_tensor(op, "src", src);
  check_cpu_tensor(op, "dst", dst);
  check_dtype(op, "src", src, from);
  check_dtype(op, "dst", dst, to);
  KASMINA_CHECK(src.numel() == dst.numel(), std::string(op) + ": src " + shape_str(src.shape()) +
                                                " and dst " + shape_str(dst.shape()) +
                                                " differ in element count");
}

}  // namespace

void cast_to_bf16(const Tensor& src, Tensor& dst) {
  check_cast("cast_to_bf16", src, dst, DType::f32, DType::bf16);
  const float* s = src.data<float>();
  bf16* d = dst.data<bf16>();
  const int64_t n = src.numel();
  for (int64_t i = 0; i < n; ++i) d[i] = bf16::from_float(s[i]);
}

void cast_from_bf16(const Tensor& src, Tensor& dst) {
  check_cast("cast_from_bf16", src, dst, DType::bf16, DType::f32);
  const bf16* s = src.data<bf16>();
  float* d = dst.data<float>();
  const int64_t n = src.numel();
  for (int64_t i = 0; i < n; ++i) d[i] = s[i].to_float();
}

Tensor widen_bf16(const char* op, const char* name, const Tensor& t) {
  check_cpu_tensor(op, name, t);
  check_dtype(op, name, t, DType::bf16);
  Tensor out = Tensor::empty(t.shape(), DType::f32, Device::cpu());
  cast_from_bf16(t, out);
  return out;
}

}  // namespace kasmina::ops::cpu
