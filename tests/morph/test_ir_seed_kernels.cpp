// The generated seed kernels (ops/blueprint_codegen.hpp) built as a host library (one thread per
// block, tests/ir/host_kernel.hpp) against the CPU twins of the fused ops, on a layer mixing every
// computing stage of an IR seed with a built-in seed and a dormant one: after what the fused ops
// leave for an IR seed (x / dy in its chunk, no isolated loss, a zero gradient), the seed kernels
// give the twins' out, isolated loss, dx, parameter gradients, gradient norms and task_gradient
// measurement, and touch no other seed. The IR-interpreting seed kernels
// (kernels/morph/ir_interpret_seed.cuh) the same way. The same kernels on a GPU: test_ir_cuda.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "../ir/cache_test_util.hpp"
#include "../ir/host_kernel.hpp"
#include "ir/plan.hpp"
#include "ir/program.hpp"
#include "ir_layer_util.hpp"
#include "kernels/morph/ir_interpret_seed.cuh"
#include "morph/stage.hpp"
#include "ops/blueprint_codegen.hpp"
#include "ops/morph/blueprint_module.hpp"
#include "ops/morph/morph_ops.hpp"

namespace kasmina::morph {
namespace {

using SeedKernel = void (*)(ops::IrSeedArgs);

void expect_close(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], 2e-5f + 1e-4f * std::fabs(b[i])) << what << "[" << i << "]";
}

void set(const Tensor& t, const std::vector<float>& v) {
  Tensor u = t;
  u.copy_from(Tensor::from_vector(v, t.shape()));
}

struct Case {
  const char* file;
  const char* name;
};

using SeedFn = std::function<void(const ops::IrSeedArgs&)>;
// Makes the seed kernels under test for kind K on the rig's layer shape (false: skip/fail).
using MakeKernels =
    std::function<bool(int32_t K, const BlueprintShape& sh, SeedFn* fwd, SeedFn* bwd)>;

