// The seed kernels of a generated blueprint: the fused morph kernels' seed-kernel template
// (kernels/morph/morph_forward.cu, morph_backward.cu) with the blueprint's row functions plugged
// in, for the seeds of one IR blueprint kind. A layer launches them where it launches the
// built-in seed kernels (one pass over the data, beside the streaming copy): the forward as a
// programmatic dependent of the copy (out = x + alpha * delta(x) of its blended seeds, the
// isolated loss of its TRAINING seeds), the backward before the copy (dx of its blended seeds,
// its slots' gradients and gradient norms, the task_gradient measurement). The copy skips every
// blended chunk and the fused seed kernels skip every kind outside their table, so no two
// kernels write the same element. The arithmetic of each seed follows the CPU twins
// (src/ops/morph/morph_forward_cpu.cpp, morph_backward_cpu.cpp) line for line.
//
// As in the built-in template: block b takes the pool slots b, b + gridDim.x, ... and the seed
// that holds each, when it is of the kernel's kind and has work; its threads take rows
// (forward: KS_ROWS rows per thread per pass, all loaded before any is computed, the first
// pass's loads in flight while the parameters are staged; 16-byte loads and stores when the
// chunk width and the pointers allow). Each kernel lets its programmatic dependent start at once
// and its first block waits for its predecessor's grid at the end (both only on sm_90 and later),
// so the chain of launches completes in order. Dynamic shared memory: T doubles (reductions, a
// fixed-order tree: deterministic), the parameters when they are few (staged), and in the
// backward a tile of T factor rows. The parameter gradient is the plan's blocks of factor products:
// thread i adds parameter i's products over a tile's rows, in row order (two interleaved chains),
// into the slot's gradient region.
#include <cstddef>

#include "core/sha256.hpp"
#include "morph/blueprint_pool.hpp"
#include "morph/stage.hpp"
#include "ops/blueprint_codegen.hpp"

