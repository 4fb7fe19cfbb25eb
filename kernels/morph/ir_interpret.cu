// The IR-interpreting kernels (src/ops/cuda/ir_interpret.hpp): the generated seed kernels'
// semantics (ops/blueprint_seed_kernels.cpp, line for line where it matters: which seeds, which
// rows, what is written) with the row functions of ir_interpret.cuh walking the program instead
// of compiled-in code. Block b takes seeds b, b + gridDim.x, ... of its kind with work (every
// thread reads the same state: block-uniform branches); its threads take rows. Reductions are
// fixed-order trees over the block (deterministic). The backward's factor rows are a tile of
// blockDim.x rows in the workspace; thread i adds parameter i's products over the tile's rows in
// row order (two interleaved chains), as the generated kernel.
#include "kernels/morph/ir_interpret.cuh"
#include "morph/blueprint_pool.hpp"
#include "morph/stage.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/cuda/ir_interpret.hpp"

namespace kasmina::ops::cuda {

namespace {

constexpr int kThreads = kIrInterpretThreads;
constexpr int32_t kParams = static_cast<int32_t>(morph::PoolRegion::params);
constexpr int32_t kGrad = static_cast<int32_t>(morph::PoolRegion::grad);

__device__ double block_sum(double v, double* red) {
  const int t = threadIdx.x;
  red[t] = v;
  __syncthreads();
  for (int h = kThreads / 2; h > 0; h /= 2) {
    if (t < h) red[t] += red[t + h];
    __syncthreads();
  }
  const double r = red[0];
  __syncthreads();
  return r;
}

struct Flags {
  int32_t stage, slot, kind;
  float alpha;
  bool masked;
};
__device__ Flags flags_of(const IrSeedArgs& a, int32_t s) {
  return {a.stage[s], a.slot[s], a.blueprint[s], a.alpha[s], a.mask != nullptr && a.mask[s] != 0};
}

__global__ void __launch_bounds__(kThreads)
    ir_interpret_seed_forward_kernel(const IrSeedArgs a, const IrInterpretProgram q) {
  __shared__ double red[kThreads];
  const int t = threadIdx.x;
  const int32_t C = q.chunk;
  float* v = q.ws + (static_cast<int64_t>(blockIdx.x) * kThreads + t) * q.stride;
  float* d = v + 2 * q.scratch;
  for (int32_t s = blockIdx.x; s < a.seeds; s += gridDim.x) {
    const Flags f = flags_of(a, s);
    if (f.kind != a.kind || f.slot < 0) continue;
    const bool blended = morph::stage_is_blended(f.stage) && f.alpha > 0.0f && !f.masked;
    const bool iso = a.collect != 0 && morph::stage_trains_isolated(f.stage);
    if (!blended && !iso) continue;
    const float* p = a.pool + f.slot * a.slot_stride + kParams * a.region;
    const int64_t cs = static_cast<int64_t>(s) * C;
    float iso_sum = 0.0f;  // per thread in f32, over the block in f64 (as the built-in)
    for (int64_t r = t; r < a.B; r += kThreads) {
      const float* xr = a.x + r * a.H + cs;
      ir_interp::row_delta(q.words, p, xr, v, d);
      if (iso)
        for (int32_t c = 0; c < C; ++c) iso_sum += d[c] * d[c];
      if (blended)
        for (int32_t c = 0; c < C; ++c) a.out[r * a.H + cs + c] = xr[c] + f.alpha * d[c];
    }
    if (iso) {
      const double total = block_sum(static_cast<double>(iso_sum), red);
      if (t == 0) a.step_stats[s * 2 + 1] = static_cast<float>(total / (double(a.B) * C));
    }
  }
}

__global__ void __launch_bounds__(kThreads)
    ir_interpret_seed_backward_kernel(const IrSeedArgs a, const IrInterpretProgram q) {
  __shared__ double red[kThreads];
  const int t = threadIdx.x;
  const int32_t C = q.chunk, S = q.scratch;
  float* tile = q.ws + static_cast<int64_t>(blockIdx.x) * kThreads * q.stride;
  float* v = tile + t * q.stride;
  float* gv = v + S;
  float* g = gv + S;
  float* jt = g + C;
  float* F = jt + C;
  const float* F0 = tile + 2 * S + 2 * C;  // thread 0's factor row; thread k's at k * stride
  auto trains_of = [&](const Flags& f) {
    return a.param_grads != 0 && morph::stage_trains(f.stage) && f.slot >= 0;
  };
  if (a.zero_norms && a.param_grads)  // seeds of any kind that do not train: norm 0
    for (int64_t s = static_cast<int64_t>(blockIdx.x) * kThreads + t; s < a.seeds;
         s += static_cast<int64_t>(gridDim.x) * kThreads)
      if (!trains_of(flags_of(a, static_cast<int32_t>(s)))) a.grad_norm[s] = 0.0f;
  for (int32_t s = blockIdx.x; s < a.seeds; s += gridDim.x) {
    const Flags f = flags_of(a, s);
    if (f.kind != a.kind || f.slot < 0) continue;
    const bool blended = a.out != nullptr && morph::stage_is_blended(f.stage) && f.alpha > 0.0f;
    const bool trains = trains_of(f);
    if (!blended && !trains) continue;
    const bool isolated = trains && morph::stage_trains_isolated(f.stage);
    const bool need_dy = !isolated || a.task;
    const int64_t cs = static_cast<int64_t>(s) * C;
    const float* p = a.pool + f.slot * a.slot_stride + kParams * a.region;
    float* grad = a.pool + f.slot * a.slot_stride + kGrad * a.region;
    const float iso_scale = 2.0f / (static_cast<float>(a.B) * static_cast<float>(C));
    double change = 0.0;
    for (int64_t r0 = 0; r0 < a.B; r0 += kThreads) {
      const int64_t rows = a.B - r0 < kThreads ? a.B - r0 : kThreads;
      if (t < rows) {
        const int64_t r = r0 + t;
        const float* xr = a.x + r * a.H + cs;
        const float* dyr = a.dy + r * a.H + cs;
        if (isolated) {
          ir_interp::row_delta(q.words, p, xr, v, jt);
          for (int32_t c = 0; c < C; ++c) {
            g[c] = a.task ? dyr[c] : iso_scale * jt[c];
            if (a.task) change += static_cast<double>(jt[c]) * dyr[c];
          }
        } else {
          for (int32_t c = 0; c < C; ++c) g[c] = f.alpha * dyr[c];
        }
        for (int32_t c = 0; c < C; ++c) jt[c] = 0.0f;
        float* Fr = trains ? F : nullptr;
        if (blended) {
          ir_interp::row_backward(q.words, p, xr, g, jt, Fr, v, gv);
          for (int32_t c = 0; c < C; ++c)
            a.out[r * a.H + cs + c] = (need_dy ? dyr[c] : 0.0f) + jt[c];
        } else {
          ir_interp::row_backward(q.words, p, xr, g, nullptr, Fr, v, gv);
        }
      }
      if (!trains) continue;  // block-uniform
      __syncthreads();
      for (int32_t i = t; i < q.params; i += kThreads) {
        int32_t fa, fb;
        ir_interp::grad_term(q.words, i, &fa, &fb);
        const float* ra = F0 + fa;
        const float* rb = F0 + fb;
        float e = 0.0f, o = 0.0f;  // even and odd rows
        int64_t k = 0;
        for (; k + 1 < rows; k += 2) {
          e += ra[k * q.stride] * rb[k * q.stride];
          o += ra[(k + 1) * q.stride] * rb[(k + 1) * q.stride];
        }
        if (k < rows) e += ra[k * q.stride] * rb[k * q.stride];
        grad[i] = (r0 == 0 ? 0.0f : grad[i]) + (e + o);
      }
      __syncthreads();  // the factor rows are rewritten by the next tile
    }
    if (trains) {
      double sq = 0.0;
      for (int32_t i = t; i < q.params; i += kThreads) sq += static_cast<double>(grad[i]) * grad[i];
      const double total = block_sum(sq, red);
      if (t == 0) a.grad_norm[s] = static_cast<float>(sqrt(total));
      if (isolated && a.task) {
        const double c = block_sum(change, red);
        if (t == 0) a.step_stats[s * 2 + 1] = static_cast<float>(c);
      }
    }
  }
}

__global__ void __launch_bounds__(kThreads)
    ir_interpret_rows_delta_kernel(const IrInterpretProgram q, int64_t rows, const float* x,
                                   int64_t ldx, const float* p, float* delta, int64_t ldd) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (r >= rows) return;
  ir_interp::row_delta(q.words, p, x + r * ldx, q.ws + r * q.stride, delta + r * ldd);
}

__global__ void __launch_bounds__(kThreads)
    ir_interpret_rows_backward_kernel(const IrInterpretProgram q, int64_t rows, const float* x,
                                      int64_t ldx, const float* g, int64_t ldg, const float* p,
                                      float* dx, int64_t lddx, float* F, int64_t ldf) {
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (r >= rows) return;
  float* v = q.ws + r * q.stride;
  ir_interp::row_backward(q.words, p, x + r * ldx, g + r * ldg, dx ? dx + r * lddx : nullptr,
                          F ? F + r * ldf : nullptr, v, v + q.scratch);
}

unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>((rows + kThreads - 1) / kThreads);
}

}  // namespace

