// The trainer's fused MLP route (train/fused_mlp_step.hpp): which models it takes, that on the
// CPU twin it gives the layered step's gradients, loss and hits, and on CUDA (skipped without a
// GPU) that training through it follows the layered step and repeats bit for bit, with the
// batch gather and the optimizer inside the kernel or apart.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>

#include "config/config.hpp"
#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "nn/model.hpp"
#include "ops/ops.hpp"
#include "tests/common/rel_error.hpp"
#include "tests/common/source_root.hpp"
#include "train/fused_mlp_step.hpp"
#include "train/precision.hpp"
#include "train/trainer.hpp"

using namespace kasmina;
using kasmina::testing::rel_error;
using kasmina::testing::source_root;

namespace {

// The spirals config's model with its layers replaced (2 inputs).
Config spirals_with(const std::string& layers) {
  Overrides ov;
  ov.sets = {"model.layers=" + layers};
  return load_config(source_root() + "/configs/spirals.yaml", ov);
}

const char* kReluMlp =
    "[{type: linear, out: 37}, {type: relu}, {type: linear, out: 65}, {type: linear, out: 33}, "
    "{type: relu}, {type: linear, out: 2}]";

std::unique_ptr<FusedMlpStep> route(Model& m, int64_t batch, std::string* why, bool fp32 = true,
                                    bool single = true, bool guarded = false) {
  return FusedMlpStep::make(m, batch, fp32, single, guarded, why);
}

}  // namespace

TEST(FusedMlpRoute, TakesPlainReluMlpsOnly) {
  std::string why;
  {
    Model m(spirals_with(kReluMlp).model, SampleShape(2), 1, Device::cpu());
    EXPECT_NE(route(m, 64, &why), nullptr) << why;
    EXPECT_EQ(route(m, 64, &why, false), nullptr);
    EXPECT_NE(why.find("fp32"), std::string::npos) << why;
    EXPECT_EQ(route(m, 64, &why, true, false), nullptr);
    EXPECT_NE(why.find("process"), std::string::npos) << why;
    EXPECT_EQ(route(m, 64, &why, true, true, true), nullptr);
    EXPECT_NE(why.find("guard"), std::string::npos) << why;
    EXPECT_EQ(route(m, int64_t{1} << 20, &why), nullptr);  // 2^20 x 3767 multiply-adds
    EXPECT_NE(why.find("multiply-adds"), std::string::npos) << why;
  }
  {  // the spirals config itself: GELU
    Model m(spirals_with("[{type: linear, out: 8}, {type: gelu}, {type: linear, out: 2}]").model,
            SampleShape(2), 1, Device::cpu());
    EXPECT_EQ(route(m, 64, &why), nullptr);
    EXPECT_NE(why.find("gelu"), std::string::npos) << why;
  }
  {
    Model m(spirals_with("[{type: linear, out: 8}, {type: relu}, {type: dropout, p: 0.1}, "
                         "{type: linear, out: 2}]")
                .model,
            SampleShape(2), 1, Device::cpu());
    EXPECT_EQ(route(m, 64, &why), nullptr);
    EXPECT_NE(why.find("dropout"), std::string::npos) << why;
  }
  {
    Model m(
        spirals_with("[{type: linear, out: 8}, {type: layernorm}, {type: linear, out: 2}]").model,
        SampleShape(2), 1, Device::cpu());
    EXPECT_EQ(route(m, 64, &why), nullptr);
    EXPECT_NE(why.find("layernorm"), std::string::npos) << why;
  }
}

