#include "control/controller_state.hpp"

#include "core/error.hpp"

namespace kasmina::control {

const Tensor* ControllerState::find(const std::string& name) const {
  for (const auto& [n, t] : tensors) {
    if (n == name) return &t;
  }
  return nullptr;
}

const Tensor& ControllerState::get(const std::string& name, DType dtype) const {
  const Tensor* t = find(name);
  KASMINA_CHECK(t != nullptr, "controller state: tensor '" + name + "' missing");
  KASMINA_CHECK(t->dtype() == dtype, "controller state: tensor '" + name + "' has dtype " +
                                         dtype_name(t->dtype()) + ", expected " +
                                         dtype_name(dtype));
  return *t;
}

int64_t ControllerState::get_int(const std::string& name) const {
  const auto it = ints.find(name);
  KASMINA_CHECK(it != ints.end(), "controller state: integer '" + name + "' missing");
  return it->second;
}

double ControllerState::get_float(const std::string& name) const {
  const auto it = floats.find(name);
  KASMINA_CHECK(it != floats.end(), "controller state: number '" + name + "' missing");
  return it->second;
}

}  // namespace kasmina::control
