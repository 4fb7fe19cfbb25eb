// The row group's driver (morph_row_group.hpp).
#include "ops/morph/morph_row_group.hpp"

#include "morph/seed_path.hpp"
#include "ops/morph/morph_checks.hpp"
#include "ops/ops.hpp"

namespace kasmina::ops {

void MorphRowGroup::prepare(const MorphLayerBuffers& L, int64_t max_batch) {
  *this = MorphRowGroup{};
  if (!morph::on_gemm_path(L.gemm_kinds, morph::kRowMlpKind)) return;
  const Device dev = L.device();
  const DType dt = L.pool.dtype();
  const int64_t H = morph_detail::morph_width(L);
  const int64_t Sh = int64_t{L.seeds} * L.shape.hidden;
  KASMINA_CHECK(L.shape.width == H, "MorphRowGroup: shape.width must be the layer's width");
  for (MorphRowParams* p : {&params_, &grads_}) {
    p->w1 = Tensor::zeros({Sh, H}, dt, dev);
    p->b1 = Tensor::zeros({Sh}, dt, dev);
    p->w2 = Tensor::zeros({H, Sh}, dt, dev);
    p->b2 = Tensor::zeros({H}, dt, dev);
  }
  params_.w1dx = Tensor::zeros({Sh, H}, dt, dev);
  act_ = Tensor::zeros({max_batch, Sh}, dt, dev);
  aux_ = make_linear_aux(max_batch, Sh, Activation::gelu, dev, dt);
  pre_grad_ = Tensor::zeros({max_batch, Sh}, dt, dev);
  delta_ = Tensor::zeros({max_batch, H}, dt, dev);
  g_ = Tensor::zeros({max_batch, H}, dt, dev);
  jt_ = Tensor::zeros({max_batch, H}, dt, dev);
}

void MorphRowGroup::forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
                            const MorphForwardOptions& opt) {
  const int64_t B = x.dim(0);
  morph_rows_gather(L, params_);
  Tensor act = act_.rows(0, B), aux = aux_.rows(0, B), delta = delta_.rows(0, B);
  Tensor none;
  linear_forward(x, params_.w1, params_.b1, Activation::gelu, act, aux);
  linear_forward(act, params_.w2, params_.b2, Activation::none, delta, none);
  morph_rows_blend(L, x, delta, out, opt);
}

void MorphRowGroup::backward(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy,
                             Tensor* dx, bool param_grads) {
  const int64_t B = x.dim(0);
  const Tensor act = act_.rows(0, B), aux = aux_.rows(0, B), delta = delta_.rows(0, B);
  Tensor g = g_.rows(0, B), dpre = pre_grad_.rows(0, B), jt = jt_.rows(0, B);
  morph_rows_delta_grad(L, dy, delta, g, param_grads);
  linear_backward_input(g, params_.w2, Activation::gelu, aux, dpre,
                        param_grads ? &grads_.b1 : nullptr);
  if (param_grads) {
    linear_backward_weight(g, act, grads_.w2, &grads_.b2);
    linear_backward_weight(dpre, x, grads_.w1, nullptr);
  }
  if (dx) linear_backward_input(dpre, params_.w1dx, Activation::none, Tensor(), jt, nullptr);
  morph_rows_scatter(L, jt, dx, grads_, param_grads);
}

}  // namespace kasmina::ops
