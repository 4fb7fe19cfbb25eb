// Analytic training FLOPs of one seed for one training step on `batch` rows, by its stage (the
// training-FLOP counts of summary.json `train_flops`): what the fused forward, backward and
// blueprint optimizer compute for it, from the blueprint's per-row counts (BlueprintFlops).
//   DORMANT, GERMINATED, exits: 0 (the chunk is copied; a copy is not counted)
//   TRAINING: forward delta, the isolated loss (d^2, + per element) and its gradient (2 d / n),
//             the hidden and parameter gradients, AdamW on the blueprint's parameters
//   blended (GRAFTING .. FOSSILIZED): forward delta and the blend x + alpha delta (2 per
//             element); backward g = alpha dy (1), dx = dy + J^T g (1 + hidden + input
//             gradients); GRAFTING and FINE_TUNING also the parameter gradient and AdamW
// Alpha 0 (the first GRAFTING step) is counted as blended.
#pragma once
#include <cstdint>

#include "core/adamw.hpp"
#include "morph/blueprint_layout.hpp"
#include "morph/stage.hpp"

namespace kasmina::morph {

inline double seed_step_flops(const BlueprintFlops& f, int32_t stage, int64_t params, int64_t batch,
                              int32_t chunk) {
  const double B = static_cast<double>(batch), C = static_cast<double>(chunk);
  const double optimizer =
      static_cast<double>(kAdamWFlopsPerParameter) * static_cast<double>(params);
  if (stage_trains_isolated(stage)) {
    const double row =
        static_cast<double>(f.forward + f.backward_hidden + f.backward_params) + 2 * C + 2 * C;
    return B * row + optimizer;
  }
  if (!stage_is_blended(stage)) return 0.0;
  double row = static_cast<double>(f.forward) + 2 * C +
               static_cast<double>(f.backward_hidden + f.backward_input) + 2 * C;
  if (!stage_trains_global(stage)) return B * row;
  row += static_cast<double>(f.backward_params);
  return B * row + optimizer;
}

}  // namespace kasmina::morph
