// A small field-descriptor toolkit: each config struct is described once, as a table of
// fields (name, member, rule), and that table drives reading, validation of single values,
// writing the resolved YAML and the key lookup of --set. Adding a key is one line in a table.
#pragma once
#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/limits.hpp"
#include "config/read_context.hpp"
#include "config/scalar_codec.hpp"
#include "config/suggest.hpp"

namespace kasmina::config_detail {

// The shape of the schema without the C++ types: what --set walks along a dotted path.
struct Shape {
  enum class Kind { value, section, list };
  Kind kind = Kind::value;
  std::vector<std::pair<std::string, std::shared_ptr<const Shape>>> children;  // section
  std::shared_ptr<const Shape> element;                                        // list

  const Shape* child(std::string_view name) const {
    for (const auto& [key, shape] : children) {
      if (key == name) return shape.get();
    }
    return nullptr;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& entry : children)  // keys several layer types share are named once
      if (std::find(out.begin(), out.end(), entry.first) == out.end()) out.push_back(entry.first);
    return out;
  }
};

// "unknown key 'x' in 'section' (did you mean 'y'? allowed: a, b)"
std::string unknown_key_message(std::string_view key, std::string_view section_path,
                                const std::vector<std::string>& allowed);

// A check of one value; returns the message tail ("must be >= 1, got 0") when it fails.
// `text` is the value as the user wrote it.
template <class T>
using Rule = std::function<std::optional<std::string>(const T& value, const std::string& text)>;

template <class S>
struct Field {
  using Reader = std::function<void(S&, const YAML::Node&, const ReadContext&, const std::string&)>;
  using Writer = std::function<void(const S&, YAML::Emitter&)>;

  std::string name;
  std::shared_ptr<const Shape> shape;
  std::string expected;  // a single value: what it must be ("a number"); empty for sections
  Reader read;
  Writer write;
  std::function<bool(const S&)> applies;  // empty: the key applies to every S

  // Restricts the key to structs for which `predicate` holds (e.g. one layer type); the
  // predicate sees the fields above this one already read.
  Field&& only_if(std::function<bool(const S&)> predicate) && {
    applies = std::move(predicate);
    return std::move(*this);
  }
  bool applies_to(const S& s) const { return !applies || applies(s); }
};

// The table of one struct. `check` runs after its fields are read, for rules that involve
// several fields; it gets the section's node to point messages at the right line.
template <class S>
class Section {
 public:
  using Check = std::function<void(S&, const YAML::Node&, const ReadContext&, const std::string&)>;
  enum class Style { block, flow };

  explicit Section(std::vector<Field<S>> fields, Check check = {}, Style style = Style::block)
      : fields_(std::move(fields)), check_(std::move(check)), style_(style) {
    auto shape = std::make_shared<Shape>();
    shape->kind = Shape::Kind::section;
    for (const Field<S>& f : fields_) shape->children.emplace_back(f.name, f.shape);
    shape_ = std::move(shape);
  }

  const std::shared_ptr<const Shape>& shape() const { return shape_; }

  // Names of the keys that apply to `s`, in table order.
  std::vector<std::string> allowed(const S& s) const {
    std::vector<std::string> out;
    for (const Field<S>& f : fields_) {
      if (f.applies_to(s)) out.push_back(f.name);
    }
    return out;
  }

  // Reads `node` (a mapping, or nothing: all defaults) into `s`; keys not given keep the
  // value `s` already has.
  void read(S& s, const YAML::Node& node, const ReadContext& ctx, const std::string& path) const {
    const bool empty = !node.IsDefined() || node.IsNull();
    if (!empty && !node.IsMap()) {
      ctx.fail(
          node, path,
          "expected a mapping with the keys " + join(allowed(s)) + ", got " + describe_node(node));
    }
    const std::vector<Entry> entries = empty ? std::vector<Entry>{} : collect(node, ctx, path);
    for (const Field<S>& f : fields_) {
      const auto it = std::find_if(entries.begin(), entries.end(),
                                   [&](const Entry& e) { return e.name == f.name; });
      if (it == entries.end()) continue;
      const std::string key_path = child_path(path, f.name);
      const Entry& entry = *it;
      if (!f.applies_to(s)) {
        // Several structs may share a key name (each layer type's `out`): the one that applies
        // reads it.
        if (applies_by_name(f.name, s)) continue;
        ctx.fail_at(entry.key, key_path, unknown_key_message(f.name, path, allowed(s)));
      }
      if (entry.value.IsNull() && !f.expected.empty()) {
        // yaml-cpp places an empty value on the next token's line: point at the key instead.
        ctx.fail(entry.key, key_path, "expected " + f.expected + ", got nothing");
      }
      f.read(s, entry.value, ctx, key_path);
    }
    for (const Entry& entry : entries) {  // in file order
      if (!known(entry.name)) {
        ctx.fail_at(entry.key, child_path(path, entry.name),
                    unknown_key_message(entry.name, path, allowed(s)));
      }
    }
    if (check_) check_(s, node, ctx, path);
  }

  void write(const S& s, YAML::Emitter& out) const {
    if (style_ == Style::flow) out << YAML::Flow;
    out << YAML::BeginMap;
    for (const Field<S>& f : fields_) {
      if (!f.applies_to(s)) continue;
      out << YAML::Key << f.name << YAML::Value;
      f.write(s, out);
    }
    out << YAML::EndMap;
  }

 private:
  struct Entry {
    std::string name;
    YAML::Node key, value;
  };

  bool applies_by_name(const std::string& name, const S& s) const {
    for (const Field<S>& f : fields_) {
      if (f.name == name && f.applies_to(s)) return true;
    }
    return false;
  }

