// Batch gather from a device-resident dataset (ops.hpp): one block per batch row, the row's
// work in gather_row.cuh (shared with the fused MLP step's gather phase).
#include "kernels/gather_row.cuh"
#include "kernels/pdl.cuh"

#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = 128;

template <class Pixel>
__global__ void gather_kernel(const Pixel* __restrict__ images, const int32_t* __restrict__ labels,
                              const int32_t* __restrict__ perm, const int64_t* __restrict__ cursor,
                              int64_t count, int64_t width, int64_t batch, float scale, float shift,
                              bool vectorised, float* __restrict__ x, int32_t* __restrict__ y) {
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();
  kernels::gather_row(images, labels, perm, cursor, count, width, batch, scale, shift, vectorised,
                      x, y, blockIdx.x, static_cast<int>(threadIdx.x), kThreads);
}

}  // namespace

GatherShape check_gather_batch(const char* op, const Tensor& images, const Tensor& labels,
                               const Tensor& perm, const Tensor& cursor, const Tensor& x,
                               const Tensor& y) {
  const Device dev = images.device();
  check_on_device(op, "images", images, dev);
  const auto [count, width] = matrix_dims(op, "images", images);
  KASMINA_CHECK(images.dtype() == DType::u8 || images.dtype() == DType::f32,
                std::string(op) + ": images are " + dtype_name(images.dtype()) +
                    ", expected uint8 or float32");
  check_arg(op, "labels", labels, dev, DType::i32, {count});
  check_arg(op, "perm", perm, dev, DType::i32);
  KASMINA_CHECK(perm.ndim() == 1, std::string(op) + ": perm must be 1-D");
  check_arg(op, "cursor", cursor, dev, DType::i64, {1});
  check_arg(op, "x", x, dev, DType::f32);
  const int64_t batch = matrix_dims(op, "x", x).rows;
  check_arg(op, "x", x, dev, DType::f32, {batch, width});
  check_arg(op, "y", y, dev, DType::i32, {batch});
  KASMINA_CHECK(batch <= 2147483647, std::string(op) + ": batch too large");
  GatherShape g;
  g.count = count, g.width = width, g.batch = batch;
  g.vectorised = images.dtype() == DType::u8
                     ? width % 16 == 0 && aligned16(images.raw()) && aligned16(x.raw())
                     : width % 4 == 0 && aligned16(images.raw()) && aligned16(x.raw());
  return g;
}

void gather_batch(const Tensor& images, const Tensor& labels, const Tensor& perm,
                  const Tensor& cursor, float scale, float shift, Tensor& x, Tensor& y) {
  const GatherShape g = check_gather_batch("gather_batch", images, labels, perm, cursor, x, y);
  if (g.batch == 0) return;
  const DeviceContext& ctx = context(images.device());
  const dim3 grid(static_cast<unsigned>(g.batch));
  const auto launch = [&]<class Pixel>(const Pixel* pixels) {
    launch_pdl(ctx, &gather_kernel<Pixel>, grid, dim3(kThreads), "gather_kernel", pixels,
               labels.data<int32_t>(), perm.data<int32_t>(), cursor.data<int64_t>(), g.count,
               g.width, g.batch, scale, shift, g.vectorised, x.data<float>(), y.data<int32_t>());
  };
  if (images.dtype() == DType::u8) {
    launch(images.data<uint8_t>());
  } else {
    launch(images.data<float>());
  }
}

}  // namespace kasmina::ops::cuda
