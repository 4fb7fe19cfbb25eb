#include "nn/width_grow_linear.hpp"

#include <algorithm>
#include <cmath>

#include "core/bf16.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "nn/flops.hpp"

namespace kasmina {

namespace {

std::vector<double> host_values(const Tensor& t) {
  if (t.dtype() == DType::f64) return t.to_vector<double>();
  if (t.dtype() == DType::bf16) {  // the layer's input as its bf16 GEMM copy (train.precision)
    const std::vector<bf16> v = t.to_vector<bf16>();
    std::vector<double> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) out[i] = v[i].to_float();
    return out;
  }
  const std::vector<float> f = t.to_vector<float>();
  return {f.begin(), f.end()};
}

void store_values(Tensor& t, const std::vector<double>& v) {
  t.copy_from(tensor_from_doubles(v, t.shape(), t.dtype(), Device::cpu()));
}

Parameter& weight_of(LinearLayer& l) {
  return *l.parameters()[0];
}
Parameter* bias_of(LinearLayer& l) {
  const auto ps = l.parameters();
  return ps.size() > 1 ? ps[1] : nullptr;
}

}  // namespace

WidthGrowLinear::WidthGrowLinear(std::unique_ptr<LinearLayer> inner, WidthSchedule schedule)
    : inner_(std::move(inner)), sched_(std::move(schedule)), active_(sched_.from) {
  const int64_t out = inner_->out_width();
  KASMINA_CHECK(sched_.from >= 1 && sched_.from <= out && sched_.epochs >= 1 &&
                    (out - sched_.from) % sched_.epochs == 0,
                "WidthGrowLinear: grow_from/grow_epochs do not fit the width");
}

int64_t WidthGrowLinear::chunk() const {
  return (inner_->out_width() - sched_.from) / sched_.epochs;
}

std::string WidthGrowLinear::describe() const {
  return inner_->describe() + " (width " + std::to_string(sched_.from) + " -> " +
         std::to_string(inner_->out_width()) +
         (sched_.controlled ? std::string() : " from epoch " + std::to_string(sched_.first_epoch)) +
         ", " + std::to_string(sched_.epochs) + " steps" +
         (sched_.controlled ? " when the controller asks" : "") +
         (sched_.naive ? ", naive init)" : ")");
}

void WidthGrowLinear::prepare(int64_t max_batch, Device dev) {
  if (!next_)
    throw UserError("model." + sched_.name +
                    ": grow_from needs a linear layer after it at the same level (only relu, gelu "
                    "or dropout between)");
  inner_->prepare(max_batch, dev);
}

void WidthGrowLinear::attach_next(LinearLayer& next) {
  KASMINA_CHECK(next_ == nullptr, "WidthGrowLinear::attach_next called twice");
  const int64_t in = inner_->in_width(), out = inner_->out_width();
  KASMINA_CHECK(next.in_width() == out, "WidthGrowLinear: the next layer's input width differs");
  next_ = &next;
  next.keep_output_fp32();  // measure_score reads its pre-activation gradient in float32
  // Growth writes both layers' weights outside the optimizer: they cast their own bf16 copies.
  inner_->keep_weight_cast();
  next.keep_weight_cast();
  std::vector<double> w = host_values(weight_of(*inner_).value);
  std::fill(w.begin() + sched_.from * in, w.end(), 0.0);
  store_values(weight_of(*inner_).value, w);
  if (Parameter* b = bias_of(*inner_)) {
    std::vector<double> bv = host_values(b->value);
    std::fill(bv.begin() + sched_.from, bv.end(), 0.0);
    store_values(b->value, bv);
  }
  const double scale = std::sqrt(static_cast<double>(out) / static_cast<double>(sched_.from));
  std::vector<double> w2 = host_values(weight_of(next).value);
  for (size_t i = 0; i < w2.size(); ++i)
    w2[i] = static_cast<int64_t>(i) % out < sched_.from ? w2[i] * scale : 0.0;
  store_values(weight_of(next).value, w2);
  if (Parameter* b2 = bias_of(next)) {
    std::vector<double> bv = host_values(b2->value);
    for (double& v : bv) v *= scale;
    store_values(b2->value, bv);
  }
}

