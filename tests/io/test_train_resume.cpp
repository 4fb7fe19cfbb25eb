// The real trainer's resume in-process: bit-exact from a mid-epoch checkpoint with seeds in the
// middle of their lifecycle (on an MLP and on a ViT), at an epoch boundary, with the heuristic
// controller and loss guard, and the state of another model refused.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "cli_process.hpp"
#include "config/config.hpp"
#include "core/env_switch.hpp"
#include "data/dataset.hpp"
#include "io/checkpoint_files.hpp"
#include "io/resume_config.hpp"
#include "io/run_checkpoint.hpp"
#include "io_test_util.hpp"
#include "morph/morph_events.hpp"
#include "nn/conv_layers.hpp"
#include "nn/kasmina_layer.hpp"
#include "nn/layer_sequence.hpp"
#include "nn/model.hpp"
#include "nn/transformer_layers.hpp"
#include "tests/cli/small_data.hpp"
#include "tests/data/idx_files.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"
#include "train/trainer.hpp"

namespace kasmina::io {
namespace {

using cli_process::source_root;

Config spirals_config(const std::string& name, int64_t epochs) {
  Overrides ov;
  ov.sets = {"train.epochs=" + std::to_string(epochs), "telemetry.enabled=false"};
  return load_config(source_root() + "/configs/" + name + ".yaml", ov);
}
Config spirals_seeds(int64_t epochs) {
  return spirals_config("spirals_seeds", epochs);
}

// Stops the run after `stop_at` steps and keeps the state captured at that checkpoint.
class StopAt final : public TrainerObserver {
 public:
  explicit StopAt(int64_t stop_at) : stop_at_(stop_at) {}
  void attach(Trainer& t) { trainer_ = &t; }
  bool wants_checkpoints() const override { return true; }
  void on_checkpoint(Trainer& t) override {
    if (t.global_step() == stop_at_) {
      saved = t.capture_state();
      captured = true;
    }
  }
  bool stop_requested() const override { return trainer_->global_step() >= stop_at_; }
  RunState saved;
  bool captured = false;

