// The blueprint seam on the CPU: layers past the register-row limits (chunks up to kMaxChunk,
// hidden widths up to kMaxHidden) train, and a blueprint registered at run time (a descriptor
// with its own row functions, as an IR interpreter would provide) is germinated, initialised and
// given gradients by the layer without any change to the layer or the CPU twins. Its own
// executable: the registration is process-wide.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "morph/blueprint_registry.hpp"
#include "morph_test_util.hpp"

namespace kasmina::morph {
namespace {

// Trains seeds in isolation on one fixed input for `steps` steps and returns each seed's
// isolated loss per step.
std::vector<std::vector<float>> train_isolated(KasminaLayer& layer, int64_t B, int32_t steps,
                                               int64_t first_step = 0) {
  const int64_t H = layer.config().width;
  testing::StepClock clock(Device::cpu());
  const Tensor x = testing::random_tensor<float>({B, H}, 77);
  std::vector<std::vector<float>> losses(static_cast<size_t>(layer.config().seeds));
  for (int32_t i = 0; i < steps; ++i) {
    clock.set(first_step + i);
    const Tensor y = layer.forward(x, Mode::train, clock.ctx);
    EXPECT_TRUE(testing::bitwise_equal(y, x)) << "training seeds leave the output unchanged";
    const std::vector<float> st = layer.buffers().step_stats.to_vector<float>();
    for (size_t s = 0; s < losses.size(); ++s) losses[s].push_back(st[s * 2 + 1]);
    Tensor dx = Tensor::zeros({B, H});
    layer.backward(testing::random_tensor<float>({B, H}, 500 + i), &dx, clock.ctx);
    layer.end_step(clock.ctx);
  }
  return losses;
}

MorphConfig isolated_config(int64_t width, int32_t seeds) {
  MorphConfig c = testing::small_config(width, seeds);
  c.optimizer.lr = 1e-2f;
  c.lifecycle.min_steps[static_cast<int>(Stage::training)] = 1 << 20;  // stay in TRAINING
  c.lifecycle.max_training_steps = 1 << 20;
  c.lifecycle.max_training_seeds = seeds;
  return c;
}

TEST(BlueprintSeam, ChunksAndHiddenWidthsPastTheRowLimitsTrain) {
  // C = 128 (kMaxChunk), hidden 40 and rank 36 (past kRowHidden).
  MorphConfig c = isolated_config(2 * kMaxChunk, 2);
  c.hidden = 40;
  c.rank = 36;
  KasminaLayer layer(c);
  layer.prepare(8, Device::cpu());
  testing::arrange(layer,
                   {{0, Stage::training, BlueprintKind::residual_mlp},
                    {1, Stage::training, BlueprintKind::low_rank}},
                   7, /*jitter=*/0.3);  // away from the zero-delta init: something to reconstruct
  const std::vector<std::vector<float>> loss = train_isolated(layer, 8, 30);
  for (int32_t s = 0; s < 2; ++s) {
    ASSERT_TRUE(std::isfinite(loss[s].front()) && loss[s].front() > 0.0f);
    EXPECT_LT(loss[s].back(), 0.9f * loss[s].front()) << "seed " << s;
  }
}

TEST(BlueprintSeam, WideBlendedSeedsHaveFiniteDifferenceInputGradients) {
  // C = 100 (a multiple of 4 past the row limit), hidden 33, in float64.
  const int64_t B = 2, H = 200;
  MorphConfig c = testing::small_config(H, 2);
  c.hidden = 33;
  c.rank = 5;
  KasminaLayer layer(c, DType::f64);
  layer.prepare(B, Device::cpu());
  testing::arrange(layer,
                   {{0, Stage::grafting, BlueprintKind::residual_mlp, 0.6f},
                    {1, Stage::fine_tuning, BlueprintKind::low_rank, 1.0f}},
                   3, /*jitter=*/0.3);
  testing::StepClock clock(Device::cpu());
  const Tensor x = testing::random_tensor<double>({B, H}, 41);
  const Tensor w = testing::random_tensor<double>({B, H}, 42);
  layer.forward(x, Mode::train, clock.ctx);
  Tensor dx = Tensor::zeros({B, H}, DType::f64);
  layer.backward(w, &dx, clock.ctx);
  const std::vector<double> g = dx.to_vector<double>(), wv = w.to_vector<double>();
  auto loss = [&](const std::vector<double>& xv) {
    const std::vector<double> y =
        layer.forward(Tensor::from_vector(xv, {B, H}), Mode::eval, clock.ctx).to_vector<double>();
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * wv[i];
    return l;
  };
  std::vector<double> xv = x.to_vector<double>();
  for (size_t i = 0; i < xv.size(); i += 7) {
    const double keep = xv[i], h = 1e-6;
    xv[i] = keep + h;
    const double lp = loss(xv);
    xv[i] = keep - h;
    const double lm = loss(xv);
    xv[i] = keep;
    EXPECT_NEAR(g[i], (lp - lm) / (2 * h), 1e-6 * (1 + std::fabs(g[i]))) << "x[" << i << "]";
  }
}

// A blueprint made at run time: f(x) = x + s * x (delta = s ⊙ x), s[C] drawn from U(+-0.5).
template <class T>
void scale_delta(const BlueprintDescriptor&, const BlueprintShape& sh, const T* p, const T* x,
                 T* delta) {
  for (int32_t c = 0; c < sh.chunk; ++c) delta[c] = p[c] * x[c];
}
template <class T>
void scale_backward(const BlueprintDescriptor&, const BlueprintShape& sh, const T* p, const T* x,
                    const T* g, T* dx, T* F) {
  T* hid = write_row_factors<kMaxChunk, T>(sh, x, g, F);
  (void)hid;
  if (dx)
    for (int32_t c = 0; c < sh.chunk; ++c) dx[c] += p[c] * g[c];
}

BlueprintDescriptor scale_descriptor(const std::string& name) {
  BlueprintDescriptor d;
  d.name = name;
  d.path = BlueprintPath::row;
  d.param_count = [](const BlueprintDescriptor&, const BlueprintShape& sh) { return sh.chunk; };
  d.init_value = [](const BlueprintDescriptor&, const BlueprintShape&, int32_t i, uint64_t run,
                    int32_t layer,
                    int32_t seed) { return 0.5f * init_uniform(i, run, layer, seed); };
  d.factor_count = [](const BlueprintDescriptor&, const BlueprintShape& sh) {
    return 1 + 2 * sh.chunk;
  };
  d.grad_blocks = [](const BlueprintDescriptor&, const BlueprintShape& sh, GradBlock* b) {
    b[0] = {1 + sh.chunk, sh.chunk, 1, sh.chunk, true};  // s[c]: g_c x_c
    return 1;
  };
  d.row_f32 = {&scale_delta<float>, &scale_backward<float>};
  d.row_f64 = {&scale_delta<double>, &scale_backward<double>};
  return d;
}

TEST(BlueprintSeam, ABlueprintRegisteredAtRunTimeGrowsAndGetsGradientsOnTheCpu) {
  const int32_t kind = register_blueprint(scale_descriptor("runtime_scale"));
  EXPECT_EQ(kind, kRowMlpKind + 1);  // after the built-ins
  EXPECT_EQ(blueprint_named("runtime_scale").kind, kind);
  EXPECT_FALSE(find_blueprint(kind)->in_fused_kernels);
  EXPECT_EQ(blueprint_names().back(), "runtime_scale");
  try {
    register_blueprint(scale_descriptor("runtime_scale"));
    FAIL() << "registered twice";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(),
                 "blueprint 'runtime_scale' is already registered (registered: residual_mlp, "
                 "low_rank, diag_scale, row_mlp, runtime_scale)");
  }
  BlueprintDescriptor incomplete = scale_descriptor("runtime_incomplete");
  incomplete.row_f64 = {};
  EXPECT_THROW(register_blueprint(incomplete), InternalError);

