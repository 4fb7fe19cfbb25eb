// Fuzz target: the YAML config loader with --set overrides. The input is the YAML text; each
// NUL byte starts a `--set` override (text after the first NUL, split at the others). A bad
// config must be a UserError; a config that is accepted must survive its own round trip: the
// resolved YAML it writes (what a run directory and a checkpoint store) reads back to the same
// text. Anything else (another exception, a crash, a sanitizer report) is a finding.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "config/config.hpp"
#include "core/error.hpp"

using kasmina::Config;
using kasmina::Overrides;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string yaml = input.substr(0, nul);
  Overrides overrides;
  for (size_t at = nul; at != std::string::npos;) {
    const size_t next = input.find('\0', at + 1);
    overrides.sets.push_back(
        input.substr(at + 1, next == std::string::npos ? next : next - at - 1));
    at = next;
  }
  std::string resolved;
  try {
    resolved = kasmina::to_yaml(kasmina::parse_config(yaml, "fuzz.yaml", overrides));
  } catch (const kasmina::UserError&) {
    return 0;
  }
  // Not caught: the resolved YAML of an accepted config must be accepted and stable.
  const std::string again = kasmina::to_yaml(kasmina::parse_config(resolved, "resolved.yaml"));
  if (again != resolved) std::abort();
  return 0;
}
