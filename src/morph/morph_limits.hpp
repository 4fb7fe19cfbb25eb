// Limits, names and defaults of the morphogenetic layer, written once: the fused kernels, the
// CPU twins, the layer's own validation (src/nn/kasmina_layer.cpp) and the config schema and
// checks (src/config/) all read them from here.
#pragma once
#include <cstdint>

#include "core/hd.hpp"

namespace kasmina::morph {

// ---- Limits ---------------------------------------------------------------------------------
// Chunk widths (C = width / seeds) and hidden widths / ranks the kernels instantiate a
// register-resident row for: a thread keeps one row of its chunk in registers. These are the
// fast instantiations every benchmark shape uses (C 4..64 with hidden/rank <= 32).
inline constexpr int32_t kRowChunk = 64;
inline constexpr int32_t kRowHidden = 32;
// The largest chunk width and hidden width / rank a layer accepts. Shapes past the row limits
// run in the wide instantiation (its rows and parameter gradients spill to local memory and its
// parameters and factor tiles use the opt-in shared memory); larger blueprints belong on the
// GEMM path (src/morph/README.md, "The blueprint seam").
inline constexpr int32_t kMaxChunk = 128;
inline constexpr int32_t kMaxHidden = 64;
static_assert(kRowChunk <= kMaxChunk && kRowHidden <= kMaxHidden);
// Chunks wider than kRowChunk must be a multiple of 4 (the copy kernel then moves 16-byte
// vectors, a thread per 4 values, as its blocks allow at most kRowChunk threads per row).
KASMINA_HD constexpr bool chunk_supported(int64_t chunk) {
  return chunk >= 1 && (chunk <= kRowChunk || (chunk <= kMaxChunk && chunk % 4 == 0));
}
// The rule above in words, for error messages: "<= 64, or a multiple of 4 up to 128".
inline constexpr const char* kChunkRuleText = "<= 64, or a multiple of 4 up to 128";
// Blueprint kinds a layer can tell apart (the lifecycle keeps the allowed kinds in a 32-bit
// mask): the built-ins, then kinds registered at run time.
inline constexpr int32_t kMaxBlueprintKinds = 32;

// ---- Names (in the order of the enums in morph_config.hpp) ----------------------------------
inline constexpr int32_t kBuiltinBlueprintCount = 3;
inline constexpr const char* kBuiltinBlueprintNames[kBuiltinBlueprintCount] = {
    "residual_mlp", "low_rank", "diag_scale"};
inline constexpr int32_t kGraftingCount = 4;
inline constexpr const char* kGraftingNames[kGraftingCount] = {
    "fixed_ramp", "performance_linked", "drift_controlled", "grad_norm_gated"};

// ---- Defaults -------------------------------------------------------------------------------
// Of MorphConfig (morph_config.hpp, which documents each) and of the config's kasmina layer keys
// (src/config/config.hpp). Float options are written as doubles so that the config keeps their
// decimal value and the layer the same float as before (static_cast<float>(0.1) == 0.1f).
inline constexpr int32_t kDefaultHidden = 4;    // residual_mlp hidden width
inline constexpr int32_t kDefaultRank = 4;      // low_rank rank
inline constexpr int32_t kDefaultGrafting = 0;  // index into kGraftingNames: fixed_ramp
inline constexpr int32_t kDefaultRampSteps = 100;
inline constexpr double kDefaultPerformanceGain = 10.0;
inline constexpr double kDefaultDriftThreshold = 0.1;
inline constexpr double kDefaultGradNormLo = 0.0;
inline constexpr double kDefaultGradNormHi = 10.0;
inline constexpr int32_t kDefaultMinGerminatedSteps = 1;
inline constexpr int32_t kDefaultMinTrainingSteps = 50;
inline constexpr int32_t kDefaultMinGraftingSteps = 1;
inline constexpr int32_t kDefaultMinStabilizationSteps = 20;
inline constexpr int32_t kDefaultMinEvaluatingSteps = 20;
inline constexpr int32_t kDefaultMinFineTuningSteps = 50;
inline constexpr double kDefaultTrainingLossThreshold = 1e-3;
inline constexpr int32_t kDefaultMaxTrainingSteps = 500;
inline constexpr int32_t kDefaultMaxEvaluatingSteps = 1000;
inline constexpr int32_t kDefaultMaxTrainingSeeds = 8;
inline constexpr double kDefaultEmaDecay = 0.9;
inline constexpr int32_t kDefaultMaxErrors = 3;
inline constexpr double kDefaultBlueprintLr = 1e-3;
inline constexpr double kDefaultBlueprintWeightDecay = 0.0;
inline constexpr int32_t kDefaultPoolSlots = 64;
inline constexpr int32_t kDefaultTelemetryEvery = 100;
inline constexpr double kDefaultDeadEps = 1e-6;

}  // namespace kasmina::morph
