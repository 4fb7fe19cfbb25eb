#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/safetensors.hpp"

namespace kasmina::io {

namespace {

// Bytes per element of the safetensors dtypes; 0 for a name it does not have.
uint64_t dtype_bytes(const std::string& d) {
  static const std::map<std::string, uint64_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
      {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2},  {"U8", 1},  {"BOOL", 1}};
  const auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

// The reference implementation's bound on the header.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

}  // namespace

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw UserError(path + ": no such file");
  if (!std::filesystem::is_regular_file(status)) throw UserError(path + ": not a regular file");
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open())
    throw UserError(path + ": cannot read: " + (errno ? std::strerror(errno) : "open failed"));
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto bad = [&path](const std::string& what) {
    return UserError(path + ": not a safetensors file: " + what);
  };
  if (file.size() < 8) throw bad("shorter than its 8-byte header length");
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);  // little-endian (the writer's static_assert)
  if (n > kMaxHeaderBytes || n > file.size() - 8)
    throw bad("header length " + std::to_string(n) + " exceeds the file's " +
              std::to_string(file.size() - 8) + " bytes after it");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + static_cast<long>(n));
  } catch (const nlohmann::json::exception& e) {
    throw bad(std::string("header is not JSON (") + e.what() + ")");
  }
  if (!header.is_object()) throw bad("header is not a JSON object");

  SafetensorsFile out;
  out.data = file.substr(8 + n);
  for (const auto& item : header.items()) {
    // Named references, not a structured binding: a lambda below captures them (clang, which
    // builds the fuzz targets, does not capture structured bindings before C++20's later
    // versions).
    const std::string& name = item.key();
    const nlohmann::json& entry = item.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) throw bad("__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) throw bad("__metadata__ value '" + k + "' is not a string");
        out.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const auto field = [&](const char* key) -> const nlohmann::json& {
      if (!entry.is_object() || !entry.contains(key))
        throw bad("tensor '" + name + "' has no '" + key + "'");
      return entry[key];
    };
    SafetensorsTensor t;
    t.name = name;
    const auto& dtype = field("dtype");
    if (!dtype.is_string() || dtype_bytes(dtype.get<std::string>()) == 0)
      throw bad("tensor '" + name + "' has an unknown dtype " + dtype.dump());
    t.dtype = dtype.get<std::string>();
    unsigned __int128 bytes = dtype_bytes(t.dtype);
    const auto& shape = field("shape");
    if (!shape.is_array()) throw bad("tensor '" + name + "': shape is not a list");
    for (const auto& d : shape) {
      if (!d.is_number_unsigned()) throw bad("tensor '" + name + "': shape " + shape.dump());
      t.shape.push_back(d.get<int64_t>());
      bytes *= d.get<uint64_t>();
      if (bytes > out.data.size()) throw bad("tensor '" + name + "' is larger than the file");
    }
    const auto& offsets = field("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      throw bad("tensor '" + name + "': data_offsets " + offsets.dump());
    t.begin = offsets[0].get<uint64_t>();
    t.end = offsets[1].get<uint64_t>();
    if (t.end < t.begin || t.end - t.begin != static_cast<uint64_t>(bytes))
      throw bad("tensor '" + name + "': data_offsets " + offsets.dump() + " do not hold " +
                std::to_string(static_cast<uint64_t>(bytes)) + " bytes of its shape");
    out.tensors.push_back(t);
  }
  std::sort(out.tensors.begin(), out.tensors.end(),
            [](const auto& a, const auto& b) { return a.begin < b.begin; });
  uint64_t at = 0;
  for (const auto& t : out.tensors) {
    if (t.begin != at)
      throw bad("tensor '" + t.name + "' starts at byte " + std::to_string(t.begin) +
                ", expected " + std::to_string(at) + " (the tensors must tile the data)");
    at = t.end;
  }
  if (at != out.data.size())
    throw bad("the tensors hold " + std::to_string(at) + " bytes but " +
              std::to_string(out.data.size()) + " follow the header");
  return out;
}

}  // namespace kasmina::io
