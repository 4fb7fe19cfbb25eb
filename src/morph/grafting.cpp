// Names of the grafting strategies (the rules are in grafting.hpp).
#include "morph/grafting.hpp"

#include <string>

namespace kasmina::morph {

const char* grafting_name(GraftingKind k) {
  switch (k) {
    case GraftingKind::fixed_ramp:
      return "fixed_ramp";
    case GraftingKind::performance_linked:
      return "performance_linked";
    case GraftingKind::drift_controlled:
      return "drift_controlled";
    case GraftingKind::grad_norm_gated:
      return "grad_norm_gated";
  }
  return "?";
}

bool parse_grafting(const char* name, GraftingKind* out) {
  const std::string n(name ? name : "");
  for (int32_t i = 0; i < kGraftingKindCount; ++i) {
    if (n == grafting_name(static_cast<GraftingKind>(i))) {
      *out = static_cast<GraftingKind>(i);
      return true;
    }
  }
  return false;
}

}  // namespace kasmina::morph
