// The driver of a layer's row group (morph_rows.hpp): the seeds whose blueprint (row_mlp) reads
// the whole row, all computed at once by four GEMMs forward and four backward around the
// elementwise ops of morph_rows.hpp. Runs after the fused ops and the residual_mlp GEMM path
// (morph_gemm_path.hpp); the fused ops treat its seeds as DORMANT (L.gemm_kinds has row_mlp's
// bit whenever the layer allows it).
#pragma once
#include <cstdint>

#include "core/tensor.hpp"
#include "ops/morph/morph_rows.hpp"

namespace kasmina::ops {

class MorphRowGroup {
 public:
  // Scratch for batches up to max_batch on L's device (nothing when row_mlp is not on the
  // layer's GEMM path).
  void prepare(const MorphLayerBuffers& L, int64_t max_batch);
  bool enabled() const { return params_.w1.defined(); }
  void forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
               const MorphForwardOptions& opt);
  // The activations of the last forward (same x); dx may be null.
  void backward(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                bool param_grads);

 private:
  MorphRowParams params_, grads_;
  Tensor act_, aux_, pre_grad_;  // [max_batch, S*h]: gelu(pre), the GELU's state, d pre
  Tensor delta_, g_, jt_;        // [max_batch, H]
};

}  // namespace kasmina::ops
