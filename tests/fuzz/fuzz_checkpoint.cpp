// Fuzz target: the checkpoint reader (the file `kasmina train --resume` and `kasmina inspect`
// read), with and without checksum verification, its header reader and the verifier. A bad
// file must be a UserError (the verifier never throws); anything else is a finding.
#include <cstdint>

#include "core/error.hpp"
#include "fuzz_input_file.hpp"
#include "io/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = kasmina::fuzz::input_file(data, size);
  for (const bool verify : {true, false}) {
    try {
      (void)kasmina::io::read_checkpoint(path, verify);
    } catch (const kasmina::UserError&) {
    }
  }
  try {
    (void)kasmina::io::read_checkpoint_header(path);
  } catch (const kasmina::UserError&) {
  }
  (void)kasmina::io::verify_checkpoint(path);
  return 0;
}
