// The IR-interpreting seed kernels' bodies (ir_interpret.cu launches them), KASMINA_HD so that a
// host test runs them as blocks of one thread (tests/morph/test_ir_seed_kernels.cpp) against the
// CPU twins, as it runs the generated seed kernels. They do for the seeds of kind a.kind what the
// generated seed kernels do (ops/blueprint_seed_kernels.cpp): block b of `grid` takes seeds b,
// b + grid, ... of its kind with work (every thread reads the same state: block-uniform
// branches), its T threads take rows; reductions are fixed-order trees over the block
// (deterministic); the backward's factor rows are a tile of T rows in the workspace and thread i
// adds parameter i's products over the tile's rows in row order (two interleaved chains).
#pragma once
#include <math.h>

#include <cstdint>

#include "core/hd.hpp"
#include "kernels/morph/ir_interpret.cuh"
#include "morph/blueprint_pool.hpp"
#include "morph/stage.hpp"
#include "ops/blueprint_codegen.hpp"

#if defined(__CUDA_ARCH__)
#define KASMINA_IR_SYNC() __syncthreads()
#else
#define KASMINA_IR_SYNC() ((void)0)  // the host runs blocks of one thread
#endif

namespace kasmina::ir_interp {

// A program on the device and the workspace of a launch (stride floats per thread).
struct Program {
  const int32_t* words = nullptr;
  float* ws = nullptr;
  int64_t stride = 0;
  int32_t chunk = 0, scratch = 0, params = 0, factors = 0;
};

// Where a thread is: block b of grid, thread t of T (a power of two).
struct Place {
  int32_t b, grid, t, T;
};

// The block's sum of v over red[T] (a fixed-order tree).
KASMINA_HD double block_sum(double v, double* red, const Place& at) {
  red[at.t] = v;
  KASMINA_IR_SYNC();
  for (int32_t h = at.T / 2; h > 0; h /= 2) {
    if (at.t < h) red[at.t] += red[at.t + h];
    KASMINA_IR_SYNC();
  }
  const double r = red[0];
  KASMINA_IR_SYNC();
  return r;
}

struct SeedFlags {
  int32_t stage, slot, kind;
  float alpha;
  bool masked;
};
KASMINA_HD SeedFlags flags_of(const ops::IrSeedArgs& a, int32_t s) {
  return {a.stage[s], a.slot[s], a.blueprint[s], a.alpha[s], a.mask != nullptr && a.mask[s] != 0};
}

inline constexpr int32_t kParamsRegion = static_cast<int32_t>(morph::PoolRegion::params);
inline constexpr int32_t kGradRegion = static_cast<int32_t>(morph::PoolRegion::grad);

KASMINA_HD void seed_forward(const ops::IrSeedArgs& a, const Program& q, const Place& at,
                             double* red) {
  const int32_t C = q.chunk, t = at.t, T = at.T;
  float* v = q.ws + (static_cast<int64_t>(at.b) * T + t) * q.stride;
  float* d = v + 2 * q.scratch;
  for (int32_t s = at.b; s < a.seeds; s += at.grid) {
    const SeedFlags f = flags_of(a, s);
    if (f.kind != a.kind || f.slot < 0) continue;
    const bool blended = morph::stage_is_blended(f.stage) && f.alpha > 0.0f && !f.masked;
    const bool iso = a.collect != 0 && morph::stage_trains_isolated(f.stage);
    if (!blended && !iso) continue;
    const float* p = a.pool + f.slot * a.slot_stride + kParamsRegion * a.region;
    const int64_t cs = static_cast<int64_t>(s) * C;
    float iso_sum = 0.0f;  // per thread in f32, over the block in f64 (as the built-in)
    for (int64_t r = t; r < a.B; r += T) {
      const float* xr = a.x + r * a.H + cs;
      row_delta(q.words, p, xr, v, d);
      if (iso)
        for (int32_t c = 0; c < C; ++c) iso_sum += d[c] * d[c];
      if (blended)
        for (int32_t c = 0; c < C; ++c) a.out[r * a.H + cs + c] = xr[c] + f.alpha * d[c];
    }
    if (iso) {
      const double total = block_sum(static_cast<double>(iso_sum), red, at);
      if (t == 0) a.step_stats[s * 2 + 1] = static_cast<float>(total / (double(a.B) * C));
    }
  }
}

KASMINA_HD void seed_backward(const ops::IrSeedArgs& a, const Program& q, const Place& at,
                              double* red) {
  const int32_t C = q.chunk, S = q.scratch, t = at.t, T = at.T;
  float* tile = q.ws + static_cast<int64_t>(at.b) * T * q.stride;
  float* v = tile + t * q.stride;
  float* gv = v + S;
  float* g = gv + S;
  float* jt = g + C;
  float* F = jt + C;
  const float* F0 = tile + 2 * S + 2 * C;  // thread 0's factor row; thread k's at k * stride
  auto trains_of = [&](const SeedFlags& f) {
    return a.param_grads != 0 && morph::stage_trains(f.stage) && f.slot >= 0;
  };
  if (a.zero_norms && a.param_grads)  // seeds of any kind that do not train: norm 0
    for (int64_t s = static_cast<int64_t>(at.b) * T + t; s < a.seeds;
         s += static_cast<int64_t>(at.grid) * T)
      if (!trains_of(flags_of(a, static_cast<int32_t>(s)))) a.grad_norm[s] = 0.0f;
  for (int32_t s = at.b; s < a.seeds; s += at.grid) {
    const SeedFlags f = flags_of(a, s);
    if (f.kind != a.kind || f.slot < 0) continue;
    const bool blended = a.out != nullptr && morph::stage_is_blended(f.stage) && f.alpha > 0.0f;
    const bool trains = trains_of(f);
    if (!blended && !trains) continue;
    const bool isolated = trains && morph::stage_trains_isolated(f.stage);
    const bool need_dy = !isolated || a.task;
    const int64_t cs = static_cast<int64_t>(s) * C;
    const float* p = a.pool + f.slot * a.slot_stride + kParamsRegion * a.region;
    float* grad = a.pool + f.slot * a.slot_stride + kGradRegion * a.region;
    const float iso_scale = 2.0f / (static_cast<float>(a.B) * static_cast<float>(C));
    double change = 0.0;
    for (int64_t r0 = 0; r0 < a.B; r0 += T) {
      const int64_t rows = a.B - r0 < T ? a.B - r0 : T;
      if (t < rows) {
        const int64_t r = r0 + t;
        const float* xr = a.x + r * a.H + cs;
        const float* dyr = a.dy + r * a.H + cs;
        if (isolated) {
          row_delta(q.words, p, xr, v, jt);
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
          row_backward(q.words, p, xr, g, jt, Fr, v, gv);
          for (int32_t c = 0; c < C; ++c)
            a.out[r * a.H + cs + c] = (need_dy ? dyr[c] : 0.0f) + jt[c];
        } else {
          row_backward(q.words, p, xr, g, nullptr, Fr, v, gv);
        }
      }
      if (!trains) continue;  // block-uniform
      KASMINA_IR_SYNC();
      for (int32_t i = t; i < q.params; i += T) {
        int32_t fa, fb;
        grad_term(q.words, i, &fa, &fb);
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
      KASMINA_IR_SYNC();  // the factor rows are rewritten by the next tile
    }
    if (trains) {
      double sq = 0.0;
      for (int32_t i = t; i < q.params; i += T) sq += static_cast<double>(grad[i]) * grad[i];
      const double total = block_sum(sq, red, at);
      if (t == 0) a.grad_norm[s] = static_cast<float>(sqrt(total));
      if (isolated && a.task) {
        const double c = block_sum(change, red, at);
        if (t == 0) a.step_stats[s * 2 + 1] = static_cast<float>(c);
      }
    }
  }
}

}  // namespace kasmina::ir_interp
