// Values read from YAML land in the right fields; everything not given keeps its default.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config_test_util.hpp"

namespace kasmina {
namespace {

using testing::kMinimalYaml;

TEST(ConfigDefaults, MinimalConfigReadsGivenKeysAndFillsTheRest) {
  const Config c = parse_config(kMinimalYaml, "configs/tiny.yaml");
  EXPECT_EQ(c.name, "tiny");
  EXPECT_EQ(c.source_path, "configs/tiny.yaml");
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.device, "cpu");
  EXPECT_EQ(c.data, DataConfig{});
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 0.002);
  EXPECT_EQ(c.train.epochs, 2);

  // Everything else is the default of its struct.
  OptimizerConfig optimizer;
  optimizer.lr = 0.002;
  EXPECT_EQ(c.optimizer, optimizer);
  EXPECT_EQ(c.lr_schedule, ScheduleConfig{});
  TrainConfig train;
  train.epochs = 2;
  EXPECT_EQ(c.train, train);
  EXPECT_EQ(c.model.init, "kaiming_uniform");

  ASSERT_EQ(c.model.layers.size(), 3u);
  EXPECT_EQ(c.model.layers[0].type, LayerType::linear);
  EXPECT_EQ(c.model.layers[0].as<LinearConfig>().out, 32);
  EXPECT_EQ(c.model.layers[0].as<LinearConfig>().in, 0);
  EXPECT_TRUE(c.model.layers[0].as<LinearConfig>().bias);
  EXPECT_EQ(c.model.layers[1].type, LayerType::relu);
  EXPECT_EQ(c.model.layers[2].as<LinearConfig>().out, 10);
  // Each layer remembers its line for later messages.
  EXPECT_EQ(c.model.layers[0].line, 7);
  EXPECT_EQ(c.model.layers[1].line, 8);
  EXPECT_EQ(c.model.layers[2].line, 9);
}

TEST(ConfigDefaults, NameDefaultsToTheFileStem) {
  const std::string yaml = "model:\n  layers: [{type: linear, out: 10}]\n";
  EXPECT_EQ(parse_config(yaml, "some/dir/fmnist_mlp.yaml").name, "fmnist_mlp");
  EXPECT_EQ(parse_config(yaml, "quickstart.yml").name, "quickstart");
}

TEST(ConfigDefaults, EmptySectionsKeepDefaults) {
  const Config c = parse_config(
      "optimizer:\ntrain:\nlr_schedule: {}\nmodel:\n  layers: [{type: linear, out: 10}]\n",
      "x.yaml");
  EXPECT_EQ(c.optimizer, OptimizerConfig{});
  EXPECT_EQ(c.train, TrainConfig{});
  EXPECT_EQ(c.lr_schedule, ScheduleConfig{});
}

TEST(ConfigDefaults, EveryKeyIsReadable) {
  const std::string yaml =
      "name: every_key\n"
      "seed: 18446744073709551615\n"
      "device: cuda:1\n"
      "data: {dataset: spirals, dir: /tmp/d, validation: 100, normalize: false,\n"
      "       spirals_train: 500, spirals_test: 300, spirals_noise: 0.2, spirals_turns: 2.25}\n"
      "model:\n"
      "  init: xavier_uniform\n"
      "  layers:\n"
      "    - {type: linear, in: 2, out: 16, bias: false}\n"
      "    - {type: layernorm, eps: 1.0e-6}\n"
      "    - {type: gelu}\n"
      "    - {type: dropout, p: 0.25}\n"
      "    - {type: linear, in: 16, out: 2}\n"
      "optimizer: {type: sgd, lr: 0.05, weight_decay: 0.0005, momentum: 0.8, nesterov: true}\n"
      "lr_schedule: {type: linear, warmup_steps: 40, min_lr: 0.001}\n"
      "train: {epochs: 4, batch_size: 32, eval_batch_size: 64, precision: tf32,\n"
      "        deterministic: false, log_every_steps: 5, graph: false}\n";
  const Config c = parse_config(yaml, "every.yaml");
  EXPECT_EQ(c.name, "every_key");
  EXPECT_EQ(c.seed, 18446744073709551615ull);
  EXPECT_EQ(c.device, "cuda:1");
  EXPECT_EQ(c.data.dataset, DatasetKind::spirals);
  EXPECT_EQ(c.data.dir, "/tmp/d");
  EXPECT_EQ(c.data.validation, 100);
  EXPECT_FALSE(c.data.normalize);
  EXPECT_EQ(c.data.spirals_train, 500);
  EXPECT_EQ(c.data.spirals_test, 300);
  EXPECT_DOUBLE_EQ(c.data.spirals_noise, 0.2);
  EXPECT_DOUBLE_EQ(c.data.spirals_turns, 2.25);
  EXPECT_EQ(c.model.init, "xavier_uniform");
  ASSERT_EQ(c.model.layers.size(), 5u);
  EXPECT_EQ(c.model.layers[0].as<LinearConfig>().in, 2);
  EXPECT_FALSE(c.model.layers[0].as<LinearConfig>().bias);
  EXPECT_EQ(c.model.layers[1].type, LayerType::layernorm);
  EXPECT_DOUBLE_EQ(c.model.layers[1].as<LayerNormConfig>().eps, 1e-6);
  EXPECT_EQ(c.model.layers[2].type, LayerType::gelu);
  EXPECT_EQ(c.model.layers[3].type, LayerType::dropout);
  EXPECT_DOUBLE_EQ(c.model.layers[3].as<DropoutConfig>().p, 0.25);
  EXPECT_EQ(c.optimizer.type, OptimizerType::sgd);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 0.05);
  EXPECT_DOUBLE_EQ(c.optimizer.weight_decay, 0.0005);
  EXPECT_DOUBLE_EQ(c.optimizer.momentum, 0.8);
  EXPECT_TRUE(c.optimizer.nesterov);
  EXPECT_EQ(c.lr_schedule.type, LrScheduleType::linear);
  EXPECT_EQ(c.lr_schedule.warmup_steps, 40);
  EXPECT_DOUBLE_EQ(c.lr_schedule.min_lr, 0.001);
  EXPECT_EQ(c.train.epochs, 4);
  EXPECT_EQ(c.train.batch_size, 32);
  EXPECT_EQ(c.train.eval_batch_size, 64);
  EXPECT_EQ(c.train.precision, PrecisionMode::tf32);
  EXPECT_FALSE(c.train.deterministic);
  EXPECT_EQ(c.train.log_every_steps, 5);
  EXPECT_FALSE(c.train.graph);
}

