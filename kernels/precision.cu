// The fp32 -> bf16 cast of `train.precision: bf16` (ops/precision_ops.hpp). The rounding is
// core/bf16.hpp, the same function the CPU twin calls, so both round bit for bit alike.
#include "core/bf16.hpp"
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::ops::cuda {

namespace {

// Four elements per thread when the buffers allow it: one float4 load, one 8-byte store.
__global__ void cast_to_bf16_vec4_kernel(const float4* __restrict__ src, uint2* __restrict__ dst,
                                         int64_t n4) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4;
       i += stride) {
    const float4 v = src[i];
    uint2 out;
    out.x = bf16x2_pack(float_to_bf16_bits(v.x), float_to_bf16_bits(v.y));
    out.y = bf16x2_pack(float_to_bf16_bits(v.z), float_to_bf16_bits(v.w));
    dst[i] = out;
  }
}

__global__ void cast_to_bf16_kernel(const float* __restrict__ src, uint16_t* __restrict__ dst,
                                    int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    dst[i] = float_to_bf16_bits(src[i]);
  }
}

}  // namespace

void cast_to_bf16(const Tensor& src, Tensor& dst) {
  constexpr const char* op = "cast_to_bf16";
  const Device dev = src.device();
  check_arg(op, "src", src, dev, DType::f32);
  check_on_device(op, "dst", dst, dev);
  KASMINA_CHECK(dst.dtype() == DType::bf16,
                std::string(op) + ": dst is " + dtype_name(dst.dtype()) + ", expected bfloat16");
  KASMINA_CHECK(src.numel() == dst.numel(), std::string(op) + ": src " + shape_str(src.shape()) +
                                                " and dst " + shape_str(dst.shape()) +
                                                " differ in element count");
  const int64_t n = src.numel();
  if (n == 0) return;
  constexpr int kThreads = 256;
  const cudaStream_t s = stream(dev);
  if (n % 4 == 0 && aligned16(src.raw()) && (reinterpret_cast<uintptr_t>(dst.raw()) & 7u) == 0) {
    cast_to_bf16_vec4_kernel<<<grid_for(n / 4, kThreads), kThreads, 0, s>>>(
        static_cast<const float4*>(src.raw()), static_cast<uint2*>(dst.raw()), n / 4);
    KASMINA_LAUNCH_CHECK("cast_to_bf16_vec4_kernel");
    return;
  }
  cast_to_bf16_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(
      src.data<float>(), static_cast<uint16_t*>(dst.raw()), n);
  KASMINA_LAUNCH_CHECK("cast_to_bf16_kernel");
}

}  // namespace kasmina::ops::cuda
