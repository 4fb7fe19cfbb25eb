// CPU twin of the fused AdamW step (decoupled weight decay, PyTorch semantics). With
// lr = lr_at(schedule, step[0]) and t = step[0] + 1, the coefficients are formed once per tensor
// (core/adamw.hpp: adamw_coefficients, the bias corrections in double rounded to the parameter
// dtype T) and every element takes core/adamw.hpp's adamw_update, as the CUDA kernel does.
// The step counter is not modified, unless the plan advances it (advance_after_step).
#include <type_traits>

#include "core/adamw.hpp"

#include "ops/backend_ops.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/cpu/optimizer_plan_checks.hpp"

namespace kasmina::ops::cpu {

namespace {

template <class T>
void adamw_update_all(const AdamWCoefficients<T>& c, T* p, const T* g, T* m, T* v, int64_t n) {
  for (int64_t i = 0; i < n; ++i) adamw_update(c, p[i], g[i], m[i], v[i]);
}

}  // namespace

void adamw_step(MultiTensorPlan& plan, const AdamWHyper& h, const LrSchedule& s,
                const Tensor& step) {
  constexpr const char* op = "adamw_step";
  check_plan(op, plan, /*needs_second_moment=*/true);
  const int64_t taken = read_counter(op, "step", step);
  const float lr = lr_at(s, taken);
  for_each_param(op, plan, [&](auto* p, const auto* g, auto* m, auto* v, int64_t n) {
    using T = std::remove_pointer_t<decltype(p)>;
    const auto c = adamw_coefficients<T>(lr, h.weight_decay, h.beta1, h.beta2, h.eps,
                                         static_cast<double>(taken + 1));
    adamw_update_all<T>(c, p, g, m, v, n);
  });
  refresh_bf16_copies(plan);
  if (Tensor counters = plan.advance(); counters.defined()) counter_add(counters, 1);
}

}  // namespace kasmina::ops::cpu
