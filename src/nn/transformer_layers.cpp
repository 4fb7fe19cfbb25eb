#include "nn/transformer_layers.hpp"

#include "config/layers/transformer.hpp"
#include "config/limits.hpp"
#include "core/env_switch.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "nn/flops.hpp"
#include "nn/layer_registry.hpp"
#include "ops/transformer_ops.hpp"

namespace kasmina {

// The config's limits are the attention kernel's.
static_assert(config_limits::kMaxAttentionTokens == ops::kAttentionMaxTokens);
static_assert(config_limits::kMaxAttentionHeadWidth == ops::kAttentionMaxHeadDim);

namespace {

ProcessSwitch bf16_attention_switch("KASMINA_BF16_ATTENTION", false);

// Samples in a batch of `rows` rows of `rows_per_sample` rows each.
int64_t samples_of(int64_t rows, int64_t rows_per_sample, const std::string& who) {
  KASMINA_CHECK(rows_per_sample > 0 && rows % rows_per_sample == 0,
                who + ": " + std::to_string(rows) + " rows are not whole samples of " +
                    std::to_string(rows_per_sample) + " rows");
  return rows / rows_per_sample;
}

}  // namespace

bool bf16_attention() {
  return bf16_attention_switch.on();
}

void set_bf16_attention(bool on) {
  bf16_attention_switch.set(on);
}

// ---- PatchEmbedLayer ----

PatchEmbedLayer::PatchEmbedLayer(std::string name, const SampleShape& in, int64_t patch,
                                 int64_t dim, bool class_token, DType dtype)
    : name_(std::move(name)),
      in_(in),
      patch_(patch),
      dim_(dim),
      class_token_(class_token),
      dtype_(dtype),
      proj_(name_, patch * patch * (in.image ? in.image->c : 0), dim, /*bias=*/true,
            ops::Activation::none, dtype) {
  KASMINA_CHECK(in_.pixel_rows() || in_.flat_image(),
                name_ + ": a patch embedding reads an image, not " + in_.str());
  image_ = *in_.image;
  KASMINA_CHECK(patch_ > 0 && image_.h % patch_ == 0 && image_.w % patch_ == 0,
                name_ + ": patches of " + std::to_string(patch_) + " do not tile " + in_.str());
  cls_.name = name_ + ".cls_token";
  pos_.name = name_ + ".pos_embed";
}

int64_t PatchEmbedLayer::patch_tokens() const {
  return (image_.h / patch_) * (image_.w / patch_);
}

int64_t PatchEmbedLayer::tokens() const {
  return patch_tokens() + (class_token_ ? 1 : 0);
}

SampleShape PatchEmbedLayer::out_shape(const SampleShape&) const {
  return SampleShape(tokens(), dim_);
}

std::string PatchEmbedLayer::describe() const {
  return "patch_embed " + std::to_string(image_.h) + "x" + std::to_string(image_.w) + "x" +
         std::to_string(image_.c) + " / " + std::to_string(patch_) + "x" + std::to_string(patch_) +
         " -> " + std::to_string(tokens()) + " tokens of " + std::to_string(dim_) +
         (class_token_ ? " (class token)" : "");
}

std::vector<Parameter*> PatchEmbedLayer::parameters() {
  std::vector<Parameter*> ps = proj_.parameters();
  if (class_token_) ps.push_back(&cls_);
  ps.push_back(&pos_);
  return ps;
}

double PatchEmbedLayer::train_flops(int64_t rows, bool input_grad) const {
  const int64_t batch = samples_of(rows, in_rows(), name_);
  const double assembled = static_cast<double>(batch * tokens() * dim_);
  return proj_.train_flops(batch * patch_tokens(), input_grad) + 2.0 * assembled;
}

void PatchEmbedLayer::initialize(InitScheme scheme, Rng& rng, Device dev) {
  proj_.initialize(scheme, rng, dev);
  std::vector<double> pos(static_cast<size_t>(tokens() * dim_));
  for (double& v : pos) v = static_cast<float>(0.02 * rng.normal());
  pos_.value = tensor_from_doubles(pos, {tokens(), dim_}, dtype_, dev);
  pos_.grad = Tensor::zeros({tokens(), dim_}, dtype_, dev);
  if (class_token_) {
    cls_.value = Tensor::zeros({dim_}, dtype_, dev);
    cls_.grad = Tensor::zeros({dim_}, dtype_, dev);
  }
}

void PatchEmbedLayer::prepare(int64_t max_rows, Device dev) {
  const int64_t max_batch = samples_of(max_rows, in_rows(), name_);
  const int64_t patch_rows = max_batch * patch_tokens();
  proj_.prepare(patch_rows, dev);
  patches_ = Tensor::empty({patch_rows, patch_ * patch_ * image_.c}, dtype_, dev);
  dpatches_ = Tensor::empty({patch_rows, patch_ * patch_ * image_.c}, dtype_, dev);
  demb_ = Tensor::empty({patch_rows, dim_}, dtype_, dev);
  y_ = Tensor::empty({max_batch * tokens(), dim_}, dtype_, dev);
}

Tensor PatchEmbedLayer::forward(const Tensor& x, Mode mode, const StepContext& ctx) {
  const int64_t B = samples_of(x.dim(0), in_rows(), name_);
  const int64_t T = patch_tokens(), pdim = patch_ * patch_ * image_.c;
  Tensor patches = patches_.rows(0, B * T);
  Tensor patches3 = patches.view({B, T, pdim});
  ops::patchify_forward(x.view({B, image_.h, image_.w, image_.c}), patch_, patches3);
  const Tensor emb = proj_.forward(patches, mode, ctx);
  Tensor y = y_.rows(0, B * tokens());
  Tensor y3 = y.view({B, tokens(), dim_});
  ops::tokens_assemble_forward(emb.view({B, T, dim_}), class_token_ ? cls_.value : Tensor(),
                               pos_.value, y3);
  return y;
}

void PatchEmbedLayer::backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) {
  const int64_t B = samples_of(dy.dim(0), tokens(), name_);
  const int64_t T = patch_tokens(), pdim = patch_ * patch_ * image_.c;
  Tensor demb = demb_.rows(0, B * T);
  Tensor demb3 = demb.view({B, T, dim_});
  ops::tokens_assemble_backward(dy.view({B, tokens(), dim_}), demb3,
                                class_token_ ? &cls_.grad : nullptr, pos_.grad);
  if (!dx) {
    proj_.backward(demb, nullptr, ctx);
    return;
  }
  Tensor dpatches = dpatches_.rows(0, B * T);
  proj_.backward(demb, &dpatches, ctx);
  Tensor dimg = dx->view({B, image_.h, image_.w, image_.c});
  ops::patchify_backward(dpatches.view({B, T, pdim}), patch_, dimg);
}

