// Names of the 11 seed lifecycle stage codes as they appear in files (seed-state arrays
// `seeds/<layer>/stage` of checkpoints, `from`/`to` of the telemetry event table).
#pragma once
#include <array>
#include <cstdint>
#include <string>

namespace kasmina::io {

inline constexpr std::array<const char*, 11> kSeedStageNames = {
    "DORMANT",     "GERMINATED", "TRAINING", "GRAFTING",  "STABILIZATION", "EVALUATING",
    "FINE_TUNING", "FOSSILIZED", "CULLED",   "CANCELLED", "ROLLED_BACK"};

// The stage's name, or "STAGE_<code>" for a code outside 0..10.
inline std::string seed_stage_name(int64_t code) {
  if (code >= 0 && code < static_cast<int64_t>(kSeedStageNames.size()))
    return kSeedStageNames[static_cast<size_t>(code)];
  return "STAGE_" + std::to_string(code);
}

}  // namespace kasmina::io
