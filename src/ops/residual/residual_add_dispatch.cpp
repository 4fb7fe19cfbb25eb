// Routes residual_add by the device of its output; checks the arguments.
#include <string>

#include "core/error.hpp"
#include "ops/residual/residual_backend.hpp"
#include "ops/route.hpp"

namespace kasmina::ops {

void check_residual_add_args(const Tensor& a, const Tensor& b, const Tensor& out) {
  KASMINA_CHECK(a.defined() && b.defined() && out.defined(), "residual_add: undefined tensor");
  KASMINA_CHECK(a.shape() == out.shape() && b.shape() == out.shape(),
                "residual_add: shapes " + shape_str(a.shape()) + " + " + shape_str(b.shape()) +
                    " -> " + shape_str(out.shape()) + " differ");
  // a bf16 operand beside a float32 out is widened; otherwise one dtype.
  const auto fits = [&](const Tensor& t) {
    return t.dtype() == out.dtype() || (t.dtype() == DType::bf16 && out.dtype() == DType::f32);
  };
  KASMINA_CHECK(fits(a) && fits(b),
                std::string("residual_add: operands ") + dtype_name(a.dtype()) + " + " +
                    dtype_name(b.dtype()) + " -> " + dtype_name(out.dtype()) +
                    " (allowed: one dtype, or bf16 operands beside a float32 out)");
  KASMINA_CHECK(a.device() == out.device() && b.device() == out.device(),
                "residual_add: the tensors are on different devices");
}

void residual_add(const Tensor& a, const Tensor& b, Tensor& out) {
  check_residual_add_args(a, b, out);
  KASMINA_ROUTE(out.device(), residual_add, a, b, out);
}

}  // namespace kasmina::ops
