// CPU twins of the standalone activation ops and of the activation backward of a fused linear
// layer (whose saved state on the CPU is the pre-activation itself).
#include "ops/backend_ops.hpp"
#include "ops/cpu/activation_arrays.hpp"
#include "ops/cpu/bf16_inputs.hpp"
#include "ops/cpu/cpu_common.hpp"

namespace kasmina::ops::cpu {

namespace {

// dout = din ⊙ act'(pre), with all three tensors of one float dtype and one shape.
void gradient_through(const char* op, Activation act, const Tensor& dy, const Tensor& pre,
                      Tensor& dout) {
  check_cpu_tensor(op, "dy", dy);
  check_cpu_tensor(op, "dx", dout);
  check_dtype(op, "dx", dout, dy.dtype());
  check_shape(op, "dx", dout, dy.shape());
  if (act != Activation::none) {
    check_tensor(op, "pre-activation", pre, dy.dtype(), dy.shape());
  }
  dispatch_float(op, dy.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* pre_data = act == Activation::none ? nullptr : pre.data<T>();
    activation_gradients<T>(act, dy.data<T>(), pre_data, dout.data<T>(), dy.numel());
  });
}

}  // namespace

void activation_forward(Activation act, const Tensor& x, Tensor& y) {
  constexpr const char* op = "activation_forward";
  check_cpu_tensor(op, "x", x);
  check_tensor(op, "y", y, x.dtype(), x.shape());
  dispatch_float(op, x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    activation_values<T>(act, x.data<T>(), y.data<T>(), x.numel());
  });
}

void activation_backward(Activation act, const Tensor& dy, const Tensor& x, Tensor& dx) {
  constexpr const char* op = "activation_backward";
  check_tensor(op, "x", x, dy.dtype(), dy.shape());
  gradient_through(op, act, dy, x, dx);
}

// A GELU layer with a bf16 output saved bf16 pre-activations (cpu/linear.cpp): widened.
void activation_backward_aux(Activation act, const Tensor& dy, const Tensor& aux, Tensor& dpre) {
  constexpr const char* op = "activation_backward_aux";
  const bool bf16_aux = aux.defined() && aux.dtype() == DType::bf16;
  gradient_through(op, act, dy, bf16_aux ? widen_bf16(op, "aux", aux) : aux, dpre);
}

}  // namespace kasmina::ops::cpu