namespace kasmina::ops {

namespace {

constexpr int32_t kStagedParamsMax = 4096;  // parameters staged in shared memory up to this

bool staged(const ir::Plan& plan) {
  return plan.param_count <= kStagedParamsMax;
}
int64_t staged_floats(const ir::Plan& plan) {
  return staged(plan) ? (plan.param_count + 1) / 2 * 2 : 0;
}
int32_t factor_stride(const ir::Plan& plan) {
  return plan.factor_count | 1;  // odd: row writes spread over the banks
}
// Rows a forward thread loads before computing them (the built-in's kRows).
int32_t forward_rows(int32_t chunk) {
  return chunk <= 16 ? 2 : 1;
}

uint32_t stage_mask(bool (*pred)(int32_t)) {
  uint32_t m = 0;
  for (int32_t s = 0; s < morph::kStageCount; ++s) m |= pred(s) ? 1u << s : 0u;
  return m;
}

// The struct, with its size checked against IrSeedArgs (the same fields in the same order under
// the same ABI; the host checks the offsets below).
static_assert(offsetof(IrSeedArgs, B) == 12 * sizeof(void*) &&
                  offsetof(IrSeedArgs, seeds) == 12 * sizeof(void*) + 4 * sizeof(int64_t) &&
                  sizeof(IrSeedArgs) == 12 * sizeof(void*) + 4 * sizeof(int64_t) + 32,
              "IrSeedArgs: pointers, then 64-bit integers, then 32-bit integers, no padding");
std::string args_struct() {
  std::string s =
      "struct KsSeedArgs {\n"
      "  const float* x; const float* dy; float* out;\n"
      "  const int* stage; const int* blueprint; const int* slot; const float* alpha;\n"
      "  const unsigned char* mask; float* pool; float* step_stats; float* grad_norm;\n"
      "  const int* owner;\n"
      "  long long B, H, slot_stride, region;\n"
      "  int seeds, kind, collect, param_grads, task, vec, zero_norms, slots;\n};\n";
  s += "static_assert(sizeof(KsSeedArgs) == " + std::to_string(sizeof(IrSeedArgs)) +
       ", \"KsSeedArgs\");\n";
  return s;
}

// The factor pair of parameter i (the plan's gradient blocks, morph::grad_term_of).
std::string grad_term(const ir::Plan& plan, const char* prefix) {
  std::string s = std::string(prefix) + " void ks_grad_term(int i, int* a, int* b) {\n";
  for (const morph::GradBlock& b : plan.blocks) {
    const std::string ja = b.diag ? "i" : "i / " + std::to_string(b.nb),
                      jb = b.diag ? "i" : "i % " + std::to_string(b.nb);
    s += "  if (i < " + std::to_string(b.size()) + ") { *a = " + std::to_string(b.a0) + " + " + ja +
         "; *b = " + std::to_string(b.b0) + " + " + jb +
         "; return; }\n  i -= " + std::to_string(b.size()) + ";\n";
  }
  return s + "  *a = 0; *b = 0;\n}\n";
}

constexpr const char* kCommon = R"(
// The shared memory: blockDim.x doubles (reductions), the staged parameters (KS_PS floats), the
// factor tile.
extern __shared__ double ks_smem[];
__device__ __forceinline__ float* ks_staged() {
  return reinterpret_cast<float*>(ks_smem + blockDim.x);
}
// Programmatic dependent launch (sm_90 and later; elsewhere the launches are plain).
__device__ __forceinline__ void ks_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void ks_complete_after_predecessor() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  if (blockIdx.x == 0) asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
// The block's sum of v (a fixed-order tree over blockDim.x, a power of two).
__device__ double ks_block_sum(double v) {
  double* red = ks_smem;
  const int t = threadIdx.x;
  red[t] = v;
  __syncthreads();
#pragma unroll 1
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
// A seed's state, read with plain loads (no short-circuits: a thread's loads for several seeds
// are in flight together).
struct KsFlags {
  int stage, slot, kind;
  float alpha;
  bool masked;
};
__device__ __forceinline__ KsFlags ks_flags(const KsSeedArgs& a, int s) {
  KsFlags f;
  f.stage = a.stage[s];
  f.slot = a.slot[s];
  f.kind = a.blueprint[s];
  f.alpha = a.alpha[s];
  f.masked = a.mask != nullptr && a.mask[s] != 0;
  return f;
}
// body(s, flags) for the seeds of this kernel's kind with work(flags), uniformly across the
// block: block b takes the pool slots b, b + gridDim.x, ... and each slot's owner (only a seed
// that is not DORMANT can have work, and every such seed holds exactly one slot). Deterministic:
// the assignment depends only on the slot table and the grid.
template <class Work, class Body>
__device__ void ks_for_each_seed_of_kind(const KsSeedArgs& a, Work work, Body body) {
#pragma unroll 1
  for (int slot = blockIdx.x; slot < a.slots; slot += gridDim.x) {
    const int s = a.owner[slot];
    if (s < 0) continue;
    const KsFlags f = ks_flags(a, s);
    if ((f.kind == a.kind) & (f.slot == slot) & work(f)) body(s, f);
  }
}
// The seed's parameters: staged in shared memory when they are few (ks_stage_params, called by
// every thread of the block), else read in place.
__device__ __forceinline__ const float* ks_params_in_pool(const KsSeedArgs& a, int slot) {
  return a.pool + slot * a.slot_stride + KS_PARAMS * a.region;
}
__device__ __forceinline__ const float* ks_params(const KsSeedArgs& a, int slot) {
  return KS_STAGED ? ks_staged() : ks_params_in_pool(a, slot);
}
__device__ __forceinline__ void ks_stage_params(const KsSeedArgs& a, int slot) {
  if (!KS_STAGED) return;
  const float* p = ks_params_in_pool(a, slot);
  float* sp = ks_staged();
  for (int i = threadIdx.x; i < KS_P; i += blockDim.x) sp[i] = p[i];
  __syncthreads();
}
// A row chunk of KS_C floats to and from registers (16-byte vectors when vec).
__device__ __forceinline__ void ks_load(const float* __restrict__ src, int vec, float* v) {
#if defined(__CUDA_ARCH__)
  if (KS_C % 4 == 0 && vec) {
#pragma unroll
    for (int c = 0; c < KS_C / 4; ++c) {
      const float4 q = __ldg(reinterpret_cast<const float4*>(src) + c);
      v[4 * c] = q.x;
      v[4 * c + 1] = q.y;
      v[4 * c + 2] = q.z;
      v[4 * c + 3] = q.w;
    }
    return;
  }
#pragma unroll
  for (int c = 0; c < KS_C; ++c) v[c] = __ldg(src + c);
#else
  (void)vec;
  for (int c = 0; c < KS_C; ++c) v[c] = src[c];
#endif
}
__device__ __forceinline__ void ks_store(float* __restrict__ dst, int vec, const float* v) {
#if defined(__CUDA_ARCH__)
  if (KS_C % 4 == 0 && vec) {
#pragma unroll
    for (int c = 0; c < KS_C / 4; ++c)
      reinterpret_cast<float4*>(dst)[c] = make_float4(v[4 * c], v[4 * c + 1], v[4 * c + 2],
                                                      v[4 * c + 3]);
    return;
  }
#endif
  (void)vec;
#pragma unroll
  for (int c = 0; c < KS_C; ++c) dst[c] = v[c];
}
)";

constexpr const char* kForward = R"(
extern "C" __global__ void __launch_bounds__(256) kasmina_ir_seed_forward(const KsSeedArgs a) {
  ks_launch_dependents();  // a kernel queued after this one may run beside it
  const int t = threadIdx.x, T = blockDim.x;
  auto blended_of = [&](const KsFlags& f) {
    return ks_in(KS_BLENDED, f.stage) & (f.alpha > 0.0f) & !f.masked;
  };
  auto iso_of = [&](const KsFlags& f) { return (a.collect != 0) & ks_in(KS_ISOLATED, f.stage); };
  auto work = [&](const KsFlags& f) { return blended_of(f) | iso_of(f); };
  ks_for_each_seed_of_kind(a, work, [&](int s, const KsFlags& f) {
    const bool blended = blended_of(f), iso = iso_of(f);
    const long long cs = (long long)s * KS_C;
    const long long pass = (long long)KS_ROWS * T;
    float xr[KS_ROWS][KS_C];
    auto load_pass = [&](long long r0) {
#pragma unroll
      for (int i = 0; i < KS_ROWS; ++i) {
        const long long r = r0 + (long long)i * T;
        if (r < a.B) ks_load(a.x + r * a.H + cs, a.vec, xr[i]);
      }
    };
    const float* p = ks_params(a, f.slot);
    float iso_sum = 0.0f;  // per thread in f32, over the block in f64 (as the built-in)
#pragma unroll 1
    for (long long r0 = t; r0 - t < a.B; r0 += pass) {  // the same passes for every thread
      load_pass(r0);
      if (r0 == t) ks_stage_params(a, f.slot);  // the first pass's loads in flight meanwhile
#pragma unroll
      for (int i = 0; i < KS_ROWS; ++i) {
        const long long r = r0 + (long long)i * T;
        if (r >= a.B) continue;
        float d[KS_C], o[KS_C];
        ks_row_delta(xr[i], p, d);
        if (iso)
#pragma unroll
          for (int c = 0; c < KS_C; ++c) iso_sum += d[c] * d[c];
        if (blended) {
#pragma unroll
          for (int c = 0; c < KS_C; ++c) o[c] = xr[i][c] + f.alpha * d[c];
          ks_store(a.out + r * a.H + cs, a.vec, o);
        }
      }
    }
    if (iso) {
      const double total = ks_block_sum((double)iso_sum);
      if (t == 0) a.step_stats[s * 2 + 1] = (float)(total / ((double)a.B * KS_C));
    }
    __syncthreads();  // the parameters and the reduction storage are reused by the next seed
  });
  ks_complete_after_predecessor();
}
)";

constexpr const char* kBackward = R"(
// At most 256 threads; chunks up to 16 at most 128 registers, so that two blocks of the copy fit
// on an SM beside a block (as the fused seed kernel).
extern "C" __global__ void __launch_bounds__(256, KS_C <= 16 ? 2 : 1)
    kasmina_ir_seed_backward(const KsSeedArgs a) {
  ks_launch_dependents();  // the copy queued after this kernel runs beside it
  float* fac = ks_staged() + KS_PS;
  const int t = threadIdx.x, T = blockDim.x;
  auto blended_of = [&](const KsFlags& f) {
    return (a.out != nullptr) & ks_in(KS_BLENDED, f.stage) & (f.alpha > 0.0f);
  };
  auto trains_of = [&](const KsFlags& f) {
    return (a.param_grads != 0) & ks_in(KS_TRAINS, f.stage) & (f.slot >= 0);
  };
  if (a.zero_norms && a.param_grads) {  // seeds of any kind that do not train: norm 0
#pragma unroll 1
    for (long long s = (long long)blockIdx.x * T + t; s < a.seeds; s += (long long)gridDim.x * T)
      if (!trains_of(ks_flags(a, (int)s))) a.grad_norm[s] = 0.0f;
  }
  auto work = [&](const KsFlags& f) { return blended_of(f) | trains_of(f); };
  ks_for_each_seed_of_kind(a, work, [&](int s, const KsFlags& f) {
    const bool blended = blended_of(f), trains = trains_of(f);
    const bool isolated = trains && ks_in(KS_ISOLATED, f.stage);
    const bool need_dy = !isolated || a.task;
    const long long cs = (long long)s * KS_C;
    float* grad = a.pool + f.slot * a.slot_stride + KS_GRAD * a.region;
    const float iso_scale = 2.0f / ((float)a.B * (float)KS_C);
    float xr[KS_C], dyr[KS_C];
    auto load_row = [&](long long r) {
      ks_load(a.x + r * a.H + cs, a.vec, xr);
      if (need_dy) ks_load(a.dy + r * a.H + cs, a.vec, dyr);
    };
    const float* p = ks_params(a, f.slot);
    double change = 0.0;
#pragma unroll 1
    for (long long r0 = 0; r0 < a.B; r0 += T) {
      const long long rows = a.B - r0 < T ? a.B - r0 : T;
      if (t < rows) load_row(r0 + t);
      if (r0 == 0) ks_stage_params(a, f.slot);  // the first tile's loads in flight meanwhile
      if (t < rows) {
        float g[KS_C], jt[KS_C];
        if (isolated) {
          float d[KS_C];
          ks_row_delta(xr, p, d);
#pragma unroll
          for (int c = 0; c < KS_C; ++c) {
            g[c] = a.task ? dyr[c] : iso_scale * d[c];
            if (a.task) change += (double)d[c] * dyr[c];
          }
        } else {
#pragma unroll
          for (int c = 0; c < KS_C; ++c) g[c] = f.alpha * dyr[c];
        }
#pragma unroll
        for (int c = 0; c < KS_C; ++c) jt[c] = 0.0f;
        float* F = trains ? fac + t * KS_FS : nullptr;
        if (blended) {  // (a separate call for each case keeps jt in registers)
          ks_row_backward(xr, g, p, jt, F);
#pragma unroll
          for (int c = 0; c < KS_C; ++c) jt[c] = dyr[c] + jt[c];
          ks_store(a.out + (r0 + t) * a.H + cs, a.vec, jt);
        } else {
          ks_row_backward(xr, g, p, nullptr, F);
        }
      }
      if (!trains) continue;  // block-uniform
      __syncthreads();
#pragma unroll 1
      for (int i = t; i < KS_P; i += T) {
        int fa, fb;
        ks_grad_term(i, &fa, &fb);
        const float* ra = fac + fa;
        const float* rb = fac + fb;
        float e = 0.0f, o = 0.0f;  // even and odd rows
        long long k = 0;
        for (; k + 1 < rows; k += 2) {
          e += ra[k * KS_FS] * rb[k * KS_FS];
          o += ra[(k + 1) * KS_FS] * rb[(k + 1) * KS_FS];
        }
        if (k < rows) e += ra[k * KS_FS] * rb[k * KS_FS];
        grad[i] = (r0 == 0 ? 0.0f : grad[i]) + (e + o);
      }
      __syncthreads();  // the factor rows are rewritten by the next tile
    }
    if (trains) {
      double sq = 0.0;
      for (int i = t; i < KS_P; i += T) sq += (double)grad[i] * grad[i];
      const double total = ks_block_sum(sq);
      if (t == 0) a.grad_norm[s] = (float)sqrt(total);
      if (isolated && a.task) {
        const double c = ks_block_sum(change);
        if (t == 0) a.step_stats[s * 2 + 1] = (float)c;
      }
    }
    __syncthreads();  // the parameters and the reduction storage are reused by the next seed
  });
  ks_complete_after_predecessor();
}
)";

