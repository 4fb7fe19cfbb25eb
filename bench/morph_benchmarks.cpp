// Benchmarks of the fused morphogenetic ops (src/ops/morph/) at the target shapes: forward with
// telemetry (B 512 S 1024 C 16; B 256 S 1000 C 16; float32 and bf16 activations), forward +
// backward (B 512 S 1024 C 16; float32 and bf16), each also in place (`in_place/`), the
// lifecycle step and the blueprint optimizer.
// 10% of the seeds are active, with the residual_mlp blueprint (hidden 4): every other active seed
// TRAINING (isolated loss, no blend), the rest GRAFTING with alpha 0.5 (blended into the output).
// The lifecycle is configured so that no seed changes stage while the benchmark runs (steady
// state).
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/ir_blueprints.hpp"
#include "bench/peaks.hpp"
#include "bench/registry.hpp"
#include "bench/seed_placement.hpp"
#include "bench/timed_loop.hpp"
#include "core/rng.hpp"
#include "morph/blueprint.hpp"
#include "morph/blueprint_pool.hpp"
#include "morph/seed_state.hpp"
#include "nn/kasmina_layer.hpp"
#include "ops/guard/loss_guard.hpp"
#include "ops/morph/morph_ops.hpp"
#include "ops/ops.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::bench {

namespace {

constexpr int32_t kChunk = 16;
constexpr int32_t kHidden = 4;
constexpr int32_t kActiveEvery = 10;  // 10% of the seeds active

struct MorphShape {
  int64_t batch;
  int32_t seeds;
  std::string name() const {
    char buf[64];
    std::snprintf(buf, sizeof buf, "B%ld_S%d_C%d", static_cast<long>(batch), seeds, kChunk);
    return buf;
  }
  int32_t active() const { return (seeds + kActiveEvery - 1) / kActiveEvery; }
  double elements() const { return static_cast<double>(batch) * seeds * kChunk; }
  // Elements of the blended (GRAFTING) seeds' chunks: every other active seed.
  double blended_elements() const {
    return static_cast<double>(batch) * ((active() + 1) / 2) * kChunk;
  }
  // residual_mlp: C -> hidden -> C, a multiply-add per weight, for each active (seed, row).
  double blueprint_flops() const {
    return 2.0 * 2.0 * kChunk * kHidden * active() * static_cast<double>(batch);
  }
};

morph::MorphConfig bench_config(const MorphShape& sh, int32_t kind) {
  morph::MorphConfig c;
  c.allowed_blueprints = {static_cast<morph::BlueprintKind>(kind)};
  c.width = static_cast<int64_t>(sh.seeds) * kChunk;
  c.seeds = sh.seeds;
  c.hidden = kHidden;
  c.pool_slots = sh.active();
  c.telemetry_every = 1 << 30;
  // Steady state: nothing leaves its stage while the benchmark runs.
  for (int32_t& m : c.lifecycle.min_steps) m = 1 << 30;
  c.lifecycle.training_loss_threshold = 0.0f;
  c.lifecycle.max_training_steps = 1 << 30;
  c.grafting_params.ramp_steps = 1 << 30;
  return c;
}

// A prepared layer with its seeds placed (see the file comment) and its inputs.
struct MorphFixture {
  MorphFixture(const MorphShape& sh, Device dev,
               int32_t kind = static_cast<int32_t>(morph::BlueprintKind::residual_mlp))
      : shape(sh), kind(kind), layer(bench_config(sh, kind)) {
    layer.prepare(sh.batch, dev);
    (void)layer.upgrade_kernels(true);  // IR blueprints: the kernels a run keeps (tiered compiles)
    place_seeds();
    const int64_t width = static_cast<int64_t>(sh.seeds) * kChunk;
    x = random_normal({sh.batch, width}, 50, dev);
    dy = random_normal({sh.batch, width}, 51, dev, 0.01);
    out = Tensor::empty({sh.batch, width}, DType::f32, dev);
    dx = Tensor::empty({sh.batch, width}, DType::f32, dev);
    step = Tensor::zeros({1}, DType::i64, dev);
  }

  void place_seeds() {
    SeedPlacement p;
    p.every = kActiveEvery;
    p.snapshots = true;  // grafting seeds can be rolled back (rollback benchmark)
    p.kind = kind;
    p.perturbation = [](int32_t s, int32_t i) {
      // A per-seed stream: the same values whatever order the parameters are visited in.
      Rng rng(static_cast<uint64_t>(s) * 1000003u + static_cast<uint64_t>(i) + 1);
      return 0.05f * static_cast<float>(rng.normal());
    };
    place_active_seeds(layer, p);
  }

