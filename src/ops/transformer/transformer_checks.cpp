// Shape and limit checks of the transformer and augmentation ops, shared by both twins.
#include "ops/transformer/transformer_checks.hpp"

#include <string>

#include "core/error.hpp"
#include "ops/transformer_ops.hpp"

namespace kasmina::ops {

namespace {

std::string num(int64_t v) {
  return std::to_string(v);
}

void check_shape(const char* op, const char* name, const Tensor& t, const Shape& want) {
  KASMINA_CHECK(t.shape() == want, std::string(op) + ": " + name + " has shape " +
                                       shape_str(t.shape()) + ", expected " + shape_str(want));
}

void check_rank(const char* op, const char* name, const Tensor& t, int rank, const char* layout) {
  KASMINA_CHECK(t.ndim() == rank, std::string(op) + ": " + name + " must be " + layout +
                                      ", got shape " + shape_str(t.shape()));
}

AttentionDims attention_dims(const char* op, const Tensor& qkv, int64_t heads) {
  check_rank(op, "qkv", qkv, 3, "[B, T, 3D]");
  AttentionDims a;
  a.batch = qkv.dim(0);
  a.tokens = qkv.dim(1);
  KASMINA_CHECK(qkv.dim(2) % 3 == 0 && qkv.dim(2) > 0,
                std::string(op) + ": qkv's last dimension " + num(qkv.dim(2)) +
                    " is not 3D (q, k and v of width D per token)");
  a.width = qkv.dim(2) / 3;
  KASMINA_CHECK(
      heads >= 1 && a.width % heads == 0,
      std::string(op) + ": " + num(heads) + " heads do not divide the width " + num(a.width));
  a.heads = heads;
  a.head_dim = a.width / heads;
  KASMINA_CHECK(a.tokens >= 1 && a.tokens <= kAttentionMaxTokens,
                std::string(op) + ": " + num(a.tokens) + " tokens (allowed: 1 to " +
                    num(kAttentionMaxTokens) + ", kAttentionMaxTokens)");
  KASMINA_CHECK(a.head_dim <= kAttentionMaxHeadDim,
                std::string(op) + ": head dimension " + num(a.head_dim) + " (allowed: at most " +
                    num(kAttentionMaxHeadDim) + ", kAttentionMaxHeadDim)");
  return a;
}

// lse beside the activations: float32 when they are bf16 (the softmax statistics stay float32),
// else their dtype; on their device.
void check_lse_kind(const char* op, const Tensor& acts, const Tensor& lse) {
  KASMINA_CHECK(lse.defined(), std::string(op) + ": lse is undefined");
  const DType want = acts.dtype() == DType::bf16 ? DType::f32 : acts.dtype();
  KASMINA_CHECK(lse.dtype() == want, std::string(op) + ": lse is " + dtype_name(lse.dtype()) +
                                         ", expected " + dtype_name(want) + " beside " +
                                         dtype_name(acts.dtype()) + " activations");
  KASMINA_CHECK(
      lse.device() == acts.device(),
      std::string(op) + ": lse is on " + lse.device().str() + ", expected " + acts.device().str());
}

}  // namespace

void check_same_kind(const char* op, std::initializer_list<NamedTensor> tensors) {
  const Tensor* first = nullptr;
  for (const auto& [name, t] : tensors) {
    KASMINA_CHECK(t->defined(), std::string(op) + ": " + name + " is undefined");
    if (!first) {
      first = t;
      continue;
    }
    KASMINA_CHECK(t->dtype() == first->dtype(), std::string(op) + ": " + name + " is " +
                                                    dtype_name(t->dtype()) + ", expected " +
                                                    dtype_name(first->dtype()));
    KASMINA_CHECK(t->device() == first->device(), std::string(op) + ": " + name + " is on " +
                                                      t->device().str() + ", expected " +
                                                      first->device().str());
  }
}

AttentionDims check_attention_forward_args(const Tensor& qkv, int64_t heads, const Tensor& out,
                                           const Tensor& lse) {
  constexpr const char* op = "attention_forward";
  check_same_kind(op, {{"qkv", &qkv}, {"out", &out}});
  check_lse_kind(op, qkv, lse);
  const AttentionDims a = attention_dims(op, qkv, heads);
  check_shape(op, "out", out, {a.batch, a.tokens, a.width});
  check_shape(op, "lse", lse, {a.batch, a.heads, a.tokens});
  return a;
}

AttentionDims check_attention_backward_args(const Tensor& dout, const Tensor& qkv,
                                            const Tensor& lse, int64_t heads, const Tensor& dqkv) {
  constexpr const char* op = "attention_backward";
  check_same_kind(op, {{"dout", &dout}, {"qkv", &qkv}, {"dqkv", &dqkv}});
  check_lse_kind(op, qkv, lse);
  const AttentionDims a = attention_dims(op, qkv, heads);
  check_shape(op, "dout", dout, {a.batch, a.tokens, a.width});
  check_shape(op, "lse", lse, {a.batch, a.heads, a.tokens});
  check_shape(op, "dqkv", dqkv, qkv.shape());
  return a;
}

PatchDims check_patchify_args(const char* op, const Tensor& img, int64_t patch,
                              const Tensor& patches) {
  check_same_kind(op, {{"img", &img}, {"patches", &patches}});
  check_rank(op, "img", img, 4, "[B, H, W, C] (NHWC)");
  const int64_t height = img.dim(1), width = img.dim(2), channels = img.dim(3);
  KASMINA_CHECK(patch >= 1 && height % patch == 0 && width % patch == 0,
                std::string(op) + ": patches of " + num(patch) + "x" + num(patch) +
                    " do not tile an image of " + num(height) + "x" + num(width) +
                    " (the patch size must divide the height and the width)");
  const int64_t grid_w = width / patch;
  const PatchDims p{img.dim(0), PatchGeom{height, width, channels, patch, grid_w,
                                          (height / patch) * grid_w, patch * patch * channels}};
  check_shape(op, "patches", patches, {p.batch, p.geom.tokens, p.geom.patch_len});
  return p;
}

TokenDims check_tokens_assemble_forward_args(const Tensor& x, const Tensor& cls, const Tensor& pos,
                                             const Tensor& y) {
  constexpr const char* op = "tokens_assemble_forward";
  check_same_kind(op, {{"x", &x}, {"pos", &pos}, {"y", &y}});
  check_rank(op, "x", x, 3, "[B, T, D]");
  TokenDims d{x.dim(0), x.dim(1), x.dim(1), x.dim(2), cls.defined()};
  if (d.cls) {
    check_same_kind(op, {{"x", &x}, {"cls", &cls}});
    check_shape(op, "cls", cls, {d.width});
    d.out_tokens = d.tokens + 1;
  }
  check_shape(op, "pos", pos, {d.out_tokens, d.width});
  check_shape(op, "y", y, {d.batch, d.out_tokens, d.width});
  return d;
}

TokenDims check_tokens_assemble_backward_args(const Tensor& dy, const Tensor& dx,
                                              const Tensor* dcls, const Tensor& dpos) {
  constexpr const char* op = "tokens_assemble_backward";
  check_same_kind(op, {{"dy", &dy}, {"dx", &dx}, {"dpos", &dpos}});
  check_rank(op, "dy", dy, 3, "[B, T', D]");
  TokenDims d{dy.dim(0), dy.dim(1), dy.dim(1), dy.dim(2), dcls != nullptr};
  if (d.cls) {
    check_same_kind(op, {{"dy", &dy}, {"dcls", dcls}});
    check_shape(op, "dcls", *dcls, {d.width});
    KASMINA_CHECK(d.out_tokens >= 1, std::string(op) + ": dy has no class token row");
    d.tokens = d.out_tokens - 1;
  }
  check_shape(op, "dx", dx, {d.batch, d.tokens, d.width});
  check_shape(op, "dpos", dpos, {d.out_tokens, d.width});
  return d;
}

SelectDims check_select_token_args(const char* op, const Tensor& seq, int64_t token,
                                   const Tensor& row) {
  check_same_kind(op, {{"tokens", &seq}, {"row", &row}});
  check_rank(op, "tokens", seq, 3, "[B, T, D]");
  const SelectDims s{seq.dim(0), seq.dim(1), seq.dim(2)};
  KASMINA_CHECK(token >= 0 && token < s.tokens,
                std::string(op) + ": token " + num(token) + " outside [0, " + num(s.tokens) + ")");
  check_shape(op, "row", row, {s.batch, s.width});
  return s;
}

AugmentDims check_augment_args(const Tensor& x, int64_t pad, const Tensor& step,
                               int64_t sample_offset, const Tensor& y) {
  constexpr const char* op = "augment_crop_flip";
  check_same_kind(op, {{"x", &x}, {"y", &y}});
  check_rank(op, "x", x, 4, "[B, H, W, C] (NHWC)");
  check_shape(op, "y", y, x.shape());
  KASMINA_CHECK(step.defined() && step.dtype() == DType::i64 && step.shape() == Shape{1} &&
                    step.device() == x.device(),
                std::string(op) + ": step must be i64[1] on " + x.device().str());
  KASMINA_CHECK(pad >= 0, std::string(op) + ": padding " + num(pad) + " is negative");
  KASMINA_CHECK(sample_offset >= 0,
                std::string(op) + ": sample offset " + num(sample_offset) + " is negative");
  const auto* xb = static_cast<const char*>(x.raw());
  const auto* yb = static_cast<const char*>(y.raw());
  KASMINA_CHECK(x.numel() == 0 || yb + y.nbytes() <= xb || xb + x.nbytes() <= yb,
                std::string(op) + ": y overlaps x (the crop reads other pixels than it writes)");
  return {x.dim(0), x.dim(1), x.dim(2), x.dim(3)};
}

}  // namespace kasmina::ops
