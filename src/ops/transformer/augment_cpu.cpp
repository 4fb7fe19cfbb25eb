// CPU twin of augment_crop_flip: the draw and the source index come from augment_draw.hpp, which
// the CUDA kernel shares, so the two devices copy the same pixels (semantics: augment_ops.hpp).
#include "ops/augment_ops.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/transformer/augment_draw.hpp"
#include "ops/transformer/transformer_checks.hpp"

namespace kasmina::ops::cpu {

void augment_crop_flip(const Tensor& x, int64_t pad, bool flip, float pad_value, uint64_t seed,
                       const Tensor& step, int64_t sample_offset, Tensor& y) {
  constexpr const char* op = "augment_crop_flip";
  const AugmentDims a = check_augment_args(x, pad, step, sample_offset, y);
  check_cpu_tensor(op, "x", x);
  const auto step_value = static_cast<uint64_t>(read_counter(op, "step", step));
  const int64_t per_sample = a.height * a.width * a.channels;
  dispatch_float(op, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T fill = static_cast<T>(pad_value);
    for (int64_t b = 0; b < a.batch; ++b) {
      const AugmentDraw d =
          augment_draw(seed, step_value, static_cast<uint64_t>(sample_offset + b), pad, flip);
      const T* src = x.data<T>() + b * per_sample;
      T* dst = y.data<T>() + b * per_sample;
      for (int64_t e = 0; e < per_sample; ++e) {
        const int64_t s = augment_source_index(d, pad, a.height, a.width, a.channels, e);
        dst[e] = s < 0 ? fill : src[s];
      }
    }
  });
}

}  // namespace kasmina::ops::cpu
