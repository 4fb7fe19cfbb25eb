// `type: layernorm`: eps; keeps its width.
#include "config/layer_schemas.hpp"
#include "config/rules.hpp"

namespace kasmina::config_detail {

LayerSchema layernorm_layer_schema() {
  LayerSchema s;
  s.type = LayerType::layernorm;
  s.fields = [] {
    return std::vector<Field<LayerConfig>>{value("eps", &LayerConfig::eps, above(0.0))};
  };
  return s;
}

}  // namespace kasmina::config_detail
