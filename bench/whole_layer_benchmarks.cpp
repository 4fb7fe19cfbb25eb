// The whole-layer seed of configs/fmnist_grow.yaml: one seed over the 32-wide hidden
// layer, residual_mlp 32 -> 64 -> 32, GRAFTING at alpha 1 (blended; trained by the global loss),
// on the per-row path (the fused kernels' wide instantiation, one block per seed) and on the
// GEMM path (morph/seed_path.hpp; the config's automatic choice). Timed through the layer, as
// the trainer calls it:
//   morph/whole_layer_seed/<path>/B128_H32_h64          training forward (statistics pass) +
//                                                       backward (input and blueprint gradients)
//                                                       at the config's batch
//   morph/whole_layer_seed_eval/<path>/B1000_H32_h64    evaluation forward at its eval batch
// and the four row seeds of configs/fmnist_grow_rows.yaml (row_mlp 32 -> 24 -> 8 each, reading
// the whole row; the row group, ops/morph/morph_row_group.hpp), all GRAFTING at alpha 1:
//   morph/row_seeds/B128_S4_H32_h24                     training forward + backward
//   morph/row_seeds_eval/B1000_S4_H32_h24               evaluation forward
// FLOPs: the analytic blueprint counts (ResidualMlp::flops, RowMlp::flops) per row and seed;
// bytes: x, out, dy, dx and the parameters and gradients (the GEMM scratch, a few hundred KB, is
// not counted).
#include <string>

#include "bench/registry.hpp"
#include "bench/seed_placement.hpp"
#include "bench/timed_loop.hpp"
#include "morph/blueprint_residual_mlp.hpp"
#include "morph/blueprint_row_mlp.hpp"
#include "nn/kasmina_layer.hpp"
#include "ops/ops.hpp"

