// Op table entry of morph_forward and morph_backward on bf16 activations (kernels/morph/
// morph_forward.cu, morph_backward.cu with the bf16 stream and seed kernels): the CPU twins
// against CUDA on random mixes of every stage. The chunks the seed kernels write (out, dx) hold
// float32 results rounded to bf16 once on each device, within the bound of
// bf16_rounding_compare.hpp; every other chunk is a copy, bit for bit. The statistics, the
// blueprint gradients and their norms (float32 from the same bf16 values) within the float32
// entry's bounds; run to run bitwise. Shapes: both stream layouts (a block per column of seeds at
// 600 seeds; row tiles below the SM count), the 16-byte path (C % 8 == 0) and the scalar one,
// batch 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/bf16.hpp"
#include "ops/morph/morph_ops.hpp"
#include "tests/morph/morph_test_util.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"
#include "tests/ops/cuda/bf16_rounding_compare.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::morph {
namespace {

using ops::bf16_test::bits;
using ops::bf16_test::expect_rounding_apart;
using ops::bf16_test::to_bf16;
using testing::expect_all_close;
using testing::MixedStageLayer;

struct HalfCase {
  int32_t seeds, chunk;
  int64_t batch;
};

std::string half_name(const HalfCase& k) {
  return op_table::dims({{"S", k.seeds}, {"C", k.chunk}, {"B", k.batch}});
}

void forward_agrees(const HalfCase& k) {
  const uint64_t mix = static_cast<uint64_t>(k.seeds) * 17 + k.chunk;
  MixedStageLayer cpu(k.seeds, k.chunk, k.batch, Device::cpu(), mix);
  MixedStageLayer gpu(k.seeds, k.chunk, k.batch, Device::cuda(0), mix);
  const Tensor xc = to_bf16(testing::random_tensor<float>(cpu.x.shape(), 300 + k.batch));
  const Tensor xg = xc.to(Device::cuda(0));
  Tensor oc = Tensor::zeros(xc.shape(), DType::bf16);
  Tensor og = Tensor::zeros(xc.shape(), DType::bf16, Device::cuda(0));
  const ops::MorphForwardOptions opt;
  ops::morph_forward(cpu.layer.buffers(), xc, oc, opt);
  ops::morph_forward(gpu.layer.buffers(), xg, og, opt);

  const std::vector<uint16_t> got = bits(og), x = bits(xc);
  const int64_t blended = expect_rounding_apart(bits(oc), got, half_name(k) + " out", &x);
  if (k.seeds >= 9) {
    EXPECT_GT(blended, 0) << half_name(k) << ": no seed blended";
  }
  expect_all_close(cpu.layer.buffers().step_stats.to_vector<float>(),
                   gpu.layer.buffers().step_stats.to_vector<float>(), 1e-4, 1e-6,
                   half_name(k) + " step_stats");
  const std::vector<double> tc = cpu.layer.buffers().telemetry.to_vector<double>(),
                            tg = gpu.layer.buffers().telemetry.to_vector<double>();
  expect_all_close(std::vector<float>(tc.begin(), tc.end()),
                   std::vector<float>(tg.begin(), tg.end()), 1e-5, 1e-4,
                   half_name(k) + " telemetry");

  // Run to run: the same bits, the same step measurements.
  const std::vector<float> stats = gpu.layer.buffers().step_stats.to_vector<float>();
  Tensor og2 = Tensor::zeros(xc.shape(), DType::bf16, Device::cuda(0));
  ops::morph_forward(gpu.layer.buffers(), xg, og2, opt);
  EXPECT_EQ(got, bits(og2)) << half_name(k) << ": second run";
  EXPECT_EQ(stats, gpu.layer.buffers().step_stats.to_vector<float>()) << half_name(k);

  // The backward of that forward.
  const Tensor dyc = to_bf16(testing::random_tensor<float>(xc.shape(), 400 + k.batch));
  const Tensor dyg = dyc.to(Device::cuda(0));
  Tensor dxc = Tensor::zeros(xc.shape(), DType::bf16);
  Tensor dxg = Tensor::zeros(xc.shape(), DType::bf16, Device::cuda(0));
  ops::morph_backward(cpu.layer.buffers(), xc, dyc, &dxc, true);
  ops::morph_backward(gpu.layer.buffers(), xg, dyg, &dxg, true);
  const std::vector<uint16_t> dx_gpu = bits(dxg);
  expect_rounding_apart(bits(dxc), dx_gpu, half_name(k) + " dx");
  const double grad_abs = 2e-5 * std::sqrt(std::max<double>(1.0, k.batch / 64.0));
  const std::vector<float> pool_gpu = gpu.layer.buffers().pool.to_vector<float>();
  expect_all_close(cpu.layer.buffers().pool.to_vector<float>(), pool_gpu, 1e-3, grad_abs,
                   half_name(k) + " pool after backward (gradients)");
  expect_all_close(cpu.layer.buffers().grad_norm.to_vector<float>(),
                   gpu.layer.buffers().grad_norm.to_vector<float>(), 1e-3, 1e-5,
                   half_name(k) + " grad_norm");
  Tensor dxg2 = Tensor::zeros(xc.shape(), DType::bf16, Device::cuda(0));
  ops::morph_backward(gpu.layer.buffers(), xg, dyg, &dxg2, true);
  EXPECT_EQ(dx_gpu, bits(dxg2)) << half_name(k) << ": second backward";
  EXPECT_EQ(pool_gpu, gpu.layer.buffers().pool.to_vector<float>()) << half_name(k);
}

void forward_perf(const HalfCase& k) {
  const Device dev = op_table::perf_device();
  MixedStageLayer rig(k.seeds, k.chunk, k.batch, dev, static_cast<uint64_t>(k.seeds) * 7);
  const Tensor x = to_bf16(rig.x);
  Tensor out = Tensor::zeros(x.shape(), DType::bf16, dev);
  const ops::MorphForwardOptions opt;
  const Tensor dy = to_bf16(rig.dy);
  Tensor dx = Tensor::zeros(x.shape(), DType::bf16, dev);
  op_table::time_op("morph_forward bf16 " + half_name(k), dev,
                    [&] { ops::morph_forward(rig.layer.buffers(), x, out, opt); });
  op_table::time_op("morph_backward bf16 " + half_name(k), dev,
                    [&] { ops::morph_backward(rig.layer.buffers(), x, dy, &dx, true); });
}

}  // namespace
}  // namespace kasmina::morph

namespace kasmina::op_table {

KASMINA_OP_TABLE_ENTRY(morph_bf16) {
  using morph::HalfCase;
  OpTestEntry e;
  e.ops = {"morph_forward", "morph_backward"};
  e.correctness = [] {
    return cases_over(std::vector<HalfCase>{{600, 16, 64},
                                            {601, 16, 64},  // a partial last whole column
                                            {200, 12, 40},
                                            {12, 16, 33},
                                            {9, 8, 1000},
                                            {7, 12, 17},
                                            {10, 3, 129},
                                            {5, 32, 1},
                                            {3, 64, 7}},
                      &morph::half_name, &morph::forward_agrees);
  };
  e.perf = [] {
    return cases_over(std::vector<HalfCase>{{1024, 16, 512}}, &morph::half_name,
                      &morph::forward_perf);
  };
  return e;
}

}  // namespace kasmina::op_table
