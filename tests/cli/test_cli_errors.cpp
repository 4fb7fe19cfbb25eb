// `kasmina train` with bad input: exit code 2, one line `kasmina: error: ...` on stderr that
// names the file, line, key and what is allowed, no crash output, and no run directory.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_errors.hpp"
#include "run_process.hpp"

namespace kasmina {
namespace {

using namespace clitest;

TEST_F(CliErrors, UnknownKeyWithSuggestion) {
  const fs::path cfg = write_config("typo.yaml", replace_line(kValidYaml, 7, "optimiser:"));
  expect_user_error(train(cfg), {cfg.string() + ":7: unknown key 'optimiser' in 'top level'",
                                 "did you mean 'optimizer'?",
                                 "allowed: name, seed, device, blueprints, autotune, "
                                 "compile_limit_s, data, model, optimizer, "
                                 "lr_schedule, schedule, controller, train, telemetry, "
                                 "checkpoint"});
}

TEST_F(CliErrors, WrongType) {
  const fs::path cfg = write_config("type.yaml", replace_line(kValidYaml, 8, "  lr: fast"));
  expect_user_error(train(cfg), {cfg.string() + ":8: optimizer.lr: expected a number, got 'fast'"});
}

TEST_F(CliErrors, OutOfRange) {
  const fs::path cfg = write_config("range.yaml", replace_line(kValidYaml, 10, "  epochs: 0"));
  expect_user_error(train(cfg), {cfg.string() + ":10: train.epochs: must be >= 1, got 0"});
}

TEST_F(CliErrors, EnumNotAllowed) {
  const fs::path cfg = write_config("enum.yaml", replace_line(kValidYaml, 5, "    - {type: tanh}"));
  expect_user_error(train(cfg),
                    {cfg.string() + ":5: model.layers[1].type: 'tanh' is not allowed",
                     "(allowed: linear, relu, gelu, layernorm, dropout, kasmina, residual, conv2d, "
                     "batchnorm2d, maxpool2d, avgpool2d, global_avgpool, flatten, patch_embed, "
                     "attention, class_token)"});
}

TEST_F(CliErrors, WidthsThatDoNotChain) {
  const fs::path cfg = write_config(
      "widths.yaml", replace_line(kValidYaml, 6, "    - {type: linear, in: 32, out: 10}"));
  expect_user_error(
      train(cfg),
      {cfg.string() + ":6: model.layers[2].in: is 32 but the previous layer produces 16"});
  const fs::path last =
      write_config("classes.yaml", replace_line(kValidYaml, 6, "    - {type: linear, out: 9}"));
  expect_user_error(train(last), {last.string() + ":6: model.layers[2].out: is 9",
                                  "with out: 10 (one score per fashion_mnist class)"});
}

TEST_F(CliErrors, InvalidYamlSyntax) {
  const fs::path cfg =
      write_config("syntax.yaml", replace_line(kValidYaml, 4, "    - {type: linear, out: 16"));
  expect_user_error(train(cfg), {cfg.string() + ":", "invalid YAML"});
}

TEST_F(CliErrors, UnreadableConfig) {
  const fs::path missing = dir_.path() / "no-such-config.yaml";
  expect_user_error(train(missing), {missing.string() + ": cannot read the config file"});
}

TEST_F(CliErrors, UnknownSetPath) {
  const fs::path cfg = write_config("ok.yaml", kValidYaml);
  expect_user_error(train(cfg, {"--set", "model.layrs=3"}),
                    {"--set model.layrs=3: unknown key 'layrs' in 'model' (did you mean 'layers'? "
                     "allowed: layers, init)"});
}

TEST_F(CliErrors, BadSetValue) {
  const fs::path cfg = write_config("ok.yaml", kValidYaml);
  expect_user_error(train(cfg, {"--set", "train.epochs=abc"}),
                    {"--set train.epochs=abc: train.epochs: expected an integer, got 'abc'"});
  expect_user_error(train(cfg, {"--set", "train.epochs"}),
                    {"--set train.epochs: expected key.path=value"});
}

TEST_F(CliErrors, KasminaSeedsThatDoNotSplitTheWidth) {
  const fs::path cfg =
      write_config("seeds.yaml", replace_line(kValidYaml, 5, "    - {type: kasmina, seeds: 3}"));
  expect_user_error(train(cfg), {cfg.string() + ":5: model.layers[1].seeds: is 3, which does not "
                                                "divide the width 16 that the layer receives "
                                                "(allowed: the divisors of 16 with 16/seeds <= "
                                                "64, or a multiple of 4 up to 128: 1, 2, 4, 8, "
                                                "16)"});
}

TEST_F(CliErrors, LearningRateScheduleUnderItsOldKey) {
  const fs::path cfg =
      write_config("old.yaml", std::string(kValidYaml) + "schedule: {type: cosine}\n");
  expect_user_error(train(cfg),
                    {cfg.string() + ":11: schedule: expected a list of germinations "
                                    "{step, layer, seed, blueprint}, got a mapping (the "
                                    "learning-rate schedule is now 'lr_schedule')"});
}

TEST_F(CliErrors, HeuristicControllerWithoutValidation) {
  const fs::path cfg = write_config("ok.yaml", kValidYaml);
  expect_user_error(train(cfg, {"--set", "controller.type=heuristic"}),
                    {"--set controller.type=heuristic: controller.type: is heuristic, which needs "
                     "a validation split: set data.validation > 0"});
}

TEST_F(CliErrors, BadDevice) {
  const fs::path cfg = write_config("ok.yaml", kValidYaml);
  expect_user_error(train(cfg, {"--device", "gpu"}),
                    {"device: 'gpu' is not allowed (allowed: cpu, cuda, cuda:N"});
}

TEST_F(CliErrors, MissingDatasetFile) {
  const fs::path cfg = write_config("ok.yaml", kValidYaml);
  const fs::path data = dir_.path() / "empty-data";
  fs::create_directory(data);
  const ProcessResult r = train(cfg, {"--data-dir", data.string()});
  expect_user_error(r, {(data / "train-images-idx3-ubyte.gz").string()});
}

TEST_F(CliErrors, TruncatedDatasetFile) {
  const fs::path real = real_data_dir();
  const char* names[] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
  for (const char* name : names) {
    if (!fs::exists(real / name)) GTEST_SKIP() << "no Fashion-MNIST data in " << real;
  }
  const fs::path data = dir_.path() / "truncated-data";
  fs::create_directory(data);
  for (const char* name : names) fs::create_symlink(real / name, data / name);
  // Replace the training labels by their first half.
  const fs::path victim = data / "train-labels-idx1-ubyte.gz";
  fs::remove(victim);
  {
    std::ifstream in(real / "train-labels-idx1-ubyte.gz", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GT(bytes.size(), 100u);
    std::ofstream(victim, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  const fs::path cfg = write_config("ok.yaml", kValidYaml);
  expect_user_error(train(cfg, {"--data-dir", data.string()}), {victim.string(), "truncated"});
}

// Sizes that would exhaust memory are refused while the config is read (configs/README.md,
// "Limits"), with the file, line, key and the limit.
TEST_F(CliErrors, SizesAreBoundedBeforeAllocation) {
  const std::string train_eval = std::string(kValidYaml) + "  eval_batch_size: ";
  for (const std::string big : {"4611686018427387904", "9223372036854775807"}) {
    const fs::path cfg = write_config("eval.yaml", train_eval + big + "\n");
    const ProcessResult r = train(cfg);
    expect_user_error(r, {});
    EXPECT_EQ(r.err, "kasmina: error: " + cfg.string() +
                         ":11: train.eval_batch_size: must be <= 65536, got " + big + "\n");
  }
  const fs::path wide = write_config(
      "wide.yaml", replace_line(kValidYaml, 4, "    - {type: linear, out: 2147483648}"));
  ProcessResult r = train(wide);
  expect_user_error(r, {});
  EXPECT_EQ(r.err, "kasmina: error: " + wide.string() +
                       ":4: model.layers[0].out: must be <= 65536, got 2147483648\n");
  const std::string spirals = replace_line(kValidYaml, 6, "    - {type: linear, out: 2}") +
                              "data:\n  dataset: spirals\n";  // data is line 11
  for (const std::string key : {"spirals_train", "spirals_test"}) {
    const fs::path cfg =
        write_config(key + ".yaml", spirals + "  " + key + ": 4611686018427387904\n");
    r = train(cfg);
    expect_user_error(r, {});
    EXPECT_EQ(r.err, "kasmina: error: " + cfg.string() + ":13: data." + key +
                         ": must be <= 10000000, got 4611686018427387904\n");
  }
}

// Each size within its limit, but a weight matrix or a batch's activations too large.
TEST_F(CliErrors, TensorsTheSizesMakeAreBounded) {
  const fs::path weights =
      write_config("weights.yaml", replace_line(kValidYaml, 5, "    - {type: linear, out: 65536}"));
  const fs::path wide =
      write_config("wide.yaml", replace_line(kValidYaml, 4, "    - {type: linear, out: 65536}"));
  ProcessResult r = train(weights, {"--set", "model.layers.0.out=65536"});
  expect_user_error(r, {});
  EXPECT_EQ(r.err, "kasmina: error: " + weights.string() +
                       ":5: model.layers[1].out: is 65536, which with the 65536 inputs it "
                       "receives makes 4294967296 weights (at most 2147483648)\n");
  r = train(wide, {"--set", "train.eval_batch_size=65536"});
  expect_user_error(r, {});
  EXPECT_EQ(r.err,
            "kasmina: error: --set train.eval_batch_size=65536: train.eval_batch_size: is 65536, "
            "which with the widest layer (65536 values per sample) makes activations of 4294967296 "
            "values "
            "(at most 2147483648)\n");
}

TEST_F(CliErrors, BatchLargerThanTheDatasetNamesTheConfigLine) {
  const std::string text = replace_line(kValidYaml, 6, "    - {type: linear, out: 2}") +
                           "  batch_size: 3000\n"  // line 11
                           "data: {dataset: spirals, spirals_train: 2000, validation: 100}\n";
  const fs::path cfg = write_config("batch.yaml", text);
  const ProcessResult r = train(cfg);
  expect_user_error(r, {});
  EXPECT_EQ(r.err, "kasmina: error: " + cfg.string() +
                       ":11: train.batch_size: is 3000, larger than the 1900 training samples "
                       "(the spirals training set has 2000, data.validation takes 100)\n");
}

// YAML nested 10,000 deep (flow brackets on one line, or block indentation): the message says
// what is wrong and where, before yaml-cpp's recursive parser sees the text.
TEST_F(CliErrors, DeepNestingIsNamed) {
  const std::string limit = " (a config nests at most 64 lists and mappings)\n";
  const fs::path flow =
      write_config("flow.yaml", std::string(kValidYaml) + "data: " + std::string(10000, '[') +
                                    std::string(10000, ']') + "\n");
  ProcessResult r = train(flow);
  expect_user_error(r, {});
  EXPECT_EQ(r.err, "kasmina: error: " + flow.string() +
                       ":11: invalid YAML: nesting deeper than 64 at line 11" + limit);
  // Block style 1,000 deep (0.5 MB; 10,000 deep would be 50 MB, over the size limit).
  std::string text = "data:\n";
  for (int i = 1; i <= 1000; ++i) text += std::string(i, ' ') + "k" + std::to_string(i) + ":\n";
  const fs::path block = write_config("block.yaml", text);
  r = train(block);
  expect_user_error(r, {});
  EXPECT_EQ(r.err, "kasmina: error: " + block.string() +
                       ":65: invalid YAML: nesting deeper than 64 at line 65" + limit);
}

// A name with bytes that are not UTF-8 is refused while the config is read, not after the run
// when its results are written.
TEST_F(CliErrors, NameThatIsNotUtf8) {
  const fs::path cfg = write_config("latin1.yaml", "name: caf\xe9\n" + std::string(kValidYaml));
  const ProcessResult r = train(cfg);
  expect_user_error(r, {});
  EXPECT_EQ(r.err, "kasmina: error: " + cfg.string() +
                       ":1: name: is not valid UTF-8 (byte 0xe9 at position 4)\n");
  // Through --set, the message shows the bytes escaped, so that it is UTF-8 itself.
  const ProcessResult set = train(write_config("ok.yaml", kValidYaml), {"--set", "name=caf\xe9"});
  expect_user_error(set, {});
  EXPECT_EQ(set.err,
            "kasmina: error: --set name=caf\\xe9: name: is not valid UTF-8 (byte 0xe9 at position "
            "4)\n");
}

TEST_F(CliErrors, UnknownSubcommandIsNamed) {
  const ProcessResult r = testing::run_process(kasmina_binary(), {"frobnicate"}, dir_.path());
  ASSERT_TRUE(r.exited) << "killed by signal " << r.signal;
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "kasmina: error: unknown command 'frobnicate' (allowed: train, device, inspect, "
            "eval, export, bench, blueprint)\n");
}

}  // namespace
}  // namespace kasmina
