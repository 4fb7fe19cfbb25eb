// Names of the grafting strategies (kGraftingTable, morph_limits.hpp; the rules are in
// grafting.hpp).
#include "morph/grafting.hpp"

#include "core/enum_table.hpp"

namespace kasmina::morph {

// The names are morph_limits.hpp's kGraftingNames, in GraftingKind order.
constexpr EnumTable<GraftingKind, kGraftingCount> kGraftingTable{{
    {kGraftingNames[0], GraftingKind::fixed_ramp},
    {kGraftingNames[1], GraftingKind::performance_linked},
    {kGraftingNames[2], GraftingKind::drift_controlled},
    {kGraftingNames[3], GraftingKind::grad_norm_gated},
}};

const char* grafting_name(GraftingKind k) {
  return enum_name(kGraftingTable, k);
}

std::vector<std::string> grafting_name_list() {
  return enum_name_list(kGraftingTable);
}

std::string grafting_names_allowed() {
  return enum_allowed(kGraftingTable);
}

bool parse_grafting(const char* name, GraftingKind* out) {
  const auto k = enum_parse(kGraftingTable, name ? name : "");
  if (k) *out = *k;
  return k.has_value();
}

}  // namespace kasmina::morph
