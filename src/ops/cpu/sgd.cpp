// CPU twin of the fused SGD step (PyTorch semantics: momentum without dampening, optional
// Nesterov, L2 weight decay added to the gradient). With lr = lr_at(schedule, step[0]), every
// element takes core/sgd.hpp's sgd_update in the parameter dtype T, as the CUDA kernel does; the
// first step is step[0] == 0. The gradient and the step counter are not modified.
#include <type_traits>

#include "core/sgd.hpp"
#include "ops/backend_ops.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/cpu/optimizer_plan_checks.hpp"

namespace kasmina::ops::cpu {

namespace {

// One pass over a parameter; the first-step and Nesterov choices are compile-time so the loop
// body has no branches (and the first step never reads the uninitialised momentum buffer).
template <class T, bool kFirstStep, bool kNesterov>
void sgd_update_all(T lr, T wd, T mom, T* p, const T* g, T* m, int64_t n) {
  for (int64_t i = 0; i < n; ++i) sgd_update(lr, wd, mom, kFirstStep, kNesterov, p[i], g[i], m[i]);
}

template <class T>
void sgd_tensor(const SgdHyper& h, float learning_rate, bool first_step, T* p, const T* g, T* m,
                int64_t n) {
  const T lr = static_cast<T>(learning_rate);
  const T wd = static_cast<T>(h.weight_decay);
  const T mom = static_cast<T>(h.momentum);
  if (first_step) {
    if (h.nesterov) {
      sgd_update_all<T, true, true>(lr, wd, mom, p, g, m, n);
    } else {
      sgd_update_all<T, true, false>(lr, wd, mom, p, g, m, n);
    }
  } else {
    if (h.nesterov) {
      sgd_update_all<T, false, true>(lr, wd, mom, p, g, m, n);
    } else {
      sgd_update_all<T, false, false>(lr, wd, mom, p, g, m, n);
    }
  }
}

}  // namespace

void sgd_step(MultiTensorPlan& plan, const SgdHyper& h, const LrSchedule& s, const Tensor& step) {
  constexpr const char* op = "sgd_step";
  check_plan(op, plan, /*needs_second_moment=*/false);
  const int64_t taken = read_counter(op, "step", step);
  const float lr = lr_at(s, taken);
  for_each_param(op, plan, [&](auto* p, const auto* g, auto* m, auto*, int64_t n) {
    using T = std::remove_pointer_t<decltype(p)>;
    sgd_tensor<T>(h, lr, taken == 0, p, g, m, n);
  });
  refresh_bf16_copies(plan);
  if (Tensor counters = plan.advance(); counters.defined()) counter_add(counters, 1);
}

}  // namespace kasmina::ops::cpu
