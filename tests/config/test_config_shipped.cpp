// The configs shipped in configs/ parse and say what their documentation promises.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config/layers/dropout.hpp"
#include "config/layers/kasmina.hpp"
#include "config/layers/layernorm.hpp"
#include "config/layers/linear.hpp"
#include "config/layers/residual.hpp"

namespace kasmina {
namespace {

std::string shipped(const std::string& name) {
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  if (root == nullptr) ADD_FAILURE() << "KASMINA_SOURCE_ROOT is not set (run through meson test)";
  return std::string(root != nullptr ? root : ".") + "/configs/" + name;
}

std::vector<int64_t> linear_widths(const Config& c) {
  std::vector<int64_t> widths;
  for (const LayerConfig& layer : c.model.layers) {
    if (layer.type == LayerType::linear) widths.push_back(layer.as<LinearConfig>().out);
  }
  return widths;
}

TEST(ShippedConfigs, Quickstart) {
  const Config c = load_config(shipped("quickstart.yaml"));
  EXPECT_EQ(c.name, "quickstart");
  EXPECT_EQ(c.device, "cpu");
  EXPECT_EQ(c.data.dataset, DatasetKind::fashion_mnist);
  EXPECT_EQ(linear_widths(c), (std::vector<int64_t>{128, 10}));
  EXPECT_EQ(c.model.layers[1].type, LayerType::relu);
  EXPECT_EQ(c.optimizer.type, OptimizerType::adamw);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 1e-3);
  EXPECT_EQ(c.train.batch_size, 128);
  EXPECT_LE(c.train.epochs, 3);
}

TEST(ShippedConfigs, FmnistMlp) {
  const Config c = load_config(shipped("fmnist_mlp.yaml"));
  EXPECT_EQ(c.name, "fmnist_mlp");
  EXPECT_EQ(c.data.dataset, DatasetKind::fashion_mnist);
  EXPECT_EQ(linear_widths(c), (std::vector<int64_t>{256, 128, 10}));
  ASSERT_EQ(c.model.layers.size(), 5u);
  EXPECT_EQ(c.model.layers[1].type, LayerType::relu);
  EXPECT_EQ(c.model.layers[3].type, LayerType::relu);
  EXPECT_EQ(c.optimizer.type, OptimizerType::adamw);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 1e-3);
  EXPECT_DOUBLE_EQ(c.optimizer.weight_decay, 0.01);
  EXPECT_DOUBLE_EQ(c.optimizer.beta1, 0.9);
  EXPECT_DOUBLE_EQ(c.optimizer.beta2, 0.999);
  EXPECT_DOUBLE_EQ(c.optimizer.eps, 1e-8);
  EXPECT_EQ(c.lr_schedule.type, LrScheduleType::cosine);
  EXPECT_DOUBLE_EQ(c.lr_schedule.min_lr, 0.0);
  EXPECT_EQ(c.train.epochs, 20);
  EXPECT_EQ(c.train.batch_size, 128);
  EXPECT_EQ(c.train.eval_batch_size, 1000);
}

TEST(ShippedConfigs, Spirals) {
  const Config c = load_config(shipped("spirals.yaml"));
  EXPECT_EQ(c.name, "spirals");
  EXPECT_EQ(c.data.dataset, DatasetKind::spirals);
  EXPECT_EQ(dataset_shape(c.data).features, 2);
  EXPECT_EQ(linear_widths(c), (std::vector<int64_t>{64, 64, 2}));
  EXPECT_EQ(c.model.layers[1].type, LayerType::gelu);
  EXPECT_EQ(c.optimizer.type, OptimizerType::adamw);
  const int64_t steps =
      c.train.epochs * ((c.data.spirals_train + c.train.batch_size - 1) / c.train.batch_size);
  EXPECT_GE(steps, 300);  // "a few hundred steps" at least
}

TEST(ShippedConfigs, AcceptOverridesTheCliApplies) {
  const Config c = load_config(shipped("quickstart.yaml"),
                               Overrides{{"data.dir=/elsewhere", "device=cuda:0", "seed=5"}});
  EXPECT_EQ(c.data.dir, "/elsewhere");
  EXPECT_EQ(c.device, "cuda:0");
  EXPECT_EQ(c.seed, 5u);
}

}  // namespace
}  // namespace kasmina
