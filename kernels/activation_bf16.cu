// activation_backward_aux_bf16 (ops/precision_ops.hpp): the input gradient's activation backward
// as one pass over the plain GEMM's result, for the bf16 input gradients of the `pass` route
// (ops/gemm_route.hpp): dx = bf16(g * act'(pre)) stored, and the bias gradient's column partials
// summed over the stored values in the same pass, then added in chunk order (no atomics: the
// result depends only on the shape). It replaces cuBLASLt's DRELU epilogue, which runs as a
// separate kernel as slow as the GEMM for large outputs (bench/RESULTS.md).
#include "core/bf16.hpp"
#include "kernels/activation_math.cuh"
#include "kernels/column_reduce.cuh"
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/launch.hpp"
#include "ops/precision_ops.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreadsX = 32;  // column threads of a block
constexpr int kRowLanes = 8;   // row lanes of a block (a thread takes every 8th row of a chunk)
constexpr int kVec = 8;        // columns a thread takes when the rows allow 16-byte accesses
constexpr int64_t kMinChunkRows = 64;
constexpr int64_t kMaxChunks = 1024;

// Chunks of at least 64 rows, at most 1024 of them, smaller for a small grid
// (kernels::small_grid_chunks; the column blocks counted as the 16-byte form's, so that the chunks
// depend on the shape alone).
kernels::ColumnChunks pass_chunks(int64_t rows, int64_t cols) {
  const int64_t col_blocks = (cols + kThreadsX * kVec - 1) / (kThreadsX * kVec);
  return kernels::small_grid_chunks(rows, col_blocks, kMinChunkRows, kMaxChunks, kRowLanes);
}

__device__ __forceinline__ float load_one(const float* p, int64_t i) {
  return p[i];
}
__device__ __forceinline__ float load_one(const uint16_t* p, int64_t i) {
  return bf16_bits_to_float(p[i]);
}

// V consecutive values of g from element i (V = kVec: 16-byte aligned vector loads).
template <int V>
__device__ __forceinline__ void load_g(const float* g, int64_t i, float (&v)[V]) {
  if constexpr (V == kVec) {
    const float4 a = *reinterpret_cast<const float4*>(g + i);
    const float4 b = *reinterpret_cast<const float4*>(g + i + 4);
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
  } else {
    v[0] = g[i];
  }
}
template <int V>
__device__ __forceinline__ void load_g(const uint16_t* g, int64_t i, float (&v)[V]) {
  if constexpr (V == kVec) {
    const uint4 a = *reinterpret_cast<const uint4*>(g + i);
    const uint32_t w[4] = {a.x, a.y, a.z, a.w};
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      v[2 * j] = bf16x2_low(w[j]);
      v[2 * j + 1] = bf16x2_high(w[j]);
    }
  } else {
    v[0] = bf16_bits_to_float(g[i]);
  }
}

template <int V>
__device__ __forceinline__ void store_bf16(uint16_t* dx, int64_t i, const uint16_t (&o)[V]) {
  if constexpr (V == kVec) {
    uint4 a;
    a.x = bf16x2_pack(o[0], o[1]);
    a.y = bf16x2_pack(o[2], o[3]);
    a.z = bf16x2_pack(o[4], o[5]);
    a.w = bf16x2_pack(o[6], o[7]);
    *reinterpret_cast<uint4*>(dx + i) = a;
  } else {
    dx[i] = o[0];
  }
}

// act'(pre) of V consecutive columns from c0 of row r (ReLU: from the bit mask; with V = kVec,
// c0 % 8 == 0 and the mask's ld % 128 == 0, so the 8 bits are one byte).
template <int V, class AuxT>
__device__ __forceinline__ void derivatives(Activation act, const void* aux, int64_t aux_ld,
                                            int64_t r, int64_t c0, float (&d)[V]) {
  if (act == Activation::relu) {
    const auto* mask = static_cast<const uint8_t*>(aux);
    if constexpr (V == kVec) {
      const uint32_t bits = mask[(r * aux_ld + c0) >> 3];
#pragma unroll
      for (int j = 0; j < V; ++j) d[j] = (bits >> j) & 1u ? 1.0f : 0.0f;
    } else {
      d[0] = kernels::relu_mask_bit(mask, aux_ld, r, c0) ? 1.0f : 0.0f;
    }
  } else if (act == Activation::gelu) {
    const auto* pre = static_cast<const AuxT*>(aux);
#pragma unroll
    for (int j = 0; j < V; ++j)
      d[j] = kasmina::gelu_activation_derivative(load_one(pre, r * aux_ld + c0 + j));
  } else {
#pragma unroll
    for (int j = 0; j < V; ++j) d[j] = 1.0f;
  }
}

