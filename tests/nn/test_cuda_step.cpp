// Whole-model check: one training step of configs/fmnist_mlp.yaml (and of a variant with
// residual blocks, of a small ResNet in fp32 and bf16, and of a tiny ViT) on CUDA matches the
// same step on the CPU: the gradients of
// the step and the parameters after it within tolerance (AdamW normalises each update, so a
// gradient element near zero may flip sign between devices: the bound is on the whole tensor).
// Skips without a GPU.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <thread>

#include "config/config.hpp"
#include "core/env_switch.hpp"
#include "data/dataset.hpp"
#include "nn/conv_layers.hpp"
#include "nn/transformer_layers.hpp"
#include "ops/gemm_route.hpp"
#include "ops/ops.hpp"
#include "tests/common/rel_error.hpp"
#include "tests/common/source_root.hpp"
#include "train/device_warm_up.hpp"
#include "train/trainer.hpp"

using namespace kasmina;
using kasmina::testing::rel_error;
using kasmina::testing::source_root;

namespace {

// configs/fmnist_mlp.yaml with `sets` (and the data directory of KASMINA_DATA_DIR).
Config step_config(const std::vector<std::string>& sets) {
  Overrides ov;
  ov.sets = sets;
  if (const char* d = std::getenv("KASMINA_DATA_DIR"))
    ov.sets.push_back(string_override("data.dir", d));
  return load_config(source_root() + "/configs/fmnist_mlp.yaml", ov);
}

void compare_steps(const std::vector<std::string>& sets, double tol, double grad_tol,
                   int steps = 1) {
  ops::init();
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device: whole-model CUDA step not run";
  const Config cfg = step_config(sets);
  const DataSplits data = load_data(cfg.data, cfg.seed);
  Trainer cpu(cfg, data, Device::cpu()), gpu(cfg, data, Device::cuda(0));
  for (Trainer* t : {&cpu, &gpu}) {
    t->begin_epoch(0);
    for (int i = 0; i < steps; ++i) t->train_step();
  }
  auto pc = cpu.model().parameters(), pg = gpu.model().parameters();
  ASSERT_EQ(pc.size(), pg.size());
  for (size_t i = 0; i < pc.size(); ++i) {
    const auto a = pg[i]->value.to_vector<float>(), b = pc[i]->value.to_vector<float>();
    for (float v : a) ASSERT_TRUE(std::isfinite(v)) << pc[i]->name;
    EXPECT_LT(rel_error(a, b), tol) << pc[i]->name;
    const auto ga = pg[i]->grad.to_vector<float>(), gb = pc[i]->grad.to_vector<float>();
    EXPECT_LT(rel_error(ga, gb), grad_tol) << pc[i]->name << " gradient";
  }
}

// The parameters and gradients (alternating) after `steps` deterministic steps of a fresh
// Trainer on CUDA.
std::vector<std::vector<float>> cuda_steps(const Config& cfg, const DataSplits& data, int steps) {
  Trainer gpu(cfg, data, Device::cuda(0));
  gpu.begin_epoch(0);
  for (int i = 0; i < steps; ++i) gpu.train_step();
  std::vector<std::vector<float>> values;
  for (const auto* p : gpu.model().parameters()) {
    values.push_back(p->value.to_vector<float>());
    values.push_back(p->grad.to_vector<float>());
  }
  return values;
}

void expect_bitwise_equal(const std::vector<std::vector<float>>& a,
                          const std::vector<std::vector<float>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].size(), b[i].size());
    for (size_t j = 0; j < a[i].size(); ++j) {
      ASSERT_EQ(std::bit_cast<uint32_t>(a[i][j]), std::bit_cast<uint32_t>(b[i][j]))
          << (i % 2 ? "gradient" : "value") << " of parameter " << i / 2 << ", element " << j;
    }
  }
}

// The bf16 weight copies written by the optimizer (nn/layer.hpp) against the casts in each
// forward, both on CUDA: `steps` deterministic steps give bitwise the same parameters and
// gradients (the copies hold exactly the values the casts make; a copy the optimizer failed to
// rewrite would feed the second forward the previous step's weights).
void copies_equal_casts_on_cuda(const std::vector<std::string>& sets, int steps) {
  ops::init();
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device: whole-model CUDA step not run";
  const Config cfg = step_config(sets);
  ASSERT_TRUE(cfg.train.deterministic);
  const DataSplits data = load_data(cfg.data, cfg.seed);
  std::vector<std::vector<std::vector<float>>> runs;
  for (bool copies : {true, false}) {
    const ScopedSwitch sw(optimizer_bf16_copies, set_optimizer_bf16_copies, copies);
    runs.push_back(cuda_steps(cfg, data, steps));
  }
  expect_bitwise_equal(runs[0], runs[1]);
}

}  // namespace