TEST(ConfigDefaults, LoadConfigReadsAFile) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("kasmina_config_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "from_disk.yaml";
  std::ofstream(file) << "seed: 3\nmodel:\n  layers: [{type: linear, out: 10}]\n";
  const Config c = load_config(file.string(), Overrides{{"train.epochs=5"}});
  EXPECT_EQ(c.name, "from_disk");
  EXPECT_EQ(c.seed, 3u);
  EXPECT_EQ(c.train.epochs, 5);
  EXPECT_EQ(c.source_path, file.string());
  std::filesystem::remove_all(dir);
}

TEST(ConfigDefaults, EnumNames) {
  EXPECT_STREQ(to_string(DatasetKind::fashion_mnist), "fashion_mnist");
  EXPECT_STREQ(to_string(DatasetKind::spirals), "spirals");
  EXPECT_STREQ(to_string(LayerType::layernorm), "layernorm");
  EXPECT_STREQ(to_string(LayerType::dropout), "dropout");
  EXPECT_STREQ(to_string(OptimizerType::adamw), "adamw");
  EXPECT_STREQ(to_string(LrScheduleType::cosine), "cosine");
  EXPECT_STREQ(to_string(PrecisionMode::tf32), "tf32");
  EXPECT_STREQ(to_string(PrecisionMode::bf16), "bf16");
}

TEST(ConfigDefaults, DatasetShapes) {
  DataConfig data;
  const DatasetShape fmnist = dataset_shape(data);
  EXPECT_EQ(fmnist.features, 784);
  EXPECT_EQ(fmnist.classes, 10);
  EXPECT_EQ(fmnist.train_samples, 60000);
  data.dataset = DatasetKind::spirals;
  data.spirals_train = 1234;
  const DatasetShape spirals = dataset_shape(data);
  EXPECT_EQ(spirals.features, 2);
  EXPECT_EQ(spirals.classes, 2);
  EXPECT_EQ(spirals.train_samples, 1234);
}

// Each layer type owns its parameter struct; LayerConfig holds it by value.
TEST(ConfigDefaults, LayerParametersAreTypedValues) {
  LayerConfig dropout(LayerType::dropout);
  EXPECT_DOUBLE_EQ(dropout.as<DropoutConfig>().p, 0.1);
  try {
    (void)dropout.as<LinearConfig>();
    ADD_FAILURE() << "expected an InternalError";
  } catch (const InternalError& e) {
    EXPECT_STREQ(e.what(), "layer parameters: asked for LinearConfig but it holds DropoutConfig");
  }
  LayerConfig copy = dropout;
  EXPECT_EQ(copy, dropout);
  copy.as<DropoutConfig>().p = 0.5;
  EXPECT_NE(copy, dropout);
  EXPECT_DOUBLE_EQ(dropout.as<DropoutConfig>().p, 0.1);
  EXPECT_EQ(LayerConfig(), LayerConfig(LayerType::linear));
  EXPECT_EQ(LayerConfig().as<LinearConfig>(), LinearConfig{});
  EXPECT_TRUE(LayerConfig(LayerType::relu).params.empty());
  EXPECT_NE(LayerConfig(LayerType::relu), LayerConfig(LayerType::gelu));
  EXPECT_NE(LayerConfig(LayerType::relu), LayerConfig(LayerType::linear));
  try {
    (void)LayerConfig(LayerType::gelu).as<KasminaConfig>();
    ADD_FAILURE() << "expected an InternalError";
  } catch (const InternalError& e) {
    EXPECT_STREQ(e.what(), "layer parameters: asked for KasminaConfig but it holds nothing");
  }
}

}  // namespace
}  // namespace kasmina
