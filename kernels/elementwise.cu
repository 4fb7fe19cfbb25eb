// Elementwise utilities: fill a tensor with one value; add to a device-side step counter.
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops::cuda {

namespace {

template <class T>
__global__ void fill_kernel(T* __restrict__ out, T value, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = value;
  }
}

__global__ void fill_vec4_kernel(float4* __restrict__ out, float value, int64_t n4) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const float4 v = make_float4(value, value, value, value);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4;
       i += stride) {
    out[i] = v;
  }
}

__global__ void counter_add_kernel(int64_t* counter, int64_t n, int64_t delta) {
  if (threadIdx.x < n) counter[threadIdx.x] += delta;
}

template <class T>
void launch_fill(Tensor& t, double value) {
  constexpr int kThreads = 256;
  const int64_t n = t.numel();
  fill_kernel<T><<<grid_for(n, kThreads), kThreads, 0, stream(t.device())>>>(
      static_cast<T*>(t.raw()), static_cast<T>(value), n);
  KASMINA_LAUNCH_CHECK("fill_kernel");
}

}  // namespace

void fill(Tensor& t, double value) {
  KASMINA_CHECK(t.defined() && t.device().is_cuda(), "fill: tensor is not on a CUDA device");
  const int64_t n = t.numel();
  if (n == 0) return;
  switch (t.dtype()) {
    case DType::f32:
      if (n % 4 == 0 && aligned16(t.raw())) {
        constexpr int kThreads = 256;
        fill_vec4_kernel<<<grid_for(n / 4, kThreads), kThreads, 0, stream(t.device())>>>(
            static_cast<float4*>(t.raw()), static_cast<float>(value), n / 4);
        KASMINA_LAUNCH_CHECK("fill_vec4_kernel");
        return;
      }
      return launch_fill<float>(t, value);
    case DType::f64:
      return launch_fill<double>(t, value);
    case DType::i32:
      return launch_fill<int32_t>(t, value);
    case DType::i64:
      return launch_fill<int64_t>(t, value);
    default:
      KASMINA_CHECK(false, std::string("fill: unsupported dtype ") + dtype_name(t.dtype()) +
                               " (allowed: float32, float64, int32, int64)");
  }
}

void counter_add(Tensor& counter, int64_t delta) {
  check_counter_shape(counter);
  check_arg("counter_add", "counter", counter, counter.device(), DType::i64, {counter.numel()});
  KASMINA_CHECK(counter.device().is_cuda(), "counter_add: counter is not on a CUDA device");
  const int64_t n = counter.numel();
  counter_add_kernel<<<1, static_cast<unsigned>(n), 0, stream(counter.device())>>>(
      counter.data<int64_t>(), n, delta);
  KASMINA_LAUNCH_CHECK("counter_add_kernel");
}

}  // namespace kasmina::ops::cuda