  bool known(const std::string& name) const {
    for (const Field<S>& f : fields_) {
      if (f.name == name) return true;
    }
    return false;
  }

  // The mapping's entries in file order; a key that is not a plain name or that appears twice
  // is an error.
  static std::vector<Entry> collect(const YAML::Node& node, const ReadContext& ctx,
                                    const std::string& path) {
    std::vector<Entry> entries;
    for (const auto& pair : node) {
      const YAML::Node key = pair.first;
      if (!key.IsScalar()) {
        ctx.fail_at(key, path,
                    "in '" + section_label(path) + "': a key must be a plain name, got " +
                        describe_node(key));
      }
      for (const Entry& earlier : entries) {
        if (earlier.name != key.Scalar()) continue;
        const std::string key_path = child_path(path, key.Scalar());
        ctx.fail(key, key_path, "given twice (first at " + ctx.where(earlier.key, key_path) + ")");
      }
      entries.push_back(Entry{key.Scalar(), key, pair.second});
    }
    return entries;
  }

  std::vector<Field<S>> fields_;
  Check check_;
  Style style_;
  std::shared_ptr<const Shape> shape_;
};

std::shared_ptr<const Shape> value_shape();

// Reads a scalar and applies `rule` to it.
template <class T>
T read_checked(const YAML::Node& node, const Rule<T>& rule, const ReadContext& ctx,
               const std::string& path) {
  T v = read_scalar<T>(node, ctx, path);
  if (rule) {
    if (std::optional<std::string> problem = rule(v, node.Scalar())) ctx.fail(node, path, *problem);
  }
  return v;
}

// Calls visit(element, element_path) for each element of the list `node` (nothing: no
// elements); anything but a list is an error.
template <class Visit>
void for_each_element(const YAML::Node& node, const ReadContext& ctx, const std::string& path,
                      Visit visit) {
  if (!node.IsDefined() || node.IsNull()) return;
  if (!node.IsSequence()) ctx.fail(node, path, "expected a list, got " + describe_node(node));
  const std::size_t n = node.size();
  if (n > static_cast<std::size_t>(config_limits::kMaxListEntries))
    ctx.fail(node, path,
             "holds " + std::to_string(n) + " entries, more than the " +
                 std::to_string(config_limits::kMaxListEntries) + " a list may hold");
  for (std::size_t i = 0; i < n; ++i) visit(node[i], element_path(path, i));
}

// The shape of a list whose elements have shape `element`.
std::shared_ptr<const Shape> list_shape(std::shared_ptr<const Shape> element);

// A scalar key stored in `member` (number, integer, boolean, string or named enum), with an
// optional rule for its value.
template <class S, class T>
Field<S> value(std::string name, T S::*member, std::type_identity_t<Rule<T>> rule = {}) {
  Field<S> f;
  f.name = std::move(name);
  f.shape = value_shape();
  f.expected = expected_text<T>();
  f.read = [member, rule](S& s, const YAML::Node& node, const ReadContext& ctx,
                          const std::string& path) {
    s.*member = read_checked<T>(node, rule, ctx, path);
  };
  f.write = [member](const S& s, YAML::Emitter& out) { emit_scalar(out, s.*member); };
  return f;
}

// A nested section stored in `member`, described by `table`.
template <class S, class T>
Field<S> section(std::string name, T S::*member, const Section<T>& table) {
  Field<S> f;
  f.name = std::move(name);
  f.shape = table.shape();
  f.read = [member, &table](S& s, const YAML::Node& node, const ReadContext& ctx,
                            const std::string& path) { table.read(s.*member, node, ctx, path); };
  f.write = [member, &table](const S& s, YAML::Emitter& out) { table.write(s.*member, out); };
  return f;
}

// A list of sections stored in `member`; the list in the YAML replaces the default list.
template <class S, class T>
Field<S> list(std::string name, std::vector<T> S::*member, const Section<T>& table) {
  Field<S> f;
  f.name = std::move(name);
  f.shape = list_shape(table.shape());
  f.read = [member, &table](S& s, const YAML::Node& node, const ReadContext& ctx,
                            const std::string& path) {
    std::vector<T> items;
    for_each_element(node, ctx, path, [&](const YAML::Node& element, const std::string& key) {
      T item{};
      table.read(item, element, ctx, key);
      items.push_back(std::move(item));
    });
    s.*member = std::move(items);
  };
  f.write = [member, &table](const S& s, YAML::Emitter& out) {
    out << YAML::BeginSeq;
    for (const T& item : s.*member) table.write(item, out);
    out << YAML::EndSeq;
  };
  return f;
}

// A list of scalars (numbers, strings, enums) stored in `member`, e.g. `blueprints: [a, b]`;
// each element is read and checked like a single value (`rule` applies to every element).
template <class S, class T>
Field<S> value_list(std::string name, std::vector<T> S::*member,
                    std::type_identity_t<Rule<T>> rule = {}) {
  Field<S> f;
  f.name = std::move(name);
  f.shape = list_shape(value_shape());
  f.read = [member, rule](S& s, const YAML::Node& node, const ReadContext& ctx,
                          const std::string& path) {
    std::vector<T> items;
    for_each_element(node, ctx, path, [&](const YAML::Node& element, const std::string& key) {
      items.push_back(read_checked<T>(element, rule, ctx, key));
    });
    s.*member = std::move(items);
  };
  f.write = [member](const S& s, YAML::Emitter& out) {
    out << YAML::Flow << YAML::BeginSeq;
    for (const T& item : s.*member) emit_scalar(out, item);
    out << YAML::EndSeq;
  };
  return f;
}

}  // namespace kasmina::config_detail
