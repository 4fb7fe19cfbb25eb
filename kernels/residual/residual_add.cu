// residual_add on the device: one grid-stride kernel, out[i] = a[i] + b[i] (one rounded fp32
// addition per element, as the CPU twin; a bf16 operand widened exactly on the load), four
// elements a thread (16-byte float32, 8-byte bf16 accesses) when the count is a multiple of four
// and every pointer is 16-byte aligned, else one. out may be a or b. Graph-safe; no host
// synchronisation.
#include "core/bf16.hpp"
#include "kernels/conv/channel_vectors.cuh"
#include "kernels/vector_io.cuh"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/residual/residual_backend.hpp"

namespace kasmina::ops::cuda {

namespace {

template <int V, class Index, class TA, class TB>
__global__ void residual_add_kernel(const TA* a, const TB* b, float* out, Index vectors) {
  const Index stride = static_cast<Index>(gridDim.x) * blockDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < vectors;
       i += stride) {
    const Index e = i * V;
    float av[V], bv[V], o[V];
    kernels::load_floats<V>(a, e, av);
    kernels::load_floats<V>(b, e, bv);
#pragma unroll
    for (int q = 0; q < V; ++q) o[q] = __fadd_rn(av[q], bv[q]);
    kernels::store_floats<V>(out, e, o);
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
  const int v = kernels::channel_vector_width(n, {a.raw(), b.raw(), out.raw()});
  const auto launch = [&](auto a_type, auto b_type) {
    using TA = decltype(a_type);
    using TB = decltype(b_type);
    kernels::by_width_and_index(v, n, [&](auto vw, auto index) {
      constexpr int V = decltype(vw)::value;
      using I = decltype(index);
      residual_add_kernel<V, I, TA, TB><<<grid_for(n / V, kThreads), kThreads, 0, st>>>(
          static_cast<const TA*>(a.raw()), static_cast<const TB*>(b.raw()),
          static_cast<float*>(out.raw()), static_cast<I>(n / V));
    });
  };
  kernels::by_storage_pair(a.dtype() == DType::bf16, b.dtype() == DType::bf16, launch);
  KASMINA_LAUNCH_CHECK("residual_add_kernel");
}

}  // namespace kasmina::ops::cuda
