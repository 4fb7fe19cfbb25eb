// Residual blocks in the model config: `{type: residual, layers: [...]}` (nested blocks too),
// their validation with file:line:key messages (the body must return to the block's width), the
// resolved YAML round trip, --set paths into a block, and kasmina layers inside blocks counted
// by the germination schedule.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config/layers/residual.hpp"
#include "config_test_util.hpp"

namespace kasmina {
namespace {

using testing::parse_error;
using testing::replace_line;
using testing::without_origin;

// Line numbers are used by the tests below.
const std::string kBlockYaml =
    "name: res\n"                          // 1
    "data:\n"                              // 2
    "  dataset: spirals\n"                 // 3
    "model:\n"                             // 4
    "  layers:\n"                          // 5
    "    - {type: linear, out: 16}\n"      // 6
    "    - {type: relu}\n"                 // 7
    "    - type: residual\n"               // 8
    "      layers:\n"                      // 9
    "        - {type: linear, out: 32}\n"  // 10
    "        - {type: gelu}\n"             // 11
    "        - {type: linear, out: 16}\n"  // 12
    "    - {type: linear, out: 2}\n";      // 13

TEST(ConfigResidual, ParsesABlockWithItsLayers) {
  const Config c = parse_config(kBlockYaml, "res.yaml");
  ASSERT_EQ(c.model.layers.size(), 4u);
  const LayerConfig& block = c.model.layers[2];
  EXPECT_EQ(block.type, LayerType::residual);
  EXPECT_EQ(block.line, 8);
  ASSERT_EQ(block.as<ResidualConfig>().layers.size(), 3u);
  EXPECT_EQ(block.as<ResidualConfig>().layers[0].as<LinearConfig>().out, 32);
  EXPECT_EQ(block.as<ResidualConfig>().layers[0].line, 10);
  EXPECT_EQ(block.as<ResidualConfig>().layers[1].type, LayerType::gelu);
  EXPECT_EQ(block.as<ResidualConfig>().layers[2].as<LinearConfig>().out, 16);
  EXPECT_STREQ(to_string(LayerType::residual), "residual");
}

// contains_layer_type looks into blocks' bodies and shortcuts, at any depth
// (`kasmina train` starts cuDNN beside the data loading only for a model with convolutions).
TEST(ConfigResidual, ContainsLayerTypeLooksIntoBlocks) {
  const Config c = parse_config(kBlockYaml, "res.yaml");
  EXPECT_TRUE(contains_layer_type(c.model.layers, LayerType::relu));  // top level only
  EXPECT_TRUE(contains_layer_type(c.model.layers, LayerType::gelu));  // in the body only
  EXPECT_FALSE(contains_layer_type(c.model.layers, LayerType::conv2d));
  const Config nested = parse_config(
      "name: res\n"
      "data: {dataset: fashion_mnist}\n"
      "model:\n"
      "  layers:\n"
      "    - {type: flatten}\n"
      "    - {type: linear, out: 16}\n"
      "    - type: residual\n"
      "      layers:\n"
      "        - type: residual\n"
      "          layers: [{type: linear, out: 16}, {type: layernorm}]\n"
      "      shortcut: [{type: linear, out: 16}, {type: dropout, p: 0.1}]\n"
      "    - {type: linear, out: 10}\n",
      "nested.yaml");
  EXPECT_TRUE(contains_layer_type(nested.model.layers, LayerType::layernorm));  // two deep
  EXPECT_TRUE(contains_layer_type(nested.model.layers, LayerType::dropout));    // a shortcut
  EXPECT_FALSE(contains_layer_type(nested.model.layers, LayerType::gelu));
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  ASSERT_NE(root, nullptr) << "KASMINA_SOURCE_ROOT is not set (run through meson test)";
  const Config resnet = load_config(std::string(root) + "/configs/fmnist_resnet.yaml");
  EXPECT_TRUE(contains_layer_type(resnet.model.layers, LayerType::conv2d));
}

TEST(ConfigResidual, RoundTripsThroughTheResolvedYaml) {
  const Config c = parse_config(kBlockYaml, "res.yaml");
  const std::string yaml = testing::expect_round_trip(c);
  EXPECT_NE(yaml.find("{type: residual, layers: [{type: linear, out: 32, in: 0, bias: true, "
                      "grow_from: 0, grow_first_epoch: 1, grow_epochs: 3, grow_init: "
                      "\"preserving\", grow_schedule: \"fixed\"}, {type: gelu}, {type: linear, "
                      "out: 16, in: 0, bias: true, "
                      "grow_from: 0, grow_first_epoch: 1, grow_epochs: 3, grow_init: "
                      "\"preserving\", grow_schedule: \"fixed\"}], shortcut: []}"),
            std::string::npos)
      << yaml;
}

TEST(ConfigResidual, NestedBlocksRoundTrip) {
  const std::string yaml = replace_line(
      kBlockYaml, 11, "        - {type: residual, layers: [{type: layernorm}, {type: relu}]}");
  const Config c = parse_config(yaml, "res.yaml");
  ASSERT_EQ(c.model.layers[2].as<ResidualConfig>().layers[1].as<ResidualConfig>().layers.size(),
            2u);
  EXPECT_EQ(c.model.layers[2].as<ResidualConfig>().layers[1].as<ResidualConfig>().layers[0].type,
            LayerType::layernorm);
  const Config back = parse_config(to_yaml(c), "resolved.yaml");
  EXPECT_EQ(without_origin(back), without_origin(c));
}

TEST(ConfigResidual, OverridesReachIntoABlock) {
  const Config c = parse_config(
      kBlockYaml, "res.yaml",
      Overrides{{"model.layers.2.layers.0.out=64", "model.layers.2.layers.1.type=relu"}});
  EXPECT_EQ(c.model.layers[2].as<ResidualConfig>().layers[0].as<LinearConfig>().out, 64);
  EXPECT_EQ(c.model.layers[2].as<ResidualConfig>().layers[1].type, LayerType::relu);
}

struct Case {
  const char* name;
  std::string yaml;
  std::string message;
};

class ResidualMessage : public ::testing::TestWithParam<Case> {};

TEST_P(ResidualMessage, IsExact) {
  EXPECT_EQ(parse_error(GetParam().yaml, "res.yaml"), GetParam().message);
}

// kBlockYaml with the block written on line 8 alone (lines 9-12 become comments).
std::string block_at_line_8(const std::string& text) {
  std::string yaml = replace_line(kBlockYaml, 8, text);
  for (int line = 9; line <= 12; ++line) yaml = replace_line(yaml, line, "#");
  return yaml;
}

const std::string kReturn =
    "its layers must return to that width (the block adds its input to "
    "their output, or needs a 'shortcut' that produces their shape)";

INSTANTIATE_TEST_SUITE_P(
    ConfigResidual, ResidualMessage,
    ::testing::Values(
        Case{"body_does_not_return",
             replace_line(kBlockYaml, 12, "        - {type: linear, out: 8}"),
             "res.yaml:12: model.layers[2].layers[2]: produces 8 but the residual block "
             "model.layers[2] receives 16: " +
                 kReturn},
        Case{"nested_body_does_not_return",
             replace_line(kBlockYaml, 11,
                          "        - {type: residual, layers: [{type: linear, out: 5}]}"),
             "res.yaml:11: model.layers[2].layers[1].layers[0]: produces 5 but the residual "
             "block model.layers[2].layers[1] receives 32: " +
                 kReturn},
        Case{"declared_in_inside_a_block",
             replace_line(kBlockYaml, 12, "        - {type: linear, in: 31, out: 16}"),
             "res.yaml:12: model.layers[2].layers[2].in: is 31 but the previous layer produces "
             "32"},
        Case{"unknown_key_inside_a_block",
             replace_line(kBlockYaml, 11, "        - {type: gelu, out: 3}"),
             "res.yaml:11: unknown key 'out' in 'model.layers[2].layers[1]' (allowed: type)"},
        Case{"key_of_a_block_on_a_layer",
             replace_line(kBlockYaml, 7, "    - {type: relu, layers: []}"),
             "res.yaml:7: unknown key 'layers' in 'model.layers[1]' (allowed: type)"},
        Case{"empty_body", block_at_line_8("    - {type: residual, layers: []}"),
             "res.yaml:8: model.layers[2]: a residual block needs 'layers' (a non-empty list of "
             "layers whose widths return to the block's width, e.g. [{type: linear, out: 64}, "
             "{type: relu}, {type: linear, out: W}])"},
        Case{"missing_body", block_at_line_8("    - {type: residual}"),
             "res.yaml:8: model.layers[2]: a residual block needs 'layers' (a non-empty list of "
             "layers whose widths return to the block's width, e.g. [{type: linear, out: 64}, "
             "{type: relu}, {type: linear, out: W}])"},
        Case{"body_not_a_list", block_at_line_8("    - {type: residual, layers: 3}"),
             "res.yaml:8: model.layers[2].layers: expected a list, got '3'"},
        Case{"kasmina_seeds_inside_a_block",
             replace_line(kBlockYaml, 11, "        - {type: kasmina, seeds: 5}"),
             "res.yaml:11: model.layers[2].layers[1].seeds: is 5, which does not divide the "
             "width 32 that the layer receives (allowed: the divisors of 32 with 32/seeds <= "
             "64, or a multiple of 4 up to 128: 1, 2, 4, 8, 16, 32)"},
        Case{"block_as_last_layer", replace_line(kBlockYaml, 13, "#"),
             "res.yaml:8: model.layers[2]: is a residual layer; the model must end with a "
             "linear layer with out: 2 (one score per spirals class)"}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(ConfigResidual, ScheduleCountsKasminaLayersInsideBlocks) {
  const std::string yaml = replace_line(kBlockYaml, 11, "        - {type: kasmina, seeds: 4}") +
                           "controller: {type: schedule}\n"
                           "schedule:\n"
                           "  - {step: 5, layer: 0, seed: 4}\n";
  EXPECT_EQ(parse_error(yaml, "res.yaml"),
            "res.yaml:16: schedule[0].seed: is 4 but kasmina layer 0 (model.layers[2].layers[1]) "
            "has 4 seeds (allowed: 0..3)");
  const std::string ok = replace_line(yaml, 16, "  - {step: 5, layer: 0, seed: 3}");
  EXPECT_EQ(parse_config(ok, "res.yaml").schedule[0].seed, 3);
}

}  // namespace
}  // namespace kasmina
