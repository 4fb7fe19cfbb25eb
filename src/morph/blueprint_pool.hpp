// Layout of a layer's blueprint pool: one buffer of `slots` equal slots; a seed that holds a
// blueprint owns one slot (SeedStateView::slot). Each slot holds, for up to `params` values
// (the largest parameter count among the layer's allowed blueprints, rounded up to 4 so that
// every region starts 16-byte aligned):
//   [0] parameters  [1] AdamW first moment  [2] AdamW second moment  [3] gradient
//   [4..6] pre-graft snapshot of parameters, first and second moment (ROLLED_BACK restores it)
// `owner[slot]` is the seed that holds the slot, or -1 when free.
#pragma once
#include <cstdint>

#include "core/hd.hpp"

namespace kasmina::morph {

enum class PoolRegion : int32_t {
  params = 0,
  moment1 = 1,
  moment2 = 2,
  grad = 3,
  snapshot_params = 4,
  snapshot_moment1 = 5,
  snapshot_moment2 = 6,
};
inline constexpr int32_t kPoolRegionCount = 7;

KASMINA_HD int32_t pool_region_width(int32_t max_params) {
  return (max_params + 3) / 4 * 4;
}

template <class T>
struct PoolView {
  T* base = nullptr;
  int32_t* owner = nullptr;  // [slots]
  int32_t slots = 0;
  int32_t region = 0;  // pool_region_width(max params)

  KASMINA_HD int64_t slot_stride() const { return static_cast<int64_t>(region) * kPoolRegionCount; }
  KASMINA_HD T* at(int32_t slot, PoolRegion r) const {
    return base + slot * slot_stride() + static_cast<int64_t>(r) * region;
  }
};

}  // namespace kasmina::morph
