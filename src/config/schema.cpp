#include "config/schema.hpp"

namespace kasmina::config_detail {

std::string unknown_key_message(std::string_view key, std::string_view section_path,
                                const std::vector<std::string>& allowed) {
  std::string message =
      "unknown key '" + std::string(key) + "' in '" + section_label(section_path) + "' (";
  if (std::optional<std::string> guess = closest_name(key, allowed)) {
    message += "did you mean '" + *guess + "'? ";
  }
  return message + "allowed: " + join(allowed) + ")";
}

std::shared_ptr<const Shape> value_shape() {
  static const auto shape = std::make_shared<const Shape>();
  return shape;
}

std::shared_ptr<const Shape> list_shape(std::shared_ptr<const Shape> element) {
  auto shape = std::make_shared<Shape>();
  shape->kind = Shape::Kind::list;
  shape->element = std::move(element);
  return shape;
}

}  // namespace kasmina::config_detail
