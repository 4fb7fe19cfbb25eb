// Standalone activations (y = act(x), dx = dy ⊙ act'(x)), the activation backward of a fused
// linear layer from its cuBLASLt aux (ReLU bit mask or GELU pre-activation), and the fused
// bias + activation forward used when a cuBLASLt epilogue is unavailable, with float32 or bf16
// outputs (the bf16 activations between linear layers: fp32 math, one rounding at the store).
#include <algorithm>

#include "core/bf16.hpp"
#include "kernels/activation_math.cuh"
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/launch.hpp"

namespace kasmina::ops::cuda {

namespace {

using kernels::activation_derivative;
using kernels::activation_value;

constexpr int kThreads = 256;

__global__ void activation_forward_kernel(Activation act, const float* __restrict__ x,
                                          float* __restrict__ y, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    y[i] = activation_value(act, x[i]);
  }
}

__global__ void activation_forward_vec4_kernel(Activation act, const float4* __restrict__ x,
                                               float4* __restrict__ y, int64_t n4) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4;
       i += stride) {
    const float4 v = x[i];
    y[i] = make_float4(activation_value(act, v.x), activation_value(act, v.y),
                       activation_value(act, v.z), activation_value(act, v.w));
  }
}

__global__ void activation_backward_kernel(Activation act, const float* __restrict__ dy,
                                           const float* __restrict__ x, float* __restrict__ dx,
                                           int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    dx[i] = dy[i] * activation_derivative(act, x[i]);
  }
}

__global__ void activation_backward_vec4_kernel(Activation act, const float4* __restrict__ dy,
                                                const float4* __restrict__ x,
                                                float4* __restrict__ dx, int64_t n4) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n4;
       i += stride) {
    const float4 g = dy[i], v = x[i];
    dx[i] =
        make_float4(g.x * activation_derivative(act, v.x), g.y * activation_derivative(act, v.y),
                    g.z * activation_derivative(act, v.z), g.w * activation_derivative(act, v.w));
  }
}

// The grid of the row-and-column kernels below (bias_activation_kernel,
// backward_from_aux_kernel): enough column blocks for one row (at most 8), rows on y up to its
// limit (the kernels step past it).
dim3 rows_cols_grid(int64_t rows, int64_t cols) {
  const int64_t x = std::min<int64_t>((cols + kThreads - 1) / kThreads, 8);
  const int64_t y = std::min<int64_t>(rows, 65535);
  return dim3(static_cast<unsigned>(x), static_cast<unsigned>(y));
}

// Element loads and stores of float32 or bf16 (uint16_t bits) buffers.
__device__ __forceinline__ float load_value(const float* p, int64_t i) {
  return p[i];
}
__device__ __forceinline__ float load_value(const uint16_t* p, int64_t i) {
  return bf16_bits_to_float(p[i]);
}
__device__ __forceinline__ void store_value(float* p, int64_t i, float v) {
  p[i] = v;
}
__device__ __forceinline__ void store_value(uint16_t* p, int64_t i, float v) {
  p[i] = float_to_bf16_bits(v);
}

// dpre = dy ⊙ act'(pre) with pre from aux (GELU: AuxT values; ReLU: the bit mask), computed in
// fp32 and stored as OutT (dy and dpre may alias: no __restrict__). Rows on the grid's y
// dimension, columns on x (rows_cols_grid): no division per element.
template <class AuxT, class OutT>
__global__ void backward_from_aux_kernel(Activation act, const float* dy, const void* aux,
                                         int64_t aux_ld, OutT* dpre, int64_t rows, int64_t cols) {
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t c_step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    for (int64_t c = c0; c < cols; c += c_step) {
      const int64_t i = r * cols + c;
      float d = 0.0f;
      if (act == Activation::relu) {
        d = kernels::relu_mask_bit(static_cast<const uint8_t*>(aux), aux_ld, r, c) ? 1.0f : 0.0f;
      } else if (act == Activation::gelu) {
        d = kasmina::gelu_activation_derivative(
            load_value(static_cast<const AuxT*>(aux), r * aux_ld + c));
      } else {
        d = 1.0f;
      }
      store_value(dpre, i, dy[i] * d);
    }
  }
}