// What every seed-kernel module defines the same way: the chunk width and what follows from it,
// the pool's regions and the stage masks.
std::string chunk_constants(int32_t chunk) {
  return "#define KS_C " + std::to_string(chunk) + "\n#define KS_ROWS " +
         std::to_string(forward_rows(chunk)) + "\n#define KS_PARAMS " +
         std::to_string(static_cast<int32_t>(morph::PoolRegion::params)) + "\n#define KS_GRAD " +
         std::to_string(static_cast<int32_t>(morph::PoolRegion::grad)) + "\n#define KS_BLENDED " +
         std::to_string(stage_mask(&morph::stage_is_blended)) + "u\n#define KS_TRAINS " +
         std::to_string(stage_mask(&morph::stage_trains)) + "u\n#define KS_ISOLATED " +
         std::to_string(stage_mask(&morph::stage_trains_isolated)) + "u\n";
}

// The blueprint's sizes: parameters, factor stride, staging (ks_const in a linked module).
int32_t blueprint_constant(const ir::Plan& plan, int i) {
  const int32_t v[4] = {plan.param_count, factor_stride(plan),
                        static_cast<int32_t>(staged_floats(plan)), staged(plan) ? 1 : 0};
  return v[i];
}
constexpr const char* kBlueprintConstants[4] = {"KS_P", "KS_FS", "KS_PS", "KS_STAGED"};

