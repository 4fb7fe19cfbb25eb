// Pixel statistics for normalising uint8 images: x = pixel * scale + shift.
#pragma once
#include <string>

#include "core/tensor.hpp"

namespace kasmina::data {

struct PixelStatistics {
  double mean = 0.0;  // of pixel / 255, over every pixel of every image
  double std = 0.0;   // population standard deviation of pixel / 255
};

// Exact statistics of a uint8 CPU tensor (a 256-bin histogram, summed in double).
PixelStatistics pixel_statistics(const Tensor& images_u8);

struct Affine {
  float scale = 1.0f;
  float shift = 0.0f;
};

// scale = 1 / (255 std), shift = -mean / std, so that x = (pixel / 255 - mean) / std.
// A zero std (constant pixels) is a UserError: the data cannot be normalised.
Affine standardizing_affine(const PixelStatistics& s, const std::string& what);

// scale = 1 / 255, shift = 0: pixels mapped to [0, 1].
constexpr Affine unit_range_affine() {
  return {1.0f / 255.0f, 0.0f};
}

}  // namespace kasmina::data
