// The training step of the reference networks, as `kasmina train` runs it (Trainer::train_step
// captured in a CUDA graph), on synthetic images of the Fashion-MNIST shape:
//
//   train_step/fmnist_resnet/B128/{tf32,bf16}        configs/fmnist_resnet.yaml (bf16 is its own)
//   train_step/fmnist_vit/B128/{fp32,tf32,bf16}      configs/fmnist_vit.yaml
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

void network_step_benchmark(benchmark::State& s, const std::string& file, PrecisionMode p,
                            Device dev) {
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
    for (PrecisionMode p : modes) {
      const std::string file = name + ".yaml";
      register_timed(
          "train_step/" + name + "/B" + std::to_string(kNetworkBatch) + "/" + to_string(p),
          [file, p, dev](benchmark::State& s) { network_step_benchmark(s, file, p, dev); })
          ->Iterations(kSteadyIterations);
    }
  }
}

}  // namespace kasmina::bench
