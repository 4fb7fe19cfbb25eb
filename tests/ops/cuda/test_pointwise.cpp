// Standalone activations, dropout, fill, counter_add, column_sums and gather_batch against the
// CPU twins.
#include <algorithm>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "tests/ops/cuda/compare.hpp"

namespace kasmina::cuda_test {
namespace {

using ops::Activation;

const std::vector<Shape>& pointwise_shapes() {
  static const std::vector<Shape> shapes = {{1, 1},      {1, 3},       {7, 10},  {129, 33},
                                            {1000, 784}, {4099, 1023}, {8192, 4}};
  return shapes;
}

std::string shape_name(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

class PointwiseVsCpu : public ::testing::TestWithParam<Shape> {
 protected:
  void SetUp() override { KASMINA_REQUIRE_CUDA(); }
};

TEST_P(PointwiseVsCpu, Activations) {
  const Shape shape = GetParam();
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    const std::string what = std::string(ops::activation_name(act));
    const Tensor x = random_f32(shape, 11 + shape_numel(shape), -3.0f, 3.0f);
    const Tensor dy = random_f32(shape, 12 + shape_numel(shape));
    Tensor y_cpu = Tensor::empty(shape), dx_cpu = Tensor::empty(shape);
    ops::activation_forward(act, x, y_cpu);
    ops::activation_backward(act, dy, x, dx_cpu);
    Tensor y_gpu = poisoned(shape, DType::f32), dx_gpu = poisoned(shape, DType::f32);
    ops::activation_forward(act, on_gpu(x), y_gpu);
    ops::activation_backward(act, on_gpu(dy), on_gpu(x), dx_gpu);
    EXPECT_TRUE(close("activation_forward " + what, y_gpu, y_cpu, 1e-5));
    EXPECT_TRUE(close("activation_backward " + what, dx_gpu, dx_cpu, 1e-5));
  }
}

TEST_P(PointwiseVsCpu, Dropout) {
  const Shape shape = GetParam();
  for (float p : {0.0f, 0.1f, 0.5f, 0.9f}) {
    for (int64_t step : {0, 7}) {
      const std::string what = "dropout p=" + std::to_string(p) + " step=" + std::to_string(step);
      const uint64_t seed = 0x1234567890abcdefULL;
      const uint32_t rng_stream = 3;
      const Tensor x = random_f32(shape, 21 + step);
      const Tensor dy = random_f32(shape, 22 + step);
      const Tensor step_cpu = Tensor::from_vector<int64_t>({step}, {1});
      Tensor y_cpu = Tensor::empty(shape), mask_cpu = Tensor::empty(shape, DType::u8);
      Tensor dx_cpu = Tensor::empty(shape);
      ops::dropout_forward(x, p, seed, rng_stream, step_cpu, y_cpu, mask_cpu);
      ops::dropout_backward(dy, mask_cpu, p, dx_cpu);
      Tensor y_gpu = poisoned(shape, DType::f32), mask_gpu = poisoned(shape, DType::u8);
      Tensor dx_gpu = poisoned(shape, DType::f32);
      ops::dropout_forward(on_gpu(x), p, seed, rng_stream, on_gpu(step_cpu), y_gpu, mask_gpu);
      ops::dropout_backward(on_gpu(dy), mask_gpu, p, dx_gpu);
      EXPECT_TRUE(same(what + " mask", mask_gpu, mask_cpu));
      EXPECT_TRUE(same(what + " y", y_gpu, y_cpu));
      EXPECT_TRUE(same(what + " dx", dx_gpu, dx_cpu));
    }
  }
}

TEST_P(PointwiseVsCpu, FillAndCounter) {
  const Shape shape = GetParam();
  for (DType dt : {DType::f32, DType::f64, DType::i32, DType::i64}) {
    Tensor cpu = Tensor::empty(shape, dt);
    ops::fill(cpu, -37.0);
    Tensor g = poisoned(shape, dt);
    ops::fill(g, -37.0);
    EXPECT_TRUE(same(std::string("fill ") + dtype_name(dt), g, cpu));
  }
  Tensor counter_cpu = Tensor::from_vector<int64_t>({41}, {1});
  Tensor counter_gpu = on_gpu(counter_cpu);
  for (int64_t delta : {1, -5, 1000000007}) {
    ops::counter_add(counter_cpu, delta);
    ops::counter_add(counter_gpu, delta);
  }
  EXPECT_TRUE(same("counter_add", counter_gpu, counter_cpu));
  // A vector of counters, every element advanced by one launch; the largest allowed length.
  std::vector<int64_t> start(static_cast<size_t>(ops::kMaxCounters));
  std::iota(start.begin(), start.end(), -20);
  Tensor many_cpu = Tensor::from_vector<int64_t>(start, {ops::kMaxCounters});
  Tensor many_gpu = on_gpu(many_cpu);
  ops::counter_add(many_cpu, 3);
  ops::counter_add(many_gpu, 3);
  EXPECT_TRUE(same("counter_add vector", many_gpu, many_cpu));
  EXPECT_EQ(many_gpu.to(Device::cpu()).to_vector<int64_t>().back(), ops::kMaxCounters - 20 + 2);
}

TEST_P(PointwiseVsCpu, ColumnSums) {
  const Shape shape = GetParam();
  const Tensor x = random_f32(shape, 9000 + static_cast<uint64_t>(shape[0] * 31 + shape[1]));
  Tensor cpu = Tensor::empty({shape[1]});
  ops::column_sums(x, cpu);
  Tensor g = poisoned({shape[1]}, DType::f32);
  ops::column_sums(on_gpu(x), g);
  // Float partial sums on the GPU against a double accumulation: ~sqrt(rows) ulps.
  EXPECT_TRUE(close("column_sums", g, cpu, 1e-5));
  Tensor again = poisoned({shape[1]}, DType::f32);
  ops::column_sums(on_gpu(x), again);
  EXPECT_TRUE(bitwise_equal("column_sums run to run", again, g));
}

INSTANTIATE_TEST_SUITE_P(Ops, PointwiseVsCpu, ::testing::ValuesIn(pointwise_shapes()),
                         [](const ::testing::TestParamInfo<Shape>& i) {
                           return shape_name(i.param);
                         });

// ---- gather_batch ----

struct GatherCase {
  int64_t rows, width, batch;
  DType pixels;
};

class GatherVsCpu : public ::testing::TestWithParam<GatherCase> {
 protected:
  void SetUp() override { KASMINA_REQUIRE_CUDA(); }
};

TEST_P(GatherVsCpu, Batch) {
  const GatherCase c = GetParam();
  std::mt19937_64 rng(static_cast<uint64_t>(c.rows * 31 + c.width * 7 + c.batch));
  Tensor images;
  if (c.pixels == DType::u8) {
    std::vector<uint8_t> v(static_cast<size_t>(c.rows * c.width));
    for (uint8_t& p : v) p = static_cast<uint8_t>(rng() & 0xff);
    images = Tensor::from_vector(v, {c.rows, c.width});
  } else {
    images = random_f32({c.rows, c.width}, rng());
  }
  std::vector<int32_t> labels(static_cast<size_t>(c.rows));
  for (int32_t& l : labels) l = static_cast<int32_t>(rng() % 10);
  std::vector<int32_t> perm(static_cast<size_t>(c.rows));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  const Tensor labels_t = Tensor::from_vector(labels, {c.rows});
  const Tensor perm_t = Tensor::from_vector(perm, {c.rows});
  const int64_t batches = c.rows / c.batch;
  for (int64_t cursor : {int64_t{0}, batches - 1}) {
    const std::string what =
        std::string("gather_batch ") + dtype_name(c.pixels) + " rows=" + std::to_string(c.rows) +
        " width=" + std::to_string(c.width) + " batch=" + std::to_string(c.batch) +
        " cursor=" + std::to_string(cursor);
    const Tensor cursor_t = Tensor::from_vector<int64_t>({cursor}, {1});
    Tensor x_cpu = Tensor::empty({c.batch, c.width}), y_cpu = Tensor::empty({c.batch}, DType::i32);
    ops::gather_batch(images, labels_t, perm_t, cursor_t, 1.0f / 255.0f, -0.5f, x_cpu, y_cpu);
    Tensor x_gpu = poisoned({c.batch, c.width}, DType::f32);
    Tensor y_gpu = poisoned({c.batch}, DType::i32);
    ops::gather_batch(on_gpu(images), on_gpu(labels_t), on_gpu(perm_t), on_gpu(cursor_t),
                      1.0f / 255.0f, -0.5f, x_gpu, y_gpu);
    EXPECT_TRUE(same(what + " x", x_gpu, x_cpu));
    EXPECT_TRUE(same(what + " y", y_gpu, y_cpu));
  }
}

std::vector<GatherCase> gather_cases() {
  std::vector<GatherCase> out;
  for (DType px : {DType::u8, DType::f32}) {
    for (int64_t width : {1, 3, 16, 784, 1023}) {
      out.push_back({100, width, 1, px});
      out.push_back({100, width, 7, px});
      out.push_back({9000, width, 8192, px});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Ops, GatherVsCpu, ::testing::ValuesIn(gather_cases()),
                         [](const ::testing::TestParamInfo<GatherCase>& i) {
                           return std::string(dtype_name(i.param.pixels)) + "_W" +
                                  std::to_string(i.param.width) + "_B" +
                                  std::to_string(i.param.batch);
                         });

}  // namespace
}  // namespace kasmina::cuda_test
