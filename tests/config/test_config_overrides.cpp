// --set key.path=value: applied in order to the YAML before validation; mistakes name the --set.
#include <ostream>

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace kasmina {
namespace {

using testing::kMinimalYaml;
using testing::parse_error;

Config parse_with(std::initializer_list<std::string> sets) {
  return parse_config(kMinimalYaml, "cfg.yaml", Overrides{sets});
}

TEST(ConfigOverrides, ReplacesScalars) {
  const Config c = parse_with({"train.epochs=7", "optimizer.lr=3e-4", "seed=99", "name=other"});
  EXPECT_EQ(c.train.epochs, 7);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 3e-4);
  EXPECT_EQ(c.seed, 99u);
  EXPECT_EQ(c.name, "other");
}

TEST(ConfigOverrides, AddsKeysAndSectionsTheFileLacks) {
  const Config c = parse_with({"lr_schedule.type=cosine", "data.dir=/tmp/fm", "train.graph=false"});
  EXPECT_EQ(c.lr_schedule.type, LrScheduleType::cosine);
  EXPECT_EQ(c.data.dir, "/tmp/fm");
  EXPECT_FALSE(c.train.graph);
}

TEST(ConfigOverrides, StringOverrideKeepsAnyTextAString) {
  for (const std::string dir : {"/plain/dir", "~", "#1", "a: b", "[x]", "say \"hi\"", "back\\slash",
                                "* star", "true", "12", "tab\there", "caf\u00e9"}) {
    const std::string set = string_override("data.dir", dir);
    EXPECT_EQ(parse_with({set}).data.dir, dir) << set;
  }
  EXPECT_EQ(string_override("data.dir", "/d"), "data.dir=\"/d\"");
}

TEST(ConfigOverrides, AppliedInOrderLastWins) {
  const Config c = parse_with({"train.epochs=3", "train.epochs=4"});
  EXPECT_EQ(c.train.epochs, 4);
}

TEST(ConfigOverrides, ListElementByIndex) {
  const Config c = parse_with({"model.layers.0.out=512", "model.layers.1.type=gelu"});
  ASSERT_EQ(c.model.layers.size(), 3u);
  EXPECT_EQ(c.model.layers[0].as<LinearConfig>().out, 512);
  EXPECT_EQ(c.model.layers[1].type, LayerType::gelu);
  EXPECT_EQ(c.model.layers[2].as<LinearConfig>().out, 10);
}

TEST(ConfigOverrides, FlowValuesReplaceWholeEntries) {
  const Config c = parse_with(
      {"model.layers.1={type: dropout, p: 0.3}", "optimizer={type: sgd, lr: 0.1, momentum: 0.5}"});
  EXPECT_EQ(c.model.layers[1].type, LayerType::dropout);
  EXPECT_DOUBLE_EQ(c.model.layers[1].as<DropoutConfig>().p, 0.3);
  EXPECT_EQ(c.optimizer.type, OptimizerType::sgd);
  EXPECT_DOUBLE_EQ(c.optimizer.momentum, 0.5);
  const Config whole =
      parse_with({"model.layers=[{type: linear, out: 64}, {type: gelu}, "
                  "{type: linear, out: 10}]"});
  ASSERT_EQ(whole.model.layers.size(), 3u);
  EXPECT_EQ(whole.model.layers[0].as<LinearConfig>().out, 64);
  EXPECT_EQ(whole.model.layers[1].type, LayerType::gelu);
}

TEST(ConfigOverrides, IndexPastTheEndAppends) {
  const Config c =
      parse_with({"model.layers.3={type: relu}", "model.layers.4.out=10", "model.layers.2.out=20"});
  ASSERT_EQ(c.model.layers.size(), 5u);
  EXPECT_EQ(c.model.layers[2].as<LinearConfig>().out, 20);
  EXPECT_EQ(c.model.layers[3].type, LayerType::relu);
  EXPECT_EQ(c.model.layers[4].type, LayerType::linear);
  EXPECT_EQ(c.model.layers[4].as<LinearConfig>().out, 10);
}

TEST(ConfigOverrides, CreatesTheListAFileLacks) {
  const Config c =
      parse_config("seed: 1\n", "cfg.yaml", Overrides{{"model.layers.0={type: linear, out: 10}"}});
  ASSERT_EQ(c.model.layers.size(), 1u);
  EXPECT_EQ(c.model.layers[0].as<LinearConfig>().out, 10);
}

TEST(ConfigOverrides, ErrorsOutsideTheOverrideStillNameTheFile) {
  // The override is fine; the file's own mistake keeps its line.
  const std::string yaml = std::string(kMinimalYaml) + "  batch_size: 0\n";
  EXPECT_EQ(parse_error(yaml, "cfg.yaml", {"train.epochs=3"}),
            "cfg.yaml:14: train.batch_size: must be >= 1, got 0");
}

TEST(ConfigOverrides, OverrideFixesTheFile) {
  const std::string yaml = std::string(kMinimalYaml) + "  batch_size: 0\n";
  EXPECT_EQ(parse_config(yaml, "cfg.yaml", Overrides{{"train.batch_size=16"}}).train.batch_size,
            16);
}

// One --set applied to kMinimalYaml (unless `yaml` is given) and the exact message.
struct SetCase {
  std::string label;
  std::string set;
  std::string message;
  std::string yaml = kMinimalYaml;
};

std::ostream& operator<<(std::ostream& os, const SetCase& c) {
  return os << c.label;
}

const std::string kEndsWith10 =
    "the model must end with a linear layer with out: 10 (one score per fashion_mnist class)";

const SetCase kSetCases[] = {
    // values are checked like the file's, and name the --set
    {"integer", "train.epochs=abc",
     "--set train.epochs=abc: train.epochs: expected an integer, got 'abc'"},
    {"range", "train.batch_size=0",
     "--set train.batch_size=0: train.batch_size: must be >= 1, got 0"},
    {"enum", "optimizer.type=adam",
     "--set optimizer.type=adam: optimizer.type: 'adam' is not allowed (allowed: adamw, sgd)"},
    {"last_layer_width", "model.layers.2.out=11",
     "--set model.layers.2.out=11: model.layers[2].out: is 11 but " + kEndsWith10},
    {"device", "device=tpu",
     "--set device=tpu: device: 'tpu' is not allowed (allowed: cpu, cuda, cuda:N with N a device "
     "index)"},
    {"key_of_another_layer_type", "model.layers.0.p=0.5",
     "--set model.layers.0.p=0.5: unknown key 'p' in 'model.layers[0]' (allowed: type, out, in, "
     "bias, grow_from, grow_first_epoch, grow_epochs, grow_init, grow_schedule)"},
    {"created_list_without_linear", "model.layers.0={type: relu}",
     "--set model.layers.0={type: relu}: model.layers: needs at least one linear layer; " +
         kEndsWith10,
     "seed: 1\n"},
    // paths outside the schema
    {"unknown_key", "model.layrs=3",
     "--set model.layrs=3: unknown key 'layrs' in 'model' (did you mean 'layers'? allowed: "
     "layers, init)"},
    {"unknown_section", "optimiser.lr=1",
     "--set optimiser.lr=1: unknown key 'optimiser' in 'top level' (did you mean 'optimizer'? "
     "allowed: name, seed, device, blueprints, autotune, compile_limit_s, data, model, optimizer, "
     "lr_schedule, "
     "schedule, "
     "controller, "
     "train, telemetry, checkpoint)"},
    {"unknown_layer_key", "model.layers.0.outt=5",
     "--set model.layers.0.outt=5: unknown key 'outt' in 'model.layers[0]' (did you mean 'out'? "
     "allowed: type, out, in, bias, grow_from, grow_first_epoch, grow_epochs, grow_init, "
     "grow_schedule, p, eps, "
     "seeds, blueprints, hidden, rank, grafting, "
     "ramp_steps, performance_gain, drift_threshold, grad_norm_lo, grad_norm_hi, "
     "min_germinated_steps, min_training_steps, min_grafting_steps, min_stabilization_steps, "
     "min_evaluating_steps, min_fine_tuning_steps, training_objective, training_loss_threshold, "
     "training_gain_threshold, training_gain_z, max_training_steps, "
     "max_evaluating_steps, max_training_seeds, ema_decay, max_errors, blueprint_lr, "
     "blueprint_weight_decay, blueprint_warmup_steps, pool_slots, telemetry_every, dead_eps, "
     "layers, shortcut, kernel, stride, padding, groups, momentum, patch, dim, class_token, "
     "heads)"},
    {"index_out_of_range", "model.layers.7.out=5",
     "--set model.layers.7.out=5: '7' is not an index of model.layers (it has 3 entries: use "
     "0..3, where 3 appends one)"},
    {"index_not_a_number", "model.layers.first.out=5",
     "--set model.layers.first.out=5: 'first' is not an index of model.layers (it has 3 entries: "
     "use 0..3, where 3 appends one)"},
    {"into_a_value", "seed.low=3", "--set seed.low=3: seed is a single value; it has no key 'low'"},
    {"scalar_section_in_file", "train.epochs=3",
     "--set train.epochs=3: train is '5' at cfg.yaml:1, not a mapping",
     "train: 5\nmodel:\n  layers: [{type: linear, out: 10}]\n"},
    // malformed
    {"no_equals", "train.epochs", "--set train.epochs: expected key.path=value (there is no '=')"},
    {"empty_segment", "train..epochs=3",
     "--set train..epochs=3: empty key in 'train..epochs' (expected key.path=value)"},
    {"empty_path", "=3", "--set =3: empty key in '' (expected key.path=value)"},
    {"bad_yaml_value", "train.epochs=[1,",
     "--set train.epochs=[1,: the value is not valid YAML: end of sequence flow not found"},
};

class SetMessage : public ::testing::TestWithParam<SetCase> {};

TEST_P(SetMessage, IsExact) {
  EXPECT_EQ(parse_error(GetParam().yaml, "cfg.yaml", {GetParam().set}), GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(ConfigOverrides, SetMessage, ::testing::ValuesIn(kSetCases),
                         [](const auto& info) { return info.param.label; });

}  // namespace
}  // namespace kasmina
