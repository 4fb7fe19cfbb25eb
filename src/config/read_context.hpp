// Where a config value came from, for error messages: the file and line of a YAML node, or the
// `--set key.path=value` that put it there. Every user-facing config error goes through here.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace kasmina::config_detail {

// Dotted key paths as they appear in messages: "train.epochs", "model.layers[2].in".
std::string child_path(std::string_view parent, std::string_view key);
std::string element_path(std::string_view parent, std::size_t index);
// The section name used in "unknown key 'x' in '...'": the path, or "top level" for the root.
std::string section_label(std::string_view path);

// "a mapping", "a list", "nothing", or the scalar text in quotes: what the user wrote.
std::string describe_node(const YAML::Node& node);

class ReadContext {
 public:
  explicit ReadContext(std::string file) : file_(std::move(file)) {}

  const std::string& file() const { return file_; }

  // Records that the value at `key_path` (message form) was set by `--set <set_text>`.
  void add_override(std::string key_path, std::string set_text);

  // "FILE:LINE" for a node from the file; "--set key=value" when the key path lies under an
  // override (the latest such override wins). A node without a position (made by an override
  // deeper down, or the empty mapping of an empty file) gives that override, else "FILE:1".
  std::string where(const YAML::Node& node, std::string_view key_path) const;

  // Throws UserError "WHERE: KEY_PATH: MESSAGE".
  [[noreturn]] void fail(const YAML::Node& node, std::string_view key_path,
                         std::string_view message) const;
  // Throws UserError "WHERE: MESSAGE" (for messages that name the key themselves).
  [[noreturn]] void fail_at(const YAML::Node& node, std::string_view key_path,
                            std::string_view message) const;

 private:
  struct OverrideOrigin {
    std::string key_path;
    std::string set_text;
  };
  std::string file_;
  std::vector<OverrideOrigin> overrides_;
};

}  // namespace kasmina::config_detail

namespace kasmina::config_detail {

// Follows map keys and list indices from `root` without modifying it; returns the node at the
// end of the path, or the deepest node that exists along it (so a message about a missing
// key points at its section).
inline bool step_into(YAML::Node& cur, std::string_view key) {
  const YAML::Node& here = cur;  // const lookups never insert keys
  if (!here.IsMap()) return false;
  const YAML::Node next = here[std::string(key)];
  if (!next.IsDefined()) return false;
  cur.reset(next);
  return true;
}
inline bool step_into(YAML::Node& cur, std::size_t index) {
  const YAML::Node& here = cur;
  if (!here.IsSequence() || index >= here.size()) return false;
  cur.reset(here[index]);
  return true;
}
template <class... Keys>
YAML::Node locate(const YAML::Node& root, Keys... keys) {
  YAML::Node cur;
  cur.reset(root);
  (step_into(cur, keys) && ...);
  return cur;
}

}  // namespace kasmina::config_detail
