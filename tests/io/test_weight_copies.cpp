// bf16 weight copies kept by the optimizer (nn/layer.hpp Parameter::bf16_copy, docs/PRECISION.md
// "Weight copies"): with the switch on, the linear layers and convolutions of a bf16 model read
// copies that the optimizer rewrites with every update instead of casting their weights each
// forward. The copies hold the same values the casts made, so a bf16 training run is bitwise the
// same with the switch on and off on the CPU: the parameters after some steps and the evaluation.
// A width-seed layer keeps casting (growth writes its weights outside the optimizer).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/layers/conv2d.hpp"
#include "config/layers/linear.hpp"
#include "core/env_switch.hpp"
#include "data/dataset.hpp"
#include "io_test_util.hpp"
#include "nn/layer.hpp"
#include "nn/model.hpp"
#include "nn/optimizer.hpp"
#include "ops/ops.hpp"
#include "tests/cli/small_data.hpp"
#include "tests/common/source_root.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"
#include "train/trainer.hpp"

namespace kasmina::io {
namespace {

using kasmina::testing::source_root;

struct Outcome {
  std::vector<std::vector<float>> params;
  double eval_loss = 0.0;
  int copies = 0;  // parameters with an optimizer-kept bf16 copy
};

Outcome train(const Config& cfg, bool copies, int steps) {
  const ScopedSwitch sw(optimizer_bf16_copies, set_optimizer_bf16_copies, copies);
  const DataSplits data = load_data(cfg.data, cfg.seed);
  Trainer t(cfg, data, Device::cpu());
  t.begin_epoch(0);
  for (int i = 0; i < steps; ++i) t.train_step();
  Outcome o;
  for (Parameter* p : t.model().parameters()) {
    o.params.push_back(p->value.to_vector<float>());
    o.copies += p->bf16_copy.defined() ? 1 : 0;
  }
  o.eval_loss = t.evaluate("test").loss;
  return o;
}

Config small(const std::string& config, const std::filesystem::path& data,
             const std::vector<std::string>& more) {
  Overrides ov;
  ov.sets = {string_override("data.dir", data.string()),
             "data.validation=20",
             "train.batch_size=20",
             "train.epochs=2",
             "train.precision=bf16",
             "telemetry.enabled=false"};
  ov.sets.insert(ov.sets.end(), more.begin(), more.end());
  return load_config(source_root() + "/configs/" + config, ov);
}

void expect_same_run(const Config& cfg, int want_copies) {
  const Outcome off = train(cfg, false, 4), on = train(cfg, true, 4);  // one epoch
  EXPECT_EQ(off.copies, 0);
  EXPECT_EQ(on.copies, want_copies);
  ASSERT_EQ(on.params.size(), off.params.size());
  for (size_t i = 0; i < on.params.size(); ++i) EXPECT_EQ(on.params[i], off.params[i]) << i;
  EXPECT_EQ(on.eval_loss, off.eval_loss);
}

class WeightCopies : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ =
        clitest::write_small_fashion_mnist(std::filesystem::path(dir_.path()) / "data", 100, 20);
  }
  test::TempDir dir_;
  std::filesystem::path data_;
};

TEST_F(WeightCopies, MlpRunIsTheSameWithAndWithout) {
  expect_same_run(small("fmnist_mlp.yaml", data_, {}), 3);  // three linear weights
}

TEST_F(WeightCopies, VitRunIsTheSameWithAndWithout) {
  // patch projection, qkv, proj, two MLP layers, head: six linear weights.
  expect_same_run(small("tiny_vit.yaml", data_, {}), 6);
}

TEST_F(WeightCopies, ResNetRunIsTheSameWithAndWithout) {
  // The stem stays fp32 (one input channel); the other convolutions (5 in stage 1: 4 block
  // convolutions; a stride-2 block with a projection: 3 more) and the head take copies.
  const std::string layers =
      "model.layers=[{type: conv2d, out: 8, kernel: 3, padding: 1, bias: false}, {type: "
      "batchnorm2d}, {type: relu}, {type: residual, layers: [{type: conv2d, out: 8, kernel: 3, "
      "padding: 1, bias: false}, {type: batchnorm2d}, {type: relu}, {type: conv2d, out: 8, "
      "kernel: 3, padding: 1, bias: false}, {type: batchnorm2d}]}, {type: relu}, {type: "
      "residual, layers: [{type: conv2d, out: 16, kernel: 3, stride: 2, padding: 1, bias: "
      "false}, {type: batchnorm2d}, {type: relu}, {type: conv2d, out: 16, kernel: 3, padding: "
      "1, bias: false}, {type: batchnorm2d}], shortcut: [{type: conv2d, out: 16, kernel: 1, "
      "stride: 2, bias: false}, {type: batchnorm2d}]}, {type: relu}, {type: global_avgpool}, "
      "{type: linear, out: 10}]";
  expect_same_run(small("fmnist_resnet.yaml", data_, {layers}), 6);
}

