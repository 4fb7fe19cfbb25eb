// Shape checks and raw views shared by the CPU twins and the CUDA launchers of the morph ops.
#pragma once
#include <string>

#include "morph/blueprint_pool.hpp"
#include "morph/seed_path.hpp"
#include "morph/seed_state.hpp"
#include "ops/morph/morph_ops.hpp"

namespace kasmina::ops::morph_detail {

inline int64_t morph_width(const MorphLayerBuffers& L) {
  return static_cast<int64_t>(L.seeds) * L.shape.chunk;
}

// x-like tensor [B, S*C] of the layer's element type; returns B. The activations' element type
// is the pool's; with allow_bf16 (the fused forward and backward) also bf16 over a float32 pool
// (the blueprint computed in float32 on values read from bf16).
inline int64_t check_activations(const MorphLayerBuffers& L, const Tensor& t, const char* op,
                                 const char* what, bool allow_bf16 = false) {
  KASMINA_CHECK(t.ndim() == 2 && t.dim(1) == morph_width(L),
                std::string(op) + ": " + what + " has shape " + shape_str(t.shape()) +
                    ", expected [B, " + std::to_string(morph_width(L)) + "]");
  const bool half = allow_bf16 && t.dtype() == DType::bf16 && L.pool.dtype() == DType::f32;
  KASMINA_CHECK(half || t.dtype() == L.pool.dtype(),
                std::string(op) + ": " + what + " is " + dtype_name(t.dtype()) +
                    ", the blueprint pool " + dtype_name(L.pool.dtype()) +
                    (allow_bf16 ? " (allowed: the pool's type, or bf16 over a float32 pool)"
                                : " (allowed: the pool's type)"));
  KASMINA_CHECK(t.device() == L.device(), std::string(op) + ": " + what + " on another device");
  return t.dim(0);
}

// Floats of blueprint parameters the fused CUDA kernels stage per block (L.fused_region; a
// buffer set without it, as in a hand-made test rig, stages the whole pool region).
inline int32_t fused_region(const MorphLayerBuffers& L) {
  return L.fused_region > 0 ? L.fused_region : L.pool_region;
}

// The in-place forward's saved rows (MorphLayerBuffers::saved) for a batch of B rows of t's type;
// in place, the fused ops alone write the layer's output (no GEMM path, no IR modules).
inline void check_saved(const MorphLayerBuffers& L, const Tensor& t, int64_t B, const char* op) {
  KASMINA_CHECK(L.saved.defined() && L.saved.dtype() == t.dtype() && L.saved_rows >= B &&
                    L.saved.ndim() == 2 && L.saved.dim(0) == L.pool_slots * L.saved_rows &&
                    L.saved.dim(1) == L.shape.chunk,
                std::string(op) + ": in place needs the layer's saved rows for a batch of " +
                    std::to_string(B) + " in " + dtype_name(t.dtype()));
  KASMINA_CHECK(L.modules.empty() && L.gemm_kinds == 0,
                std::string(op) +
                    ": in place with seeds outside the fused kernels (GEMM path or "
                    "IR blueprints)");
}

inline morph::SeedStateView state_view(const MorphLayerBuffers& L) {
  return morph::make_seed_state_view(L.state.raw(), L.seeds);
}

// The stage the fused ops act on for seed s: DORMANT for a seed the GEMM path computes.
inline int32_t fused_stage(const MorphLayerBuffers& L, const morph::SeedStateView& st, int32_t s) {
  return morph::on_gemm_path(L.gemm_kinds, st.blueprint[s])
             ? static_cast<int32_t>(morph::Stage::dormant)
             : st.stage[s];
}

template <class T>
morph::PoolView<T> pool_view(const MorphLayerBuffers& L) {
  morph::PoolView<T> p;
  p.base = static_cast<T*>(L.pool.raw());
  p.owner = L.slot_owner.data<int32_t>();
  p.slots = L.pool_slots;
  p.region = L.pool_region;
  return p;
}

inline morph::EventRingHeader* event_header(const MorphLayerBuffers& L) {
  return static_cast<morph::EventRingHeader*>(L.events.raw());
}
inline morph::MorphEvent* event_ring(const MorphLayerBuffers& L) {
  return reinterpret_cast<morph::MorphEvent*>(static_cast<char*>(L.events.raw()) +
                                              sizeof(morph::EventRingHeader));
}
inline morph::CommandBufferHeader* command_header(const MorphLayerBuffers& L) {
  return static_cast<morph::CommandBufferHeader*>(L.commands.raw());
}
inline morph::MorphCommand* command_list(const MorphLayerBuffers& L) {
  return reinterpret_cast<morph::MorphCommand*>(static_cast<char*>(L.commands.raw()) +
                                                sizeof(morph::CommandBufferHeader));
}

}  // namespace kasmina::ops::morph_detail
