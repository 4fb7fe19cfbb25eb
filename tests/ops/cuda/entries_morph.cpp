// Op table entries of the fused morph ops (morph_forward, morph_backward, morph_optimizer_step,
// morph_lifecycle_step) and of the GEMM path's ops (morph_gemm_*, with the linear ops' GEMMs,
// ops/morph/morph_gemm_path.hpp), driven through a KasminaLayer: the CPU twin against CUDA on
// random mixes of every stage over a range of seed counts, chunk widths and batches; the input
// gradient against finite differences in float64 over the same kind of mixes (the blueprint
// parameter gradients are checked by tests/morph/test_gradients.cpp, next to the blueprint math).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/str_cat.hpp"
#include "ops/morph/morph_gemm_ops.hpp"
#include "ops/morph/morph_ops.hpp"
#include "ops/ops.hpp"
#include "tests/morph/morph_test_util.hpp"
#include "tests/ops/cuda/op_table.hpp"

namespace kasmina::morph {
namespace {

using testing::expect_all_close;

struct Case {
  int32_t seeds, chunk;
  int64_t batch;
  int32_t hidden = 4, rank = 3;         // above kRowHidden (32): the wide instantiation
  bool task = false;                    // TRAINING under the task_gradient objective
  SeedPath path = SeedPath::automatic;  // gemm: residual_mlp seeds on the GEMM path
  bool rows = false;                    // every other live seed holds row_mlp (the row group)
};

// The layer's config and seed mix of a case: with `rows`, row_mlp is allowed and every other
// live seed of the random mix holds it.
MorphConfig case_config(const Case& k) {
  MorphConfig cfg = testing::small_config(static_cast<int64_t>(k.seeds) * k.chunk, k.seeds);
  if (k.rows) cfg.allowed_blueprints.push_back(static_cast<BlueprintKind>(kRowMlpKind));
  return cfg;
}
std::vector<testing::SeedSetup> case_mix(const Case& k, Rng& rng) {
  std::vector<testing::SeedSetup> mix = testing::random_stage_mix(k.seeds, rng);
  int32_t live = 0;
  for (testing::SeedSetup& s : mix)
    if (k.rows && s.stage != Stage::dormant && live++ % 2 == 0)
      s.blueprint = static_cast<BlueprintKind>(kRowMlpKind);
  return mix;
}

// Seeds whose blueprint the GEMM path computes: their sums run in cuBLASLt's order, not in the
// CPU twin's (the fused kernels' order matches the twin's loops, hence the tight per-element
// bounds above), so their float32 results differ from the twin's by float32 rounding of long,
// cancelling sums. Each seed's pool slot: arrange() hands slots out in list order.
struct GemmSeeds {
  std::vector<int32_t> seed, slot;
};

GemmSeeds gemm_seeds(const KasminaLayer& l, const std::vector<testing::SeedSetup>& mix) {
  GemmSeeds g;
  int32_t slot = 0;
  for (const testing::SeedSetup& s : mix) {
    if (s.stage == Stage::dormant) continue;
    if (on_gemm_path(l.buffers().gemm_kinds, static_cast<int32_t>(s.blueprint))) {
      g.seed.push_back(s.seed);
      g.slot.push_back(slot);
    }
    ++slot;
  }
  return g;
}

Tensor widen(const Tensor& t) {
  const std::vector<float> v = t.to_vector<float>();
  return Tensor::from_vector(std::vector<double>(v.begin(), v.end()), t.shape());
}

// The GEMM path's values at `idx` (one seed's chunk of dx, or its gradient region), judged
// against the float64 run: CUDA's error norm at most 4x the CPU twin's float32 error, or 1e-5
// of the values' norm. The floor is needed: measured on the H200, CUDA's GEMM path is off by
// 2-3e-6 of the norm on every shape (cuBLASLt's GELU epilogue and its summation order) where
// the twin's OpenBLAS path is off by 2-3e-7; a wrong seed, alpha or term is off by 1e-3 or
// more. The indices are then taken out of the per-element comparison (their CUDA values
// replaced by the twin's).
void expect_as_accurate(const std::vector<float>& cpu, std::vector<float>& gpu,
                        const std::vector<double>& ref, const std::vector<int64_t>& idx,
                        const std::string& what) {
  double ec = 0, eg = 0, n = 0;
  for (const int64_t i : idx) {
    const auto u = static_cast<size_t>(i);
    ec += (cpu[u] - ref[u]) * (cpu[u] - ref[u]);
    eg += (gpu[u] - ref[u]) * (gpu[u] - ref[u]);
    n += ref[u] * ref[u];
    if (std::isnan(gpu[u])) eg = std::numeric_limits<double>::infinity();
    gpu[u] = cpu[u];
  }
  EXPECT_LE(std::sqrt(eg), std::max(4 * std::sqrt(ec), 1e-5 * std::sqrt(n)))
      << what << ": CUDA's error against float64 vs the CPU twin's " << std::sqrt(ec) << " (norm "
      << std::sqrt(n) << ")";
}

// Forward, telemetry, backward, blueprint gradients, optimizer and lifecycle step on a random
// mix of every stage: the CPU twin against CUDA.
void twins_agree(const Case& k) {
  MorphConfig cfg = case_config(k);
  cfg.hidden = k.hidden;
  cfg.rank = k.rank;
  cfg.lifecycle.max_training_seeds = 1 << 20;
  cfg.lifecycle.training_loss_threshold = 0.05f;
  cfg.grafting = GraftingKind::fixed_ramp;
  cfg.seed_path = k.path;
  if (k.task)
    cfg.lifecycle.training_objective = static_cast<int32_t>(TrainingObjective::task_gradient);
  Rng rng(static_cast<uint64_t>(k.seeds) * 131 + k.chunk * 7 + k.batch);
  const std::vector<testing::SeedSetup> mix = case_mix(k, rng);
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
                          " r=" + std::to_string(k.rank) + (k.task ? " task" : "");

  const Tensor ycpu = cpu.forward(x, Mode::train, ccpu.ctx);
  const Tensor ygpu = gpu.forward(x.to(Device::cuda(0)), Mode::train, cgpu.ctx);
  expect_all_close(ycpu.to_vector<float>(), ygpu.to_vector<float>(), 1e-5, 1e-5, tag + " out");
  expect_all_close(cpu.buffers().step_stats.to_vector<float>(),
                   gpu.buffers().step_stats.to_vector<float>(), 1e-4, 1e-6, tag + " step_stats");

  Tensor dxcpu = Tensor::zeros({k.batch, H});
  Tensor dxgpu = Tensor::zeros({k.batch, H}, DType::f32, Device::cuda(0));
  cpu.backward(dy, &dxcpu, ccpu.ctx);
  gpu.backward(dy.to(Device::cuda(0)), &dxgpu, cgpu.ctx);
  // The GEMM path's seeds against a float64 run of the twin (same float32 inputs and pool).
  const GemmSeeds gs = gemm_seeds(gpu, mix);
  std::vector<double> dx64, pool64;
  if (!gs.seed.empty()) {
    KasminaLayer ref(cfg, DType::f64);
    ref.prepare(k.batch, Device::cpu());
    testing::arrange(ref, mix, 5, 0.2);
    Tensor ref_pool = ref.buffers().pool;
    ref_pool.copy_from(widen(cpu.buffers().pool));
    testing::StepClock cref(Device::cpu());
    ref.forward(widen(x), Mode::train, cref.ctx);
    Tensor d = Tensor::zeros({k.batch, H}, DType::f64);
    ref.backward(widen(dy), &d, cref.ctx);
    dx64 = d.to_vector<double>();
    pool64 = ref.buffers().pool.to_vector<double>();
  }
  std::vector<float> dxg = dxgpu.to_vector<float>();
  const std::vector<float> dxc = dxcpu.to_vector<float>();
  if (k.rows && !gs.seed.empty()) {  // row_mlp seeds add to dx over the whole row
    std::vector<int64_t> idx(dxc.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
    expect_as_accurate(dxc, dxg, dx64, idx, tag + " dx (row group)");
  }
  for (const int32_t s : gs.seed) {
    if (k.rows) break;
    std::vector<int64_t> idx;
    for (int64_t b = 0; b < k.batch; ++b)
      for (int64_t c = 0; c < k.chunk; ++c) idx.push_back(b * H + int64_t{s} * k.chunk + c);
    expect_as_accurate(dxc, dxg, dx64, idx, tag + " dx of GEMM-path seed " + std::to_string(s));
  }
  expect_all_close(dxc, dxg, 1e-5, 1e-5, tag + " dx");
  // (task_gradient: the backward wrote TRAINING seeds' sum <delta, dy>, a sum over the batch)
  expect_all_close(cpu.buffers().step_stats.to_vector<float>(),
                   gpu.buffers().step_stats.to_vector<float>(), 1e-4,
                   1e-5 * std::sqrt(std::max<double>(1.0, k.batch / 64.0)),
                   tag + " step_stats after backward");
  expect_all_close(cpu.buffers().grad_norm.to_vector<float>(),
                   gpu.buffers().grad_norm.to_vector<float>(), 1e-3, 1e-5, tag + " grad_norm");
  // Gradients are sums over the batch in different orders: absolute slack grows with sqrt(B).
  const double grad_abs = 2e-5 * std::sqrt(std::max<double>(1.0, k.batch / 64.0));
  std::vector<float> poolg = gpu.buffers().pool.to_vector<float>();
  const std::vector<float> poolc = cpu.buffers().pool.to_vector<float>();
  for (size_t i = 0; i < gs.slot.size(); ++i) {
    const int64_t region = cpu.buffers().pool_region;
    const int64_t first = int64_t{gs.slot[i]} * region * kPoolRegionCount +
                          static_cast<int64_t>(PoolRegion::grad) * region;
    std::vector<int64_t> idx;
    for (int64_t j = 0; j < region; ++j) idx.push_back(first + j);
    expect_as_accurate(poolc, poolg, pool64, idx,
                       tag + " gradients of GEMM-path seed " + std::to_string(gs.seed[i]));
  }
  expect_all_close(poolc, poolg, 1e-3, grad_abs, tag + " pool after backward (gradients)");
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
  expect_all_close(cpu.buffers().pool.to_vector<float>(), gpu.buffers().pool.to_vector<float>(),
                   1e-3, 1e-5, tag + " pool after optimizer and lifecycle");
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
    if (!a.empty()) expect_all_close(a, b, 1e-3, 1e-5, tag + " " + seed_field_name(field));
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
  expect_all_close(cpu.forward(x, Mode::eval, ccpu.ctx).to_vector<float>(),
                   gpu.forward(x.to(Device::cuda(0)), Mode::eval, cgpu.ctx).to_vector<float>(),
                   1e-5, 1e-5, tag + " masked eval out");
}

const std::vector<Case>& twin_cases() {
  static const std::vector<Case> v = {
      {1, 4, 1},
      {7, 12, 33},
      {64, 16, 512},
      {1000, 16, 256},
      {1001, 16, 256},  // the stream kernel's whole-column layout with a partial last column
      {1024, 16, 512},
      {4096, 4, 64},
      {128, 32, 4096},
      {33, 64, 100},
      {256, 8, 1000},
      {3, 12, 4096},
      // the wide instantiation: chunks past 64 (a multiple of 4, up to kMaxChunk = 128), hidden
      // widths and ranks past 32 (up to 64)
      {2, 128, 300},
      {5, 100, 64},
      {9, 68, 1000, 7, 5},
      {6, 16, 256, 40, 33},
      {3, 128, 513, 64, 64},
      {4, 32, 100, 4, 64},
      // a whole-layer seed (configs/fmnist_grow.yaml: one seed, 32 -> 64 -> 32)
      {1, 32, 128, 64, 4},
      // TRAINING on the task gradient (straight through; the backward's measurement)
      {7, 12, 33, 4, 3, true},
      {256, 8, 1000, 4, 3, true},
      {6, 16, 256, 40, 33, true}};
  return v;
}

std::string case_name(const Case& k) {
  std::string name = str_cat("S", k.seeds, "_C", k.chunk, "_B", k.batch);
  if (k.hidden != 4 || k.rank != 3)
    name += "_h" + std::to_string(k.hidden) + "_r" + std::to_string(k.rank);
  if (k.task) name += "_task";
  if (k.path == SeedPath::gemm) name += "_gemm";
  if (k.rows) name += "_rows";
  return name;
}

// dx of morph_backward against central differences of the eval forward (loss Σ w ⊙ out), in
// float64 on the CPU, on a random mix of every stage.
void input_gradient(const Case& k) {
  MorphConfig cfg = case_config(k);
  cfg.hidden = 3;
  cfg.rank = 2;
  cfg.pool_slots = k.seeds + 4;
  cfg.seed_path = k.path;
  Rng rng(static_cast<uint64_t>(k.seeds) * 31 + k.chunk * 5 + k.batch);
  const std::vector<testing::SeedSetup> mix = case_mix(k, rng);
  KasminaLayer layer(cfg, DType::f64);
  layer.prepare(k.batch, Device::cpu());
  testing::arrange(layer, mix, 9, 0.3);
  testing::StepClock clock(Device::cpu());
  const int64_t H = cfg.width;
  const Tensor x = testing::random_tensor<double>({k.batch, H}, 41);
  const Tensor w = testing::random_tensor<double>({k.batch, H}, 42);
  const std::vector<double> wv = w.to_vector<double>();
  const auto loss = [&](const std::vector<double>& xv) {
    const Tensor y = layer.forward(Tensor::from_vector(xv, {k.batch, H}), Mode::eval, clock.ctx);
    const std::vector<double> yv = y.to_vector<double>();
    double l = 0;
    for (size_t i = 0; i < yv.size(); ++i) l += yv[i] * wv[i];
    return l;
  };
  layer.forward(x, Mode::train, clock.ctx);
  Tensor dx = Tensor::zeros({k.batch, H}, DType::f64);
  layer.backward(w, &dx, clock.ctx);
  const std::vector<double> g = dx.to_vector<double>();
  std::vector<double> xv = x.to_vector<double>();
  const double h = 1e-6;
  int reported = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    const double keep = xv[i];
    xv[i] = keep + h;
    const double lp = loss(xv);
    xv[i] = keep - h;
    const double lm = loss(xv);
    xv[i] = keep;
    const double num = (lp - lm) / (2 * h);
    if (!(std::fabs(g[i] - num) <= 1e-7 * (1 + std::fabs(g[i]))) && reported++ < 5)
      ADD_FAILURE() << case_name(k) << " dx[" << i << "]: analytic " << g[i] << ", numeric " << num;
  }
}

// Forward + backward of a layer of S seeds of C on a batch of B, every stage mixed in.
void morph_perf(const Case& k) {
  const int32_t S = k.seeds, C = k.chunk;
  const int64_t B = k.batch;
  const Device dev = op_table::perf_device();
  testing::MixedStageLayer rig(S, C, B, dev, static_cast<uint64_t>(S) * 7 + C);
  const ops::MorphLayerBuffers& L = rig.layer.buffers();
  const Tensor &x = rig.x, &dy = rig.dy;
  Tensor &out = rig.out, &dx = rig.dx;
  const ops::MorphForwardOptions opt;
  const std::string tag = case_name(k);
  op_table::time_op("morph_forward " + tag, dev, [&] { ops::morph_forward(L, x, out, opt); });
  op_table::time_op("morph_backward " + tag, dev,
                    [&] { ops::morph_backward(L, x, dy, &dx, true); });
}

}  // namespace
}  // namespace kasmina::morph