TEST(CudaModelStep, FmnistMlpMatchesCpuFp32) {
  compare_steps({"device=cpu"}, 1e-4, 1e-3);
}

TEST(CudaModelStep, FmnistMlpMatchesCpuTf32) {
  // TF32 rounds products to 10 mantissa bits: gradients differ by ~1e-3, and AdamW turns a
  // flipped sign of a near-zero gradient into a full-size update (6e-3 measured on the H100
  // after two steps; gradients of one step differ by up to 1.6e-2 relative, measured).
  compare_steps({"train.precision=tf32"}, 2e-2, 3e-2);
}

TEST(CudaModelStep, FmnistMlpMatchesCpuBf16) {
  // Both devices feed the GEMMs the same bf16 copies (the CPU emulation rounds bit for bit as the
  // cast kernel does); only the fp32 sums' order differs, which now and then moves a cast
  // value to the neighbouring bf16 value (2^-8 relative) in the activations and gradients
  // handed on. Predicted (not yet measured): gradients within ~1e-3, parameters as under TF32.
  compare_steps({"train.precision=bf16"}, 2e-2, 1e-2);
}

TEST(CudaModelStep, FmnistMlpMatchesCpuBf16GradientHandoff) {
  // The DRELU pass forced for every shape (ops/gemm_route.hpp): both devices hand bf16 gradients
  // between the linear layers, the GPU through the plain GEMM + kasmina's pass.
  struct Forced {
    Forced() { ops::set_dact_path(ops::DactPath::pass); }
    ~Forced() { ops::set_dact_path(ops::DactPath::automatic); }
  } forced;
  compare_steps({"train.precision=bf16"}, 2e-2, 1e-2);
}

TEST(CudaModelStep, FmnistMlpMatchesCpuBf16WithOptimizerWeightCopies) {
  // The bf16 weight copies rewritten by the optimizer's kernel instead of cast in each forward
  // (the default; the same values: the bounds of FmnistMlpMatchesCpuBf16); two steps, so that
  // the second forward reads the copies the first step's optimizer wrote.
  const ScopedSwitch copies(optimizer_bf16_copies, set_optimizer_bf16_copies, true);
  compare_steps({"train.precision=bf16"}, 2e-2, 1e-2, 2);
}

TEST(CudaModelStep, GeluMlpMatchesCpuBf16) {
  // bf16 activations through GELU layers (bf16 pre-activations saved by the bf16-output GEMMs,
  // DGELU reading them back) and through a linear layer without activation.
  compare_steps({"train.precision=bf16",
                 "model.layers=[{type: linear, out: 256}, {type: gelu}, {type: linear, out: 128}, "
                 "{type: linear, out: 64}, {type: gelu}, {type: linear, out: 10}]"},
                2e-2, 1e-2);
}

TEST(CudaModelStep, ResidualBlocksMatchCpuFp32) {
  // Residual blocks (residual_add on the device, fusion inside a block, a block of one layer,
  // nested blocks) on the fmnist_mlp data and optimizer.
  compare_steps({"model.layers=[{type: linear, out: 64}, {type: relu}, {type: residual, layers: "
                 "[{type: layernorm}, {type: linear, out: 128}, {type: gelu}, {type: linear, "
                 "out: 64}]}, {type: residual, layers: [{type: residual, layers: [{type: linear, "
                 "out: 64}, {type: relu}]}]}, {type: linear, out: 10}]"},
                1e-4, 1e-3);
}

TEST(CudaModelStep, TinyVitMatchesCpuFp32) {
  // The transformer layers (patch embedding, attention, class-token pooling) between pre-norm
  // residual blocks, on the fmnist_mlp data and optimizer: 7x7 patches -> 16 tokens + class.
  // The key bias's gradient is exactly 0 (softmax ignores a constant added to every score), so
  // both twins hand AdamW rounding residue (~1e-9) of either sign, which its default eps 1e-8
  // turns into steps of ±lr: optimizer.eps 1e-6 keeps that residue from reaching the weights.
  compare_steps({"optimizer.eps=1e-6",
                 "model.layers=[{type: patch_embed, patch: 7, dim: 32}, {type: residual, layers: "
                 "[{type: layernorm}, {type: attention, heads: 2}]}, {type: residual, layers: "
                 "[{type: layernorm}, {type: linear, out: 64}, {type: gelu}, {type: linear, out: "
                 "32}]}, {type: layernorm}, {type: class_token}, {type: linear, out: 10}]"},
                1e-4, 1e-3);
}