// GELU / none: one thread per element; pre = acc + b (acc null: 0), aux = pre (GELU input, as
// AuxT), y = act(pre) as YT. acc and y may alias (float32 in place). Rows on the grid's y
// dimension (strided past 65535), columns on x: no division per element (the previous
// grid-stride form divided a 64-bit index by the column count for every element).
template <class YT, class AuxT>
__global__ void bias_activation_kernel(const float* acc, YT* y, const float* bias, int64_t rows,
                                       int64_t cols, Activation act, AuxT* aux, int64_t aux_ld) {
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t c_step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    for (int64_t c = c0; c < cols; c += c_step) {
      const int64_t i = r * cols + c;
      const float pre = (acc ? acc[i] : 0.0f) + (bias ? bias[c] : 0.0f);
      if (aux) store_value(aux, r * aux_ld + c, pre);
      store_value(y, i, activation_value(act, pre));
    }
  }
}

// ReLU: one thread per element of a row's aux_ld mask columns (aux_ld % 128 == 0, blocks of whole
// warps: a warp is 32 consecutive columns of one row, one word of the mask, and takes the loop's
// branches together); the warp's ballot is the word (bits past the last column zero) and lane 0
// stores it. Rows on the grid's y dimension, columns on x (rows_cols_grid over aux_ld): loads and
// stores coalesced (the form before this one gave each thread a whole word, 32 elements apart
// from its neighbour's, and a grid of rows * aux_ld / 8192 blocks: 15 us at 256 x 256 on an H100).
template <class YT>
__global__ void bias_relu_mask_kernel(const float* acc, YT* y, const float* bias, int64_t rows,
                                      int64_t cols, uint32_t* mask, int64_t aux_ld) {
  const int64_t c0 = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t c_step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    for (int64_t c = c0; c < aux_ld; c += c_step) {
      const int64_t i = r * cols + c;
      bool on = false;
      if (c < cols) {
        const float pre = (acc ? acc[i] : 0.0f) + (bias ? bias[c] : 0.0f);
        on = pre > 0.0f;
        store_value(y, i, on ? pre : 0.0f);
      }
      const uint32_t bits = __ballot_sync(0xffffffffu, on);
      if ((threadIdx.x & 31) == 0) mask[(r * aux_ld + c) / 32] = bits;
    }
  }
}

template <class YT>
void bias_activation(cudaStream_t s, const float* acc, YT* y, const float* bias, int64_t rows,
                     int64_t cols, Activation act, void* aux, int64_t aux_ld) {
  if (act == Activation::relu) {
    KASMINA_CHECK(aux && aux_ld % 128 == 0, "bias_relu forward: ReLU mask missing or misaligned");
    bias_relu_mask_kernel<YT><<<rows_cols_grid(rows, aux_ld), kThreads, 0, s>>>(
        acc, y, bias, rows, cols, static_cast<uint32_t*>(aux), aux_ld);
    KASMINA_LAUNCH_CHECK("bias_relu_mask_kernel");
    return;
  }
  // The GELU aux has the output's type (cuBLASLt's rule for its GELU_AUX epilogues).
  bias_activation_kernel<YT, YT><<<rows_cols_grid(rows, cols), kThreads, 0, s>>>(
      acc, y, bias, rows, cols, act, static_cast<YT*>(aux), aux_ld);
  KASMINA_LAUNCH_CHECK("bias_activation_kernel");
}

template <class AuxT, class OutT>
void backward_from_aux(cudaStream_t s, Activation act, const float* dy, const void* aux,
                       int64_t aux_ld, void* dpre, int64_t rows, int64_t cols) {
  backward_from_aux_kernel<AuxT, OutT><<<rows_cols_grid(rows, cols), kThreads, 0, s>>>(
      act, dy, aux, aux_ld, static_cast<OutT*>(dpre), rows, cols);
  KASMINA_LAUNCH_CHECK("backward_from_aux_kernel");
}

}  // namespace

void launch_bias_activation_forward(cudaStream_t s, const float* acc, void* y, bool bf16_out,
                                    const float* bias, int64_t rows, int64_t cols, Activation act,
                                    void* aux, int64_t aux_ld) {
  if (rows * cols == 0) return;
  if (bf16_out) {
    bias_activation(s, acc, static_cast<uint16_t*>(y), bias, rows, cols, act, aux, aux_ld);
  } else {
    bias_activation(s, acc, static_cast<float*>(y), bias, rows, cols, act, aux, aux_ld);
  }
}

