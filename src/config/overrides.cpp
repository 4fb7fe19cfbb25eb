#include "config/overrides.hpp"

#include <optional>

#include "config/config.hpp"
#include "config/scalar_codec.hpp"
#include "config/yaml_nesting.hpp"
#include "core/error.hpp"

namespace kasmina::config_detail {

namespace {

// One --set being applied; failures name it.
class OverrideApplier {
 public:
  OverrideApplier(const std::string& set_text, const ReadContext& ctx)
      : text_(set_text), ctx_(ctx) {}

  [[noreturn]] void fail(const std::string& message) const {
    throw UserError("--set " + escape_invalid_utf8(text_) + ": " + message);
  }

  std::vector<std::string> split_path(const std::string& key) const {
    std::vector<std::string> segments;
    std::size_t start = 0;
    while (true) {
      const std::size_t dot = key.find('.', start);
      const std::string segment = key.substr(start, dot == std::string::npos ? dot : dot - start);
      if (segment.empty()) fail("empty key in '" + key + "' (expected key.path=value)");
      segments.push_back(segment);
      if (dot == std::string::npos) return segments;
      start = dot + 1;
    }
  }

  YAML::Node parse_value(const std::string& text) const {
    if (const std::optional<int> line = line_nesting_too_deep(text))
      fail("the value is not valid YAML: " + nesting_message(*line));
    try {
      return YAML::Load(text);
    } catch (const YAML::Exception& e) {
      fail("the value is not valid YAML: " + e.msg);
    }
  }

  // Makes `node` (at `path` in the tree) a container of `kind` when it is empty; refuses to
  // replace something the config file wrote there.
  void ensure_container(YAML::Node& node, YAML::NodeType::value kind,
                        const std::string& path) const {
    if (!node.IsDefined() || node.IsNull()) {
      node = YAML::Node(kind);
      return;
    }
    if (node.Type() == kind) return;
    const char* wanted = kind == YAML::NodeType::Map ? "a mapping" : "a list";
    fail(section_label(path) + " is " + describe_node(node) + " at " + ctx_.where(node, path) +
         ", not " + wanted);
  }

  // Moves `cur` from a section to its child `key`; returns the child's path.
  std::string enter_key(YAML::Node& cur, const Shape*& shape, const std::string& path,
                        const std::string& key, const YAML::Node* value) const {
    const Shape* child = shape->child(key);
    if (child == nullptr) fail(unknown_key_message(key, path, shape->names()));
    ensure_container(cur, YAML::NodeType::Map, path);
    if (value != nullptr) {
      cur[key] = *value;
    } else {
      cur.reset(cur[key]);
    }
    shape = child;
    return child_path(path, key);
  }

  // Moves `cur` from a list to its element `segment`; returns the element's path.
  std::string enter_index(YAML::Node& cur, const Shape*& shape, const std::string& path,
                          const std::string& segment, const YAML::Node* value) const {
    ensure_container(cur, YAML::NodeType::Sequence, path);
    const std::size_t size = cur.size();
    const std::optional<uint64_t> index = parse_uint64(segment);
    if (!index || *index > size) {
      fail("'" + segment + "' is not an index of " + path + " (it has " + std::to_string(size) +
           " entries: use 0.." + std::to_string(size) + ", where " + std::to_string(size) +
           " appends one)");
    }
    const auto i = static_cast<std::size_t>(*index);
    if (i == size) {
      cur.push_back(value != nullptr ? *value : YAML::Node(YAML::NodeType::Map));
    } else if (value != nullptr) {
      cur[i] = *value;
    }
    if (value == nullptr) cur.reset(cur[i]);
    shape = shape->element.get();
    return element_path(path, i);
  }

  // Walks the path and stores the value; returns the overridden key path (message form).
  std::string apply(YAML::Node& root, const Shape& top) const {
    const std::size_t equals = text_.find('=');
    if (equals == std::string::npos) fail("expected key.path=value (there is no '=')");
    const std::vector<std::string> segments = split_path(text_.substr(0, equals));
    const YAML::Node value = parse_value(text_.substr(equals + 1));

    YAML::Node cur;
    cur.reset(root);
    const Shape* shape = &top;
    std::string path;
    for (std::size_t i = 0; i < segments.size(); ++i) {
      const YAML::Node* assign = i + 1 == segments.size() ? &value : nullptr;
      switch (shape->kind) {
        case Shape::Kind::section:
          path = enter_key(cur, shape, path, segments[i], assign);
          break;
        case Shape::Kind::list:
          path = enter_index(cur, shape, path, segments[i], assign);
          break;
        case Shape::Kind::value:
          fail(path + " is a single value; it has no key '" + segments[i] + "'");
      }
    }
    return path;
  }

 private:
  const std::string& text_;
  const ReadContext& ctx_;
};

}  // namespace

}  // namespace kasmina::config_detail

namespace kasmina {

std::string string_override(const std::string& key_path, const std::string& value) {
  YAML::Emitter quoted;
  quoted << YAML::DoubleQuoted << value;
  return key_path + "=" + quoted.c_str();
}

}  // namespace kasmina

namespace kasmina::config_detail {

void apply_overrides(YAML::Node& root, const std::vector<std::string>& sets, const Shape& top,
                     ReadContext& ctx) {
  for (const std::string& set_text : sets) {
    const std::string path = OverrideApplier(set_text, ctx).apply(root, top);
    ctx.add_override(path, set_text);
  }
}

}  // namespace kasmina::config_detail
