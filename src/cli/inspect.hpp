// `kasmina inspect checkpoint FILE [--verify] [--json]` and
// `kasmina inspect telemetry FILE [--json]`: print (and verify) kasmina HDF5 files;
// `kasmina inspect runs DIR... [--json]`: compare run directories.
#pragma once

namespace CLI {
class App;
}

namespace kasmina::cli {

// Registers `inspect` with its subcommands. The callbacks set `exit_code` (0 on success);
// a bad file or a failed verification throws UserError (the app prints one line, exit code 2).
void add_inspect_command(CLI::App& app, int& exit_code);

}  // namespace kasmina::cli
