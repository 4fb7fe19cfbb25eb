#include "train/device_warm_up.hpp"

#include <algorithm>
#include <chrono>

#include "config/layers/residual.hpp"
#include "core/env_switch.hpp"
#include "core/rng.hpp"
#include "nn/model.hpp"
#include "ops/blueprint_compiler.hpp"
#include "ops/blueprint_tuning.hpp"
#include "ops/ops.hpp"
#include "train/precision.hpp"

namespace kasmina {

WarmUp warm_up_kind(const Config& cfg, Device dev) {
  if (!dev.is_cuda() || !env_switch("KASMINA_DEVICE_WARM_UP", true)) return WarmUp::none;
  const auto& layers = cfg.model.layers;
  const bool conv = contains_layer_type(layers, LayerType::conv2d);
  const bool layered = conv || contains_layer_type(layers, LayerType::attention);
  if (!layered) return WarmUp::none;
  if (!contains_layer_type(layers, LayerType::kasmina)) return WarmUp::model;
  return conv ? WarmUp::libraries : WarmUp::none;
}

void configure_device(const Config& cfg, Device dev) {
  ops::use_device(dev);
  ops::set_deterministic(dev, cfg.train.deterministic);
  ops::Autotune autotune = ops::Autotune::off;  // the layers' IR kernels read it when prepared
  if (ops::parse_autotune(cfg.autotune, &autotune)) ops::set_autotune(autotune);
  ops::set_compile_limit(cfg.compile_limit_s);
}

void warm_up_device(const Config& cfg, Device dev, WarmUp kind) {
  if (kind == WarmUp::none) return;
  if (kind == WarmUp::libraries) {
    ops::warm_up_convolutions(dev);
    return;
  }
  configure_device(cfg, dev);
  const MathModeScope math(dev, math_mode_of(cfg.train.precision));
  const int64_t batch = cfg.train.batch_size, eval_batch = cfg.train.eval_batch_size;
  const DatasetShape data = dataset_shape(cfg.data);
  Model model(cfg.model, data.input(), cfg.seed, dev);
  model.prepare(std::max(batch, eval_batch));
  StepContext ctx;
  ctx.seed = derive_seed(cfg.seed, "dropout");
  ctx.step = Tensor::zeros({1}, DType::i64, dev);
  const Tensor x = Tensor::zeros({batch, data.features}, DType::f32, dev);
  const Tensor logits = model.forward(x, Mode::train, ctx);
  model.backward(Tensor::zeros(logits.shape(), DType::f32, dev), ctx);
  model.forward(Tensor::zeros({eval_batch, data.features}, DType::f32, dev), Mode::eval, ctx);
  ops::synchronize(dev);
}

BackgroundWarmUp::BackgroundWarmUp(const Config& cfg, Device dev) : kind_(warm_up_kind(cfg, dev)) {
  if (kind_ == WarmUp::none) return;
  done_ = std::async(std::launch::async, [&cfg, dev, kind = kind_] {
    const auto t0 = std::chrono::steady_clock::now();
    warm_up_device(cfg, dev, kind);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  });
}

double BackgroundWarmUp::wait() {
  return done_.valid() ? done_.get() : 0.0;
}

const char* BackgroundWarmUp::what() const {
  return kind_ == WarmUp::model ? "a copy of the model's first step and evaluation"
                                : "cuDNN's libraries";
}

}  // namespace kasmina
