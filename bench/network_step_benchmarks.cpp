// The training step of the reference networks, as `kasmina train` runs it (Trainer::train_step
// captured in a CUDA graph), on synthetic images of the Fashion-MNIST shape:
//
//   train_step/fmnist_resnet/B128/{tf32,bf16}        configs/fmnist_resnet.yaml (bf16 is its own)
//   train_step/fmnist_vit/B128/{fp32,tf32,bf16}      configs/fmnist_vit.yaml
//   .../bf16/forward_casts   bf16 without the weight copies written by the optimizer (each layer
//       casts its weight in its forward: KASMINA_OPTIMIZER_BF16_COPIES=0)
//   train_step/fmnist_vit/B128/bf16/attention   the ViT with the opt-in bf16 attention
//       (KASMINA_BF16_ATTENTION=1; docs/PRECISION.md); the plain rows follow the environment
//
// The configs are read from the source tree (./configs, or $KASMINA_SOURCE_ROOT/configs): the
// benchmark times exactly the network, optimizer, schedule and augmentation a training run of
// that config uses, in each train.precision. Steady: kNetworkSteps steps back to back per timed
// iteration (the caches as a training run leaves them), kSteadyIterations iterations per
// repetition. FLOPs per step: the model's analytic count (Model::train_flops_per_step, the
// optimizer not counted). Skipped on the CPU (a ResNet step is ~70 GFLOP) and, with a message,
// when the config cannot be found.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/registry.hpp"
#include "bench/timed_loop.hpp"
#include "bench/train_step.hpp"
#include "core/env_switch.hpp"
#include "nn/layer.hpp"
#include "nn/transformer_layers.hpp"
#include "train/precision.hpp"

namespace kasmina::bench {

namespace {

constexpr int64_t kNetworkBatch = 128;
constexpr int kNetworkSteps = 20;

// The config file `name` (e.g. "fmnist_resnet.yaml") in ./configs or $KASMINA_SOURCE_ROOT/configs;
// "" when neither has it.
std::string find_config(const std::string& name) {
  std::vector<std::filesystem::path> dirs = {"configs"};
  if (const char* root = std::getenv("KASMINA_SOURCE_ROOT")) {
    dirs.push_back(std::filesystem::path(root) / "configs");
  }
  std::error_code ec;
  for (const auto& d : dirs) {
    if (std::filesystem::is_regular_file(d / name, ec)) return (d / name).string();
  }
  return "";
}

// The bf16 switches a benchmark sets against their defaults (the others as the environment has
// them): the optimizer's weight copies off, the bf16 attention on.
struct Bf16Switches {
  bool forward_casts = false, attention = false;
  std::string suffix() const {
    return std::string(forward_casts ? "/forward_casts" : "") + (attention ? "/attention" : "");
  }
};

void network_step_benchmark(benchmark::State& s, const std::string& file, PrecisionMode p,
                            Bf16Switches sw, Device dev) {
  const ScopedSwitch copies(optimizer_bf16_copies, set_optimizer_bf16_copies,
                            !sw.forward_casts && optimizer_bf16_copies());
  const ScopedSwitch attention(bf16_attention, set_bf16_attention,
                               sw.attention || bf16_attention());
  if (dev.is_cpu()) {
    s.SkipWithError("skipped on the CPU (tens of GFLOP a step); run it with --device cuda");
    return;
  }
  const std::string path = find_config(file);
  if (path.empty()) {
    const std::string why = "configs/" + file +
                            " not found: run kasmina bench from the source tree or set "
                            "KASMINA_SOURCE_ROOT";
    s.SkipWithError(why.c_str());
    return;
  }
  Config cfg = load_config(path);
  cfg.train.batch_size = kNetworkBatch;
  cfg.train.precision = p;
  run_train_step(s, cfg, dev, /*steady=*/true, kNetworkSteps,
                 [](Model& m) { return m.train_flops_per_step(kNetworkBatch, 0); });
}

}  // namespace

void register_network_step_benchmarks(Device dev) {
  const std::vector<std::pair<std::string, std::vector<PrecisionMode>>> networks = {
      {"fmnist_resnet", {PrecisionMode::tf32, PrecisionMode::bf16}},
      {"fmnist_vit", {PrecisionMode::fp32, PrecisionMode::tf32, PrecisionMode::bf16}}};
  for (const auto& [name, modes] : networks) {
    std::vector<std::pair<PrecisionMode, Bf16Switches>> variants;
    for (PrecisionMode p : modes) variants.push_back({p, {}});
    variants.push_back({PrecisionMode::bf16, {.forward_casts = true}});
    if (name == "fmnist_vit") variants.push_back({PrecisionMode::bf16, {.attention = true}});
    for (const auto& [p, sw] : variants) {
      const std::string file = name + ".yaml";
      register_timed(
          "train_step/" + name + "/B" + std::to_string(kNetworkBatch) + "/" + to_string(p) +
              sw.suffix(),
          [file, p, sw, dev](benchmark::State& s) { network_step_benchmark(s, file, p, sw, dev); })
          ->Iterations(kSteadyIterations);
    }
  }
}

}  // namespace kasmina::bench
