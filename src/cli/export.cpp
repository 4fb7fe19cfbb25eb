// `kasmina export RUN_DIR|CHECKPOINT --format safetensors OUT`: rebuilds the run's model on the
// CPU from the checkpoint (its own checkpoint section: host parameters, seed states, blueprint
// pool) and writes the trained network, fossilized seeds and seeds in other live stages
// included, as a safetensors file with the model description in its metadata
// (io/network_export.hpp; docs/EXPORT.md). The dataset is loaded for the
// input normalisation the network was trained with. OUT is written atomically.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "cli/trained_run.hpp"
#include "data/class_names.hpp"
#include "data/dataset.hpp"
#include "io/network_export.hpp"
#include "io/run_checkpoint.hpp"
#include "kasmina_build_config.hpp"
#include "ops/ops.hpp"

namespace kasmina::cli {

namespace {

struct ExportOptions {
  std::string path;
  std::string format;
  std::string out;
  std::string data_dir;
};

int run_export(const ExportOptions& o) {
  check_output_file(o.out);
  const TrainedRun run = load_trained_run("export", o.path, "cpu", o.data_dir);
  const Config& cfg = run.config;
  ops::init();
  ops::use_device(Device::cpu());
  const DataSplits data = load_data(cfg.data, cfg.seed);
  Model model(cfg.model, dataset_shape(cfg.data).input(), cfg.seed, Device::cpu());
  model.prepare(1);
  const RunState state = io::from_checkpoint(run.checkpoint);
  model.load_state(StateReader(state));

  io::NetworkInput input;
  input.features = data.train.features();
  input.scale = data.train.scale;
  input.shift = data.train.shift;
  input.classes = data.train.num_classes;
  input.class_names = class_names(cfg.data.dataset);
  const io::NetworkExport net = io::export_network(cfg, model, input);
  const std::map<std::string, std::string> metadata = {
      {"format", "kasmina-network"},
      {"format_version", "1"},
      {"model", net.model.dump()},
      {"config", run.checkpoint.config_yaml},
      {"kasmina_version", KASMINA_VERSION},
      {"checkpoint", run.checkpoint_file},
      {"step", std::to_string(run.checkpoint.step)}};
  io::write_safetensors(o.out, net.tensors, metadata);
  const auto& params = net.model["parameters"];
  std::printf(
      "exported %s (step %lld): %zu tensors, %lld host parameters + %lld seed "
      "parameters -> %s\n",
      run.checkpoint_file.c_str(), static_cast<long long>(run.checkpoint.step), net.tensors.size(),
      static_cast<long long>(params["host"].get<int64_t>()),
      static_cast<long long>(params["seeds"].get<int64_t>()), o.out.c_str());
  return 0;
}

}  // namespace

void add_export_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<ExportOptions>();
  CLI::App* cmd = app.add_subcommand(
      "export", "Write a trained network (grown seeds included) as a safetensors file");
  add_trained_run_options(*cmd, opts->path, opts->data_dir, ", for the input normalisation");
  cmd->add_option("OUT", opts->out, "the file to write")->required();
  cmd->add_option("--format", opts->format, "safetensors")
      ->required()
      ->check(CLI::IsMember({"safetensors"}));
  cmd->callback([opts, &exit_code] { exit_code = run_export(*opts); });
}

}  // namespace kasmina::cli
