// Names of the grafting strategies (the rules are in grafting.hpp).
#include "morph/grafting.hpp"

#include "core/enum_table.hpp"

namespace kasmina::morph {

constexpr EnumTable<GraftingKind, 4> kGraftingNames{{
    {"fixed_ramp", GraftingKind::fixed_ramp},
    {"performance_linked", GraftingKind::performance_linked},
    {"drift_controlled", GraftingKind::drift_controlled},
    {"grad_norm_gated", GraftingKind::grad_norm_gated},
}};

const char* grafting_name(GraftingKind k) {
  return enum_name(kGraftingNames, k);
}

std::vector<std::string> grafting_name_list() {
  return enum_name_list(kGraftingNames);
}

std::string grafting_names_allowed() {
  return enum_allowed(kGraftingNames);
}

bool parse_grafting(const char* name, GraftingKind* out) {
  const auto k = enum_parse(kGraftingNames, name ? name : "");
  if (k) *out = *k;
  return k.has_value();
}

}  // namespace kasmina::morph
