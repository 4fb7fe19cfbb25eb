// Which code computes a layer's residual_mlp seeds: the fused per-row kernels (a thread holds a
// row of the chunk; one block per seed) or the GEMM path (ops/morph/morph_gemm_path.hpp: the
// blueprint of each seed as two GEMMs over all rows of the batch, with the linear ops, plus
// small elementwise kernels for the blend, the gradient and the telemetry).
//
// The automatic rule, from the fused kernels' shape (morph_limits.hpp, kernels/morph/):
//   - a shape past the register-resident row instantiations (C > kRowChunk or hidden >
//     kRowHidden) runs the fused kernels' wide instantiation, whose rows and per-thread
//     gradients spill to local memory: the GEMM path;
//   - a whole-layer seed (seeds == 1) whose blueprint has at least kGemmWholeLayerWeights
//     weights per matrix (C * hidden): the fused kernels give each seed ONE block, so a single
//     seed's B rows x 4*C*h FLOPs and its parameter-gradient reduction run on one SM; the GEMMs
//     spread them over the device: the GEMM path;
//   - anything else (many seeds of small chunks, the benchmarked shapes): the per-row kernels,
//     which run every seed of the layer in one launch (the GEMM path costs ~10 launches per
//     seed and step).
// `row` and `gemm` force a path (tests, benchmarks). Only residual_mlp has a GEMM path;
// low_rank and diag_scale seeds stay on the fused kernels whatever the shape.
#pragma once
#include <cstdint>

#include "core/hd.hpp"
#include "morph/morph_limits.hpp"

namespace kasmina::morph {

enum class SeedPath : uint8_t { automatic, row, gemm };

// C * hidden from which a whole-layer seed's residual_mlp takes the GEMM path (32 x 32).
inline constexpr int64_t kGemmWholeLayerWeights = int64_t{kRowHidden} * kRowHidden;

// Whether a layer of `seeds` seeds of `chunk` columns runs residual_mlp (hidden width `hidden`)
// on the GEMM path.
inline bool residual_mlp_on_gemm(int64_t chunk, int32_t hidden, int32_t seeds, SeedPath p) {
  if (p != SeedPath::automatic) return p == SeedPath::gemm;
  if (chunk > kRowChunk || hidden > kRowHidden) return true;
  return seeds == 1 && chunk * hidden >= kGemmWholeLayerWeights;
}

// Whether a seed holding blueprint `kind` is computed by the GEMM path of a layer whose GEMM
// kinds are the bits of `gemm_kinds` (the fused kernels and their CPU twins then treat it as
// DORMANT: they copy its chunk and leave its blend, gradient and step measurements to the GEMM
// path, which runs after them).
KASMINA_HD bool on_gemm_path(uint32_t gemm_kinds, int32_t kind) {
  return kind >= 0 && kind < kMaxBlueprintKinds && ((gemm_kinds >> kind) & 1u) != 0;
}

}  // namespace kasmina::morph
