// CPU twins of the token plumbing: patchify (a permutation, index map shared with the kernels in
// patch_index.hpp), class token + position embedding, class-token selection. All exact except
// the position/class gradients, which are column sums over the batch accumulated in double.
#include <algorithm>
#include <cstring>

#include "ops/cpu/column_sums.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/transformer/patch_index.hpp"
#include "ops/transformer/transformer_checks.hpp"
#include "ops/transformer_ops.hpp"

namespace kasmina::ops::cpu {

namespace {

// dst[i] = src[map(g, i)] for every element of dst (both directions of patchify are gathers).
template <class Map>
void patch_gather(const char* op, const Tensor& src, const PatchDims& p, Map map, Tensor& dst) {
  check_cpu_tensor(op, "input", src);
  const PatchGeom g = p.geom;
  dispatch_float(op, src.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* in = src.data<T>();
    T* out = dst.data<T>();
    for (int64_t i = 0; i < dst.numel(); ++i) out[i] = in[map(g, i)];
  });
}

// Between seq [B,T,D] and row [B,D]: row[b] = seq[b, token] (to_row), or seq = 0 except
// seq[b, token] = row[b]. Copied as bytes (float32 or float64).
void copy_token_rows(const char* op, const Tensor& seq, const Tensor& row, int64_t token,
                     bool to_row) {
  const SelectDims s = check_select_token_args(op, seq, token, row);
  check_cpu_tensor(op, "tokens", seq);
  dispatch_float(op, seq.dtype(), [](auto) {});  // refuses other dtypes
  if (!to_row) std::memset(seq.raw(), 0, seq.nbytes());
  const auto bytes = static_cast<size_t>(s.width) * dtype_size(seq.dtype());
  auto* seq_bytes = static_cast<char*>(seq.raw());
  auto* row_bytes = static_cast<char*>(row.raw());
  for (int64_t b = 0; b < s.batch; ++b) {
    char* in_seq = seq_bytes + (b * s.tokens + token) * bytes;
    char* in_row = row_bytes + b * bytes;
    std::memcpy(to_row ? in_row : in_seq, to_row ? in_seq : in_row, bytes);
  }
}

}  // namespace

void patchify_forward(const Tensor& img, int64_t patch, Tensor& patches) {
  constexpr const char* op = "patchify_forward";
  const PatchDims p = check_patchify_args(op, img, patch, patches);
  patch_gather(op, img, p, patch_source_index, patches);
}

void patchify_backward(const Tensor& dpatches, int64_t patch, Tensor& dimg) {
  constexpr const char* op = "patchify_backward";
  patch_gather(op, dpatches, check_patchify_args(op, dimg, patch, dpatches), patch_target_index,
               dimg);
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
    column_sums(dy.data<T>(), d.batch, d.out_tokens * d.width, dpos.data<T>());
    if (dcls) std::copy_n(dpos.data<T>(), d.width, dcls->data<T>());
  });
  // dx: each sample's token rows without the class row, copied as bytes.
  const auto row = static_cast<size_t>(d.width) * dtype_size(dy.dtype());
  const auto* from = static_cast<const char*>(dy.raw()) + (d.cls ? row : 0);
  auto* to = static_cast<char*>(dx.raw());
  for (int64_t b = 0; b < d.batch; ++b) {
    std::memcpy(to + b * d.tokens * row, from + b * d.out_tokens * row, d.tokens * row);
  }
}

void select_token_forward(const Tensor& x, int64_t token, Tensor& y) {
  copy_token_rows("select_token_forward", x, y, token, true);
}

void select_token_backward(const Tensor& dy, int64_t token, Tensor& dx) {
  copy_token_rows("select_token_backward", dx, dy, token, false);
}

}  // namespace kasmina::ops::cpu
