// Width seeds in the config (`type: linear` grow_from, grow_first_epoch, grow_epochs,
// grow_init, grow_schedule) and the keep/cull test's controller.eval_z: values read, and every
// mistake a one-line UserError naming the file, the line, the key and what is allowed.
#include <gtest/gtest.h>

#include "config_test_util.hpp"

namespace kasmina {
namespace {

using testing::expect_contains;
using testing::kMinimalYaml;
using testing::parse_error;
using testing::replace_line;

// kMinimalYaml with the hidden linear layer (line 7) given `keys` and line 8-9 replaced.
std::string grow(const std::string& keys, const std::string& line8 = "    - {type: relu}",
                 const std::string& line9 = "    - {type: linear, out: 10}") {
  std::string y = replace_line(kMinimalYaml, 7, "    - {type: linear, out: 32, " + keys + "}");
  y = replace_line(y, 8, line8);
  return replace_line(y, 9, line9);
}

TEST(ConfigWidth, KeysAreReadWithTheirDefaults) {
  const Config c = parse_config(grow("grow_from: 8"), "w.yaml");
  const LinearConfig& l = c.model.layers[0].as<LinearConfig>();
  EXPECT_EQ(l.grow_from, 8);
  EXPECT_EQ(l.grow_first_epoch, 1);
  EXPECT_EQ(l.grow_epochs, 3);
  EXPECT_EQ(l.grow_init, "preserving");
  EXPECT_EQ(l.grow_schedule, "fixed");
  EXPECT_EQ(c.controller.eval_z, 2.0);
  const Config e = parse_config(grow("grow_from: 8, grow_schedule: controller"), "w.yaml",
                                Overrides{{"controller.type=heuristic", "data.validation=100"}});
  EXPECT_EQ(e.model.layers[0].as<LinearConfig>().grow_schedule, "controller");
  testing::expect_round_trip(e);
  const Config d =
      parse_config(grow("grow_from: 16, grow_first_epoch: 12, grow_epochs: 4, grow_init: naive"),
                   "w.yaml", Overrides{{"controller.eval_z=0"}});
  EXPECT_EQ(d.model.layers[0].as<LinearConfig>().grow_epochs, 4);
  EXPECT_EQ(d.model.layers[0].as<LinearConfig>().grow_init, "naive");
  EXPECT_EQ(d.controller.eval_z, 0.0);
  testing::expect_round_trip(d);
}

TEST(ConfigWidth, MistakesNameFileLineKeyAndWhatIsAllowed) {
  expect_contains(parse_error(grow("grow_from: 40")),
                  {"cfg.yaml:7", "model.layers[0].grow_from", "is 40", "at most 'out'"});
  expect_contains(parse_error(grow("grow_from: 8, grow_epochs: 5")),
                  {"cfg.yaml:7", "grow_epochs", "does not divide out - grow_from = 24"});
  expect_contains(parse_error(grow("grow_from: 8, grow_init: wild")),
                  {"cfg.yaml:7", "grow_init", "preserving, naive"});
  expect_contains(parse_error(grow("grow_from: 8", "    - {type: layernorm}")),
                  {"cfg.yaml:7", "model.layers[0].grow_from", "needs a linear layer after it",
                   "model.layers[1] is a layernorm layer"});
  expect_contains(parse_error(grow("grow_from: 8, grow_schedule: weekly")),
                  {"cfg.yaml:7", "grow_schedule", "fixed, controller"});
  expect_contains(parse_error(grow("grow_from: 8, grow_schedule: controller")),
                  {"cfg.yaml:7", "model.layers[0].grow_schedule", "controller.type is none",
                   "controller.type heuristic"});
  expect_contains(parse_error(grow("grow_from: 8"), "cfg.yaml", {"controller.eval_z=-1"}),
                  {"controller.eval_z", "-1"});
}

}  // namespace
}  // namespace kasmina