// ---- AttentionLayer ----

AttentionLayer::AttentionLayer(std::string name, int64_t tokens, int64_t dim, int64_t heads,
                               bool bias, DType dtype)
    : name_(std::move(name)),
      tokens_(tokens),
      dim_(dim),
      heads_(heads),
      dtype_(dtype),
      qkv_(name_ + ".qkv", dim, 3 * dim, bias, ops::Activation::none, dtype),
      proj_(name_ + ".proj", dim, dim, bias, ops::Activation::none, dtype) {
  KASMINA_CHECK(heads_ > 0 && dim_ % heads_ == 0 && dim_ / heads_ <= ops::kAttentionMaxHeadDim,
                name_ + ": a width of " + std::to_string(dim_) + " does not divide into " +
                    std::to_string(heads_) + " heads of at most " +
                    std::to_string(ops::kAttentionMaxHeadDim));
  KASMINA_CHECK(tokens_ >= 1 && tokens_ <= ops::kAttentionMaxTokens,
                name_ + ": attention over " + std::to_string(tokens_) + " tokens (at most " +
                    std::to_string(ops::kAttentionMaxTokens) + ")");
}

std::string AttentionLayer::describe() const {
  return "attention " + std::to_string(dim_) + " (" + std::to_string(heads_) + " heads of " +
         std::to_string(dim_ / heads_) + ", " + std::to_string(tokens_) + " tokens)";
}

std::vector<Parameter*> AttentionLayer::parameters() {
  std::vector<Parameter*> ps = qkv_.parameters();
  for (Parameter* p : proj_.parameters()) ps.push_back(p);
  return ps;
}

double AttentionLayer::train_flops(int64_t rows, bool input_grad) const {
  const int64_t batch = samples_of(rows, in_rows(), name_);
  const double pairs = static_cast<double>(batch * heads_) * static_cast<double>(in_rows()) *
                       static_cast<double>(in_rows());  // B·heads·T²
  const double dh = static_cast<double>(dim_ / heads_);
  const double attention = pairs * (4.0 * dh + 5.0) + pairs * (10.0 * dh + 5.0);
  return qkv_.train_flops(rows, input_grad) + attention + proj_.train_flops(rows, true);
}

void AttentionLayer::initialize(InitScheme scheme, Rng& rng, Device dev) {
  qkv_.initialize(scheme, rng, dev);
  proj_.initialize(scheme, rng, dev);
}

