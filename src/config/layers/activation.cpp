// `type: relu` and `type: gelu`: no keys; keep their width.
#include "config/layer_schemas.hpp"

namespace kasmina::config_detail {

LayerSchema relu_layer_schema() {
  LayerSchema s;
  s.type = LayerType::relu;
  s.fields = [] { return std::vector<Field<LayerConfig>>{}; };
  return s;
}

LayerSchema gelu_layer_schema() {
  LayerSchema s;
  s.type = LayerType::gelu;
  s.fields = [] { return std::vector<Field<LayerConfig>>{}; };
  return s;
}

}  // namespace kasmina::config_detail
