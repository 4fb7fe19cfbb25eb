// `kasmina inspect`: parse -> read the files through src/io -> print text or JSON.
#include "cli/inspect.hpp"
#include "cli/print.hpp"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "io/checkpoint.hpp"
#include "io/checkpoint_summary.hpp"
#include "io/checkpoint_values.hpp"
#include "io/run_comparison.hpp"
#include "io/telemetry_reader.hpp"
#include "io/telemetry_summary.hpp"

namespace kasmina::cli {

namespace {

struct InspectOptions {
  std::string file;
  bool verify = false;
  bool json = false;
};

void inspect_checkpoint(const InspectOptions& o) {
  const io::CheckpointHeader header = io::read_checkpoint_header(o.file);
  // With --verify every checksum is checked; the first failing dataset is named (UserError).
  const io::CheckpointState state = io::read_checkpoint(o.file, o.verify);
  io::check_checkpoint_values(o.file, state);  // codes and indices in range (UserError)
  const auto summary = io::summarize_checkpoint(o.file, header, state, o.verify);
  print(o.json ? summary.dump(2) + "\n" : io::format_checkpoint_summary(summary));
}

void inspect_telemetry(const InspectOptions& o) {
  const io::TelemetryData data = io::read_telemetry(o.file, {.verify = true, .seed_stats = false});
  const auto summary = io::summarize_telemetry(o.file, data);
  print(o.json ? summary.dump(2) + "\n" : io::format_telemetry_summary(summary));
}

struct InspectRunsOptions {
  std::vector<std::string> dirs;
  bool json = false;
};

void inspect_runs(const InspectRunsOptions& o) {
  const auto comparison = io::compare_runs(o.dirs);
  print(o.json ? comparison.dump(2) + "\n" : io::format_run_comparison(comparison));
}

}  // namespace

void add_inspect_command(CLI::App& app, int& exit_code) {
  CLI::App* inspect =
      app.add_subcommand("inspect", "Print and verify checkpoint and telemetry files");
  inspect->require_subcommand(1);

  auto checkpoint_options = std::make_shared<InspectOptions>();
  CLI::App* checkpoint = inspect->add_subcommand(
      "checkpoint", "Summarise a checkpoint (RUN_DIR/checkpoints/step_N.h5)");
  checkpoint->add_option("FILE", checkpoint_options->file, "checkpoint file")->required();
  checkpoint->add_flag("--verify", checkpoint_options->verify,
                       "check every dataset's checksum; names the first that fails (exit 2)");
  checkpoint->add_flag("--json", checkpoint_options->json, "print the summary as JSON");
  checkpoint->callback([checkpoint_options, &exit_code] {
    inspect_checkpoint(*checkpoint_options);
    exit_code = 0;
  });

  auto telemetry_options = std::make_shared<InspectOptions>();
  CLI::App* telemetry =
      inspect->add_subcommand("telemetry", "Summarise a run's telemetry (RUN_DIR/telemetry.h5)");
  telemetry->add_option("FILE", telemetry_options->file, "telemetry file")->required();
  telemetry->add_flag("--json", telemetry_options->json, "print the summary as JSON");
  telemetry->callback([telemetry_options, &exit_code] {
    inspect_telemetry(*telemetry_options);
    exit_code = 0;
  });

  auto runs_options = std::make_shared<InspectRunsOptions>();
  CLI::App* runs = inspect->add_subcommand(
      "runs", "Compare runs: the configuration keys that differ and the final metrics");
  runs->add_option("DIR", runs_options->dirs, "run directories")->required();
  runs->add_flag("--json", runs_options->json, "print the comparison as JSON");
  runs->callback([runs_options, &exit_code] {
    inspect_runs(*runs_options);
    exit_code = 0;
  });
}

}  // namespace kasmina::cli
