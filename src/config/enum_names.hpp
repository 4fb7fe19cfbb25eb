// The YAML names of the config enums, one table per enum (core/enum_table.hpp's EnumTable, an
// array of (name, value) pairs): the reader, the writer and to_string() all use these tables, so
// a new enum value is one line here.
#pragma once
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "core/enum_table.hpp"

namespace kasmina::config_detail {

template <class E>
struct EnumNames;  // specialised below: `values`, an array of (name, value) pairs

template <>
struct EnumNames<DatasetKind> {
  static constexpr std::array<std::pair<std::string_view, DatasetKind>, 2> values{{
      {"fashion_mnist", DatasetKind::fashion_mnist},
      {"spirals", DatasetKind::spirals},
  }};
};

template <>
struct EnumNames<LayerType> {
  static constexpr std::array<std::pair<std::string_view, LayerType>, 16> values{{
      {"linear", LayerType::linear},
      {"relu", LayerType::relu},
      {"gelu", LayerType::gelu},
      {"layernorm", LayerType::layernorm},
      {"dropout", LayerType::dropout},
      {"kasmina", LayerType::kasmina},
      {"residual", LayerType::residual},
      {"conv2d", LayerType::conv2d},
      {"batchnorm2d", LayerType::batchnorm2d},
      {"maxpool2d", LayerType::maxpool2d},
      {"avgpool2d", LayerType::avgpool2d},
      {"global_avgpool", LayerType::global_avgpool},
      {"flatten", LayerType::flatten},
      {"patch_embed", LayerType::patch_embed},
      {"attention", LayerType::attention},
      {"class_token", LayerType::class_token},
  }};
};

template <>
struct EnumNames<ControllerType> {
  static constexpr std::array<std::pair<std::string_view, ControllerType>, 3> values{{
      {"none", ControllerType::none},
      {"schedule", ControllerType::schedule},
      {"heuristic", ControllerType::heuristic},
  }};
};

template <>
struct EnumNames<OptimizerType> {
  static constexpr std::array<std::pair<std::string_view, OptimizerType>, 2> values{{
      {"adamw", OptimizerType::adamw},
      {"sgd", OptimizerType::sgd},
  }};
};

template <>
struct EnumNames<LrScheduleType> {
  static constexpr std::array<std::pair<std::string_view, LrScheduleType>, 3> values{{
      {"constant", LrScheduleType::constant},
      {"cosine", LrScheduleType::cosine},
      {"linear", LrScheduleType::linear},
  }};
};

template <>
struct EnumNames<PrecisionMode> {
  static constexpr std::array<std::pair<std::string_view, PrecisionMode>, 3> values{{
      {"fp32", PrecisionMode::fp32},
      {"tf32", PrecisionMode::tf32},
      {"bf16", PrecisionMode::bf16},
  }};
};

template <>
struct EnumNames<InitScheme> {
  static constexpr std::array<std::pair<std::string_view, InitScheme>, 3> values{{
      {"kaiming_uniform", InitScheme::kaiming_uniform},
      {"xavier_uniform", InitScheme::xavier_uniform},
      {"normal", InitScheme::normal},
  }};
};

template <class E>
concept NamedEnum = requires {
  EnumNames<E>::values;
};

template <NamedEnum E>
constexpr const char* enum_name(E value) {
  return kasmina::enum_name(EnumNames<E>::values, value, "unknown");
}

template <NamedEnum E>
std::optional<E> enum_from_name(std::string_view text) {
  return kasmina::enum_parse(EnumNames<E>::values, text);
}

template <NamedEnum E>
std::vector<std::string> enum_names() {
  return kasmina::enum_name_list(EnumNames<E>::values);
}

// "a, b, c": the names for "(allowed: ...)" and "one of ..." in messages.
template <NamedEnum E>
std::string enum_allowed() {
  return kasmina::enum_allowed(EnumNames<E>::values);
}

}  // namespace kasmina::config_detail
