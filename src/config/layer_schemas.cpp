#include "config/layer_schemas.hpp"

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

const std::vector<LayerSchema>& layer_schemas() {
  // One line per layer type.
  static const std::vector<LayerSchema> schemas = {
      linear_layer_schema(),   relu_layer_schema(),      gelu_layer_schema(),
      dropout_layer_schema(),  layernorm_layer_schema(), kasmina_layer_schema(),
      residual_layer_schema(),
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
    if (!schema.out_width) continue;
    walk.width =
        schema.out_width(layers[i], locate(list_node, i), element_path(list_path, i), walk, ctx);
    if (schema.sets_width)
      walk.source = "the previous layer produces " + std::to_string(walk.width);
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
    for (LayerRef& inner :
         all_layers(schema.nested(layers[i]), locate(node, "layers"), path + ".layers"))
      out.push_back(std::move(inner));
  }
  return out;
}

}  // namespace kasmina::config_detail

namespace kasmina {

LayerConfig::LayerConfig() : LayerConfig(LayerType::linear) {}

LayerConfig::LayerConfig(LayerType t) : type(t), params(config_detail::default_layer_params(t)) {}

}  // namespace kasmina
