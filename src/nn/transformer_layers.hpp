// The transformer layers of the host network (a ViT): the patch embedding, multi-head
// self-attention and class-token pooling. A sample is T tokens of D features, so a batch flows
// as [B * T, D] (core/sample_shape.hpp); the layers view it as [B, T, D] for the transformer ops
// (ops/transformer_ops.hpp) and reuse LinearLayer for their projections (its initialisation,
// GEMMs and parameter gradients), so layernorm, the MLP's linear layers, gelu and kasmina layers
// between them work per token unchanged.
#pragma once
#include <memory>
#include <string>

#include "config/config.hpp"
#include "nn/layer.hpp"
#include "nn/linear.hpp"

namespace kasmina {

struct LayerBuildContext;

// `type: patch_embed`: an image [H, W, C] (NHWC; one flattened row or its pixels as rows) cut
// into p x p patches in row-major order, each projected by a linear layer p·p·C -> D (its weight
// laid out [D][p][p][C], a convolution with kernel = stride = p), then an optional learned class
// token prepended and a learned position embedding added: T' = (H/p)(W/p) (+1) rows of D.
// Parameters "<name>.weight", "<name>.bias", "<name>.cls_token" [D] (when class_token),
// "<name>.pos_embed" [T', D].
class PatchEmbedLayer final : public Layer {
 public:
  PatchEmbedLayer(std::string name, const SampleShape& in, int64_t patch, int64_t dim,
                  bool class_token, DType dtype = DType::f32);

  std::string type() const override { return "patch_embed"; }
  std::string describe() const override;
  int64_t in_width() const override { return in_.width; }
  int64_t out_width() const override { return dim_; }
  SampleShape out_shape(const SampleShape& in) const override;
  std::vector<Parameter*> parameters() override;
  // The projection from `scheme` (as a linear layer p·p·C -> D), the class token zeros and the
  // position embedding N(0, 0.02²), all drawn from `rng` in that order.
  void initialize(InitScheme scheme, Rng& rng, Device dev);
  void prepare(int64_t max_rows, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;
  // The projection's GEMMs on B·T patch rows (LinearLayer::train_flops, its input gradient only
  // with `input_grad`), the class token and position embedding additions forward (B T' D) and
  // the position (and class token) gradient sums backward (B T' D). Patchify and its backward
  // move data only (0).
  double train_flops(int64_t rows, bool input_grad) const override;

 private:
  int64_t patch_tokens() const;  // (H/p)(W/p)
  int64_t tokens() const;        // patch_tokens() (+1 with the class token)

  std::string name_;
  SampleShape in_;
  ImageShape image_;
  int64_t patch_, dim_;
  bool class_token_;
  DType dtype_;
  LinearLayer proj_;
  Parameter cls_, pos_;
  Tensor patches_, y_, demb_, dpatches_;  // buffers for the largest batch
};

// bf16 attention (docs/PRECISION.md, "Attention"): under `train.precision: bf16` an attention
// layer's qkv projection writes bf16, the attention kernels read it and write bf16 (scores,
// softmax and lse in float32), the output projection reads that without a cast, and the gradients
// between them are bf16 the same way. Off by default: measured slower on an H100 (the ViT step
// 1359 against 1273 us; bench/RESULTS.md, nineteenth session);
// KASMINA_BF16_ATTENTION=1 in the environment (read when first asked) or set_bf16_attention(true)
// switches it on. Read by AttentionLayer::prepare.
bool bf16_attention();
void set_bf16_attention(bool on);

// `type: attention`: multi-head self-attention over a sample's T rows of D features: one linear
// layer D -> 3D gives every token's [q | k | v] (each [heads][D/heads]), the fused attention op
// softmax(Q Kᵀ / sqrt(D/heads)) V per head, and an output projection D -> D. Parameters
// "<name>.qkv.weight" [3D, D], "<name>.qkv.bias", "<name>.proj.weight" [D, D], "<name>.proj.bias"
// (PyTorch's MultiheadAttention in_proj and out_proj).
class AttentionLayer final : public Layer {
 public:
  AttentionLayer(std::string name, int64_t tokens, int64_t dim, int64_t heads, bool bias,
                 DType dtype = DType::f32);

  std::string type() const override { return "attention"; }
  std::string describe() const override;
  std::vector<Parameter*> parameters() override;
  // Both projections from `scheme` (as linear layers), qkv first, drawn from `rng`.
  void initialize(InitScheme scheme, Rng& rng, Device dev);
  int64_t in_width() const override { return dim_; }
  int64_t out_width() const override { return dim_; }
  void prepare(int64_t max_rows, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;
  // The two projections' GEMMs on B·T rows (LinearLayer::train_flops; the qkv projection's input
  // gradient only with `input_grad`) plus the attention per (sample, head): forward Q Kᵀ and P V
  // (4 T² dh) and the softmax (5 T²: scale, max-subtract, exp, sum, divide); backward S
  // recomputed, dP, dQ, dK, dV (10 T² dh) and P recomputed with dS = P (dP - D) (5 T²). The
  // attention backward runs whether or not the input gradient is asked for (the qkv weights
  // need it).
  double train_flops(int64_t rows, bool input_grad) const override;

 private:
  std::string name_;
  int64_t tokens_, dim_, heads_;
  DType dtype_;
  LinearLayer qkv_, proj_;
  Tensor att_, lse_, datt_, dqkv_;  // buffers for the largest batch (bf16 with bf16 attention)
  Tensor qkv_batch_, lse_batch_;    // the last forward's (views)
};

// `type: class_token`: a sample's first row (a transformer's class token): T rows of D -> one
// row of D. The backward writes the gradient into row 0 and zeros into the others.
class ClassTokenLayer final : public Layer {
 public:
  ClassTokenLayer(int64_t width, DType dtype = DType::f32) : width_(width), dtype_(dtype) {}

  std::string type() const override { return "class_token"; }
  std::string describe() const override;
  // Selecting and scattering a row move data only: 0.
  double train_flops(int64_t rows, bool input_grad) const override;
  SampleShape out_shape(const SampleShape& in) const override { return SampleShape(in.width); }
  int64_t in_width() const override { return width_; }
  int64_t out_width() const override { return width_; }
  void prepare(int64_t max_rows, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;

 private:
  const int64_t width_;
  const DType dtype_;
  Tensor y_;
};

// The registry's builders for `type: patch_embed`, `attention` and `class_token` (parameters
// initialised from the run seed and the entry's position).
std::unique_ptr<Layer> build_patch_embed_layer(const LayerConfig& cfg, LayerBuildContext& ctx);
std::unique_ptr<Layer> build_attention_layer(const LayerConfig& cfg, LayerBuildContext& ctx);
std::unique_ptr<Layer> build_class_token_layer(const LayerConfig& cfg, LayerBuildContext& ctx);

}  // namespace kasmina
