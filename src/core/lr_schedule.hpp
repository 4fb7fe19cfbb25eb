// Learning-rate schedules as pure functions of the step, usable on the host and inside the
// fused optimizer kernels (so a captured CUDA graph needs no per-step host upload of the lr).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/hd.hpp"

namespace kasmina {

enum class LrScheduleType : int32_t { constant = 0, cosine = 1, linear = 2 };

struct LrSchedule {
  LrScheduleType type = LrScheduleType::constant;
  float base_lr = 1e-3f;
  float min_lr = 0.0f;       // floor reached at total_steps (cosine, linear decay)
  int64_t warmup_steps = 0;  // linear warm-up from 0 to base_lr over these steps
  int64_t total_steps = 1;   // steps of the whole run (warm-up included)
};

// Learning rate for the step with 0-based index `step` (the step about to be taken).
// Warm-up: lr = base * (step+1) / warmup for step < warmup. Afterwards, with progress
// p = (step - warmup) / max(1, total - warmup) clamped to [0, 1]:
//   constant: base;  cosine: min + (base-min) * (1 + cos(pi p)) / 2;  linear: base + (min-base) p.
KASMINA_HD float lr_at(const LrSchedule& s, int64_t step) {
  if (step < s.warmup_steps) {
    return s.base_lr * static_cast<float>(step + 1) / static_cast<float>(s.warmup_steps);
  }
  const int64_t span = s.total_steps - s.warmup_steps > 1 ? s.total_steps - s.warmup_steps : 1;
  double p = static_cast<double>(step - s.warmup_steps) / static_cast<double>(span);
  p = p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
  switch (s.type) {
    case LrScheduleType::cosine:
      return static_cast<float>(s.min_lr + (s.base_lr - s.min_lr) * 0.5 *
                                               (1.0 + cos(3.14159265358979323846 * p)));
    case LrScheduleType::linear:
      return static_cast<float>(s.base_lr + (s.min_lr - s.base_lr) * p);
    case LrScheduleType::constant:
    default:
      return s.base_lr;
  }
}

}  // namespace kasmina
