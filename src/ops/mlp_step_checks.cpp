// Argument checks of the fused MLP training step (mlp_step_ops.hpp), shared by both twins.
#include <string>

#include "core/error.hpp"
#include "ops/mlp_step_ops.hpp"

namespace kasmina::ops {

namespace {

constexpr const char* kOp = "mlp_train_step";

void require(bool ok, const std::string& what) {
  KASMINA_CHECK(ok, std::string(kOp) + ": " + what);
}

// t is defined, on dev, of dtype dt and shape `shape`.
void require_tensor(const Tensor* t, const std::string& name, Device dev, DType dt,
                    const Shape& shape) {
  require(t != nullptr && t->defined(), "tensor '" + name + "' is missing");
  require(t->device() == dev,
          "tensor '" + name + "' is on " + t->device().str() + ", expected " + dev.str());
  require(t->dtype() == dt,
          "tensor '" + name + "' is " + dtype_name(t->dtype()) + ", expected " + dtype_name(dt));
  require(t->shape() == shape, "tensor '" + name + "' has shape " + shape_str(t->shape()) +
                                   ", expected " + shape_str(shape));
}

}  // namespace

int64_t check_mlp_train_step(const MlpStepArgs& a) {
  require(a.x != nullptr && a.x->defined(), "tensor 'x' is missing");
  const Device dev = a.x->device();
  const DType dt = a.x->dtype();
  require(dt == DType::f32 || dt == DType::f64,
          "x must be float32 or float64, got " + std::string(dtype_name(dt)));
  require(a.x->shape().size() == 2, "x must be [B, in], got " + shape_str(a.x->shape()));
  const int64_t rows = a.x->dim(0);
  const auto n = static_cast<int64_t>(a.layers.size());
  require(n >= 1 && n <= kMlpStepMaxLayers, "1 to " + std::to_string(kMlpStepMaxLayers) +
                                                " layers are supported, got " + std::to_string(n));
  require(static_cast<int64_t>(a.dpre.size()) == n - 1,
          "dpre needs one tensor per layer but the last (" + std::to_string(n - 1) + "), got " +
              std::to_string(a.dpre.size()));
  int64_t in = a.x->dim(1);
  for (int64_t l = 0; l < n; ++l) {
    const MlpLayerRefs& L = a.layers[static_cast<size_t>(l)];
    const std::string at = "layer " + std::to_string(l) + " ";
    require(L.w != nullptr && L.w->defined() && L.w->shape().size() == 2,
            at + "needs a weight [out, in]");
    const int64_t out = L.w->dim(0);
    require(out >= 1 && out <= kMlpStepMaxWidth,
            at + "has " + std::to_string(out) + " outputs; 1 to " +
                std::to_string(kMlpStepMaxWidth) + " are supported");
    require_tensor(L.w, at + "w", dev, dt, {out, in});
    require_tensor(L.dw, at + "dw", dev, dt, {out, in});
    require((L.b == nullptr) == (L.db == nullptr), at + "has a bias exactly when it has db");
    if (L.b) {
      require_tensor(L.b, at + "b", dev, dt, {out});
      require_tensor(L.db, at + "db", dev, dt, {out});
    }
    require_tensor(L.y, at + "y", dev, dt, {rows, out});
    const bool last = l == n - 1;
    require(L.act == Activation::none || (!last && L.act == Activation::relu),
            at + "activation " + activation_name(L.act) +
                (last ? ": the last layer takes none" : ": relu or none are supported"));
    if (!last) require_tensor(a.dpre[static_cast<size_t>(l)], at + "dpre", dev, dt, {rows, out});
    in = out;
  }
  require_tensor(a.labels, "labels", dev, DType::i32, {rows});
  require_tensor(a.dlogits, "dlogits", dev, dt, {rows, in});
  require_tensor(a.loss_sum, "loss_sum", dev, DType::f64, {1});
  if (a.correct) require_tensor(a.correct, "correct", dev, DType::i64, {1});
  if (a.gather) {
    const MlpStepGather& g = *a.gather;
    require(g.images && g.labels && g.perm && g.cursor,
            "the gather needs images, labels, perm and cursor");
    require(dt == DType::f32, "the gather writes float32 x");
  }
  if (a.update) {
    require(a.update->plan != nullptr && a.update->step != nullptr,
            "the update needs a plan and a step counter");
    require(
        a.update->plan->device() == dev,
        "the update's plan is on " + a.update->plan->device().str() + ", expected " + dev.str());
    require(a.update->plan->bf16_copies().empty(),
            "the update writes no bf16 weight copies (a float32 step has none)");
  }
  return rows;
}

}  // namespace kasmina::ops
