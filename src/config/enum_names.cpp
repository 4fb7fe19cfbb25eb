#include "config/enum_names.hpp"

namespace kasmina {

const char* to_string(DatasetKind v) {
  return config_detail::enum_name(v);
}
const char* to_string(LayerType v) {
  return config_detail::enum_name(v);
}
const char* to_string(ControllerType v) {
  return config_detail::enum_name(v);
}
const char* to_string(OptimizerType v) {
  return config_detail::enum_name(v);
}
const char* to_string(LrScheduleType v) {
  return config_detail::enum_name(v);
}
const char* to_string(PrecisionMode v) {
  return config_detail::enum_name(v);
}

}  // namespace kasmina
