// The optimizer's checkpoint section: one moment tensor per parameter, named after it.
#include "core/error.hpp"
#include "nn/optimizer.hpp"

namespace kasmina {

void Optimizer::save_state(StateWriter& out) const {
  const std::vector<Tensor>& m = plan_.m();
  const std::vector<Tensor>& v = plan_.v();
  KASMINA_CHECK(m.empty() || m.size() == names_.size(), "optimizer moments per parameter");
  KASMINA_CHECK(v.empty() || v.size() == names_.size(), "optimizer moments per parameter");
  for (size_t i = 0; i < m.size(); ++i) out.tensor("optimizer/m/" + names_[i], m[i]);
  for (size_t i = 0; i < v.size(); ++i) out.tensor("optimizer/v/" + names_[i], v[i]);
}

void Optimizer::load_state(const StateReader& in) {
  const std::vector<Tensor>& m = plan_.m();
  const std::vector<Tensor>& v = plan_.v();
  for (size_t i = 0; i < m.size(); ++i) in.load("optimizer/m/" + names_[i], m[i]);
  for (size_t i = 0; i < v.size(); ++i) in.load("optimizer/v/" + names_[i], v[i]);
}

}  // namespace kasmina
