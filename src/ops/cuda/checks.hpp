// Argument checks shared by the CUDA launchers: every tensor of a call on one CUDA device,
// of the expected dtype and shape. A violation is an InternalError naming the op and argument.
#pragma once
#include <string>

#include "core/tensor.hpp"

namespace kasmina::ops::cuda {

inline void check_on_device(const char* op, const char* name, const Tensor& t, Device dev) {
  KASMINA_CHECK(t.defined(), std::string(op) + ": " + name + " is undefined");
  KASMINA_CHECK(t.device() == dev, std::string(op) + ": " + name + " is on " + t.device().str() +
                                       ", expected " + dev.str());
}

inline void check_arg(const char* op, const char* name, const Tensor& t, Device dev, DType dt) {
  check_on_device(op, name, t, dev);
  KASMINA_CHECK(t.dtype() == dt, std::string(op) + ": " + name + " is " + dtype_name(t.dtype()) +
                                     ", expected " + dtype_name(dt) + " (CUDA ops take float32)");
}

inline void check_arg(const char* op, const char* name, const Tensor& t, Device dev, DType dt,
                      const Shape& shape) {
  check_arg(op, name, t, dev, dt);
  KASMINA_CHECK(t.shape() == shape, std::string(op) + ": " + name + " has shape " +
                                        shape_str(t.shape()) + ", expected " + shape_str(shape));
}

// [rows, cols] of a tensor of rank >= 1 viewed as a matrix (cols = last dimension).
struct MatrixDims {
  int64_t rows = 0, cols = 0;
};
inline MatrixDims matrix_dims(const char* op, const char* name, const Tensor& t) {
  KASMINA_CHECK(t.ndim() == 2,
                std::string(op) + ": " + name + " must be 2-D, got shape " + shape_str(t.shape()));
  return {t.dim(0), t.dim(1)};
}

// Grid size for a grid-stride loop over `n` items with `threads` per block.
inline unsigned grid_for(int64_t n, int threads, int max_blocks = 65535 * 16) {
  int64_t blocks = (n + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > max_blocks) blocks = max_blocks;
  return static_cast<unsigned>(blocks);
}

inline bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

}  // namespace kasmina::ops::cuda
