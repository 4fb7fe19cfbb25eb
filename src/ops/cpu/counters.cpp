// CPU twins of the elementwise utilities: fill a tensor with one value, add to a counter.
#include <algorithm>

#include "ops/backend_ops.hpp"
#include "ops/cpu/cpu_common.hpp"

namespace kasmina::ops::cpu {

namespace {

template <class T>
void fill_as(Tensor& t, double value) {
  T* data = t.data<T>();
  std::fill(data, data + t.numel(), static_cast<T>(value));
}

}  // namespace

void fill(Tensor& t, double value) {
  check_cpu_tensor("fill", "t", t);
  switch (t.dtype()) {
    case DType::f32:
      return fill_as<float>(t, value);
    case DType::f64:
      return fill_as<double>(t, value);
    case DType::i32:
      return fill_as<int32_t>(t, value);
    case DType::i64:
      return fill_as<int64_t>(t, value);
    default:
      KASMINA_CHECK(false, std::string("fill: unsupported dtype ") + dtype_name(t.dtype()) +
                               " (allowed: float32, float64, int32, int64)");
  }
}

void counter_add(Tensor& counter, int64_t delta) {
  check_tensor("counter_add", "counter", counter, DType::i64, {1});
  counter.data<int64_t>()[0] += delta;
}

}  // namespace kasmina::ops::cpu
