// The steady state the morphogenetic benchmarks and the instruction probe measure: every
// `every`-th seed of a layer active with the residual_mlp blueprint (or another kind), alternately
// TRAINING (alpha 0) and GRAFTING (alpha 0.5), parameters at their initial values plus a
// perturbation so that zero-initialised weights take part.
#pragma once
#include <cstdint>
#include <functional>

#include "morph/blueprint.hpp"
#include "nn/kasmina_layer.hpp"

namespace kasmina::bench {

struct SeedPlacement {
  int32_t every = 10;  // 10% of the seeds active
  // Added to parameter i of seed s's blueprint.
  std::function<float(int32_t seed, int32_t i)> perturbation;
  // GRAFTING seeds hold a pre-graft snapshot (so a loss alarm can roll them back).
  bool snapshots = false;
  // The blueprint kind of the active seeds (residual_mlp, or a registered blueprint such as its
  // IR re-statement); initial values from its descriptor.
  int32_t kind = static_cast<int32_t>(morph::BlueprintKind::residual_mlp);
  // Every active seed GRAFTING at this alpha instead of the alternation (0: the alternation).
  float grafting_alpha = 0.0f;
};

// Overwrites the layer's seed state and pool (synchronous upload).
void place_active_seeds(morph::KasminaLayer& layer, const SeedPlacement& p);

}  // namespace kasmina::bench
