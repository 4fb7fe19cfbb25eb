// The model's checkpoint state: each layer's own section, in model order.
#include "nn/model.hpp"

#include "ops/precision_ops.hpp"

namespace kasmina {

void Model::save_state(StateWriter& out) const {
  for (const auto& l : body_.layers()) l->save_state(out);
}

void Model::load_state(const StateReader& in) {
  for (const auto& l : body_.layers()) l->load_state(in);
  // The bf16 weight copies the optimizer keeps (Parameter::bf16_copy) follow the loaded values.
  for (Parameter* p : parameters()) {
    if (p->bf16_copy.defined()) ops::cast_to_bf16(p->value, p->bf16_copy);
  }
}

}  // namespace kasmina
