// The whole training step (gather, forward, loss, backward, optimizer) of the reference MLP
// (configs/fmnist_mlp.yaml: 784-256-128-10, ReLU, AdamW, cosine schedule) through
// Trainer::train_step, at batch 128 (the config's) and 256. On CUDA the step is captured once in
// a CUDA graph and replayed, as `kasmina train` runs it. The data are synthetic images of the
// Fashion-MNIST shape (the values do not change the work done).
//
// The same step with a dormant kasmina layer after each hidden layer (256 -> 16 seeds of 16,
// 128 -> 8 seeds of 16, no germination) measures what an idle morphogenetic layer costs: its
// counter dormant_overhead is (time with / time without) - 1, against the plain benchmark of the
// same batch when that ran earlier in the same process. With every seed dormant the trainer runs
// the step without the loss guard (Trainer::update_guard), so Trainer::train_step is that step.
#include <map>
#include <string>
#include <vector>

#include "bench/registry.hpp"
#include "bench/timed_loop.hpp"
#include "config/config.hpp"
#include "config/layers/kasmina.hpp"
#include "config/layers/linear.hpp"
#include "data/dataset.hpp"
#include "train/trainer.hpp"

namespace kasmina::bench {

namespace {

constexpr int64_t kFeatures = 784;
constexpr int64_t kClasses = 10;
constexpr int64_t kTrainImages = 60000;
constexpr int64_t kTestImages = 1000;

Config fmnist_mlp_config(int64_t batch, bool dormant_kasmina) {
  Config c;
  c.name = "fmnist_mlp";
  auto linear = [](int64_t out) {
    LayerConfig l(LayerType::linear);
    l.as<LinearConfig>().out = out;
    return l;
  };
  const LayerConfig relu(LayerType::relu);
  auto kasmina = [](int64_t seeds) {
    LayerConfig l(LayerType::kasmina);
    l.as<KasminaConfig>().seeds = seeds;
    return l;
  };
  if (dormant_kasmina)
    c.model.layers = {linear(256), relu,       kasmina(16),     linear(128),
                      relu,        kasmina(8), linear(kClasses)};
  else
    c.model.layers = {linear(256), relu, linear(128), relu, linear(kClasses)};
  c.optimizer.type = OptimizerType::adamw;
  c.optimizer.lr = 1e-3;
  c.optimizer.weight_decay = 0.01;
  c.lr_schedule.type = LrScheduleType::cosine;
  c.train.epochs = 20;
  c.train.batch_size = batch;
  c.train.eval_batch_size = kTestImages;
  return c;
}

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

// Mean step seconds of the plain model per batch size, for the dormant-overhead counter.
std::map<int64_t, double>& plain_step_seconds() {
  static std::map<int64_t, double> m;
  return m;
}

void train_step_benchmark(benchmark::State& s, int64_t batch, bool dormant_kasmina, Device dev) {
  DataSplits data;
  data.train = synthetic_split("train", kTrainImages, 1);
  data.test = synthetic_split("test", kTestImages, 2);
  data.description = "synthetic images of the Fashion-MNIST shape";
  Trainer trainer(fmnist_mlp_config(batch, dormant_kasmina), data, dev);
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
  double weights = 0.0;
  for (const Parameter* p : trainer.model().parameters())
    weights += static_cast<double>(p->value.numel());
  const double seconds = timed_loop(
      s,
      [&] {
        graph.replay();
        ++step_in_epoch;
      },
      {.flops = 6.0 * weights * static_cast<double>(batch)}, next_epoch_if_due);
  if (seconds > 0.0) s.counters["samples_per_second"] = static_cast<double>(batch) / seconds;
  if (!dormant_kasmina) {
    plain_step_seconds()[batch] = seconds;
  } else if (const auto it = plain_step_seconds().find(batch);
             it != plain_step_seconds().end() && it->second > 0.0) {
    s.counters["dormant_overhead"] = seconds / it->second - 1.0;
  }
}

}  // namespace

void register_train_step_benchmarks(Device dev) {
  for (int64_t batch : {int64_t{128}, int64_t{256}}) {
    register_timed(
        "train_step/fmnist_mlp_784-256-128-10/B" + std::to_string(batch),
        [batch, dev](benchmark::State& s) { train_step_benchmark(s, batch, false, dev); });
    register_timed(
        "train_step/fmnist_mlp_dormant_kasmina/B" + std::to_string(batch),
        [batch, dev](benchmark::State& s) { train_step_benchmark(s, batch, true, dev); });
  }
}

}  // namespace kasmina::bench
