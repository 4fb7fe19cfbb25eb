// CPU twin of residual_add.
#include <string>

#include "core/error.hpp"
#include "ops/cpu/bf16_inputs.hpp"
#include "ops/residual/residual_backend.hpp"

namespace kasmina::ops::cpu {

namespace {

template <class T>
void add(const Tensor& a, const Tensor& b, Tensor& out) {
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* po = out.data<T>();
  const int64_t n = out.numel();
  for (int64_t i = 0; i < n; ++i) po[i] = pa[i] + pb[i];
}

}  // namespace

void residual_add(const Tensor& a, const Tensor& b, Tensor& out) {
  check_residual_add_args(a, b, out);
  if (a.dtype() == DType::bf16 || b.dtype() == DType::bf16) {  // widened exactly, then added
    const Tensor a32 = a.dtype() == DType::bf16 ? widen_bf16("residual_add", "a", a) : a;
    const Tensor b32 = b.dtype() == DType::bf16 ? widen_bf16("residual_add", "b", b) : b;
    return add<float>(a32, b32, out);
  }
  switch (out.dtype()) {
    case DType::f32:
      return add<float>(a, b, out);
    case DType::f64:
      return add<double>(a, b, out);
    default:
      KASMINA_CHECK(false, std::string("residual_add: unsupported dtype ") +
                               dtype_name(out.dtype()) + " (allowed: float32, float64)");
  }
}

}  // namespace kasmina::ops::cpu
