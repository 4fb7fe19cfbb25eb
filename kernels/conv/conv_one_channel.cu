// Direct convolutions of a one-channel image (an image stem: Cin = 1, groups = 1, a square
// kernel of 1, 3 or 5) on float32 maps (namespace kasmina::ops::cuda). cuDNN runs them through
// its general kernels plus layout transforms (the H200: 22 us forward, 75 us weight gradient and
// 19 us of transforms for the reference ResNet's 28x28x1 -> 32 stem at batch 128, measured with
// Nsight Compute), while both directions are a pass over the output map: k*k input values and one
// output-gradient value per output element.
//
// On by default since 2026-12-05 (ops::direct_stem_kernels): the first version, with 64-bit
// divisions per element, measured 16.8 us forward and 63.5 us weight gradient on the H200, no
// faster than cuDNN; this one (32-bit index arithmetic per row, ops::OutputWalk in the weight
// gradient) measured 15.3 us forward (cuDNN TF32 25.9 us) and 42.0 us weight gradient (cuDNN
// 122 us) on an H100 (bench/RESULTS.md, nineteenth session).
//
// Forward: a block per output row, a thread per (output position, V consecutive output
// channels), the weight in shared memory as [tap][Cout], the k*k taps summed in order (i, j) in
// fp32 FMA, then the bias.
// Weight gradient (and bias gradient): dw[o, t] = Σ_r dy[r, o] x_t(r), db[o] = Σ_r dy[r, o] over
// the output positions r. The positions are cut into fixed chunks, one block per chunk; a thread
// keeps the k*k + 1 sums of one channel over its row lane, the lanes are added in lane order, and
// column_reduce.cuh's finalize kernel adds each sum's chunk partials in a fixed order (a second
// launch, a third for the bias gradient): bitwise reproducible, no atomics.
// The CPU twin is the convolution's own (src/ops/cpu/conv2d.cpp: im2col + GEMM); the sums differ
// only in their order.
#include <type_traits>

#include "kernels/column_reduce.cuh"
#include "ops/conv_geometry.hpp"
#include "ops/conv_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/conv_one_channel.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/output_walk.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxWeights = 8192;    // Cout * k * k floats of the forward's shared weight
constexpr int64_t kMaxChunks = 264;  // two blocks per SM of the H200
constexpr int64_t kMinChunkRows = 32;
constexpr int64_t kMaxRowBlocks = 1 << 20;                // the forward's grid (a loop beyond)
constexpr int64_t kMaxElements = (int64_t{1} << 31) - 1;  // 32-bit element indices

// 32-bit sizes (one_channel_conv admits only maps whose element counts fit): the index
// arithmetic is a few integer divisions per output row or row lane, not per element.
struct Geometry {
  int n, h, w, cout, ho, wo;
  int stride, padding;
};

Geometry geometry_of(const ConvGeometry& g) {
  return {static_cast<int>(g.n),      static_cast<int>(g.h),      static_cast<int>(g.w),
          static_cast<int>(g.cout),   static_cast<int>(g.ho),     static_cast<int>(g.wo),
          static_cast<int>(g.stride), static_cast<int>(g.padding)};
}

// The K*K input values under output position (b, oh, ow) (zero outside the image).
template <int K>
__device__ __forceinline__ void load_taps(const float* __restrict__ x, const Geometry& g, int b,
                                          int oh, int ow, float* taps) {
  const int y0 = oh * g.stride - g.padding, x0 = ow * g.stride - g.padding;
  const float* img = x + static_cast<int64_t>(b) * g.h * g.w;
#pragma unroll
  for (int i = 0; i < K; ++i) {
#pragma unroll
    for (int j = 0; j < K; ++j) {
      const int iy = y0 + i, ix = x0 + j;
      const bool in = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
      taps[i * K + j] = in ? __ldg(img + iy * g.w + ix) : 0.0f;
    }
  }
}

