// row_mlp seeds (morph/blueprint_row_mlp.hpp): each reads the whole H-wide row of its layer and
// writes its own C-wide chunk, all seeds of a layer computed together by the row group
// (ops/morph/morph_row_group.hpp). On the CPU: the layer's forward, input gradient, parameter
// gradients, gradient norms and step measurements against a float64 reference written from the
// formula, the reference's gradients against finite differences, function preservation at the
// graft, the host untouched while seeds learn straight through, cross-feature reads; on CUDA
// (skips without a device) repeatable and graph-replayed bitwise.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/gelu.hpp"
#include "morph_test_util.hpp"
#include "ops/ops.hpp"

namespace kasmina::morph {
namespace {

constexpr auto kRow = static_cast<BlueprintKind>(kRowMlpKind);

MorphConfig row_config(int64_t width, int32_t seeds, int32_t hidden, bool task) {
  MorphConfig c = testing::small_config(width, seeds);
  c.hidden = hidden;
  c.allowed_blueprints = {kRow, BlueprintKind::low_rank};
  if (task) c.lifecycle.training_objective = static_cast<int32_t>(TrainingObjective::task_gradient);
  return c;
}

// What a seed does in a step (the stages the reference knows).
struct Role {
  bool row = false;      // holds row_mlp
  bool blended = false;  // out chunk = x + alpha delta; dx += alpha J^T dy
  bool trains = false;   // its slot's gradient is written
  double alpha = 0;
};

// Float64 reference of a layer whose live seeds all hold row_mlp: out, dx and each seed's
// parameter gradient (the pool order W1[h][H] b1[h] W2[C][h] b2[C]) for upstream dy. A TRAINING
// seed learns straight through (task objective): g = dy on its chunk, nothing into dx.
struct Reference {
  std::vector<double> out, dx;
  std::vector<std::vector<double>> grads;
};
Reference reference(const std::vector<double>& x, const std::vector<double>& dy, int64_t B,
                    int64_t H, int64_t C, int64_t h, const std::vector<Role>& roles,
                    const std::vector<std::vector<double>>& params) {
  Reference r{x, dy, {}};
  for (size_t s = 0; s < roles.size(); ++s) {
    std::vector<double> grad(params[s].size(), 0.0);
    if (!roles[s].row) {
      r.grads.push_back(grad);
      continue;
    }
    const double* W1 = params[s].data();
    const double* b1 = W1 + h * H;
    const double* W2 = b1 + h;
    const double* b2 = W2 + C * h;
    double* dW1 = grad.data();
    double* db1 = dW1 + h * H;
    double* dW2 = db1 + h;
    double* db2 = dW2 + C * h;
    const int64_t c0 = static_cast<int64_t>(s) * C;
    for (int64_t b = 0; b < B; ++b) {
      const double* xr = &x[static_cast<size_t>(b * H)];
      std::vector<double> a(h), da(h), g(C);
      for (int64_t j = 0; j < h; ++j) {
        double pre = b1[j];
        for (int64_t k = 0; k < H; ++k) pre += W1[j * H + k] * xr[k];
        a[j] = gelu<double>(pre, &da[j]);
      }
      for (int64_t c = 0; c < C; ++c) {
        double d = b2[c];
        for (int64_t j = 0; j < h; ++j) d += W2[c * h + j] * a[j];
        const size_t o = static_cast<size_t>(b * H + c0 + c);
        if (roles[s].blended) r.out[o] = x[o] + roles[s].alpha * d;
        g[c] = (roles[s].blended ? roles[s].alpha : 1.0) * dy[o];
      }
      if (!roles[s].trains && !roles[s].blended) continue;
      for (int64_t j = 0; j < h; ++j) {
        double s2 = 0;
        for (int64_t c = 0; c < C; ++c) s2 += W2[c * h + j] * g[c];
        const double dpre = s2 * da[j];
        db1[j] += dpre;
        for (int64_t k = 0; k < H; ++k) {
          dW1[j * H + k] += dpre * xr[k];
          if (roles[s].blended) r.dx[static_cast<size_t>(b * H + k)] += W1[j * H + k] * dpre;
        }
      }
      for (int64_t c = 0; c < C; ++c) {
        db2[c] += g[c];
        for (int64_t j = 0; j < h; ++j) dW2[c * h + j] += g[c] * a[j];
      }
    }
    if (!roles[s].trains) std::fill(grad.begin(), grad.end(), 0.0);
    r.grads.push_back(grad);
  }
  return r;
}

void expect_near_all(const std::vector<double>& a, const std::vector<double>& b, double tol,
                     const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::fabs(a[i] - b[i]) <= tol * (1 + std::fabs(b[i]))) && reported++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: layer " << a[i] << ", reference " << b[i];
}

TEST(RowMlp, LayerMatchesTheFloat64ReferenceAndItsGradientsTheFiniteDifferences) {
  constexpr int64_t kB = 6, kS = 4, kC = 3, kH = kS * kC, kh = 5;
  KasminaLayer layer(row_config(kH, kS, kh, true), DType::f64);
  layer.prepare(kB, Device::cpu());
  // GRAFTING at 0.6, TRAINING (straight through), DORMANT, FINE_TUNING at 1.
  testing::arrange(layer,
                   {{0, Stage::grafting, kRow, 0.6f},
                    {1, Stage::training, kRow, 0.0f},
                    {3, Stage::fine_tuning, kRow, 1.0f}},
                   3, 0.3);
  const std::vector<Role> roles = {
      {true, true, true, double{0.6f}}, {true, false, true, 0.0}, {}, {true, true, true, 1.0}};
  const ops::MorphLayerBuffers& L = layer.buffers();
  const int32_t P = RowMlp::param_count(L.shape);
  ASSERT_EQ(P, kh * kH + kh + kC * kh + kC);
  const std::vector<int32_t> slot_of = {0, 1, -1, 2};
  std::vector<double> pool = L.pool.to_vector<double>();
  auto params_of = [&](const std::vector<double>& pl) {
    std::vector<std::vector<double>> p;
    for (int32_t s = 0; s < kS; ++s) {
      std::vector<double> v(static_cast<size_t>(P), 0.0);
      if (slot_of[s] >= 0) {
        const int64_t base = int64_t{slot_of[s]} * L.pool_region * kPoolRegionCount;
        for (int32_t i = 0; i < P; ++i) v[i] = pl[static_cast<size_t>(base + i)];
      }
      p.push_back(v);
    }
    return p;
  };
  testing::StepClock clock(Device::cpu());
  const Tensor x = testing::random_tensor<double>({kB, kH}, 17);
  const Tensor dy = testing::random_tensor<double>({kB, kH}, 18);
  const Reference ref = reference(x.to_vector<double>(), dy.to_vector<double>(), kB, kH, kC, kh,
                                  roles, params_of(pool));
  const Tensor y = layer.forward(x, Mode::train, clock.ctx);
  expect_near_all(y.to_vector<double>(), ref.out, 1e-12, "out");
  Tensor dx = Tensor::zeros({kB, kH}, DType::f64);
  layer.backward(dy, &dx, clock.ctx);
  expect_near_all(dx.to_vector<double>(), ref.dx, 1e-12, "dx");
  const std::vector<double> after = L.pool.to_vector<double>();
  const std::vector<float> norms = L.grad_norm.to_vector<float>();
  for (int32_t s = 0; s < kS; ++s) {
    if (slot_of[s] < 0) {
      EXPECT_EQ(norms[s], 0.0f);
      continue;
    }
    const int64_t gbase = int64_t{slot_of[s]} * L.pool_region * kPoolRegionCount +
                          static_cast<int64_t>(PoolRegion::grad) * L.pool_region;
    std::vector<double> grad(after.begin() + gbase, after.begin() + gbase + P);
    expect_near_all(grad, ref.grads[s], 1e-12, "gradient of seed " + std::to_string(s));
    double sq = 0;
    for (double v : ref.grads[s]) sq += v * v;
    EXPECT_NEAR(norms[s], std::sqrt(sq), 1e-6 * std::sqrt(sq)) << "seed " << s;
    EXPECT_GT(sq, 1e-6) << "seed " << s;  // jittered W2: every block learns
  }
  // The TRAINING seed's measurement: sum over its chunk of <delta, dy>.
  double change = 0;
  const std::vector<double> xv = x.to_vector<double>(), dyv = dy.to_vector<double>();
  {
    std::vector<Role> alone = {{}, {true, true, true, 1.0}, {}, {}};
    const Reference one = reference(xv, dyv, kB, kH, kC, kh, alone, params_of(pool));
    for (int64_t b = 0; b < kB; ++b)
      for (int64_t c = kC; c < 2 * kC; ++c) {
        const size_t o = static_cast<size_t>(b * kH + c);
        change += (one.out[o] - xv[o]) * dyv[o];
      }
  }
  EXPECT_NEAR(L.step_stats.to_vector<float>()[1 * ops::kMorphStepStats + 1], change,
              1e-5 * (1 + std::fabs(change)));

  // The reference's gradients are the derivatives of L = sum dy * out (blended seeds; the
  // input gradient; the eval forward is the training forward without statistics).
  auto loss = [&](const std::vector<double>& xs) {
    Tensor pl = L.pool;
    pl.copy_from(Tensor::from_vector(pool, {static_cast<int64_t>(pool.size())}));
    const std::vector<double> out =
        layer.forward(Tensor::from_vector(xs, {kB, kH}), Mode::eval, clock.ctx).to_vector<double>();
    double l = 0;
    for (size_t i = 0; i < out.size(); ++i) l += out[i] * dyv[i];
    return l;
  };
  // Central difference of the loss in v (x or a pool value), h = 1e-6.
  auto numeric = [&](double& v, const std::vector<double>& xs) {
    const double keep = v, eps = 1e-6;
    v = keep + eps;
    const double lp = loss(xs);
    v = keep - eps;
    const double lm = loss(xs);
    v = keep;
    return (lp - lm) / (2 * eps);
  };
  std::vector<double> xs = xv;
  for (size_t i = 0; i < xs.size(); i += 5) {
    const double num = numeric(xs[i], xs);
    EXPECT_NEAR(ref.dx[i], num, 1e-7 * (1 + std::fabs(ref.dx[i]))) << "dx " << i;
  }
  for (const int32_t s : {0, 3}) {
    const int64_t base = int64_t{slot_of[s]} * L.pool_region * kPoolRegionCount;
    for (int32_t i = 0; i < P; i += 7) {
      const double num = numeric(pool[static_cast<size_t>(base + i)], xv);
      EXPECT_NEAR(ref.grads[s][i], num, 1e-7 * (1 + std::fabs(ref.grads[s][i])))
          << "seed " << s << " parameter " << i;
    }
  }
}

TEST(RowMlp, GraftPreservesTheHostThenEachSeedWritesOnlyItsChunkFromTheWholeRow) {
  constexpr int64_t kB = 16, kS = 4, kC = 8, kH = kS * kC;
  MorphConfig c = row_config(kH, kS, 16, true);
  c.optimizer.lr = 1e-2f;
  KasminaLayer layer(c);
  layer.prepare(kB, Device::cpu());
  ASSERT_TRUE(layer.gemm_path());
  testing::StepClock clock(Device::cpu());
  const Tensor x = testing::random_tensor<float>({kB, kH}, 31);
  const Tensor dy = testing::random_tensor<float>({kB, kH}, 32);
  // Seed 1 learns straight through, seed 2 is freshly grafted at alpha 1 (zero W2): the host's
  // outputs and input gradients are bitwise those of the identity, and both seeds get gradients.
  testing::arrange(layer, {{1, Stage::training, kRow, 0.0f}, {2, Stage::grafting, kRow, 1.0f}});
  EXPECT_TRUE(testing::bitwise_equal(layer.forward(x, Mode::train, clock.ctx), x));
  Tensor dx = Tensor::zeros({kB, kH});
  layer.backward(dy, &dx, clock.ctx);
  EXPECT_TRUE(testing::bitwise_equal(dx, dy));
  const std::vector<float> norms = layer.buffers().grad_norm.to_vector<float>();
  EXPECT_EQ(norms[0], 0.0f);
  EXPECT_GT(norms[1], 1e-3f);
  EXPECT_GT(norms[2], 1e-3f);
  EXPECT_EQ(norms[3], 0.0f);
  layer.end_step(clock.ctx);  // AdamW moves W2 off zero
  const std::vector<float> xv = x.to_vector<float>();
  const std::vector<float> y = layer.forward(x, Mode::eval, clock.ctx).to_vector<float>();
  int changed = 0;
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t k = 0; k < kH; ++k) {
      const size_t o = static_cast<size_t>(b * kH + k);
      if (k / kC == 2)
        changed += y[o] != xv[o];
      else
        EXPECT_EQ(y[o], xv[o]) << "row " << b << " column " << k << " (not seed 2's chunk)";
    }
  EXPECT_GT(changed, kB * kC * 3 / 4);
  // Seed 2's chunk depends on columns outside it (seed 0's chunk).
  std::vector<float> x2 = xv;
  for (int64_t b = 0; b < kB; ++b) x2[static_cast<size_t>(b * kH)] += 1.0f;
  const std::vector<float> y2 =
      layer.forward(Tensor::from_vector(x2, {kB, kH}), Mode::eval, clock.ctx).to_vector<float>();
  int moved = 0;
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t k = 2 * kC; k < 3 * kC; ++k) moved += y2[b * kH + k] != y[b * kH + k];
  EXPECT_GT(moved, kB * kC / 2);
  // Masked evaluation (the keep/cull test's counterfactual) removes it exactly.
  layer.set_eval_alpha_zero({2});
  EXPECT_TRUE(testing::bitwise_equal(layer.forward(x, Mode::eval, clock.ctx), x));
}

