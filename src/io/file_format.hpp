// What every kasmina HDF5 file shares: the root attributes that identify it (`format`,
// `schema_version`, `kasmina_version`, `config`, `checksum_algorithm`) and opening a user-given
// file for reading with plain, actionable errors.
#pragma once
#include <cstdint>
#include <new>
#include <string>
#include <utility>

#include "io/hdf5_handle.hpp"
#include "io/hdf5_read_guard.hpp"

namespace kasmina::io {

inline constexpr const char* kTelemetryFormat = "kasmina-telemetry";
inline constexpr const char* kCheckpointFormat = "kasmina-checkpoint";
// The newest schema this build reads and the one it writes. Readers accept every version up to
// this one; a file with a newer version is refused with a UserError.
inline constexpr int64_t kSchemaVersion = 1;

// Writes `format`, `schema_version`, `kasmina_version`, `checksum_algorithm` and `config`.
void write_root_attributes(hid_t file, const std::string& format, const std::string& config_yaml);

// Opens a user-given file read-only and checks that it is a kasmina file of `expected_format`
// with a supported schema version. Throws UserError:
//   "FILE: no such file", "FILE: not an HDF5 file",
//   "FILE: not a kasmina file (no 'format' attribute)",
//   "FILE: is a kasmina-telemetry file, expected kasmina-checkpoint",
//   "FILE: schema_version 7 is newer than this kasmina supports (1)",
//   "FILE: truncated or damaged: <detail>".
H5Id open_kasmina_file(const std::string& path, const std::string& expected_format);

// Runs `fn`; an Hdf5Error escaping it becomes UserError("PATH: truncated or damaged: ...").
// A crash inside HDF5 meanwhile ends the process with that message (hdf5_read_guard.hpp).
template <class Fn>
auto translate_damage(const std::string& path, Fn&& fn) -> decltype(fn()) {
  const Hdf5ReadGuard guard(path);
  try {
    return std::forward<Fn>(fn)();
  } catch (const Hdf5Error& e) {
    throw UserError(path + ": truncated or damaged: " + e.what());
  } catch (const std::bad_alloc&) {
    throw UserError(path + ": truncated or damaged: reading it needs more than the " +
                    std::to_string(hdf5_read_memory_budget(path)) +
                    " bytes of memory a file of its size may take");
  }
}

// The current UTC time in ISO 8601 ("2026-01-31T12:34:56Z").
std::string utc_timestamp_now();

}  // namespace kasmina::io
