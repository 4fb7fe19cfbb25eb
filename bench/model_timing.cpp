#include "bench/model_timing.hpp"

#include <cstdio>
#include <functional>

#include "bench/baseline_compare.hpp"
#include "bench/timed_loop.hpp"
#include "core/error.hpp"
#include "nn/model.hpp"
#include "ops/ops.hpp"
#include "ops/timer.hpp"

namespace kasmina::bench {

namespace {

constexpr int kWarmup = 3;

double median_seconds(Device dev, int iterations, const std::function<void()>& fn) {
  for (int i = 0; i < kWarmup; ++i) fn();
  ops::synchronize(dev);
  ops::DeviceTimer timer(dev);
  std::vector<double> t;
  t.reserve(static_cast<size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    timer.start();
    fn();
    t.push_back(timer.stop());
  }
  return median(t);
}

}  // namespace

ModelTiming time_model(const Config& cfg, Device dev, int64_t batch, int iterations) {
  if (batch < 1) throw UserError("--batch: must be at least 1, got " + std::to_string(batch));
  if (iterations < 1)
    throw UserError("--iterations: must be at least 1, got " + std::to_string(iterations));
  const DatasetShape data = dataset_shape(cfg.data);
  Model model(cfg.model, data.input(), cfg.seed, dev);
  model.prepare(batch);
  StepContext ctx;
  ctx.step = Tensor::zeros({1}, DType::i64, dev);
  ctx.seed = cfg.seed;

  ModelTiming t;
  t.device = dev.str();
  t.batch = batch;
  t.iterations = iterations;
  const Tensor x = random_normal({batch, model.in_width()}, 1, dev);
  // One forward pass gives every layer its input (a view that stays valid: each layer rewrites
  // its own output buffer with the same values while it is timed).
  std::vector<Tensor> inputs;
  Tensor h = x;
  for (const auto& layer : model.layers()) {
    inputs.push_back(h);
    h = layer->forward(h, Mode::train, ctx);
  }
  uint64_t seed = 100;
  for (size_t i = 0; i < model.layers().size(); ++i) {
    Layer& layer = *model.layers()[i];
    LayerTiming lt;
    lt.description = layer.describe();
    lt.forward_seconds =
        median_seconds(dev, iterations, [&] { layer.forward(inputs[i], Mode::train, ctx); });
    const Tensor dy =
        random_normal({batch * layer.out_rows(), layer.out_width()}, seed++, dev, 0.01);
    Tensor dx = Tensor::empty({batch * layer.in_rows(), layer.in_width()}, DType::f32, dev);
    Tensor* dx_ptr = i > 0 ? &dx : nullptr;  // the first layer's input is data
    lt.backward_seconds = median_seconds(dev, iterations, [&] { layer.backward(dy, dx_ptr, ctx); });
    t.layers.push_back(lt);
  }
  const Tensor dlogits = random_normal({batch, model.out_width()}, seed++, dev, 0.01);
  t.model_forward_seconds =
      median_seconds(dev, iterations, [&] { model.forward(x, Mode::train, ctx); });
  t.model_backward_seconds = median_seconds(dev, iterations, [&] { model.backward(dlogits, ctx); });
  return t;
}

std::string format_model_timing(const ModelTiming& t) {
  // The description last and unpadded: a residual block describes its whole body, hundreds of
  // characters long.
  std::string out;
  char line[128];
  std::snprintf(line, sizeof line, "device %s, batch %ld, median of %d iterations\n",
                t.device.c_str(), static_cast<long>(t.batch), t.iterations);
  out += line;
  const auto row = [&](const std::string& label, double forward, double backward,
                       const std::string& description) {
    std::snprintf(line, sizeof line, "%5s  %12.4f  %12.4f  ", label.c_str(), forward * 1e3,
                  backward * 1e3);
    out += line;
    out += description;
    out += '\n';
  };
  std::snprintf(line, sizeof line, "%5s  %12s  %12s  %s\n", "layer", "forward ms", "backward ms",
                "description");
  out += line;
  double fsum = 0.0, bsum = 0.0;
  for (size_t i = 0; i < t.layers.size(); ++i) {
    const LayerTiming& l = t.layers[i];
    row(std::to_string(i), l.forward_seconds, l.backward_seconds, l.description);
    fsum += l.forward_seconds;
    bsum += l.backward_seconds;
  }
  row("", fsum, bsum, "sum of layers");
  row("", t.model_forward_seconds, t.model_backward_seconds, "whole model (fused backward)");
  return out;
}

}  // namespace kasmina::bench