TEST(RowMlp, GerminatedThroughTheLifecycleWithItsInitialValues) {
  MorphConfig c = row_config(24, 3, 6, true);
  KasminaLayer layer(c);
  layer.prepare(8, Device::cpu());
  testing::StepClock clock(Device::cpu());
  layer.germinate(1, kRow);
  layer.end_step(clock.ctx);
  layer.end_step(clock.ctx);  // GERMINATED -> TRAINING
  HostSeedState h = layer.seed_state().download();
  const SeedStateView v = h.view();
  ASSERT_NE(v.stage[1], static_cast<int32_t>(Stage::dormant));
  EXPECT_EQ(v.blueprint[1], kRowMlpKind);
  const ops::MorphLayerBuffers& L = layer.buffers();
  const std::vector<float> pool = L.pool.to_vector<float>();
  const int64_t base = int64_t{v.slot[1]} * L.pool_region * kPoolRegionCount;
  const int32_t P = RowMlp::param_count(L.shape);
  EXPECT_GE(L.pool_region, P);
  for (int32_t i = 0; i < P; ++i)
    EXPECT_EQ(pool[static_cast<size_t>(base + i)],
              blueprint_init_value(kRowMlpKind, L.shape, i, clock.ctx.seed, c.layer_index, 1))
        << i;
  EXPECT_EQ(layer.blueprint_parameters(kRowMlpKind), 6 * 24 + 6 + 8 * 6 + 8);
}