namespace kasmina::bench {

namespace {

constexpr int64_t kWidth = 32;
constexpr int32_t kHidden = 64;
constexpr int32_t kRowSeeds = 4, kRowHidden = 24;  // configs/fmnist_grow_rows.yaml

struct WholeLayerFixture {
  // rows: the four row seeds instead of the whole-layer seed (path then unused).
  WholeLayerFixture(morph::SeedPath path, int64_t batch, Device dev, bool rows = false)
      : layer(rows ? row_config() : config(path)), clock_step(Tensor::zeros({1}, DType::i64, dev)) {
    layer.prepare(batch, dev);
    SeedPlacement p;
    p.every = 1;
    p.grafting_alpha = 1.0f;
    if (rows) p.kind = morph::kRowMlpKind;
    p.perturbation = [](int32_t, int32_t i) { return 0.01f * static_cast<float>(i % 7 - 3); };
    place_active_seeds(layer, p);
    x = random_normal({batch, kWidth}, 60, dev);
    dy = random_normal({batch, kWidth}, 61, dev, 0.01);
    dx = Tensor::empty({batch, kWidth}, DType::f32, dev);
    ctx.step = clock_step;
    ctx.seed = 1;
  }
  static morph::MorphConfig config(morph::SeedPath path) {
    morph::MorphConfig c;
    c.width = kWidth;
    c.seeds = 1;
    c.hidden = kHidden;
    c.allowed_blueprints = {morph::BlueprintKind::residual_mlp};
    c.pool_slots = 1;
    c.telemetry_every = 1 << 30;
    c.seed_path = path;
    return c;
  }
  static morph::MorphConfig row_config() {
    morph::MorphConfig c = config(morph::SeedPath::automatic);
    c.seeds = kRowSeeds;
    c.hidden = kRowHidden;
    c.allowed_blueprints = {static_cast<morph::BlueprintKind>(morph::kRowMlpKind)};
    c.pool_slots = kRowSeeds;
    return c;
  }
  morph::KasminaLayer layer;
  Tensor clock_step;
  StepContext ctx;
  Tensor x, dy, dx;
};

double row_flops(bool backward) {
  morph::BlueprintShape sh;
  sh.chunk = static_cast<int32_t>(kWidth);
  sh.hidden = kHidden;
  const morph::BlueprintFlops f = morph::ResidualMlp::flops(sh);
  return static_cast<double>(f.forward) +
         (backward ? static_cast<double>(f.backward_hidden + f.backward_input + f.backward_params)
                   : 0.0);
}

void register_path(morph::SeedPath path, const char* name, Device dev) {
  const double params = static_cast<double>(2 * kHidden * kWidth + kHidden + kWidth);
  const std::string shape = "_H" + std::to_string(kWidth) + "_h" + std::to_string(kHidden);
  register_timed(std::string("morph/whole_layer_seed/") + name + "/B128" + shape,
                 [path, dev, params](benchmark::State& s) {
                   constexpr int64_t B = 128;
                   WholeLayerFixture f(path, B, dev);
                   timed_loop(s,
                              [&] {
                                f.layer.forward(f.x, Mode::train, f.ctx);
                                f.layer.backward(f.dy, &f.dx, f.ctx);
                              },
                              {.bytes = 4.0 * (4.0 * B * kWidth + 2.0 * params),
                               .flops = row_flops(true) * B});
                 });
  register_timed(std::string("morph/whole_layer_seed_eval/") + name + "/B1000" + shape,
                 [path, dev, params](benchmark::State& s) {
                   constexpr int64_t B = 1000;
                   WholeLayerFixture f(path, B, dev);
                   timed_loop(
                       s, [&] { f.layer.forward(f.x, Mode::eval, f.ctx); },
                       {.bytes = 4.0 * (2.0 * B * kWidth + params), .flops = row_flops(false) * B});
                 });
}

void register_row_seeds(Device dev) {
  morph::BlueprintShape sh;
  sh.chunk = static_cast<int32_t>(kWidth / kRowSeeds);
  sh.hidden = kRowHidden;
  sh.width = static_cast<int32_t>(kWidth);
  const morph::BlueprintFlops f = morph::RowMlp::flops(sh);
  const double fwd = static_cast<double>(kRowSeeds) * static_cast<double>(f.forward);
  const double bwd = static_cast<double>(kRowSeeds) *
                     static_cast<double>(f.backward_hidden + f.backward_input + f.backward_params);
  const double params = static_cast<double>(kRowSeeds) * morph::RowMlp::param_count(sh);
  const std::string shape = "_S" + std::to_string(kRowSeeds) + "_H" + std::to_string(kWidth) +
                            "_h" + std::to_string(kRowHidden);
  register_timed("morph/row_seeds/B128" + shape, [dev, params, fwd, bwd](benchmark::State& s) {
    constexpr int64_t B = 128;
    WholeLayerFixture f(morph::SeedPath::automatic, B, dev, true);
    timed_loop(s,
               [&] {
                 f.layer.forward(f.x, Mode::train, f.ctx);
                 f.layer.backward(f.dy, &f.dx, f.ctx);
               },
               {.bytes = 4.0 * (4.0 * B * kWidth + 2.0 * params), .flops = (fwd + bwd) * B});
  });
  register_timed("morph/row_seeds_eval/B1000" + shape, [dev, params, fwd](benchmark::State& s) {
    constexpr int64_t B = 1000;
    WholeLayerFixture f(morph::SeedPath::automatic, B, dev, true);
    timed_loop(s, [&] { f.layer.forward(f.x, Mode::eval, f.ctx); },
               {.bytes = 4.0 * (2.0 * B * kWidth + params), .flops = fwd * B});
  });
}

}  // namespace

void register_whole_layer_benchmarks(Device dev) {
  register_path(morph::SeedPath::row, "row", dev);
  register_path(morph::SeedPath::gemm, "gemm", dev);
  register_row_seeds(dev);
}

}  // namespace kasmina::bench
