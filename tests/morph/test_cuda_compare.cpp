// CPU twin vs CUDA: forward, telemetry, backward, blueprint gradients, optimizer and lifecycle
// step on random mixes of every stage, over a range of seed counts, chunk widths and batches.
// Skips without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "morph_test_util.hpp"
#include "ops/morph/morph_ops.hpp"
#include "ops/ops.hpp"

namespace kasmina::morph {
namespace {

struct Case {
  int32_t seeds, chunk;
  int64_t batch;
  int32_t hidden = 4, rank = 3;  // above kRowHidden (32): the wide instantiation
};

void expect_close(const std::vector<float>& a, const std::vector<float>& b, double rel, double abs,
                  const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool ok = std::fabs(double(a[i]) - b[i]) <= abs + rel * std::fabs(double(a[i])) &&
                    !std::isnan(a[i]) && !std::isnan(b[i]);
    if (!ok && reported++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: cpu " << a[i] << " cuda " << b[i];
  }
}

// Every seed in a random stage with a random blueprint (alpha in [0.1, 1) when blended) and a
// random time in its stage.
std::vector<testing::SeedSetup> random_stage_mix(int32_t seeds, Rng& rng) {
  std::vector<testing::SeedSetup> mix;
  for (int32_t s = 0; s < seeds; ++s) {
    testing::SeedSetup u;
    u.seed = s;
    u.stage = static_cast<Stage>(rng.below(kStageCount));
    u.blueprint = static_cast<BlueprintKind>(rng.below(kBlueprintKindCount));
    u.alpha = stage_is_blended(static_cast<int32_t>(u.stage))
                  ? static_cast<float>(rng.uniform(0.1, 1.0))
                  : 0.0f;
    u.steps_in_stage = static_cast<int32_t>(rng.below(100));
    mix.push_back(u);
  }
  return mix;
}

class MorphCudaCompare : public ::testing::TestWithParam<Case> {};

TEST_P(MorphCudaCompare, TwinsAgree) {
  ops::init();
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Case k = GetParam();
  MorphConfig cfg = testing::small_config(static_cast<int64_t>(k.seeds) * k.chunk, k.seeds);
  cfg.hidden = k.hidden;
  cfg.rank = k.rank;
  cfg.lifecycle.max_training_seeds = 1 << 20;
  cfg.lifecycle.training_loss_threshold = 0.05f;
  cfg.grafting = GraftingKind::fixed_ramp;
  Rng rng(static_cast<uint64_t>(k.seeds) * 131 + k.chunk * 7 + k.batch);
  const std::vector<testing::SeedSetup> mix = random_stage_mix(k.seeds, rng);
  cfg.pool_slots = k.seeds + 4;
  KasminaLayer cpu(cfg), gpu(cfg);
  cpu.prepare(k.batch, Device::cpu());
  gpu.prepare(k.batch, Device::cuda(0));
  testing::arrange(cpu, mix, 5, 0.2);
  testing::arrange(gpu, mix, 5, 0.2);
  testing::StepClock ccpu(Device::cpu()), cgpu(Device::cuda(0));
  const int64_t H = cfg.width;
  const Tensor x = testing::random_tensor<float>({k.batch, H}, 71);
  const Tensor dy = testing::random_tensor<float>({k.batch, H}, 72);
  const std::string tag = "S=" + std::to_string(k.seeds) + " C=" + std::to_string(k.chunk) +
                          " B=" + std::to_string(k.batch) + " h=" + std::to_string(k.hidden) +
                          " r=" + std::to_string(k.rank);

  const Tensor ycpu = cpu.forward(x, Mode::train, ccpu.ctx);
  const Tensor ygpu = gpu.forward(x.to(Device::cuda(0)), Mode::train, cgpu.ctx);
  expect_close(ycpu.to_vector<float>(), ygpu.to_vector<float>(), 1e-5, 1e-5, tag + " out");
  expect_close(cpu.buffers().step_stats.to_vector<float>(),
               gpu.buffers().step_stats.to_vector<float>(), 1e-4, 1e-6, tag + " step_stats");

  Tensor dxcpu = Tensor::zeros({k.batch, H});
  Tensor dxgpu = Tensor::zeros({k.batch, H}, DType::f32, Device::cuda(0));
  cpu.backward(dy, &dxcpu, ccpu.ctx);
  gpu.backward(dy.to(Device::cuda(0)), &dxgpu, cgpu.ctx);
  expect_close(dxcpu.to_vector<float>(), dxgpu.to_vector<float>(), 1e-5, 1e-5, tag + " dx");
  expect_close(cpu.buffers().grad_norm.to_vector<float>(),
               gpu.buffers().grad_norm.to_vector<float>(), 1e-3, 1e-5, tag + " grad_norm");
  // Gradients are sums over the batch in different orders: absolute slack grows with sqrt(B).
  const double grad_abs = 2e-5 * std::sqrt(std::max<double>(1.0, k.batch / 64.0));
  expect_close(cpu.buffers().pool.to_vector<float>(), gpu.buffers().pool.to_vector<float>(), 1e-3,
               grad_abs, tag + " pool after backward (gradients)");
  // AdamW turns tiny gradient differences into +-lr steps near zero gradients, so the
  // optimizer and lifecycle comparison starts both devices from the CPU's pool.
  Tensor gpu_pool = gpu.buffers().pool;
  gpu_pool.copy_from(cpu.buffers().pool);

  // Host commands on a few seeds, then the boundary (optimizer + lifecycle).
  for (int32_t s = 0; s < k.seeds; s += 3) {
    KasminaLayer* layers[] = {&cpu, &gpu};
    for (KasminaLayer* l : layers) {
      if (s % 2 == 0)
        l->germinate(s, BlueprintKind::residual_mlp);
      else
        l->cull(s);
      if (s % 5 == 0) l->set_eval_score(s, 0.5f);
    }
  }
  ccpu.set(9);
  cgpu.set(9);
  cpu.end_step(ccpu.ctx);
  gpu.end_step(cgpu.ctx);
  expect_close(cpu.buffers().pool.to_vector<float>(), gpu.buffers().pool.to_vector<float>(), 1e-3,
               1e-5, tag + " pool after optimizer and lifecycle");
  HostSeedState hc = cpu.seed_state().download(), hg = gpu.seed_state().download();
  for (int32_t f = 0; f < kSeedFieldCount; ++f) {
    const auto field = static_cast<SeedField>(f);
    std::vector<float> a, b;
    for (int32_t s = 0; s < k.seeds; ++s) {
      const int32_t wa = hc.words[f * k.seeds + s], wb = hg.words[f * k.seeds + s];
      if (seed_field_is_float(field)) {
        float fa, fb;
        std::memcpy(&fa, &wa, 4);
        std::memcpy(&fb, &wb, 4);
        a.push_back(fa);
        b.push_back(fb);
      } else {
        EXPECT_EQ(wa, wb) << tag << " " << seed_field_name(field) << "[" << s << "]";
      }
    }
    if (!a.empty()) expect_close(a, b, 1e-3, 1e-5, tag + " " + seed_field_name(field));
  }
  EXPECT_EQ(cpu.buffers().slot_owner.to_vector<int32_t>(),
            gpu.buffers().slot_owner.to_vector<int32_t>());
  const std::vector<MorphEvent> ec = cpu.drain_events(), eg = gpu.drain_events();
  ASSERT_EQ(ec.size(), eg.size()) << tag;
  for (size_t i = 0; i < ec.size(); ++i) {
    EXPECT_EQ(ec[i].seed, eg[i].seed) << tag << " event " << i;
    EXPECT_EQ(ec[i].from, eg[i].from) << tag << " event " << i;
    EXPECT_EQ(ec[i].to, eg[i].to) << tag << " event " << i;
    EXPECT_EQ(ec[i].reason, eg[i].reason) << tag << " event " << i;
    EXPECT_EQ(ec[i].step, 9);
    EXPECT_EQ(eg[i].step, 9);
  }
  const std::vector<SeedTelemetry> tc = cpu.read_telemetry(), tg = gpu.read_telemetry();
  ASSERT_EQ(tc.size(), tg.size());
  for (size_t s = 0; s < tc.size(); ++s) {
    EXPECT_EQ(tc[s].samples, tg[s].samples) << tag;
    EXPECT_NEAR(tc[s].mean, tg[s].mean, 1e-4) << tag << " seed " << s;
    EXPECT_NEAR(tc[s].variance, tg[s].variance, 1e-4 * (1 + tc[s].variance))
        << tag << " seed " << s;
    EXPECT_EQ(tc[s].dead_fraction, tg[s].dead_fraction) << tag << " seed " << s;
    EXPECT_EQ(tc[s].max_abs, tg[s].max_abs) << tag << " seed " << s;
  }
  // A masked evaluation forward agrees too.
  std::vector<int32_t> masked;
  for (int32_t s = 0; s < k.seeds; s += 2) masked.push_back(s);
  cpu.set_eval_alpha_zero(masked);
  gpu.set_eval_alpha_zero(masked);
  expect_close(cpu.forward(x, Mode::eval, ccpu.ctx).to_vector<float>(),
               gpu.forward(x.to(Device::cuda(0)), Mode::eval, cgpu.ctx).to_vector<float>(), 1e-5,
               1e-5, tag + " masked eval out");
}

// The fused ops with their per-seed kernels running beside the copies (programmatic dependent
// launches) give the same bits run after run, and replayed from a captured CUDA graph the same
// bits as plain launches.
TEST(MorphCudaStreams, RepeatableAndGraphReplayBitwise) {
  ops::init();
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device";
  const int32_t S = 1024, C = 16;
  const int64_t B = 512;
  MorphConfig cfg = testing::small_config(static_cast<int64_t>(S) * C, S, S);
  cfg.hidden = 4;
  cfg.rank = 3;
  Rng rng(2026);
  const std::vector<testing::SeedSetup> mix = random_stage_mix(S, rng);
  const Device dev = Device::cuda(0);
  KasminaLayer layer(cfg);
  layer.prepare(B, dev);
  testing::arrange(layer, mix, 5, 0.2);
  const ops::MorphLayerBuffers& L = layer.buffers();
  const Tensor x = testing::random_tensor<float>({B, cfg.width}, 91, dev);
  const Tensor dy = testing::random_tensor<float>({B, cfg.width}, 92, dev);
  Tensor out = Tensor::zeros({B, cfg.width}, DType::f32, dev);
  Tensor dx = Tensor::zeros({B, cfg.width}, DType::f32, dev);
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

INSTANTIATE_TEST_SUITE_P(Shapes, MorphCudaCompare,
                         ::testing::Values(Case{1, 4, 1}, Case{7, 12, 33}, Case{64, 16, 512},
                                           Case{1000, 16, 256}, Case{1024, 16, 512},
                                           Case{4096, 4, 64}, Case{128, 32, 4096},
                                           Case{33, 64, 100}, Case{256, 8, 1000}, Case{3, 12, 4096},
                                           // the wide instantiation: chunks past 64 (a
                                           // multiple of 4, up to kMaxChunk = 128), hidden
                                           // widths and ranks past 32 (up to 64)
                                           Case{2, 128, 300}, Case{5, 100, 64},
                                           Case{9, 68, 1000, 7, 5}, Case{6, 16, 256, 40, 33},
                                           Case{3, 128, 513, 64, 64}, Case{4, 32, 100, 4, 64}));

}  // namespace
}  // namespace kasmina::morph
