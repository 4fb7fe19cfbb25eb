// The fused CPU twins in float64 against central finite differences: input gradient and the
// blueprint gradients (global loss through the blend; isolated reconstruction loss), with the
// residual_mlp seeds on the per-row path and on the GEMM path (morph/seed_path.hpp; a layer
// mixing both: its low_rank and diag_scale seeds stay on the fused ops).
#include <gtest/gtest.h>

#include <cmath>

#include "morph_test_util.hpp"

namespace kasmina::morph {
namespace {

constexpr int64_t kB = 3, kS = 6, kC = 8, kH = kS * kC;

struct Fixture {
  KasminaLayer layer;
  testing::StepClock clock{Device::cpu()};
  Tensor x = testing::random_tensor<double>({kB, kH}, 41);
  Tensor w = testing::random_tensor<double>({kB, kH}, 42);  // L = sum(w * out), dy = w
  explicit Fixture(const MorphConfig& c) : layer(c, DType::f64) {
    layer.prepare(kB, Device::cpu());
    testing::arrange(layer,
                     {{0, Stage::grafting, BlueprintKind::residual_mlp, 0.7f},
                      {1, Stage::fine_tuning, BlueprintKind::low_rank, 1.0f},
                      {2, Stage::fossilized, BlueprintKind::diag_scale, 1.0f},
                      {3, Stage::training, BlueprintKind::residual_mlp},
                      {4, Stage::grafting, BlueprintKind::diag_scale, 0.3f},
                      {5, Stage::stabilization, BlueprintKind::low_rank, 1.0f}},
                     9, /*jitter=*/0.3);
  }
  double loss(const Tensor& input) {
    const Tensor y = layer.forward(input, Mode::eval, clock.ctx);
    const std::vector<double> yv = y.to_vector<double>(), wv = w.to_vector<double>();
    double l = 0;
    for (size_t i = 0; i < yv.size(); ++i) l += yv[i] * wv[i];
    return l;
  }
};

MorphConfig config(SeedPath path) {
  MorphConfig c = testing::small_config(kH, kS);
  c.hidden = 3;
  c.rank = 2;
  c.seed_path = path;
  return c;
}

class MorphGradients : public ::testing::TestWithParam<SeedPath> {};

TEST_P(MorphGradients, InputGradientMatchesFiniteDifferences) {
  Fixture f(config(GetParam()));
  EXPECT_EQ(f.layer.gemm_path(), GetParam() == SeedPath::gemm);
  f.layer.forward(f.x, Mode::train, f.clock.ctx);
  Tensor dx = Tensor::zeros({kB, kH}, DType::f64);
  f.layer.backward(f.w, &dx, f.clock.ctx);
  const std::vector<double> g = dx.to_vector<double>();
  std::vector<double> xv = f.x.to_vector<double>();
  const double h = 1e-6;
  for (size_t i = 0; i < xv.size(); ++i) {
    const double keep = xv[i];
    xv[i] = keep + h;
    const double lp = f.loss(Tensor::from_vector(xv, {kB, kH}));
    xv[i] = keep - h;
    const double lm = f.loss(Tensor::from_vector(xv, {kB, kH}));
    xv[i] = keep;
    EXPECT_NEAR(g[i], (lp - lm) / (2 * h), 1e-7 * (1 + std::fabs(g[i]))) << "x[" << i << "]";
  }
}

TEST_P(MorphGradients, BlueprintGradientsMatchFiniteDifferences) {
  Fixture f(config(GetParam()));
  f.layer.forward(f.x, Mode::train, f.clock.ctx);
  Tensor dx = Tensor::zeros({kB, kH}, DType::f64);
  f.layer.backward(f.w, &dx, f.clock.ctx);
  const ops::MorphLayerBuffers& L = f.layer.buffers();
  std::vector<double> pool = L.pool.to_vector<double>();
  const std::vector<double> analytic = pool;
  PoolView<double> pv;
  pv.base = pool.data();
  pv.region = L.pool_region;
  pv.slots = L.pool_slots;
  HostSeedState hs = f.layer.seed_state().download();
  const SeedStateView st = hs.view();
  Tensor pool_t = L.pool;
  const std::vector<double> xv = f.x.to_vector<double>();
  int checked = 0;
  for (int32_t s = 0; s < kS; ++s) {
    const int32_t stage = st.stage[s], slot = st.slot[s], kind = st.blueprint[s];
    if (!stage_trains(stage)) continue;
    const int32_t n = blueprint_param_count(kind, L.shape);
    const int64_t pofs = slot * pv.slot_stride();
    const int64_t gofs = pofs + static_cast<int64_t>(PoolRegion::grad) * pv.region;
    // The loss whose gradient the slot holds.
    auto objective = [&]() {
      if (stage_trains_global(stage)) {
        pool_t.copy_from(Tensor::from_vector(pool, {static_cast<int64_t>(pool.size())}));
        return f.loss(f.x);
      }
      double iso = 0;  // TRAINING: mean over B*C of delta(x)^2
      double delta[kMaxChunk];
      for (int64_t b = 0; b < kB; ++b) {
        blueprint_delta<kMaxChunk, double>(kind, L.shape, pool.data() + pofs,
                                           xv.data() + b * kH + s * kC, delta);
        for (int c = 0; c < kC; ++c) iso += delta[c] * delta[c];
      }
      return iso / (kB * kC);
    };
    const double gsq = testing::expect_finite_difference_gradient(
        pool, pofs, analytic.data() + gofs, n, objective,
        std::string(stage_name(static_cast<Stage>(stage))) + " seed " + std::to_string(s));
    checked += n;
    EXPECT_NEAR(L.grad_norm.to_vector<float>()[s], std::sqrt(gsq), 1e-5 * (1 + std::sqrt(gsq)));
    EXPECT_GT(gsq, 0.0) << "seed " << s;
  }
  pool_t.copy_from(Tensor::from_vector(analytic, {static_cast<int64_t>(analytic.size())}));
  EXPECT_GT(checked, 100);
}

INSTANTIATE_TEST_SUITE_P(Paths, MorphGradients, ::testing::Values(SeedPath::row, SeedPath::gemm),
                         [](const ::testing::TestParamInfo<SeedPath>& i) {
                           return std::string(i.param == SeedPath::gemm ? "gemm" : "row");
                         });

}  // namespace
}  // namespace kasmina::morph
