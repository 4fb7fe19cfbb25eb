// Reading the datasets of a kasmina HDF5 file back with their CRC-32 `checksum` attributes:
// the one reader under both the checkpoint reader and the telemetry reader.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "io/hdf5_io.hpp"

namespace kasmina::io {

// A failure while reading one dataset: names it (verify_checkpoint reports the dataset).
class DatasetFailure : public Hdf5Error {
 public:
  DatasetFailure(const std::string& dataset, const std::string& msg)
      : Hdf5Error(msg), dataset_(dataset) {}
  const std::string& dataset() const { return dataset_; }

 private:
  std::string dataset_;
};

// Throws DatasetFailure "checksum mismatch in dataset NAME (stored X, computed Y)" unless the
// dataset's `checksum` attribute equals `computed`.
void check_checksum(hid_t dataset, const std::string& name, uint32_t computed);

// A numeric dataset (all of it, or its first `rows` entries), its checksum checked when
// `verify`.
HostArray read_verified_array(hid_t dataset, const std::string& name, bool verify,
                              std::optional<int64_t> rows = std::nullopt);
// The same for a string dataset.
std::vector<std::string> read_verified_strings(hid_t dataset, const std::string& name, bool verify,
                                               std::optional<int64_t> rows = std::nullopt);

// A dataset's values, numeric or strings, by the dataset's element type.
using DatasetValues = std::variant<HostArray, std::vector<std::string>>;
DatasetValues read_verified(hid_t dataset, const std::string& name, bool verify,
                            std::optional<int64_t> rows = std::nullopt);

}  // namespace kasmina::io
