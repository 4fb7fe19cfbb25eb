// The CPU twins' view of a blueprint: its descriptor (src/morph/blueprint_registry.hpp), looked
// up once per seed, and its per-row math. A kind without a row-path descriptor (none, or a
// blueprint on the GEMM path, which its module computes) gives delta 0 and no gradient here,
// as the fused kernels' kind table does.
#pragma once
#include <cstdint>

#include "morph/blueprint_pool.hpp"
#include "morph/blueprint_registry.hpp"

namespace kasmina::ops::morph_rows {

using morph::BlueprintDescriptor;
using morph::BlueprintShape;

inline const BlueprintDescriptor* row_blueprint(int32_t kind) {
  const BlueprintDescriptor* d = morph::find_blueprint(kind);
  return d && d->path == morph::BlueprintPath::row ? d : nullptr;
}

inline int32_t param_count(const BlueprintDescriptor* d, const BlueprintShape& sh) {
  return d ? d->param_count(*d, sh) : 0;
}

template <class T>
void delta(const BlueprintDescriptor* d, const BlueprintShape& sh, const T* p, const T* x,
           T* delta) {
  if (d) return d->row<T>().delta(*d, sh, p, x, delta);
  for (int32_t c = 0; c < sh.chunk; ++c) delta[c] = T(0);
}

template <class T>
void backward(const BlueprintDescriptor* d, const BlueprintShape& sh, const T* p, const T* x,
              const T* g, T* dx, T* F) {
  if (d) return d->row<T>().backward(*d, sh, p, x, g, dx, F);
  morph::write_row_factors<morph::kMaxChunk, T>(sh, x, g, F);
}

// dp += the row's parameter gradient from its factors F.
template <class T>
void add_grad(const BlueprintDescriptor* d, const BlueprintShape& sh, const T* F, T* dp) {
  if (!d) return;
  morph::GradBlock blocks[morph::kMaxGradBlocks];
  const int32_t n = d->grad_blocks(*d, sh, blocks);
  morph::add_grad_of<T>(blocks, n, F, dp);
}

// The initial parameters of a freshly allocated slot of a blueprint outside the kind table (one
// registered at run time) from its descriptor; init_slot (lifecycle.hpp) has zeroed the slot.
template <class T>
void init_registered(const morph::PoolView<T>& pool, int32_t slot, int32_t kind,
                     const BlueprintShape& sh, uint64_t run_seed, int32_t layer, int32_t seed) {
  const BlueprintDescriptor* d = morph::find_blueprint(kind);
  if (!d || d->in_fused_kernels) return;
  T* p = pool.at(slot, morph::PoolRegion::params);
  const int32_t n = d->param_count(*d, sh);
  for (int32_t i = 0; i < n && i < pool.region; ++i)
    p[i] = static_cast<T>(d->init_value(*d, sh, i, run_seed, layer, seed));
}

}  // namespace kasmina::ops::morph_rows
