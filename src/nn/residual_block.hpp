// A residual block: y = shortcut(x) + body(x), where the body is a sequence of layers and the
// shortcut is the identity or a sequence (a projection: a strided 1x1 convolution and a
// normalisation) producing the body's shape (`{type: residual, layers: [...], shortcut: [...]}`
// in YAML; configs/README.md). Its backward is dx = shortcut'(x)ᵀ dy + body'(x)ᵀ dy; inside
// each sequence, linear layers fuse as in the model. Parameters are named
// "<block>.layers.<i>.<name>" and "<block>.shortcut.<i>.<name>" ("layers.2.layers.0.weight").
// A block whose body (and projection shortcut) end with a batchnorm fuses its tail, and a relu
// that follows the block joins it (see tail_ below).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "nn/conv_layers.hpp"
#include "nn/layer.hpp"
#include "nn/layer_sequence.hpp"

namespace kasmina {

struct LayerBuildContext;

class ResidualBlock final : public Layer {
 public:
  // `in` is the shape the block receives; an empty `shortcut` is the identity.
  ResidualBlock(std::string name, const SampleShape& in, std::vector<std::unique_ptr<Layer>> body,
                std::vector<std::unique_ptr<Layer>> shortcut = {}, DType dtype = DType::f32);

  std::string type() const override { return "residual"; }
  std::string describe() const override;
  int64_t in_width() const override { return in_.width; }
  int64_t out_width() const override { return out_.width; }
  SampleShape out_shape(const SampleShape&) const override { return out_; }
  std::vector<Parameter*> parameters() override;
  // The body's and the shortcut's (which always compute their input gradients), the add
  // shortcut(x) + body(x) and, with the input gradient, the add of the two input gradients.
  double train_flops(int64_t batch, bool input_grad) const override;
  double counted_train_flops(int64_t last_boundary_step) const override {
    return body_.counted_train_flops(last_boundary_step) +
           (shortcut_.empty() ? 0.0 : shortcut_.counted_train_flops(last_boundary_step));
  }
  // A relu after a block with a fused tail (below) joins it.
  bool absorb_next(const Layer& next) override;
  void prepare(int64_t max_batch, Device dev) override;
  Tensor forward(const Tensor& x, Mode mode, const StepContext& ctx) override;
  void backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) override;
  void collect_morph_layers(std::vector<morph::KasminaLayer*>& out) override;
  // The block's checkpoint section: each body layer's own, then each shortcut layer's, in order.
  void save_state(StateWriter& out) const override;
  void load_state(const StateReader& in) override;

  const LayerSequence& body() const { return body_; }
  const LayerSequence& shortcut() const { return shortcut_; }
  // The image the block's output rows are (its builder knows it from the body's walk).
  void set_out_image(std::optional<ImageShape> image);

  // bf16 copies between blocks (docs/PRECISION.md, "bf16 maps around convolutions"): whether
  // the block reads its input only through convolutions that run in bf16 on `dev` (the body and
  // a projection shortcut each start with one; the identity shortcut reads the float32 input);
  // set by the layer sequence before prepare(): the block just before it, whose forward stores a
  // bf16 copy of its output for it (the fused tail's second store), so that this block does not
  // cast its input in a pass of its own.
  bool convolutions_take_bf16_input(Device dev) const;
  void set_bf16_input_source(const ResidualBlock* source) { source_ = source; }
  void set_bf16_output_copy(bool on) { copy_out_ = on; }
  // The bf16 copy of the last forward's output; undefined unless set_bf16_output_copy(true).
  Tensor bf16_output_copy() const;

 private:
  std::vector<Layer*> all_layers() const;  // the body's, then the shortcut's
  // The body's and the shortcut's first layers when they are convolutions (else null).
  Conv2dLayer* first_convolution() const;
  Conv2dLayer* first_shortcut_convolution() const;

  std::string name_;
  SampleShape in_, out_;
  DType dtype_;
  LayerSequence body_;
  LayerSequence shortcut_;  // empty: the identity
  Tensor y_, dx_shortcut_;
  // The block's input in bf16, cast once for both when the body and the shortcut each start with
  // a bf16 convolution (each would cast it otherwise) and no block before stores it; else
  // undefined.
  Tensor x16_;
  const ResidualBlock* source_ = nullptr;  // stores this block's input in bf16 (set_bf16_...)
  bool from_source_ = false;               // prepare(): the input is read from source_'s copy
  bool copy_out_ = false;                  // the forward stores y16_ beside y_
  Tensor y16_;
  int64_t y16_rows_ = 0;  // rows of y16_ the last forward wrote
  // The fused tail: when the body ends with a batchnorm (without a fused relu) and the shortcut
  // is the identity or ends with one too, the training forward applies both normalisations,
  // the add and the block's relu in one pass (ops::batchnorm_residual_forward), and the
  // normalisations mask their backward by the block's output. KASMINA_FUSED_TAIL=0 turns it off.
  BatchNormLayer* tail_ = nullptr;
  BatchNormLayer* skip_tail_ = nullptr;
  bool relu_ = false;  // a following relu absorbed (only with a fused tail)
};

// The registry's builder for `type: residual` (builds the body through the registry).
std::unique_ptr<Layer> build_residual_block(const LayerConfig& cfg, LayerBuildContext& ctx);

}  // namespace kasmina
