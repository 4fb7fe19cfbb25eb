// CPU twins of the elementwise utilities: fill a tensor with one value, add to a counter, sum
// the columns of a matrix.
#include <algorithm>

#include "ops/backend_ops.hpp"
#include "ops/cpu/column_sums.hpp"
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
  check_counter_shape(counter);
  check_tensor("counter_add", "counter", counter, DType::i64, {counter.numel()});
  int64_t* c = counter.data<int64_t>();
  for (int64_t i = 0; i < counter.numel(); ++i) c[i] += delta;
}

void column_sums(const Tensor& x, Tensor& out) {
  check_cpu_tensor("column_sums", "x", x);
  check_dtype("column_sums", "x", x, DType::f32);
  KASMINA_CHECK(x.ndim() == 2, "column_sums: x must be a matrix, got " + shape_str(x.shape()));
  check_tensor("column_sums", "out", out, DType::f32, {x.dim(1)});
  column_sums<float>(x.data<float>(), x.dim(0), x.dim(1), out.data<float>());
}

}  // namespace kasmina::ops::cpu
