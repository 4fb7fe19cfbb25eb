// The whole-layer seed of configs/fmnist_grow.yaml: one seed over the 32-wide hidden
// layer, residual_mlp 32 -> 64 -> 32, GRAFTING at alpha 1 (blended; trained by the global loss),
// on the per-row path (the fused kernels' wide instantiation, one block per seed) and on the
// GEMM path (morph/seed_path.hpp; the config's automatic choice). Timed through the layer, as
// the trainer calls it:
//   morph/whole_layer_seed/<path>/B128_H32_h64          training forward (statistics pass) +
//                                                       backward (input and blueprint gradients)
//                                                       at the config's batch
//   morph/whole_layer_seed_eval/<path>/B1000_H32_h64    evaluation forward at its eval batch
// FLOPs: the analytic blueprint counts (ResidualMlp::flops) per row; bytes: x, out, dy, dx and
// the parameters and gradients (the GEMM path's scratch, a few hundred KB, is not counted).
#include <string>

#include "bench/registry.hpp"
#include "bench/seed_placement.hpp"
#include "bench/timed_loop.hpp"
#include "morph/blueprint_residual_mlp.hpp"
#include "nn/kasmina_layer.hpp"
#include "ops/ops.hpp"

namespace kasmina::bench {

namespace {

constexpr int64_t kWidth = 32;
constexpr int32_t kHidden = 64;

struct WholeLayerFixture {
  WholeLayerFixture(morph::SeedPath path, int64_t batch, Device dev)
      : layer(config(path)), clock_step(Tensor::zeros({1}, DType::i64, dev)) {
    layer.prepare(batch, dev);
    SeedPlacement p;
    p.every = 1;
    p.grafting_alpha = 1.0f;
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

}  // namespace

void register_whole_layer_benchmarks(Device dev) {
  register_path(morph::SeedPath::row, "row", dev);
  register_path(morph::SeedPath::gemm, "gemm", dev);
}

}  // namespace kasmina::bench
