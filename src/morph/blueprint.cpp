// Names of the built-in blueprints (the math is in blueprint.hpp).
#include "morph/blueprint.hpp"

#include <string>

namespace kasmina::morph {

const char* blueprint_name(BlueprintKind k) {
  switch (k) {
    case BlueprintKind::residual_mlp:
      return "residual_mlp";
    case BlueprintKind::low_rank:
      return "low_rank";
    case BlueprintKind::diag_scale:
      return "diag_scale";
  }
  return "?";
}

bool parse_blueprint(const char* name, BlueprintKind* out) {
  const std::string n(name ? name : "");
  for (int32_t i = 0; i < kBlueprintKindCount; ++i) {
    if (n == blueprint_name(static_cast<BlueprintKind>(i))) {
      *out = static_cast<BlueprintKind>(i);
      return true;
    }
  }
  return false;
}

}  // namespace kasmina::morph
