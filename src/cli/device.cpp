// `kasmina device`: lists the CUDA devices this build can use.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.hpp"
#include "ops/ops.hpp"

namespace kasmina::cli {

void add_device_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("device", "List CUDA devices (compute capability, memory)");
  cmd->callback([&exit_code] {
    exit_code = 0;
    if (!ops::cuda_built()) {
      std::printf(
          "no CUDA device: this kasmina build has no CUDA support (rebuild with -Dcuda=enabled)\n");
      return;
    }
    ops::init();
    const auto devices = ops::list_cuda_devices();
    if (devices.empty()) {
      std::printf("no CUDA device: none found by the CUDA driver\n");
      return;
    }
    for (const auto& d : devices) {
      std::printf(
          "cuda:%d  %s  compute capability %d.%d  %d SMs  memory %.1f GiB (%.1f GiB free)  driver "
          "%s  runtime %s\n",
          d.index, d.name.c_str(), d.cc_major, d.cc_minor, d.multiprocessors,
          static_cast<double>(d.total_bytes) / (1ull << 30),
          static_cast<double>(d.free_bytes) / (1ull << 30), d.driver_version.c_str(),
          d.runtime_version.c_str());
    }
  });
}

}  // namespace kasmina::cli