// Block: kThreadsX x kRowLanes threads over kThreadsX * V columns and one chunk of rows; each
// thread keeps the fp32 sums of its columns over its rows; the lanes are added in lane order
// into partials[chunk][col] (when partials is not null). g and dx may alias.
template <int V, class GT, class AuxT>
__global__ void __launch_bounds__(kThreadsX* kRowLanes)
    dact_bf16_kernel(Activation act, const GT* g, const void* aux, int64_t aux_ld, uint16_t* dx,
                     int64_t rows, int64_t cols, int64_t chunk_rows, float* partials) {
  __shared__ float tile[kRowLanes][kThreadsX * V + 1];
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t c0 = (static_cast<int64_t>(blockIdx.x) * kThreadsX + tx) * V;
  const int64_t chunk = blockIdx.y;
  const int64_t r0 = chunk * chunk_rows;
  const int64_t r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  float acc[V];
#pragma unroll
  for (int j = 0; j < V; ++j) acc[j] = 0.0f;
  if (c0 < cols) {
#pragma unroll 2
    for (int64_t r = r0 + ty; r < r1; r += kRowLanes) {
      float v[V], d[V];
      load_g<V>(g, r * cols + c0, v);
      derivatives<V, AuxT>(act, aux, aux_ld, r, c0, d);
      uint16_t o[V];
#pragma unroll
      for (int j = 0; j < V; ++j) {
        o[j] = float_to_bf16_bits(v[j] * d[j]);
        acc[j] += bf16_bits_to_float(o[j]);
      }
      store_bf16<V>(dx, r * cols + c0, o);
    }
  }
  if (partials == nullptr) return;  // the same for every thread of the grid
#pragma unroll
  for (int j = 0; j < V; ++j) tile[ty][tx * V + j] = acc[j];
  __syncthreads();
  const int t = ty * kThreadsX + tx;
  for (int col = t; col < kThreadsX * V; col += kThreadsX * kRowLanes) {
    const int64_t c = static_cast<int64_t>(blockIdx.x) * kThreadsX * V + col;
    if (c < cols) {
      float s = 0.0f;
#pragma unroll
      for (int l = 0; l < kRowLanes; ++l) s += tile[l][col];
      partials[chunk * cols + c] = s;
    }
  }
}

template <int V, class GT, class AuxT>
void launch_pass(const DeviceContext& ctx, Activation act, const void* g, const void* aux,
                 int64_t aux_ld, void* dx, int64_t rows, int64_t cols, float* partials) {
  const kernels::ColumnChunks ch = pass_chunks(rows, cols);
  const int64_t cols_per_block = int64_t{kThreadsX} * V;
  const dim3 grid(static_cast<unsigned>((cols + cols_per_block - 1) / cols_per_block),
                  static_cast<unsigned>(ch.chunks));
  launch_pdl(ctx, &dact_bf16_kernel<V, GT, AuxT>, grid, dim3(kThreadsX, kRowLanes),
             "dact_bf16_kernel", act, static_cast<const GT*>(g), aux, aux_ld,
             static_cast<uint16_t*>(dx), rows, cols, ch.chunk_rows, partials);
}

template <int V, class GT>
void launch_by_aux(const DeviceContext& ctx, Activation act, const void* g, const void* aux,
                   int64_t aux_ld, bool bf16_aux, void* dx, int64_t rows, int64_t cols,
                   float* partials) {
  if (bf16_aux)
    return launch_pass<V, GT, uint16_t>(ctx, act, g, aux, aux_ld, dx, rows, cols, partials);
  launch_pass<V, GT, float>(ctx, act, g, aux, aux_ld, dx, rows, cols, partials);
}

