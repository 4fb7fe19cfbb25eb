// `type: dropout`: p in [0, 1); keeps its width.
#include "config/layers/dropout.hpp"

#include "config/layer_schemas.hpp"
#include "config/rules.hpp"

namespace kasmina::config_detail {

LayerSchema dropout_layer_schema() {
  LayerSchema s;
  s.type = LayerType::dropout;
  s.make_params = [] { return LayerParams::of(DropoutConfig{}); };
  s.fields = [] {
    return layer_fields<DropoutConfig>({value("p", &DropoutConfig::p, in_half_open(0.0, 1.0))});
  };
  return s;
}

}  // namespace kasmina::config_detail
