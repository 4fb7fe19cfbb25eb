// The seed kernels of a generated blueprint: what the fused morph kernels do for a built-in
// (kernels/morph/morph_forward.cu, morph_backward.cu), for the seeds of one IR blueprint kind,
// launched after the fused op on the same stream (the fused kernels give such a seed delta 0 and
// no gradient; these kernels then own its chunk of out / dx, its isolated loss, its slot's
// gradient and its gradient norm). The arithmetic of each seed follows the CPU twins
// (src/ops/morph/morph_forward_cpu.cpp, morph_backward_cpu.cpp) line for line.
//
// A block takes seeds blockIdx.x, blockIdx.x + gridDim.x, ...; its threads take rows (thread t:
// rows t, t + T, ...). Dynamic shared memory: T doubles (reductions, a fixed-order tree:
// deterministic), the parameters when they are few (staged), and in the backward a tile of T
// factor rows. The parameter gradient is the plan's blocks of factor products: thread i adds
// parameter i's products over a tile's rows, in row order, into the slot's gradient region.
#include <cstddef>

#include "morph/blueprint_pool.hpp"
#include "morph/stage.hpp"
#include "ops/blueprint_codegen.hpp"

namespace kasmina::ops {

namespace {

constexpr int32_t kStagedParamsMax = 4096;  // parameters staged in shared memory up to this

std::string I(int64_t v) {
  return std::to_string(v);
}

bool staged(const ir::Plan& plan) {
  return plan.param_count <= kStagedParamsMax;
}
int64_t staged_floats(const ir::Plan& plan) {
  return staged(plan) ? (plan.param_count + 1) / 2 * 2 : 0;
}
int32_t factor_stride(const ir::Plan& plan) {
  return plan.factor_count | 1;  // odd: row writes spread over the banks
}

uint32_t stage_mask(bool (*pred)(int32_t)) {
  uint32_t m = 0;
  for (int32_t s = 0; s < morph::kStageCount; ++s) m |= pred(s) ? 1u << s : 0u;
  return m;
}

// The struct, with its size checked against IrSeedArgs (the same fields in the same order under
// the same ABI; the host checks the offsets below).
static_assert(offsetof(IrSeedArgs, B) == 11 * sizeof(void*) &&
                  offsetof(IrSeedArgs, seeds) == 11 * sizeof(void*) + 4 * sizeof(int64_t) &&
                  sizeof(IrSeedArgs) == 11 * sizeof(void*) + 4 * sizeof(int64_t) + 24,
              "IrSeedArgs: pointers, then 64-bit integers, then 32-bit integers, no padding");
std::string args_struct() {
  std::string s =
      "struct KsSeedArgs {\n"
      "  const float* x; const float* dy; float* out;\n"
      "  const int* stage; const int* blueprint; const int* slot; const float* alpha;\n"
      "  const unsigned char* mask; float* pool; float* step_stats; float* grad_norm;\n"
      "  long long B, H, slot_stride, region;\n"
      "  int seeds, kind, collect, param_grads, task, pad;\n};\n";
  s += "static_assert(sizeof(KsSeedArgs) == " + I(sizeof(IrSeedArgs)) + ", \"KsSeedArgs\");\n";
  return s;
}

// The factor pair of parameter i (the plan's gradient blocks, morph::grad_term_of).
std::string grad_term(const ir::Plan& plan) {
  std::string s = "__device__ __forceinline__ void ks_grad_term(int i, int* a, int* b) {\n";
  for (const morph::GradBlock& b : plan.blocks) {
    const std::string ja = b.diag ? "i" : "i / " + I(b.nb), jb = b.diag ? "i" : "i % " + I(b.nb);
    s += "  if (i < " + I(b.size()) + ") { *a = " + I(b.a0) + " + " + ja + "; *b = " + I(b.b0) +
         " + " + jb + "; return; }\n  i -= " + I(b.size()) + ";\n";
  }
  return s + "  *a = 0; *b = 0;\n}\n";
}

constexpr const char* kCommon = R"(
// The block's sum of v (a fixed-order tree over blockDim.x, a power of two).
__device__ double ks_block_sum(double* red, double v) {
  const int t = threadIdx.x;
  red[t] = v;
  __syncthreads();
  for (int h = blockDim.x / 2; h > 0; h /= 2) {
    if (t < h) red[t] += red[t + h];
    __syncthreads();
  }
  const double r = red[0];
  __syncthreads();
  return r;
}
__device__ __forceinline__ bool ks_in(unsigned mask, int stage) {
  return stage >= 0 && stage < 32 && ((mask >> stage) & 1u) != 0u;
}
// The seed's parameters: staged in shared memory (sp) when they are few, else read in place.
__device__ __forceinline__ const float* ks_params(const KsSeedArgs& a, int slot, float* sp) {
  const float* p = a.pool + slot * a.slot_stride + KS_PARAMS * a.region;
  if (!KS_STAGED) return p;
  for (int i = threadIdx.x; i < KS_P; i += blockDim.x) sp[i] = p[i];
  __syncthreads();
  return sp;
}
// Seed s's state when it is of this kernel's kind.
struct KsSeed {
  int stage, slot;
  float alpha;
};
__device__ __forceinline__ bool ks_seed(const KsSeedArgs& a, int s, KsSeed* q) {
  if (a.blueprint[s] != a.kind) return false;
  q->stage = a.stage[s];
  q->slot = a.slot[s];
  q->alpha = a.alpha[s];
  return true;
}
// The shared memory: blockDim.x doubles for the reductions, then the staged parameters (KS_PS
// floats), then the backward's factor tile.
extern __shared__ double ks_smem[];
__device__ __forceinline__ float* ks_staged() {
  return reinterpret_cast<float*>(ks_smem + blockDim.x);
}
)";

constexpr const char* kForward = R"(
extern "C" __global__ void kasmina_ir_seed_forward(const KsSeedArgs a) {
  const int t = threadIdx.x;
  for (int s = blockIdx.x; s < a.seeds; s += gridDim.x) {
    KsSeed q;
    if (!ks_seed(a, s, &q)) continue;
    const float alpha = q.alpha;
    const bool blended =
        ks_in(KS_BLENDED, q.stage) && alpha > 0.0f && !(a.mask && a.mask[s] != 0);
    const bool iso = a.collect != 0 && ks_in(KS_ISOLATED, q.stage);
    if (!(blended || iso) || q.slot < 0) continue;
    const float* p = ks_params(a, q.slot, ks_staged());
    double iso_sum = 0.0;
    for (long long r = t; r < a.B; r += blockDim.x) {
      const long long off = r * a.H + (long long)s * KS_C;
      const float* xr = a.x + off;
      float d[KS_C];
      ks_row_delta(xr, p, d);
      if (blended)
        for (int c = 0; c < KS_C; ++c) a.out[off + c] = xr[c] + alpha * d[c];
      if (iso)
        for (int c = 0; c < KS_C; ++c) iso_sum += (double)d[c] * d[c];
    }
    if (iso) {
      const double total = ks_block_sum(ks_smem, iso_sum);
      if (t == 0) a.step_stats[s * 2 + 1] = (float)(total / ((double)a.B * KS_C));
    }
    __syncthreads();
  }
}
)";

