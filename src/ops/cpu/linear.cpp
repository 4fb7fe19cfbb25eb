// CPU twins of the fused linear layer ops: OpenBLAS GEMMs, with bias, activation and the
// activation backward applied in one pass over the GEMM output. The saved state (aux) of a
// fused layer on the CPU is its pre-activation x·Wᵀ + b, [M,N], in the layer's dtype.
// bf16 GEMM inputs (x and w, dy and w, dy and x; `train.precision: bf16`) are widened to fp32
// and run the fp32 path. With bf16 inputs the forward's y and the input gradient's dx may be bf16
// (the activations between linear layers): the fp32 result, after bias and activation (or the
// activation's derivative), is rounded once to bf16 where CUDA stores it, and so is a GELU
// layer's saved pre-activation (cuBLASLt's aux takes the output's type); a ReLU layer keeps its
// fp32 pre-activation (CUDA keeps a bit mask, and only the sign is read). The bias gradient of a
// bf16 dx is the column sums of the stored bf16 values.
// Biases, bias gradients and weight gradients are fp32 always.
#include "ops/backend_ops.hpp"
#include "ops/cpu/activation_arrays.hpp"
#include "ops/cpu/bf16_inputs.hpp"
#include "ops/cpu/blas_gemm.hpp"
#include "ops/cpu/column_sums.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::ops::cpu {

namespace {

// The saved state's dtype of a layer whose output has dtype `out` (see the top).
DType aux_dtype(Activation act, DType out) {
  if (out != DType::bf16) return out;
  return act == Activation::gelu ? DType::bf16 : DType::f32;
}

// y = act(x·Wᵀ + b) stored in bf16: the fp32 path on the widened inputs, rounded once.
void forward_bf16_output(const Tensor& x, const Tensor& w, const Tensor& b, Activation act,
                         Tensor& y, Tensor& aux) {
  constexpr const char* op = "linear_forward";
  check_cpu_tensor(op, "y", y);
  check_dtype(op, "x", x, DType::bf16);  // a bf16 output needs bf16 inputs
  Tensor y32 = Tensor::empty(y.shape(), DType::f32, Device::cpu());
  Tensor pre = act == Activation::gelu ? Tensor::empty(y.shape(), DType::f32, Device::cpu()) : aux;
  cpu::linear_forward(x, w, b, act, y32, pre);
  cpu::cast_to_bf16(y32, y);
  if (act != Activation::gelu) return;
  check_tensor(op, "aux", aux, DType::bf16, y.shape());
  cpu::cast_to_bf16(pre, aux);
}

// dx = (dy·W) ⊙ in_act'(pre) stored in bf16, in_dbias the column sums of the stored values.
void backward_input_bf16_output(const Tensor& dy, const Tensor& w, Activation in_act,
                                const Tensor& in_aux, Tensor& dx, Tensor* in_dbias) {
  constexpr const char* op = "linear_backward_input";
  check_cpu_tensor(op, "dx", dx);
  check_dtype(op, "dy", dy, DType::bf16);  // a bf16 output needs bf16 inputs
  KASMINA_CHECK(in_act != Activation::none || in_dbias == nullptr,
                std::string(op) + ": in_dbias given without an input activation");
  Tensor g = Tensor::empty(dx.shape(), DType::f32, Device::cpu());
  cpu::linear_backward_input(dy, w, Activation::none, Tensor(), g, nullptr);
  const int64_t m = g.dim(0), k = g.dim(1);
  if (in_act != Activation::none) {
    check_tensor(op, "in_aux", in_aux, aux_dtype(in_act, DType::bf16), {m, k});
    const Tensor pre = in_act == Activation::gelu ? widen_bf16(op, "in_aux", in_aux) : in_aux;
    activation_gradients<float>(in_act, g.data<float>(), pre.data<float>(), g.data<float>(), m * k);
  }
  cpu::cast_to_bf16(g, dx);
  if (!in_dbias) return;
  check_tensor(op, "in_dbias", *in_dbias, DType::f32, {k});
  const Tensor stored = widen_bf16(op, "dx", dx);
  column_sums<float>(stored.data<float>(), m, k, in_dbias->data<float>());
}

}  // namespace