// After what the fused ops leave for the IR seeds, the seed kernels give the twins' values.
void check_seed_kernels(const Case& c, const MakeKernels& make) {
  const int32_t K = testing::register_ir(c.file, c.name);
  const int32_t C = 8, S = 8;
  const int64_t B = 5, H = S * C;
  testing::IrRig rig({K}, C, B, Device::cpu(), K);
  ops::MorphLayerBuffers L = rig.layer.buffers();
  SeedFn fwd, bwd;
  ASSERT_TRUE(make(K, L.shape, &fwd, &bwd));

  HostSeedState h = rig.layer.seed_state().download();
  const SeedStateView v = h.view();
  const std::vector<float> x = rig.x.to_vector<float>(), dy = rig.dy.to_vector<float>();
  // m with the chunks of the IR seeds taken from src (what the fused ops write for them).
  auto fused = [&](std::vector<float> m, const std::vector<float>& src) {
    for (int32_t s = 0; s < S; ++s)
      if (v.blueprint[s] == K)
        for (int64_t r = 0; r < B; ++r)
          for (int32_t c = 0; c < C; ++c) m[r * H + s * C + c] = src[r * H + s * C + c];
    return m;
  };

  // Forward: the twin, then the seed kernel after the fused op's part.
  ops::MorphForwardOptions opt;
  ops::cpu::morph_forward(L, rig.x, rig.out, opt);
  const std::vector<float> out_ref = rig.out.to_vector<float>();
  const std::vector<float> stats_ref = L.step_stats.to_vector<float>();
  EXPECT_GT(std::fabs(stats_ref[2 * 2 + 1]), 0.0f) << "the TRAINING seed has an isolated loss";
  std::vector<float> stats = stats_ref;
  stats[2 * 2 + 1] = 0.0f;
  set(L.step_stats, stats);
  ASSERT_NE(fused(out_ref, x), out_ref) << "the blended IR seeds change their chunks";
  set(rig.out, fused(out_ref, x));
  ops::IrSeedArgs a = ops::seed_kernel_args(L, K, rig.x);
  a.out = rig.out.data<float>();
  a.collect = 1;
  fwd(a);
  expect_close(rig.out.to_vector<float>(), out_ref, "out");
  expect_close(L.step_stats.to_vector<float>(), stats_ref, "step_stats");

  // Backward under both training objectives.
  for (const TrainingObjective obj :
       {TrainingObjective::reconstruction, TrainingObjective::task_gradient}) {
    SCOPED_TRACE(static_cast<int>(obj));
    L.training_objective = static_cast<int32_t>(obj);
    const std::vector<float> pool0 = L.pool.to_vector<float>();
    ops::cpu::morph_backward(L, rig.x, rig.dy, &rig.dx, true);
    const std::vector<float> dx_ref = rig.dx.to_vector<float>();
    const std::vector<float> pool_ref = L.pool.to_vector<float>();
    const std::vector<float> norm_ref = L.grad_norm.to_vector<float>();
    const std::vector<float> bstats_ref = L.step_stats.to_vector<float>();
    // What the fused backward leaves for the IR seeds: dy, a zero gradient and norm, and (under
    // task_gradient) a zero measurement.
    std::vector<float> pool = pool_ref, norm = norm_ref, bstats = bstats_ref;
    PoolView<float> pv{pool.data(), nullptr, L.pool_slots, L.pool_region};
    for (int32_t s = 0; s < S; ++s) {
      if (v.blueprint[s] != K) continue;
      norm[s] = 0.0f;
      if (v.slot[s] >= 0)
        for (int32_t i = 0; i < L.pool_region; ++i) pv.at(v.slot[s], PoolRegion::grad)[i] = 0.0f;
    }
    if (obj == TrainingObjective::task_gradient) bstats[2 * 2 + 1] = 0.0f;
    // Under task_gradient the kernel also owns the zero norms of the seeds (of any kind) that do
    // not train, as when no fused seed kernel runs: start those from garbage.
    const bool zero_norms = obj == TrainingObjective::task_gradient;
    int32_t poisoned = 0;
    for (int32_t s = 0; s < S && zero_norms; ++s)
      if (!(stage_trains(v.stage[s]) && v.slot[s] >= 0)) {
        EXPECT_EQ(norm_ref[s], 0.0f) << s;
        norm[s] = 7.0f;
        ++poisoned;
      }
    EXPECT_TRUE(!zero_norms || poisoned >= 2) << "dormant and identity seeds";
    set(L.pool, pool);
    set(L.grad_norm, norm);
    set(L.step_stats, bstats);
    ASSERT_NE(fused(dx_ref, dy), dx_ref) << "the blended IR seeds change their dx";
    set(rig.dx, fused(dx_ref, dy));
    ops::IrSeedArgs b = ops::seed_kernel_args(L, K, rig.x);
    b.dy = rig.dy.data<float>();
    b.out = rig.dx.data<float>();
    b.param_grads = 1;
    b.task = obj == TrainingObjective::task_gradient ? 1 : 0;
    b.zero_norms = zero_norms ? 1 : 0;
    bwd(b);
    expect_close(rig.dx.to_vector<float>(), dx_ref, "dx");
    expect_close(L.pool.to_vector<float>(), pool_ref, "pool (gradients)");
    expect_close(L.grad_norm.to_vector<float>(), norm_ref, "grad_norm");
    expect_close(L.step_stats.to_vector<float>(), bstats_ref, "step_stats");
    EXPECT_GT(norm_ref[1], 0.0f) << "the FINE_TUNING seed has a gradient";
    set(L.pool, pool0);
  }
}

// The generated seed kernels as blocks of one thread, over a grid of one block (every seed) and
// of 3 blocks (block b takes the pool slots b, b + 3, ...: several seeds a block, the built-in
// seed's slot among them, which the IR kernels pass over).
class IrSeedKernelsOnHost : public ::testing::TestWithParam<Case> {};

TEST_P(IrSeedKernelsOnHost, MatchTheCpuTwins) {
  if (!ir::testing::host_compiler_present()) GTEST_SKIP() << "no host C++ compiler";
  ir::testing::CacheDir dir;
  ir::testing::HostKernel k;
  for (const int32_t grid : {1, 3}) {
    SCOPED_TRACE(grid);
    check_seed_kernels(
        GetParam(), [&](int32_t K, const BlueprintShape& sh, SeedFn* fwd, SeedFn* bwd) {
          const ir::IrBlueprint& bp = *ir::ir_blueprint_of(*find_blueprint(K));
          const std::string source = ops::generate_blueprint_source(bp.graph(), bp.plan(sh));
          if (!k.lib) {
            EXPECT_TRUE(ir::testing::build_on_host(source, dir.path(), &k)) << source;
          }
          const auto f = k.symbol<SeedKernel>(ops::kIrSeedForwardKernel);
          const auto b = k.symbol<SeedKernel>(ops::kIrSeedBackwardKernel);
          auto over_blocks = [&k, grid](SeedKernel kernel) {
            return [&k, grid, kernel](const ops::IrSeedArgs& a) {
              k.set_grid(grid);
              for (int32_t i = 0; i < grid; ++i) {
                k.set_block(i);
                kernel(a);
              }
            };
          };
          *fwd = over_blocks(f);
          *bwd = over_blocks(b);
          return f && b;
        });
  }
}

