// Index arithmetic of patchify, shared by the CPU twin and the CUDA kernels (KASMINA_HD) so both
// move exactly the same elements. Layout: transformer_ops.hpp.
#pragma once
#include <cstdint>

#include "core/hd.hpp"

namespace kasmina::ops {

// The geometry as plain integers (kernel arguments).
struct PatchGeom {
  int64_t height, width, channels, patch, grid_w, tokens, patch_len;
};

// Flat image index [B,H,W,C] of flat patch element `i` of patches [B,T,p·p·C].
KASMINA_HD int64_t patch_source_index(const PatchGeom& g, int64_t i) {
  const int64_t e = i % g.patch_len;
  const int64_t bt = i / g.patch_len;
  const int64_t t = bt % g.tokens, b = bt / g.tokens;
  const int64_t row_len = g.patch * g.channels;  // one patch row: p pixels of C channels
  const int64_t dy = e / row_len, rem = e % row_len;
  const int64_t gy = t / g.grid_w, gx = t % g.grid_w;
  return ((b * g.height + gy * g.patch + dy) * g.width + gx * g.patch) * g.channels + rem;
}

// Flat patch index [B,T,p·p·C] of flat image element `i` of [B,H,W,C] (the inverse map).
KASMINA_HD int64_t patch_target_index(const PatchGeom& g, int64_t i) {
  const int64_t c = i % g.channels;
  const int64_t px = i / g.channels;
  const int64_t x = px % g.width, by = px / g.width;
  const int64_t y = by % g.height, b = by / g.height;
  const int64_t t = (y / g.patch) * g.grid_w + x / g.patch;
  const int64_t e = ((y % g.patch) * g.patch + x % g.patch) * g.channels + c;
  return (b * g.tokens + t) * g.patch_len + e;
}

}  // namespace kasmina::ops