template <int V>
void launch_by_g(const DeviceContext& ctx, Activation act, const void* g, bool bf16_g,
                 const void* aux, int64_t aux_ld, bool bf16_aux, void* dx, int64_t rows,
                 int64_t cols, float* partials) {
  if (bf16_g) {
    return launch_by_aux<V, uint16_t>(ctx, act, g, aux, aux_ld, bf16_aux, dx, rows, cols, partials);
  }
  launch_by_aux<V, float>(ctx, act, g, aux, aux_ld, bf16_aux, dx, rows, cols, partials);
}

}  // namespace

int64_t activation_bf16_partials(int64_t rows, int64_t cols) {
  return pass_chunks(rows, cols).chunks * cols;
}

void launch_activation_backward_bf16(const DeviceContext& ctx, Activation act, const void* g,
                                     bool bf16_g, const void* aux, int64_t aux_ld, bool bf16_aux,
                                     void* dx, int64_t rows, int64_t cols, float* partials,
                                     float* dbias) {
  if (cols == 0) return;
  if (rows == 0) {
    if (dbias) KASMINA_CUDA_CHECK(cudaMemsetAsync(dbias, 0, cols * sizeof(float), ctx.stream));
    return;
  }
  KASMINA_CHECK(!dbias || partials, "activation_backward_aux_bf16: partials missing");
  float* parts = dbias ? partials : nullptr;
  const size_t g_bytes = bf16_g ? 2 : 4;
  const bool vec = cols % kVec == 0 && aligned16(g) && aligned16(dx) &&
                   (static_cast<size_t>(cols) * g_bytes) % 16 == 0;
  if (vec) {
    launch_by_g<kVec>(ctx, act, g, bf16_g, aux, aux_ld, bf16_aux, dx, rows, cols, parts);
  } else {
    launch_by_g<1>(ctx, act, g, bf16_g, aux, aux_ld, bf16_aux, dx, rows, cols, parts);
  }
  if (!dbias) return;
  const kernels::ColumnChunks ch = pass_chunks(rows, cols);
  launch_column_finalize(ctx, static_cast<const float*>(partials), ch.chunks, cols, dbias);
}

void activation_backward_aux_bf16(Activation act, const Tensor& g, const Tensor& aux, Tensor& dx,
                                  Tensor* dbias) {
  constexpr const char* op = "activation_backward_aux_bf16";
  const Device dev = g.device();
  check_on_device(op, "g", g, dev);
  const auto [rows, cols] = matrix_dims(op, "g", g);
  const bool bf16_g = g.dtype() == DType::bf16;
  KASMINA_CHECK(g.dtype() == DType::f32 || (bf16_g && act != Activation::gelu),
                std::string(op) + ": g is " + dtype_name(g.dtype()) +
                    ", expected float32 (or bfloat16 for relu and none)");
  check_arg(op, "dx", dx, dev, DType::bf16, {rows, cols});
  if (dbias) check_arg(op, "dbias", *dbias, dev, DType::f32, {cols});
  // The saved state of a layer with a float32 or a bf16 output (GELU: its aux's type).
  const DType aux_type = act == Activation::gelu ? aux.dtype() : DType::f32;
  check_linear_aux(op, act, aux, rows, cols, dev, aux_type);
  DeviceContext& ctx = context(dev);
  float* partials =
      dbias ? static_cast<float*>(scratch(
                  ctx, static_cast<size_t>(activation_bf16_partials(rows, cols)) * sizeof(float)))
            : nullptr;
  launch_activation_backward_bf16(ctx, act, g.raw(), bf16_g,
                                  act == Activation::none ? nullptr : aux.raw(),
                                  linear_aux_ld(act, cols), aux_type == DType::bf16, dx.raw(), rows,
                                  cols, partials, dbias ? dbias->data<float>() : nullptr);
}

}  // namespace kasmina::ops::cuda
