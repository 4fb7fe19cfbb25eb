// Op table entry of the device data augmentation (random crop from a padded image + horizontal
// flip): CUDA must equal the CPU twin exactly (same Philox draws, same index map) for every pad,
// flip setting, step, sample offset and shape, including a padding wider than the image. Not
// differentiable (it acts on the input batch).
#include <string>
#include <vector>

#include "ops/augment_ops.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::cuda_test {
namespace {

std::string augment_what(const Shape& s, int64_t pad, bool flip, int64_t step, int64_t offset) {
  return "augment_crop_flip " + op_table::shape_name(s) + " pad " + std::to_string(pad) +
         (flip ? " flip" : " noflip") + " step " + std::to_string(step) + " offset " +
         std::to_string(offset);
}

void augment_case(const Shape& shape) {
  const Tensor x = random_f32(shape, 61 + static_cast<uint64_t>(shape_numel(shape)));
  const Tensor x_gpu = on_gpu(x);
  const uint64_t seed = 0x5eed0123456789abULL;
  for (int64_t pad : {0, 1, 2, 4}) {
    for (bool flip : {false, true}) {
      for (int64_t step : {int64_t{0}, int64_t{12345}, int64_t{1} << 33}) {
        for (int64_t offset : {0, 1000}) {
          const Tensor step_cpu = Tensor::from_vector<int64_t>({step}, {1});
          Tensor y_cpu = Tensor::empty(shape);
          ops::augment_crop_flip(x, pad, flip, -0.5f, seed, step_cpu, offset, y_cpu);
          Tensor y_gpu = poisoned(shape, DType::f32);
          ops::augment_crop_flip(x_gpu, pad, flip, -0.5f, seed, on_gpu(step_cpu), offset, y_gpu);
          EXPECT_TRUE(same(augment_what(shape, pad, flip, step, offset), y_gpu, y_cpu));
        }
      }
    }
  }
}

const std::vector<Shape>& augment_shapes() {
  static const std::vector<Shape> v = {
      {1, 1, 1, 1}, {128, 28, 28, 1}, {3, 32, 32, 3}, {5, 7, 9, 2}, {70000, 2, 3, 1}};
  return v;
}

void augment_perf() {
  const Device dev = op_table::perf_device();
  const Tensor x = random_f32({128, 28, 28, 1}, 1).to(dev);
  const Tensor step = Tensor::from_vector<int64_t>({3}, {1}).to(dev);
  Tensor y = Tensor::empty(x.shape(), DType::f32, dev);
  op_table::time_op("augment_crop_flip B128 28x28x1 pad 2 flip", dev,
                    [&] { ops::augment_crop_flip(x, 2, true, 0.0f, 7, step, 0, y); });
}

}  // namespace
}  // namespace kasmina::cuda_test

namespace kasmina::op_table {

KASMINA_OP_TABLE_ENTRY(augment_crop_flip) {
  OpTestEntry e;  // no gradient cases: it acts on the input batch
  e.ops = {"augment_crop_flip"};
  e.correctness = [] {
    return cases_over(cuda_test::augment_shapes(), &shape_name, &cuda_test::augment_case);
  };
  e.perf = [] { return std::vector<OpCase>{{"B128_28x28x1", &cuda_test::augment_perf}}; };
  return e;
}

}  // namespace kasmina::op_table
