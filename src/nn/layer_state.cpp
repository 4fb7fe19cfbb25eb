// The default checkpoint section of a layer: its parameters, each under its own name.
#include "nn/layer.hpp"

namespace kasmina {

void Layer::save_state(StateWriter& out) const {
  // parameters() hands out mutable pointers (the optimizer updates through them); saving only
  // reads the values.
  for (const Parameter* p : const_cast<Layer*>(this)->parameters()) out.tensor(p->name, p->value);
}

void Layer::load_state(const StateReader& in) {
  for (Parameter* p : parameters()) in.load(p->name, p->value);
}

}  // namespace kasmina
