#include "nn/layer_registry.hpp"

#include <array>
#include <utility>

#include "core/error.hpp"
#include "nn/conv_layers.hpp"
#include "nn/linear.hpp"
#include "nn/morph_from_config.hpp"
#include "nn/residual_block.hpp"
#include "nn/simple_layers.hpp"
#include "nn/transformer_layers.hpp"

namespace kasmina {

namespace {

// One line per layer type, keyed by the YAML `type` name.
constexpr std::array<std::pair<std::string_view, LayerBuilder>, 16> kBuilders{{
    {"linear", build_linear_layer},
    {"relu", build_activation_layer},
    {"gelu", build_activation_layer},
    {"layernorm", build_layernorm_layer},
    {"dropout", build_dropout_layer},
    {"kasmina", morph::build_kasmina_layer},
    {"residual", build_residual_block},
    {"conv2d", build_conv2d_layer},
    {"batchnorm2d", build_batchnorm_layer},
    {"maxpool2d", build_pool2d_layer},
    {"avgpool2d", build_pool2d_layer},
    {"global_avgpool", build_global_avgpool_layer},
    {"flatten", build_flatten_layer},
    {"patch_embed", build_patch_embed_layer},
    {"attention", build_attention_layer},
    {"class_token", build_class_token_layer},
}};

}  // namespace

LayerBuilder find_layer_builder(std::string_view type) {
  for (const auto& [name, builder] : kBuilders)
    if (name == type) return builder;
  return nullptr;
}

std::vector<std::string> layer_builder_names() {
  std::vector<std::string> out;
  for (const auto& entry : kBuilders) out.emplace_back(entry.first);
  return out;
}

std::vector<std::unique_ptr<Layer>> build_layers(const std::vector<LayerConfig>& configs,
                                                 LayerBuildContext& ctx) {
  std::vector<std::unique_ptr<Layer>> layers;
  const std::string prefix = ctx.prefix;
  for (size_t i = 0; i < configs.size(); ++i) {
    const std::string type = to_string(configs[i].type);
    const LayerBuilder builder = find_layer_builder(type);
    KASMINA_CHECK(builder != nullptr, "no layer builder registered for type '" + type + "'");
    ctx.name = prefix + "." + std::to_string(i);
    ctx.position = ctx.next_position++;
    const SampleShape in = ctx.shape;
    std::unique_ptr<Layer> layer = builder(configs[i], ctx);
    layer->set_in_rows(in.rows);
    ctx.prefix = prefix;
    ctx.shape = layer->out_shape(in);
    if (!layers.empty() && layers.back()->absorb_next(*layer)) continue;
    layers.push_back(std::move(layer));
  }
  return layers;
}

}  // namespace kasmina