constexpr const char* kBackward = R"(
extern "C" __global__ void kasmina_ir_seed_backward(const KsSeedArgs a) {
  float* fac = ks_staged() + KS_PS;
  const int t = threadIdx.x, T = blockDim.x;
  for (int s = blockIdx.x; s < a.seeds; s += gridDim.x) {
    KsSeed q;
    if (!ks_seed(a, s, &q)) continue;
    const int slot = q.slot;
    const float alpha = q.alpha;
    const bool blended = a.out != nullptr && ks_in(KS_BLENDED, q.stage) && alpha > 0.0f;
    const bool trains = a.param_grads != 0 && ks_in(KS_TRAINS, q.stage) && slot >= 0;
    const bool isolated = trains && ks_in(KS_ISOLATED, q.stage);
    if (!(blended || trains) || slot < 0) continue;
    const float* p = ks_params(a, slot, ks_staged());
    float* grad = a.pool + slot * a.slot_stride + KS_GRAD * a.region;
    const float iso_scale = 2.0f / ((float)a.B * (float)KS_C);
    double change = 0.0;
    for (long long r0 = 0; r0 < a.B; r0 += T) {
      const long long rows = a.B - r0 < T ? a.B - r0 : T;
      if (t < rows) {
        const long long off = (r0 + t) * a.H + (long long)s * KS_C;
        const float* xr = a.x + off;
        const float* dyr = a.dy + off;
        float g[KS_C], jt[KS_C];
        if (isolated) {
          float d[KS_C];
          ks_row_delta(xr, p, d);
          for (int c = 0; c < KS_C; ++c) {
            g[c] = a.task ? dyr[c] : iso_scale * d[c];
            if (a.task) change += (double)d[c] * dyr[c];
          }
        } else {
          for (int c = 0; c < KS_C; ++c) g[c] = alpha * dyr[c];
        }
        for (int c = 0; c < KS_C; ++c) jt[c] = 0.0f;
        ks_row_backward(xr, g, p, blended ? jt : nullptr, trains ? fac + t * KS_FS : nullptr);
        if (blended)
          for (int c = 0; c < KS_C; ++c) a.out[off + c] = dyr[c] + jt[c];
      }
      if (!trains) continue;
      __syncthreads();
      for (int i = t; i < KS_P; i += T) {
        int fa, fb;
        ks_grad_term(i, &fa, &fb);
        float e = 0.0f;
        for (long long k = 0; k < rows; ++k) e += fac[k * KS_FS + fa] * fac[k * KS_FS + fb];
        grad[i] = (r0 == 0 ? 0.0f : grad[i]) + e;
      }
      __syncthreads();
    }
    if (trains) {
      double sq = 0.0;
      for (int i = t; i < KS_P; i += T) sq += (double)grad[i] * grad[i];
      const double total = ks_block_sum(ks_smem, sq);
      if (t == 0) a.grad_norm[s] = (float)sqrt(total);
      if (isolated && a.task) {
        const double c = ks_block_sum(ks_smem, change);
        if (t == 0) a.step_stats[s * 2 + 1] = (float)c;
      }
    }
    __syncthreads();
  }
}
)";

}  // namespace