 private:
  int64_t stop_at_;
  Trainer* trainer_ = nullptr;
};

// The state captured at step `stop_at` of a CPU run of `cfg` stopped there.
RunState state_at_step(const Config& cfg, const DataSplits& data, int64_t stop_at) {
  StopAt stopper(stop_at);
  Trainer t(cfg, data, Device::cpu());
  stopper.attach(t);
  t.run(stopper);
  EXPECT_TRUE(stopper.captured);
  return stopper.saved;
}

void expect_same_state(const RunState& a, const RunState& b) {
  ASSERT_EQ(a.global_step, b.global_step);
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& [name, ta] = a.tensors[i];
    const Tensor& tb = b.tensors[i].second;
    ASSERT_EQ(name, b.tensors[i].first);
    ASSERT_EQ(ta.shape(), tb.shape()) << name;
    ASSERT_EQ(ta.dtype(), tb.dtype()) << name;
    EXPECT_EQ(std::memcmp(ta.raw(), tb.raw(), ta.nbytes()), 0) << "tensor " << name << " differs";
  }
  for (const auto& [name, v] : a.ints) EXPECT_EQ(b.ints.at(name), v) << name;
}

// N steps straight against k steps, a checkpoint file, and a resumed trainer for the rest.
void check_resume_in_process(const Config& cfg, int64_t stop_at,
                             TrainSummary* straight_out = nullptr,
                             TrainSummary* resumed_out = nullptr) {
  const DataSplits data = load_data(cfg.data, cfg.seed);

  Trainer straight(cfg, data, Device::cpu());
  TrainerObserver quiet;
  const TrainSummary a = straight.run(quiet);
  const RunState end_a = straight.capture_state();

  StopAt stopper(stop_at);
  Trainer first(cfg, data, Device::cpu());
  stopper.attach(first);
  const TrainSummary b = first.run(stopper);
  ASSERT_TRUE(b.interrupted);
  ASSERT_TRUE(stopper.captured);
  EXPECT_EQ(b.steps, stop_at);

  test::TempDir dir;
  const std::string file = checkpoint_path(dir.path(), stop_at);
  write_checkpoint(file, to_checkpoint(stopper.saved, to_yaml(cfg), cfg.name));
  Trainer resumed(cfg, data, Device::cpu());
  resumed.restore_state(from_checkpoint(read_checkpoint(file)));
  const TrainSummary c = resumed.run(quiet);
  EXPECT_FALSE(c.interrupted);
  EXPECT_EQ(c.resumed_from_step, stop_at);
  const RunState end_c = resumed.capture_state();
  expect_same_state(end_a, end_c);

  ASSERT_EQ(a.epoch_reports.size(), c.epoch_reports.size());
  for (size_t i = 0; i < a.epoch_reports.size(); ++i) {
    EXPECT_EQ(a.epoch_reports[i].train_loss, c.epoch_reports[i].train_loss) << "epoch " << i + 1;
    EXPECT_EQ(a.epoch_reports[i].train_accuracy, c.epoch_reports[i].train_accuracy);
    EXPECT_EQ(a.epoch_reports[i].test.loss, c.epoch_reports[i].test.loss);
    EXPECT_EQ(a.epoch_reports[i].validation->loss, c.epoch_reports[i].validation->loss);
  }
  EXPECT_EQ(a.train_flops, c.train_flops);  // the seeds' FLOP ledger is carried exactly
  EXPECT_GT(a.train_flops, 0.0);
  ASSERT_EQ(a.growth.size(), c.growth.size());
  for (size_t i = 0; i < a.growth.size(); ++i) {
    EXPECT_EQ(a.growth[i].stage_counts, c.growth[i].stage_counts);
    EXPECT_EQ(a.growth[i].germinated, c.growth[i].germinated);
    EXPECT_EQ(a.growth[i].fossilized, c.growth[i].fossilized);
    EXPECT_EQ(a.growth[i].culled, c.growth[i].culled);
  }
  if (straight_out) *straight_out = a;
  if (resumed_out) *resumed_out = c;
}

TEST(TrainResume, MidEpochWithSeedsMidLifecycleIsBitExact) {
  // 31 steps per epoch; the schedule germinates at steps 60..100, so at step 113 seeds are in
  // TRAINING/GRAFTING, commands and evaluation scores may be queued, and the stop is 20 steps
  // into epoch 4 (cursor, epoch loss accumulators and permutation restored).
  check_resume_in_process(spirals_seeds(9), 113);
}

TEST(TrainResume, AtAnEpochBoundaryIsBitExact) {
  check_resume_in_process(spirals_seeds(6), 93);
}

TEST(TrainResume, HeuristicControllerIsBitExact) {
  // The heuristic controller (validation measurements on the bus, plateau detection, the
  // chunks' gradient scores and its trigger inside the germination window, bandit state)
  // germinates seeds; stop 8 steps into epoch 13.
  check_resume_in_process(spirals_config("spirals_grow", 14), 380);
}

TEST(TrainResume, WidthSeedsAreBitExact) {
  // configs/spirals.yaml with its second hidden layer growing 16 -> 64 at the start of epochs
  // 1, 2, 3 (31 steps per epoch): stopped after the first growth, 7 steps into epoch 2, and at
  // the epoch boundary before the second growth.
  for (int64_t stop : {69, 62}) {
    Overrides ov;
    ov.sets = {"train.epochs=5", "telemetry.enabled=false", "model.layers.2.grow_from=16"};
    check_resume_in_process(load_config(source_root() + "/configs/spirals.yaml", ov), stop);
  }
}

TEST(TrainResume, WidthSeedsUnderTheControllerAreBitExact) {
  // configs/spirals.yaml with its second hidden layer growing 16 -> 64 in 3 steps when the
  // heuristic controller asks (width reports every 5 steps, trigger ratio 0.8): steps at 10, 15
  // and 25 of the straight run. Stopped between the second and the third step, with a fresh
  // report delivered to the controller (step 20), and right after the first (step 12).
  for (int64_t stop : {20, 12}) {
    Overrides ov;
    ov.sets = {"train.epochs=3",
               "telemetry.enabled=false",
               "telemetry.every_steps=5",
               "data.validation=200",
               "model.layers.2.grow_from=16",
               "model.layers.2.grow_schedule=controller",
               "controller.type=heuristic",
               "controller.grad_trigger_ratio=0.8",
               "controller.eval_every=10"};
    TrainSummary a, c;
    check_resume_in_process(load_config(source_root() + "/configs/spirals.yaml", ov), stop, &a, &c);
    std::vector<int64_t> steps_a, steps_c;
    for (const auto& e : a.growth_events)
      if (e.reason == static_cast<int32_t>(morph::Reason::width_grown)) steps_a.push_back(e.step);
    for (const auto& e : c.growth_events)
      if (e.reason == static_cast<int32_t>(morph::Reason::width_grown)) steps_c.push_back(e.step);
    EXPECT_EQ(steps_a, (std::vector<int64_t>{10, 15, 25}));
    // The resumed run takes the steps after the stop at the same steps.
    std::vector<int64_t> after;
    for (int64_t s : steps_a)
      if (s >= stop) after.push_back(s);
    EXPECT_EQ(steps_c, after) << "stop " << stop;
  }
}

// A tiny convolutional network with batchnorm (running statistics), a projection shortcut, max
// pooling and device augmentation (crops and flips keyed by the step) on a small Fashion-MNIST-
// shaped directory of random images: 96 training samples, batch 16, 6 steps an epoch. `c1`, `c2`:
// the channels of the stem and of the residual block.
Config tiny_convnet(const datatest::ScratchDir& dir, int c1, int c2, const char* precision) {
  const uint32_t n_train = 96, n_test = 32;
  datatest::write_idx(dir.file("train-images-idx3-ubyte.gz"), {n_train, 28, 28},
                      datatest::random_bytes(n_train * 784, 1), true);
  datatest::write_idx(dir.file("train-labels-idx1-ubyte.gz"), {n_train},
                      datatest::random_bytes(n_train, 2, 10), true);
  datatest::write_idx(dir.file("t10k-images-idx3-ubyte.gz"), {n_test, 28, 28},
                      datatest::random_bytes(n_test * 784, 3), true);
  datatest::write_idx(dir.file("t10k-labels-idx1-ubyte.gz"), {n_test},
                      datatest::random_bytes(n_test, 4, 10), true);
  const std::string a = std::to_string(c1), b = std::to_string(c2);
  const std::string yaml = R"(name: tiny_convnet
seed: 3
data: {dataset: fashion_mnist, dir: )" +
                           dir.path().string() +
                           R"(, validation: 16, augment: {crop_padding: 2, flip: true}}
model:
  layers:
    - {type: conv2d, out: )" +
                           a + R"(, kernel: 3, padding: 1, bias: false}
    - {type: batchnorm2d}
    - {type: relu}
    - {type: maxpool2d, kernel: 2}
    - type: residual
      layers:
        - {type: conv2d, out: )" +
                           b + R"(, kernel: 3, stride: 2, padding: 1}
        - {type: batchnorm2d}
        - {type: relu}
        - {type: conv2d, out: )" +
                           b + R"(, kernel: 3, padding: 1}
      shortcut:
        - {type: conv2d, out: )" +
                           b + R"(, kernel: 1, stride: 2}
        - {type: batchnorm2d}
    - {type: global_avgpool}
    - {type: linear, out: 10}
optimizer: {type: sgd, lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 5.0e-4}
train: {epochs: 3, batch_size: 16, eval_batch_size: 16, precision: )" +
                           precision + R"(}
telemetry: {enabled: false}
)";
  return parse_config(yaml, "tiny_convnet.yaml");
}

