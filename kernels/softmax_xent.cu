// Fused softmax cross-entropy: per row (one warp per row) the max-shifted softmax, the loss
// log Σ exp(z - max) - (z_label - max), the first argmax and, optionally, the logit gradient
// (softmax - onehot) * grad_scale. Row losses and hits go to a scratch buffer; a single block
// then adds them in a fixed order and accumulates into loss_sum (f64) and correct (i64): no
// atomics, bitwise reproducible, graph-capturable. A label outside [0, C) (which the caller must
// prevent; the CPU twin rejects it) makes the loss NaN.
#include <cmath>

#include "kernels/vector_io.cuh"
#include "kernels/warp_reduce.cuh"
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kRowsPerBlock = 8;  // warps per block
constexpr int kFinalThreads = 1024;

// V = 4: float4 accesses (classes % 4 == 0, 16-byte aligned rows); V = 1 otherwise.
template <int V>
__global__ void softmax_xent_rows_kernel(const float* __restrict__ logits,
                                         const int32_t* __restrict__ labels, int64_t rows,
                                         int64_t classes, float grad_scale,
                                         float* __restrict__ dlogits, double* __restrict__ row_loss,
                                         int32_t* __restrict__ row_hit) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows) return;
  const float* z = logits + row * classes;
  float best = -INFINITY;
  int64_t best_idx = classes;  // larger than any index: loses every tie
  for (int64_t c = lane * V; c < classes; c += 32 * V) {
    float v[V];
    kernels::load_floats<V>(z, c, v);
#pragma unroll
    for (int j = 0; j < V; ++j) {
      if (v[j] > best || (v[j] == best && c + j < best_idx)) {
        best = v[j];
        best_idx = c + j;
      }
    }
  }
  kernels::warp_argmax(best, best_idx);
  float sum = 0.0f;
  for (int64_t c = lane * V; c < classes; c += 32 * V) {
    float v[V];
    kernels::load_floats<V>(z, c, v);
#pragma unroll
    for (int j = 0; j < V; ++j) sum += expf(v[j] - best);
  }
  sum = kernels::warp_sum(sum);
  const int32_t label = labels[row];
  const bool valid = label >= 0 && label < classes;
  if (dlogits) {
    const float inv = 1.0f / sum;
    float* d = dlogits + row * classes;
    for (int64_t c = lane * V; c < classes; c += 32 * V) {
      float v[V], g[V];
      kernels::load_floats<V>(z, c, v);
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const float prob = expf(v[j] - best) * inv;
        g[j] = (prob - (c + j == label ? 1.0f : 0.0f)) * grad_scale;
      }
      kernels::store_floats<V>(d, c, g);
    }
  }
  if (lane == 0) {
    row_loss[row] = valid ? static_cast<double>(logf(sum)) -
                                (static_cast<double>(z[label]) - static_cast<double>(best))
                          : static_cast<double>(NAN);
    row_hit[row] = valid && best_idx == label ? 1 : 0;
  }
}

// One block: thread t adds rows t, t + T, ... in order; then a fixed shared-memory tree.
__global__ void softmax_xent_total_kernel(const double* __restrict__ row_loss,
                                          const int32_t* __restrict__ row_hit, int64_t rows,
                                          double* __restrict__ loss_sum,
                                          int64_t* __restrict__ correct) {
  __shared__ double loss_part[kFinalThreads];
  __shared__ long long hit_part[kFinalThreads];
  double l = 0.0;
  long long h = 0;
  for (int64_t r = threadIdx.x; r < rows; r += kFinalThreads) {
    l += row_loss[r];
    h += row_hit[r];
  }
  loss_part[threadIdx.x] = l;
  hit_part[threadIdx.x] = h;
  __syncthreads();
  for (int width = kFinalThreads / 2; width > 0; width >>= 1) {
    if (static_cast<int>(threadIdx.x) < width) {
      loss_part[threadIdx.x] += loss_part[threadIdx.x + width];
      hit_part[threadIdx.x] += hit_part[threadIdx.x + width];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    loss_sum[0] += loss_part[0];
    if (correct) correct[0] += hit_part[0];
  }
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
  auto rows_kernel = vec ? softmax_xent_rows_kernel<4> : softmax_xent_rows_kernel<1>;
  rows_kernel<<<blocks, kRowsPerBlock * 32, 0, ctx.stream>>>(
      logits.data<float>(), labels.data<int32_t>(), rows, classes, grad_scale,
      dlogits ? dlogits->data<float>() : nullptr, row_loss, row_hit);
  KASMINA_LAUNCH_CHECK("softmax_xent_rows_kernel");
  softmax_xent_total_kernel<<<1, kFinalThreads, 0, ctx.stream>>>(
      row_loss, row_hit, rows, loss_sum.data<double>(),
      correct ? correct->data<int64_t>() : nullptr);
  KASMINA_LAUNCH_CHECK("softmax_xent_total_kernel");
}

}  // namespace kasmina::ops::cuda