TEST_F(WeightCopies, WidthSeedLayersKeepCastingTheirWeights) {
  // A width-seed layer (grow_from) and the layer after it: growth writes their weights, so they
  // take no copies; the run is still the same.
  expect_same_run(
      small("fmnist_mlp.yaml", data_,
            {"model.layers=[{type: linear, out: 64, grow_from: 32, grow_first_epoch: 1, "
             "grow_epochs: 1}, {type: relu}, {type: linear, out: 32}, {type: relu}, {type: "
             "linear, out: 10}]"}),
      1);
}

// The layer reads the copy and does not cast: a weight changed behind the optimizer's back is not
// seen by the forward until Layer::load_state (or an optimizer step) rewrites the copy.
TEST(WeightCopiesModel, TheForwardReadsTheCopyAndLoadStateRewritesIt) {
  const ops::bf16_test::ScopedMathMode bf16(ops::MathMode::bf16);
  ModelConfig cfg;
  cfg.layers = {LayerConfig(LayerType::linear)};
  cfg.layers[0].as<LinearConfig>().out = 3;
  auto forward = [&](bool copies, bool zero_behind, bool reload) {
    const ScopedSwitch sw(optimizer_bf16_copies, set_optimizer_bf16_copies, copies);
    Model m(cfg, SampleShape(4), 5, Device::cpu());
    m.prepare(2);
    RunState saved;
    if (reload) {
      StateWriter w(saved);
      m.save_state(w);
    }
    Parameter& w = *m.parameters()[0];
    if (zero_behind) w.value.copy_from(Tensor::zeros(w.value.shape()));
    if (reload) m.load_state(StateReader(saved));
    StepContext ctx;
    ctx.step = Tensor::zeros({1}, DType::i64);
    return m.forward(Tensor::from_vector<float>({1, 2, 3, 4, 5, 6, 7, 8}, {2, 4}), Mode::eval, ctx)
        .to_vector<float>();
  };
  const std::vector<float> initial = forward(false, false, false);
  EXPECT_EQ(forward(true, false, false), initial);
  EXPECT_EQ(forward(true, true, false), initial) << "the copy, not the zeroed weight";
  EXPECT_NE(forward(false, true, false), initial) << "the cast sees the zeroed weight";
  EXPECT_EQ(forward(true, true, true), initial) << "load_state restored weight and copy";
}

// A second prepare() (a larger batch) after the optimizer took the copies keeps the same copy
// tensors: the optimizer's update still reaches the weights the forward reads.
TEST(WeightCopiesModel, ASecondPrepareKeepsTheCopiesTheOptimizerWrites) {
  const ops::bf16_test::ScopedMathMode bf16(ops::MathMode::bf16);
  // A bf16 convolution (8 -> 8 channels on a 4x4 map), the pooling and a linear layer.
  ModelConfig cfg;
  cfg.layers = {LayerConfig(LayerType::conv2d), LayerConfig(LayerType::global_avgpool),
                LayerConfig(LayerType::linear)};
  Conv2dConfig& conv = cfg.layers[0].as<Conv2dConfig>();
  conv.out = 8;
  conv.kernel = 3;
  conv.padding = 1;
  cfg.layers[2].as<LinearConfig>().out = 3;
  std::vector<float> x(2 * 4 * 4 * 8);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) * 0.25f - 0.75f;
  auto stepped_forward = [&](bool copies) {
    const ScopedSwitch sw(optimizer_bf16_copies, set_optimizer_bf16_copies, copies);
    Model m(cfg, SampleShape::flat_image({4, 4, 8}), 5, Device::cpu());
    m.prepare(2);
    Optimizer opt(OptimizerConfig{}, make_schedule(OptimizerConfig{}, ScheduleConfig{}, 10),
                  m.parameters(), Device::cpu());
    m.prepare(8);
    for (Parameter* p : m.parameters()) ops::fill(p->grad, 0.5);
    opt.step(Tensor::zeros({1}, DType::i64));
    StepContext ctx;
    ctx.step = Tensor::zeros({1}, DType::i64);
    int copied = 0;
    for (Parameter* p : m.parameters()) copied += p->bf16_copy.defined() ? 1 : 0;
    EXPECT_EQ(copied, copies ? 2 : 0) << "the convolution's and the linear layer's weights";
    return m.forward(Tensor::from_vector(x, {2, 4 * 4 * 8}), Mode::eval, ctx).to_vector<float>();
  };
  const std::vector<float> with = stepped_forward(true), without = stepped_forward(false);
  EXPECT_EQ(with, without);
}

}  // namespace
}  // namespace kasmina::io
