// CPU batch gather from uint8 and float32 images at a cursor past the first batch.
#include <gtest/gtest.h>

#include "ops/backend_ops.hpp"

namespace kasmina::ops {
namespace {

TEST(CpuGatherBatch, Uint8ImagesAtCursor) {
  // 5 images of 3 pixels; image r holds pixels 10r, 10r+1, 10r+2 and label 100+r.
  std::vector<uint8_t> pixels;
  for (uint8_t r = 0; r < 5; ++r) {
    for (uint8_t j = 0; j < 3; ++j) pixels.push_back(static_cast<uint8_t>(10 * r + j));
  }
  const Tensor images = Tensor::from_vector<uint8_t>(pixels, {5, 3});
  const Tensor labels = Tensor::from_vector<int32_t>({100, 101, 102, 103, 104}, {5});
  const Tensor perm = Tensor::from_vector<int32_t>({4, 0, 3, 1, 2, 0}, {6});
  const Tensor cursor = Tensor::from_vector<int64_t>({1}, {1});
  Tensor x = Tensor::empty({2, 3}), y = Tensor::empty({2}, DType::i32);
  const float scale = 0.5f, shift = -1.0f;
  cpu::gather_batch(images, labels, perm, cursor, scale, shift, x, y);
  // cursor 1, batch 2: rows perm[2] = 3 and perm[3] = 1.
  EXPECT_EQ(x.to_vector<float>(),
            (std::vector<float>{30 * 0.5f - 1, 31 * 0.5f - 1, 32 * 0.5f - 1, 10 * 0.5f - 1,
                                11 * 0.5f - 1, 12 * 0.5f - 1}));
  EXPECT_EQ(y.to_vector<int32_t>(), (std::vector<int32_t>{103, 101}));

  // The last full batch reads perm[4], perm[5].
  const Tensor last = Tensor::from_vector<int64_t>({2}, {1});
  cpu::gather_batch(images, labels, perm, last, 1.0f, 0.0f, x, y);
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{20, 21, 22, 0, 1, 2}));
  EXPECT_EQ(y.to_vector<int32_t>(), (std::vector<int32_t>{102, 100}));

  // A cursor past the end of perm is refused.
  const Tensor past = Tensor::from_vector<int64_t>({3}, {1});
  EXPECT_THROW(cpu::gather_batch(images, labels, perm, past, 1.0f, 0.0f, x, y), InternalError);
}

TEST(CpuGatherBatch, Float32ImagesAtCursor) {
  const Tensor images =
      Tensor::from_vector<float>({0.5f, -1.0f, 2.0f, 4.0f, 8.0f, -0.25f, 1.5f, 3.0f}, {4, 2});
  const Tensor labels = Tensor::from_vector<int32_t>({7, 8, 9, 6}, {4});
  const Tensor perm = Tensor::from_vector<int32_t>({3, 2, 1, 0}, {4});
  const Tensor cursor = Tensor::from_vector<int64_t>({1}, {1});
  Tensor x = Tensor::empty({2, 2}), y = Tensor::empty({2}, DType::i32);
  cpu::gather_batch(images, labels, perm, cursor, 2.0f, 0.5f, x, y);
  // cursor 1, batch 2: rows perm[2] = 1 and perm[3] = 0.
  EXPECT_EQ(x.to_vector<float>(), (std::vector<float>{2.0f * 2 + 0.5f, 4.0f * 2 + 0.5f,
                                                      0.5f * 2 + 0.5f, -1.0f * 2 + 0.5f}));
  EXPECT_EQ(y.to_vector<int32_t>(), (std::vector<int32_t>{8, 7}));
}

TEST(CpuGatherBatch, RejectsPermEntriesOutsideTheDataset) {
  const Tensor images = Tensor::zeros({2, 2}, DType::u8);
  const Tensor labels = Tensor::zeros({2}, DType::i32);
  const Tensor perm = Tensor::from_vector<int32_t>({0, 2}, {2});
  const Tensor cursor = Tensor::from_vector<int64_t>({0}, {1});
  Tensor x = Tensor::empty({2, 2}), y = Tensor::empty({2}, DType::i32);
  EXPECT_THROW(cpu::gather_batch(images, labels, perm, cursor, 1.0f, 0.0f, x, y), InternalError);
}

}  // namespace
}  // namespace kasmina::ops
