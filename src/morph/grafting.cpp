// Names of the grafting strategies (kGraftingNames, morph_limits.hpp; the rules are in
// grafting.hpp).
#include "morph/grafting.hpp"

#include <string>

namespace kasmina::morph {

const char* grafting_name(GraftingKind k) {
  const auto i = static_cast<int32_t>(k);
  return i >= 0 && i < kGraftingKindCount ? kGraftingNames[i] : "?";
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
