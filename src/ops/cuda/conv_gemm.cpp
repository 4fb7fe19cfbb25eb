// The 1x1 convolution's weight gradient as one cuBLASLt GEMM (conv_gemm.hpp).
#include "ops/cuda/conv_gemm.hpp"

#include "ops/conv_ops.hpp"
#include "ops/cuda/gemm.hpp"

namespace kasmina::ops::cuda {

bool gemm_weight_gradient(const ConvGeometry& g, bool bf16) {
  return gemm_weight_gradients() && g.k == 1 && g.padding == 0 && g.groups == 1 &&
         (!bf16 || (g.cin % 8 == 0 && g.cout % 8 == 0));
}

void launch_gemm_weight_gradient(DeviceContext& ctx, const ConvGeometry& g, const void* dy,
                                 const void* x, bool bf16, void* dw, bool dw_bf16) {
  const int64_t rows = g.n * g.ho * g.wo;
  const int64_t elem_bytes = bf16 ? 2 : 4;
  const void* xs = x;
  if (g.stride != 1) {
    void* buf = scratch(ctx, static_cast<size_t>(rows * g.cin * elem_bytes));
    launch_gather_strided_pixels(ctx.stream, x, buf, g, elem_bytes);
    xs = buf;
  }
  // Row-major dw [Cout, Cin] is the column-major [Cin, Cout] product xsᵀ · dy: A = xs as a
  // column-major [Cin, rows] matrix, B = dy as column-major [Cout, rows], transposed.
  GemmSpec s;
  s.ab_type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
  s.trans_a = false;
  s.trans_b = true;
  s.m = g.cin;
  s.n = g.cout;
  s.k = rows;
  s.a = xs;
  s.lda = g.cin;
  s.b = dy;
  s.ldb = g.cout;
  s.d = dw;
  s.ldd = g.cin;
  s.d_type = dw_bf16 ? CUDA_R_16BF : CUDA_R_32F;
  gemm(ctx, s);
}

}  // namespace kasmina::ops::cuda
