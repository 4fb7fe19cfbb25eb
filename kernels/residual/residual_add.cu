// residual_add on the device: one grid-stride kernel, out[i] = a[i] + b[i] (one rounded fp32
// addition per element, as the CPU twin). Graph-safe; no host synchronisation.
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/residual/residual_backend.hpp"

namespace kasmina::ops::cuda {

namespace {

__global__ void residual_add_kernel(const float* a, const float* b, float* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = __fadd_rn(a[i], b[i]);
  }
}

}  // namespace

void residual_add(const Tensor& a, const Tensor& b, Tensor& out) {
  check_residual_add_args(a, b, out);
  KASMINA_CHECK(out.dtype() == DType::f32, "residual_add: CUDA tensors must be float32");
  const int64_t n = out.numel();
  if (n == 0) return;
  constexpr int kThreads = 256;
  residual_add_kernel<<<grid_for(n, kThreads), kThreads, 0, stream(out.device())>>>(
      static_cast<const float*>(a.raw()), static_cast<const float*>(b.raw()),
      static_cast<float*>(out.raw()), n);
  KASMINA_LAUNCH_CHECK("residual_add_kernel");
}

}  // namespace kasmina::ops::cuda
