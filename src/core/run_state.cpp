#include "core/run_state.hpp"

#include "core/error.hpp"

namespace kasmina {

const Tensor* RunState::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

const Tensor& RunState::get(const std::string& name) const {
  const Tensor* t = find(name);
  if (!t)
    throw UserError("checkpoint: no tensor '" + name + "' (was it written by another model?)");
  return *t;
}

int64_t RunState::get_int(const std::string& name) const {
  auto it = ints.find(name);
  if (it == ints.end()) throw UserError("checkpoint: no integer '" + name + "'");
  return it->second;
}

double RunState::get_float(const std::string& name) const {
  auto it = floats.find(name);
  if (it == floats.end()) throw UserError("checkpoint: no number '" + name + "'");
  return it->second;
}

Tensor host_copy(const Tensor& t) {
  Tensor h = Tensor::empty(t.shape(), t.dtype(), Device::cpu());
  if (t.numel() > 0) h.copy_from(t);
  return h;
}

}  // namespace kasmina
