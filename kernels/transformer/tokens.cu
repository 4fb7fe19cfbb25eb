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

// (b, t, c) of flat element i of a [B, tokens, width] tensor.
struct TokenIndex {
  int64_t b, t, c;
};
__device__ __forceinline__ TokenIndex token_index(int64_t i, int64_t tokens, int64_t width) {
  const int64_t bt = i / width;
  return {bt / tokens, bt % tokens, i % width};
}

__global__ void tokens_assemble_kernel(const float* __restrict__ x, const float* __restrict__ cls,
                                       const float* __restrict__ pos, TokenDims d,
                                       float* __restrict__ y, int64_t n) {
  const int64_t skip = d.cls ? 1 : 0;
  KASMINA_GRID_STRIDE(i, n) {
    const TokenIndex k = token_index(i, d.out_tokens, d.width);
    const float v = k.t < skip ? cls[k.c] : x[(k.b * d.tokens + k.t - skip) * d.width + k.c];
    y[i] = __fadd_rn(v, pos[k.t * d.width + k.c]);
  }
}

// dx[b,t,c] = dy[b, t + skip, c].
__global__ void tokens_strip_kernel(const float* __restrict__ dy, TokenDims d,
                                    float* __restrict__ dx, int64_t n) {
  const int64_t skip = d.cls ? 1 : 0;
  KASMINA_GRID_STRIDE(i, n) {
    const TokenIndex k = token_index(i, d.tokens, d.width);
    dx[i] = dy[(k.b * d.out_tokens + k.t + skip) * d.width + k.c];
  }
}

// forward: row[b,c] = seq[b,token,c] over the row elements; backward: seq[b,t,c] = t == token ?
// row[b,c] : 0 over the sequence elements.
__global__ void select_token_kernel(const float* __restrict__ src, SelectDims s, int64_t token,
                                    bool backward, float* __restrict__ dst, int64_t n) {
  KASMINA_GRID_STRIDE(i, n) {
    if (!backward) {
      dst[i] = src[((i / s.width) * s.tokens + token) * s.width + i % s.width];
    } else {
      const TokenIndex k = token_index(i, s.tokens, s.width);
      dst[i] = k.t == token ? src[k.b * s.width + k.c] : 0.0f;
    }
  }
}

#undef KASMINA_GRID_STRIDE

// One thread per element of an n-element output (grid-stride); nothing to do when n is 0.
template <class... Params, class... Args>
void launch_elements(const char* name, Device dev, int64_t n, void (*kernel)(Params...),
                     Args... args) {
  if (n == 0) return;
  kernel<<<grid_for(n, kThreads), kThreads, 0, stream(dev)>>>(args..., n);
  KASMINA_LAUNCH_CHECK(name);
}

// patch_gather_kernel from src (the image forward, the patches backward) into dst.
void launch_patch_gather(const char* op, const Tensor& src, const PatchDims& p, bool to_patches,
                         Tensor& dst) {
  check_arg(op, "input", src, src.device(), DType::f32);
  launch_elements("patch_gather_kernel", src.device(), dst.numel(), patch_gather_kernel,
                  src.data<float>(), p.geom, to_patches, dst.data<float>());
}

// select_token_kernel from src ([B,T,D] forward, [B,D] backward) into dst.
void launch_select(const char* op, const Tensor& src, const SelectDims& s, int64_t token,
                   bool backward, Tensor& dst) {
  check_arg(op, "input", src, src.device(), DType::f32);
  launch_elements("select_token_kernel", src.device(), dst.numel(), select_token_kernel,
                  src.data<float>(), s, token, backward, dst.data<float>());
}

}  // namespace

void patchify_forward(const Tensor& img, int64_t patch, Tensor& patches) {
  constexpr const char* op = "patchify_forward";
  launch_patch_gather(op, img, check_patchify_args(op, img, patch, patches), true, patches);
}

void patchify_backward(const Tensor& dpatches, int64_t patch, Tensor& dimg) {
  constexpr const char* op = "patchify_backward";
  launch_patch_gather(op, dpatches, check_patchify_args(op, dimg, patch, dpatches), false, dimg);
}

void tokens_assemble_forward(const Tensor& x, const Tensor& cls, const Tensor& pos, Tensor& y) {
  constexpr const char* op = "tokens_assemble_forward";
  const TokenDims d = check_tokens_assemble_forward_args(x, cls, pos, y);
  check_arg(op, "x", x, x.device(), DType::f32);
  const float* cls_data = d.cls ? cls.data<float>() : nullptr;
  launch_elements("tokens_assemble_kernel", x.device(), y.numel(), tokens_assemble_kernel,
                  x.data<float>(), cls_data, pos.data<float>(), d, y.data<float>());
}

void tokens_assemble_backward(const Tensor& dy, Tensor& dx, Tensor* dcls, Tensor& dpos) {
  constexpr const char* op = "tokens_assemble_backward";
  const TokenDims d = check_tokens_assemble_backward_args(dy, dx, dcls, dpos);
  check_arg(op, "dy", dy, dy.device(), DType::f32);
  DeviceContext& ctx = context(dy.device());
  launch_elements("tokens_strip_kernel", dy.device(), dx.numel(), tokens_strip_kernel,
                  dy.data<float>(), d, dx.data<float>());
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
  launch_select(op, x, check_select_token_args(op, x, token, y), token, false, y);
}

void select_token_backward(const Tensor& dy, int64_t token, Tensor& dx) {
  constexpr const char* op = "select_token_backward";
  launch_select(op, dy, check_select_token_args(op, dx, token, dy), token, true, dx);
}

}  // namespace kasmina::ops::cuda
