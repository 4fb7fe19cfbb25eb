// The command-line application: builds the CLI11 app with every subcommand and runs it.
#pragma once

namespace kasmina::cli {

// Returns the process exit code: 0 success, 1 internal failure, 2 user error, 130 interrupted.
int run(int argc, char** argv);

}  // namespace kasmina::cli
