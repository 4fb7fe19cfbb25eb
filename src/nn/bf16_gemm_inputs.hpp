// The bf16 copies a linear layer feeds its GEMMs under `train.precision: bf16`
// (docs/PRECISION.md): its weight (cast from the fp32 master weight once per forward, i.e. once
// per training step, and reused by the backward's input-gradient GEMM), its input (cast in the
// forward and kept, in bf16, for the backward's weight-gradient GEMM) and its output gradient
// (cast once in the backward and read by both backward GEMMs). Inputs and output gradients
// that arrive in bf16 (the bf16 activations between linear layers) are used as they are.
// Parameter gradients and the optimizer stay fp32. Off (every call returns its argument) unless
// the device's math mode is bf16 when the layer is prepared, and always off for float64 layers.
#pragma once
#include <cstdint>

#include "core/tensor.hpp"

namespace kasmina {

class Bf16GemmInputs {
 public:
  // Allocates the copies for up to `max_rows` rows of a layer `in` -> `out` when the math mode
  // of `dev` is bf16 and the layer's dtype is float32.
  void prepare(int64_t max_rows, int64_t in, int64_t out, DType dtype, Device dev);
  bool on() const { return weight_.defined(); }

  // The GEMM operand for the weight: casts `w` into the bf16 copy and returns the copy.
  Tensor cast_weight(const Tensor& w);
  // The copy made by the last cast_weight (the backward reads the forward's copy).
  Tensor weight(const Tensor& w) const { return on() ? weight_ : w; }
  // The GEMM operand for the layer's input x [B, in] (B <= max_rows rows): x itself when it is
  // already bf16 (the previous linear layer stored it so), else its bf16 copy.
  Tensor cast_input(const Tensor& x);
  // The GEMM operand for the gradient w.r.t. the output (or pre-activation), [B, out]: dy
  // itself when it is already bf16 (the next linear layer's input-gradient GEMM wrote it so).
  Tensor cast_output_grad(const Tensor& dy);

 private:
  Tensor weight_, input_, output_grad_;  // bf16
};

}  // namespace kasmina
