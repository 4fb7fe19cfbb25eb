// The GEMM path's driver (morph_gemm_path.hpp).
#include "ops/morph/morph_gemm_path.hpp"

#include "morph/seed_path.hpp"
#include "ops/morph/morph_gemm_ops.hpp"
#include "ops/ops.hpp"

namespace kasmina::ops {

MorphGemmPath::Views MorphGemmPath::views(const Tensor& p, const morph::BlueprintShape& sh) {
  const GemmParamLayout lay = gemm_param_layout(sh);
  const int64_t h = sh.hidden, C = sh.chunk;
  return {p.flat_range(lay.w1, {h, C}), p.flat_range(lay.b1, {h}), p.flat_range(lay.w2, {C, h}),
          p.flat_range(lay.b2, {C})};
}

void MorphGemmPath::prepare(const MorphLayerBuffers& L, int64_t max_batch) {
  seeds_.clear();
  g_ = dpre_ = jt_ = Tensor();
  if (!morph::on_gemm_path(L.gemm_kinds, static_cast<int32_t>(morph::BlueprintKind::residual_mlp)))
    return;
  const Device dev = L.device();
  const DType dt = L.pool.dtype();
  const int64_t C = L.shape.chunk, h = L.shape.hidden;
  const int64_t P = gemm_param_layout(L.shape).total;
  for (int32_t s = 0; s < L.seeds; ++s) {
    Seed q;
    q.params = Tensor::zeros({P}, dt, dev);
    q.grads = Tensor::zeros({P}, dt, dev);
    if (L.seeds > 1) q.xs = Tensor::zeros({max_batch, C}, dt, dev);
    q.act = Tensor::zeros({max_batch, h}, dt, dev);
    q.aux = make_linear_aux(max_batch, h, Activation::gelu, dev, dt);
    q.delta = Tensor::zeros({max_batch, C}, dt, dev);
    seeds_.push_back(std::move(q));
  }
  g_ = Tensor::zeros({max_batch, C}, dt, dev);
  dpre_ = Tensor::zeros({max_batch, h}, dt, dev);
  jt_ = Tensor::zeros({max_batch, C}, dt, dev);
}

void MorphGemmPath::forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
                            const MorphForwardOptions& opt) {
  const int64_t B = x.dim(0);
  for (int32_t s = 0; s < static_cast<int32_t>(seeds_.size()); ++s) {
    Seed& q = seeds_[static_cast<size_t>(s)];
    Tensor xs = q.xs.defined() ? q.xs.rows(0, B) : Tensor();
    morph_gemm_gather(L, s, x, q.params, xs.defined() ? &xs : nullptr);
    const Views v = views(q.params, L.shape);
    Tensor act = q.act.rows(0, B), aux = q.aux.rows(0, B), delta = q.delta.rows(0, B);
    Tensor none;
    linear_forward(xs.defined() ? xs : x, v.w1, v.b1, Activation::gelu, act, aux);
    linear_forward(act, v.w2, v.b2, Activation::none, delta, none);
    morph_gemm_blend(L, s, x, delta, out, opt);
  }
}

void MorphGemmPath::backward(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy,
                             Tensor* dx, bool param_grads) {
  const int64_t B = x.dim(0);
  Tensor g = g_.rows(0, B), dpre = dpre_.rows(0, B), jt = jt_.rows(0, B);
  for (int32_t s = 0; s < static_cast<int32_t>(seeds_.size()); ++s) {
    Seed& q = seeds_[static_cast<size_t>(s)];
    const Tensor xs = q.xs.defined() ? q.xs.rows(0, B) : x;
    const Views v = views(q.params, L.shape);
    Views d = views(q.grads, L.shape);
    const Tensor act = q.act.rows(0, B), aux = q.aux.rows(0, B), delta = q.delta.rows(0, B);
    morph_gemm_delta_grad(L, s, dy, delta, g, param_grads);
    linear_backward_input(g, v.w2, Activation::gelu, aux, dpre, param_grads ? &d.b1 : nullptr);
    if (param_grads) {
      linear_backward_weight(g, act, d.w2, &d.b2);
      linear_backward_weight(dpre, xs, d.w1, nullptr);
    }
    if (dx) linear_backward_input(dpre, v.w1, Activation::none, Tensor(), jt, nullptr);
    morph_gemm_scatter(L, s, dy, jt, dx, q.grads, param_grads);
  }
}

}  // namespace kasmina::ops
