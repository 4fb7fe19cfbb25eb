// Fuzz target: the telemetry reader (the file `kasmina inspect telemetry` reads), with and
// without checksum verification and per-seed statistics. A bad file must be a UserError;
// anything else is a finding.
#include <cstdint>

#include "core/error.hpp"
#include "fuzz_input_file.hpp"
#include "io/telemetry_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = kasmina::fuzz::input_file(data, size);
  for (const bool verify : {true, false}) {
    try {
      (void)kasmina::io::read_telemetry(path, {.verify = verify, .seed_stats = true});
    } catch (const kasmina::UserError&) {
    }
  }
  return 0;
}