void WidthGrowLinear::begin_epoch(int64_t epoch, int64_t step) {
  if (sched_.controlled) return;
  const int64_t due = std::clamp<int64_t>(epoch - sched_.first_epoch + 1, 0, sched_.epochs);
  while (active_ < sched_.from + due * chunk()) activate_chunk(step);
}

bool WidthGrowLinear::grow_step(int64_t step) {
  if (active_ + chunk() > inner_->out_width() || chunk() == 0) return false;
  activate_chunk(step);
  return true;
}

Rng WidthGrowLinear::chunk_rng(int64_t first) const {
  return Rng(derive_seed(sched_.seed, "grow.linear",
                         (sched_.position << 24) | static_cast<uint64_t>(first)));
}

void WidthGrowLinear::draw_incoming(Rng& rng, std::vector<double>& w,
                                    std::vector<double>& bias) const {
  const int64_t in = inner_->in_width(), c = chunk();
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  w.assign(static_cast<size_t>(c * in), 0.0);
  bias.assign(static_cast<size_t>(c), 0.0);
  for (double& v : w) v = static_cast<float>(rng.uniform(-bound, bound));
  for (double& v : bias) v = static_cast<float>(rng.uniform(-bound, bound));
}

WidthScore WidthGrowLinear::measure_score() const {
  WidthScore none;
  if (!next_ || active_ + chunk() > inner_->out_width() || chunk() == 0) return none;
  const Tensor& x = inner_->last_input();
  const Tensor& g = next_->last_preactivation_grad();
  if (!x.defined() || !g.defined() || !last_out_.defined() || x.dim(0) != g.dim(0) ||
      x.dim(0) != last_out_.dim(0))
    return none;
  WidthScoreInputs in;
  in.batch = x.dim(0);
  in.in = inner_->in_width();
  in.width = inner_->out_width();
  in.next_out = next_->out_width();
  in.active = active_;
  in.a = host_values(x);
  in.h = host_values(last_out_);
  in.g = host_values(g);
  in.act = inner_->activation();
  Rng rng = chunk_rng(active_);
  draw_incoming(rng, in.w_new, in.b_new);
  return width_score(in);
}

void WidthGrowLinear::activate_chunk(int64_t step) {
  KASMINA_CHECK(next_ != nullptr, "WidthGrowLinear: growth before attach_next");
  const int64_t in = inner_->in_width(), out = inner_->out_width(), c = chunk();
  const int64_t a = active_, b = active_ + c;
  Rng rng = chunk_rng(a);
  std::vector<double> w, bias;
  draw_incoming(rng, w, bias);
  Parameter& W = weight_of(*inner_);
  Tensor rows = W.value.flat_range(a * in, {c, in});
  store_values(rows, w);
  if (Parameter* bp = bias_of(*inner_)) {
    Tensor part = bp->value.flat_range(a, {c});
    store_values(part, bias);
  }
  if (sched_.naive) {
    Parameter& W2 = weight_of(*next_);
    std::vector<double> w2 = host_values(W2.value);
    const double b2 = 1.0 / std::sqrt(static_cast<double>(b));
    for (int64_t r = 0; r < next_->out_width(); ++r)
      for (int64_t j = a; j < b; ++j)
        w2[static_cast<size_t>(r * out + j)] = static_cast<float>(rng.uniform(-b2, b2));
    store_values(W2.value, w2);
  }
  active_ = b;
  grow_steps_.push_back(step);
}

double WidthGrowLinear::train_flops(int64_t batch, bool input_grad) const {
  flops_batch_ = batch;
  flops_input_grad_ = input_grad;
  const double out = static_cast<double>(inner_->out_width());
  const double own =
      inner_->train_flops(batch, input_grad) * static_cast<double>(sched_.from) / out;
  const double dormant_next =
      next_ ? 3.0 * flops::gemm(batch, inner_->out_width() - sched_.from, next_->out_width()) : 0.0;
  return own - dormant_next;
}

