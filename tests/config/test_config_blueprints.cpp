// The config's `blueprints:` section: IR blueprints are registered before the layers read their
// `blueprints:` lists, written back by to_yaml, registered once however often the config is
// read, accepted on CUDA, refused when a name is redefined; IR errors carry file:line: key; the
// `autotune:` mode of their generated kernels.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_util.hpp"
#include "morph/blueprint_registry.hpp"
#include "ops/blueprint_tuning.hpp"

namespace kasmina {
namespace {

using testing::expect_round_trip;
using testing::parse_error;

std::string spirals_with(const std::string& body, const std::string& device = "cpu") {
  return "device: " + device +
         "\n"                                                       // 1
         "blueprints:\n"                                            // 2
         "  tiny_gate:\n"                                           // 3
         "    inputs: {x: [C]}\n"                                   // 4
         "    params: {W: [C, C], s: {shape: [C], init: zeros}}\n"  // 5
         "    nodes:\n"                                             // 6
         "      - {op: linear, in: x, weight: W, out: u}\n"         // 7
         "      - " +
         body +
         "\n"                                                                      // 8
         "      - {op: scale, in: v, param: s, out: y}\n"                          // 9
         "    output: y\n"                                                         // 10
         "data: {dataset: spirals}\n"                                              // 11
         "model:\n"                                                                // 12
         "  layers:\n"                                                             // 13
         "    - {type: linear, out: 16}\n"                                         // 14
         "    - {type: kasmina, seeds: 2, blueprints: [tiny_gate, diag_scale]}\n"  // 15
         "    - {type: linear, out: 2}\n";                                         // 16
}

TEST(ConfigBlueprints, RegistersWritesBackAndReadsAgain) {
  const Config c = parse_config(spirals_with("{op: tanh, in: u, out: v}"), "ir.yaml");
  ASSERT_EQ(c.blueprints.size(), 1u);
  EXPECT_EQ(c.blueprints[0].name, "tiny_gate");
  const morph::BlueprintDescriptor* d = morph::find_blueprint("tiny_gate");
  ASSERT_NE(d, nullptr);
  EXPECT_GE(d->kind, morph::kBuiltinBlueprintCount);
  EXPECT_EQ(d->param_count(*d, morph::BlueprintShape{8, 4, 4}), 8 * 8 + 8);
  const std::string yaml = expect_round_trip(c);  // reads it again: the same registration
  EXPECT_NE(yaml.find("tiny_gate:"), std::string::npos) << yaml;
  EXPECT_EQ(morph::find_blueprint("tiny_gate")->kind, d->kind);
}

TEST(ConfigBlueprints, RefusesARedefinitionAndBuiltInNames) {
  parse_config(spirals_with("{op: tanh, in: u, out: v}"), "ir.yaml");
  EXPECT_EQ(parse_error(spirals_with("{op: relu, in: u, out: v}")),
            "blueprint 'tiny_gate' is already registered with another definition (choose "
            "another name)");
  std::string yaml = spirals_with("{op: relu, in: u, out: v}");
  yaml.replace(yaml.find("tiny_gate:"), 10, "diag_scale:");
  EXPECT_EQ(parse_error(yaml),
            "blueprint 'diag_scale' is already registered as a built-in "
            "(choose another name)");
}

TEST(ConfigBlueprints, ErrorsNameFileLineAndKey) {
  EXPECT_EQ(parse_error(spirals_with("{op: tanh, in: w, out: v}")),
            "cfg.yaml:8: blueprints.tiny_gate.nodes[1].in: unknown value 'w' (defined: x, u, v, "
            "y)");
  EXPECT_EQ(parse_error(spirals_with("{op: tanh, in: u, out: v, eps: x}")),
            "cfg.yaml:8: blueprints.tiny_gate.nodes[1].eps: expected a number, got 'x'");
}

TEST(ConfigBlueprints, AnIrBlueprintIsAcceptedOnCuda) {
  // Its kernels are generated and compiled when the layer is prepared (a device without NVRTC
  // refuses its germinations there, with a warning); the config reads it on any device.
  const Config c = parse_config(spirals_with("{op: tanh, in: u, out: v}", "cuda"), "ir.yaml");
  EXPECT_EQ(c.device, "cuda");
  ASSERT_EQ(c.blueprints.size(), 1u);
  EXPECT_EQ(c.blueprints[0].name, "tiny_gate");
}

TEST(ConfigBlueprints, AnIrBlueprintMustFitTheLayersShape) {
  // A slice of 12 values fits chunks of 16 (width 32, 2 seeds) but not of 8 (4 seeds).
  std::string yaml =
      "blueprints:\n"                                                      // 1
      "  head:\n"                                                          // 2
      "    inputs: {x: [C]}\n"                                             // 3
      "    params: {W: [C, 12]}\n"                                         // 4
      "    nodes:\n"                                                       // 5
      "      - {op: slice, in: x, size: 12, out: s}\n"                     // 6
      "      - {op: linear, in: s, weight: W, out: y}\n"                   // 7
      "    output: y\n"                                                    // 8
      "data: {dataset: spirals}\n"                                         // 9
      "model:\n"                                                           // 10
      "  layers:\n"                                                        // 11
      "    - {type: linear, out: 32}\n"                                    // 12
      "    - {type: kasmina, seeds: 2, blueprints: [diag_scale, head]}\n"  // 13
      "    - {type: linear, out: 2}\n";                                    // 14
  EXPECT_NO_THROW(parse_config(yaml, "fit.yaml"));
  yaml.replace(yaml.find("seeds: 2"), 8, "seeds: 4");
  EXPECT_EQ(parse_error(yaml),
            "cfg.yaml:13: model.layers[1].blueprints[1]: blueprint 'head' with C=8, h=4, r=4: the "
            "slice 's' runs past the end of 'x'");
}

// `autotune:` (when layers time their generated kernels): off by default, the three modes the
// tuner knows read and written back, anything else refused with file:line: key.
TEST(ConfigBlueprints, AutotuneModes) {
  const std::string body = "{op: tanh, in: u, out: v}";
  EXPECT_EQ(parse_config(spirals_with(body), "ir.yaml").autotune, "off");
  for (const std::string& mode : ops::autotune_names()) {
    const Config c = parse_config("autotune: " + mode + "\n" + spirals_with(body), "ir.yaml");
    EXPECT_EQ(c.autotune, mode);
    ops::Autotune a = ops::Autotune::off;
    EXPECT_TRUE(ops::parse_autotune(c.autotune, &a)) << mode;
    EXPECT_EQ(ops::autotune_name(a), mode);
    const std::string yaml = expect_round_trip(c);
    EXPECT_NE(yaml.find("autotune: \"" + mode + "\""), std::string::npos) << yaml;
  }
  EXPECT_EQ(parse_error("autotune: always\n" + spirals_with(body)),
            "cfg.yaml:1: autotune: 'always' is not allowed (allowed: off, on_first_use, "
            "exhaustive)");
  EXPECT_EQ(parse_error(spirals_with(body), "cfg.yaml", {"autotune=true"}),
            "--set autotune=true: autotune: 'true' is not allowed (allowed: off, on_first_use, "
            "exhaustive)");
}

}  // namespace
}  // namespace kasmina
