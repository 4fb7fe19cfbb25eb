#include "nn/residual_block.hpp"

#include "config/layers/residual.hpp"
#include "core/error.hpp"
#include "nn/layer_registry.hpp"
#include "ops/residual/residual_add.hpp"

namespace kasmina {

ResidualBlock::ResidualBlock(std::string name, int64_t width,
                             std::vector<std::unique_ptr<Layer>> body, DType dtype)
    : name_(std::move(name)), width_(width), dtype_(dtype), body_(std::move(body)) {
  KASMINA_CHECK(!body_.empty(), name_ + ": a residual block needs at least one layer");
  KASMINA_CHECK(
      body_.layers().front()->in_width() == width_ && body_.layers().back()->out_width() == width_,
      name_ + ": the block's body must return to its width " + std::to_string(width_));
}

std::string ResidualBlock::describe() const {
  std::string s = "residual " + std::to_string(width_) + " [";
  for (size_t i = 0; i < body_.layers().size(); ++i)
    s += (i ? ", " : "") + body_.layers()[i]->describe();
  return s + "]";
}

std::vector<Parameter*> ResidualBlock::parameters() {
  std::vector<Parameter*> ps;
  for (const auto& l : body_.layers())
    for (Parameter* p : l->parameters()) ps.push_back(p);
  return ps;
}

double ResidualBlock::train_flops(int64_t batch, bool input_grad) const {
  const double adds = static_cast<double>(batch * width_) * (input_grad ? 2 : 1);
  return body_.train_flops(batch, /*input_grad=*/true) + adds;
}

void ResidualBlock::prepare(int64_t max_batch, Device dev) {
  body_.prepare(max_batch, dev, dtype_, width_, /*input_grad=*/true);
  y_ = Tensor::empty({max_batch, width_}, dtype_, dev);
}

Tensor ResidualBlock::forward(const Tensor& x, Mode mode, const StepContext& ctx) {
  const Tensor h = body_.forward(x, mode, ctx);
  Tensor y = y_.rows(0, x.dim(0));
  ops::residual_add(x, h, y);
  return y;
}

void ResidualBlock::backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) {
  const Tensor g = body_.backward(dy, ctx);  // the body's input gradient (may be dy itself)
  if (dx) ops::residual_add(dy, g, *dx);
}

void ResidualBlock::collect_morph_layers(std::vector<morph::KasminaLayer*>& out) {
  for (const auto& l : body_.layers()) l->collect_morph_layers(out);
}

std::unique_ptr<Layer> build_residual_block(const LayerConfig& cfg, LayerBuildContext& ctx) {
  const int64_t width = ctx.width;
  const std::string name = ctx.name;
  ctx.prefix = name + ".layers";
  std::vector<std::unique_ptr<Layer>> body = build_layers(cfg.as<ResidualConfig>().layers, ctx);
  ctx.width = width;
  return std::make_unique<ResidualBlock>(name, width, std::move(body), ctx.dtype);
}

void ResidualBlock::save_state(StateWriter& out) const {
  for (const auto& l : body_.layers()) l->save_state(out);
}

void ResidualBlock::load_state(const StateReader& in) {
  for (const auto& l : body_.layers()) l->load_state(in);
}

}  // namespace kasmina
