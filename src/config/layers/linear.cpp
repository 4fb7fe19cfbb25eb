// `type: linear`: out (required), in (optional, checked against the width it receives), bias.
#include "config/layer_schemas.hpp"
#include "config/rules.hpp"

namespace kasmina::config_detail {

LayerSchema linear_layer_schema() {
  LayerSchema s;
  s.type = LayerType::linear;
  s.fields = [] {
    return std::vector<Field<LayerConfig>>{
        value("out", &LayerConfig::out, at_least(1)),
        value("in", &LayerConfig::in, at_least(0)),
        value("bias", &LayerConfig::bias),
    };
  };
  s.check = [](LayerConfig& layer, const YAML::Node& node, const ReadContext& ctx,
               const std::string& path) {
    if (layer.out == 0) ctx.fail(node, path, "a linear layer needs 'out' (its output width, >= 1)");
  };
  s.out_width = [](const LayerConfig& layer, const YAML::Node& node, const std::string& path,
                   const WidthWalk& walk, const ReadContext& ctx) {
    if (layer.in != 0 && layer.in != walk.width) {
      ctx.fail(locate(node, "in"), path + ".in",
               "is " + std::to_string(layer.in) + " but " + walk.source);
    }
    return layer.out;
  };
  s.sets_width = true;
  return s;
}

}  // namespace kasmina::config_detail