TEST(TrainResume, ConvNetWithBatchNormAndAugmentationIsBitExact) {
  datatest::ScratchDir dir;
  check_resume_in_process(tiny_convnet(dir, 4, 6, "fp32"), 8);  // 2 steps into epoch 2
}

// The same network with 8 and 16 channels in bf16 with the bf16 convolutions switched on: the
// convolutions after the stem run in bf16 (the CPU emulation), and their fp32 master weights
// and moments resume bit-exactly.
TEST(TrainResume, Bf16ConvNetIsBitExact) {
  datatest::ScratchDir dir;
  const ScopedSwitch bf16_conv(bf16_convolutions, set_bf16_convolutions, true);
  check_resume_in_process(tiny_convnet(dir, 8, 16, "bf16"), 8);
}

TEST(TrainResume, VitWithASeedInItsMlpIsBitExact) {
  // configs/tiny_vit_grow.yaml on 100 random images (80 to train, 4 steps an epoch): the
  // transformer layers' parameters and optimizer moments, and a seed germinated at step 2 over
  // the MLP's hidden features of every token; stop 2 steps into epoch 3.
  test::TempDir dir;
  const auto data =
      clitest::write_small_fashion_mnist(std::filesystem::path(dir.path()) / "data", 100, 20);
  Overrides ov;
  ov.sets = {string_override("data.dir", data.string()), "data.validation=20",
             "train.batch_size=20", "train.epochs=6", "telemetry.enabled=false"};
  check_resume_in_process(load_config(source_root() + "/configs/tiny_vit_grow.yaml", ov), 10);
}