// A block per output row (b, oh) (grid-stride over the rows), its threads over (ow, V channels).
template <int K, int V>
__global__ void __launch_bounds__(kThreads)
    conv1c_forward_kernel(const float* __restrict__ x, const float* __restrict__ w,
                          const float* __restrict__ bias, Geometry g, float* __restrict__ y) {
  __shared__ float sw[kMaxWeights];  // [tap][Cout]
  const int cout = g.cout;
  for (int e = threadIdx.x; e < cout * K * K; e += blockDim.x) {
    const int o = e / (K * K), tap = e % (K * K);
    sw[tap * cout + o] = w[e];
  }
  __syncthreads();
  const int groups = cout / V, per_row = g.wo * groups;
  for (int row = blockIdx.x; row < g.n * g.ho; row += gridDim.x) {
    const int b = row / g.ho, oh = row % g.ho;
    for (int it = threadIdx.x; it < per_row; it += blockDim.x) {
      const int ow = it / groups, o = (it % groups) * V;
      float taps[K * K];
      load_taps<K>(x, g, b, oh, ow, taps);
      float acc[V];
#pragma unroll
      for (int v = 0; v < V; ++v) acc[v] = 0.0f;
#pragma unroll
      for (int tap = 0; tap < K * K; ++tap) {
#pragma unroll
        for (int v = 0; v < V; ++v) acc[v] = fmaf(taps[tap], sw[tap * cout + o + v], acc[v]);
      }
      if (bias) {
#pragma unroll
        for (int v = 0; v < V; ++v) acc[v] += bias[o + v];
      }
      float* out = y + (static_cast<int64_t>(row) * g.wo + ow) * cout + o;
      if constexpr (V == 4) {
        *reinterpret_cast<float4*>(out) = make_float4(acc[0], acc[1], acc[2], acc[3]);
      } else {
#pragma unroll
        for (int v = 0; v < V; ++v) out[v] = acc[v];
      }
    }
  }
}

// The chunk partials in column_reduce.cuh's layout ([chunk][column]): weight[chunk][o * K*K + t]
// and bias[chunk][o] (Σ dy). A thread walks its row lane r = r0 + lane, r0 + lane + nlanes, ...
// (ops::OutputWalk: (b, oh, ow) by additions).
template <int K>
__global__ void __launch_bounds__(kThreads)
    conv1c_wgrad_partials(const float* __restrict__ dy, const float* __restrict__ x, Geometry g,
                          int chunk_rows, float* __restrict__ weight, float* __restrict__ bias) {
  constexpr int T = K * K + 1;
  __shared__ float lanes[kThreads * T];  // [lane][channel of the pass][t]
  const int rows = g.n * g.ho * g.wo;
  const int r0 = blockIdx.x * chunk_rows;
  const int r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;
  const int cout = g.cout;
  const int cp = cout < kThreads ? cout : kThreads;  // channels per pass
  const int nlanes = kThreads / cp;
  const int c = threadIdx.x % cp, lane = threadIdx.x / cp;
  for (int o0 = 0; o0 < cout; o0 += cp) {
    const int o = o0 + c;
    if (lane < nlanes && o < cout) {
      float acc[T];
#pragma unroll
      for (int t = 0; t < T; ++t) acc[t] = 0.0f;
      OutputWalk at(r0 + lane, nlanes, g.ho, g.wo);
      for (int r = r0 + lane; r < r1; r += nlanes, at.advance()) {
        const float gv = dy[static_cast<int64_t>(r) * cout + o];
        float taps[K * K];
        load_taps<K>(x, g, at.b, at.oh, at.ow, taps);
#pragma unroll
        for (int t = 0; t < K * K; ++t) acc[t] = fmaf(gv, taps[t], acc[t]);
        acc[K * K] += gv;
      }
#pragma unroll
      for (int t = 0; t < T; ++t) lanes[(lane * cp + c) * T + t] = acc[t];
    }
    __syncthreads();
    // The lanes of each (channel, t) in lane order, one thread per (channel, t).
    for (int e = threadIdx.x; e < cp * T; e += blockDim.x) {
      const int ch = e / T, t = e % T;
      if (o0 + ch >= cout) continue;
      float sum = 0.0f;
      for (int l = 0; l < nlanes; ++l) sum += lanes[(l * cp + ch) * T + t];
      if (t < K * K) {
        weight[(static_cast<int64_t>(blockIdx.x) * cout + o0 + ch) * (K * K) + t] = sum;
      } else {
        bias[static_cast<int64_t>(blockIdx.x) * cout + o0 + ch] = sum;
      }
    }
    __syncthreads();
  }
}