TEST(FusedMlpRoute, CpuTwinGivesTheLayeredStep) {
  // The layered step follows the CPU's math mode, which a Trainer built earlier in this process
  // may have left at bf16 or tf32 (seen on a GPU machine after the CudaModelStep tests); the
  // fused route is the fp32 step, so this compares both in fp32.
  const MathModeScope fp32(Device::cpu(), ops::MathMode::fp32);
  const Config cfg = spirals_with(kReluMlp);
  constexpr int64_t kBatch = 29;
  Model m(cfg.model, SampleShape(2), 3, Device::cpu());
  m.prepare(kBatch);
  Rng rng(11);
  std::vector<float> xs(kBatch * 2);
  for (float& v : xs) v = static_cast<float>(rng.uniform() * 4.0 - 2.0);
  std::vector<int32_t> ls(kBatch);
  for (int32_t& v : ls) v = static_cast<int32_t>(rng.uniform() * 2.0) % 2;
  const Tensor x = Tensor::from_vector(xs, {kBatch, 2}), y = Tensor::from_vector(ls, {kBatch});
  const float scale = 1.0f / kBatch;

  // The layered step.
  Tensor dl = Tensor::empty({kBatch, 2}, DType::f32, Device::cpu());
  Tensor loss = Tensor::zeros({1}, DType::f64, Device::cpu());
  Tensor hits = Tensor::zeros({1}, DType::i64, Device::cpu());
  StepContext ctx;
  const Tensor logits = m.forward(x, Mode::train, ctx);
  ops::softmax_xent(logits, y, scale, &dl, loss, &hits);
  m.backward(dl, ctx);
  std::vector<std::vector<float>> grads;
  for (Parameter* p : m.parameters()) grads.push_back(p->grad.to_vector<float>());

  // The fused route on the same parameters, gradients overwritten.
  std::string why;
  auto fused = route(m, kBatch, &why);
  ASSERT_NE(fused, nullptr) << why;
  for (Parameter* p : m.parameters()) ops::fill(p->grad, 7.0);
  Tensor dl2 = Tensor::empty({kBatch, 2}, DType::f32, Device::cpu());
  Tensor loss2 = Tensor::zeros({1}, DType::f64, Device::cpu());
  Tensor hits2 = Tensor::zeros({1}, DType::i64, Device::cpu());
  fused->run(x, y, scale, dl2, loss2, &hits2);
  const std::vector<Parameter*> ps = m.parameters();
  ASSERT_EQ(ps.size(), 8u);  // four linear layers, weight and bias each
  for (size_t i = 0; i < ps.size(); ++i)
    EXPECT_LT(rel_error(ps[i]->grad.to_vector<float>(), grads[i]), 1e-5) << ps[i]->name;
  EXPECT_LT(rel_error(dl2.to_vector<float>(), dl.to_vector<float>()), 1e-5);
  EXPECT_NEAR(loss2.to_vector<double>()[0], loss.to_vector<double>()[0],
              1e-5 * loss.to_vector<double>()[0]);
  EXPECT_EQ(hits2.to_vector<int64_t>()[0], hits.to_vector<int64_t>()[0]);
  EXPECT_GT(loss.to_vector<double>()[0], 0.0);
}

// CUDA: three training steps of configs/fmnist_mlp.yaml through the fused kernel (with its
// gather and AdamW inside; with augmentation the gather stays outside), against the layered step
// (KASMINA_FUSED_MLP=0), a second fused run, and the fused step with the gather and the
// optimizer in launches of their own (KASMINA_FUSED_MLP=step: the same per-element code, so
// the same bits).
namespace {

void follows_layered_step(bool augment) {
  Overrides ov;
  if (const char* d = std::getenv("KASMINA_DATA_DIR"))
    ov.sets.push_back(string_override("data.dir", d));
  if (augment)
    ov.sets.insert(ov.sets.end(), {"data.augment.crop_padding=2", "data.augment.flip=true"});
  const Config cfg = load_config(source_root() + "/configs/fmnist_mlp.yaml", ov);
  const DataSplits data = load_data(cfg.data, cfg.seed);
  auto steps = [&](const char* mode) {
    if (mode) setenv("KASMINA_FUSED_MLP", mode, 1);
    Trainer t(cfg, data, Device::cuda(0));
    unsetenv("KASMINA_FUSED_MLP");
    EXPECT_EQ(t.fused_step(), mode == nullptr || std::strcmp(mode, "0") != 0);
    t.begin_epoch(0);
    for (int i = 0; i < 3; ++i) t.train_step();
    std::vector<std::vector<float>> out;
    for (Parameter* p : t.model().parameters()) {
      out.push_back(p->value.to_vector<float>());
      out.push_back(p->grad.to_vector<float>());
    }
    return out;
  };
  const auto a = steps(nullptr), b = steps(nullptr), apart = steps("step"), ref = steps("0");
  ASSERT_EQ(a.size(), ref.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)), 0)
        << "tensor " << i << ": two fused runs differ";
    EXPECT_EQ(std::memcmp(a[i].data(), apart[i].data(), a[i].size() * sizeof(float)), 0)
        << "tensor " << i << ": the gather and AdamW inside the kernel differ from their launches";
    // Values (even i): AdamW's normalised steps; gradients (odd i).
    EXPECT_LT(rel_error(a[i], ref[i]), i % 2 == 0 ? 1e-4 : 1e-3) << "tensor " << i;
  }
}

}  // namespace

TEST(FusedMlpRoute, CudaTrainingFollowsTheLayeredStepAndRepeats) {
  ops::init();
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device: fused MLP step not run";
  follows_layered_step(false);
}

TEST(FusedMlpRoute, CudaTrainingWithAugmentationFollowsTheLayeredStep) {
  ops::init();
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device: fused MLP step not run";
  follows_layered_step(true);
}
