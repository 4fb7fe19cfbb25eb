// Helpers shared by the morph tests: configs, step contexts, random activations and a way to
// place seeds directly into chosen lifecycle stages.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "morph/blueprint.hpp"
#include "morph/blueprint_pool.hpp"
#include "morph/seed_state.hpp"
#include "nn/kasmina_layer.hpp"
#include "ops/ops.hpp"

namespace kasmina::morph::testing {

inline MorphConfig small_config(int64_t width, int32_t seeds, int32_t slots = 16) {
  MorphConfig c;
  c.width = width;
  c.seeds = seeds;
  c.pool_slots = slots;
  c.telemetry_every = 1000000;
  return c;
}

struct StepClock {
  explicit StepClock(Device dev, uint64_t seed = 1234) {
    ctx.step = Tensor::zeros({1}, DType::i64, dev);
    ctx.seed = seed;
  }
  void set(int64_t step) { ctx.step.copy_from(Tensor::from_vector<int64_t>({step}, {1})); }
  StepContext ctx;
};

template <class T>
Tensor random_tensor(const Shape& shape, uint64_t seed, Device dev = Device::cpu(),
                     double scale = 1.0) {
  Rng rng(seed);
  std::vector<T> v(static_cast<size_t>(shape_numel(shape)));
  for (T& x : v) x = static_cast<T>(rng.normal() * scale);
  return Tensor::from_vector(v, shape, dev);
}

// What one seed should look like.
struct SeedSetup {
  int32_t seed = 0;
  Stage stage = Stage::dormant;
  BlueprintKind blueprint = BlueprintKind::residual_mlp;
  float alpha = 0.0f;
  int32_t steps_in_stage = 0;
};

// Places seeds directly into stages: slots are given in list order and initialised with the
// blueprint's initial parameters (perturbed by `jitter` so that zero-initialised parts such as
// biases are exercised), moments zero.
inline void arrange(KasminaLayer& layer, const std::vector<SeedSetup>& setups, uint64_t seed = 7,
                    double jitter = 0.0) {
  const ops::MorphLayerBuffers& L = layer.buffers();
  HostSeedState h = SeedState::initial_host_state(L.seeds);
  SeedStateView v = h.view();
  std::vector<int32_t> owner(static_cast<size_t>(L.pool_slots), -1);
  const DType dt = L.pool.dtype();
  const int64_t n = L.pool.numel();
  std::vector<double> pool(static_cast<size_t>(n), 0.0);
  Rng rng(seed);
  PoolView<double> pv;
  pv.base = pool.data();
  pv.slots = L.pool_slots;
  pv.region = L.pool_region;
  int32_t slot = 0;
  for (const SeedSetup& s : setups) {
    v.stage[s.seed] = static_cast<int32_t>(s.stage);
    v.steps_in_stage[s.seed] = s.steps_in_stage;
    v.alpha[s.seed] = s.alpha;
    v.strategy[s.seed] = static_cast<int32_t>(layer.config().grafting);
    if (s.stage == Stage::dormant) continue;
    v.blueprint[s.seed] = static_cast<int32_t>(s.blueprint);
    v.slot[s.seed] = slot;
    owner[static_cast<size_t>(slot)] = s.seed;
    double* p = pv.at(slot, PoolRegion::params);
    const int32_t np = blueprint_param_count(static_cast<int32_t>(s.blueprint), L.shape);
    for (int32_t i = 0; i < np; ++i)
      p[i] = blueprint_init_value(static_cast<int32_t>(s.blueprint), L.shape, i, seed, 0, s.seed) +
             jitter * rng.normal();
    ++slot;
  }
  layer.restore_state(h, owner);
  Tensor pool_t = L.pool;
  if (dt == DType::f64) {
    pool_t.copy_from(Tensor::from_vector(pool, {n}));
  } else {
    std::vector<float> f(pool.begin(), pool.end());
    pool_t.copy_from(Tensor::from_vector(f, {n}));
  }
}

template <class T>
std::vector<T> pool_values(const KasminaLayer& layer) {
  return layer.buffers().pool.to_vector<T>();
}

// Every seed in a random stage with a random blueprint (alpha in [0.1, 1) when blended) and a
// random time in its stage.
inline std::vector<SeedSetup> random_stage_mix(int32_t seeds, Rng& rng) {
  std::vector<SeedSetup> mix;
  for (int32_t s = 0; s < seeds; ++s) {
    SeedSetup u;
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

// Central differences (h = 1e-6) of `objective()` in each parameter pool[pofs + i], i < n (the
// objective reads `pool`), against analytic[i]; returns the sum of the analytic values' squares.
template <class F>
double expect_finite_difference_gradient(std::vector<double>& pool, int64_t pofs,
                                         const double* analytic, int32_t n, F&& objective,
                                         const std::string& what) {
  const double h = 1e-6;
  double gsq = 0.0;
  for (int32_t i = 0; i < n; ++i) {
    const double keep = pool[static_cast<size_t>(pofs + i)];
    pool[static_cast<size_t>(pofs + i)] = keep + h;
    const double lp = objective();
    pool[static_cast<size_t>(pofs + i)] = keep - h;
    const double lm = objective();
    pool[static_cast<size_t>(pofs + i)] = keep;
    gsq += analytic[i] * analytic[i];
    EXPECT_NEAR(analytic[i], (lp - lm) / (2 * h), 1e-7 * (1 + std::fabs(analytic[i])))
        << what << " param " << i;
  }
  return gsq;
}

// How many elements of y differ from those of x (same shape, f32).
inline int count_changed(const Tensor& y, const Tensor& x) {
  const std::vector<float> yv = y.to_vector<float>(), xv = x.to_vector<float>();
  int differ = 0;
  for (size_t i = 0; i < xv.size() && i < yv.size(); ++i) differ += yv[i] != xv[i];
  return differ;
}

// Records `step` in a CUDA graph on `dev`, replays it once and expects snapshot() to equal
// `first` (the state after a plain run of step).
template <class Step, class Snapshot, class State>
void expect_graph_replay_equal(Device dev, Step&& step, Snapshot&& snapshot, const State& first) {
  ops::StepGraph graph(dev);
  std::string why;
  ASSERT_TRUE(graph.capture(step, &why)) << why;
  graph.replay();
  EXPECT_TRUE(first == snapshot()) << "graph replay differs from plain launches";
}

// A layer's training forward + backward on (x, dy) into dx, run plainly twice and replayed from a
// captured graph: all three leave the same output, input gradient, pool, gradient norms and
// step measurements, bitwise. Returns the output of the first run (dx holds its gradient).
inline Tensor expect_step_repeatable_and_replayed(Device dev, KasminaLayer& layer, const Tensor& x,
                                                  const Tensor& dy, Tensor& dx,
                                                  const StepContext& ctx) {
  Tensor y;
  auto step = [&] {
    y = layer.forward(x, Mode::train, ctx);
    layer.backward(dy, &dx, ctx);
  };
  const ops::MorphLayerBuffers& L = layer.buffers();
  auto snapshot = [&] {
    return std::vector<std::vector<float>>{
        y.to_vector<float>(), dx.to_vector<float>(), L.pool.to_vector<float>(),
        L.grad_norm.to_vector<float>(), L.step_stats.to_vector<float>()};
  };
  step();
  const auto first = snapshot();
  const Tensor y_first = y.to(Device::cpu());
  ops::fill(dx, 0.0);
  step();
  EXPECT_TRUE(first == snapshot()) << "second plain run differs";
  ops::fill(dx, 0.0);
  expect_graph_replay_equal(dev, step, snapshot, first);
  return y_first;
}

// Every element of b (CUDA) within abs + rel * |a| of a (the CPU twin), neither a NaN; the first
// five misses reported.
inline void expect_all_close(const std::vector<float>& a, const std::vector<float>& b, double rel,
                             double abs, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  int reported = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool ok = std::fabs(double(a[i]) - b[i]) <= abs + rel * std::fabs(double(a[i])) &&
                    !std::isnan(a[i]) && !std::isnan(b[i]);
    if (!ok && reported++ < 5)
      ADD_FAILURE() << what << "[" << i << "]: cpu " << a[i] << " cuda " << b[i];
  }
}

inline bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ha = a.to(Device::cpu()), hb = b.to(Device::cpu());
  return std::memcmp(ha.raw(), hb.raw(), ha.nbytes()) == 0;
}

// A layer of `seeds` seeds of `chunk` (hidden 4, rank 3) on `dev` with every stage mixed in
// (random_stage_mix from `mix_seed`, parameters jittered), a random input x and upstream
// gradient dy on a batch of `batch`, and zeroed out and dx: the set-up of the fused-op runs on
// CUDA (streams, graph replay, performance).
struct MixedStageLayer {
  MixedStageLayer(int32_t seeds, int32_t chunk, int64_t batch, Device dev, uint64_t mix_seed)
      : cfg(with_blueprint_sizes(small_config(static_cast<int64_t>(seeds) * chunk, seeds, seeds))),
        layer(cfg) {
    layer.prepare(batch, dev);
    Rng rng(mix_seed);
    arrange(layer, random_stage_mix(seeds, rng), 5, 0.2);
    x = random_tensor<float>({batch, cfg.width}, 91, dev);
    dy = random_tensor<float>({batch, cfg.width}, 92, dev);
    out = Tensor::zeros({batch, cfg.width}, DType::f32, dev);
    dx = Tensor::zeros({batch, cfg.width}, DType::f32, dev);
  }
  static MorphConfig with_blueprint_sizes(MorphConfig c) {
    c.hidden = 4;
    c.rank = 3;
    return c;
  }

  MorphConfig cfg;
  KasminaLayer layer;
  Tensor x, dy, out, dx;
};

}  // namespace kasmina::morph::testing
