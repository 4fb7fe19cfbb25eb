// The kernel events of `kasmina blueprint compile|tune`: each compile (or cache hit) and each
// tuning is published on an event bus as a training run publishes a layer's IR kernels
// (control::KernelEvent: layer, blueprint, chunk, kernel key, the cache level that served it, its
// time, the tuning time and winner), its recorded line printed, and with --telemetry FILE the
// bus's log is written as the /messages of a telemetry file (docs/FORMATS.md), which
// `kasmina inspect telemetry FILE` lists under "IR kernels:".
#pragma once
#include <string>

#include "control/event_bus.hpp"
#include "control/messages.hpp"

namespace kasmina::cli {

class KernelEventLog {
 public:
  // `command`: "blueprint compile" (the file's name in the telemetry's run info); `path`: the
  // telemetry file to write at finish (empty: none).
  KernelEventLog(std::string command, std::string input, std::string path);
  // Publishes e (step 0), delivers it, and returns its recorded line ("kernel: ...").
  std::string publish(control::KernelEvent e);
  // Writes the telemetry file when one was asked for (replacing it in one piece); its path.
  void finish(const std::string& device);

 private:
  control::EventBus bus_;
  std::string command_, input_, path_;
};

}  // namespace kasmina::cli