template <int K>
void forward_k(DeviceContext& ctx, const Geometry& g, const float* x, const float* w,
               const float* bias, float* y) {
  const bool vec = g.cout % 4 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0;
  const int64_t out_rows = static_cast<int64_t>(g.n) * g.ho;
  const auto blocks = static_cast<unsigned>(out_rows < kMaxRowBlocks ? out_rows : kMaxRowBlocks);
  if (vec) {
    conv1c_forward_kernel<K, 4><<<blocks, kThreads, 0, ctx.stream>>>(x, w, bias, g, y);
  } else {
    conv1c_forward_kernel<K, 1><<<blocks, kThreads, 0, ctx.stream>>>(x, w, bias, g, y);
  }
  KASMINA_LAUNCH_CHECK("conv1c_forward_kernel");
}

template <int K>
void backward_weight_k(DeviceContext& ctx, const Geometry& g, const float* dy, const float* x,
                       float* dw, float* db) {
  constexpr int T = K * K + 1;
  const int64_t rows = static_cast<int64_t>(g.n) * g.ho * g.wo;
  int64_t chunk_rows = (rows + kMaxChunks - 1) / kMaxChunks;
  if (chunk_rows < kMinChunkRows) chunk_rows = kMinChunkRows;
  const int64_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  auto* partials =
      static_cast<float*>(scratch(ctx, static_cast<size_t>(chunks * g.cout * T) * sizeof(float)));
  float* bias_partials = partials + chunks * g.cout * K * K;
  conv1c_wgrad_partials<K><<<static_cast<unsigned>(chunks), kThreads, 0, ctx.stream>>>(
      dy, x, g, static_cast<int>(chunk_rows), partials, bias_partials);
  KASMINA_LAUNCH_CHECK("conv1c_wgrad_partials");
  // The chunk partials of each column added in a fixed order (column_reduce.cuh's second stage).
  launch_column_finalize(ctx, partials, chunks, static_cast<int64_t>(g.cout) * K * K, dw);
  if (db) launch_column_finalize(ctx, bias_partials, chunks, g.cout, db);
}

// f(std::integral_constant<int, K>) for the kernel size k (1, 3 or 5; one_channel_conv).
template <class F>
void by_kernel_size(int64_t k, F f) {
  if (k == 1) {
    f(std::integral_constant<int, 1>{});
  } else if (k == 3) {
    f(std::integral_constant<int, 3>{});
  } else {
    f(std::integral_constant<int, 5>{});
  }
}

}  // namespace

bool one_channel_conv(const ConvGeometry& g) {
  return direct_stem_kernels() && g.cin == 1 && g.groups == 1 &&
         (g.k == 1 || g.k == 3 || g.k == 5) && g.cout * g.k * g.k <= kMaxWeights &&
         g.n * g.h * g.w <= kMaxElements && g.n * g.ho * g.wo * g.cout <= kMaxElements;
}

void launch_conv1c_forward(DeviceContext& ctx, const ConvGeometry& g, const float* x,
                           const float* w, const float* bias, float* y) {
  by_kernel_size(g.k, [&](auto k) { forward_k<k()>(ctx, geometry_of(g), x, w, bias, y); });
}

void launch_conv1c_backward_weight(DeviceContext& ctx, const ConvGeometry& g, const float* dy,
                                   const float* x, float* dw, float* db) {
  by_kernel_size(g.k, [&](auto k) { backward_weight_k<k()>(ctx, geometry_of(g), dy, x, dw, db); });
}

}  // namespace kasmina::ops::cuda