// On CUDA: a row layer's training forward + backward (seeds blended, learning straight through
// and dormant) is repeatable bitwise and a captured graph replays it bitwise.
TEST(RowMlp, CudaRepeatableAndGraphReplayBitwise) {
  ops::init();
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device";
  const Device dev = Device::cuda(0);
  constexpr int64_t kB = 128, kS = 4, kH = 32;
  KasminaLayer layer(row_config(kH, kS, 16, true));
  layer.prepare(kB, dev);
  testing::arrange(layer,
                   {{0, Stage::grafting, kRow, 0.7f},
                    {1, Stage::training, kRow, 0.0f},
                    {3, Stage::fine_tuning, kRow, 1.0f}},
                   7, 0.1);
  testing::StepClock clock(dev);
  const Tensor x = testing::random_tensor<float>({kB, kH}, 5, dev);
  const Tensor dy = testing::random_tensor<float>({kB, kH}, 6, dev);
  Tensor dx = Tensor::zeros({kB, kH}, DType::f32, dev);
  const Tensor y = testing::expect_step_repeatable_and_replayed(dev, layer, x, dy, dx, clock.ctx);
  EXPECT_GT(testing::count_changed(y, x.to(Device::cpu())), kB * 8);
  EXPECT_GT(layer.buffers().grad_norm.to_vector<float>()[1], 0.0f);
}

}  // namespace
}  // namespace kasmina::morph
