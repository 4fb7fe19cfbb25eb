// Checkpoints: everything a run needs to resume, in one HDF5 file (layout: docs/FORMATS.md).
//
// write_checkpoint() is atomic: it builds the file in memory, writes it to a temporary file in
// the destination directory, fsyncs it, renames it into place and fsyncs the directory, so a
// crash, a kill or a full disk at any moment leaves either the complete new file or nothing under
// the final name. Every dataset carries a
// CRC-32 `checksum` attribute; read_checkpoint(verify) checks all of them.
//
// Fault injection for tests: with KASMINA_FAULT_PAUSE_IN_CHECKPOINT_WRITE=SECONDS in the
// environment, the writer sleeps that long with half of the file's bytes in its temporary file.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace kasmina::io {

struct NamedTensor {
  std::string name;  // '/'-separated path, e.g. "model.0.weight", "seeds/kasmina1/stage"
  Tensor tensor;     // any device (copied to the host to write); not bf16
};

struct CheckpointState {
  std::string config_yaml;  // the resolved configuration
  std::string config_name;
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t epoch_position = 0;  // samples of the current epoch already consumed
  // Model parameters, optimizer moments, seed-state arrays (seeds/<layer>/<field>), blueprint
  // pools, RNG states, controller state: written and read back in this order.
  std::vector<NamedTensor> tensors;
  std::map<std::string, int64_t> ints;
  std::map<std::string, double> floats;
  std::map<std::string, std::string> strings;
  std::map<std::string, double> metrics;  // metrics at save time

  // The tensor with this name, or nullptr.
  const Tensor* find_tensor(const std::string& name) const;
};

// Writes `state` atomically to `path` (creating its directory). Throws IoError naming the file
// when the system refuses the write ("no space left on device"), InternalError otherwise.
void write_checkpoint(const std::string& path, const CheckpointState& state);
// write_checkpoint's two halves: the file's bytes, built in memory (HDF5 calls), and their
// atomic store at `path` (system calls only).
std::vector<unsigned char> checkpoint_image(const std::string& path, const CheckpointState& state);
void store_checkpoint_image(const std::string& path, const std::vector<unsigned char>& image);

// Reads a checkpoint (tensors come back on the CPU). With `verify`, every checksum is checked
// and the first failing dataset is named: UserError "PATH: truncated or damaged: checksum
// mismatch in dataset /tensors/model.0.weight (...)". Other bad files: see file_format.hpp.
CheckpointState read_checkpoint(const std::string& path, bool verify = true);

// The root attributes of a checkpoint, read without touching its datasets.
struct CheckpointHeader {
  int64_t schema_version = 0;
  std::string kasmina_version;
  std::string created;  // ISO 8601 UTC
  std::string config_name;
  int64_t step = 0;
  int64_t epoch = 0;
  int64_t epoch_position = 0;
};
CheckpointHeader read_checkpoint_header(const std::string& path);

struct CheckpointVerification {
  bool ok = false;
  std::string failed_dataset;  // the first dataset that failed ("" when ok or not per-dataset)
  std::string message;         // the full one-line error ("" when ok)
};

// Reads and verifies every dataset; never throws for a bad file.
CheckpointVerification verify_checkpoint(const std::string& path);

}  // namespace kasmina::io
