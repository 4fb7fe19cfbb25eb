// CPU twin of activation_backward_aux_bf16 (ops/precision_ops.hpp): the activation's derivative
// from the fused layer's saved pre-activation (float32, or bf16 for a GELU layer with a bf16
// output), the product rounded once to bf16 (core/bf16.hpp, the GPU's rounding), and the bias
// gradient as the column sums of the stored bf16 values (in double, rows in order).
#include "core/bf16.hpp"
#include "ops/cpu/activation_arrays.hpp"
#include "ops/cpu/bf16_inputs.hpp"
#include "ops/cpu/column_sums.hpp"
#include "ops/cpu/cpu_common.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::ops::cpu {

void activation_backward_aux_bf16(Activation act, const Tensor& g, const Tensor& aux, Tensor& dx,
                                  Tensor* dbias) {
  constexpr const char* op = "activation_backward_aux_bf16";
  check_cpu_tensor(op, "g", g);
  KASMINA_CHECK(g.ndim() == 2,
                std::string(op) + ": g must be a matrix, got " + shape_str(g.shape()));
  const int64_t m = g.dim(0), k = g.dim(1);
  KASMINA_CHECK(g.dtype() == DType::f32 || (g.dtype() == DType::bf16 && act != Activation::gelu),
                std::string(op) + ": g is " + dtype_name(g.dtype()) +
                    ", expected float32 (or bfloat16 for relu and none)");
  check_tensor(op, "dx", dx, DType::bf16, {m, k});
  if (dbias) check_tensor(op, "dbias", *dbias, DType::f32, {k});
  // The product in fp32 (a bf16 g widened exactly), then one rounding.
  Tensor prod = g.dtype() == DType::bf16 ? widen_bf16(op, "g", g)
                                         : Tensor::empty({m, k}, DType::f32, Device::cpu());
  if (g.dtype() == DType::f32) prod.copy_from(g);
  if (act != Activation::none) {
    KASMINA_CHECK(aux.defined(), std::string(op) + ": aux missing for " + activation_name(act));
    const DType aux_type = act == Activation::gelu ? aux.dtype() : DType::f32;
    KASMINA_CHECK(aux_type == DType::f32 || aux_type == DType::bf16,
                  std::string(op) + ": aux is " + dtype_name(aux.dtype()));
    check_tensor(op, "aux", aux, aux_type, {m, k});
    const Tensor pre = aux_type == DType::bf16 ? widen_bf16(op, "aux", aux) : aux;
    activation_gradients<float>(act, prod.data<float>(), pre.data<float>(), prod.data<float>(),
                                m * k);
  }
  const float* p = prod.data<float>();
  bf16* out = dx.data<bf16>();
  for (int64_t i = 0; i < m * k; ++i) out[i] = bf16::from_float(p[i]);
  if (!dbias) return;
  const Tensor stored = widen_bf16(op, "dx", dx);
  column_sums<float>(stored.data<float>(), m, k, dbias->data<float>());
}

}  // namespace kasmina::ops::cpu
