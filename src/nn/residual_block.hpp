// A residual block: y = x + body(x), where the body is a sequence of layers that returns to the
// block's width (`{type: residual, layers: [...]}` in YAML; configs/README.md). Its backward is
// dx = dy + body'(x)ᵀ dy; inside the body, linear layers fuse as in the model. Parameters are
// named "<block>.layers.<i>.<name>" ("layers.2.layers.0.weight").
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "nn/layer.hpp"
#include "nn/layer_sequence.hpp"

namespace kasmina {

struct LayerBuildContext;

class ResidualBlock final : public Layer {
 public:
  ResidualBlock(std::string name, int64_t width, std::vector<std::unique_ptr<Layer>> body,
                DType dtype = DType::f32);

  std::string type() const override { return "residual"; }
  std::string describe() const override;
  int64_t in_width() const override { return width_; }
  int64_t out_width() const override { return width_; }
  std::vector<Parameter*> parameters() override;
  // The body's (which always computes its input gradient), the add x + body(x) (B width) and,
  // with the input gradient, the add dy + body'(x)ᵀ dy (B width).
  double train_flops(int64_t batch, bool input_grad) const override;
  double counted_train_flops(int64_t last_boundary_step) const override {
    return body_.counted_train_flops(last_boundary_step);
  }
  void prepare(int64_t max_batch, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;
  void collect_morph_layers(std::vector<morph::KasminaLayer*>& out) override;
  // The block's checkpoint section: each body layer's own, in order.
  void save_state(StateWriter& out) const override;
  void load_state(const StateReader& in) override;

  const LayerSequence& body() const { return body_; }

 private:
  std::string name_;
  int64_t width_;
  DType dtype_;
  LayerSequence body_;
  Tensor y_;
};

// The registry's builder for `type: residual` (builds the body through the registry).
std::unique_ptr<Layer> build_residual_block(const LayerConfig& cfg, LayerBuildContext& ctx);

}  // namespace kasmina
