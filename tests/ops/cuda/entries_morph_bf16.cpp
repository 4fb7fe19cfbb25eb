// Op table entry of morph_forward and morph_backward on bf16 activations (kernels/morph/
// morph_forward.cu, morph_backward.cu with the bf16 stream and seed kernels): the CPU twins
// against CUDA on random mixes of every stage. The chunks the seed kernels write (out, dx) hold
// float32 results rounded to bf16 once on each device; the two float32 results differ by float32
// rounding (the blueprint's sums contract differently), which moves a rounding boundary for a few
// elements: each element is bit for bit the twin's, one bf16 unit in the last place from it, or
// within 1e-5 of it (a result that cancels to near zero, where float32's rounding of its
// order-one terms is the difference, as in the float32 entry's bound), and at most 1% of them
// differ. Every other chunk is a copy, bit for bit. The statistics, the blueprint gradients and
// their norms (float32 from the same bf16 values) within the float32 entry's bounds; run to run
// bitwise. Shapes: both stream layouts (a block per column of seeds at 600 seeds; row tiles
// below the SM count), the 16-byte path (C % 8 == 0) and the scalar one, batch 1.
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
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::morph {
namespace {

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

std::vector<uint16_t> bits_of(const Tensor& bf) {
  std::vector<uint16_t> v;
  for (const bf16 b : bf.to_vector<bf16>()) v.push_back(b.bits);
  return v;
}

// out or dx of the two devices (bits) as the file comment says; returns how many differ from x.
int64_t expect_rounding_apart(const std::vector<uint16_t>& want, const std::vector<uint16_t>& got,
                              const std::vector<uint16_t>& x, const std::string& what) {
  EXPECT_EQ(want.size(), got.size()) << what;
  int64_t differ = 0, changed = 0;
  int reported = 0;
  for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
    changed += want[i] != x[i];
    if (want[i] == got[i]) continue;
    ++differ;
    const double apart =
        std::fabs(double{bf16_bits_to_float(want[i])} - bf16_bits_to_float(got[i]));
    if (std::abs(int{want[i]} - int{got[i]}) != 1 && apart > 1e-5 && reported++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: cpu " << bf16_bits_to_float(want[i]) << " cuda "
                    << bf16_bits_to_float(got[i]) << " (more than one unit and 1e-5 apart)";
  }
  EXPECT_LE(differ * 100, static_cast<int64_t>(want.size())) << what;
  return changed;
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

  const std::vector<uint16_t> got = bits_of(og), x = bits_of(xc);
  const int64_t blended = expect_rounding_apart(bits_of(oc), got, x, half_name(k) + " out");
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
  EXPECT_EQ(got, bits_of(og2)) << half_name(k) << ": second run";
  EXPECT_EQ(stats, gpu.layer.buffers().step_stats.to_vector<float>()) << half_name(k);

  // The backward of that forward.
  const Tensor dyc = to_bf16(testing::random_tensor<float>(xc.shape(), 400 + k.batch));
  const Tensor dyg = dyc.to(Device::cuda(0));
  Tensor dxc = Tensor::zeros(xc.shape(), DType::bf16);
  Tensor dxg = Tensor::zeros(xc.shape(), DType::bf16, Device::cuda(0));
  ops::morph_backward(cpu.layer.buffers(), xc, dyc, &dxc, true);
  ops::morph_backward(gpu.layer.buffers(), xg, dyg, &dxg, true);
  const std::vector<uint16_t> dx_gpu = bits_of(dxg);
  expect_rounding_apart(bits_of(dxc), dx_gpu, bits_of(dyc), half_name(k) + " dx");
  const double grad_abs = 2e-5 * std::sqrt(std::max<double>(1.0, k.batch / 64.0));
  const std::vector<float> pool_gpu = gpu.layer.buffers().pool.to_vector<float>();
  expect_all_close(cpu.layer.buffers().pool.to_vector<float>(), pool_gpu, 1e-3, grad_abs,
                   half_name(k) + " pool after backward (gradients)");
  expect_all_close(cpu.layer.buffers().grad_norm.to_vector<float>(),
                   gpu.layer.buffers().grad_norm.to_vector<float>(), 1e-3, 1e-5,
                   half_name(k) + " grad_norm");
  Tensor dxg2 = Tensor::zeros(xc.shape(), DType::bf16, Device::cuda(0));
  ops::morph_backward(gpu.layer.buffers(), xg, dyg, &dxg2, true);
  EXPECT_EQ(dx_gpu, bits_of(dxg2)) << half_name(k) << ": second backward";
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