// The IR-interpreting seed kernels (kernels/morph/ir_interpret_seed.cuh) as blocks of one thread
// over a grid of 3 blocks (seeds b, b + 3, ...), on the program of the blueprint.
class IrInterpretedSeedKernelsOnHost : public ::testing::TestWithParam<Case> {};

TEST_P(IrInterpretedSeedKernelsOnHost, MatchTheCpuTwins) {
  std::vector<int32_t> words;
  std::vector<float> ws;
  ir_interp::Program q;
  check_seed_kernels(GetParam(),
                     [&](int32_t K, const BlueprintShape& sh, SeedFn* fwd, SeedFn* bwd) {
                       const ir::IrBlueprint& bp = *ir::ir_blueprint_of(*find_blueprint(K));
                       const ir::Plan& plan = bp.plan(sh);
                       words = ir::make_program(bp.graph(), plan);
                       constexpr int32_t kGrid = 3;
                       q.stride = 2 * plan.scratch + 2 * sh.chunk + (plan.factor_count | 1);
                       ws.assign(static_cast<size_t>(kGrid * q.stride), 0.0f);
                       q.words = words.data();
                       q.ws = ws.data();
                       q.chunk = sh.chunk;
                       q.scratch = plan.scratch;
                       q.params = plan.param_count;
                       q.factors = plan.factor_count;
                       auto over_blocks = [&](bool backward) {
                         return [&, backward](const ops::IrSeedArgs& a) {
                           double red[1];
                           for (int32_t b = 0; b < kGrid; ++b) {
                             const ir_interp::Place at{b, kGrid, 0, 1};
                             backward ? ir_interp::seed_backward(a, q, at, red)
                                      : ir_interp::seed_forward(a, q, at, red);
                           }
                         };
                       };
                       *fwd = over_blocks(false);
                       *bwd = over_blocks(true);
                       return true;
                     });
}

INSTANTIATE_TEST_SUITE_P(Blueprints, IrInterpretedSeedKernelsOnHost,
                         ::testing::Values(Case{"gated_mlp.yaml", "gated_mlp"},
                                           Case{"builtins_ir.yaml", "residual_mlp_ir"},
                                           Case{"builtins_ir.yaml", "low_rank_ir"},
                                           Case{"builtins_ir.yaml", "diag_scale_ir"}),
                         [](const auto& info) { return std::string(info.param.name); });

INSTANTIATE_TEST_SUITE_P(Blueprints, IrSeedKernelsOnHost,
                         ::testing::Values(Case{"gated_mlp.yaml", "gated_mlp"},
                                           Case{"builtins_ir.yaml", "residual_mlp_ir"},
                                           Case{"builtins_ir.yaml", "low_rank_ir"},
                                           Case{"builtins_ir.yaml", "diag_scale_ir"}),
                         [](const auto& info) { return std::string(info.param.name); });

// The initialiser table of the CUDA lifecycle kernel gives the values the descriptor gives (the
// CPU twin's initialisation), bit for bit.
TEST(IrSeedKernels, InitTableMatchesTheDescriptor) {
  const int32_t K = testing::register_ir("gated_mlp.yaml", "gated_mlp");
  const BlueprintShape sh{8, 4, 3};
  const Tensor t = ops::registered_init_table({K}, sh, Device::cpu());
  ASSERT_TRUE(t.defined());
  const std::vector<int32_t> w = t.to_vector<int32_t>();
  const BlueprintDescriptor& d = *find_blueprint(K);
  const int32_t n = d.param_count(d, sh);
  ASSERT_EQ(w[2 * K + 1], n);
  ASSERT_GE(w[2 * K], 2 * kMaxBlueprintKinds);
  EXPECT_EQ(w[0], -1) << "residual_mlp has no entries";
  int32_t nonzero = 0;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t* e = &w[static_cast<size_t>(w[2 * K] + 3 * i)];
    float a;
    std::memcpy(&a, &e[1], sizeof a);
    const float got = ir::init_value_of(e[0], a, init_uniform(i, 99, 2, 5), e[2]);
    ASSERT_EQ(got, d.init_value(d, sh, i, 99, 2, 5)) << i;
    nonzero += got != 0.0f ? 1 : 0;
  }
  EXPECT_GT(nonzero, 0);
  EXPECT_FALSE(ops::registered_init_table({0, 1, 2}, sh, Device::cpu()).defined());
}

}  // namespace
}  // namespace kasmina::morph