namespace kasmina::op_table {

KASMINA_OP_TABLE_ENTRY(morph) {
  OpTestEntry e;
  e.ops = {"morph_forward", "morph_backward", "morph_optimizer_step", "morph_lifecycle_step"};
  e.grad_ops = {"morph_forward", "morph_backward"};
  e.correctness = [] {
    return cases_over(morph::twin_cases(), &morph::case_name, &morph::twins_agree);
  };
  e.gradients = [] {
    return cases_over(std::vector<morph::Case>{{1, 4, 1}, {6, 8, 3}, {5, 3, 2}, {12, 4, 1}},
                      &morph::case_name, &morph::input_gradient);
  };
  e.perf = [] {
    return cases_over(std::vector<morph::Case>{{1024, 16, 512}, {4096, 4, 1024}}, &morph::case_name,
                      &morph::morph_perf);
  };
  return e;
}

}  // namespace kasmina::op_table

namespace kasmina::op_table {

// The GEMM path (residual_mlp seeds forced onto it; the layers mix in low_rank and diag_scale
// seeds, which stay on the fused ops): the same layer-level comparison and input gradient. The
// blueprint parameter gradients against finite differences: tests/morph/test_gradients.cpp
// (both paths) and the per-row comparison tests/morph/test_gemm_path.cpp.
KASMINA_OP_TABLE_ENTRY(morph_gemm) {
  using morph::Case;
  constexpr morph::SeedPath gemm = morph::SeedPath::gemm;
  OpTestEntry e;
  e.ops = {"morph_gemm_gather", "morph_gemm_blend", "morph_gemm_delta_grad", "morph_gemm_scatter"};
  e.grad_ops = {"morph_gemm_blend", "morph_gemm_delta_grad", "morph_gemm_scatter"};
  e.correctness = [] {
    return cases_over(std::vector<Case>{{1, 32, 128, 64, 4, false, gemm},
                                        {1, 32, 1000, 64, 4, true, gemm},
                                        {1, 16, 7, 4, 3, false, gemm},
                                        {7, 12, 33, 4, 3, false, gemm},
                                        {7, 12, 33, 4, 3, true, gemm},
                                        {2, 128, 300, 64, 4, false, gemm},
                                        {3, 68, 513, 40, 4, true, gemm}},
                      &morph::case_name, &morph::twins_agree);
  };
  e.gradients = [] {
    return cases_over(std::vector<Case>{{1, 4, 1, 4, 3, false, gemm},
                                        {6, 8, 3, 4, 3, false, gemm},
                                        {1, 12, 5, 4, 3, false, gemm},
                                        {5, 3, 2, 4, 3, false, gemm}},
                      &morph::case_name, &morph::input_gradient);
  };
  return e;
}

}  // namespace kasmina::op_table