void launch_activation_backward_from_aux(cudaStream_t s, Activation act, const float* dy,
                                         const void* aux, int64_t aux_ld, bool bf16_aux, void* dpre,
                                         bool bf16_out, int64_t rows, int64_t cols) {
  if (rows * cols == 0) return;
  if (bf16_aux && bf16_out) {
    backward_from_aux<uint16_t, uint16_t>(s, act, dy, aux, aux_ld, dpre, rows, cols);
  } else if (bf16_aux) {
    backward_from_aux<uint16_t, float>(s, act, dy, aux, aux_ld, dpre, rows, cols);
  } else if (bf16_out) {
    backward_from_aux<float, uint16_t>(s, act, dy, aux, aux_ld, dpre, rows, cols);
  } else {
    backward_from_aux<float, float>(s, act, dy, aux, aux_ld, dpre, rows, cols);
  }
}

// dt: the layer's output type, float32 or bf16 (the GELU aux then holds bf16 pre-activations).
Tensor make_linear_aux(int64_t rows, int64_t cols, Activation act, Device dev, DType dt) {
  KASMINA_CHECK(
      dt == DType::f32 || dt == DType::bf16,
      std::string("make_linear_aux: CUDA outputs are float32 or bfloat16, got ") + dtype_name(dt));
  if (act == Activation::none) return Tensor();
  const int64_t ld = linear_aux_ld(act, cols);
  // Fresh allocations come from the caching allocator: 512-byte aligned at least.
  if (act == Activation::relu) return Tensor::empty({rows, ld / 8}, DType::u8, dev);
  return Tensor::empty({rows, ld}, dt, dev);
}

void activation_forward(Activation act, const Tensor& x, Tensor& y) {
  constexpr const char* op = "activation_forward";
  const Device dev = x.device();
  check_arg(op, "x", x, dev, DType::f32);
  check_arg(op, "y", y, dev, DType::f32, x.shape());
  const int64_t n = x.numel();
  if (n == 0) return;
  const cudaStream_t s = stream(dev);
  if (n % 4 == 0 && aligned16(x.raw()) && aligned16(y.raw())) {
    activation_forward_vec4_kernel<<<grid_for(n / 4, kThreads), kThreads, 0, s>>>(
        act, static_cast<const float4*>(x.raw()), static_cast<float4*>(y.raw()), n / 4);
    KASMINA_LAUNCH_CHECK("activation_forward_vec4_kernel");
  } else {
    activation_forward_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(act, x.data<float>(),
                                                                         y.data<float>(), n);
    KASMINA_LAUNCH_CHECK("activation_forward_kernel");
  }
}

void activation_backward(Activation act, const Tensor& dy, const Tensor& x, Tensor& dx) {
  constexpr const char* op = "activation_backward";
  const Device dev = dy.device();
  check_arg(op, "dy", dy, dev, DType::f32);
  check_arg(op, "x", x, dev, DType::f32, dy.shape());
  check_arg(op, "dx", dx, dev, DType::f32, dy.shape());
  const int64_t n = dy.numel();
  if (n == 0) return;
  const cudaStream_t s = stream(dev);
  if (n % 4 == 0 && aligned16(dy.raw()) && aligned16(x.raw()) && aligned16(dx.raw())) {
    activation_backward_vec4_kernel<<<grid_for(n / 4, kThreads), kThreads, 0, s>>>(
        act, static_cast<const float4*>(dy.raw()), static_cast<const float4*>(x.raw()),
        static_cast<float4*>(dx.raw()), n / 4);
    KASMINA_LAUNCH_CHECK("activation_backward_vec4_kernel");
  } else {
    activation_backward_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(
        act, dy.data<float>(), x.data<float>(), dx.data<float>(), n);
    KASMINA_LAUNCH_CHECK("activation_backward_kernel");
  }
}

void activation_backward_aux(Activation act, const Tensor& dy, const Tensor& aux, Tensor& dpre) {
  constexpr const char* op = "activation_backward_aux";
  const Device dev = dy.device();
  check_arg(op, "dy", dy, dev, DType::f32);
  const auto [rows, cols] = matrix_dims(op, "dy", dy);
  check_arg(op, "dpre", dpre, dev, DType::f32, dy.shape());
  if (act == Activation::none) {
    if (dpre.raw() != dy.raw()) dpre.copy_from(dy);
    return;
  }
  // The saved state of a layer with a float32 or (bf16 activations) a bf16 output.
  const DType aux_type = act == Activation::gelu ? aux.dtype() : DType::f32;
  check_linear_aux(op, act, aux, rows, cols, dev, aux_type);
  launch_activation_backward_from_aux(stream(dev), act, dy.data<float>(), aux.raw(),
                                      linear_aux_ld(act, cols), aux_type == DType::bf16,
                                      dpre.data<float>(), false, rows, cols);
}

}  // namespace kasmina::ops::cuda
