// A hand-written schedule of germinations: at step `step`, seed `seed` of morphogenetic layer
// `layer` germinates `blueprint`. The driver queues them on the layers (as host commands, so
// they are validated and logged like any other request).
#pragma once
#include <cstdint>
#include <vector>

#include "config/config.hpp"
#include "nn/kasmina_layer.hpp"

namespace kasmina::morph {

struct ScheduledGermination {
  int64_t step = 0;
  int32_t layer = 0;  // MorphConfig::layer_index
  int32_t seed = 0;
  BlueprintKind blueprint = BlueprintKind::residual_mlp;
};

class GerminationSchedule {
 public:
  GerminationSchedule() = default;
  explicit GerminationSchedule(std::vector<ScheduledGermination> entries);
  // Queues every germination scheduled for `step` on its layer; returns how many were queued.
  // A layer index that no layer has is a UserError.
  int32_t apply(int64_t step, const std::vector<KasminaLayer*>& layers) const;
  const std::vector<ScheduledGermination>& entries() const { return entries_; }

 private:
  std::vector<ScheduledGermination> entries_;  // sorted by step (stable)
};

// The schedule of the config's `schedule:` list.
GerminationSchedule schedule_from(const std::vector<GerminationConfig>& entries);

}  // namespace kasmina::morph
