#include "config/layer_schemas.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace kasmina::config_detail {

// The schemas of the layer types, each defined in its file in src/config/layers/.
LayerSchema linear_layer_schema();
LayerSchema relu_layer_schema();
LayerSchema gelu_layer_schema();
LayerSchema layernorm_layer_schema();
LayerSchema dropout_layer_schema();
LayerSchema kasmina_layer_schema();
LayerSchema residual_layer_schema();
LayerSchema conv2d_layer_schema();
LayerSchema batchnorm2d_layer_schema();
LayerSchema maxpool2d_layer_schema();
LayerSchema avgpool2d_layer_schema();
LayerSchema global_avgpool_layer_schema();
LayerSchema flatten_layer_schema();
LayerSchema patch_embed_layer_schema();
LayerSchema attention_layer_schema();
LayerSchema class_token_layer_schema();

const std::vector<LayerSchema>& layer_schemas() {
  // One line per layer type.
  static const std::vector<LayerSchema> schemas = {
      linear_layer_schema(),      relu_layer_schema(),        gelu_layer_schema(),
      dropout_layer_schema(),     layernorm_layer_schema(),   kasmina_layer_schema(),
      residual_layer_schema(),    conv2d_layer_schema(),      batchnorm2d_layer_schema(),
      maxpool2d_layer_schema(),   avgpool2d_layer_schema(),   global_avgpool_layer_schema(),
      flatten_layer_schema(),     patch_embed_layer_schema(), attention_layer_schema(),
      class_token_layer_schema(),
  };
  return schemas;
}

const LayerSchema& layer_schema(LayerType type) {
  for (const LayerSchema& s : layer_schemas())
    if (s.type == type) return s;
  throw InternalError(std::string("no config schema registered for layer type ") + to_string(type));
}

LayerParams default_layer_params(LayerType type) {
  const LayerSchema& schema = layer_schema(type);
  return schema.make_params ? schema.make_params() : LayerParams{};
}

void walk_layer_widths(const std::vector<LayerConfig>& layers, const YAML::Node& list_node,
                       const std::string& list_path, WidthWalk& walk, const ReadContext& ctx) {
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const LayerSchema& schema = layer_schema(layers[i].type);
    const YAML::Node node = locate(list_node, i);
    const std::string path = element_path(list_path, i);
    if (schema.reshape) {
      schema.reshape(layers[i], node, path, walk, ctx);
    } else if (schema.out_width) {
      walk.set(advance_rowwise(walk.shape(), schema.out_width(layers[i], node, path, walk, ctx)));
    } else {
      continue;
    }
    walk.largest = std::max(walk.largest, walk.rows * walk.width);
    if (schema.sets_width || schema.reshape) {
      walk.source =
          "the previous layer produces " +
          (walk.rows == 1 && !walk.image ? std::to_string(walk.width) : walk.shape().str());
    }
  }
}

std::vector<LayerRef> all_layers(const std::vector<LayerConfig>& layers,
                                 const YAML::Node& list_node, const std::string& list_path) {
  std::vector<LayerRef> out;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const YAML::Node node = locate(list_node, i);
    const std::string path = element_path(list_path, i);
    out.push_back(LayerRef{&layers[i], node, path});
    const LayerSchema& schema = layer_schema(layers[i].type);
    if (!schema.nested) continue;
    for (const auto& [key, list] : schema.nested(layers[i]))
      for (LayerRef& inner : all_layers(*list, locate(node, key), path + "." + key))
        out.push_back(std::move(inner));
  }
  return out;
}

}  // namespace kasmina::config_detail

namespace kasmina {

LayerConfig::LayerConfig() : LayerConfig(LayerType::linear) {}

LayerConfig::LayerConfig(LayerType t) : type(t), params(config_detail::default_layer_params(t)) {}

}  // namespace kasmina
