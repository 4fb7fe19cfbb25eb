// Reading and writing one scalar config value of each C++ type. The reader is strict: a number
// must be all number ("1e-3", not "1e-3x"), a boolean is true or false, an enum one of its names.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <yaml-cpp/yaml.h>

#include "config/enum_names.hpp"
#include "config/read_context.hpp"
#include "config/suggest.hpp"

namespace kasmina::config_detail {

std::optional<double> parse_double(std::string_view text);  // finite numbers only
std::optional<int64_t> parse_int64(std::string_view text);
std::optional<uint64_t> parse_uint64(std::string_view text);
std::optional<bool> parse_bool(std::string_view text);  // true/false (any capitalisation)
// The shortest text that reads back to exactly `value`, always with a '.' so that YAML 1.1
// readers (PyYAML) see a float too: 0.001, 1.0e-08, 10.0.
std::string format_double(double value);
// The offset of the first byte of `text` that does not start a valid UTF-8 sequence (overlong
// forms, surrogates and code points above U+10FFFF included), or nothing.
std::optional<std::size_t> invalid_utf8_offset(std::string_view text);
// `text` with every byte that is not part of valid UTF-8 written as \xNN, for messages.
std::string escape_invalid_utf8(std::string_view text);
// "ff": two lowercase hex digits.
std::string hex_byte(unsigned char byte);

// Per type: `expected` (what the message asks for), parse(text) and emit(out, value).
template <class T>
struct ScalarCodec;

template <>
struct ScalarCodec<double> {
  static constexpr std::string_view expected = "a number";
  static std::optional<double> parse(std::string_view t) { return parse_double(t); }
  static void emit(YAML::Emitter& out, double v) { out << format_double(v); }
};

template <>
struct ScalarCodec<int64_t> {
  static constexpr std::string_view expected = "an integer";
  static std::optional<int64_t> parse(std::string_view t) { return parse_int64(t); }
  static void emit(YAML::Emitter& out, int64_t v) { out << v; }
};

template <>
struct ScalarCodec<uint64_t> {
  static constexpr std::string_view expected = "a non-negative integer";
  static std::optional<uint64_t> parse(std::string_view t) { return parse_uint64(t); }
  static void emit(YAML::Emitter& out, uint64_t v) { out << v; }
};

template <>
struct ScalarCodec<bool> {
  static constexpr std::string_view expected = "true or false";
  static std::optional<bool> parse(std::string_view t) { return parse_bool(t); }
  static void emit(YAML::Emitter& out, bool v) { out << (v ? "true" : "false"); }
};

template <>
struct ScalarCodec<std::string> {
  static constexpr std::string_view expected = "a string";
  static std::optional<std::string> parse(std::string_view t) { return std::string(t); }
  static void emit(YAML::Emitter& out, const std::string& v) { out << YAML::DoubleQuoted << v; }
};

// What a message asks for: "a number", "true or false", "one of adamw, sgd".
template <class T>
std::string expected_text() {
  return std::string(ScalarCodec<T>::expected);
}
template <NamedEnum E>
std::string expected_text() {
  return "one of " + enum_allowed<E>();
}

// Reads a scalar of type T from `node` (the value of key `path`); throws a UserError naming
// the place, the key and what is expected when it is not one.
template <class T>
T read_scalar(const YAML::Node& node, const ReadContext& ctx, const std::string& path) {
  if (!node.IsScalar()) {
    ctx.fail(node, path,
             "expected " + std::string(ScalarCodec<T>::expected) + ", got " + describe_node(node));
  }
  if constexpr (std::is_same_v<T, std::string>) {
    // Strings reach file names, HDF5 attributes and JSON: bytes that are not UTF-8 are refused
    // here rather than when the run writes its results.
    if (const std::optional<std::size_t> at = invalid_utf8_offset(node.Scalar())) {
      ctx.fail(node, path,
               "is not valid UTF-8 (byte 0x" +
                   hex_byte(static_cast<unsigned char>(node.Scalar()[*at])) + " at position " +
                   std::to_string(*at + 1) + ")");
    }
  }
  std::optional<T> value = ScalarCodec<T>::parse(node.Scalar());
  if (!value) {
    ctx.fail(node, path,
             "expected " + std::string(ScalarCodec<T>::expected) + ", got '" + node.Scalar() + "'");
  }
  return *value;
}

template <NamedEnum E>
E read_scalar(const YAML::Node& node, const ReadContext& ctx, const std::string& path) {
  if (!node.IsScalar()) {
    ctx.fail(node, path, "expected " + expected_text<E>() + ", got " + describe_node(node));
  }
  std::optional<E> value = enum_from_name<E>(node.Scalar());
  if (!value) {
    ctx.fail(node, path,
             "'" + node.Scalar() + "' is not allowed (allowed: " + enum_allowed<E>() + ")");
  }
  return *value;
}

template <class T>
void emit_scalar(YAML::Emitter& out, const T& value) {
  ScalarCodec<T>::emit(out, value);
}

template <NamedEnum E>
void emit_scalar(YAML::Emitter& out, const E& value) {
  out << enum_name(value);
}

}  // namespace kasmina::config_detail
