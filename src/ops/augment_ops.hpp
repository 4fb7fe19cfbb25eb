// Data augmentation on the device, deterministic from the seed: random crop from a padded image
// and horizontal flip (the torchvision recipe RandomCrop(padding) + RandomHorizontalFlip), for
// the convolutional and the transformer networks. Declared by KASMINA_OP (op_registry.hpp): CPU
// twin in src/ops/transformer/augment_cpu.cpp, kernel in kernels/transformer/augment.cu.
//
// Randomness: per sample n = sample_offset + b, one Philox4x32-10 call keyed by the seed with
// counter (n, step[0], kAugmentStream) (core/philox.hpp; the same construction as dropout, on a
// stream of its own: src/ops/transformer/augment_draw.hpp). Its words give the crop offsets
// oy, ox in [0, 2·pad] (v0, v1 scaled by (2·pad+1) / 2³², integer arithmetic) and the flip bit
// (top bit of v2). Identical on every device, so CUDA and CPU outputs are equal bit for bit and a
// run resumed at the same step draws the same crops.
#pragma once
#include <cstdint>

#include "core/tensor.hpp"
#include "ops/op_registry.hpp"

namespace kasmina::ops {

// x, y [B,H,W,C] (NHWC; y must not alias x). pad >= 0; sample_offset >= 0 (where this batch's
// samples start in the global batch, e.g. a data-parallel rank's offset; 0 otherwise); step i64[1]
// on the device of x (read there). Crop then flip, for every sample b:
//   z[i,j] = xpad[i + oy, j + ox]  (xpad: x surrounded by `pad` rows/columns of pad_value)
//   y[b,i,j,:] = flip_b ? z[i, W-1-j] : z[i, j]       (flip_b = 0 when `flip` is false)
// pad_value is 0 for zero padding, or the normalised value of a black pixel to pad before the
// normalisation as torchvision does. pad = 0 and flip = false copy x.
KASMINA_OP(void, augment_crop_flip,
           (const Tensor& x, int64_t pad, bool flip, float pad_value, uint64_t seed,
            const Tensor& step, int64_t sample_offset, Tensor& y),
           (x, pad, flip, pad_value, seed, step, sample_offset, y), x.device())

}  // namespace kasmina::ops