// dt: the layer's output dtype (float32, float64, or bf16: see aux_dtype).
Tensor make_linear_aux(int64_t rows, int64_t cols, Activation act, Device dev, DType dt) {
  KASMINA_CHECK(dev.is_cpu(), "make_linear_aux: CPU twin asked for device " + dev.str());
  KASMINA_CHECK(dt == DType::f32 || dt == DType::f64 || dt == DType::bf16,
                std::string("make_linear_aux: unsupported dtype ") + dtype_name(dt));
  if (act == Activation::none) return Tensor();
  return Tensor::empty({rows, cols}, aux_dtype(act, dt), dev);
}

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Activation act, Tensor& y,
                    Tensor& aux) {
  constexpr const char* op = "linear_forward";
  if (y.dtype() == DType::bf16) return forward_bf16_output(x, w, b, act, y, aux);
  if (x.dtype() == DType::bf16)
    return cpu::linear_forward(widen_bf16(op, "x", x), widen_bf16(op, "w", w), b, act, y, aux);
  int64_t m = 0, k = 0;  // std::tie: clang 14 lets no lambda capture a structured binding
  std::tie(m, k) = matrix_dims(op, "x", x);
  int64_t n = 0, wk = 0;
  std::tie(n, wk) = matrix_dims(op, "w", w);
  KASMINA_CHECK(wk == k, std::string(op) + ": x " + shape_str(x.shape()) + " and w " +
                             shape_str(w.shape()) + " disagree on the input width");
  check_dtype(op, "w", w, x.dtype());
  if (b.defined()) check_tensor(op, "b", b, x.dtype(), {n});
  check_tensor(op, "y", y, x.dtype(), {m, n});
  if (act != Activation::none) check_tensor(op, "aux", aux, x.dtype(), {m, n});
  dispatch_float(op, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* out = y.data<T>();
    gemm<T>(op, {.m = m, .n = n, .k = k, .trans_b = true}, x.data<T>(), w.data<T>(), out);
    const T* bias = b.defined() ? b.data<T>() : nullptr;
    T* pre = act == Activation::none ? nullptr : aux.data<T>();
    for (int64_t i = 0; i < m; ++i) {
      T* row = out + i * n;
      if (bias) {
        for (int64_t j = 0; j < n; ++j) row[j] += bias[j];
      }
      if (pre) {
        T* pre_row = pre + i * n;
        for (int64_t j = 0; j < n; ++j) pre_row[j] = row[j];
        activation_values<T>(act, pre_row, row, n);
      }
    }
  });
}

void linear_backward_input(const Tensor& dy, const Tensor& w, Activation in_act,
                           const Tensor& in_aux, Tensor& dx, Tensor* in_dbias) {
  constexpr const char* op = "linear_backward_input";
  if (dx.dtype() == DType::bf16)
    return backward_input_bf16_output(dy, w, in_act, in_aux, dx, in_dbias);
  if (dy.dtype() == DType::bf16) {
    return cpu::linear_backward_input(widen_bf16(op, "dy", dy), widen_bf16(op, "w", w), in_act,
                                      in_aux, dx, in_dbias);
  }
  int64_t m = 0, n = 0;
  std::tie(m, n) = matrix_dims(op, "dy", dy);
  int64_t wn = 0, k = 0;
  std::tie(wn, k) = matrix_dims(op, "w", w);
  KASMINA_CHECK(wn == n, std::string(op) + ": dy " + shape_str(dy.shape()) + " and w " +
                             shape_str(w.shape()) + " disagree on the output width");
  check_dtype(op, "w", w, dy.dtype());
  check_tensor(op, "dx", dx, dy.dtype(), {m, k});
  if (in_act == Activation::none) {
    KASMINA_CHECK(in_dbias == nullptr,
                  std::string(op) + ": in_dbias given without an input activation");
  } else {
    check_tensor(op, "in_aux", in_aux, dy.dtype(), {m, k});
    if (in_dbias) check_tensor(op, "in_dbias", *in_dbias, dy.dtype(), {k});
  }
  dispatch_float(op, dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    T* g = dx.data<T>();
    gemm<T>(op, {.m = m, .n = k, .k = n}, dy.data<T>(), w.data<T>(), g);
    if (in_act == Activation::none) return;
    activation_gradients<T>(in_act, g, in_aux.data<T>(), g, m * k);
    if (in_dbias) column_sums<T>(g, m, k, in_dbias->data<T>());
  });
}

void linear_backward_weight(const Tensor& dy, const Tensor& x, Tensor& dw, Tensor* db) {
  constexpr const char* op = "linear_backward_weight";
  if (dy.dtype() == DType::bf16)
    return cpu::linear_backward_weight(widen_bf16(op, "dy", dy), widen_bf16(op, "x", x), dw, db);
  int64_t m = 0, n = 0;
  std::tie(m, n) = matrix_dims(op, "dy", dy);
  int64_t xm = 0, k = 0;
  std::tie(xm, k) = matrix_dims(op, "x", x);
  KASMINA_CHECK(xm == m, std::string(op) + ": dy " + shape_str(dy.shape()) + " and x " +
                             shape_str(x.shape()) + " disagree on the number of rows");
  check_dtype(op, "x", x, dy.dtype());
  check_tensor(op, "dw", dw, dy.dtype(), {n, k});
  if (db) check_tensor(op, "db", *db, dy.dtype(), {n});
  dispatch_float(op, dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    gemm<T>(op, {.m = n, .n = k, .k = m, .trans_a = true}, dy.data<T>(), x.data<T>(), dw.data<T>());
    if (db) column_sums<T>(dy.data<T>(), m, n, db->data<T>());
  });
}

}  // namespace kasmina::ops::cpu
