// residual_add on the device: one grid-stride kernel, out[i] = a[i] + b[i] (one rounded fp32
// addition per element, as the CPU twin; a bf16 operand widened exactly on the load). Graph-safe;
// no host synchronisation.
#include "core/bf16.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/residual/residual_backend.hpp"

namespace kasmina::ops::cuda {

namespace {

__device__ __forceinline__ float widened(float v) {
  return v;
}
__device__ __forceinline__ float widened(bf16 v) {
  return v.to_float();
}

template <class TA, class TB>
__global__ void residual_add_kernel(const TA* a, const TB* b, float* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = __fadd_rn(widened(a[i]), widened(b[i]));
  }
}

}  // namespace

void residual_add(const Tensor& a, const Tensor& b, Tensor& out) {
  check_residual_add_args(a, b, out);
  KASMINA_CHECK(out.dtype() == DType::f32, "residual_add: CUDA tensors must be float32");
  const int64_t n = out.numel();
  if (n == 0) return;
  constexpr int kThreads = 256;
  const cudaStream_t st = stream(out.device());
  const auto launch = [&](auto a_type, auto b_type) {
    using TA = decltype(a_type);
    using TB = decltype(b_type);
    residual_add_kernel<TA, TB><<<grid_for(n, kThreads), kThreads, 0, st>>>(
        static_cast<const TA*>(a.raw()), static_cast<const TB*>(b.raw()),
        static_cast<float*>(out.raw()), n);
  };
  const bool a16 = a.dtype() == DType::bf16, b16 = b.dtype() == DType::bf16;
  if (a16 && b16) {
    launch(bf16{}, bf16{});
  } else if (a16) {
    launch(bf16{}, 0.0f);
  } else if (b16) {
    launch(0.0f, bf16{});
  } else {
    launch(0.0f, 0.0f);
  }
  KASMINA_LAUNCH_CHECK("residual_add_kernel");
}

}  // namespace kasmina::ops::cuda
