// The model's checkpoint state: each layer's own section, in model order.
#include "nn/model.hpp"

namespace kasmina {

void Model::save_state(StateWriter& out) const {
  for (const auto& l : body_.layers()) l->save_state(out);
}

void Model::load_state(const StateReader& in) {
  for (const auto& l : body_.layers()) l->load_state(in);
}

}  // namespace kasmina
