#include "nn/model.hpp"

#include "core/rng.hpp"
#include "nn/kasmina_layer.hpp"
#include "nn/morph_from_config.hpp"
#include "nn/linear.hpp"
#include "nn/simple_layers.hpp"

namespace kasmina {

namespace {

ops::Activation activation_of(LayerType t) {
  return t == LayerType::relu ? ops::Activation::relu : ops::Activation::gelu;
}

}  // namespace

Model::Model(const ModelConfig& cfg, int64_t in_features, uint64_t seed, Device dev, DType dtype)
    : dev_(dev), dtype_(dtype) {
  const InitScheme init = parse_init_scheme(cfg.init);
  int64_t width = in_features;
  const auto& L = cfg.layers;
  for (size_t i = 0; i < L.size(); ++i) {
    const LayerConfig& lc = L[i];
    const std::string name = "layers." + std::to_string(i);
    switch (lc.type) {
      case LayerType::linear: {
        // Fuse a directly following relu/gelu into the GEMM epilogue.
        ops::Activation act = ops::Activation::none;
        if (i + 1 < L.size() && (L[i + 1].type == LayerType::relu || L[i + 1].type == LayerType::gelu)) {
          act = activation_of(L[i + 1].type);
        }
        auto layer = std::make_unique<LinearLayer>(name, width, lc.out, lc.bias, act, dtype);
        Rng rng(derive_seed(seed, "init.linear", i));
        layer->initialize(init, rng, dev);
        width = lc.out;
        layers_.push_back(std::move(layer));
        if (act != ops::Activation::none) ++i;
        break;
      }
      case LayerType::relu:
      case LayerType::gelu:
        layers_.push_back(std::make_unique<ActivationLayer>(activation_of(lc.type), width, dtype));
        break;
      case LayerType::layernorm:
        layers_.push_back(
            std::make_unique<LayerNormLayer>(name, width, static_cast<float>(lc.eps), dev, dtype));
        break;
      case LayerType::dropout:
        layers_.push_back(std::make_unique<DropoutLayer>(static_cast<float>(lc.p), width,
                                                         static_cast<uint32_t>(i), dtype));
        break;
      case LayerType::kasmina: {
        const auto index = static_cast<int32_t>(morph_layers_.size());
        auto layer = std::make_unique<morph::KasminaLayer>(
            morph::morph_config_from(lc, width, index), dtype);
        morph_layers_.push_back(layer.get());
        layers_.push_back(std::move(layer));
        break;
      }
    }
  }
  KASMINA_CHECK(!layers_.empty(), "model has no layers");
}

Model::Model(std::vector<std::unique_ptr<Layer>> layers, Device dev, DType dtype)
    : dev_(dev), dtype_(dtype), layers_(std::move(layers)) {
  KASMINA_CHECK(!layers_.empty(), "model has no layers");
  for (auto& l : layers_)
    if (auto* k = dynamic_cast<morph::KasminaLayer*>(l.get())) morph_layers_.push_back(k);
}

int64_t Model::in_width() const { return layers_.front()->in_width(); }
int64_t Model::out_width() const { return layers_.back()->out_width(); }

std::vector<Parameter*> Model::parameters() {
  std::vector<Parameter*> ps;
  for (auto& l : layers_)
    for (Parameter* p : l->parameters()) ps.push_back(p);
  return ps;
}

int64_t Model::parameter_count() {
  int64_t n = 0;
  for (Parameter* p : parameters()) n += p->value.numel();
  return n;
}

std::vector<std::string> Model::describe() const {
  std::vector<std::string> lines;
  for (const auto& l : layers_) lines.push_back(l->describe());
  return lines;
}

void Model::prepare(int64_t max_batch) {
  max_batch_ = max_batch;
  grad_in_.assign(layers_.size(), Tensor());
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->prepare(max_batch, dev_);
    if (i > 0) grad_in_[i] = Tensor::empty({max_batch, layers_[i]->in_width()}, dtype_, dev_);
  }
}

Tensor Model::forward(const Tensor& x, Mode mode, const StepContext& ctx) {
  KASMINA_CHECK(x.dim(0) <= max_batch_, "batch larger than prepared");
  Tensor h = x;
  for (auto& l : layers_) h = l->forward(h, mode, ctx);
  return h;
}

void Model::backward(const Tensor& dlogits, const StepContext& ctx) {
  const int64_t B = dlogits.dim(0);
  Tensor g = dlogits;      // gradient w.r.t. the output of layer i ...
  bool g_is_pre = false;   // ... or w.r.t. its pre-activation, when fused by the layer above
  bool bias_done = false;  // ... in which case the bias gradient may be done as well
  for (size_t i = layers_.size(); i-- > 0;) {
    if (layers_[i]->passes_gradient_through()) continue;  // an identity step: g is unchanged
    Tensor dx = i > 0 ? grad_in_[i].rows(0, B) : Tensor();
    auto* lin = dynamic_cast<LinearLayer*>(layers_[i].get());
    if (!lin) {
      layers_[i]->backward(g, i > 0 ? &dx : nullptr, ctx);
      g = dx;
      g_is_pre = bias_done = false;
      continue;
    }
    const Tensor dpre = g_is_pre ? g : lin->pre_activation_grad(g);
    lin->weight_grads(dpre, bias_done);
    if (i == 0) break;
    // The layer whose output this linear read, skipping identity steps in between.
    size_t below = i - 1;
    while (below > 0 && layers_[below]->passes_gradient_through()) --below;
    auto* prev = layers_[below]->passes_gradient_through()
                     ? nullptr
                     : dynamic_cast<LinearLayer*>(layers_[below].get());
    if (prev && prev->activation() != ops::Activation::none) {
      Tensor* prev_db = prev->has_bias() ? &prev->bias_grad() : nullptr;
      ops::linear_backward_input(dpre, lin->weight(), prev->activation(), prev->aux(), dx, prev_db);
      g_is_pre = true;
      bias_done = true;
    } else {
      ops::linear_backward_input(dpre, lin->weight(), ops::Activation::none, Tensor(), dx, nullptr);
      g_is_pre = bias_done = false;
    }
    g = dx;
  }
}

uint64_t Model::train_step_key() const {
  uint64_t key = 0;
  for (const morph::KasminaLayer* k : morph_layers_) key = key * 4 + k->train_step_key();
  return key;
}

void Model::replayed_train_step() {
  for (morph::KasminaLayer* k : morph_layers_) k->replayed_train_step();
}

void Model::end_step(const StepContext& ctx) {
  for (morph::KasminaLayer* k : morph_layers_) k->end_step(ctx);
}

}  // namespace kasmina
