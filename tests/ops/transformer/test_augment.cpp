// augment_crop_flip (CPU twin): identity without padding or flips, flips undone by a second flip
// with the same draw, crop offsets covering [0, 2·pad] evenly and flips half the time, the
// padding value, determinism from (seed, step) and the role of the sample offset.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/rng.hpp"
#include "ops/augment_ops.hpp"
#include "tests/ops/cpu/op_test_utils.hpp"

namespace kasmina {
namespace {

Tensor step_tensor(int64_t step) {
  return Tensor::from_vector<int64_t>({step}, {1});
}

Tensor random_images(const Shape& shape, uint64_t seed) {
  Rng rng(seed);
  return ops::cpu_test::random_tensor(rng, shape, DType::f32, 0.0, 1.0);
}

Tensor augment(const Tensor& x, int64_t pad, bool flip, uint64_t seed, int64_t step,
               int64_t offset = 0, float pad_value = 0.0f) {
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  ops::augment_crop_flip(x, pad, flip, pad_value, seed, step_tensor(step), offset, y);
  return y;
}

TEST(Augment, NoPaddingNoFlipIsTheIdentity) {
  const Tensor x = random_images({6, 5, 7, 3}, 1);
  for (int64_t step : {0, 1, 99}) {
    EXPECT_EQ(augment(x, 0, false, 42, step).to_vector<float>(), x.to_vector<float>());
  }
  Rng rng(2);
  const Tensor x64 = ops::cpu_test::random_tensor(rng, {2, 3, 3, 1}, DType::f64);
  EXPECT_EQ(augment(x64, 0, false, 1, 5).to_vector<double>(), x64.to_vector<double>());
}

// pad 0: only flips. The same (seed, step) flips the same samples, so flipping twice restores x;
// and some samples (about half) were flipped in between.
TEST(Augment, FlippingTwiceRestoresTheImages) {
  const Shape shape{64, 4, 5, 2};
  const Tensor x = random_images(shape, 3);
  const Tensor once = augment(x, 0, true, 7, 11);
  EXPECT_EQ(augment(once, 0, true, 7, 11).to_vector<float>(), x.to_vector<float>());
  const std::vector<float> a = x.to_vector<float>(), b = once.to_vector<float>();
  const int64_t per = 4 * 5 * 2;
  int flipped = 0;
  for (int64_t s = 0; s < 64; ++s) {
    bool same = true, mirrored = true;
    for (int64_t i = 0; i < 4; ++i) {
      for (int64_t j = 0; j < 5; ++j) {
        for (int64_t c = 0; c < 2; ++c) {
          const float out = b[s * per + (i * 5 + j) * 2 + c];
          same = same && out == a[s * per + (i * 5 + j) * 2 + c];
          mirrored = mirrored && out == a[s * per + (i * 5 + (4 - j)) * 2 + c];
        }
      }
    }
    EXPECT_TRUE(same || mirrored) << "sample " << s;
    flipped += mirrored ? 1 : 0;
  }
  EXPECT_GT(flipped, 16);
  EXPECT_LT(flipped, 48);
}

// Pixel (i, j) of an 8x8 image holds 1 + 8i + j. With pad 2 the output's pixels (4, 3) and (4, 4)
// always come from inside the image and reveal the sample's draw: row 4 + oy - 2, and columns
// 3/4 + ox - 2 in order (no flip) or reversed (flip).
struct Draws {
  std::vector<int> oy, ox;
  int flips = 0, padded = 0;
};

Draws observe(int64_t samples, int64_t pad, bool flip, float pad_value) {
  std::vector<float> img(64);
  for (int i = 0; i < 64; ++i) img[i] = static_cast<float>(1 + i);
  std::vector<float> batch;
  for (int64_t s = 0; s < samples; ++s) batch.insert(batch.end(), img.begin(), img.end());
  const Tensor y =
      augment(Tensor::from_vector(batch, {samples, 8, 8, 1}), pad, flip, 2024, 5, 0, pad_value);
  const std::vector<float> v = y.to_vector<float>();
  Draws d;
  d.oy.assign(static_cast<size_t>(2 * pad + 1), 0);
  d.ox.assign(static_cast<size_t>(2 * pad + 1), 0);
  for (int64_t s = 0; s < samples; ++s) {
    const auto a = static_cast<int>(v[s * 64 + 4 * 8 + 3]) - 1,
               b = static_cast<int>(v[s * 64 + 4 * 8 + 4]) - 1;
    const bool flipped = a > b;
    d.flips += flipped ? 1 : 0;
    d.oy[a / 8 - 4 + pad] += 1;
    d.ox[std::min(a, b) % 8 - 3 + pad] += 1;
    for (int64_t e = 0; e < 64; ++e) d.padded += v[s * 64 + e] == pad_value ? 1 : 0;
  }
  return d;
}

TEST(Augment, CropOffsetsCoverTheRangeEvenlyAndFlipsHalfTheTime) {
  const int64_t samples = 5000, pad = 2;
  const Draws d = observe(samples, pad, true, -3.0f);
  // 1000 expected per offset; the binomial standard deviation is 28: ±150 is more than 5 sigma.
  for (int k = 0; k <= 2 * pad; ++k) {
    EXPECT_NEAR(d.oy[k], samples / 5, 150) << "row offset " << k;
    EXPECT_NEAR(d.ox[k], samples / 5, 150) << "column offset " << k;
  }
  EXPECT_NEAR(d.flips, samples / 2, 175);  // sd 35
  EXPECT_GT(d.padded, 0);                  // off-centre crops show the padding value
  // Without flips nothing is mirrored; the offsets are drawn the same way.
  const Draws plain = observe(samples, pad, false, -3.0f);
  EXPECT_EQ(plain.flips, 0);
  EXPECT_EQ(plain.oy, d.oy);
  EXPECT_EQ(plain.ox, d.ox);
}

TEST(Augment, SameSeedAndStepGiveTheSameOutputOthersDiffer) {
  const Tensor x = random_images({32, 6, 6, 1}, 9);
  const std::vector<float> base = augment(x, 2, true, 77, 10).to_vector<float>();
  EXPECT_EQ(augment(x, 2, true, 77, 10).to_vector<float>(), base);
  EXPECT_NE(augment(x, 2, true, 77, 11).to_vector<float>(), base);  // next step
  EXPECT_NE(augment(x, 2, true, 78, 10).to_vector<float>(), base);  // other seed
  EXPECT_NE(base, x.to_vector<float>());
}

// Sample n's draw depends on sample_offset + b only: a batch starting at offset 3 equals samples
// 3.. of a larger batch of the same images.
TEST(Augment, SampleOffsetSelectsTheDrawsOfTheGlobalBatch) {
  const Tensor x = random_images({1, 5, 5, 1}, 4);
  const std::vector<float> one = x.to_vector<float>();
  std::vector<float> many;
  for (int i = 0; i < 8; ++i) many.insert(many.end(), one.begin(), one.end());
  const std::vector<float> whole =
      augment(Tensor::from_vector(many, {8, 5, 5, 1}), 1, true, 5, 2).to_vector<float>();
  for (int64_t k = 0; k < 8; ++k) {
    const std::vector<float> part = augment(x, 1, true, 5, 2, k).to_vector<float>();
    EXPECT_EQ(part, std::vector<float>(whole.begin() + k * 25, whole.begin() + (k + 1) * 25))
        << "offset " << k;
  }
}

TEST(Augment, RefusesBadArguments) {
  const Tensor x = random_images({2, 4, 4, 1}, 1);
  Tensor y = Tensor::empty({2, 4, 4, 1});
  EXPECT_THROW(ops::augment_crop_flip(x, -1, false, 0.0f, 1, step_tensor(0), 0, y), InternalError);
  EXPECT_THROW(ops::augment_crop_flip(x, 1, false, 0.0f, 1, step_tensor(0), -2, y), InternalError);
  Tensor alias = x;
  EXPECT_THROW(ops::augment_crop_flip(x, 1, false, 0.0f, 1, step_tensor(0), 0, alias),
               InternalError);
  Tensor flat = Tensor::empty({2, 16});
  EXPECT_THROW(ops::augment_crop_flip(flat, 1, false, 0.0f, 1, step_tensor(0), 0, flat),
               InternalError);
}

}  // namespace
}  // namespace kasmina