  MorphConfig c = isolated_config(64, 4);
  c.allowed_blueprints = {static_cast<BlueprintKind>(kind), BlueprintKind::diag_scale};
  KasminaLayer layer(c);
  layer.prepare(8, Device::cpu());
  EXPECT_EQ(layer.buffers().pool_region, 32);  // max(C = 16 of runtime_scale, 2C of diag_scale)
  layer.germinate(1, static_cast<BlueprintKind>(kind));
  const uint64_t run_seed = testing::StepClock(Device::cpu()).ctx.seed;
  // Germinated at the first boundary, TRAINING at the next; then it learns delta -> 0.
  const std::vector<std::vector<float>> loss = train_isolated(layer, 8, 40);
  HostSeedState h = layer.seed_state().download();
  const SeedStateView v = h.view();
  EXPECT_EQ(v.blueprint[1], kind);
  EXPECT_EQ(v.stage[1], static_cast<int32_t>(Stage::training));
  std::vector<float> iso;
  for (float l : loss[1])
    if (l > 0.0f) iso.push_back(l);
  ASSERT_GE(iso.size(), 10u);
  // The slot was initialised from the descriptor: the isolated loss of its first TRAINING step
  // is that of s = the descriptor's initial values.
  const BlueprintDescriptor& d = *find_blueprint(kind);
  const int32_t C = 16;
  const int64_t B = 8;
  const std::vector<float> xv = testing::random_tensor<float>({B, 64}, 77).to_vector<float>();
  double expect = 0.0;
  for (int32_t i = 0; i < C; ++i) {
    const float s = d.init_value(d, layer.buffers().shape, i, run_seed, 0, 1);
    for (int64_t b = 0; b < B; ++b) {
      const double dl = static_cast<double>(s * xv[b * 64 + C + i]);
      expect += dl * dl;
    }
  }
  EXPECT_NEAR(iso.front(), expect / (B * C), 1e-5 * expect);
  // The blueprint optimizer trains it (its update covers the slot's parameter region, whose
  // entries past the descriptor's count stay zero): the isolated loss falls.
  EXPECT_LT(iso.back(), 0.9f * iso.front());
  const ops::MorphLayerBuffers& L = layer.buffers();
  ASSERT_EQ(L.slot_owner.to_vector<int32_t>()[0], 1);
  std::vector<float> pool = L.pool.to_vector<float>();
  for (int32_t i = C; i < L.pool_region; ++i)
    EXPECT_EQ(pool[static_cast<size_t>(i)], 0.0f) << "parameter region past the count, " << i;
  // One more forward and backward: the gradient the CPU twin writes from the descriptor's factors
  // is d/ds mean((s x)^2) = 2/(B C) s_c sum_b x_bc^2 at the current parameters.
  testing::StepClock clock(Device::cpu());
  clock.set(1000);
  const Tensor x = testing::random_tensor<float>({B, 64}, 77);
  layer.forward(x, Mode::train, clock.ctx);
  Tensor dx = Tensor::zeros({B, 64});
  layer.backward(testing::random_tensor<float>({B, 64}, 999), &dx, clock.ctx);
  pool = L.pool.to_vector<float>();
  for (int32_t i = 0; i < C; ++i) {
    const double s = pool[static_cast<size_t>(i)];
    double grad = 0.0;
    for (int64_t b = 0; b < B; ++b) {
      const double xi = xv[b * 64 + C + i];
      grad += 2.0 / (B * C) * s * xi * xi;
    }
    EXPECT_NEAR(pool[static_cast<size_t>(PoolRegion::grad) * L.pool_region + i], grad,
                1e-4 * std::fabs(grad) + 1e-7)
        << "gradient of s[" << i << "]";
  }
  EXPECT_GT(L.grad_norm.to_vector<float>()[1], 0.0f);
}

}  // namespace
}  // namespace kasmina::morph
