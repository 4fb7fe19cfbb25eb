// `kasmina train` with configs that would take unbounded memory: a file over the size limit is
// refused before it is read, a list over the length limit before its entries are read
// (configs/README.md, "Size limits"), YAML that yaml-cpp cannot get past before it is loaded.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "cli_errors.hpp"
#include "run_process.hpp"

namespace kasmina {
namespace {

using namespace clitest;

// kValidYaml with a kasmina layer (line 5), so that `schedule:` entries are valid.
std::string seeds_yaml() {
  return replace_line(kValidYaml, 5, "    - {type: kasmina, seeds: 4}");
}

std::string schedule(int entries) {
  std::string s = "schedule:\n";  // line 11
  for (int i = 0; i < entries; ++i)
    s += "  - {step: " + std::to_string(i + 1) + ", layer: 0, seed: " + std::to_string(i % 4) +
         ", blueprint: residual_mlp}\n";
  return s;
}

TEST_F(CliErrors, FiftyMegabyteConfigIsRefusedBeforeItIsRead) {
  const std::string text = seeds_yaml() + schedule(1'000'000);
  ASSERT_GT(text.size(), 50u << 20);
  expect_error_line(write_config("huge.yaml", text),
                    ": the config is " + std::to_string(text.size()) +
                        " bytes, more than the 1048576 a config may hold");
}

TEST_F(CliErrors, ListLongerThanTheLimitIsRefused) {
  const fs::path cfg = write_config("long.yaml", seeds_yaml() + schedule(10'001));
  ASSERT_LT(fs::file_size(cfg), 1u << 20);  // under the size limit
  expect_error_line(cfg, ":12: schedule: holds 10001 entries, more than the 10000 a list may hold");
  std::string layers = "model:\n  layers:\n";
  for (int i = 0; i < 10'001; ++i) layers += "    - {type: relu}\n";
  expect_error_line(write_config("layers.yaml", layers + "    - {type: linear, out: 10}\n"),
                    ":3: model.layers: holds 10002 entries, more than the 10000 a list may hold");
}

// The size limits hold for values given with --set as for values in the file, and a value
// beyond 64 bits is not an integer; nothing is left behind.
TEST_F(CliErrors, SizesGivenWithSetAreBoundedToo) {
  const fs::path spirals =
      write_config("spirals.yaml",
                   "model:\n  layers:\n    - {type: linear, out: 2}\ndata: {dataset: spirals}\n");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"train.eval_batch_size=4611686018427387904",
       "train.eval_batch_size: must be <= 65536, got 4611686018427387904"},
      {"train.batch_size=9223372036854775807",
       "train.batch_size: must be <= 65536, got 9223372036854775807"},
      {"train.batch_size=9223372036854775808",
       "train.batch_size: expected an integer, got '9223372036854775808'"},
      {"data.spirals_train=4611686018427387904",
       "data.spirals_train: must be <= 10000000, got 4611686018427387904"},
      {"model.layers.0.out=2147483648", "model.layers[0].out: must be <= 65536, got 2147483648"},
  };
  for (const auto& [set, message] : cases) {
    const ProcessResult r = train(spirals, {"--set", set});
    expect_user_error(r, {});
    EXPECT_EQ(r.err, "kasmina: error: --set " + set + ": " + message + "\n");
  }
}

// Found by fuzzing (tests/fuzz/config/regression-trailing-comma): yaml-cpp's LoadAll never gets
// past a ',' after a complete document and makes empty documents until memory runs out.
TEST_F(CliErrors, TrailingCommaAfterTheDocumentIsNamed) {
  const std::string flow = "{seed: 1, model: {layers: [{type: linear, out: 10}]}}";
  expect_error_line(write_config("same_line.yaml", flow + ",\n"),
                    ":1: invalid YAML: unexpected ',' at line 1, column 54");
  expect_error_line(write_config("next_line.yaml", flow + "\n\n,\n"),
                    ":3: invalid YAML: unexpected ',' at line 3, column 1");
}

}  // namespace
}  // namespace kasmina