void AttentionLayer::prepare(int64_t max_rows, Device dev) {
  const int64_t max_batch = samples_of(max_rows, in_rows(), name_);
  // bf16 attention: the qkv projection stores bf16 (effective only when its GEMMs read bf16), and
  // then so do the attention's output and the gradients w.r.t. both; lse stays float32.
  qkv_.set_bf16_output(bf16_attention());
  qkv_.prepare(max_rows, dev);
  proj_.prepare(max_rows, dev);
  const DType act = qkv_.bf16_output() ? DType::bf16 : dtype_;
  att_ = Tensor::empty({max_rows, dim_}, act, dev);
  datt_ = Tensor::empty({max_rows, dim_}, act, dev);
  dqkv_ = Tensor::empty({max_rows, 3 * dim_}, act, dev);
  lse_ = Tensor::empty({max_batch * heads_ * in_rows()}, dtype_, dev);
}

Tensor AttentionLayer::forward(const Tensor& x, Mode mode, const StepContext& ctx) {
  const int64_t T = in_rows(), B = samples_of(x.dim(0), T, name_);
  qkv_batch_ = qkv_.forward(x, mode, ctx).view({B, T, 3 * dim_});
  lse_batch_ = lse_.rows(0, B * heads_ * T).view({B, heads_, T});
  Tensor att = att_.rows(0, B * T);
  Tensor att3 = att.view({B, T, dim_});
  ops::attention_forward(qkv_batch_, heads_, att3, lse_batch_);
  return proj_.forward(att, mode, ctx);
}

void AttentionLayer::backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) {
  const int64_t T = in_rows(), B = samples_of(dy.dim(0), T, name_);
  Tensor datt = datt_.rows(0, B * T);
  proj_.backward(dy, &datt, ctx);
  Tensor dqkv = dqkv_.rows(0, B * T);
  Tensor dqkv3 = dqkv.view({B, T, 3 * dim_});
  ops::attention_backward(datt.view({B, T, dim_}), qkv_batch_, lse_batch_, heads_, dqkv3);
  qkv_.backward(dqkv, dx, ctx);
}

// ---- ClassTokenLayer ----

std::string ClassTokenLayer::describe() const {
  return "class_token (" + std::to_string(width_) + ")";
}

double ClassTokenLayer::train_flops(int64_t, bool) const {
  return 0.0;
}

void ClassTokenLayer::prepare(int64_t max_rows, Device dev) {
  y_ = Tensor::empty({samples_of(max_rows, in_rows(), "class_token"), width_}, dtype_, dev);
}

Tensor ClassTokenLayer::forward(const Tensor& x, Mode, const StepContext&) {
  const int64_t T = in_rows(), B = samples_of(x.dim(0), T, "class_token");
  Tensor y = y_.rows(0, B);
  ops::select_token_forward(x.view({B, T, width_}), 0, y);
  return y;
}

void ClassTokenLayer::backward(const Tensor& dy, Tensor* dx, const StepContext&) {
  if (!dx) return;
  const int64_t B = dy.dim(0);
  Tensor dx3 = dx->view({B, in_rows(), width_});
  ops::select_token_backward(dy, 0, dx3);
}

// ---- builders ----

std::unique_ptr<Layer> build_patch_embed_layer(const LayerConfig& cfg, LayerBuildContext& ctx) {
  const PatchEmbedConfig& p = cfg.as<PatchEmbedConfig>();
  auto layer = std::make_unique<PatchEmbedLayer>(ctx.name, ctx.shape, p.patch, p.dim, p.class_token,
                                                 ctx.dtype);
  Rng rng(derive_seed(ctx.seed, "init.patch_embed", ctx.position));
  layer->initialize(parse_init_scheme(ctx.init), rng, ctx.dev);
  return layer;
}

std::unique_ptr<Layer> build_attention_layer(const LayerConfig& cfg, LayerBuildContext& ctx) {
  const AttentionConfig& a = cfg.as<AttentionConfig>();
  auto layer = std::make_unique<AttentionLayer>(ctx.name, ctx.shape.rows, ctx.shape.width, a.heads,
                                                a.bias, ctx.dtype);
  Rng rng(derive_seed(ctx.seed, "init.attention", ctx.position));
  layer->initialize(parse_init_scheme(ctx.init), rng, ctx.dev);
  return layer;
}

std::unique_ptr<Layer> build_class_token_layer(const LayerConfig&, LayerBuildContext& ctx) {
  return std::make_unique<ClassTokenLayer>(ctx.shape.width, ctx.dtype);
}

}  // namespace kasmina
