// augment_crop_flip on the device: one block per sample (grid-stride over samples), every thread
// derives the sample's draw itself (one Philox4x32-10 call, no shared state) and copies its
// output pixels through augment_source_index. Draw and index map are those of the CPU twin
// (src/ops/transformer/augment_draw.hpp), so outputs are bit-equal. step is read on the device.
#include "ops/augment_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/transformer/augment_draw.hpp"
#include "ops/transformer/transformer_checks.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void augment_crop_flip_kernel(const float* __restrict__ x, AugmentDims a, int64_t pad,
                                         bool flip, float pad_value, uint64_t seed,
                                         const int64_t* __restrict__ step, int64_t sample_offset,
                                         float* __restrict__ y) {
  const auto step_value = static_cast<uint64_t>(step[0]);
  const int64_t per_sample = a.height * a.width * a.channels;
  for (int64_t b = blockIdx.x; b < a.batch; b += gridDim.x) {
    const AugmentDraw d =
        augment_draw(seed, step_value, static_cast<uint64_t>(sample_offset + b), pad, flip);
    const float* src = x + b * per_sample;
    float* dst = y + b * per_sample;
    for (int64_t e = threadIdx.x; e < per_sample; e += blockDim.x) {
      const int64_t s = augment_source_index(d, pad, a.height, a.width, a.channels, e);
      dst[e] = s < 0 ? pad_value : src[s];
    }
  }
}

}  // namespace

void augment_crop_flip(const Tensor& x, int64_t pad, bool flip, float pad_value, uint64_t seed,
                       const Tensor& step, int64_t sample_offset, Tensor& y) {
  constexpr const char* op = "augment_crop_flip";
  const AugmentDims a = check_augment_args(x, pad, step, sample_offset, y);
  check_arg(op, "x", x, x.device(), DType::f32);
  if (x.numel() == 0) return;
  const auto blocks = static_cast<unsigned>(a.batch < 65535 ? a.batch : 65535);
  augment_crop_flip_kernel<<<blocks, kThreads, 0, stream(x.device())>>>(
      x.data<float>(), a, pad, flip, pad_value, seed, step.data<int64_t>(), sample_offset,
      y.data<float>());
  KASMINA_LAUNCH_CHECK("augment_crop_flip_kernel");
}

}  // namespace kasmina::ops::cuda
