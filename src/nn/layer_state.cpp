// The default checkpoint section of a layer: its parameters, each under its own name.
#include "nn/layer.hpp"

#include "ops/precision_ops.hpp"

namespace kasmina {

void Layer::save_state(StateWriter& out) const {
  // parameters() hands out mutable pointers (the optimizer updates through them); saving only
  // reads the values.
  for (const Parameter* p : const_cast<Layer*>(this)->parameters()) out.tensor(p->name, p->value);
}

void Layer::load_state(const StateReader& in) {
  for (Parameter* p : parameters()) {
    in.load(p->name, p->value);
    // The bf16 copy the optimizer keeps (Parameter::bf16_copy) follows the loaded value.
    if (p->bf16_copy.defined()) ops::cast_to_bf16(p->value, p->bf16_copy);
  }
}

}  // namespace kasmina
