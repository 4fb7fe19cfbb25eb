// Routes each public op to the CPU twin or the CUDA launcher by the device of its tensors.
#include "core/enum_table.hpp"
#include "ops/backend_ops.hpp"
#include "ops/route.hpp"

namespace kasmina::ops {

constexpr EnumTable<Activation, 3> kActivationNames{{
    {"none", Activation::none},
    {"relu", Activation::relu},
    {"gelu", Activation::gelu},
}};

const char* activation_name(Activation a) {
  return enum_name(kActivationNames, a);
}

Tensor make_linear_aux(int64_t rows, int64_t cols, Activation act, Device dev, DType dt) {
  KASMINA_ROUTE(dev, make_linear_aux, rows, cols, act, dev, dt);
}
void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Activation act, Tensor& y,
                    Tensor& aux) {
  KASMINA_ROUTE(x.device(), linear_forward, x, w, b, act, y, aux);
}
void linear_backward_input(const Tensor& dy, const Tensor& w, Activation in_act,
                           const Tensor& in_aux, Tensor& dx, Tensor* in_dbias) {
  KASMINA_ROUTE(dy.device(), linear_backward_input, dy, w, in_act, in_aux, dx, in_dbias);
}
void linear_backward_weight(const Tensor& dy, const Tensor& x, Tensor& dw, Tensor* db) {
  KASMINA_ROUTE(dy.device(), linear_backward_weight, dy, x, dw, db);
}
void activation_backward_aux(Activation act, const Tensor& dy, const Tensor& aux, Tensor& dpre) {
  KASMINA_ROUTE(dy.device(), activation_backward_aux, act, dy, aux, dpre);
}
void activation_forward(Activation act, const Tensor& x, Tensor& y) {
  KASMINA_ROUTE(x.device(), activation_forward, act, x, y);
}
void activation_backward(Activation act, const Tensor& dy, const Tensor& x, Tensor& dx) {
  KASMINA_ROUTE(dy.device(), activation_backward, act, dy, x, dx);
}
void layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,
                       Tensor& y, Tensor& mean, Tensor& rstd) {
  KASMINA_ROUTE(x.device(), layernorm_forward, x, gamma, beta, eps, y, mean, rstd);
}
void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                        const Tensor& rstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  KASMINA_ROUTE(dy.device(), layernorm_backward, dy, x, gamma, mean, rstd, dx, dgamma, dbeta);
}
void dropout_forward(const Tensor& x, float p, uint64_t seed, uint32_t stream, const Tensor& step,
                     Tensor& y, Tensor& mask) {
  KASMINA_ROUTE(x.device(), dropout_forward, x, p, seed, stream, step, y, mask);
}
void dropout_backward(const Tensor& dy, const Tensor& mask, float p, Tensor& dx) {
  KASMINA_ROUTE(dy.device(), dropout_backward, dy, mask, p, dx);
}
void softmax_xent(const Tensor& logits, const Tensor& labels, float grad_scale, Tensor* dlogits,
                  Tensor& loss_sum, Tensor* correct) {
  KASMINA_ROUTE(logits.device(), softmax_xent, logits, labels, grad_scale, dlogits, loss_sum,
                correct);
}
void gather_batch(const Tensor& images, const Tensor& labels, const Tensor& perm,
                  const Tensor& cursor, float scale, float shift, Tensor& x, Tensor& y) {
  KASMINA_ROUTE(images.device(), gather_batch, images, labels, perm, cursor, scale, shift, x, y);
}
void fill(Tensor& t, double value) {
  KASMINA_ROUTE(t.device(), fill, t, value);
}
void counter_add(Tensor& counter, int64_t delta) {
  KASMINA_ROUTE(counter.device(), counter_add, counter, delta);
}
void column_sums(const Tensor& x, Tensor& out) {
  KASMINA_ROUTE(x.device(), column_sums, x, out);
}
void adamw_step(MultiTensorPlan& plan, const AdamWHyper& h, const LrSchedule& s,
                const Tensor& step) {
  KASMINA_ROUTE(plan.device(), adamw_step, plan, h, s, step);
}
void sgd_step(MultiTensorPlan& plan, const SgdHyper& h, const LrSchedule& s, const Tensor& step) {
  KASMINA_ROUTE(plan.device(), sgd_step, plan, h, s, step);
}

}  // namespace kasmina::ops
