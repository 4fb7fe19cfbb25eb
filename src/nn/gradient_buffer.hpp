// Every parameter gradient of a model in one flat device buffer: each Parameter::grad becomes a
// view into it, starting at a multiple of kAlignmentBytes, so a data-parallel all-reduce of all
// gradients is one call on flat() (see src/ops/collective/communicator.hpp). Gaps between views
// are zero and stay zero (no op writes them).
#pragma once
#include <cstddef>
#include <vector>

#include "nn/layer.hpp"

namespace kasmina {

class GradientBuffer {
 public:
  // The alignment of every view (that of a fresh device allocation, so kernels and GEMM
  // heuristics see the same pointers' alignment as with one allocation per gradient).
  static constexpr size_t kAlignmentBytes = 256;

  GradientBuffer() = default;
  // Allocates the buffer (zeros) for `params` (one dtype, one device) and points each
  // parameter's grad at its view; the previous gradient values are copied into the views.
  GradientBuffer(const std::vector<Parameter*>& params, Device dev, DType dtype);

  const Tensor& flat() const { return flat_; }
  Tensor& flat() { return flat_; }
  // Element offset of each parameter's view in flat(), in parameter order.
  const std::vector<int64_t>& offsets() const { return offsets_; }

 private:
  Tensor flat_;
  std::vector<int64_t> offsets_;
};

}  // namespace kasmina
