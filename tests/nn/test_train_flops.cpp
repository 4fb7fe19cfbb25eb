// Analytic training FLOPs (Layer::train_flops, Model::train_flops_per_step, Trainer): hand-
// computed values for small networks. 2 FLOPs per multiply-add, 1 per elementwise operation,
// gelu 9 forward / 14 backward, layernorm 8 + 3 + 8 per element, AdamW 16 and SGD (momentum) 6
// per parameter; the first layer computes no input gradient.
#include <gtest/gtest.h>

#include <cstdlib>

#include "config/config.hpp"
#include "data/dataset.hpp"
#include "nn/model.hpp"
#include "tests/nn/gradient_check.hpp"
#include "train/trainer.hpp"

using namespace kasmina;
using kasmina::testing::layer;

namespace {

constexpr int kAdamW = 16, kSgd = 6;

double per_step(const std::vector<LayerConfig>& layers, int64_t in, int64_t batch, int opt) {
  ModelConfig cfg;
  cfg.layers = layers;
  Model m(cfg, in, 1, Device::cpu());
  m.prepare(batch);
  return m.train_flops_per_step(batch, opt);
}

LayerConfig residual(std::vector<LayerConfig> body) {
  LayerConfig l(LayerType::residual);
  l.as<ResidualConfig>().layers = std::move(body);
  return l;
}

TEST(TrainFlops, SmallMlpMatchesTheHandCount) {
  // 4 -> linear 3 + relu (fused) -> linear 2, batch 5.
  //   layer 1: forward 2*5*4*3 = 120, bias 15, relu 15; backward relu 15, dW 120, db 15 = 300
  //   layer 2: forward 2*5*3*2 = 60, bias 10; backward dW 60, db 10, dx 60             = 200
  //   parameters 15 + 8 = 23: AdamW 23 * 16 = 368, SGD 23 * 6 = 138
  const std::vector<LayerConfig> mlp = {layer(LayerType::linear, 3), layer(LayerType::relu),
                                        layer(LayerType::linear, 2)};
  EXPECT_EQ(per_step(mlp, 4, 5, kAdamW), 868.0);
  EXPECT_EQ(per_step(mlp, 4, 5, kSgd), 638.0);
}

TEST(TrainFlops, LayerNormGeluDropoutMatchTheHandCount) {
  // 4 -> linear 3 -> layernorm -> gelu -> dropout 0.5 -> linear 2, batch 5 (15 activations).
  //   linear 3: 120 + 15 forward, 120 + 15 backward (no dx)   = 270
  //   layernorm: 15 * (8 + 3 + 8)                              = 285
  //   gelu: 15 * 9 + 15 * 14                                   = 345
  //   dropout: 15 + 15                                         = 30
  //   linear 2                                                 = 200
  //   parameters 15 + 6 + 8 = 29: AdamW 464
  EXPECT_EQ(
      per_step({layer(LayerType::linear, 3), layer(LayerType::layernorm), layer(LayerType::gelu),
                layer(LayerType::dropout, 0, 0.5), layer(LayerType::linear, 2)},
               4, 5, kAdamW),
      1594.0);
  // Dropout with p = 0 is the identity: 30 fewer.
  EXPECT_EQ(
      per_step({layer(LayerType::linear, 3), layer(LayerType::layernorm), layer(LayerType::gelu),
                layer(LayerType::dropout, 0, 0.0), layer(LayerType::linear, 2)},
               4, 5, kAdamW),
      1564.0);
}

TEST(TrainFlops, ResidualBlockMatchesTheHandCount) {
  // 4 -> linear 3 -> residual [linear 3 + relu] -> linear 2, batch 5.
  //   linear 3 (no dx)                                                   = 270
  //   body linear 3->3 + relu, with dx: 90 + 15 + 15 | 15 + 90 + 15 + 90 = 330
  //   the block's adds: x + body(x) and dy + body'(x)^T dy: 15 + 15      = 30
  //   linear 2                                                           = 200
  //   parameters 15 + 12 + 8 = 35: AdamW 560
  EXPECT_EQ(per_step({layer(LayerType::linear, 3),
                      residual({layer(LayerType::linear, 3), layer(LayerType::relu)}),
                      layer(LayerType::linear, 2)},
                     4, 5, kAdamW),
            1390.0);
}

TEST(TrainFlops, TrainerSummaryCountsEveryStep) {
  // configs/spirals.yaml: 2 -> 64 gelu -> 64 gelu -> 2, batch 64, AdamW, 2000 training samples:
  // 31 steps an epoch.
  //   linear 2->64 + gelu (no dx): 16384 + 4096 + 36864 | 57344 + 16384 + 4096 = 135168
  //   linear 64->64 + gelu: 524288 + 4096 + 36864 | 57344 + 524288 + 4096 + 524288 = 1675264
  //   linear 64->2: 16384 + 128 | 16384 + 128 + 16384                          = 49408
  //   parameters 192 + 4160 + 130 = 4482: AdamW 71712
  const double step = 135168.0 + 1675264.0 + 49408.0 + 71712.0;
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  const Config cfg = load_config(std::string(root ? root : ".") + "/configs/spirals.yaml",
                                 Overrides{{"train.epochs=1"}});
  const DataSplits data = load_data(cfg.data, cfg.seed);
  Trainer t(cfg, data, Device::cpu());
  struct Quiet final : TrainerObserver {
  } q;
  const TrainSummary s = t.run(q);
  ASSERT_EQ(s.steps, 31);
  EXPECT_EQ(s.train_flops, 31 * step);
  EXPECT_EQ(t.train_flops(), s.train_flops);
}

}  // namespace
