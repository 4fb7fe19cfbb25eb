// Text pieces shared by the `kasmina inspect` summaries of checkpoints and telemetry files.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace kasmina::io {

// A JSON number for a text table: "-" for null or NaN, an integer as is, a real by `spec`.
std::string summary_number(const nlohmann::ordered_json& v, const char* spec = "%.6g");

// The first fields of a summary's JSON, in this order: file, format, schema_version,
// kasmina_version.
nlohmann::ordered_json summary_identity(const std::string& path, const char* format,
                                        int64_t schema_version, const std::string& kasmina_version);

// The first lines of a summary, from its "file", "format", "schema_version", "kasmina_version"
// and "config_name" fields:
//   KIND        FILE
//   format      FORMAT, schema_version N, written by kasmina VERSION<written_suffix>
//   config      CONFIG_NAME
std::string summary_head(const char* kind, const nlohmann::ordered_json& summary,
                         const std::string& written_suffix = "");

}  // namespace kasmina::io
