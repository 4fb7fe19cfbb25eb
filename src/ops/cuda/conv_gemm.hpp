// The weight gradient of a 1x1 convolution as one GEMM (ops::gemm_weight_gradients; off by
// default): dw [Cout, Cin] = Σ_r dy[r, :]ᵀ xs[r, :] over the N·Ho·Wo output positions r, where xs
// is x at the pixels the convolution reads (x itself for stride 1; for a larger stride gathered
// into the scratch buffer by kernels/conv/strided_pixels.cu). cuBLASLt (ops/cuda/gemm.hpp) with
// fp32 sums: float32 maps in the math mode's precision (TF32 allowed in tf32 mode, as cuDNN's),
// bf16 maps on bf16 tensor cores with a bf16 or float32 D; split-K by gemm.cpp's fixed rule, so
// deterministic. src/ops/cuda/conv.cpp routes to it.
#pragma once
#include <cstdint>

#include "ops/conv_geometry.hpp"
#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

// Whether the GEMM takes this weight gradient: switched on, a 1x1 kernel, no padding, one group,
// and with bf16 maps channel counts that are multiples of 8 (16-byte rows: cuBLASLt's bf16
// kernels; the bf16 layers convolve in bf16 only then anyway, nn/conv_layers.cpp).
bool gemm_weight_gradient(const ConvGeometry& g, bool bf16);

// dw (bf16 when dw_bf16, else float32) from dy [N,Ho,Wo,Cout] and x [N,H,W,Cin], both bf16 when
// bf16 else float32, on ctx.stream.
void launch_gemm_weight_gradient(DeviceContext& ctx, const ConvGeometry& g, const void* dy,
                                 const void* x, bool bf16, void* dw, bool dw_bf16);

// out [N,Ho,Wo,Cin] = x [N,H,W,Cin] at rows s·h' and columns s·w' (elem_bytes: 4 or 2).
void launch_gather_strided_pixels(cudaStream_t s, const void* x, void* out, const ConvGeometry& g,
                                  int64_t elem_bytes);

}  // namespace kasmina::ops::cuda