double WidthGrowLinear::chunk_flops_per_step() const {
  // The linear formula is proportional to the output width; the next layer's forward, weight
  // and input gradient GEMMs to its input width.
  const double share = static_cast<double>(chunk()) / static_cast<double>(inner_->out_width());
  return inner_->train_flops(flops_batch_, flops_input_grad_) * share +
         (next_ ? 3.0 * flops::gemm(flops_batch_, chunk(), next_->out_width()) : 0.0);
}

double WidthGrowLinear::counted_train_flops(int64_t last_boundary_step) const {
  double steps = 0.0;
  for (int64_t s : grow_steps_)
    steps += static_cast<double>(std::max<int64_t>(0, last_boundary_step - s));
  return steps * chunk_flops_per_step();
}

void WidthGrowLinear::save_state(StateWriter& out) const {
  inner_->save_state(out);
  out.integer(sched_.name + ".active_width", active_);
  std::vector<int64_t> steps(static_cast<size_t>(sched_.epochs), -1);
  std::copy(grow_steps_.begin(), grow_steps_.end(), steps.begin());
  out.tensor(sched_.name + ".grow_steps", Tensor::from_vector(steps, {sched_.epochs}));
}

void WidthGrowLinear::load_state(const StateReader& in) {
  inner_->load_state(in);
  const int64_t active = in.integer(sched_.name + ".active_width");
  const int64_t events = chunk() > 0 ? (active - sched_.from) / chunk() : 0;
  if (active < sched_.from || active > inner_->out_width() ||
      (chunk() > 0 && (active - sched_.from) % chunk() != 0))
    throw UserError("checkpoint entry " + sched_.name + ".active_width is " +
                    std::to_string(active) + " (allowed: " + std::to_string(sched_.from) +
                    " plus a multiple of " + std::to_string(chunk()) + ", at most " +
                    std::to_string(inner_->out_width()) + ")");
  const std::vector<int64_t> steps = in.tensor(sched_.name + ".grow_steps").to_vector<int64_t>();
  if (static_cast<int64_t>(steps.size()) != sched_.epochs)
    throw UserError("checkpoint entry " + sched_.name + ".grow_steps has " +
                    std::to_string(steps.size()) +
                    " values (allowed: " + std::to_string(sched_.epochs) + ")");
  active_ = active;
  grow_steps_.assign(steps.begin(), steps.begin() + events);
}

std::unique_ptr<Layer> make_width_grow_linear(std::unique_ptr<LinearLayer> layer,
                                              const LinearConfig& cfg,
                                              const LayerBuildContext& ctx) {
  WidthSchedule s;
  s.from = cfg.grow_from;
  s.first_epoch = cfg.grow_first_epoch;
  s.epochs = cfg.grow_epochs;
  s.naive = cfg.grow_init == "naive";
  s.controlled = cfg.grow_schedule == "controller";
  s.seed = ctx.seed;
  s.position = ctx.position;
  s.name = ctx.name;
  return std::make_unique<WidthGrowLinear>(std::move(layer), s);
}

std::vector<WidthGrowLinear*> attach_width_layers(
    const std::vector<std::unique_ptr<Layer>>& layers) {
  std::vector<WidthGrowLinear*> out;
  for (size_t i = 0; i < layers.size(); ++i) {
    auto* g = dynamic_cast<WidthGrowLinear*>(layers[i].get());
    if (!g) continue;
    LinearLayer* next = nullptr;
    for (size_t j = i + 1; j < layers.size() && !next; ++j) {
      next = dynamic_cast<LinearLayer*>(layers[j].get());
      if (auto* gn = dynamic_cast<WidthGrowLinear*>(layers[j].get())) next = &gn->linear();
      const std::string t = layers[j]->type();
      if (!next && t != "relu" && t != "gelu" && t != "dropout")
        throw UserError("model: a linear layer with grow_from is followed by a '" + t +
                        "' layer (allowed between it and the next linear layer: relu, gelu, "
                        "dropout)");
    }
    if (!next)
      throw UserError(
          "model: a linear layer with grow_from needs a linear layer after it (allowed between: "
          "relu, gelu, dropout)");
    g->attach_next(*next);
    out.push_back(g);
  }
  return out;
}

}  // namespace kasmina
