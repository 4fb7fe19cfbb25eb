// `type: batchnorm2d`: momentum, eps. Normalises each feature (a feature map's channel) with the
// batch's statistics over all rows of all samples in training, the running ones in evaluation;
// keeps the shape.
#include "config/layers/batchnorm.hpp"

#include "config/layer_schemas.hpp"
#include "config/rules.hpp"

namespace kasmina::config_detail {

LayerSchema batchnorm2d_layer_schema() {
  LayerSchema s;
  s.type = LayerType::batchnorm2d;
  s.make_params = [] { return LayerParams::of(BatchNormConfig{}); };
  s.fields = [] {
    return layer_fields<BatchNormConfig>({
        value("momentum", &BatchNormConfig::momentum, in_half_open(0.0, 1.0)),
        value("eps", &BatchNormConfig::eps, above(0.0)),
    });
  };
  return s;
}

}  // namespace kasmina::config_detail
