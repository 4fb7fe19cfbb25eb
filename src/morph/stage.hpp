// The eleven lifecycle stages of a seed and the predicates the fused kernels use to decide what
// a seed does in a step (identity, isolated training, blended, trained by the global loss).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/hd.hpp"

namespace kasmina::morph {

enum class Stage : int32_t {
  dormant = 0,
  germinated = 1,
  training = 2,
  grafting = 3,
  stabilization = 4,
  evaluating = 5,
  fine_tuning = 6,
  fossilized = 7,
  culled = 8,
  cancelled = 9,
  rolled_back = 10,
};
inline constexpr int32_t kStageCount = 11;

// Upper-case names as used in events and logs ("GERMINATED").
const char* stage_name(Stage s);
// Parses a stage name (either case); returns false when unknown.
bool parse_stage(const char* name, Stage* out);

// isfinite usable in host and device code.
KASMINA_HD bool finite_value(float v) {
#if defined(__CUDA_ARCH__)
  return isfinite(v);
#else
  return std::isfinite(v);
#endif
}

// The blend out = x + alpha * delta(x) is applied (when alpha > 0) in these stages.
KASMINA_HD bool stage_is_blended(int32_t s) {
  return s == static_cast<int32_t>(Stage::grafting) ||
         s == static_cast<int32_t>(Stage::stabilization) ||
         s == static_cast<int32_t>(Stage::evaluating) ||
         s == static_cast<int32_t>(Stage::fine_tuning) ||
         s == static_cast<int32_t>(Stage::fossilized);
}

// The blend applies to a seed: a blended stage with alpha > 0.
KASMINA_HD bool blend_applies(int32_t stage, float alpha) {
  return stage_is_blended(stage) && alpha > 0.0f;
}

// The blueprint learns in isolation (reconstruction objective), host untouched.
KASMINA_HD bool stage_trains_isolated(int32_t s) {
  return s == static_cast<int32_t>(Stage::training);
}

// The blueprint is trained by the global (host) loss through the blend.
KASMINA_HD bool stage_trains_global(int32_t s) {
  return s == static_cast<int32_t>(Stage::grafting) ||
         s == static_cast<int32_t>(Stage::fine_tuning);
}

KASMINA_HD bool stage_trains(int32_t s) {
  return stage_trains_isolated(s) || stage_trains_global(s);
}

// Stages that hold a pool slot (blueprint parameters allocated).
KASMINA_HD bool stage_holds_slot(int32_t s) {
  return s != static_cast<int32_t>(Stage::dormant);
}

// Exit stages: recorded for one step boundary, then the slot is freed and the seed is DORMANT.
KASMINA_HD bool stage_is_exit(int32_t s) {
  return s == static_cast<int32_t>(Stage::culled) || s == static_cast<int32_t>(Stage::cancelled) ||
         s == static_cast<int32_t>(Stage::rolled_back);
}

}  // namespace kasmina::morph
