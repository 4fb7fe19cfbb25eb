// The random draw of augment_crop_flip for one sample and the source pixel of each output pixel,
// shared by the CPU twin and the CUDA kernel (KASMINA_HD): integer arithmetic only, so both
// devices produce the same crops and flips bit for bit. Semantics: augment_ops.hpp.
#pragma once
#include <cstdint>

#include "core/hd.hpp"
#include "core/philox.hpp"

namespace kasmina::ops {

// Philox stream of the augmentation (dropout streams are layer positions, small integers).
inline constexpr uint32_t kAugmentStream = 0x41554731u;  // "AUG1"

struct AugmentDraw {
  int64_t oy, ox;  // crop offsets in the padded image, in [0, 2·pad]
  bool flip;
};

// (v · n) >> 32 maps a 32-bit word to [0, n) (bias below n / 2³², negligible for small n).
KASMINA_HD int64_t philox_below(uint32_t v, uint64_t n) {
  return static_cast<int64_t>((static_cast<uint64_t>(v) * n) >> 32);
}

KASMINA_HD AugmentDraw augment_draw(uint64_t seed, uint64_t step, uint64_t sample, int64_t pad,
                                    bool flip) {
  const Philox4 r = philox4x32(static_cast<uint32_t>(sample), static_cast<uint32_t>(sample >> 32),
                               static_cast<uint32_t>(step), kAugmentStream,
                               static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
  const auto span = static_cast<uint64_t>(2 * pad + 1);
  return AugmentDraw{philox_below(r.v[0], span), philox_below(r.v[1], span),
                     flip && (r.v[2] >> 31) != 0};
}

// Flat index inside one sample [H,W,C] of the input pixel that output element `e` (of the same
// sample) copies, or -1 when it falls on the padding.
KASMINA_HD int64_t augment_source_index(const AugmentDraw& d, int64_t pad, int64_t height,
                                        int64_t width, int64_t channels, int64_t e) {
  const int64_t c = e % channels;
  const int64_t px = e / channels;
  const int64_t j = px % width, i = px / width;
  const int64_t sy = i + d.oy - pad;
  const int64_t sx = (d.flip ? width - 1 - j : j) + d.ox - pad;
  if (sy < 0 || sy >= height || sx < 0 || sx >= width) return -1;
  return (sy * width + sx) * channels + c;
}

}  // namespace kasmina::ops
