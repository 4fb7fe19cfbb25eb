// Helpers shared by the CPU twins of the ops: argument checks that name the op, and dispatch
// from a tensor's runtime dtype to a templated float/double implementation.
#pragma once
#include <cstdint>
#include <string>
#include <tuple>  // std::tie of matrix_dims (lambdas cannot capture structured bindings in clang 14)
#include <utility>

#include "core/tensor.hpp"

namespace kasmina::ops::cpu {

// The tensor is defined and lives on the CPU.
inline void check_cpu_tensor(const char* op, const char* name, const Tensor& t) {
  KASMINA_CHECK(t.defined(), std::string(op) + ": tensor '" + name + "' is undefined");
  KASMINA_CHECK(t.device().is_cpu(), std::string(op) + ": tensor '" + name + "' is on " +
                                         t.device().str() + ", expected cpu");
}

inline void check_dtype(const char* op, const char* name, const Tensor& t, DType want) {
  KASMINA_CHECK(t.dtype() == want, std::string(op) + ": tensor '" + name + "' is " +
                                       dtype_name(t.dtype()) + ", expected " + dtype_name(want));
}

inline void check_shape(const char* op, const char* name, const Tensor& t, const Shape& want) {
  KASMINA_CHECK(t.shape() == want, std::string(op) + ": tensor '" + name + "' has shape " +
                                       shape_str(t.shape()) + ", expected " + shape_str(want));
}

// A defined CPU tensor of the given dtype and shape.
inline void check_tensor(const char* op, const char* name, const Tensor& t, DType dtype,
                         const Shape& shape) {
  check_cpu_tensor(op, name, t);
  check_dtype(op, name, t, dtype);
  check_shape(op, name, t, shape);
}

// A defined CPU matrix (2-D tensor); returns its dimensions.
inline std::pair<int64_t, int64_t> matrix_dims(const char* op, const char* name, const Tensor& t) {
  check_cpu_tensor(op, name, t);
  KASMINA_CHECK(t.ndim() == 2, std::string(op) + ": tensor '" + name + "' must be 2-D, got shape " +
                                   shape_str(t.shape()));
  return {t.dim(0), t.dim(1)};
}

// Calls fn(T{}) with T = float or double according to `dtype`; other dtypes are an error
// naming the op.
template <class Fn>
decltype(auto) dispatch_float(const char* op, DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::f32:
      return fn(float{});
    case DType::f64:
      return fn(double{});
    default:
      throw_internal(__FILE__, __LINE__,
                     std::string(op) + ": unsupported dtype " + dtype_name(dtype) +
                         " (CPU ops take float32 or float64)");
  }
}

// Value of a one-element i64 counter tensor (step, cursor) living on the CPU.
inline int64_t read_counter(const char* op, const char* name, const Tensor& t) {
  check_tensor(op, name, t, DType::i64, Shape{1});
  return t.data<int64_t>()[0];
}

}  // namespace kasmina::ops::cpu
