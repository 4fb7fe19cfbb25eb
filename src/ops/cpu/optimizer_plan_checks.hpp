// Argument checks shared by the CPU optimizer steps: every tensor of the plan on the CPU, and
// each parameter's gradient and moment buffers of the parameter's float dtype.
#pragma once
#include <string>

#include "ops/backend_ops.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::ops::cpu {

// Calls fn(p, g, m, v, n) with the typed buffers of every parameter of the plan (T its float
// dtype; v is null for a plan without second moments).
template <class Fn>
void for_each_param(const char* op, MultiTensorPlan& plan, Fn&& fn) {
  const bool with_v = plan.v().size() == plan.params().size();
  for (size_t i = 0; i < plan.params().size(); ++i) {
    const Tensor& p = plan.params()[i];
    dispatch_float(op, p.dtype(), [&](auto zero) {
      using T = decltype(zero);
      fn(p.data<T>(), plan.grads()[i].template data<T>(), plan.m()[i].template data<T>(),
         with_v ? plan.v()[i].template data<T>() : static_cast<T*>(nullptr), p.numel());
    });
  }
}

// The plan's bf16 copies made from the updated parameters (MultiTensorPlan::keep_bf16_copies):
// each rounded once, as the CUDA kernels store them.
inline void refresh_bf16_copies(const MultiTensorPlan& plan) {
  for (size_t i = 0; i < plan.bf16_copies().size(); ++i) {
    Tensor copy = plan.bf16_copies()[i];
    if (copy.defined()) cast_to_bf16(plan.params()[i], copy);
  }
}

inline void check_plan(const char* op, const MultiTensorPlan& plan, bool needs_second_moment) {
  KASMINA_CHECK(!needs_second_moment || plan.v().size() == plan.params().size(),
                std::string(op) + ": the plan has no second-moment buffers");
  for (size_t i = 0; i < plan.params().size(); ++i) {
    const Tensor& p = plan.params()[i];
    check_cpu_tensor(op, "param", p);
    KASMINA_CHECK(p.dtype() == DType::f32 || p.dtype() == DType::f64,
                  std::string(op) + ": parameter " + std::to_string(i) + " is " +
                      dtype_name(p.dtype()) + ", expected float32 or float64");
    check_cpu_tensor(op, "grad", plan.grads()[i]);
    check_dtype(op, "grad", plan.grads()[i], p.dtype());
    check_cpu_tensor(op, "m", plan.m()[i]);
    check_dtype(op, "m", plan.m()[i], p.dtype());
    if (needs_second_moment) {
      check_cpu_tensor(op, "v", plan.v()[i]);
      check_dtype(op, "v", plan.v()[i], p.dtype());
    }
  }
}

}  // namespace kasmina::ops::cpu
