// CPU twin of the loss guard and the NaN-injection debug hook (the reference of the CUDA ops).
#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/guard/guard_backend.hpp"

namespace kasmina::ops::cpu {

void loss_guard(Tensor& loss_sum, int64_t batch, const LossGuardParams& p, LossGuardState& st,
                Tensor* dlogits) {
  double* sum = loss_sum.data<double>();
  double* mark = st.mark.data<double>();
  double* running = st.running.data<double>();
  int64_t* accepted = st.accepted.data<int64_t>();
  const double mean = (sum[0] - mark[0]) / static_cast<double>(batch);
  int32_t flag = static_cast<int32_t>(LossGuardFlag::ok);
  if (!std::isfinite(mean)) {
    flag = static_cast<int32_t>(LossGuardFlag::non_finite);
  } else if (accepted[0] >= p.warmup_steps &&
             mean > static_cast<double>(p.spike_factor) * running[0]) {
    flag = static_cast<int32_t>(LossGuardFlag::spike);
  }
  if (flag != 0) {
    sum[0] = mark[0];
    st.flagged.data<int64_t>()[0] += 1;
    st.last_flagged_mean.data<double>()[0] = mean;
    st.last_flagged_kind.data<int32_t>()[0] = flag;
    if (dlogits != nullptr) {
      float* g = dlogits->data<float>();
      std::fill(g, g + dlogits->numel(), 0.0f);
    }
  } else {
    if (accepted[0] < p.warmup_steps) {
      running[0] = running[0] + (mean - running[0]) / static_cast<double>(accepted[0] + 1);
    } else {
      const double d = static_cast<double>(p.ema_decay);
      running[0] = d * running[0] + (1.0 - d) * mean;
    }
    accepted[0] += 1;
    mark[0] = sum[0];
  }
  st.flag.data<int32_t>()[0] = flag;
}

void inject_nan_at_step(const Tensor& step, int64_t nan_step, Tensor& loss_sum, Tensor* dlogits) {
  if (step.data<int64_t>()[0] != nan_step) return;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  loss_sum.data<double>()[0] += nan;
  if (dlogits != nullptr) {
    float* g = dlogits->data<float>();
    std::fill(g, g + dlogits->numel(), std::numeric_limits<float>::quiet_NaN());
  }
}

}  // namespace kasmina::ops::cpu
