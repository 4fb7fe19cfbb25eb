// The whole training step (gather, forward, loss, backward, optimizer) of an MLP through
// Trainer::train_step. On CUDA the step is captured once in a CUDA graph and replayed, as
// `kasmina train` runs it. The data are synthetic images of the Fashion-MNIST shape (the values
// do not change the work done). All use AdamW and the cosine schedule, ReLU between the layers.
//
//   train_step/fmnist_mlp_784-256-128-10/B{128,256}[/bf16]   the reference MLP
//       (configs/fmnist_mlp.yaml) at its batch and at 256; no suffix: train.precision fp32;
//       .../bf16/forward_casts: without the bf16 weight copies written by the optimizer (each
//       layer casts its weight in its forward, KASMINA_OPTIMIZER_BF16_COPIES=0; the other rows
//       follow the environment, where the copies are on by default)
//   train_step/fmnist_mlp_784-256-128-10/B{128,256}/steady   the same as a training run sees it:
//       100 steps back to back per timed iteration (10 on the CPU), 20 iterations per repetition
//       whatever --min-time says, the L2 not overwritten between them (the weights and optimizer
//       state stay cached from step to step, as in `kasmina train`; this is how
//       bench/torch_reference.py times PyTorch's steps); the plain ones start each step cold
//   train_step/mlp_784-{1024-1024,4096-4096}-10/B4096/{fp32,tf32,bf16}   the wide MLPs in each
//       train.precision (the 4096-wide ones are skipped on the CPU: a step is ~0.5 TFLOP)
//
// FLOPs per step are counted analytically: forward 2·B·Σ in·out over the linear layers, the
// backward twice that; frac_of_peak_flops is relative to the GEMM peak of the step's math
// measured in the same run (bench/peaks.hpp: fp32, TF32 or bf16 tensor cores).
//
//   train_step/fmnist_mlp_active_kasmina{,_ir}/B256   the reference MLP with a kasmina layer after
//       each hidden layer (16 and 8 seeds of 16), every 4th seed active (TRAINING and GRAFTING in
//       turn) with residual_mlp, or with residual_mlp_ir, its IR restatement, through the
//       generated kernels (from the kernel cache once compiled): issue 16's step-time overhead of
//       a cached IR blueprint is the _ir row's counter ir_overhead, (time / the built-in row's
//       time) - 1, when both ran in the process
//
// The same step with a dormant kasmina layer after each hidden layer (256 -> 16 seeds of 16,
// 128 -> 8 seeds of 16, no germination) measures what an idle morphogenetic layer costs: its
// counter dormant_overhead is (time with / time without) - 1, against the plain benchmark of the
// same batch when that ran earlier in the same process. With every seed dormant the trainer runs
// the step without the loss guard (Trainer::update_guard), so Trainer::train_step is that step.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench/ir_blueprints.hpp"
#include "bench/registry.hpp"
#include "bench/seed_placement.hpp"
#include "bench/timed_loop.hpp"
#include "bench/train_step.hpp"
#include "config/config.hpp"
#include "config/layers/kasmina.hpp"
#include "config/layers/linear.hpp"
#include "core/env_switch.hpp"
#include "core/str_cat.hpp"
#include "data/dataset.hpp"
#include "morph/blueprint.hpp"
#include "nn/model.hpp"
#include "train/precision.hpp"
#include "train/trainer.hpp"

