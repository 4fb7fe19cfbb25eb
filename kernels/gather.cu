// Batch gather from a device-resident dataset: row b of the batch is dataset row
// r = perm[cursor[0] * B + b] (cursor read on the device), x[b,:] = images[r,:] * scale + shift,
// y[b] = labels[r]. One block per batch row; 16-byte loads (uint8 x16 or float32 x4) when the
// row width and the pointers allow. A perm entry outside the dataset (which the caller must
// prevent) yields a NaN row and label -1 instead of reading out of bounds.
#include <cmath>

#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = 128;

// x * scale + shift, rounded after each operation (no FMA contraction) to match the CPU twin.
__device__ __forceinline__ float affine(float x, float scale, float shift) {
  return __fadd_rn(__fmul_rn(x, scale), shift);
}

__device__ __forceinline__ float4 scaled(float a, float b, float c, float d, float scale,
                                         float shift) {
  return make_float4(affine(a, scale, shift), affine(b, scale, shift), affine(c, scale, shift),
                     affine(d, scale, shift));
}

template <class Pixel>
__global__ void gather_kernel(const Pixel* __restrict__ images, const int32_t* __restrict__ labels,
                              const int32_t* __restrict__ perm, const int64_t* __restrict__ cursor,
                              int64_t count, int64_t width, int64_t batch, float scale, float shift,
                              bool vectorised, float* __restrict__ x, int32_t* __restrict__ y) {
  const int64_t b = blockIdx.x;
  const int64_t r = perm[cursor[0] * batch + b];
  float* dst = x + b * width;
  if (r < 0 || r >= count) {
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x) dst[j] = NAN;
    if (threadIdx.x == 0) y[b] = -1;
    return;
  }
  if (threadIdx.x == 0) y[b] = labels[r];
  const Pixel* src = images + r * width;
  if (vectorised) {
    if constexpr (sizeof(Pixel) == 1) {  // 16 pixels per 16-byte load
      const auto* src16 = reinterpret_cast<const uint4*>(src);
      auto* dst4 = reinterpret_cast<float4*>(dst);
      for (int64_t q = threadIdx.x; q < width / 16; q += blockDim.x) {
        const uint4 v = src16[q];
        const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int w = 0; w < 4; ++w) {
          const uint32_t u = words[w];
          dst4[q * 4 + w] = scaled(
              static_cast<float>(u & 0xffu), static_cast<float>((u >> 8) & 0xffu),
              static_cast<float>((u >> 16) & 0xffu), static_cast<float>(u >> 24), scale, shift);
        }
      }
    } else {  // 4 floats per 16-byte load
      const auto* src4 = reinterpret_cast<const float4*>(src);
      auto* dst4 = reinterpret_cast<float4*>(dst);
      for (int64_t q = threadIdx.x; q < width / 4; q += blockDim.x) {
        const float4 v = src4[q];
        dst4[q] = scaled(v.x, v.y, v.z, v.w, scale, shift);
      }
    }
    return;
  }
  for (int64_t j = threadIdx.x; j < width; j += blockDim.x) {
    dst[j] = affine(static_cast<float>(src[j]), scale, shift);
  }
}

}  // namespace

void gather_batch(const Tensor& images, const Tensor& labels, const Tensor& perm,
                  const Tensor& cursor, float scale, float shift, Tensor& x, Tensor& y) {
  constexpr const char* op = "gather_batch";
  const Device dev = images.device();
  check_on_device(op, "images", images, dev);
  const auto [count, width] = matrix_dims(op, "images", images);
  KASMINA_CHECK(images.dtype() == DType::u8 || images.dtype() == DType::f32,
                std::string(op) + ": images are " + dtype_name(images.dtype()) +
                    ", expected uint8 or float32");
  check_arg(op, "labels", labels, dev, DType::i32, {count});
  check_arg(op, "perm", perm, dev, DType::i32);
  KASMINA_CHECK(perm.ndim() == 1, std::string(op) + ": perm must be 1-D");
  check_arg(op, "cursor", cursor, dev, DType::i64, {1});
  check_arg(op, "x", x, dev, DType::f32);
  const int64_t batch = matrix_dims(op, "x", x).rows;
  check_arg(op, "x", x, dev, DType::f32, {batch, width});
  check_arg(op, "y", y, dev, DType::i32, {batch});
  if (batch == 0) return;
  KASMINA_CHECK(batch <= 2147483647, std::string(op) + ": batch too large");
  const cudaStream_t s = stream(dev);
  if (images.dtype() == DType::u8) {
    const bool vec = width % 16 == 0 && aligned16(images.raw()) && aligned16(x.raw());
    gather_kernel<uint8_t><<<static_cast<unsigned>(batch), kThreads, 0, s>>>(
        images.data<uint8_t>(), labels.data<int32_t>(), perm.data<int32_t>(),
        cursor.data<int64_t>(), count, width, batch, scale, shift, vec, x.data<float>(),
        y.data<int32_t>());
  } else {
    const bool vec = width % 4 == 0 && aligned16(images.raw()) && aligned16(x.raw());
    gather_kernel<float><<<static_cast<unsigned>(batch), kThreads, 0, s>>>(
        images.data<float>(), labels.data<int32_t>(), perm.data<int32_t>(), cursor.data<int64_t>(),
        count, width, batch, scale, shift, vec, x.data<float>(), y.data<int32_t>());
  }
  KASMINA_LAUNCH_CHECK("gather_kernel");
}

}  // namespace kasmina::ops::cuda
