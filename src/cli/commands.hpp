// Every subcommand registers itself on the CLI11 app through one of these functions; its
// callback stores the process exit code in `exit_code`. app.cpp lists them in one place.
#pragma once

namespace CLI {
class App;
}

namespace kasmina::cli {

void add_train_command(CLI::App& app, int& exit_code);
void add_device_command(CLI::App& app, int& exit_code);
void add_bench_command(CLI::App& app, int& exit_code);
void add_blueprint_command(CLI::App& app, int& exit_code);
void add_eval_command(CLI::App& app, int& exit_code);
void add_export_command(CLI::App& app, int& exit_code);

}  // namespace kasmina::cli
