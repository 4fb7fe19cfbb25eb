// The GEMM path of a morphogenetic layer (morph/seed_path.hpp): the residual_mlp blueprints of
// the seeds L.gemm_kinds selects, computed for all rows of the batch at once with the linear
// ops (cuBLASLt on CUDA, OpenBLAS on CPU) and the elementwise ops of morph_gemm_ops.hpp, run
// after the fused morph_forward / morph_backward (which treat those seeds as DORMANT).
//
// Per seed s and step (all launches on the layer's stream; which seeds are blended, training or
// dormant is read on the device, so nothing here waits for the device and a captured graph
// replays it):
//   forward   gather (slot parameters -> p, chunk -> xs when S > 1)
//             act = gelu(xs W1ᵀ + b1)        linear_forward, GELU+bias epilogue
//             delta = act W2ᵀ + b2            linear_forward, bias epilogue
//             blend (out chunk, isolated loss)
//   backward  g = dL/d delta                  morph_gemm_delta_grad (+ task measurement)
//             dpre = (g W2) ⊙ gelu'(pre), db1 linear_backward_input, DGELU+BGRAD epilogue
//             dW2 = gᵀ act, db2               linear_backward_weight
//             dW1 = dpreᵀ xs                  linear_backward_weight
//             jt = dpre W1                    linear_backward_input (only when dx is wanted)
//             scatter (dx chunk, slot gradient, grad_norm)
// The GEMMs run for every seed of the layer, dormant or not (their parameters are then zero and
// nothing is written): a few microseconds each at these sizes.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.hpp"
#include "ops/morph/morph_ops.hpp"

namespace kasmina::ops {

class MorphGemmPath {
 public:
  // Scratch for batches up to max_batch on L's device (nothing when residual_mlp is not on the
  // layer's GEMM path).
  void prepare(const MorphLayerBuffers& L, int64_t max_batch);
  bool enabled() const { return !seeds_.empty(); }
  // After morph_forward(L, x, out, opt) / morph_backward(L, x, dy, dx, param_grads); the
  // backward reads the activations of the last forward (same x).
  void forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
               const MorphForwardOptions& opt);
  void backward(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                bool param_grads);

 private:
  struct Seed {
    Tensor params, grads;  // gemm_param_layout
    Tensor xs;             // [max_batch, C] (S > 1 only)
    Tensor act, aux;       // [max_batch, h] gelu(pre) and the GELU's saved state
    Tensor delta;          // [max_batch, C]
  };
  struct Views {
    Tensor w1, b1, w2, b2;
  };
  static Views views(const Tensor& p, const morph::BlueprintShape& sh);

  std::vector<Seed> seeds_;
  Tensor g_, dpre_, jt_;  // backward scratch shared by the seeds
};

}  // namespace kasmina::ops