  ops::MorphLifecycleArgs lifecycle_args() const {
    const morph::MorphConfig& c = layer.config();
    ops::MorphLifecycleArgs a;
    a.lifecycle = c.lifecycle;
    a.grafting = c.grafting_params;
    a.rules.allowed_blueprints = 1u << kind;
    a.rules.strategy = static_cast<int32_t>(c.grafting);
    a.rules.shape = layer.buffers().shape;
    a.rules.run_seed = 1;
    a.stats_fresh = true;
    a.grads_fresh = true;
    return a;
  }

  MorphShape shape;
  int32_t kind;
  morph::KasminaLayer layer;
  Tensor x, dy, out, dx, step;
};

// The same seeds running residual_mlp_ir, the IR re-statement of residual_mlp, through its
// generated kernels (after the fused ops, which skip them): compare with
// morph/forward_telemetry and morph/forward_backward at the same shape (the issue's "costs what a
// built-in kernel costs"). CUDA only (on the CPU both run the same row functions' twins).
void register_ir(const MorphShape& sh, Device dev) {
  const auto check = [](benchmark::State& s, const MorphFixture& f) {
    if (!f.layer.buffers().modules.empty()) return true;
    const std::vector<std::string>& notes = f.layer.module_notes();
    s.SkipWithError(notes.empty() ? "no module for residual_mlp_ir" : notes[0].c_str());
    return false;
  };
  register_timed("morph/ir_forward_telemetry/residual_mlp_ir/" + sh.name(),
                 [sh, dev, check](benchmark::State& s) {
                   MorphFixture f(sh, dev, residual_mlp_ir_kind());
                   if (!check(s, f)) return;
                   ops::MorphForwardOptions opt;
                   timed_loop(s, [&] { ops::morph_forward(f.layer.buffers(), f.x, f.out, opt); },
                              {.bytes = 4.0 * 2.0 * sh.elements(), .flops = sh.blueprint_flops()});
                 });
  register_timed("morph/ir_forward_backward/residual_mlp_ir/" + sh.name(),
                 [sh, dev, check](benchmark::State& s) {
                   MorphFixture f(sh, dev, residual_mlp_ir_kind());
                   if (!check(s, f)) return;
                   ops::MorphForwardOptions opt;
                   timed_loop(
                       s,
                       [&] {
                         ops::morph_forward(f.layer.buffers(), f.x, f.out, opt);
                         ops::morph_backward(f.layer.buffers(), f.x, f.dy, &f.dx, true);
                       },
                       {.bytes = 4.0 * 5.0 * sh.elements(), .flops = 3.0 * sh.blueprint_flops()});
                 });
}

void register_forward(const MorphShape& sh, Device dev) {
  register_timed("morph/forward_telemetry/" + sh.name(), [sh, dev](benchmark::State& s) {
    MorphFixture f(sh, dev);
    ops::MorphForwardOptions opt;
    timed_loop(s, [&] { ops::morph_forward(f.layer.buffers(), f.x, f.out, opt); },
               {.bytes = 4.0 * 2.0 * sh.elements(), .flops = sh.blueprint_flops()});
  });
  // The same layer on bf16 activations (half the bytes; blueprint, blend and statistics in
  // float32).
  register_timed("morph/forward_telemetry/bf16/" + sh.name(), [sh, dev](benchmark::State& s) {
    MorphFixture f(sh, dev);
    Tensor x = Tensor::empty(f.x.shape(), DType::bf16, dev),
           out = Tensor::empty(f.x.shape(), DType::bf16, dev);
    ops::cast_to_bf16(f.x, x);
    ops::MorphForwardOptions opt;
    timed_loop(s, [&] { ops::morph_forward(f.layer.buffers(), x, out, opt); },
               {.bytes = 2.0 * 2.0 * sh.elements(), .flops = sh.blueprint_flops()});
  });
}

// The fixture layer's buffers with saved rows for an in-place forward on `act` activations.
ops::MorphLayerBuffers in_place_buffers(const MorphFixture& f, DType act, Device dev) {
  ops::MorphLayerBuffers L = f.layer.buffers();
  L.saved_rows = f.shape.batch;
  L.saved = Tensor::empty({int64_t{L.pool_slots} * f.shape.batch, kChunk}, act, dev);
  return L;
}

// The in-place forward and its backward (ops::MorphForwardOptions::in_place, what a kasmina
// layer after another layer of its sequence runs): the forward reads x for the statistics and
// writes only the blended seeds' chunks (their input rows saved first); the backward rewrites
// dy's blended chunks as dx (dx = dy) and puts x back. Untimed before each iteration: x (and
// dy) as the fixture made them. float32 and bf16 activations.
void register_in_place(const MorphShape& sh, Device dev, bool half, bool backward) {
  const std::string name = std::string(backward ? "morph/forward_backward/in_place/"
                                                : "morph/forward_telemetry/in_place/") +
                           (half ? "bf16/" : "") + sh.name();
  register_timed(name, [sh, dev, half, backward](benchmark::State& s) {
    MorphFixture f(sh, dev);
    const DType act = half ? DType::bf16 : DType::f32;
    const ops::MorphLayerBuffers L = in_place_buffers(f, act, dev);
    Tensor x0 = f.x, dy0 = f.dy;
    if (half) {
      x0 = Tensor::empty(f.x.shape(), act, dev);
      dy0 = Tensor::empty(f.x.shape(), act, dev);
      ops::cast_to_bf16(f.x, x0);
      ops::cast_to_bf16(f.dy, dy0);
    }
    Tensor x = Tensor::empty(f.x.shape(), act, dev), dy = Tensor::empty(f.x.shape(), act, dev);
    ops::MorphForwardOptions opt;
    opt.in_place = true;
    const double e = half ? 2.0 : 4.0;  // bytes an element
    // Forward: x read, the blended chunks saved and written; backward: the active chunks' dy
    // and saved x read, dx and x written for the blended ones (their parameters aside).
    const double fwd = e * (sh.elements() + 2.0 * sh.blended_elements());
    const double active = 2.0 * sh.blended_elements();
    const double bwd = e * (2.0 * active + 2.0 * sh.blended_elements());
    timed_loop(
        s,
        [&] {
          ops::morph_forward(L, x, x, opt);
          if (backward) ops::morph_backward_saved(L, x, dy, &dy, true);
        },
        {.bytes = backward ? fwd + bwd : fwd,
         .flops = (backward ? 3.0 : 1.0) * sh.blueprint_flops()},
        [&] {
          x.copy_from(x0);
          if (backward) dy.copy_from(dy0);
        });
  });
}

// The two halves of the in-place forward, which run side by side in it, to tell which one bounds
// it: the statistics pass alone (every seed dormant: the stream kernel reads x and writes
// nothing; also what a dormant layer pays on the step before a telemetry read) and the seeds
// alone (no statistics: the seed kernel by itself, blending and saving the active seeds' rows).
void register_in_place_parts(const MorphShape& sh, Device dev) {
  register_timed("morph/forward_telemetry/in_place/dormant/" + sh.name(), [sh, dev](
                                                                              benchmark::State& s) {
    MorphFixture f(sh, dev);
    f.layer.restore_state(
        morph::SeedState::initial_host_state(sh.seeds),
        std::vector<int32_t>(static_cast<size_t>(f.layer.config().pool_slots), -1));
    const ops::MorphLayerBuffers L = in_place_buffers(f, DType::f32, dev);
    ops::MorphForwardOptions opt;
    opt.in_place = true;
    timed_loop(s, [&] { ops::morph_forward(L, f.x, f.x, opt); }, {.bytes = 4.0 * sh.elements()});
  });
  register_timed("morph/forward/in_place/no_statistics/" + sh.name(),
                 [sh, dev](benchmark::State& s) {
                   MorphFixture f(sh, dev);
                   const ops::MorphLayerBuffers L = in_place_buffers(f, DType::f32, dev);
                   ops::MorphForwardOptions opt;
                   opt.in_place = true;
                   opt.collect_stats = false;
                   Tensor x = Tensor::empty(f.x.shape(), DType::f32, dev);
                   timed_loop(
                       s, [&] { ops::morph_forward(L, x, x, opt); },
                       {.bytes = 4.0 * 4.0 * sh.blended_elements(), .flops = sh.blueprint_flops()},
                       [&] { x.copy_from(f.x); });
                 });
}

// Emergency rollback latency: from a non-finite step loss to the seeds being ROLLED_BACK on the
// device — the loss guard flags the step, the lifecycle step of the same boundary rolls back
// every GRAFTING seed (restoring its pre-graft parameters and optimizer state). Timed: both
// launches; untimed before each iteration: the seeds are placed in GRAFTING again.
void register_rollback(const MorphShape& sh, Device dev) {
  register_timed("morph/rollback_latency/" + sh.name(), [sh, dev](benchmark::State& s) {
    MorphFixture f(sh, dev);
    ops::LossGuardState guard = ops::make_loss_guard_state(dev);
    ops::MorphLifecycleArgs a = f.lifecycle_args();
    a.loss_alarm = guard.flag;
    Tensor loss_sum = Tensor::zeros({1}, DType::f64, dev);
    const ops::LossGuardParams p;
    timed_loop(
        s,
        [&] {
          ops::loss_guard(loss_sum, sh.batch, p, guard, nullptr);
          ops::morph_lifecycle_step(f.layer.buffers(), a, f.step);
        },
        {.bytes = 4.0 * morph::kSeedFieldCount * sh.seeds +
                  8.0 * static_cast<double>(f.layer.buffers().pool_region) * sh.active()},
        [&] {
          f.place_seeds();
          ops::fill(guard.mark, 0.0);
          ops::fill(loss_sum, std::nan(""));
        });
  });
}

}  // namespace