TEST(TrainResume, Bf16VitWithBf16AttentionIsBitExact) {
  // configs/tiny_vit.yaml in bf16 with the bf16 attention switched on (bf16 qkv, attention
  // output and their gradients) on 100 random images; stop 2 steps into epoch 3.
  const ScopedSwitch bf16_attention_on(bf16_attention, set_bf16_attention, true);
  test::TempDir dir;
  const auto data =
      clitest::write_small_fashion_mnist(std::filesystem::path(dir.path()) / "data", 100, 20);
  Overrides ov;
  ov.sets = {string_override("data.dir", data.string()),
             "data.validation=20",
             "train.batch_size=20",
             "train.epochs=4",
             "train.precision=bf16",
             "telemetry.enabled=false"};
  check_resume_in_process(load_config(source_root() + "/configs/tiny_vit.yaml", ov), 10);
}

// Overrides for a config trained on `data` (100 random images, 80 to train in batches of 20: 4
// steps an epoch) for `epochs`, plus `more`.
Overrides small_fmnist(const std::filesystem::path& data, int64_t epochs,
                       const std::vector<std::string>& more) {
  Overrides ov;
  ov.sets = {string_override("data.dir", data.string()), "data.validation=20",
             "train.batch_size=20", "train.epochs=" + std::to_string(epochs),
             "telemetry.enabled=false"};
  ov.sets.insert(ov.sets.end(), more.begin(), more.end());
  return ov;
}

TEST(TrainResume, RowSeedsMidLifecycleAreBitExact) {
  // configs/fmnist_grow_rows.yaml (four row_mlp seeds, each reading the whole layer; the row
  // group) on 100 random images (80 to train, 4 steps an epoch): germinated at steps 2, 2, 3 and
  // 6, grafting 6 steps, so at the stop (step 11, 3 steps into epoch 3) seeds are in GRAFTING,
  // STABILIZATION/EVALUATING and FINE_TUNING with their slots, moments and snapshots.
  test::TempDir dir;
  const auto data =
      clitest::write_small_fashion_mnist(std::filesystem::path(dir.path()) / "data", 100, 20);
  const Overrides ov =
      small_fmnist(data, 6,
                   {"model.layers.2.min_grafting_steps=6", "schedule.0.step=2", "schedule.1.step=2",
                    "schedule.2.step=3", "schedule.3.step=6"});
  check_resume_in_process(load_config(source_root() + "/configs/fmnist_grow_rows.yaml", ov), 11);
}

TEST(TrainResume, Bf16KasminaLayerWithBf16ActivationsIsBitExact) {
  // configs/fmnist_grow.yaml in bf16 with the bf16 activations on and a residual_mlp of hidden 16
  // (the fused kernels' row path): the linear layer before the kasmina layer hands it bf16, the
  // kasmina layer hands bf16 on, the gradients come back in bf16 (docs/PRECISION.md). The seed
  // germinates at step 2 and grafts for 6 steps; stop at step 11 (3 steps into epoch 3).
  const ScopedSwitch activations(bf16_activations, set_bf16_activations, true);
  test::TempDir dir;
  const auto data =
      clitest::write_small_fashion_mnist(std::filesystem::path(dir.path()) / "data", 100, 20);
  const Overrides ov = small_fmnist(data, 6,
                                    {"train.precision=bf16", "model.layers.2.hidden=16",
                                     "model.layers.2.min_grafting_steps=6", "schedule.0.step=2"});
  const Config cfg = load_config(source_root() + "/configs/fmnist_grow.yaml", ov);
  {  // the chain really runs on bf16
    const ops::bf16_test::ScopedMathMode bf16(ops::MathMode::bf16);
    Model m(cfg.model, SampleShape::flat_image({28, 28, 1}), cfg.seed, Device::cpu());
    m.prepare(20);
    ASSERT_EQ(m.morph_layers().size(), 1u);
    EXPECT_TRUE(m.morph_layers()[0]->bf16_output());
  }
  check_resume_in_process(cfg, 11);
}