namespace kasmina::bench {

namespace {

constexpr int64_t kFeatures = 784;
constexpr int64_t kClasses = 10;
constexpr int64_t kTrainImages = 60000;
constexpr int64_t kTestImages = 1000;

// The hidden widths of the reference MLP (configs/fmnist_mlp.yaml).
const std::vector<int64_t> kReferenceHidden = {256, 128};

struct StepCase {
  std::vector<int64_t> hidden;  // hidden widths (784 -> hidden... -> 10)
  int64_t batch = 128;
  PrecisionMode precision = PrecisionMode::fp32;
  bool dormant_kasmina = false;  // the reference MLP with a dormant kasmina layer per hidden layer
  bool steady = false;           // timed_steady: steps back to back, the L2 not overwritten
  bool forward_casts = false;    // no optimizer-written bf16 weight copies (nn/layer.hpp)
  // >= 0: a kasmina layer after each hidden layer allowing only this blueprint kind, every
  // kActiveEvery-th seed active with it (TRAINING and GRAFTING in turn; the layers' boundaries
  // are not part of the step, so the seeds stay where they are placed)
  int32_t active_kind = -1;
  std::string active_blueprint;  // its name (the layer config's `blueprints:`)
};

constexpr int32_t kActiveEvery = 4;

// Steps per timed iteration of a steady benchmark (bench/torch_reference.py times 100 steps; on
// the CPU, where every step is synchronous, 10); kSteadyIterations of them per repetition (the
// fixed count shows in the name: ".../iterations:20"). 2000 steps take ~0.15 s on the H200.
constexpr int kSteadyStepsCuda = 100;
constexpr int kSteadyStepsCpu = 10;

Config mlp_config(const StepCase& k) {
  Config c;
  c.name = "fmnist_mlp";
  auto linear = [](int64_t out) {
    LayerConfig l(LayerType::linear);
    l.as<LinearConfig>().out = out;
    return l;
  };
  const LayerConfig relu(LayerType::relu);
  auto kasmina = [&k](int64_t seeds) {
    LayerConfig l(LayerType::kasmina);
    KasminaConfig& m = l.as<KasminaConfig>();
    m.seeds = seeds;
    if (k.active_kind >= 0) {
      m.blueprints = {k.active_blueprint};
      m.pool_slots = (seeds + kActiveEvery - 1) / kActiveEvery;
    }
    return l;
  };
  for (int64_t width : k.hidden) {
    c.model.layers.push_back(linear(width));
    c.model.layers.push_back(relu);
    if (k.dormant_kasmina || k.active_kind >= 0) c.model.layers.push_back(kasmina(width / 16));
  }
  c.model.layers.push_back(linear(kClasses));
  c.optimizer.type = OptimizerType::adamw;
  c.optimizer.lr = 1e-3;
  c.optimizer.weight_decay = 0.01;
  c.lr_schedule.type = LrScheduleType::cosine;
  c.train.epochs = 20;
  c.train.batch_size = k.batch;
  c.train.eval_batch_size = kTestImages;
  c.train.precision = k.precision;
  return c;
}

// 2·B·Σ in·out: the forward's multiply-adds of the linear layers.
double forward_flops(const StepCase& k) {
  double macs = 0.0;
  int64_t in = kFeatures;
  for (int64_t width : k.hidden) {
    macs += static_cast<double>(in) * static_cast<double>(width);
    in = width;
  }
  macs += static_cast<double>(in) * static_cast<double>(kClasses);
  return 2.0 * static_cast<double>(k.batch) * macs;
}

// Mean step seconds of the rows other rows are compared with, by row ("plain B256": the plain
// fp32 reference model, the dormant rows' reference; "active B256": residual_mlp seeds through
// the hand-written kernels, the IR row's reference).
std::map<std::string, double>& reference_seconds() {
  static std::map<std::string, double> m;
  return m;
}

// Counter `name`: `seconds` over those of reference row `of`, minus one, when it ran earlier in
// the process.
void set_overhead(benchmark::State& s, const char* name, double seconds, const std::string& of) {
  if (const auto it = reference_seconds().find(of);
      it != reference_seconds().end() && it->second > 0.0)
    s.counters[name] = seconds / it->second - 1.0;
}

// Active seeds of k.active_kind in every kasmina layer (bench/seed_placement.hpp); IR blueprints
// with the kernels a run keeps (a tiered compile's fused ones).
void place_seeds(Model& model, const StepCase& k) {
  for (morph::KasminaLayer* l : model.morph_layers()) {
    (void)l->upgrade_kernels(true);
    SeedPlacement p;
    p.every = kActiveEvery;
    p.kind = k.active_kind;
    p.perturbation = [](int32_t seed, int32_t i) {
      return 0.01f * static_cast<float>((seed * 31 + i * 17) % 13 - 6);
    };
    place_active_seeds(*l, p);
  }
}

void train_step_benchmark(benchmark::State& s, const StepCase& k, Device dev) {
  const ScopedSwitch copies(optimizer_bf16_copies, set_optimizer_bf16_copies,
                            !k.forward_casts && optimizer_bf16_copies());
  std::function<void(Model&)> prepare;
  if (k.active_kind >= 0) prepare = [&k](Model& m) { place_seeds(m, k); };
  const double seconds = run_train_step(
      s, mlp_config(k), dev, k.steady, dev.is_cuda() ? kSteadyStepsCuda : kSteadyStepsCpu,
      [&](Model&) { return 3.0 * forward_flops(k); }, prepare);
  const std::string b = " B" + std::to_string(k.batch);
  if (k.active_kind >= 0) {
    const bool builtin = k.active_kind == static_cast<int32_t>(morph::BlueprintKind::residual_mlp);
    if (builtin)
      reference_seconds()["active" + b] = seconds;
    else
      set_overhead(s, "ir_overhead", seconds, "active" + b);
    return;
  }
  if (k.steady) return;  // the plain rows are the dormant rows' reference
  const bool plain_reference = k.hidden == kReferenceHidden && k.precision == PrecisionMode::fp32;
  if (!plain_reference) return;
  if (!k.dormant_kasmina)
    reference_seconds()["plain" + b] = seconds;
  else
    set_overhead(s, "dormant_overhead", seconds, "plain" + b);
}

std::string widths_name(const std::vector<int64_t>& hidden) {
  std::string n = std::to_string(kFeatures);
  for (int64_t width : hidden) n += str_cat("-", width);
  return n + str_cat("-", kClasses);
}

// A step of this many FLOPs and more is skipped on the CPU (minutes for a few iterations).
constexpr double kMaxCpuStepFlops = 1e11;

}  // namespace

Dataset synthetic_split(const std::string& name, int64_t n, uint64_t seed) {
  Dataset d;
  d.name = name;
  std::vector<uint8_t> pixels(static_cast<size_t>(n * kFeatures));
  uint64_t h = seed;
  for (uint8_t& p : pixels) {
    h = h * 6364136223846793005ull + 1442695040888963407ull;
    p = static_cast<uint8_t>(h >> 56);
  }
  d.images = Tensor::from_vector(pixels, {n, kFeatures});
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    labels[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7 + 3) % kClasses);
  d.labels = Tensor::from_vector(labels, {n});
  d.num_classes = kClasses;
  d.scale = 1.0f / (255.0f * 0.35f);
  d.shift = -0.29f / 0.35f;
  return d;
}