TEST(CudaModelStep, TinyVitMatchesCpuBf16Attention) {
  // The tiny ViT above in bf16 with the bf16 attention switched on: the qkv projection, the
  // attention kernels and the gradients between them store bf16 on both devices (the CPU
  // emulating the stores); float32 sums in another order move a rounded value to its neighbour
  // now and then, as in FmnistMlpMatchesCpuBf16.
  const ScopedSwitch bf16_attention_on(bf16_attention, set_bf16_attention, true);
  compare_steps({"optimizer.eps=1e-6", "train.precision=bf16",
                 "model.layers=[{type: patch_embed, patch: 7, dim: 32}, {type: residual, layers: "
                 "[{type: layernorm}, {type: attention, heads: 2}]}, {type: residual, layers: "
                 "[{type: layernorm}, {type: linear, out: 64}, {type: gelu}, {type: linear, out: "
                 "32}]}, {type: layernorm}, {type: class_token}, {type: linear, out: 10}]"},
                2e-2, 1e-2);
}

namespace {

// A small ResNet on the fmnist_mlp data and optimizer: a one-channel stem (kept out of bf16),
// a residual block of 16 channels with its fused tail, a projection block (its
// input cast to bf16 once for both of its convolutions in bf16 mode), then a convolution with a
// bias and no batchnorm after it: a bias under a batchnorm in training mode has a gradient of zero
// up to rounding, which no relative bound can compare.
const char* kSmallResNet =
    "model.layers=[{type: conv2d, out: 16, kernel: 3, padding: 1, bias: false}, {type: "
    "batchnorm2d}, {type: relu}, {type: residual, layers: [{type: conv2d, out: 16, kernel: 3, "
    "padding: 1, bias: false}, {type: batchnorm2d}, {type: relu}, {type: conv2d, out: 16, kernel: "
    "3, padding: 1, bias: false}, {type: batchnorm2d}]}, {type: relu}, {type: residual, layers: "
    "[{type: conv2d, out: 32, kernel: 3, stride: 2, padding: 1, bias: false}, {type: "
    "batchnorm2d}, {type: relu}, {type: conv2d, out: 32, kernel: 3, padding: 1, bias: false}, "
    "{type: batchnorm2d}], shortcut: [{type: conv2d, out: 32, kernel: 1, stride: 2, bias: "
    "false}, {type: batchnorm2d}]}, {type: relu}, {type: conv2d, out: 32, kernel: 3, padding: "
    "1}, {type: relu}, {type: global_avgpool}, {type: linear, out: 10}]";

}  // namespace

TEST(CudaModelStep, SmallResNetMatchesCpuFp32) {
  compare_steps({kSmallResNet}, 1e-4, 1e-3);
}

TEST(CudaModelStep, SmallResNetMatchesCpuBf16) {
  // The convolutions after the stem in bf16 (cuDNN against the CPU emulation: the same bf16
  // inputs, sums in another order, so a stored value may round to the neighbouring bf16 value);
  // the one-channel stem in float32 on both (on the GPU kasmina's direct kernels, the default;
  // with KASMINA_DIRECT_STEM=0 cuDNN in TF32).
  const ScopedSwitch bf16_conv(bf16_convolutions, set_bf16_convolutions, true);
  compare_steps({"train.precision=bf16", kSmallResNet}, 2e-2, 2e-2);
}

TEST(CudaModelStep, SmallResNetBf16CopiesEqualForwardCastsOnCuda) {
  // Against the CPU, the bf16 ResNet drifts past SmallResNetMatchesCpuBf16's bounds in a second
  // step (gradients 2-4% apart on an H100: the first step's neighbouring-value roundings, then
  // batchnorm over 16 channels); copies against casts on the same device are exact.
  const ScopedSwitch bf16_conv(bf16_convolutions, set_bf16_convolutions, true);
  copies_equal_casts_on_cuda({"train.precision=bf16", kSmallResNet}, 3);
}

TEST(CudaModelStep, FmnistMlpBf16CopiesEqualForwardCastsOnCuda) {
  copies_equal_casts_on_cuda({"train.precision=bf16"}, 3);
}

TEST(CudaModelStep, SmallResNetIsBitIdenticalAfterADeviceWarmUp) {
  // train/device_warm_up.hpp, as `kasmina train` runs it beside its data loading: a throwaway
  // copy of the model, on another thread, leaves the run's values as they are.
  ops::init();
  if (!ops::cuda_available()) GTEST_SKIP() << "no CUDA device: whole-model CUDA step not run";
  const Config cfg = step_config({"train.precision=bf16", kSmallResNet});
  ASSERT_EQ(warm_up_kind(cfg, Device::cuda(0)), WarmUp::model);
  const DataSplits data = load_data(cfg.data, cfg.seed);
  const auto before = cuda_steps(cfg, data, 3);
  std::thread([&cfg] { warm_up_device(cfg, Device::cuda(0), WarmUp::model); }).join();
  expect_bitwise_equal(before, cuda_steps(cfg, data, 3));
}
