// kasmina-instruction-probe: runs a fixed number of calls of each hot CPU kernel, marking the
// measured region for valgrind's callgrind, so that scripts/perf_gate.sh can count the
// instructions each kernel executes. Instruction counts do not depend on the load of the
// machine, which makes them a regression gate that does not flake on shared CI runners (pin
// OpenBLAS's kernel with OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS=1; the script does).
//
// Under callgrind (--collect-atstart=no) only each probe's measured calls are collected; they
// are dumped as one profile part whose description is the probe name. Outside valgrind the markers
// do nothing and the probes simply run (a quick check that they work).
//
//   kasmina-instruction-probe [--list | --context | PROBE...]
#include <valgrind/callgrind.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_env.hpp"
#include "bench/seed_placement.hpp"
#include "bench/timed_loop.hpp"
#include "config/config.hpp"
#include "config/layers/linear.hpp"
#include "core/error.hpp"
#include "data/dataset.hpp"
#include "kasmina_build_config.hpp"
#include "morph/blueprint.hpp"
#include "morph/blueprint_pool.hpp"
#include "nn/kasmina_layer.hpp"
#include "ops/morph/morph_ops.hpp"
#include "ops/ops.hpp"
#include "train/trainer.hpp"

namespace kasmina::bench {
namespace {

const Device kCpu = Device::cpu();

struct Probe {
  std::string name;
  int calls;  // measured calls
  // Prepares inputs (uninstrumented) and returns the measured call.
  std::function<std::function<void()>()> setup;
};

struct Linear {
  int64_t in, out;
  ops::Activation act;
};

std::vector<Probe> probes() {
  constexpr int64_t B = 128;
  std::vector<Probe> p;
  p.push_back(
      {"linear_forward_784x256_relu_B128", 3, [] {
         auto x = random_normal({B, 784}, 1, kCpu), w = random_normal({256, 784}, 2, kCpu, 0.05);
         auto b = random_normal({256}, 3, kCpu), y = Tensor::empty({B, 256}, DType::f32, kCpu);
         auto aux = ops::make_linear_aux(B, 256, ops::Activation::relu, kCpu);
         return [=]() mutable { ops::linear_forward(x, w, b, ops::Activation::relu, y, aux); };
       }});
  p.push_back({"linear_backward_weight_784x256_B128", 3, [] {
                 auto dy = random_normal({B, 256}, 4, kCpu), x = random_normal({B, 784}, 5, kCpu);
                 auto dw = Tensor::empty({256, 784}, DType::f32, kCpu),
                      db = Tensor::empty({256}, DType::f32, kCpu);
                 return [=]() mutable { ops::linear_backward_weight(dy, x, dw, &db); };
               }});
  p.push_back(
      {"linear_backward_input_256x128_drelu_dbias_B128", 5, [] {
         auto px = random_normal({B, 784}, 6, kCpu), pw = random_normal({256, 784}, 7, kCpu, 0.05);
         auto pb = random_normal({256}, 8, kCpu), py = Tensor::empty({B, 256}, DType::f32, kCpu);
         auto aux = ops::make_linear_aux(B, 256, ops::Activation::relu, kCpu);
         ops::linear_forward(px, pw, pb, ops::Activation::relu, py, aux);
         auto dy = random_normal({B, 128}, 9, kCpu), w = random_normal({128, 256}, 10, kCpu, 0.05);
         auto dx = Tensor::empty({B, 256}, DType::f32, kCpu),
              dbias = Tensor::empty({256}, DType::f32, kCpu);
         return [=]() mutable {
           ops::linear_backward_input(dy, w, ops::Activation::relu, aux, dx, &dbias);
         };
       }});
  p.push_back(
      {"softmax_xent_B128_C10", 20, [] {
         auto logits = random_normal({B, 10}, 11, kCpu), labels = random_ints({B}, 10, 12, kCpu);
         auto dl = Tensor::empty({B, 10}, DType::f32, kCpu);
         auto loss = Tensor::zeros({1}, DType::f64, kCpu),
              correct = Tensor::zeros({1}, DType::i64, kCpu);
         return [=]() mutable { ops::softmax_xent(logits, labels, 1.0f / B, &dl, loss, &correct); };
       }});
  p.push_back(
      {"layernorm_forward_M128_N256", 20, [] {
         auto x = random_normal({B, 256}, 13, kCpu), g = random_normal({256}, 14, kCpu);
         auto be = random_normal({256}, 15, kCpu), y = Tensor::empty({B, 256}, DType::f32, kCpu);
         auto mean = Tensor::empty({B}, DType::f32, kCpu),
              rstd = Tensor::empty({B}, DType::f32, kCpu);
         return [=]() mutable { ops::layernorm_forward(x, g, be, 1e-5f, y, mean, rstd); };
       }});
  p.push_back(
      {"layernorm_backward_M128_N256", 20, [] {
         auto x = random_normal({B, 256}, 16, kCpu), g = random_normal({256}, 17, kCpu);
         auto be = random_normal({256}, 18, kCpu), y = Tensor::empty({B, 256}, DType::f32, kCpu);
         auto mean = Tensor::empty({B}, DType::f32, kCpu),
              rstd = Tensor::empty({B}, DType::f32, kCpu);
         ops::layernorm_forward(x, g, be, 1e-5f, y, mean, rstd);
         auto dy = random_normal({B, 256}, 19, kCpu),
              dx = Tensor::empty({B, 256}, DType::f32, kCpu);
         auto dg = Tensor::empty({256}, DType::f32, kCpu),
              db = Tensor::empty({256}, DType::f32, kCpu);
         return [=]() mutable { ops::layernorm_backward(dy, x, g, mean, rstd, dx, dg, db); };
       }});
  p.push_back({"gather_batch_u8_784_B128", 20, [] {
                 constexpr int64_t n = 2048;
                 std::vector<uint8_t> px(static_cast<size_t>(n * 784));
                 for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 131u >> 3);
                 auto images = Tensor::from_vector(px, {n, 784});
                 auto labels = random_ints({n}, 10, 20, kCpu), perm = random_ints({n}, n, 21, kCpu);
                 auto cursor = Tensor::zeros({1}, DType::i64, kCpu);
                 auto x = Tensor::empty({B, 784}, DType::f32, kCpu),
                      y = Tensor::empty({B}, DType::i32, kCpu);
                 return [=]() mutable {
                   ops::gather_batch(images, labels, perm, cursor, 1.0f / 255, 0.0f, x, y);
                 };
               }});
  p.push_back({"adamw_step_fmnist_mlp_params", 3, [] {
                 std::vector<Tensor> params, grads, m, v;
                 uint64_t seed = 30;
                 for (const Shape& s : {Shape{256, 784}, Shape{256}, Shape{128, 256}, Shape{128},
                                        Shape{10, 128}, Shape{10}}) {
                   params.push_back(random_normal(s, seed++, kCpu, 0.05));
                   grads.push_back(random_normal(s, seed++, kCpu, 0.01));
                   m.push_back(Tensor::zeros(s, DType::f32, kCpu));
                   v.push_back(Tensor::zeros(s, DType::f32, kCpu));
                 }
                 auto plan = std::make_shared<ops::MultiTensorPlan>(params, grads, m, v);
                 auto step = Tensor::zeros({1}, DType::i64, kCpu);
                 LrSchedule sched;
                 sched.type = LrScheduleType::cosine;
                 sched.total_steps = 100000;
                 return [=] { ops::adamw_step(*plan, ops::AdamWHyper{}, sched, step); };
               }});
  return p;
}

// Morphogenetic ops at a reduced shape (B 64, S 256, C 16; 10% of the seeds active, as in the
// GPU benchmarks): callgrind runs them ~50x slower than native.
struct MorphProbeState {
  MorphProbeState() : layer(config()) {
    layer.prepare(64, kCpu);
    const ops::MorphLayerBuffers& L = layer.buffers();
    SeedPlacement placement;
    placement.perturbation = [](int32_t, int32_t i) { return 0.01f * static_cast<float>(i % 7); };
    place_active_seeds(layer, placement);
    x = random_normal({64, 256 * 16}, 40, kCpu);
    dy = random_normal({64, 256 * 16}, 41, kCpu, 0.01);
    out = Tensor::empty({64, 256 * 16}, DType::f32, kCpu);
    dx = Tensor::empty({64, 256 * 16}, DType::f32, kCpu);
    step = Tensor::zeros({1}, DType::i64, kCpu);
    ops::morph_forward(L, x, out, {});
    ops::morph_backward(L, x, dy, &dx, true);
  }
  static morph::MorphConfig config() {
    morph::MorphConfig c;
    c.width = 256 * 16;
    c.seeds = 256;
    c.pool_slots = 26;
    c.telemetry_every = 1 << 30;
    for (int32_t& m : c.lifecycle.min_steps) m = 1 << 30;  // steady state
    c.lifecycle.training_loss_threshold = 0.0f;
    c.lifecycle.max_training_steps = 1 << 30;
    c.grafting_params.ramp_steps = 1 << 30;
    return c;
  }
  ops::MorphLifecycleArgs lifecycle_args() const {
    ops::MorphLifecycleArgs a;
    a.lifecycle = layer.config().lifecycle;
    a.grafting = layer.config().grafting_params;
    a.rules.allowed_blueprints = 1u;
    a.rules.shape = layer.buffers().shape;
    a.stats_fresh = a.grads_fresh = true;
    return a;
  }
  morph::KasminaLayer layer;
  Tensor x, dy, out, dx, step;
};

void add_morph_probes(std::vector<Probe>& p) {
  p.push_back({"morph_forward_telemetry_B64_S256_C16", 3, [] {
                 auto s = std::make_shared<MorphProbeState>();
                 return [s] { ops::morph_forward(s->layer.buffers(), s->x, s->out, {}); };
               }});
  p.push_back({"morph_backward_B64_S256_C16", 3, [] {
                 auto s = std::make_shared<MorphProbeState>();
                 return [s] { ops::morph_backward(s->layer.buffers(), s->x, s->dy, &s->dx, true); };
               }});
  p.push_back({"morph_lifecycle_step_S256", 10, [] {
                 auto s = std::make_shared<MorphProbeState>();
                 const ops::MorphLifecycleArgs a = s->lifecycle_args();
                 return [s, a] { ops::morph_lifecycle_step(s->layer.buffers(), a, s->step); };
               }});
  p.push_back({"morph_optimizer_step_S256", 10, [] {
                 auto s = std::make_shared<MorphProbeState>();
                 return [s] {
                   ops::morph_optimizer_step(s->layer.buffers(), s->layer.config().optimizer);
                 };
               }});
}

// The whole training step of the reference MLP (784-256-128-10, AdamW) at batch 128.
void add_train_step_probe(std::vector<Probe>& p) {
  p.push_back({"train_step_fmnist_mlp_B128", 2, [] {
                 Config c;
                 auto linear = [](int64_t out) {
                   LayerConfig l(LayerType::linear);
                   l.as<LinearConfig>().out = out;
                   return l;
                 };
                 const LayerConfig relu(LayerType::relu);
                 c.model.layers = {linear(256), relu, linear(128), relu, linear(10)};
                 c.lr_schedule.type = LrScheduleType::cosine;
                 c.train.batch_size = 128;
                 c.train.eval_batch_size = 256;
                 DataSplits data;
                 for (Dataset* d : {&data.train, &data.test}) {
                   constexpr int64_t n = 1024;
                   std::vector<uint8_t> px(static_cast<size_t>(n * 784));
                   for (size_t i = 0; i < px.size(); ++i)
                     px[i] = static_cast<uint8_t>(i * 2654435761u >> 24);
                   d->images = Tensor::from_vector(px, {n, 784});
                   d->labels = random_ints({n}, 10, 50, kCpu);
                   d->num_classes = 10;
                   d->scale = 1.0f / 255;
                 }
                 auto trainer = std::make_shared<Trainer>(c, data, kCpu);
                 trainer->begin_epoch(0);
                 trainer->train_step();
                 return [trainer] { trainer->train_step(); };
               }});
}

std::vector<Probe> all_probes() {
  std::vector<Probe> p = probes();
  add_morph_probes(p);
  add_train_step_probe(p);
  return p;
}

int run(int argc, char** argv) {
  const std::vector<Probe> all = all_probes();
  std::vector<std::string> wanted;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--list") == 0) {
      for (const Probe& p : all) std::printf("%s %d\n", p.name.c_str(), p.calls);
      return 0;
    }
    if (std::strcmp(argv[i], "--context") == 0) {
      std::printf("build=%s compiler=%s\n", KASMINA_BUILD_TYPE, __VERSION__);
      return 0;
    }
    wanted.emplace_back(argv[i]);
  }
  for (const std::string& w : wanted) {
    bool known = false;
    for (const Probe& p : all) known = known || p.name == w;
    if (!known) {
      std::fprintf(stderr, "kasmina-instruction-probe: unknown probe '%s' (--list shows them)\n",
                   w.c_str());
      return 2;
    }
  }
  for (const Probe& p : all) {
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), p.name) == wanted.end())
      continue;
    std::function<void()> call = p.setup();
    call();  // warm-up: lazy allocations happen outside the measured region
    CALLGRIND_ZERO_STATS;
    CALLGRIND_TOGGLE_COLLECT;
    for (int i = 0; i < p.calls; ++i) call();
    CALLGRIND_TOGGLE_COLLECT;
    CALLGRIND_DUMP_STATS_AT(p.name.c_str());
    std::printf("%s %d calls\n", p.name.c_str(), p.calls);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace kasmina::bench

int main(int argc, char** argv) {
  try {
    return kasmina::bench::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kasmina-instruction-probe: %s\n", e.what());
    return 1;
  }
}
