// `kasmina eval RUN_DIR|CHECKPOINT [--split test|validation] [--device D] [--json [FILE]]`:
// rebuilds the run's trainer from the checkpoint (the resume path: every component restores its
// own section, seeds in their stages with their alpha), evaluates the model on one split with the
// trainer's evaluator, and prints the loss, the accuracy, the per-class accuracy and the
// confusion matrix. `--json` prints the report as JSON instead; `--json FILE` writes it to FILE
// (atomically) beside the text.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "cli/print.hpp"
#include "cli/trained_run.hpp"
#include "data/class_names.hpp"
#include "data/dataset.hpp"
#include "io/atomic_file.hpp"
#include "io/eval_report.hpp"
#include "io/run_checkpoint.hpp"
#include "ops/ops.hpp"
#include "train/trainer.hpp"

namespace kasmina::cli {

namespace {

struct EvalOptions {
  std::string path;
  std::string split = "test";
  std::string device;
  std::string data_dir;
  std::string json_file;  // "" with --json: print JSON instead of the text
  bool json = false;
};

int run_eval(const EvalOptions& o) {
  if (o.json && !o.json_file.empty()) check_output_file(o.json_file);
  TrainedRun run = load_trained_run("eval", o.path, o.device, o.data_dir);
  const Config& cfg = run.config;
  if (o.split == "validation" && cfg.data.validation == 0)
    throw UserError("eval " + o.path +
                    ": --split validation: the run has no validation split (data.validation is 0)");
  const Device dev = Device::parse(cfg.device);
  ops::init();
  ops::use_device(dev);
  const DataSplits data = load_data(cfg.data, cfg.seed);
  Trainer trainer(cfg, data, dev);
  trainer.restore_state(io::from_checkpoint(run.checkpoint));

  io::EvalReportInput in;
  in.checkpoint = run.checkpoint_file;
  in.config_name = cfg.name;
  in.step = run.checkpoint.step;
  in.epoch = run.checkpoint.epoch;
  in.split = o.split;
  in.device = dev.str();
  in.data = data.description;
  in.class_names = class_names(cfg.data.dataset);
  run.checkpoint = {};
  in.result = trainer.evaluate(o.split, 0, &in.confusion);
  const auto report = io::eval_report_json(in);
  if (o.json && o.json_file.empty()) {
    print(report.dump(2) + "\n");
    return 0;
  }
  if (o.json) io::write_file_atomically(o.json_file, report.dump(2) + "\n");
  print(io::format_eval_report(report));
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Evaluate a trained network: loss, accuracy, per-class accuracy, confusion matrix");
  add_trained_run_options(*cmd, opts->path, opts->data_dir, "");
  cmd->add_option("--split", opts->split, "test (default) or validation")
      ->check(CLI::IsMember({"test", "validation"}));
  cmd->add_option("--device", opts->device, "cpu | cuda | cuda:N (default: the run's device)");
  cmd->add_option("--json", opts->json_file,
                  "print the report as JSON, or with FILE write it there beside the text")
      ->expected(0, 1);
  cmd->callback([opts, cmd, &exit_code] {
    opts->json = cmd->count("--json") > 0;
    exit_code = run_eval(*opts);
  });
}

}  // namespace kasmina::cli
