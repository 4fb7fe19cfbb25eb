// Every user mistake in a config file is a UserError naming the file, the line, the key and
// what is allowed.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>

#include <unistd.h>

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config/scalar_codec.hpp"
#include "config_test_util.hpp"

namespace kasmina {
namespace {

using testing::expect_contains;
using testing::kMinimalYaml;
using testing::parse_error;

// kMinimalYaml with line `line` (1-based) replaced by `text`.
std::string minimal_with_line(int line, const std::string& text) {
  std::string yaml = kMinimalYaml;
  std::size_t begin = 0;
  for (int i = 1; i < line; ++i) begin = yaml.find('\n', begin) + 1;
  const std::size_t end = yaml.find('\n', begin);
  return yaml.replace(begin, end - begin, text);
}

// kMinimalYaml with `text` inserted as a new line before line `line`.
std::string minimal_with_inserted(int line, const std::string& text) {
  std::string yaml = kMinimalYaml;
  std::size_t begin = 0;
  for (int i = 1; i < line; ++i) begin = yaml.find('\n', begin) + 1;
  return yaml.insert(begin, text + "\n");
}

const std::string kTopKeys =
    "name, seed, device, blueprints, autotune, compile_limit_s, data, model, optimizer, "
    "lr_schedule, schedule, "
    "controller, "
    "train, "
    "telemetry, checkpoint";
const std::string kTrainKeys =
    "epochs, batch_size, eval_batch_size, precision, deterministic, log_every_steps, graph";
const std::string kEndsWith10 =
    "the model must end with a linear layer with out: 10 (one score per fashion_mnist class)";

// A config text and the exact message parsing it (as cfg.yaml) must give.
struct MessageCase {
  std::string label;
  std::string yaml;
  std::string message;
};

std::ostream& operator<<(std::ostream& os, const MessageCase& c) {
  return os << c.label;
}

const MessageCase kMessageCases[] = {
    // unknown keys
    {"unknown_top_level_key_with_suggestion", minimal_with_line(10, "optimiser:"),
     "cfg.yaml:10: unknown key 'optimiser' in 'top level' (did you mean 'optimizer'? allowed: " +
         kTopKeys + ")"},
    {"unknown_key_without_close_match", minimal_with_inserted(3, "colour: blue"),
     "cfg.yaml:3: unknown key 'colour' in 'top level' (allowed: " + kTopKeys + ")"},
    {"unknown_key_prefix_suggested", minimal_with_line(12, "tr:"),
     "cfg.yaml:12: unknown key 'tr' in 'top level' (did you mean 'train'? allowed: " + kTopKeys +
         ")"},
    {"first_unknown_key_in_file_order", minimal_with_inserted(3, "colour: 1\nalpha: 2"),
     "cfg.yaml:3: unknown key 'colour' in 'top level' (allowed: " + kTopKeys + ")"},
    {"unknown_nested_key_names_its_section", minimal_with_line(13, "  epocs: 2"),
     "cfg.yaml:13: unknown key 'epocs' in 'train' (did you mean 'epochs'? allowed: " + kTrainKeys +
         ")"},
    {"key_of_another_layer_type", minimal_with_line(8, "    - {type: relu, out: 5}"),
     "cfg.yaml:8: unknown key 'out' in 'model.layers[1]' (allowed: type)"},
    {"unknown_layer_key", minimal_with_line(7, "    - {type: linear, out: 32, pp: 0.5}"),
     "cfg.yaml:7: unknown key 'pp' in 'model.layers[0]' (allowed: type, out, in, bias"
     ", grow_from, grow_first_epoch, grow_epochs, grow_init, grow_schedule)"},
    {"duplicate_key", minimal_with_inserted(2, "seed: 8"),
     "cfg.yaml:3: seed: given twice (first at cfg.yaml:2)"},
    // wrong types
    {"number", minimal_with_line(11, "  lr: fast"),
     "cfg.yaml:11: optimizer.lr: expected a number, got 'fast'"},
    {"not_a_number", minimal_with_line(11, "  lr: nan"),
     "cfg.yaml:11: optimizer.lr: expected a number, got 'nan'"},
    {"missing_value", minimal_with_line(11, "  lr:"),
     "cfg.yaml:11: optimizer.lr: expected a number, got nothing"},
    {"integer", minimal_with_line(13, "  epochs: 2.5"),
     "cfg.yaml:13: train.epochs: expected an integer, got '2.5'"},
    {"non_negative_integer", minimal_with_line(2, "seed: -4"),
     "cfg.yaml:2: seed: expected a non-negative integer, got '-4'"},
    {"boolean", minimal_with_inserted(14, "  graph: maybe"),
     "cfg.yaml:14: train.graph: expected true or false, got 'maybe'"},
    {"string_got_a_list", minimal_with_line(1, "name: [a, b]"),
     "cfg.yaml:1: name: expected a string, got a list"},
    {"section_not_a_mapping", "model:\n  layers: [{type: linear, out: 10}]\ntrain: 5\n",
     "cfg.yaml:3: train: expected a mapping with the keys " + kTrainKeys + ", got '5'"},
    {"layers_not_a_list", "model:\n  layers: 3\n",
     "cfg.yaml:2: model.layers: expected a list, got '3'"},
    // enums and choices
    {"optimizer_type", minimal_with_inserted(11, "  type: adam"),
     "cfg.yaml:11: optimizer.type: 'adam' is not allowed (allowed: adamw, sgd)"},
    {"layer_type", minimal_with_line(8, "    - {type: tanh}"),
     "cfg.yaml:8: model.layers[1].type: 'tanh' is not allowed (allowed: linear, relu, gelu, "
     "layernorm, dropout, kasmina, residual, conv2d, batchnorm2d, maxpool2d, avgpool2d, "
     "global_avgpool, flatten, patch_embed, attention, class_token)"},
    {"precision", minimal_with_line(13, "  precision: fp16"),
     "cfg.yaml:13: train.precision: 'fp16' is not allowed (allowed: fp32, tf32, bf16)"},
    {"dataset", minimal_with_line(4, "  dataset: mnist"),
     "cfg.yaml:4: data.dataset: 'mnist' is not allowed (allowed: fashion_mnist, spirals)"},
    {"init", minimal_with_inserted(6, "  init: zeros"),
     "cfg.yaml:6: model.init: 'zeros' is not allowed (allowed: kaiming_uniform, xavier_uniform, "
     "normal)"},
    {"device", minimal_with_inserted(3, "device: gpu"),
     "cfg.yaml:3: device: 'gpu' is not allowed (allowed: cpu, cuda, cuda:N with N a device "
     "index)"},
    {"device_index", minimal_with_inserted(3, "device: cuda:x"),
     "cfg.yaml:3: device: 'cuda:x' is not allowed (allowed: cpu, cuda, cuda:N with N a device "
     "index)"},
    {"name_with_slash", minimal_with_line(1, "name: a/b"),
     "cfg.yaml:1: name: must not contain '/' or control characters, got 'a/b'"},
    {"empty_name", minimal_with_line(1, "name: ''"), "cfg.yaml:1: name: must not be empty"},
    // ranges
    {"batch_size", minimal_with_inserted(14, "  batch_size: 0"),
     "cfg.yaml:14: train.batch_size: must be >= 1, got 0"},
    {"epochs", minimal_with_line(13, "  epochs: 0"),
     "cfg.yaml:13: train.epochs: must be >= 1, got 0"},
    {"lr_zero", minimal_with_line(11, "  lr: 0"), "cfg.yaml:11: optimizer.lr: must be > 0, got 0"},
    {"lr_negative", minimal_with_line(11, "  lr: -1e-3"),
     "cfg.yaml:11: optimizer.lr: must be > 0, got -1e-3"},
    {"beta1", minimal_with_inserted(12, "  beta1: 1.0"),
     "cfg.yaml:12: optimizer.beta1: must be in [0, 1), got 1.0"},
    {"beta2", minimal_with_inserted(12, "  beta2: -0.1"),
     "cfg.yaml:12: optimizer.beta2: must be in [0, 1), got -0.1"},
    {"eps", minimal_with_inserted(12, "  eps: 0"),
     "cfg.yaml:12: optimizer.eps: must be > 0, got 0"},
    {"momentum", minimal_with_inserted(12, "  momentum: 1.5"),
     "cfg.yaml:12: optimizer.momentum: must be in [0, 1), got 1.5"},
    {"weight_decay", minimal_with_inserted(12, "  weight_decay: -0.01"),
     "cfg.yaml:12: optimizer.weight_decay: must be >= 0, got -0.01"},
    {"dropout_p", minimal_with_line(8, "    - {type: dropout, p: 1}"),
     "cfg.yaml:8: model.layers[1].p: must be in [0, 1), got 1"},
    {"linear_out", minimal_with_line(7, "    - {type: linear, out: 0}"),
     "cfg.yaml:7: model.layers[0].out: must be >= 1, got 0"},
    {"validation_negative", minimal_with_inserted(5, "  validation: -1"),
     "cfg.yaml:5: data.validation: must be >= 0, got -1"},
    {"validation_whole_training_set", minimal_with_inserted(5, "  validation: 60000"),
     "cfg.yaml:5: data.validation: must be in [0, 60000) (the fashion_mnist training set has "
     "60000 samples), got 60000"},
    {"validation_spirals",
     "data: {dataset: spirals, spirals_train: 300, validation: 300}\n"
     "model:\n  layers: [{type: linear, out: 2}]\n",
     "cfg.yaml:1: data.validation: must be in [0, 300) (the spirals training set has 300 "
     "samples), got 300"},
    {"schedule_floor_above_lr",
     minimal_with_inserted(12, "lr_schedule: {type: cosine, min_lr: 0.01}"),
     "cfg.yaml:12: lr_schedule.min_lr: must be <= optimizer.lr (0.002), got 0.01"},
    // widths
    {"declared_in_does_not_chain",
     "model:\n  layers:\n    - {type: linear, out: 256}\n    - {type: relu}\n"
     "    - type: linear\n      in: 128\n      out: 10\n",
     "cfg.yaml:6: model.layers[2].in: is 128 but the previous layer produces 256"},
    {"declared_in_of_first_layer", "model:\n  layers:\n    - {type: linear, in: 28, out: 10}\n",
     "cfg.yaml:3: model.layers[0].in: is 28 but the fashion_mnist input has 784 features"},
    {"last_layer_out", minimal_with_line(9, "    - {type: linear, out: 12}"),
     "cfg.yaml:9: model.layers[2].out: is 12 but " + kEndsWith10},
    {"last_layer_out_spirals", "data: {dataset: spirals}\nmodel:\n  layers:\n    - {out: 10}\n",
     "cfg.yaml:4: model.layers[0].out: is 10 but the model must end with a linear layer with "
     "out: 2 (one score per spirals class)"},
    {"last_layer_not_linear", minimal_with_inserted(10, "    - {type: relu}"),
     "cfg.yaml:10: model.layers[3]: is a relu layer; " + kEndsWith10},
    {"no_linear_layer", "seed: 1\nmodel:\n  layers: [{type: relu}]\n",
     "cfg.yaml:3: model.layers: needs at least one linear layer; " + kEndsWith10},
    {"no_model", "seed: 1\n",
     "cfg.yaml:1: model.layers: needs at least one linear layer; " + kEndsWith10},
    {"linear_without_out", minimal_with_line(7, "    - {type: linear}"),
     "cfg.yaml:7: model.layers[0]: a linear layer needs 'out' (its output width, >= 1)"},
    // the file as a whole
    {"top_level_list", "- a\n- b\n",
     "cfg.yaml:1: the top level must be a mapping of keys (allowed: " + kTopKeys + "), got a list"},
    {"top_level_text", "just text\n",
     "cfg.yaml:1: the top level must be a mapping of keys (allowed: " + kTopKeys +
         "), got 'just text'"},
    {"two_documents", std::string(kMinimalYaml) + "---\nseed: 2\n",
     "cfg.yaml:15: a config is one YAML document, this file holds 2 (remove the '---')"},
    {"syntax_flow_not_closed", "seed: 1\nmodel:\n  layers: [{type: linear\ntrain: {\n",
     "cfg.yaml:4: invalid YAML: end of map flow not found"},
    {"syntax_indentation", "seed: 1\ntrain:\n  epochs: 3\n   batch_size: 4\n",
     "cfg.yaml:4: invalid YAML: illegal map value"},
};

class ConfigMessage : public ::testing::TestWithParam<MessageCase> {};

TEST_P(ConfigMessage, IsExact) {
  EXPECT_EQ(parse_error(GetParam().yaml), GetParam().message) << GetParam().yaml;
}

INSTANTIATE_TEST_SUITE_P(ConfigErrors, ConfigMessage, ::testing::ValuesIn(kMessageCases),
                         [](const auto& info) { return info.param.label; });

TEST(ConfigErrors, MinimalConfigIsValid) {
  EXPECT_NO_THROW(parse_config(kMinimalYaml, "a.yaml"));
}

TEST(ConfigErrors, MessagesNameTheGivenPath) {
  EXPECT_EQ(parse_error(minimal_with_line(11, "  lr: fast"), "runs/sub dir/my.yaml"),
            "runs/sub dir/my.yaml:11: optimizer.lr: expected a number, got 'fast'");
}

TEST(ConfigErrors, ValuesAtTheEdgeOfTheirRangeAreAccepted) {
  EXPECT_NO_THROW(parse_config(
      minimal_with_inserted(5, "  validation: 59999") + "  batch_size: 1\n", "cfg.yaml"));
  EXPECT_NO_THROW(parse_config(std::string(kMinimalYaml) + "  batch_size: 60000\n  "
                                                           "eval_batch_size: 65536\n",
                               "cfg.yaml"));
  EXPECT_NO_THROW(parse_config(minimal_with_inserted(12, "  beta1: 0\n  weight_decay: 0"), "c"));
  EXPECT_NO_THROW(parse_config(minimal_with_line(8, "    - {type: dropout, p: 0}"), "cfg.yaml"));
  EXPECT_NO_THROW(
      parse_config("model:\n  layers: [{type: linear, in: 784, out: 64}, {type: linear, in: 64, "
                   "out: 10}]\n",
                   "ok.yaml"));
}

TEST(ConfigErrors, StringsMustBeUtf8) {
  using config_detail::invalid_utf8_offset;
  EXPECT_EQ(invalid_utf8_offset("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8c\xb1"), std::nullopt);
  EXPECT_EQ(invalid_utf8_offset("caf\xe9"), 3u);           // Latin-1
  EXPECT_EQ(invalid_utf8_offset("a\xc0\xaf"), 1u);         // overlong '/'
  EXPECT_EQ(invalid_utf8_offset("\xed\xa0\x80"), 0u);      // a surrogate
  EXPECT_EQ(invalid_utf8_offset("\xf4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(invalid_utf8_offset("ab\xe2\x82"), 2u);        // truncated
  EXPECT_EQ(parse_error(minimal_with_line(1, "name: t\xffx")),
            "cfg.yaml:1: name: is not valid UTF-8 (byte 0xff at position 2)");
}

TEST(ConfigErrors, KeysOfTheOtherOptimizerAreAccepted) {
  // So that --set optimizer.type=sgd works on a config written for AdamW.
  const Config c = parse_config(minimal_with_inserted(12, "  momentum: 0.5"), "cfg.yaml",
                                Overrides{{"optimizer.type=sgd"}});
  EXPECT_EQ(c.optimizer.type, OptimizerType::sgd);
  EXPECT_DOUBLE_EQ(c.optimizer.momentum, 0.5);
}

TEST(ConfigErrors, MissingOrUnreadableFile) {
  const std::string missing = "/nonexistent-dir-for-kasmina-test/none.yaml";
  const std::string msg = testing::user_error_message([&] { load_config(missing); });
  EXPECT_EQ(msg, missing + ": cannot read the config file: it does not exist");
  const std::string dir = std::filesystem::temp_directory_path().string();
  expect_contains(testing::user_error_message([&] { load_config(dir); }),
                  {dir + ": cannot read the config file: it is not a regular file"});
}

TEST(ConfigErrors, FileWithoutReadPermission) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their permissions";
  const auto path = std::filesystem::temp_directory_path() /
                    ("kasmina_noread_" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path) << testing::kMinimalYaml;
  std::filesystem::permissions(path, std::filesystem::perms::none);
  EXPECT_EQ(testing::user_error_message([&] { load_config(path.string()); }),
            path.string() + ": cannot read the config file: Permission denied");
  std::filesystem::remove(path);
}

TEST(ConfigErrors, EmptyFileNeedsAModel) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("kasmina_empty_" + std::to_string(::getpid()) + ".yaml");
  std::ofstream(path).close();
  EXPECT_EQ(testing::user_error_message([&] { load_config(path.string()); }),
            path.string() + ":1: model.layers: needs at least one linear layer; " + kEndsWith10);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace kasmina
