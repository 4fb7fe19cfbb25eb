// load_config / parse_config / to_yaml: YAML text -> overrides -> schema tables -> Config.
#include "config/config.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <system_error>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config_checks.hpp"
#include "config/config_schema.hpp"
#include "config/limits.hpp"
#include "config/overrides.hpp"
#include "config/read_context.hpp"
#include "config/yaml_documents.hpp"
#include "config/yaml_file.hpp"
#include "config/yaml_nesting.hpp"
#include "core/error.hpp"

namespace kasmina {

namespace config_detail {

void check_config_size(uint64_t bytes, const std::string& path) {
  if (bytes <= static_cast<uint64_t>(config_limits::kMaxConfigBytes)) return;
  throw UserError(path + ": the config is " + std::to_string(bytes) + " bytes, more than the " +
                  std::to_string(config_limits::kMaxConfigBytes) + " a config may hold");
}

YAML::Node parse_yaml(const std::string& text, const std::string& path) {
  if (const std::optional<int> line = config_detail::line_nesting_too_deep(text)) {
    throw UserError(path + ":" + std::to_string(*line) +
                    ": invalid YAML: " + config_detail::nesting_message(*line));
  }
  std::vector<YAML::Node> documents;
  try {
    if (const std::optional<YAML::Mark> stuck = config_detail::stuck_yaml_token(text)) {
      const size_t at = static_cast<size_t>(stuck->pos);
      throw UserError(path + ":" + std::to_string(stuck->line + 1) + ": invalid YAML: unexpected " +
                      (at < text.size() ? "'" + text.substr(at, 1) + "'" : "end") + " at line " +
                      std::to_string(stuck->line + 1) + ", column " +
                      std::to_string(stuck->column + 1));
    }
    documents = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    const std::string line = e.mark.line >= 0 ? ":" + std::to_string(e.mark.line + 1) : "";
    throw UserError(path + line + ": invalid YAML: " + e.msg);
  }
  if (documents.size() > 1) {
    throw UserError(ReadContext(path).where(documents[1], "") +
                    ": a config is one YAML document, "
                    "this file holds " +
                    std::to_string(documents.size()) + " (remove the '---')");
  }
  if (documents.empty() || documents[0].IsNull()) return YAML::Node(YAML::NodeType::Map);
  return documents[0];
}

std::string read_yaml_text(const std::string& path) {
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) {
    throw UserError(
        path + ": cannot read the config file: " +
        (ec && ec != std::errc::no_such_file_or_directory ? ec.message() : "it does not exist"));
  }
  if (!std::filesystem::is_regular_file(status)) {
    throw UserError(path + ": cannot read the config file: it is not a regular file");
  }
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    throw UserError(path + ": cannot read the config file: " +
                    (errno != 0 ? std::strerror(errno) : "open failed"));
  }
  // The size first: a huge file is refused before it is read; then at most one byte past the
  // limit, should the file have grown since.
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec) check_config_size(size, path);
  std::string text(static_cast<size_t>(config_limits::kMaxConfigBytes) + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) throw UserError(path + ": cannot read the config file: I/O error");
  return text;
}

}  // namespace config_detail

namespace {

using config_detail::config_table;
using config_detail::ReadContext;

std::string default_name(const std::string& path) {
  const std::string stem = std::filesystem::path(path).stem().string();
  return stem.empty() ? std::string("config") : stem;
}

}  // namespace

Config parse_config(const std::string& yaml_text, const std::string& path,
                    const Overrides& overrides) {
  config_detail::check_config_size(yaml_text.size(), path);
  ReadContext ctx(path);
  YAML::Node root = config_detail::parse_yaml(yaml_text, path);
  const auto& table = config_table();
  if (!root.IsMap()) {
    ctx.fail_at(root, "",
                "the top level must be a mapping of keys (allowed: " +
                    config_detail::join(table.shape()->names()) + "), got " +
                    config_detail::describe_node(root));
  }
  config_detail::apply_overrides(root, overrides.sets, *table.shape(), ctx);
  config_detail::check_renamed_keys(root, ctx);
  Config config;
  try {
    table.read(config, root, ctx, "");
  } catch (const YAML::Exception& e) {
    throw InternalError(path + ": reading the configuration failed in yaml-cpp: " + e.msg);
  }
  if (config.name.empty()) config.name = default_name(path);
  config.source_path = path;
  return config;
}

Config load_config(const std::string& path, const Overrides& overrides) {
  return parse_config(config_detail::read_yaml_text(path), path, overrides);
}

std::string to_yaml(const Config& c) {
  YAML::Emitter out;
  config_table().write(c, out);
  if (!out.good()) {
    throw InternalError("writing the resolved configuration failed: " + out.GetLastError());
  }
  return std::string(out.c_str()) + "\n";
}

}  // namespace kasmina
