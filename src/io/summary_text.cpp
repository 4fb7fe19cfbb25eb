#include "io/summary_text.hpp"

#include <cmath>
#include <cstdio>

namespace kasmina::io {

std::string summary_number(const nlohmann::ordered_json& v, const char* spec) {
  if (v.is_null()) return "-";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  const double d = v.get<double>();
  if (std::isnan(d)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, spec, d);
  return buf;
}

nlohmann::ordered_json summary_identity(const std::string& path, const char* format,
                                        int64_t schema_version,
                                        const std::string& kasmina_version) {
  nlohmann::ordered_json j;
  j["file"] = path;
  j["format"] = format;
  j["schema_version"] = schema_version;
  j["kasmina_version"] = kasmina_version;
  return j;
}

std::string summary_head(const char* kind, const nlohmann::ordered_json& j,
                         const std::string& written_suffix) {
  char label[32];
  std::snprintf(label, sizeof label, "%-12s", kind);
  return label + j["file"].get<std::string>() + "\n" + "format      " +
         j["format"].get<std::string>() + ", schema_version " +
         std::to_string(j["schema_version"].get<int64_t>()) + ", written by kasmina " +
         j["kasmina_version"].get<std::string>() + written_suffix + "\n" + "config      " +
         j["config_name"].get<std::string>() + "\n";
}

}  // namespace kasmina::io
