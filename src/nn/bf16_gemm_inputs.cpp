#include "nn/bf16_gemm_inputs.hpp"

#include "ops/ops.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina {

namespace {

// The first rows of a bf16 buffer, filled from the fp32 matrix `src`.
Tensor cast_rows(const Tensor& src, const Tensor& buffer) {
  Tensor dst = buffer.rows(0, src.dim(0));
  ops::cast_to_bf16(src, dst);
  return dst;
}

}  // namespace

void Bf16GemmInputs::prepare(int64_t max_rows, int64_t in, int64_t out, DType dtype, Device dev) {
  if (dtype != DType::f32 || ops::math_mode(dev) != ops::MathMode::bf16) {
    weight_ = input_ = output_grad_ = Tensor();
    return;
  }
  // The weight copy is kept across a second prepare (an optimizer may hold it: nn/layer.hpp,
  // Parameter::bf16_copy); the row buffers follow max_rows.
  if (!weight_.defined() || weight_.shape() != Shape{out, in} || weight_.device() != dev)
    weight_ = Tensor::empty({out, in}, DType::bf16, dev);
  input_ = Tensor::empty({max_rows, in}, DType::bf16, dev);
  output_grad_ = Tensor::empty({max_rows, out}, DType::bf16, dev);
}

Tensor Bf16GemmInputs::cast_weight(const Tensor& w) {
  if (!on()) return w;
  ops::cast_to_bf16(w, weight_);
  return weight_;
}

Tensor Bf16GemmInputs::cast_input(const Tensor& x) {
  return on() && x.dtype() != DType::bf16 ? cast_rows(x, input_) : x;
}

Tensor Bf16GemmInputs::cast_output_grad(const Tensor& dy) {
  return on() && dy.dtype() != DType::bf16 ? cast_rows(dy, output_grad_) : dy;
}

}  // namespace kasmina
