// The loss guard and the NaN-injection hook on the device: one single-thread kernel decides the
// step (the arithmetic of the CPU twin, in double, without contraction), then a grid kernel
// zeroes dlogits only when the flag is set. No host synchronisation; graph-safe.
#include <cmath>

#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/guard/guard_backend.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void loss_guard_kernel(double* __restrict__ sum, double* __restrict__ mark,
                                  double* __restrict__ running, int64_t* __restrict__ accepted,
                                  int64_t* __restrict__ flagged, double* __restrict__ last_flagged,
                                  int32_t* __restrict__ last_kind, int32_t* __restrict__ flag_out,
                                  double batch, double spike, int32_t warmup, double decay) {
  const double mean = __ddiv_rn(__dsub_rn(sum[0], mark[0]), batch);
  int32_t flag = 0;
  if (!isfinite(mean)) {
    flag = 1;
  } else if (accepted[0] >= warmup && mean > __dmul_rn(spike, running[0])) {
    flag = 2;
  }
  if (flag != 0) {
    sum[0] = mark[0];
    flagged[0] += 1;
    last_flagged[0] = mean;
    last_kind[0] = flag;
  } else {
    const double r = running[0];
    if (accepted[0] < warmup) {
      running[0] =
          __dadd_rn(r, __ddiv_rn(__dsub_rn(mean, r), static_cast<double>(accepted[0] + 1)));
    } else {
      running[0] = __dadd_rn(__dmul_rn(decay, r), __dmul_rn(__dsub_rn(1.0, decay), mean));
    }
    accepted[0] += 1;
    mark[0] = sum[0];
  }
  flag_out[0] = flag;
}

__global__ void zero_if_flagged_kernel(const int32_t* __restrict__ flag, float* __restrict__ g,
                                       int64_t n) {
  if (flag[0] == 0) return;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    g[i] = 0.0f;
}

__global__ void inject_nan_sum_kernel(const int64_t* __restrict__ step, int64_t nan_step,
                                      double* __restrict__ sum) {
  if (step[0] == nan_step) sum[0] += __longlong_as_double(0x7ff8000000000000LL);
}

__global__ void inject_nan_grad_kernel(const int64_t* __restrict__ step, int64_t nan_step,
                                       float* __restrict__ g, int64_t n) {
  if (step[0] != nan_step) return;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    g[i] = __int_as_float(0x7fc00000);
}

}  // namespace

void loss_guard(Tensor& loss_sum, int64_t batch, const LossGuardParams& p, LossGuardState& st,
                Tensor* dlogits) {
  const Device dev = loss_sum.device();
  KASMINA_CHECK(dev.is_cuda(), "loss_guard: loss_sum is not on a CUDA device");
  cudaStream_t s = stream(dev);
  loss_guard_kernel<<<1, 1, 0, s>>>(
      loss_sum.data<double>(), st.mark.data<double>(), st.running.data<double>(),
      st.accepted.data<int64_t>(), st.flagged.data<int64_t>(), st.last_flagged_mean.data<double>(),
      st.last_flagged_kind.data<int32_t>(), st.flag.data<int32_t>(), static_cast<double>(batch),
      static_cast<double>(p.spike_factor), p.warmup_steps, static_cast<double>(p.ema_decay));
  KASMINA_LAUNCH_CHECK("loss_guard_kernel");
  if (dlogits != nullptr && dlogits->numel() > 0) {
    const int64_t n = dlogits->numel();
    zero_if_flagged_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(st.flag.data<int32_t>(),
                                                                      dlogits->data<float>(), n);
    KASMINA_LAUNCH_CHECK("zero_if_flagged_kernel");
  }
}

void inject_nan_at_step(const Tensor& step, int64_t nan_step, Tensor& loss_sum, Tensor* dlogits) {
  const Device dev = loss_sum.device();
  KASMINA_CHECK(dev.is_cuda(), "inject_nan_at_step: loss_sum is not on a CUDA device");
  cudaStream_t s = stream(dev);
  inject_nan_sum_kernel<<<1, 1, 0, s>>>(step.data<int64_t>(), nan_step, loss_sum.data<double>());
  KASMINA_LAUNCH_CHECK("inject_nan_sum_kernel");
  if (dlogits != nullptr && dlogits->numel() > 0) {
    const int64_t n = dlogits->numel();
    inject_nan_grad_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(
        step.data<int64_t>(), nan_step, dlogits->data<float>(), n);
    KASMINA_LAUNCH_CHECK("inject_nan_grad_kernel");
  }
}

}  // namespace kasmina::ops::cuda
