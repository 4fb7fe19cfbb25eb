// Helpers for the config tests: a minimal valid config, a check that parsing fails with a
// UserError whose message contains given pieces, and the resolved-YAML round trip.
#pragma once
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config/layers/dropout.hpp"
#include "config/layers/kasmina.hpp"
#include "config/layers/layernorm.hpp"
#include "config/layers/linear.hpp"
#include "config/layers/residual.hpp"
#include "core/error.hpp"
#include "tests/common/user_error.hpp"

namespace kasmina::testing {

// A valid config: a 784-32-10 MLP on Fashion-MNIST (line numbers are used by tests:
// line 1 name, 2 seed, 3 data, 4 dataset, 5 model, 6 layers, 7 linear, 8 relu, 9 linear,
// 10 optimizer, 11 lr, 12 train, 13 epochs).
inline const char* kMinimalYaml =
    "name: tiny\n"
    "seed: 7\n"
    "data:\n"
    "  dataset: fashion_mnist\n"
    "model:\n"
    "  layers:\n"
    "    - {type: linear, out: 32}\n"
    "    - {type: relu}\n"
    "    - {type: linear, out: 10}\n"
    "optimizer:\n"
    "  lr: 0.002\n"
    "train:\n"
    "  epochs: 2\n";

// The message of parsing `yaml` (as file `path`, with `sets` as --set overrides).
inline std::string parse_error(const std::string& yaml, const std::string& path = "cfg.yaml",
                               std::initializer_list<std::string> sets = {}) {
  return user_error_message([&] { parse_config(yaml, path, Overrides{sets}); });
}

// `yaml` with line `line` (1-based) replaced by `text`.
inline std::string replace_line(std::string yaml, int line, const std::string& text) {
  std::size_t begin = 0;
  for (int i = 1; i < line; ++i) begin = yaml.find('\n', begin) + 1;
  const std::size_t end = yaml.find('\n', begin);
  return yaml.replace(begin, end - begin, text);
}

// `yaml` with `text` inserted as new lines before line `line` (1-based).
inline std::string insert_line(std::string yaml, int line, const std::string& text) {
  std::size_t begin = 0;
  for (int i = 1; i < line; ++i) begin = yaml.find('\n', begin) + 1;
  return yaml.insert(begin, text + "\n");
}

// Asserts that `message` contains every piece.
inline void expect_contains(const std::string& message, std::initializer_list<std::string> pieces) {
  for (const std::string& piece : pieces) {
    EXPECT_NE(message.find(piece), std::string::npos)
        << "message: " << message << "\nmissing: " << piece;
  }
}

// Clears the line numbers of `layers` and of the layers of their blocks.
inline void clear_lines(std::vector<LayerConfig>& layers) {
  for (LayerConfig& layer : layers) {
    layer.line = 0;
    if (layer.params.holds<ResidualConfig>()) {
      clear_lines(layer.as<ResidualConfig>().layers);
      clear_lines(layer.as<ResidualConfig>().shortcut);
    }
  }
}

// The fields that are not part of the YAML: where the config came from.
inline Config without_origin(Config c) {
  c.source_path.clear();
  c.origins.clear();
  clear_lines(c.model.layers);
  for (GerminationConfig& entry : c.schedule) entry.line = 0;
  for (ir::GraphSpec& b : c.blueprints) {
    b.loc = b.output_loc = {};
    for (ir::ParamSpec& p : b.params) p.loc = {};
    for (ir::NodeSpec& n : b.nodes) n.loc = {};
  }
  return c;
}

// Checks that parse_config(to_yaml(c)) gives back c and that writing again gives the same text;
// returns the resolved YAML.
inline std::string expect_round_trip(const Config& c) {
  const std::string yaml = to_yaml(c);
  const Config back = parse_config(yaml, "resolved.yaml");
  EXPECT_EQ(without_origin(back), without_origin(c)) << yaml;
  // Writing again gives the same text.
  EXPECT_EQ(to_yaml(back), yaml);
  return yaml;
}

}  // namespace kasmina::testing