int64_t seed_kernel_smem(const ir::Plan& plan, bool backward, int32_t threads) {
  int64_t bytes = 8 * int64_t{threads} + 4 * staged_floats(plan);
  if (backward) bytes += 4 * int64_t{threads} * factor_stride(plan);
  return bytes;
}

std::string seed_kernels_source(const ir::Plan& plan) {
  std::string s = "// The seed kernels (blueprint_seed_kernels.cpp).\n";
  s += "#define KS_C " + I(plan.shape.chunk) + "\n#define KS_P " + I(plan.param_count) +
       "\n#define KS_FS " + I(factor_stride(plan)) + "\n#define KS_STAGED " +
       I(staged(plan) ? 1 : 0) + "\n#define KS_PS " + I(staged_floats(plan)) +
       "\n#define KS_PARAMS " + I(static_cast<int32_t>(morph::PoolRegion::params)) +
       "\n#define KS_GRAD " + I(static_cast<int32_t>(morph::PoolRegion::grad)) +
       "\n#define KS_BLENDED " + I(stage_mask(&morph::stage_is_blended)) + "u\n#define KS_TRAINS " +
       I(stage_mask(&morph::stage_trains)) + "u\n#define KS_ISOLATED " +
       I(stage_mask(&morph::stage_trains_isolated)) + "u\n";
  s += args_struct() + grad_term(plan) + kCommon + kForward + kBackward;
  return s;
}

}  // namespace kasmina::ops
