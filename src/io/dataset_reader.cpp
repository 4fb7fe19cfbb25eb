#include "io/dataset_reader.hpp"

#include <cstdio>

#include "io/checksum.hpp"

namespace kasmina::io {

void check_checksum(hid_t dataset, const std::string& name, uint32_t computed) {
  const uint32_t stored = read_attribute_u32(dataset, "checksum");
  if (stored != computed) {
    char buf[64];
    std::snprintf(buf, sizeof buf, " (stored %08x, computed %08x)", stored, computed);
    throw DatasetFailure(name, "checksum mismatch in dataset " + name + buf);
  }
}

HostArray read_verified_array(hid_t dataset, const std::string& name, bool verify,
                              std::optional<int64_t> rows) {
  HostArray a = read_array(dataset, rows);
  if (verify) check_checksum(dataset, name, crc32_update(0, a.bytes.data(), a.bytes.size()));
  return a;
}

std::vector<std::string> read_verified_strings(hid_t dataset, const std::string& name, bool verify,
                                               std::optional<int64_t> rows) {
  auto values = read_strings(dataset, rows);
  if (verify) check_checksum(dataset, name, crc32_update_strings(0, values));
  return values;
}

DatasetValues read_verified(hid_t dataset, const std::string& name, bool verify,
                            std::optional<int64_t> rows) {
  if (is_string_dataset(dataset)) return read_verified_strings(dataset, name, verify, rows);
  return read_verified_array(dataset, name, verify, rows);
}

}  // namespace kasmina::io
