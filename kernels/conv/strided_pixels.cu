// The pixels a strided 1x1 convolution reads (namespace kasmina::ops::cuda): out [N,Ho,Wo,C] =
// x [N,H,W,C] at rows s·h', columns s·w' (no padding), so that the convolution's weight gradient
// is one GEMM over contiguous rows (src/ops/cuda/conv_gemm.cpp). A copy: each thread moves one
// unit of a pixel's channels (16, 4 or 2 bytes, the widest that divides the pixel's bytes and
// both pointers' alignment); float32 or bf16 alike, the bits unchanged. No CPU twin of its own:
// it is a step of conv2d_backward_weight, whose CPU twin is the convolution's (the op table's
// conv2d entries with the GEMM route switched on).
#include <cstdint>

#include "ops/conv_geometry.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/conv_gemm.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = 256;

// units: a pixel's units of type U; ho, wo: the output's rows and columns; stride: s.
template <class U>
__global__ void gather_strided_pixels_kernel(const U* __restrict__ x, U* __restrict__ out,
                                             int64_t pixels, int64_t units, int64_t h, int64_t w,
                                             int64_t ho, int64_t wo, int64_t stride) {
  const int64_t n_units = pixels * units;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n_units;
       i += step) {
    const int64_t p = i / units, u = i - p * units;
    const int64_t img = p / (ho * wo), rest = p - img * (ho * wo);
    const int64_t r = rest / wo, c = rest - r * wo;
    out[i] = x[((img * h + r * stride) * w + c * stride) * units + u];
  }
}

template <class U>
void launch_units(cudaStream_t s, const void* x, void* out, const ConvGeometry& g,
                  int64_t pixel_bytes) {
  const int64_t units = pixel_bytes / static_cast<int64_t>(sizeof(U));
  const int64_t pixels = g.n * g.ho * g.wo;
  gather_strided_pixels_kernel<U><<<grid_for(pixels * units, kThreads), kThreads, 0, s>>>(
      static_cast<const U*>(x), static_cast<U*>(out), pixels, units, g.h, g.w, g.ho, g.wo,
      g.stride);
  KASMINA_LAUNCH_CHECK("gather_strided_pixels_kernel");
}

}  // namespace

void launch_gather_strided_pixels(cudaStream_t s, const void* x, void* out, const ConvGeometry& g,
                                  int64_t elem_bytes) {
  const int64_t pixel_bytes = g.cin * elem_bytes;
  if (g.n * g.ho * g.wo == 0 || pixel_bytes == 0) return;
  const auto fits = [&](int64_t unit) {
    return pixel_bytes % unit == 0 && reinterpret_cast<uintptr_t>(x) % unit == 0 &&
           reinterpret_cast<uintptr_t>(out) % unit == 0;
  };
  if (fits(16)) return launch_units<uint4>(s, x, out, g, pixel_bytes);
  if (fits(4)) return launch_units<uint32_t>(s, x, out, g, pixel_bytes);
  launch_units<uint16_t>(s, x, out, g, pixel_bytes);
}

}  // namespace kasmina::ops::cuda
