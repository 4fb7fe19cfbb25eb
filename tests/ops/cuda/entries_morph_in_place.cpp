// Op table entry of the in-place forward (ops::MorphForwardOptions::in_place: the stream kernel
// only reads, for the statistics, and skips the blended chunks; the seed kernel saves a blended
// seed's input rows, counts their statistics and writes its blend over them) and its backward
// (morph_backward_saved: x of the blended seeds from the saved rows and written back; dx = dy
// rewritten in its blended chunks only, or a separate dx with the copy), float32 and bf16:
// - against the CPU twin run in place (bit for bit the twin's copy ops: tests/morph/
//   test_in_place.cpp) within the float32 / bf16 entries' bounds;
// - against the same GPU's copy ops: the output, dx and the blueprint gradients bit for bit (the
//   same seed code on the same values), the statistics within float32 summation order;
// - x put back bit for bit, dy untouched when dx is apart, run to run bitwise;
// - a masked evaluation forward in place (no statistics: the seed kernel alone).
// Shapes: both stream layouts (a block per column at 1024 and 600 seeds, row tiles below the SM
// count with the fold), the 16-byte path and the scalar one, the 64-wide instantiation, batch 1.
// (Chunks past 64 put residual_mlp on the GEMM path, and such a layer never runs in place.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "ops/morph/morph_ops.hpp"
#include "tests/morph/morph_test_util.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"
#include "tests/ops/cuda/bf16_rounding_compare.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::morph {
namespace {

using testing::expect_all_close;
using testing::MixedStageLayer;

struct InPlaceCase {
  int32_t seeds, chunk;
  int64_t batch;
  bool half = false;  // bf16 activations
};

std::string in_place_name(const InPlaceCase& k) {
  return op_table::dims({{"S", k.seeds}, {"C", k.chunk}, {"B", k.batch}}) + (k.half ? "_bf16" : "");
}

// A MixedStageLayer's buffers with saved rows in the activations' type.
ops::MorphLayerBuffers with_saved(const MixedStageLayer& rig, int64_t B, DType act) {
  ops::MorphLayerBuffers L = rig.layer.buffers();
  L.saved_rows = B;
  L.saved = Tensor::empty({int64_t{L.pool_slots} * B, L.shape.chunk}, act, L.device());
  return L;
}

// Values of two devices within the float32 entry's bound, or for bf16 that of
// bf16_rounding_compare.hpp (the blends and dx rounded to bf16 once on each device).
void expect_values_close(const Tensor& want, const Tensor& got, const std::string& what) {
  if (want.dtype() == DType::f32)
    return expect_all_close(want.to_vector<float>(), got.to_vector<float>(), 1e-5, 1e-5, what);
  ops::bf16_test::expect_rounding_apart(ops::bf16_test::bits(want), ops::bf16_test::bits(got),
                                        what);
}

void in_place_agrees(const InPlaceCase& k) {
  const std::string tag = in_place_name(k);
  const DType act = k.half ? DType::bf16 : DType::f32;
  const Device gpu_dev = Device::cuda(0), cpu_dev = Device::cpu();
  const uint64_t mix = static_cast<uint64_t>(k.seeds) * 13 + k.chunk;
  MixedStageLayer cpu(k.seeds, k.chunk, k.batch, cpu_dev, mix);
  MixedStageLayer gpu(k.seeds, k.chunk, k.batch, gpu_dev, mix);
  MixedStageLayer copy(k.seeds, k.chunk, k.batch, gpu_dev, mix);  // the GPU's copy ops
  const ops::MorphLayerBuffers Lc = with_saved(cpu, k.batch, act);
  const ops::MorphLayerBuffers Lg = with_saved(gpu, k.batch, act);
  auto make = [&](uint64_t seed) {
    const Tensor f = testing::random_tensor<float>({k.batch, cpu.cfg.width}, seed);
    return k.half ? ops::bf16_test::to_bf16(f) : f;
  };
  const Tensor x = make(500 + k.batch), dy = make(600 + k.batch);
  ops::MorphForwardOptions opt, in;
  in.in_place = true;

  // Forward: the twin in place, the GPU in place, the GPU's copy.
  Tensor xc = x.to(cpu_dev), xg = x.to(gpu_dev);
  ops::morph_forward(Lc, xc, xc, in);
  ops::morph_forward(Lg, xg, xg, in);
  Tensor out = Tensor::zeros(x.shape(), act, gpu_dev);
  const Tensor xcopy = x.to(gpu_dev);
  ops::morph_forward(copy.layer.buffers(), xcopy, out, opt);
  expect_values_close(xc, xg, tag + " out against the twin");
  EXPECT_TRUE(testing::bitwise_equal(out, xg)) << tag << ": out against the copy ops";
  if (k.seeds >= 9) {
    EXPECT_FALSE(testing::bitwise_equal(x, xg)) << tag << ": nothing blended";
  }
  expect_all_close(Lc.step_stats.to_vector<float>(), Lg.step_stats.to_vector<float>(), 1e-4, 1e-6,
                   tag + " step_stats");
  expect_all_close(copy.layer.buffers().step_stats.to_vector<float>(),
                   Lg.step_stats.to_vector<float>(), 1e-5, 1e-6, tag + " step_stats (copy ops)");
  const std::vector<double> tc = Lc.telemetry.to_vector<double>(),
                            tg = Lg.telemetry.to_vector<double>();
  expect_all_close(std::vector<float>(tc.begin(), tc.end()),
                   std::vector<float>(tg.begin(), tg.end()), 1e-5, 1e-4, tag + " telemetry");

  // Backward with dx = dy on the twin and the GPU; with dx apart on the copy layer's GPU buffers.
  Tensor dyc = dy.to(cpu_dev), dyg = dy.to(gpu_dev);
  ops::morph_backward_saved(Lc, xc, dyc, &dyc, true);
  ops::morph_backward_saved(Lg, xg, dyg, &dyg, true);
  Tensor dx = Tensor::zeros(x.shape(), act, gpu_dev);
  ops::morph_backward(copy.layer.buffers(), xcopy, dy.to(gpu_dev), &dx, true);
  expect_values_close(dyc, dyg, tag + " dx against the twin");
  EXPECT_TRUE(testing::bitwise_equal(dx, dyg)) << tag << ": dx against the copy ops";
  EXPECT_TRUE(testing::bitwise_equal(x, xg)) << tag << ": x not put back";
  EXPECT_TRUE(testing::bitwise_equal(copy.layer.buffers().pool, Lg.pool))
      << tag << ": gradients (copy ops)";
  EXPECT_TRUE(testing::bitwise_equal(copy.layer.buffers().grad_norm, Lg.grad_norm)) << tag;
  const double grad_abs = 2e-5 * std::sqrt(std::max<double>(1.0, k.batch / 64.0));
  expect_all_close(Lc.pool.to_vector<float>(), Lg.pool.to_vector<float>(), 1e-3, grad_abs,
                   tag + " pool after backward (gradients)");

  // Run to run, and dx apart (dy untouched, the copy fills the rest).
  const std::vector<float> stats = Lg.step_stats.to_vector<float>();
  Tensor xg2 = x.to(gpu_dev), dyg2 = dy.to(gpu_dev);
  Tensor dx2 = Tensor::zeros(x.shape(), act, gpu_dev);
  ops::morph_forward(Lg, xg2, xg2, in);
  EXPECT_TRUE(testing::bitwise_equal(out, xg2)) << tag << ": second run";
  EXPECT_EQ(stats, Lg.step_stats.to_vector<float>()) << tag << ": second run's statistics";
  ops::morph_backward_saved(Lg, xg2, dyg2, &dx2, true);
  EXPECT_TRUE(testing::bitwise_equal(dx, dx2)) << tag << ": dx apart";
  EXPECT_TRUE(testing::bitwise_equal(dy, dyg2)) << tag << ": dy written with dx apart";
  EXPECT_TRUE(testing::bitwise_equal(x, xg2)) << tag << ": x not put back (dx apart)";

  // A masked evaluation forward in place, no statistics.
  std::vector<int32_t> masked;
  for (int32_t s = 0; s < k.seeds; s += 2) masked.push_back(s);
  cpu.layer.set_eval_alpha_zero(masked);
  gpu.layer.set_eval_alpha_zero(masked);
  ops::MorphForwardOptions eval = in;
  eval.collect_stats = false;
  eval.use_eval_mask = true;
  Tensor xc3 = x.to(cpu_dev), xg3 = x.to(gpu_dev);
  ops::morph_forward(Lc, xc3, xc3, eval);
  ops::morph_forward(Lg, xg3, xg3, eval);
  expect_values_close(xc3, xg3, tag + " masked eval out");
}

void in_place_perf(const InPlaceCase& k) {
  const Device dev = op_table::perf_device();
  const DType act = k.half ? DType::bf16 : DType::f32;
  MixedStageLayer rig(k.seeds, k.chunk, k.batch, dev, static_cast<uint64_t>(k.seeds) * 7);
  const ops::MorphLayerBuffers L = with_saved(rig, k.batch, act);
  Tensor x = k.half ? ops::bf16_test::to_bf16(rig.x) : rig.x;
  Tensor dy = k.half ? ops::bf16_test::to_bf16(rig.dy) : rig.dy;
  ops::MorphForwardOptions in;
  in.in_place = true;
  // Each forward followed by its backward (which puts x back), so the values do not drift.
  op_table::time_op("morph_forward in place + morph_backward_saved " + in_place_name(k), dev, [&] {
    ops::morph_forward(L, x, x, in);
    ops::morph_backward_saved(L, x, dy, &dy, true);
  });
}

const std::vector<InPlaceCase>& in_place_cases() {
  static const std::vector<InPlaceCase> v = {
      {1024, 16, 512},
      {600, 16, 64, true},
      {64, 16, 512},
      {12, 16, 33, true},
      {7, 12, 33},
      {10, 3, 129},
      {33, 64, 100},
      {6, 40, 65},
      {9, 8, 1000, true},
      {5, 32, 1},
      // the stream kernel's whole-column layout with a partial last column (float32 and bf16)
      {601, 16, 64},
      {602, 16, 64, true}};
  return v;
}

const std::vector<InPlaceCase>& in_place_perf_cases() {
  static const std::vector<InPlaceCase> v = {{1024, 16, 512}, {1024, 16, 512, true}};
  return v;
}

}  // namespace
}  // namespace kasmina::morph

namespace kasmina::op_table {

KASMINA_OP_TABLE_ENTRY(morph_in_place) {
  OpTestEntry e;
  e.ops = {"morph_forward", "morph_backward_saved"};
  e.correctness = [] {
    return cases_over(morph::in_place_cases(), &morph::in_place_name, &morph::in_place_agrees);
  };
  e.perf = [] {
    return cases_over(morph::in_place_perf_cases(), &morph::in_place_name, &morph::in_place_perf);
  };
  return e;
}

}  // namespace kasmina::op_table
