// Inverted dropout with counter-based Philox draws (core/philox.hpp): element i is kept when
// philox_uniform_at(seed, stream, step[0], i) >= p, exactly as the CPU twin decides, and kept
// values are divided by 1 - p. The step is read on the device (graph replays need no upload).
#include "core/philox.hpp"
#include "kernels/vector_io.cuh"
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = 256;

// V = 4: float4 data and uchar4 mask accesses (n % 4 == 0, aligned); V = 1 otherwise.
template <int V>
__global__ void dropout_forward_kernel(const float* __restrict__ x, float p, float keep_prob,
                                       uint64_t seed, uint32_t rng_stream,
                                       const int64_t* __restrict__ step, float* __restrict__ y,
                                       uint8_t* __restrict__ mask, int64_t n) {
  const auto step_value = static_cast<uint64_t>(step[0]);
  const int64_t groups = n / V;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
       g += stride) {
    const int64_t i0 = g * V;
    float in[V], out[V];
    uint8_t keep[V];
    kernels::load_floats<V>(x, i0, in);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      const float u =
          philox_uniform_at(seed, rng_stream, step_value, static_cast<uint64_t>(i0 + j));
      keep[j] = u >= p ? 1 : 0;
      out[j] = keep[j] ? in[j] / keep_prob : 0.0f;
    }
    kernels::store_floats<V>(y, i0, out);
    kernels::store_vec<V>(mask, i0, keep);
  }
}

template <int V>
__global__ void dropout_backward_kernel(const float* __restrict__ dy,
                                        const uint8_t* __restrict__ mask, float keep_prob,
                                        float* __restrict__ dx, int64_t n) {
  const int64_t groups = n / V;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; g < groups;
       g += stride) {
    const int64_t i0 = g * V;
    uint8_t keep[V];
    kernels::load_vec<V>(mask, i0, keep);
    float in[V], out[V];
    kernels::load_floats<V>(dy, i0, in);
#pragma unroll
    for (int j = 0; j < V; ++j) out[j] = keep[j] ? in[j] / keep_prob : 0.0f;
    kernels::store_floats<V>(dx, i0, out);
  }
}

bool aligned4(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 3u) == 0;
}

void check_probability(const char* op, float p) {
  KASMINA_CHECK(p >= 0.0f && p < 1.0f,
                std::string(op) + ": drop probability " + std::to_string(p) + " outside [0, 1)");
}

}  // namespace

void dropout_forward(const Tensor& x, float p, uint64_t seed, uint32_t rng_stream,
                     const Tensor& step, Tensor& y, Tensor& mask) {
  constexpr const char* op = "dropout_forward";
  const Device dev = x.device();
  check_probability(op, p);
  check_arg(op, "x", x, dev, DType::f32);
  check_arg(op, "step", step, dev, DType::i64, {1});
  check_arg(op, "y", y, dev, DType::f32, x.shape());
  check_arg(op, "mask", mask, dev, DType::u8, x.shape());
  const int64_t n = x.numel();
  if (n == 0) return;
  const bool vec = n % 4 == 0 && aligned16(x.raw()) && aligned16(y.raw()) && aligned4(mask.raw());
  auto kernel = vec ? dropout_forward_kernel<4> : dropout_forward_kernel<1>;
  kernel<<<grid_for(vec ? n / 4 : n, kThreads), kThreads, 0, stream(dev)>>>(
      x.data<float>(), p, 1.0f - p, seed, rng_stream, step.data<int64_t>(), y.data<float>(),
      mask.data<uint8_t>(), n);
  KASMINA_LAUNCH_CHECK("dropout_forward_kernel");
}

void dropout_backward(const Tensor& dy, const Tensor& mask, float p, Tensor& dx) {
  constexpr const char* op = "dropout_backward";
  const Device dev = dy.device();
  check_probability(op, p);
  check_arg(op, "dy", dy, dev, DType::f32);
  check_arg(op, "mask", mask, dev, DType::u8, dy.shape());
  check_arg(op, "dx", dx, dev, DType::f32, dy.shape());
  const int64_t n = dy.numel();
  if (n == 0) return;
  const bool vec = n % 4 == 0 && aligned16(dy.raw()) && aligned16(dx.raw()) && aligned4(mask.raw());
  auto kernel = vec ? dropout_backward_kernel<4> : dropout_backward_kernel<1>;
  kernel<<<grid_for(vec ? n / 4 : n, kThreads), kThreads, 0, stream(dev)>>>(
      dy.data<float>(), mask.data<uint8_t>(), 1.0f - p, dx.data<float>(), n);
  KASMINA_LAUNCH_CHECK("dropout_backward_kernel");
}

}  // namespace kasmina::ops::cuda
