// The fused morph ops on CUDA beyond the twin comparison (which is the op table's morph entry,
// tests/ops/cuda/entries_morph.cpp): bitwise repeatability, graph replay, dx aliasing. Skips
// without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "morph_test_util.hpp"
#include "ops/morph/morph_ops.hpp"
#include "ops/ops.hpp"

namespace kasmina::morph {
namespace {

// The fused ops with their per-seed kernels running beside the copies (programmatic dependent
// launches) give the same bits run after run, and replayed from a captured CUDA graph the same
// bits as plain launches.
TEST(MorphCudaStreams, RepeatableAndGraphReplayBitwise) {
  ops::init();
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device";
  const int32_t S = 1024, C = 16;
  const int64_t B = 512;
  const Device dev = Device::cuda(0);
  testing::MixedStageLayer rig(S, C, B, dev, 2026);
  const ops::MorphLayerBuffers& L = rig.layer.buffers();
  const Tensor &x = rig.x, &dy = rig.dy;
  Tensor &out = rig.out, &dx = rig.dx;
  const ops::MorphForwardOptions opt;
  auto step = [&] {
    ops::morph_forward(L, x, out, opt);
    ops::morph_backward(L, x, dy, &dx, true);
  };
  auto snapshot = [&] {
    std::vector<std::vector<float>> v;
    v.push_back(out.to_vector<float>());
    v.push_back(dx.to_vector<float>());
    v.push_back(L.pool.to_vector<float>());
    v.push_back(L.grad_norm.to_vector<float>());
    v.push_back(L.step_stats.to_vector<float>());
    return v;
  };
  step();
  const auto first = snapshot();
  for (Tensor* t : {&out, &dx}) ops::fill(*t, 0.0);
  step();
  EXPECT_TRUE(first == snapshot()) << "second plain run differs";
  for (Tensor* t : {&out, &dx}) ops::fill(*t, 0.0);
  ops::StepGraph graph(dev);
  std::string why;
  ASSERT_TRUE(graph.capture(step, &why)) << why;
  graph.replay();
  EXPECT_TRUE(first == snapshot()) << "graph replay differs from plain launches";
  // Three forwards so far, each adding B*C samples per seed.
  const std::vector<double> tel = L.telemetry.to_vector<double>();
  for (int32_t s = 0; s < S; ++s)
    ASSERT_EQ(tel[static_cast<size_t>(s) * ops::kMorphTelemetryStats], 3.0 * B * C) << s;
}

// The CUDA input gradient's copy and seed kernels write dx while they read x and dy, so dx may
// alias neither.
TEST(MorphCudaBackward, RejectsDxAliasingAnInput) {
  ops::init();
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device";
  const MorphConfig cfg = testing::small_config(64, 4);
  KasminaLayer gpu(cfg);
  gpu.prepare(8, Device::cuda(0));
  Tensor x = testing::random_tensor<float>({8, cfg.width}, 81).to(Device::cuda(0));
  Tensor dy = testing::random_tensor<float>({8, cfg.width}, 82).to(Device::cuda(0));
  EXPECT_THROW(ops::morph_backward(gpu.buffers(), x, dy, &x, true), InternalError);
  EXPECT_THROW(ops::morph_backward(gpu.buffers(), x, dy, &dy, true), InternalError);
  Tensor dx = Tensor::zeros({8, cfg.width}, DType::f32, Device::cuda(0));
  EXPECT_NO_THROW(ops::morph_backward(gpu.buffers(), x, dy, &dx, true));
}

}  // namespace
}  // namespace kasmina::morph
