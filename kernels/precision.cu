// The fp32 <-> bf16 casts of `train.precision: bf16` (ops/precision_ops.hpp), and the bias of a
// bf16 convolution (launch.hpp). The rounding is core/bf16.hpp, the same function the CPU twins
// call, so both round bit for bit alike; the widening is exact.
#include "core/bf16.hpp"
#include "kernels/pdl.cuh"
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/cuda/launch.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::ops::cuda {

namespace {

// Four elements per thread when the buffers allow it: one float4 load, one 8-byte store.
__global__ void cast_to_bf16_vec4_kernel(const float4* __restrict__ src, uint2* __restrict__ dst,
                                         int64_t n4) {
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();
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
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    dst[i] = float_to_bf16_bits(src[i]);
  }
}

// Widening: four elements per thread (one 8-byte load, one float4 store) when aligned.
__global__ void cast_from_bf16_vec4_kernel(const uint2* __restrict__ src, float4* __restrict__ dst,
                                           int64_t n4) {
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4;
       i += stride) {
    const uint2 v = src[i];
    dst[i] = make_float4(bf16x2_low(v.x), bf16x2_high(v.x), bf16x2_low(v.y), bf16x2_high(v.y));
  }
}

__global__ void cast_from_bf16_kernel(const uint16_t* __restrict__ src, float* __restrict__ dst,
                                      int64_t n) {
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    dst[i] = bf16_bits_to_float(src[i]);
  }
}

// y[r, c] = bf16(y[r, c] + bias[c]) over a bf16 [rows, cols] matrix, in place.
__global__ void add_bias_bf16_kernel(uint16_t* __restrict__ y, const float* __restrict__ bias,
                                     int64_t n, int64_t cols) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    y[i] = float_to_bf16_bits(bf16_bits_to_float(y[i]) + bias[i % cols]);
  }
}

// A cast's arguments: src of `from` on a CUDA device, dst of `to` on the same one, one element
// count.
void check_cast(const char* op, const Tensor& src, const Tensor& dst, DType from, DType to) {
  const Device dev = src.device();
  check_arg(op, "src", src, dev, from);
  check_on_device(op, "dst", dst, dev);
  KASMINA_CHECK(dst.dtype() == to, std::string(op) + ": dst is " + dtype_name(dst.dtype()) +
                                       ", expected " + dtype_name(to));
  KASMINA_CHECK(src.numel() == dst.numel(), std::string(op) + ": src " + shape_str(src.shape()) +
                                                " and dst " + shape_str(dst.shape()) +
                                                " differ in element count");
}

bool aligned8(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 7u) == 0;
}

}  // namespace

void launch_add_bias_bf16(cudaStream_t s, void* y, const float* bias, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  constexpr int kThreads = 256;
  add_bias_bf16_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(static_cast<uint16_t*>(y), bias,
                                                                  n, cols);
  KASMINA_LAUNCH_CHECK("add_bias_bf16_kernel");
}

namespace {

// Four elements a thread (kernel4 on n / 4 groups) when n is a multiple of 4 and both buffers
// allow the wide accesses (16 bytes on the fp32 side, 8 on the bf16 side), else one a thread.
template <class S4, class D4, class S, class D>
void launch_cast(const Tensor& src, Tensor& dst, bool wide,
                 void (*kernel4)(const S4*, D4*, int64_t), const char* name4,
                 void (*kernel1)(const S*, D*, int64_t), const char* name1) {
  const int64_t n = src.numel();
  if (n == 0) return;
  constexpr int kThreads = 256;
  const DeviceContext& ctx = context(src.device());
  if (n % 4 == 0 && wide) {
    launch_pdl(ctx, kernel4, dim3(grid_for(n / 4, kThreads)), dim3(kThreads), name4,
               static_cast<const S4*>(src.raw()), static_cast<D4*>(dst.raw()), n / 4);
    return;
  }
  launch_pdl(ctx, kernel1, dim3(grid_for(n, kThreads)), dim3(kThreads), name1,
             static_cast<const S*>(src.raw()), static_cast<D*>(dst.raw()), n);
}

}  // namespace

void cast_to_bf16(const Tensor& src, Tensor& dst) {
  check_cast("cast_to_bf16", src, dst, DType::f32, DType::bf16);
  launch_cast(src, dst, aligned16(src.raw()) && aligned8(dst.raw()), &cast_to_bf16_vec4_kernel,
              "cast_to_bf16_vec4_kernel", &cast_to_bf16_kernel, "cast_to_bf16_kernel");
}

void cast_from_bf16(const Tensor& src, Tensor& dst) {
  check_cast("cast_from_bf16", src, dst, DType::bf16, DType::f32);
  launch_cast(src, dst, aligned8(src.raw()) && aligned16(dst.raw()), &cast_from_bf16_vec4_kernel,
              "cast_from_bf16_vec4_kernel", &cast_from_bf16_kernel, "cast_from_bf16_kernel");
}

}  // namespace kasmina::ops::cuda