void launch_ir_interpret_seed_forward(const IrSeedArgs& a, const IrInterpretProgram& q,
                                      int32_t grid, cudaStream_t stream) {
  ir_interpret_seed_forward_kernel<<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(a, q);
  KASMINA_LAUNCH_CHECK("ir_interpret_seed_forward_kernel");
}

void launch_ir_interpret_seed_backward(const IrSeedArgs& a, const IrInterpretProgram& q,
                                       int32_t grid, cudaStream_t stream) {
  ir_interpret_seed_backward_kernel<<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(a, q);
  KASMINA_LAUNCH_CHECK("ir_interpret_seed_backward_kernel");
}

void launch_ir_interpret_rows_delta(const IrInterpretProgram& q, int64_t rows, const float* x,
                                    int64_t ldx, const float* p, float* delta, int64_t ldd,
                                    cudaStream_t stream) {
  if (rows <= 0) return;
  ir_interpret_rows_delta_kernel<<<row_blocks(rows), kThreads, 0, stream>>>(q, rows, x, ldx, p,
                                                                            delta, ldd);
  KASMINA_LAUNCH_CHECK("ir_interpret_rows_delta_kernel");
}

void launch_ir_interpret_rows_backward(const IrInterpretProgram& q, int64_t rows, const float* x,
                                       int64_t ldx, const float* g, int64_t ldg, const float* p,
                                       float* dx, int64_t lddx, float* F, int64_t ldf,
                                       cudaStream_t stream) {
  if (rows <= 0) return;
  ir_interpret_rows_backward_kernel<<<row_blocks(rows), kThreads, 0, stream>>>(
      q, rows, x, ldx, g, ldg, p, dx, lddx, F, ldf);
  KASMINA_LAUNCH_CHECK("ir_interpret_rows_backward_kernel");
}

}  // namespace kasmina::ops::cuda
