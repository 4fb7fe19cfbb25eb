#include "config/read_context.hpp"

#include "config/scalar_codec.hpp"
#include "core/error.hpp"

namespace kasmina::config_detail {

std::string child_path(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out(parent);
  out += '.';
  out += key;
  return out;
}

std::string element_path(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

std::string section_label(std::string_view path) {
  return path.empty() ? std::string("top level") : std::string(path);
}

std::string describe_node(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "'" + node.Scalar() + "'";
}

void ReadContext::add_override(std::string key_path, std::string set_text) {
  overrides_.push_back({std::move(key_path), std::move(set_text)});
}

namespace {

// True when `path` is `prefix` itself or lies inside it ("a.b" is under "a", "a[1]" under "a").
bool is_under(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix)) return false;
  if (path.size() == prefix.size()) return true;
  const char next = path[prefix.size()];
  return next == '.' || next == '[';
}

}  // namespace

std::string ReadContext::where(const YAML::Node& node, std::string_view key_path) const {
  for (auto it = overrides_.rbegin(); it != overrides_.rend(); ++it) {
    if (is_under(key_path, it->key_path)) return "--set " + escape_invalid_utf8(it->set_text);
  }
  if (node.IsDefined()) {
    const YAML::Mark mark = node.Mark();
    if (mark.line >= 0) return file_ + ":" + std::to_string(mark.line + 1);
  }
  // A node without a position was made by kasmina: by an override below this key, or as the
  // empty mapping of an empty file.
  for (auto it = overrides_.rbegin(); it != overrides_.rend(); ++it) {
    if (is_under(it->key_path, key_path)) return "--set " + escape_invalid_utf8(it->set_text);
  }
  return file_ + ":1";
}

void ReadContext::fail(const YAML::Node& node, std::string_view key_path,
                       std::string_view message) const {
  throw UserError(where(node, key_path) + ": " + std::string(key_path) + ": " +
                  std::string(message));
}

void ReadContext::fail_at(const YAML::Node& node, std::string_view key_path,
                          std::string_view message) const {
  throw UserError(where(node, key_path) + ": " + std::string(message));
}

}  // namespace kasmina::config_detail
