// The safetensors file format (the Hugging Face format PyTorch, NumPy and others load): an 8-byte
// little-endian unsigned header length N, N bytes of a JSON object, then the tensors' bytes. The
// JSON maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets
// into the data after the header; the tensors tile it in order, without gaps), and the optional
// key "__metadata__" to an object of string values. Tensors are row-major, little-endian.
// kasmina writes the header padded with spaces to a multiple of 8 bytes, as the reference
// implementation does. `kasmina export` writes networks in it (docs/EXPORT.md).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace kasmina::io {

struct SafetensorsEntry {
  std::string name;
  Tensor tensor;  // f32, f64, i32, i64 or u8, on any device (copied to the host to write)
};

// The whole file as bytes. InternalError for a duplicate or empty name, "__metadata__" as a
// name, or a dtype safetensors has no name for here.
std::string safetensors_bytes(const std::vector<SafetensorsEntry>& tensors,
                              const std::map<std::string, std::string>& metadata);

// Writes the file atomically (io/atomic_file.hpp: IoError when the system refuses it).
void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors,
                       const std::map<std::string, std::string>& metadata);

struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // "F32", "F64", "I32", "I64", "U8", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range in `data`
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  std::vector<SafetensorsTensor> tensors;  // in the order of their data offsets
  std::string data;                        // the bytes after the header

  const SafetensorsTensor* find(const std::string& name) const;
  // The tensor's bytes.
  std::string bytes(const SafetensorsTensor& t) const {
    return data.substr(t.begin, t.end - t.begin);
  }
};

// Reads and checks a safetensors file: the header length fits the file, the header is a JSON
// object, every entry has a known dtype, a shape of non-negative sizes and offsets whose length
// is the shape's bytes, and the tensors tile the data exactly. UserError "PATH: not a
// safetensors file: <what is wrong>" otherwise.
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace kasmina::io
