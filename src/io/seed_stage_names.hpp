// Names of the 11 seed lifecycle stage codes as they appear in files (seed-state arrays
// `seeds/<layer>/stage` of checkpoints, `from`/`to` of the telemetry event table): the names of
// morph's stage table (morph::stage_name).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "morph/stage.hpp"

namespace kasmina::io {

// The stage's name, or "STAGE_<code>" for a code outside 0..10.
inline std::string seed_stage_name(int64_t code) {
  if (code >= 0 && code < morph::kStageCount)
    return morph::stage_name(static_cast<morph::Stage>(code));
  return "STAGE_" + std::to_string(code);
}

// Every stage name, in code order.
inline std::vector<std::string> seed_stage_names() {
  std::vector<std::string> out;
  for (int32_t c = 0; c < morph::kStageCount; ++c) out.push_back(seed_stage_name(c));
  return out;
}

// The code of a stage name written by seed_stage_name (exact match), or -1.
inline int64_t seed_stage_code(const std::string& name) {
  for (int32_t c = 0; c < morph::kStageCount; ++c)
    if (name == morph::stage_name(static_cast<morph::Stage>(c))) return c;
  return -1;
}

}  // namespace kasmina::io