// configs/fmnist_mlp.yaml in bf16 (the CPU emulation of the bf16 GEMM inputs) on 100 random
// images (80 to train, 4 steps an epoch): the checkpoint's fp32 master weights and fp32 AdamW
// moments resume bit-exactly (the bf16 copies are remade from them every step); stop 2 steps
// into epoch 2. The same checkpoint also resumes in fp32 (a precision switch is allowed).
TEST(TrainResume, Bf16MlpIsBitExactAndMayResumeInFp32) {
  test::TempDir dir;
  const auto data =
      clitest::write_small_fashion_mnist(std::filesystem::path(dir.path()) / "data", 100, 20);
  Overrides ov = small_fmnist(data, 3, {"train.precision=bf16"});
  const Config bf16 = load_config(source_root() + "/configs/fmnist_mlp.yaml", ov);
  check_resume_in_process(bf16, 6);

  ov.sets.back() = "train.precision=fp32";
  const Config fp32 = load_config(source_root() + "/configs/fmnist_mlp.yaml", ov);
  const ConfigChanges changes = compare_for_resume(bf16, fp32);
  EXPECT_TRUE(changes.refused.empty());
  ASSERT_EQ(changes.allowed.size(), 1u);
  EXPECT_EQ(changes.allowed[0], "train.precision: bf16 -> fp32");
  const DataSplits splits = load_data(bf16.data, bf16.seed);
  Trainer in_fp32(fp32, splits, Device::cpu());
  in_fp32.restore_state(state_at_step(bf16, splits, 6));
  TrainerObserver quiet;
  const TrainSummary switched = in_fp32.run(quiet);
  EXPECT_EQ(switched.resumed_from_step, 6);
  const RunState switched_end = in_fp32.capture_state();
  EXPECT_EQ(switched_end.global_step, 12);
  // A run in fp32 throughout ends elsewhere: the first 6 steps in bf16 rounded differently.
  Trainer all_fp32(fp32, splits, Device::cpu());
  all_fp32.run(quiet);
  const RunState fp32_end = all_fp32.capture_state();
  const auto weight = [](const RunState& s) {
    for (const auto& [name, t] : s.tensors)
      if (name == "layers.0.weight") return t;
    return Tensor();
  };
  const Tensor a = weight(fp32_end), b = weight(switched_end);
  ASSERT_TRUE(a.defined() && b.defined());
  ASSERT_EQ(a.nbytes(), b.nbytes());
  EXPECT_NE(std::memcmp(a.raw(), b.raw(), a.nbytes()), 0) << "bf16 steps changed nothing";
}

// The same with the bf16 weight copies kept by the optimizer: a resumed run remakes them from
// the loaded master weights (Layer::load_state) and continues bit-exactly.
TEST(TrainResume, Bf16WithOptimizerWeightCopiesIsBitExact) {
  const ScopedSwitch copies(optimizer_bf16_copies, set_optimizer_bf16_copies, true);
  test::TempDir dir;
  const auto data =
      clitest::write_small_fashion_mnist(std::filesystem::path(dir.path()) / "data", 100, 20);
  const Overrides ov = small_fmnist(data, 3, {"train.precision=bf16"});
  check_resume_in_process(load_config(source_root() + "/configs/fmnist_mlp.yaml", ov), 6);
}

TEST(TrainResume, StateOfAnotherModelIsRefused) {
  const Config cfg = spirals_seeds(1);
  const DataSplits data = load_data(cfg.data, cfg.seed);
  RunState st = state_at_step(cfg, data, 5);
  for (auto& [name, tensor] : st.tensors)
    if (name == "layers.0.weight") tensor = Tensor::zeros({16, 2});
  Trainer other(cfg, data, Device::cpu());
  try {
    other.restore_state(st);
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("'layers.0.weight' has shape [16x2]"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace kasmina::io
