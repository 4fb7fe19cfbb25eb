// CPU twin of the fused AdamW step (decoupled weight decay, PyTorch semantics). With
// lr = lr_at(schedule, step[0]) and t = step[0] + 1, the bias corrections are computed once per
// call in double and rounded to the parameter dtype T:
//   bc1 = T(1 - b1^t),  bc2 = T(1 - b2^t)
// and then, for every element, in T arithmetic (as the CUDA kernel computes it):
//   p = p - lr * wd * p
//   m = b1 * m + (1 - b1) * g
//   v = b2 * v + (1 - b2) * g * g
//   p = p - lr * (m / bc1) / (sqrt(v / bc2) + eps)
// The step counter is not modified.
#include <cmath>

#include "ops/backend_ops.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/cpu/optimizer_plan_checks.hpp"

namespace kasmina::ops::cpu {

namespace {

template <class T>
struct AdamWCoefficients {
  T lr, weight_decay, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, bc1, bc2;
};

template <class T>
AdamWCoefficients<T> adamw_coefficients(const AdamWHyper& h, float lr, int64_t t) {
  AdamWCoefficients<T> c;
  c.lr = static_cast<T>(lr);
  c.weight_decay = static_cast<T>(h.weight_decay);
  c.beta1 = static_cast<T>(h.beta1);
  c.one_minus_beta1 = T(1) - c.beta1;
  c.beta2 = static_cast<T>(h.beta2);
  c.one_minus_beta2 = T(1) - c.beta2;
  c.eps = static_cast<T>(h.eps);
  const auto td = static_cast<double>(t);
  c.bc1 = static_cast<T>(1.0 - std::pow(static_cast<double>(h.beta1), td));
  c.bc2 = static_cast<T>(1.0 - std::pow(static_cast<double>(h.beta2), td));
  return c;
}

template <class T>
void adamw_update(const AdamWCoefficients<T>& c, T* p, const T* g, T* m, T* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    T param = p[i] - c.lr * c.weight_decay * p[i];
    const T mi = c.beta1 * m[i] + c.one_minus_beta1 * g[i];
    const T vi = c.beta2 * v[i] + c.one_minus_beta2 * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    param = param - c.lr * (mi / c.bc1) / (std::sqrt(vi / c.bc2) + c.eps);
    p[i] = param;
  }
}

}  // namespace

void adamw_step(MultiTensorPlan& plan, const AdamWHyper& h, const LrSchedule& s,
                const Tensor& step) {
  constexpr const char* op = "adamw_step";
  check_plan(op, plan, /*needs_second_moment=*/true);
  const int64_t taken = read_counter(op, "step", step);
  const float lr = lr_at(s, taken);
  for (size_t i = 0; i < plan.params().size(); ++i) {
    const Tensor& p = plan.params()[i];
    dispatch_float(op, p.dtype(), [&](auto zero) {
      using T = decltype(zero);
      adamw_update<T>(adamw_coefficients<T>(h, lr, taken + 1), p.data<T>(),
                      plan.grads()[i].data<T>(), plan.m()[i].data<T>(), plan.v()[i].data<T>(),
                      p.numel());
    });
  }
}

}  // namespace kasmina::ops::cpu