namespace kasmina::op_table {

// The row group (row_mlp seeds, which read the whole row; ops/morph/morph_rows.hpp) in layers
// that mix them with the fused kinds and, in the `gemm` cases, with residual_mlp seeds on the
// GEMM path: the same layer-level comparison and input gradient. The parameter gradients against
// finite differences and a float64 reference: tests/morph/test_row_mlp.cpp.
KASMINA_OP_TABLE_ENTRY(morph_rows) {
  using morph::Case;
  constexpr morph::SeedPath gemm = morph::SeedPath::gemm, autom = morph::SeedPath::automatic;
  OpTestEntry e;
  e.ops = {"morph_rows_gather", "morph_rows_blend", "morph_rows_delta_grad", "morph_rows_scatter"};
  e.grad_ops = {"morph_rows_blend", "morph_rows_delta_grad", "morph_rows_scatter"};
  e.correctness = [] {
    return cases_over(std::vector<Case>{{1, 32, 128, 64, 4, false, autom, true},
                                        {4, 8, 128, 16, 3, true, autom, true},
                                        {4, 8, 1000, 16, 3, false, autom, true},
                                        {7, 12, 33, 5, 3, false, autom, true},
                                        {7, 12, 33, 5, 3, true, gemm, true},
                                        {16, 16, 513, 32, 4, true, autom, true},
                                        {3, 68, 300, 40, 4, false, gemm, true}},
                      &morph::case_name, &morph::twins_agree);
  };
  e.gradients = [] {
    return cases_over(std::vector<Case>{{1, 4, 1, 4, 3, false, autom, true},
                                        {6, 8, 3, 4, 3, false, autom, true},
                                        {5, 3, 2, 4, 3, false, gemm, true}},
                      &morph::case_name, &morph::input_gradient);
  };
  return e;
}

}  // namespace kasmina::op_table
