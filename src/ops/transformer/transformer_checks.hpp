// Argument checks shared by the CPU twins and the CUDA launchers of the transformer and
// augmentation ops (transformer_ops.hpp, augment_ops.hpp): shapes, limits, and that every tensor
// of a call is defined and shares the first tensor's dtype and device. Each twin adds its own
// dtype rule (CPU: float32 or float64; CUDA: float32). Violations are InternalErrors naming the
// op, the argument and what is allowed.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <utility>

#include "core/tensor.hpp"
#include "ops/transformer/patch_index.hpp"

namespace kasmina::ops {

// Named tensors of one call: all defined, same dtype and device as the first.
using NamedTensor = std::pair<const char*, const Tensor*>;
void check_same_kind(const char* op, std::initializer_list<NamedTensor> tensors);

struct AttentionDims {
  int64_t batch = 0, tokens = 0, width = 0, heads = 0, head_dim = 0;
};
AttentionDims check_attention_forward_args(const Tensor& qkv, int64_t heads, const Tensor& out,
                                           const Tensor& lse);
AttentionDims check_attention_backward_args(const Tensor& dout, const Tensor& qkv,
                                            const Tensor& lse, int64_t heads, const Tensor& dqkv);

struct PatchDims {
  int64_t batch = 0;
  PatchGeom geom{};  // H, W, C, p, W/p, T = (H/p)(W/p), p·p·C
};
// img [B,H,W,C] and patches [B,T,p·p·C]; p divides H and W.
PatchDims check_patchify_args(const char* op, const Tensor& img, int64_t patch,
                              const Tensor& patches);

struct TokenDims {
  int64_t batch = 0, tokens = 0, out_tokens = 0, width = 0;
  bool cls = false;
};
TokenDims check_tokens_assemble_forward_args(const Tensor& x, const Tensor& cls, const Tensor& pos,
                                             const Tensor& y);
TokenDims check_tokens_assemble_backward_args(const Tensor& dy, const Tensor& dx,
                                              const Tensor* dcls, const Tensor& dpos);

struct SelectDims {
  int64_t batch = 0, tokens = 0, width = 0;
};
// seq [B,T,D], row [B,D], 0 <= token < T.
SelectDims check_select_token_args(const char* op, const Tensor& seq, int64_t token,
                                   const Tensor& row);

struct AugmentDims {
  int64_t batch = 0, height = 0, width = 0, channels = 0;
};
// x, y [B,H,W,C], distinct storage; step i64[1] on x's device; pad, sample_offset >= 0.
AugmentDims check_augment_args(const Tensor& x, int64_t pad, const Tensor& step,
                               int64_t sample_offset, const Tensor& y);

}  // namespace kasmina::ops
