// `type: layernorm`: eps; keeps its width.
#include "config/layers/layernorm.hpp"

#include "config/layer_schemas.hpp"
#include "config/rules.hpp"

namespace kasmina::config_detail {

LayerSchema layernorm_layer_schema() {
  LayerSchema s;
  s.type = LayerType::layernorm;
  s.make_params = [] { return LayerParams::of(LayerNormConfig{}); };
  s.fields = [] {
    return layer_fields<LayerNormConfig>({value("eps", &LayerNormConfig::eps, above(0.0))});
  };
  return s;
}

}  // namespace kasmina::config_detail
