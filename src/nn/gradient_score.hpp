// The gradient score of a kasmina layer's chunks (GradMax-style "where to grow"): from the
// layer's input activations a [B, H] and the gradient g = dL/dy [B, H] of the (mean) loss with
// respect to its output, M = gᵀ a = E[g aᵀ] ([H, H], one GEMM: the weight-gradient op of a
// linear layer, ops::linear_backward_weight), which is the gradient of a new H -> H map added to
// the output and started at zero. The score of seed s is the sum over its chunk's output units j
// of ||M_j|| (the norm of row j: how strongly the loss would pull a new unit writing to j,
// reading the whole layer). Measured on the step before each telemetry read (one GEMM of
// H x B x H per `telemetry_every` steps) when enabled (MorphConfig::gradient_score); the [H, H]
// matrix is read by the host at the read and reduced there.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.hpp"

namespace kasmina::morph {

class GradientScore {
 public:
  void prepare(bool enabled, int64_t width, DType dtype, Device dev);
  bool enabled() const { return enabled_; }
  // M = dyᵀ x for this step (overwrites the previous measurement).
  void measure(const Tensor& dy, const Tensor& x);
  // The measurement ran inside a replayed CUDA graph of the step.
  void note_replayed() { fresh_ = true; }
  bool fresh() const { return fresh_; }
  // Per-seed scores (chunk of width / seeds units each) of the last measurement, which is
  // consumed; empty when nothing was measured since the last call.
  std::vector<double> take(int32_t seeds);

 private:
  bool enabled_ = false;
  bool fresh_ = false;
  Tensor outer_;  // M [H, H]
};

}  // namespace kasmina::morph
