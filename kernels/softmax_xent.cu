// Fused softmax cross-entropy in one launch: per row (one warp per row) the max-shifted softmax,
// the loss log Σ exp(z - max) - (z_label - max), the first argmax and, optionally, the logit
// gradient (softmax - onehot) * grad_scale. Row losses and hits go to a scratch buffer; the last
// block to finish (a ticket counter taken after a memory fence) adds them in a fixed order and
// accumulates into loss_sum (f64) and correct (i64), then resets the ticket. The sum does not
// depend on which block is last: bitwise reproducible, no float atomics, graph-capturable. A
// label outside [0, C) (which the caller must prevent; the CPU twin rejects it) makes the loss
// NaN. Launched with programmatic dependent launch.
#include <cmath>

#include "kernels/last_block.cuh"
#include "kernels/pdl.cuh"
#include "kernels/softmax_xent_row.cuh"
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kRowsPerBlock = 8;  // warps per block
constexpr int kThreads = kRowsPerBlock * 32;

// V = 4: float4 accesses (classes % 4 == 0, 16-byte aligned rows); V = 1 otherwise.
template <int V>
__global__ void __launch_bounds__(kThreads)
    softmax_xent_kernel(const float* __restrict__ logits, const int32_t* __restrict__ labels,
                        int64_t rows, int64_t classes, float grad_scale,
                        float* __restrict__ dlogits, double* __restrict__ row_loss,
                        int32_t* __restrict__ row_hit, unsigned int* ticket,
                        double* __restrict__ loss_sum, int64_t* __restrict__ correct) {
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (row < rows)
    kernels::softmax_xent_row<V>(logits, labels, row, lane, classes, grad_scale, dlogits, row_loss,
                                 row_hit);
  // Last block done: publish this block's rows, take a ticket; the last block adds all rows.
  if (!kernels::last_block(ticket, gridDim.x)) return;
  kernels::add_rows<kThreads>(row_loss, row_hit, rows, loss_sum, correct);
  if (threadIdx.x == 0) *ticket = 0u;
}

}  // namespace

void softmax_xent(const Tensor& logits, const Tensor& labels, float grad_scale, Tensor* dlogits,
                  Tensor& loss_sum, Tensor* correct) {
  constexpr const char* op = "softmax_xent";
  const Device dev = logits.device();
  check_arg(op, "logits", logits, dev, DType::f32);
  const auto [rows, classes] = matrix_dims(op, "logits", logits);
  KASMINA_CHECK(classes > 0, std::string(op) + ": logits have no classes");
  check_arg(op, "labels", labels, dev, DType::i32, {rows});
  check_arg(op, "loss_sum", loss_sum, dev, DType::f64, {1});
  if (correct) check_arg(op, "correct", *correct, dev, DType::i64, {1});
  if (dlogits) check_arg(op, "dlogits", *dlogits, dev, DType::f32, {rows, classes});
  if (rows == 0) return;
  DeviceContext& ctx = context(dev);
  const size_t loss_bytes = static_cast<size_t>(rows) * sizeof(double);
  auto* buffer = static_cast<char*>(scratch(ctx, loss_bytes + static_cast<size_t>(rows) * 4));
  auto* row_loss = reinterpret_cast<double*>(buffer);
  auto* row_hit = reinterpret_cast<int32_t*>(buffer + loss_bytes);
  const auto blocks = static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock);
  const bool vec =
      classes % 4 == 0 && aligned16(logits.raw()) && (!dlogits || aligned16(dlogits->raw()));
  auto kernel = vec ? softmax_xent_kernel<4> : softmax_xent_kernel<1>;
  launch_pdl(ctx, kernel, dim3(blocks), dim3(kThreads), "softmax_xent_kernel", logits.data<float>(),
             labels.data<int32_t>(), rows, classes, grad_scale,
             dlogits ? dlogits->data<float>() : nullptr, row_loss, row_hit,
             ctx.tickets + kTicketSoftmaxXent, loss_sum.data<double>(),
             correct ? correct->data<int64_t>() : nullptr);
}

}  // namespace kasmina::ops::cuda
