#include "control/controller_state.hpp"

#include "control/controller.hpp"

#include "core/error.hpp"

namespace kasmina::control {

const Tensor* ControllerState::find(const std::string& name) const {
  for (const auto& [n, t] : tensors) {
    if (n == name) return &t;
  }
  return nullptr;
}

// A checkpoint's controller section that does not fit this run: UserError (exit 2).
[[noreturn]] void unfit(const std::string& what) {
  throw UserError("checkpoint: controller state: " + what);
}

const Tensor& ControllerState::get(const std::string& name, DType dtype) const {
  const Tensor* t = find(name);
  if (t == nullptr) unfit("tensor '" + name + "' missing");
  if (t->dtype() != dtype)
    unfit("tensor '" + name + "' has dtype " + dtype_name(t->dtype()) + ", expected " +
          dtype_name(dtype));
  return *t;
}

int64_t ControllerState::get_int(const std::string& name) const {
  const auto it = ints.find(name);
  if (it == ints.end()) unfit("integer '" + name + "' missing");
  return it->second;
}

double ControllerState::get_float(const std::string& name) const {
  const auto it = floats.find(name);
  if (it == floats.end()) unfit("number '" + name + "' missing");
  return it->second;
}

void Controller::save_state(StateWriter& root) const {
  StateWriter out = root.section("controller");
  const ControllerState cs = save();
  for (const auto& [name, t] : cs.tensors) out.tensor(name, t);
  for (const auto& [name, x] : cs.ints) out.integer(name, x);
  for (const auto& [name, x] : cs.floats) out.number(name, x);
}

void Controller::load_state(const StateReader& root) {
  const StateReader in = root.section("controller");
  ControllerState cs;
  cs.tensors = in.tensors();
  cs.ints = in.integers();
  cs.floats = in.numbers();
  restore(cs);
}

}  // namespace kasmina::control
