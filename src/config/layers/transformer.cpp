// `type: patch_embed` (patch, dim (required), class_token): an image cut into patch x patch
// tiles, each projected to `dim` features, plus a learned position embedding and an optional
// class token -> one row per token. `type: attention` (heads, bias): multi-head self-attention
// over a sample's rows (its tokens), with its input and output projections; keeps the shape.
#include "config/layers/transformer.hpp"

#include "config/layers/image_input.hpp"
#include "config/limits.hpp"
#include "config/rules.hpp"

namespace kasmina::config_detail {

LayerSchema patch_embed_layer_schema() {
  LayerSchema s;
  s.type = LayerType::patch_embed;
  s.make_params = [] { return LayerParams::of(PatchEmbedConfig{}); };
  s.fields = [] {
    return layer_fields<PatchEmbedConfig>({
        value("patch", &PatchEmbedConfig::patch, in_range(1, 64)),
        value("dim", &PatchEmbedConfig::dim, bounded(1, config_limits::kMaxWidth)),
        value("class_token", &PatchEmbedConfig::class_token),
    });
  };
  s.check = [](LayerConfig& entry, const YAML::Node& node, const ReadContext& ctx,
               const std::string& path) {
    if (entry.as<PatchEmbedConfig>().dim == 0)
      ctx.fail(node, path, "a patch_embed layer needs 'dim' (the width of its tokens, >= 1)");
  };
  s.reshape = [](const LayerConfig& entry, const YAML::Node& node, const std::string& path,
                 WidthWalk& walk, const ReadContext& ctx) {
    const PatchEmbedConfig& p = entry.as<PatchEmbedConfig>();
    const ImageShape in = require_image(walk, node, path, ctx, "patch_embed");
    if (in.h % p.patch != 0 || in.w % p.patch != 0) {
      ctx.fail(locate(node, "patch"), path + ".patch",
               "is " + std::to_string(p.patch) + ", but patches of " + std::to_string(p.patch) +
                   "x" + std::to_string(p.patch) + " do not tile the " + std::to_string(in.h) +
                   "x" + std::to_string(in.w) + " image it receives");
    }
    const int64_t tokens = (in.h / p.patch) * (in.w / p.patch) + (p.class_token ? 1 : 0);
    if (tokens > config_limits::kMaxAttentionTokens) {
      ctx.fail(locate(node, "patch"), path + ".patch",
               "is " + std::to_string(p.patch) + ", which makes " + std::to_string(tokens) +
                   " tokens (at most " + std::to_string(config_limits::kMaxAttentionTokens) + ")");
    }
    walk.set(SampleShape(tokens, p.dim));
  };
  return s;
}

LayerSchema attention_layer_schema() {
  LayerSchema s;
  s.type = LayerType::attention;
  s.make_params = [] { return LayerParams::of(AttentionConfig{}); };
  s.fields = [] {
    return layer_fields<AttentionConfig>({
        value("heads", &AttentionConfig::heads, in_range(1, 64)),
        value("bias", &AttentionConfig::bias),
    });
  };
  s.out_width = [](const LayerConfig& entry, const YAML::Node& node, const std::string& path,
                   const WidthWalk& walk, const ReadContext& ctx) {
    const AttentionConfig& a = entry.as<AttentionConfig>();
    if (walk.width % a.heads != 0 || walk.width / a.heads > config_limits::kMaxAttentionHeadWidth) {
      ctx.fail(locate(node, "heads"), path + ".heads",
               "is " + std::to_string(a.heads) + ", but " + walk.source +
                   ": the width must divide into heads of at most " +
                   std::to_string(config_limits::kMaxAttentionHeadWidth) + " features");
    }
    if (walk.rows > config_limits::kMaxAttentionTokens) {
      ctx.fail(node, path,
               "attends over " + std::to_string(walk.rows) + " rows per sample (at most " +
                   std::to_string(config_limits::kMaxAttentionTokens) + ")");
    }
    return walk.width;
  };
  return s;
}

}  // namespace kasmina::config_detail