// The two kernels (one program: one cubin, one library to load).
std::string kernels_part() {
  return std::string(kCommon) + kForward + kBackward;
}

// What precedes them in a fused module: the chunk width, the blueprint's sizes, the arguments and
// the gradient terms of its parameters.
std::string seed_kernels_head(const ir::Plan& plan) {
  std::string s =
      "// The seed kernels (blueprint_seed_kernels.cpp).\n" + chunk_constants(plan.shape.chunk);
  for (int i = 0; i < 4; ++i)
    s += std::string("#define ") + kBlueprintConstants[i] + " " +
         std::to_string(blueprint_constant(plan, i)) + "\n";
  return s + args_struct() + grad_term(plan, "__device__ __forceinline__");
}

}  // namespace

int64_t seed_kernel_smem(const ir::Plan& plan, bool backward, int32_t threads) {
  // Reductions (doubles), the staged parameters.
  int64_t bytes = 8 * int64_t{threads} + 4 * staged_floats(plan);
  if (backward) bytes += 4 * int64_t{threads} * factor_stride(plan);
  return bytes;
}

std::string seed_kernels_source(const ir::Plan& plan, bool body) {
  return body ? seed_kernels_head(plan) + seed_kernels_body() : seed_kernels_head(plan);
}

const std::string& seed_kernels_body() {
  static const std::string body = kernels_part();
  return body;
}

