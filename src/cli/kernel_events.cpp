#include "cli/kernel_events.hpp"

#include <fstream>
#include <sstream>
#include <utility>

#include "core/error.hpp"
#include "io/run_telemetry.hpp"

namespace kasmina::cli {

KernelEventLog::KernelEventLog(std::string command, std::string input, std::string path)
    : command_(std::move(command)), input_(std::move(input)), path_(std::move(path)) {}

std::string KernelEventLog::publish(control::KernelEvent e) {
  bus_.publish(0, std::move(e));
  bus_.dispatch();
  const control::MessageRecord& r = bus_.log().back();
  return r.kind + ": " + r.text;
}

void KernelEventLog::finish(const std::string& device) {
  if (path_.empty()) return;
  io::TelemetryRunInfo info;
  std::ifstream in(input_);
  std::stringstream text;
  text << in.rdbuf();
  info.config_yaml = text.str();
  info.config_name = command_ + " " + input_;
  info.device = device;
  try {
    io::RunTelemetry t(path_, info, {});
    t.messages(bus_.take_log());
    t.flush();
  } catch (const IoError& e) {
    throw UserError(std::string("--telemetry: ") + e.what());
  }
}

}  // namespace kasmina::cli