double run_train_step(benchmark::State& s, const Config& cfg, Device dev, bool steady, int steps,
                      const std::function<double(Model&)>& flops,
                      const std::function<void(Model&)>& prepare) {
  DataSplits data;
  data.train = synthetic_split("train", kTrainImages, 1);
  data.test = synthetic_split("test", kTestImages, 2);
  data.description = "synthetic images of the Fashion-MNIST shape";
  // The trainer sets the device's math mode from train.precision; the benchmarks after this one
  // get the mode back.
  const ops::MathMode mode_before = ops::math_mode(dev);
  Trainer trainer(cfg, data, dev);
  if (prepare) prepare(trainer.model());
  int64_t epoch = 0, step_in_epoch = 0;
  trainer.begin_epoch(epoch);
  auto next_epoch_if_due = [&] {
    if (step_in_epoch < trainer.steps_per_epoch()) return;
    trainer.begin_epoch(++epoch);
    step_in_epoch = 0;
  };
  trainer.train_step();  // lazy set-up (GEMM algorithm choice) outside any capture
  ++step_in_epoch;
  ops::StepGraph graph(dev);
  std::string reason;
  // On the CPU replay() simply calls the step.
  if (!graph.capture([&] { trainer.train_step(); }, &reason) && dev.is_cuda())
    s.SetLabel("no CUDA graph: " + reason);
  auto step = [&] {
    graph.replay();
    ++step_in_epoch;
  };
  const Work work{.flops = flops(trainer.model()), .math = math_mode_of(cfg.train.precision)};
  const double seconds = steady ? timed_steady(s, step, steps, work, next_epoch_if_due)
                                : timed_loop(s, step, work, next_epoch_if_due);
  ops::set_math_mode(dev, mode_before);
  if (seconds > 0.0) {
    s.counters["samples_per_second"] = static_cast<double>(cfg.train.batch_size) / seconds;
  }
  return seconds;
}

