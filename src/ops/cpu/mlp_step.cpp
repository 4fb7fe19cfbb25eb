// CPU twin of the fused MLP training step (mlp_step_ops.hpp): the layers one after the other in
// plain loops, every sum in the tensors' dtype in index order; the loss is the CPU softmax_xent
// twin's; the optional gather and update are the CPU gather_batch and optimizer twins. float32
// and float64 (the float64 path for finite-difference tests).
#include "ops/backend_ops.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/mlp_step_ops.hpp"

namespace kasmina::ops::cpu {

namespace {

// y[r, o] = act(Σ_i x[r, i] w[o, i] + b[o]) for x [rows, in], w [out, in].
template <class T>
void layer_forward(const T* x, const T* w, const T* b, int64_t rows, int64_t in, int64_t out,
                   Activation act, T* y) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      T s = T(0);
      for (int64_t i = 0; i < in; ++i) s += x[r * in + i] * w[o * in + i];
      if (b) s += b[o];
      y[r * out + o] = act == Activation::relu && !(s > T(0)) ? T(0) : s;
    }
  }
}

// dw[o, i] = Σ_r g[r, o] x[r, i]; db[o] = Σ_r g[r, o].
template <class T>
void layer_weight_grad(const T* g, const T* x, int64_t rows, int64_t in, int64_t out, T* dw,
                       T* db) {
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t i = 0; i < in; ++i) {
      T s = T(0);
      for (int64_t r = 0; r < rows; ++r) s += g[r * out + o] * x[r * in + i];
      dw[o * in + i] = s;
    }
    if (db) {
      T s = T(0);
      for (int64_t r = 0; r < rows; ++r) s += g[r * out + o];
      db[o] = s;
    }
  }
}

// dx[r, i] = (Σ_o g[r, o] w[o, i]) masked by [x[r, i] > 0] when relu.
template <class T>
void layer_input_grad(const T* g, const T* w, const T* x, int64_t rows, int64_t in, int64_t out,
                      bool relu, T* dx) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < in; ++i) {
      T s = T(0);
      for (int64_t o = 0; o < out; ++o) s += g[r * out + o] * w[o * in + i];
      dx[r * in + i] = relu && !(x[r * in + i] > T(0)) ? T(0) : s;
    }
  }
}

}  // namespace

void mlp_train_step(const MlpStepArgs& a) {
  constexpr const char* op = "mlp_train_step";
  const int64_t rows = check_mlp_train_step(a);
  check_cpu_tensor(op, "x", *a.x);
  if (a.gather) {  // the outputs are the step's x and labels (handles to their storage)
    Tensor x = *a.x, labels = *a.labels;
    ops::gather_batch(*a.gather->images, *a.gather->labels, *a.gather->perm, *a.gather->cursor,
                      a.gather->scale, a.gather->shift, x, labels);
  }
  const auto n = static_cast<int64_t>(a.layers.size());
  dispatch_float(op, a.x->dtype(), [&](auto zero) {
    using T = decltype(zero);
    auto in_of = [&](int64_t l) { return a.layers[static_cast<size_t>(l)].w->dim(1); };
    auto out_of = [&](int64_t l) { return a.layers[static_cast<size_t>(l)].w->dim(0); };
    auto input_of = [&](int64_t l) -> const T* {
      return l == 0 ? a.x->data<T>() : a.layers[static_cast<size_t>(l - 1)].y->data<T>();
    };
    for (int64_t l = 0; l < n; ++l) {
      const MlpLayerRefs& L = a.layers[static_cast<size_t>(l)];
      layer_forward<T>(input_of(l), L.w->data<T>(), L.b ? L.b->data<T>() : nullptr, rows, in_of(l),
                       out_of(l), L.act, L.y->data<T>());
    }
    softmax_xent(*a.layers.back().y, *a.labels, a.grad_scale, a.dlogits, *a.loss_sum, a.correct);
    for (int64_t l = n - 1; l >= 0; --l) {
      const MlpLayerRefs& L = a.layers[static_cast<size_t>(l)];
      const T* g = l == n - 1 ? a.dlogits->data<T>() : a.dpre[static_cast<size_t>(l)]->data<T>();
      layer_weight_grad<T>(g, input_of(l), rows, in_of(l), out_of(l), L.dw->data<T>(),
                           L.db ? L.db->data<T>() : nullptr);
      if (l == 0) break;
      const bool relu = a.layers[static_cast<size_t>(l - 1)].act == Activation::relu;
      layer_input_grad<T>(g, L.w->data<T>(), input_of(l), rows, in_of(l), out_of(l), relu,
                          a.dpre[static_cast<size_t>(l - 1)]->data<T>());
    }
  });
  if (const MlpStepUpdate* u = a.update) {
    if (u->sgd)
      ops::sgd_step(*u->plan, u->sgd_hyper, u->schedule, *u->step);
    else
      ops::adamw_step(*u->plan, u->adamw, u->schedule, *u->step);
  }
}

}  // namespace kasmina::ops::cpu
