// CPU twins of the token plumbing: patchify (a permutation, index map shared with the kernels in
// patch_index.hpp), class token + position embedding, class-token selection. All exact except
// the position/class gradients, which are column sums over the batch accumulated in double.
#include <algorithm>

#include "ops/cpu/column_sums.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/transformer/patch_index.hpp"
#include "ops/transformer/transformer_checks.hpp"
#include "ops/transformer_ops.hpp"

namespace kasmina::ops::cpu {

namespace {

PatchGeom geom_of(const PatchDims& p) {
  return {p.height, p.width, p.channels, p.patch, p.grid_w, p.tokens, p.patch_len};
}

}  // namespace

void patchify_forward(const Tensor& img, int64_t patch, Tensor& patches) {
  constexpr const char* op = "patchify_forward";
  const PatchGeom g = geom_of(check_patchify_args(op, img, patch, patches));
  check_cpu_tensor(op, "img", img);
  dispatch_float(op, img.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* src = img.data<T>();
    T* dst = patches.data<T>();
    for (int64_t i = 0; i < patches.numel(); ++i) dst[i] = src[patch_source_index(g, i)];
  });
}

void patchify_backward(const Tensor& dpatches, int64_t patch, Tensor& dimg) {
  constexpr const char* op = "patchify_backward";
  const PatchGeom g = geom_of(check_patchify_args(op, dimg, patch, dpatches));
  check_cpu_tensor(op, "dpatches", dpatches);
  dispatch_float(op, dpatches.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* src = dpatches.data<T>();
    T* dst = dimg.data<T>();
    for (int64_t i = 0; i < dimg.numel(); ++i) dst[i] = src[patch_target_index(g, i)];
  });
}

void tokens_assemble_forward(const Tensor& x, const Tensor& cls, const Tensor& pos, Tensor& y) {
  constexpr const char* op = "tokens_assemble_forward";
  const TokenDims d = check_tokens_assemble_forward_args(x, cls, pos, y);
  check_cpu_tensor(op, "x", x);
  dispatch_float(op, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* px = x.data<T>();
    const T* pp = pos.data<T>();
    T* py = y.data<T>();
    const int64_t skip = d.cls ? 1 : 0;
    for (int64_t b = 0; b < d.batch; ++b) {
      for (int64_t t = 0; t < d.out_tokens; ++t) {
        const T* src = t < skip ? cls.data<T>() : px + (b * d.tokens + t - skip) * d.width;
        T* out = py + (b * d.out_tokens + t) * d.width;
        for (int64_t c = 0; c < d.width; ++c) out[c] = src[c] + pp[t * d.width + c];
      }
    }
  });
}

void tokens_assemble_backward(const Tensor& dy, Tensor& dx, Tensor* dcls, Tensor& dpos) {
  constexpr const char* op = "tokens_assemble_backward";
  const TokenDims d = check_tokens_assemble_backward_args(dy, dx, dcls, dpos);
  check_cpu_tensor(op, "dy", dy);
  dispatch_float(op, dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* g = dy.data<T>();
    T* out = dx.data<T>();
    const int64_t skip = d.cls ? 1 : 0;
    for (int64_t b = 0; b < d.batch; ++b) {
      const T* rows = g + (b * d.out_tokens + skip) * d.width;
      std::copy(rows, rows + d.tokens * d.width, out + b * d.tokens * d.width);
    }
    T* dp = dpos.data<T>();
    column_sums(g, d.batch, d.out_tokens * d.width, dp);
    if (dcls) std::copy(dp, dp + d.width, dcls->data<T>());
  });
}

void select_token_forward(const Tensor& x, int64_t token, Tensor& y) {
  constexpr const char* op = "select_token_forward";
  const SelectDims s = check_select_token_args(op, x, token, y);
  check_cpu_tensor(op, "x", x);
  dispatch_float(op, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    for (int64_t b = 0; b < s.batch; ++b) {
      const T* src = x.data<T>() + (b * s.tokens + token) * s.width;
      std::copy(src, src + s.width, y.data<T>() + b * s.width);
    }
  });
}

void select_token_backward(const Tensor& dy, int64_t token, Tensor& dx) {
  constexpr const char* op = "select_token_backward";
  const SelectDims s = check_select_token_args(op, dx, token, dy);
  check_cpu_tensor(op, "dy", dy);
  dispatch_float(op, dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* out = dx.data<T>();
    std::fill(out, out + dx.numel(), T(0));
    for (int64_t b = 0; b < s.batch; ++b) {
      const T* src = dy.data<T>() + b * s.width;
      std::copy(src, src + s.width, out + (b * s.tokens + token) * s.width);
    }
  });
}

}  // namespace kasmina::ops::cpu
