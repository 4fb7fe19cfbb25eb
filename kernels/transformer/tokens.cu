// The token plumbing on the device: patchify (both directions are gathers through the index maps
// of src/ops/transformer/patch_index.hpp, shared with the CPU twin), class token + position
// embedding (one rounded addition per element, bit-equal to the CPU), its backward (a copy, and
// the position/class gradients as the deterministic column sums of dy viewed [B, T'·D]) and
// class-token selection. Thread per output element, grid-stride; graph-safe.
#include "ops/cuda/checks.hpp"
#include "ops/cuda/launch.hpp"
#include "ops/transformer/patch_index.hpp"
#include "ops/transformer/transformer_checks.hpp"
#include "ops/transformer_ops.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = 256;

#define KASMINA_GRID_STRIDE(i, n)                                                        \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

__global__ void patch_gather_kernel(const float* __restrict__ src, PatchGeom g, bool to_patches,
                                    float* __restrict__ dst, int64_t n) {
  KASMINA_GRID_STRIDE(i, n) {
    dst[i] = src[to_patches ? patch_source_index(g, i) : patch_target_index(g, i)];
  }
}

__global__ void tokens_assemble_kernel(const float* __restrict__ x, const float* __restrict__ cls,
                                       const float* __restrict__ pos, TokenDims d,
                                       float* __restrict__ y, int64_t n) {
  const int64_t skip = d.cls ? 1 : 0;
  KASMINA_GRID_STRIDE(i, n) {
    const int64_t c = i % d.width;
    const int64_t bt = i / d.width;
    const int64_t t = bt % d.out_tokens, b = bt / d.out_tokens;
    const float v = t < skip ? cls[c] : x[(b * d.tokens + t - skip) * d.width + c];
    y[i] = __fadd_rn(v, pos[t * d.width + c]);
  }
}

// dx[b,t,c] = dy[b, t + skip, c].
__global__ void tokens_strip_kernel(const float* __restrict__ dy, TokenDims d,
                                    float* __restrict__ dx, int64_t n) {
  const int64_t skip = d.cls ? 1 : 0;
  KASMINA_GRID_STRIDE(i, n) {
    const int64_t c = i % d.width;
    const int64_t bt = i / d.width;
    const int64_t t = bt % d.tokens, b = bt / d.tokens;
    dx[i] = dy[(b * d.out_tokens + t + skip) * d.width + c];
  }
}

// forward: row[b,c] = seq[b,token,c] over the row elements; backward: seq[b,t,c] = t == token ?
// row[b,c] : 0 over the sequence elements.
__global__ void select_token_kernel(const float* __restrict__ src, SelectDims s, int64_t token,
                                    bool backward, float* __restrict__ dst, int64_t n) {
  KASMINA_GRID_STRIDE(i, n) {
    const int64_t c = i % s.width;
    if (!backward) {
      dst[i] = src[((i / s.width) * s.tokens + token) * s.width + c];
    } else {
      const int64_t bt = i / s.width;
      dst[i] = bt % s.tokens == token ? src[(bt / s.tokens) * s.width + c] : 0.0f;
    }
  }
}

#undef KASMINA_GRID_STRIDE

PatchGeom geom_of(const PatchDims& p) {
  return {p.height, p.width, p.channels, p.patch, p.grid_w, p.tokens, p.patch_len};
}

void patch_gather(const Tensor& src, const PatchDims& p, bool to_patches, Tensor& dst) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  patch_gather_kernel<<<grid_for(n, kThreads), kThreads, 0, stream(dst.device())>>>(
      src.data<float>(), geom_of(p), to_patches, dst.data<float>(), n);
  KASMINA_LAUNCH_CHECK("patch_gather_kernel");
}

}  // namespace

void patchify_forward(const Tensor& img, int64_t patch, Tensor& patches) {
  constexpr const char* op = "patchify_forward";
  const PatchDims p = check_patchify_args(op, img, patch, patches);
  check_arg(op, "img", img, img.device(), DType::f32);
  patch_gather(img, p, true, patches);
}

void patchify_backward(const Tensor& dpatches, int64_t patch, Tensor& dimg) {
  constexpr const char* op = "patchify_backward";
  const PatchDims p = check_patchify_args(op, dimg, patch, dpatches);
  check_arg(op, "dpatches", dpatches, dpatches.device(), DType::f32);
  patch_gather(dpatches, p, false, dimg);
}

void tokens_assemble_forward(const Tensor& x, const Tensor& cls, const Tensor& pos, Tensor& y) {
  constexpr const char* op = "tokens_assemble_forward";
  const TokenDims d = check_tokens_assemble_forward_args(x, cls, pos, y);
  check_arg(op, "x", x, x.device(), DType::f32);
  const int64_t n = y.numel();
  if (n == 0) return;
  tokens_assemble_kernel<<<grid_for(n, kThreads), kThreads, 0, stream(x.device())>>>(
      x.data<float>(), d.cls ? cls.data<float>() : nullptr, pos.data<float>(), d, y.data<float>(),
      n);
  KASMINA_LAUNCH_CHECK("tokens_assemble_kernel");
}

void tokens_assemble_backward(const Tensor& dy, Tensor& dx, Tensor* dcls, Tensor& dpos) {
  constexpr const char* op = "tokens_assemble_backward";
  const TokenDims d = check_tokens_assemble_backward_args(dy, dx, dcls, dpos);
  check_arg(op, "dy", dy, dy.device(), DType::f32);
  DeviceContext& ctx = context(dy.device());
  const int64_t n = dx.numel();
  if (n > 0) {
    tokens_strip_kernel<<<grid_for(n, kThreads), kThreads, 0, ctx.stream>>>(dy.data<float>(), d,
                                                                            dx.data<float>(), n);
    KASMINA_LAUNCH_CHECK("tokens_strip_kernel");
  }
  if (dpos.numel() == 0) return;
  if (d.batch == 0) {
    ops::cuda::fill(dpos, 0.0);
  } else {
    launch_column_sums(ctx, dy.data<float>(), d.batch, d.out_tokens * d.width, dpos.data<float>());
  }
  if (dcls) {
    KASMINA_CUDA_CHECK(cudaMemcpyAsync(dcls->raw(), dpos.raw(), dcls->nbytes(),
                                       cudaMemcpyDeviceToDevice, ctx.stream));
  }
}

void select_token_forward(const Tensor& x, int64_t token, Tensor& y) {
  constexpr const char* op = "select_token_forward";
  const SelectDims s = check_select_token_args(op, x, token, y);
  check_arg(op, "x", x, x.device(), DType::f32);
  const int64_t n = y.numel();
  if (n == 0) return;
  select_token_kernel<<<grid_for(n, kThreads), kThreads, 0, stream(x.device())>>>(
      x.data<float>(), s, token, false, y.data<float>(), n);
  KASMINA_LAUNCH_CHECK("select_token_kernel");
}

void select_token_backward(const Tensor& dy, int64_t token, Tensor& dx) {
  constexpr const char* op = "select_token_backward";
  const SelectDims s = check_select_token_args(op, dx, token, dy);
  check_arg(op, "dy", dy, dy.device(), DType::f32);
  const int64_t n = dx.numel();
  if (n == 0) return;
  select_token_kernel<<<grid_for(n, kThreads), kThreads, 0, stream(dy.device())>>>(
      dy.data<float>(), s, token, true, dx.data<float>(), n);
  KASMINA_LAUNCH_CHECK("select_token_kernel");
}

}  // namespace kasmina::ops::cuda
