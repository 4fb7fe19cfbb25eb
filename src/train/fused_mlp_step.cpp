#include "train/fused_mlp_step.hpp"

#include <cstdlib>
#include <cstring>

#include "nn/linear.hpp"

namespace kasmina {

namespace {

// KASMINA_FUSED_MLP: "0" the layered step, "step" the fused step without its gather and
// update, anything else (or unset) all of it.
bool switched_to(const char* mode) {
  const char* v = std::getenv("KASMINA_FUSED_MLP");
  return v != nullptr && std::strcmp(v, mode) == 0;
}

}  // namespace

std::unique_ptr<FusedMlpStep> FusedMlpStep::make(Model& model, int64_t batch, bool fp32,
                                                 bool single_process, bool guarded,
                                                 std::string* why_not) {
  auto no = [&](const std::string& why) {
    *why_not = why;
    return std::unique_ptr<FusedMlpStep>();
  };
  if (switched_to("0")) return no("KASMINA_FUSED_MLP=0");
  if (!fp32) return no("train.precision is not fp32");
  if (!single_process) return no("more than one process");
  if (guarded) return no("the loss guard is on");
  const auto& layers = model.layers();
  if (layers.empty() || static_cast<int>(layers.size()) > ops::kMlpStepMaxLayers)
    return no("not 1 to " + std::to_string(ops::kMlpStepMaxLayers) + " layers");
  auto step = std::unique_ptr<FusedMlpStep>(new FusedMlpStep());
  step->takes_ends_ = !switched_to("step");
  double macs = 0.0;
  for (size_t l = 0; l < layers.size(); ++l) {
    auto* lin = dynamic_cast<LinearLayer*>(layers[l].get());
    if (lin == nullptr) return no("layer " + std::to_string(l) + " is a " + layers[l]->type());
    const bool last = l + 1 == layers.size();
    const ops::Activation act = lin->activation();
    if (!(act == ops::Activation::none || (!last && act == ops::Activation::relu)))
      return no("layer " + std::to_string(l) + " has activation " + ops::activation_name(act));
    if (lin->out_width() > ops::kMlpStepMaxWidth)
      return no("layer " + std::to_string(l) + " is wider than " +
                std::to_string(ops::kMlpStepMaxWidth));
    if (lin->parameters()[0]->value.dtype() != DType::f32) return no("not float32");
    macs += static_cast<double>(lin->in_width()) * static_cast<double>(lin->out_width());
    step->layers_.push_back(lin);
  }
  macs *= static_cast<double>(batch);
  if (macs > kFusedMlpMaxMacs)
    return no("a forward of " + std::to_string(static_cast<int64_t>(macs)) +
              " multiply-adds (the route takes at most 2^27)");
  const Device dev = model.device();
  ops::MlpStepArgs& a = step->args_;
  for (LinearLayer* lin : step->layers_) {
    step->y_.push_back(Tensor::empty({batch, lin->out_width()}, DType::f32, dev));
    if (lin != step->layers_.back())
      step->dpre_.push_back(Tensor::empty({batch, lin->out_width()}, DType::f32, dev));
  }
  for (size_t l = 0; l < step->layers_.size(); ++l) {
    const std::vector<Parameter*> p = step->layers_[l]->parameters();
    ops::MlpLayerRefs r;
    r.w = &p[0]->value;
    r.dw = &p[0]->grad;
    if (p.size() > 1) {
      r.b = &p[1]->value;
      r.db = &p[1]->grad;
    }
    r.y = &step->y_[l];
    r.act = step->layers_[l]->activation();
    a.layers.push_back(r);
  }
  for (Tensor& t : step->dpre_) a.dpre.push_back(&t);
  return step;
}

void FusedMlpStep::run(const Tensor& x, const Tensor& labels, float grad_scale, Tensor& dlogits,
                       Tensor& loss_sum, Tensor* correct, const ops::MlpStepGather* gather,
                       const ops::MlpStepUpdate* update) {
  args_.x = &x;
  args_.labels = &labels;
  args_.grad_scale = grad_scale;
  args_.dlogits = &dlogits;
  args_.loss_sum = &loss_sum;
  args_.correct = correct;
  args_.gather = gather;
  args_.update = update;
  ops::mlp_train_step(args_);
}

std::string FusedMlpStep::describe() const {
  std::string widths = std::to_string(layers_.front()->in_width());
  for (const LinearLayer* l : layers_) {
    widths += '-';
    widths += std::to_string(l->out_width());
  }
  return "training step: one fused MLP kernel (" + widths + "; " +
         (takes_ends_ ? "batch gather, forward, loss, backward and optimizer"
                      : "forward, loss and backward") +
         " in one launch; KASMINA_FUSED_MLP=0 for the layered step)";
}

}  // namespace kasmina