void register_morph_benchmarks(Device dev) {
  const MorphShape big{512, 1024}, odd{256, 1000}, short_rows{128, 1024};
  // The driver's copy of the same float32 activations: what a plain copy of those bytes costs.
  for (const MorphShape& sh : {big, odd})
    register_copy_benchmark(sh.name(), static_cast<int64_t>(sh.elements()), dev);
  register_forward(big, dev);
  register_forward(odd, dev);
  for (const bool half : {false, true}) {
    register_in_place(big, dev, half, false);
    register_in_place(big, dev, half, true);
  }
  register_in_place(odd, dev, false, false);
  register_in_place(odd, dev, false, true);
  register_in_place_parts(big, dev);
  register_in_place_parts(odd, dev);
  // The same seeds over a quarter of B512's rows: one row a thread, as at B256, over a quarter of
  // the address range (the rows are 64 KB apart), to tell per-row work from per-page cost.
  register_in_place_parts(short_rows, dev);
  register_rollback(big, dev);
  if (dev.is_cuda()) register_ir(big, dev);
  // Forward + backward at the big shape and at the configs' training batch (256 rows: one row
  // tile of the backward).
  for (const MorphShape& sh : {big, odd})
    register_timed("morph/forward_backward/" + sh.name(), [sh, dev](benchmark::State& s) {
      MorphFixture f(sh, dev);
      ops::MorphForwardOptions opt;
      timed_loop(s,
                 [&] {
                   ops::morph_forward(f.layer.buffers(), f.x, f.out, opt);
                   ops::morph_backward(f.layer.buffers(), f.x, f.dy, &f.dx, true);
                 },
                 {.bytes = 4.0 * 5.0 * sh.elements(), .flops = 3.0 * sh.blueprint_flops()});
    });
  register_timed("morph/forward_backward/bf16/" + big.name(), [big, dev](benchmark::State& s) {
    MorphFixture f(big, dev);
    Tensor x = Tensor::empty(f.x.shape(), DType::bf16, dev),
           out = Tensor::empty(f.x.shape(), DType::bf16, dev),
           dy = Tensor::empty(f.x.shape(), DType::bf16, dev),
           dx = Tensor::empty(f.x.shape(), DType::bf16, dev);
    ops::cast_to_bf16(f.x, x);
    ops::cast_to_bf16(f.dy, dy);
    ops::MorphForwardOptions opt;
    timed_loop(s,
               [&] {
                 ops::morph_forward(f.layer.buffers(), x, out, opt);
                 ops::morph_backward(f.layer.buffers(), x, dy, &dx, true);
               },
               {.bytes = 2.0 * 5.0 * big.elements(), .flops = 3.0 * big.blueprint_flops()});
  });
  register_timed("morph/lifecycle_step/S" + std::to_string(big.seeds),
                 [big, dev](benchmark::State& s) {
                   MorphFixture f(big, dev);
                   ops::MorphForwardOptions opt;
                   ops::morph_forward(f.layer.buffers(), f.x, f.out, opt);
                   ops::morph_backward(f.layer.buffers(), f.x, f.dy, &f.dx, true);
                   const ops::MorphLifecycleArgs a = f.lifecycle_args();
                   timed_loop(s, [&] { ops::morph_lifecycle_step(f.layer.buffers(), a, f.step); },
                              {.bytes = 4.0 * morph::kSeedFieldCount * big.seeds});
                 });
  register_timed("morph/optimizer_step/S" + std::to_string(big.seeds) + "_active" +
                     std::to_string(big.active()),
                 [big, dev](benchmark::State& s) {
                   MorphFixture f(big, dev);
                   ops::MorphForwardOptions opt;
                   ops::morph_forward(f.layer.buffers(), f.x, f.out, opt);
                   ops::morph_backward(f.layer.buffers(), f.x, f.dy, &f.dx, true);
                   const morph::BlueprintOptimizer h = f.layer.config().optimizer;
                   const double params =
                       static_cast<double>(f.layer.buffers().pool_region) * big.active();
                   timed_loop(s, [&] { ops::morph_optimizer_step(f.layer.buffers(), h); },
                              {.bytes = 4.0 * 7.0 * params, .flops = 16.0 * params});
                 });
}

}  // namespace kasmina::bench