const std::string& seed_kernels_body_digest() {
  static const std::string digest = sha256_hex(seed_kernels_body());
  return digest;
}

std::string linked_template_source(int32_t chunk) {
  std::string s =
      "// The seed kernels of every linked blueprint of this chunk width "
      "(blueprint_seed_kernels.cpp).\n" +
      chunk_constants(chunk) + "extern \"C\" __constant__ int ks_const[4];\n";
  for (int i = 0; i < 4; ++i)
    s += std::string("#define ") + kBlueprintConstants[i] + " (ks_const[" + std::to_string(i) +
         "])\n";
  s += "extern \"C\" __device__ void ks_row_delta(const float* __restrict__ xr, "
       "const float* __restrict__ p, float* __restrict__ out);\n"
       "extern \"C\" __device__ void ks_row_backward(const float* __restrict__ xr, "
       "const float* __restrict__ gr, const float* __restrict__ p, float* dx, float* f);\n"
       "extern \"C\" __device__ void ks_grad_term(int i, int* a, int* b);\n";
  return s + args_struct() + seed_kernels_body();
}

std::string linked_rows_tail(const ir::Plan& plan) {
  // ks_grad_term with the backward (row program 2), ks_const (the blueprint's sizes, read by both
  // kernels) with the delta (row program 1).
  std::string s = grad_term(plan, kLinkedRowFunction) + "#endif\n" + kRowProgramGuard[0] +
                  "extern \"C\" __constant__ int ks_const[4] = {";
  for (int i = 0; i < 4; ++i) s += (i ? ", " : "") + std::to_string(blueprint_constant(plan, i));
  return s + "};\n#endif\n";
}

int32_t linked_rows_max_registers(int32_t chunk) {
  return chunk <= 16 ? 128 : 255;  // the backward kernel's bound: 2 blocks of 256 threads
}

}  // namespace kasmina::ops
