#include "data/normalization.hpp"

#include <array>
#include <cmath>
#include <string>

#include "core/error.hpp"

namespace kasmina::data {

PixelStatistics pixel_statistics(const Tensor& images_u8) {
  KASMINA_CHECK(images_u8.device().is_cpu(), "pixel_statistics needs a CPU tensor");
  const uint8_t* p = images_u8.data<uint8_t>();
  const int64_t n = images_u8.numel();
  std::array<uint64_t, 256> histogram{};
  for (int64_t i = 0; i < n; ++i) ++histogram[p[i]];
  PixelStatistics s;
  if (n == 0) return s;
  double sum = 0.0;
  for (int v = 0; v < 256; ++v) sum += static_cast<double>(histogram[v]) * (v / 255.0);
  s.mean = sum / static_cast<double>(n);
  double squares = 0.0;
  for (int v = 0; v < 256; ++v) {
    const double d = v / 255.0 - s.mean;
    squares += static_cast<double>(histogram[v]) * d * d;
  }
  s.std = std::sqrt(squares / static_cast<double>(n));
  return s;
}

Affine standardizing_affine(const PixelStatistics& s, const std::string& what) {
  if (!(s.std > 0.0))
    throw UserError(what +
                    ": every training pixel has the same value, so it cannot be "
                    "normalised (set data.normalize: false)");
  return {static_cast<float>(1.0 / (255.0 * s.std)), static_cast<float>(-s.mean / s.std)};
}

}  // namespace kasmina::data
