#include <bit>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"

namespace kasmina::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors stores little-endian values; this writer copies host memory");

namespace {

// The safetensors name of the dtypes kasmina writes; null for another.
const char* safetensors_dtype(DType t) {
  static constexpr std::pair<DType, const char*> kNames[] = {{DType::f32, "F32"},
                                                             {DType::f64, "F64"},
                                                             {DType::i32, "I32"},
                                                             {DType::i64, "I64"},
                                                             {DType::u8, "U8"}};
  for (const auto& [dtype, name] : kNames)
    if (dtype == t) return name;
  return nullptr;
}

}  // namespace

std::string safetensors_bytes(const std::vector<SafetensorsEntry>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const SafetensorsEntry& e : tensors) {
    KASMINA_CHECK(!e.name.empty() && e.name != "__metadata__" && names.insert(e.name).second,
                  "safetensors: tensor name '" + e.name + "' is empty, reserved or repeated");
    const char* dtype = safetensors_dtype(e.tensor.dtype());
    KASMINA_CHECK(dtype != nullptr,
                  "safetensors: tensor '" + e.name + "' has dtype " + dtype_name(e.tensor.dtype()));
    const uint64_t bytes = e.tensor.nbytes();
    header[e.name] = {
        {"dtype", dtype}, {"shape", e.tensor.shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  out.reserve(8 + json.size() + offset);
  out += json;
  for (const SafetensorsEntry& e : tensors) {
    const Tensor host = e.tensor.device().is_cpu() ? e.tensor : e.tensor.to(Device::cpu());
    out.append(static_cast<const char*>(host.raw()), host.nbytes());
  }
  return out;
}

void write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_atomically(path, safetensors_bytes(tensors, metadata));
}

}  // namespace kasmina::io
