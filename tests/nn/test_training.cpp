// End-to-end training on the CPU: configs/spirals.yaml learns the spirals and is bit-for-bit
// reproducible run to run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "core/error.hpp"
#include "data/dataset.hpp"
#include "ops/ops.hpp"
#include "tests/common/source_root.hpp"
#include "train/device_warm_up.hpp"
#include "train/trainer.hpp"

using namespace kasmina;
using kasmina::testing::source_root;

namespace {

class Quiet final : public TrainerObserver {};

TrainSummary train_spirals(const Overrides& ov = {}) {
  const Config cfg = load_config(source_root() + "/configs/spirals.yaml", ov);
  const DataSplits data = load_data(cfg.data, cfg.seed);
  Trainer t(cfg, data, Device::cpu());
  Quiet q;
  return t.run(q);
}

// Every epoch's training loss and the test loss, bit for bit.
void expect_same_losses(const TrainSummary& a, const TrainSummary& b) {
  ASSERT_EQ(a.epoch_reports.size(), b.epoch_reports.size());
  for (size_t i = 0; i < a.epoch_reports.size(); ++i) {
    const double la = a.epoch_reports[i].train_loss, lb = b.epoch_reports[i].train_loss;
    EXPECT_EQ(std::memcmp(&la, &lb, sizeof la), 0) << "epoch " << i;
  }
  const double ta = a.test.loss, tb = b.test.loss;
  EXPECT_EQ(std::memcmp(&ta, &tb, sizeof ta), 0);
}

}  // namespace

TEST(Training, SpiralsReachesHighAccuracy) {
  const TrainSummary s = train_spirals();
  EXPECT_GE(s.test.accuracy, 0.95) << "test loss " << s.test.loss;
  EXPECT_LT(s.final_train_loss, s.epoch_reports.front().train_loss);
}

TEST(Training, SameSeedIsBitIdenticalAndOtherSeedDiffers) {
  Overrides few;
  few.sets = {"train.epochs=3"};
  const TrainSummary a = train_spirals(few), b = train_spirals(few);
  expect_same_losses(a, b);
  Overrides other = few;
  other.sets.push_back("seed=7");
  EXPECT_NE(train_spirals(other).final_train_loss, a.final_train_loss);
}

TEST(Training, TrainerPutsTheDeviceMathModeBackWhenItIsGone) {
  // The math mode is per device and process wide: a Trainer holds train.precision's for its
  // life only, also when its constructor refuses the config.
  ops::set_math_mode(Device::cpu(), ops::MathMode::tf32);
  Overrides ov;
  ov.sets = {"train.precision=bf16"};
  const Config cfg = load_config(source_root() + "/configs/spirals.yaml", ov);
  const DataSplits data = load_data(cfg.data, cfg.seed);
  {
    Trainer t(cfg, data, Device::cpu());
    EXPECT_EQ(ops::math_mode(Device::cpu()), ops::MathMode::bf16);
  }
  EXPECT_EQ(ops::math_mode(Device::cpu()), ops::MathMode::tf32);
  // A training set smaller than one batch: the constructor throws after setting the mode.
  DataSplits small = data;
  const int64_t n = cfg.train.batch_size / 2, d = data.train.features();
  std::vector<float> xs = data.train.images.to_vector<float>();
  std::vector<int32_t> ys = data.train.labels.to_vector<int32_t>();
  xs.resize(n * d);
  ys.resize(n);
  small.train.images = Tensor::from_vector(xs, {n, d});
  small.train.labels = Tensor::from_vector(ys, {n});
  EXPECT_THROW(Trainer(cfg, small, Device::cpu()), UserError);
  EXPECT_EQ(ops::math_mode(Device::cpu()), ops::MathMode::tf32);
  ops::set_math_mode(Device::cpu(), ops::MathMode::fp32);
}

// What `kasmina train` warms up beside its data loading (train/device_warm_up.hpp): the model
// on CUDA for the layered step without kasmina layers, cuDNN alone for convolutions with kasmina
// layers, nothing for the fused MLP step or on the CPU. Only the config and the device's kind
// are read (no GPU needed).
TEST(DeviceWarmUp, KindFollowsTheModelAndTheDevice) {
  const auto kind = [](const char* name, Device dev) {
    return warm_up_kind(load_config(source_root() + "/configs/" + name), dev);
  };
  EXPECT_EQ(kind("fmnist_resnet.yaml", Device::cuda(0)), WarmUp::model);
  EXPECT_EQ(kind("fmnist_vit.yaml", Device::cuda(0)), WarmUp::model);
  EXPECT_EQ(kind("fmnist_resnet_grow.yaml", Device::cuda(0)), WarmUp::libraries);
  EXPECT_EQ(kind("fmnist_vit_grow.yaml", Device::cuda(0)), WarmUp::none);
  EXPECT_EQ(kind("fmnist_mlp.yaml", Device::cuda(0)), WarmUp::none);
  EXPECT_EQ(kind("fmnist_resnet.yaml", Device::cpu()), WarmUp::none);
}

// The model warm-up on another thread, forced on the CPU: the run after it is bit for bit the
// run before it, and the device's math mode is the one before the warm-up.
TEST(DeviceWarmUp, ARunIsBitIdenticalAfterAModelWarmUpOnAnotherThread) {
  Overrides few;
  few.sets = {"train.epochs=2", "train.precision=bf16"};
  const TrainSummary a = train_spirals(few);
  ops::set_math_mode(Device::cpu(), ops::MathMode::tf32);
  const Config cfg = load_config(source_root() + "/configs/spirals.yaml", few);
  std::thread([&cfg] { warm_up_device(cfg, Device::cpu(), WarmUp::model); }).join();
  EXPECT_EQ(ops::math_mode(Device::cpu()), ops::MathMode::tf32);
  ops::set_math_mode(Device::cpu(), ops::MathMode::fp32);
  const TrainSummary b = train_spirals(few);
  expect_same_losses(a, b);
}
