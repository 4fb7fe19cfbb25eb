#include "io/file_format.hpp"

#include <chrono>
#include <ctime>
#include <filesystem>

#include "io/atomic_file.hpp"
#include "io/checksum.hpp"
#include "io/hdf5_io.hpp"
#include "kasmina_build_config.hpp"

namespace kasmina::io {

void write_root_attributes(hid_t file, const std::string& format, const std::string& config_yaml) {
  write_attribute_string(file, "format", format);
  write_attribute_i64(file, "schema_version", kSchemaVersion);
  write_attribute_string(file, "kasmina_version", KASMINA_VERSION);
  write_attribute_string(file, "checksum_algorithm", kChecksumAlgorithm);
  write_attribute_string(file, "config", config_yaml);
}

H5Id open_kasmina_file(const std::string& path, const std::string& expected_format) {
  hdf5_init();
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  // A symbolic-link loop, a component that is not a directory, a denied search: said as such.
  if (ec && ec != std::errc::no_such_file_or_directory)
    throw UserError(path + ": " + errno_text(ec.value()));
  if (ec || !std::filesystem::exists(status)) throw UserError(path + ": no such file");
  if (std::filesystem::is_directory(status)) throw UserError(path + ": is a directory");
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  H5Eclear2(H5E_DEFAULT);
  if (is_hdf5 <= 0) throw UserError(path + ": not an HDF5 file");

  return translate_damage(path, [&] {
    H5Id fapl = own_plist(H5Pcreate(H5P_FILE_ACCESS), "file access property list");
    // Readers must work while a trainer holds the file open for writing.
    h5_check(H5Pset_file_locking(fapl, false, true), "disable file locking");
    H5Id file = own_file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl), "open");
    if (!has_attribute(file, "format"))
      throw UserError(path + ": not a kasmina file (no 'format' attribute)");
    const std::string format = read_attribute_string(file, "format");
    if (format != expected_format)
      throw UserError(path + ": is a " + format + " file, expected " + expected_format);
    const int64_t version = read_attribute_i64(file, "schema_version");
    if (version > kSchemaVersion) {
      std::string msg = path;
      msg.append(": schema_version ").append(std::to_string(version));
      msg.append(" is newer than this kasmina supports (");
      msg.append(std::to_string(kSchemaVersion)).append(")");
      throw UserError(msg);
    }
    if (version < 1) {
      std::string msg = path;
      msg.append(": truncated or damaged: schema_version ").append(std::to_string(version));
      throw UserError(msg);
    }
    return file;
  });
}

std::string utc_timestamp_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace kasmina::io