void register_train_step_benchmarks(Device dev) {
  for (int64_t batch : {int64_t{128}, int64_t{256}}) {
    const std::string b = "/B" + std::to_string(batch);
    StepCase plain{kReferenceHidden, batch};
    register_timed("train_step/fmnist_mlp_" + widths_name(kReferenceHidden) + b,
                   [plain, dev](benchmark::State& s) { train_step_benchmark(s, plain, dev); });
    StepCase steady = plain;
    steady.steady = true;
    register_timed("train_step/fmnist_mlp_" + widths_name(kReferenceHidden) + b + "/steady",
                   [steady, dev](benchmark::State& s) { train_step_benchmark(s, steady, dev); })
        ->Iterations(kSteadyIterations);
    StepCase dormant = plain;
    dormant.dormant_kasmina = true;
    register_timed("train_step/fmnist_mlp_dormant_kasmina" + b,
                   [dormant, dev](benchmark::State& s) { train_step_benchmark(s, dormant, dev); });
    if (batch == 256) {  // residual_mlp seeds, then the same as its IR restatement's kernels
      StepCase active = plain;
      active.active_kind = static_cast<int32_t>(morph::BlueprintKind::residual_mlp);
      active.active_blueprint = "residual_mlp";
      register_timed("train_step/fmnist_mlp_active_kasmina" + b,
                     [active, dev](benchmark::State& s) { train_step_benchmark(s, active, dev); });
      register_timed("train_step/fmnist_mlp_active_kasmina_ir" + b,
                     [plain, dev](benchmark::State& s) {
                       StepCase ir = plain;
                       ir.active_kind = residual_mlp_ir_kind();
                       ir.active_blueprint = "residual_mlp_ir";
                       train_step_benchmark(s, ir, dev);
                     });
    }
    StepCase bf16 = plain;
    bf16.precision = PrecisionMode::bf16;
    register_timed("train_step/fmnist_mlp_" + widths_name(kReferenceHidden) + b + "/bf16",
                   [bf16, dev](benchmark::State& s) { train_step_benchmark(s, bf16, dev); });
    StepCase casts = bf16;
    casts.forward_casts = true;
    register_timed(
        "train_step/fmnist_mlp_" + widths_name(kReferenceHidden) + b + "/bf16/forward_casts",
        [casts, dev](benchmark::State& s) { train_step_benchmark(s, casts, dev); });
  }
  constexpr int64_t kWideBatch = 4096;
  for (int64_t width : {int64_t{1024}, int64_t{4096}}) {
    for (PrecisionMode p : {PrecisionMode::fp32, PrecisionMode::tf32, PrecisionMode::bf16}) {
      const StepCase k{{width, width}, kWideBatch, p};
      const bool skip = dev.is_cpu() && 3.0 * forward_flops(k) >= kMaxCpuStepFlops;
      register_timed("train_step/mlp_" + widths_name(k.hidden) + "/B" + std::to_string(kWideBatch) +
                         "/" + to_string(p),
                     [k, dev, skip](benchmark::State& s) {
                       if (skip) {
                         s.SkipWithError(
                             "skipped on the CPU (a step is about 0.5 TFLOP: minutes for a few "
                             "iterations); run it with --device cuda");
                         return;
                       }
                       train_step_benchmark(s, k, dev);
                     });
    }
  }
}

}  // namespace kasmina::bench
