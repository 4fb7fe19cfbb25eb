// End-to-end training on the CPU: configs/spirals.yaml learns the spirals and is bit-for-bit
// reproducible run to run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "config/config.hpp"
#include "data/dataset.hpp"
#include "tests/common/source_root.hpp"
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
  ASSERT_EQ(a.epoch_reports.size(), b.epoch_reports.size());
  for (size_t i = 0; i < a.epoch_reports.size(); ++i) {
    const double la = a.epoch_reports[i].train_loss, lb = b.epoch_reports[i].train_loss;
    EXPECT_EQ(std::memcmp(&la, &lb, sizeof la), 0) << "epoch " << i;
  }
  const double ta = a.test.loss, tb = b.test.loss;
  EXPECT_EQ(std::memcmp(&ta, &tb, sizeof ta), 0);
  Overrides other = few;
  other.sets.push_back("seed=7");
  EXPECT_NE(train_spirals(other).final_train_loss, a.final_train_loss);
}
