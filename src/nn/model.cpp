#include "nn/model.hpp"

#include "nn/kasmina_layer.hpp"
#include "nn/layer_registry.hpp"
#include "nn/width_grow_linear.hpp"

namespace kasmina {

namespace {

std::vector<std::unique_ptr<Layer>> build_model_layers(const ModelConfig& cfg,
                                                       const SampleShape& input, uint64_t seed,
                                                       Device dev, DType dtype) {
  LayerBuildContext ctx;
  ctx.shape = input;
  ctx.seed = seed;
  ctx.dev = dev;
  ctx.dtype = dtype;
  ctx.init = cfg.init;
  return build_layers(cfg.layers, ctx);
}

}  // namespace

Model::Model(const ModelConfig& cfg, const SampleShape& input, uint64_t seed, Device dev,
             DType dtype)
    : dev_(dev), dtype_(dtype), body_(build_model_layers(cfg, input, seed, dev, dtype)) {
  finish();
}

Model::Model(std::vector<std::unique_ptr<Layer>> layers, Device dev, DType dtype)
    : dev_(dev), dtype_(dtype), body_(std::move(layers)) {
  finish();
}

void Model::finish() {
  KASMINA_CHECK(!body_.empty(), "model has no layers");
  KASMINA_CHECK(body_.layers().front()->in_rows() == 1 && body_.out_rows() == 1,
                "a model reads and produces one row per sample");
  for (const auto& l : body_.layers()) l->collect_morph_layers(morph_layers_);
  width_layers_ = attach_width_layers(body_.layers());
  grads_ = GradientBuffer(parameters(), dev_, dtype_);
}

int64_t Model::in_width() const {
  return layers().front()->in_width();
}
int64_t Model::out_width() const {
  return layers().back()->out_width();
}

std::vector<Parameter*> Model::parameters() {
  std::vector<Parameter*> ps;
  for (const auto& l : layers())
    for (Parameter* p : l->parameters()) ps.push_back(p);
  return ps;
}

int64_t Model::parameter_count() {
  int64_t n = 0;
  for (Parameter* p : parameters()) n += p->value.numel();
  return n;
}

double Model::train_flops_per_step(int64_t batch, int optimizer_flops) {
  return body_.train_flops(batch, /*input_grad=*/false) +
         static_cast<double>(optimizer_flops) * static_cast<double>(parameter_count());
}

std::vector<std::string> Model::describe() const {
  std::vector<std::string> lines;
  for (const auto& l : layers()) lines.push_back(l->describe());
  return lines;
}

void Model::prepare(int64_t max_batch) {
  max_batch_ = max_batch;
  body_.prepare(max_batch, dev_, dtype_, in_width(), /*input_grad=*/false);
}

Tensor Model::forward(const Tensor& x, Mode mode, const StepContext& ctx) {
  KASMINA_CHECK(x.dim(0) <= max_batch_, "batch larger than prepared");
  return body_.forward(x, mode, ctx);
}

void Model::backward(const Tensor& dlogits, const StepContext& ctx) {
  // Parameter gradients on the device's side stream beside the input-gradient chain, joined
  // before anything after the backward (the optimizer, an all-reduce) reads them.
  ops::OffPathScope off_path(dev_);
  body_.backward(dlogits, ctx);
  off_path.close();
}

uint64_t Model::train_step_key() const {
  uint64_t key = 0;
  for (const morph::KasminaLayer* k : morph_layers_)
    key = key * 8 + k->train_step_key();  // 3 bits a layer
  return key;
}

void Model::replayed_train_step() {
  for (morph::KasminaLayer* k : morph_layers_) k->replayed_train_step();
}

std::vector<std::string> Model::upgrade_kernels(bool wait) {
  std::vector<std::string> said;
  for (morph::KasminaLayer* k : morph_layers_) {
    const std::vector<std::string> s = k->upgrade_kernels(wait);
    said.insert(said.end(), s.begin(), s.end());
  }
  return said;
}

void Model::begin_epoch(int64_t epoch, int64_t step) {
  for (WidthGrowLinear* w : width_layers_) w->begin_epoch(epoch, step);
}

void Model::end_step(const StepContext& ctx) {
  for (morph::KasminaLayer* k : morph_layers_) k->end_step(ctx);
}

}  // namespace kasmina
