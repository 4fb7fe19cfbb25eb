// CUDA C++ source generated from an IR graph laid out for one blueprint shape (ir/plan.hpp),
// every value in registers or local memory (sizes are compile-time constants):
//  - the seam's row functions, ks_row_delta (delta = f(x) - x of one row) and ks_row_backward
//    (dx += J^T g when dx is not null; the row's gradient factors, plan.factor_count, into f when
//    not null), and (ModuleParts::all only) two row kernels over them, one thread per row (the
//    codegen tests run them on the host; no layer launches them, so the module a layer compiles,
//    ModuleParts::seed_kernels, leaves them out: they were a quarter of its compile time):
//      extern "C" __global__ void kasmina_ir_delta(int rows, const float* x, long long ldx,
//          const float* p, float* delta, long long ldd)
//      extern "C" __global__ void kasmina_ir_backward(int rows, const float* x, long long ldx,
//          const float* g, long long ldg, const float* p, float* dx, long long lddx,
//          float* F, long long ldf)
//  - the seed kernels a morphogenetic layer runs beside its streaming copy, in the place of (or
//    next to) the fused seed kernels (blueprint_seed_kernels.cpp):
//      extern "C" __global__ void kasmina_ir_seed_forward(const KsSeedArgs a)
//      extern "C" __global__ void kasmina_ir_seed_backward(const KsSeedArgs a)
//    the fused seed-kernel template with the row functions plugged in, each taking the seeds of
//    its blueprint kind (a.kind) and doing for them what the fused kernels do for a built-in
//    (IrSeedArgs below is KsSeedArgs on the host).
// The arithmetic follows the CPU interpreter op for op (ir/interpreter.cpp), so the two agree
// within fp32 rounding, each operation an intrinsic with its rounding named (an accumulation
// `s += a * b` one fused multiply-add): blueprint_rounding.hpp says why.
#pragma once
#include <cstdint>
#include <string>

#include "ir/graph.hpp"
#include "ir/plan.hpp"

namespace kasmina::ops {

// Bump when the generated code changes: it is part of the kernel cache key.
inline constexpr int kBlueprintCodegenVersion = 11;
inline constexpr const char* kIrDeltaKernel = "kasmina_ir_delta";
inline constexpr const char* kIrBackwardKernel = "kasmina_ir_backward";

inline constexpr const char* kIrSeedForwardKernel = "kasmina_ir_seed_forward";
inline constexpr const char* kIrSeedBackwardKernel = "kasmina_ir_seed_backward";

// The seed kernels' argument (KsSeedArgs in the generated source, which checks its size and
// field offsets against this one). Launch: grid = seed_kernel_blocks (as the fused seed
// kernels), block = a power of two (its threads take rows), dynamic shared memory =
// seed_kernel_smem(); a programmatic dependent of the kernel before it on sm_90 and later.
struct IrSeedArgs {
  const float* x = nullptr;        // [B, H]
  const float* dy = nullptr;       // backward: [B, H]
  float* out = nullptr;            // forward: out [B, H]; backward: dx (null: none)
  const int32_t* stage = nullptr;  // the seed state's fields (SeedStateView)
  const int32_t* blueprint = nullptr;
  const int32_t* slot = nullptr;
  const float* alpha = nullptr;
  const uint8_t* mask = nullptr;   // forward: eval_zero when masked, else null
  float* pool = nullptr;           // PoolView::base
  float* step_stats = nullptr;     // [S, 2]
  float* grad_norm = nullptr;      // [S]
  const int32_t* owner = nullptr;  // PoolView::owner: the seed that holds each slot, or -1
  int64_t B = 0, H = 0;
  int64_t slot_stride = 0, region = 0;  // PoolView
  int32_t seeds = 0, kind = -1;
  int32_t collect = 0, param_grads = 0, task = 0;
  int32_t vec = 0;         // 16-byte row accesses (C % 4 == 0, every row pointer aligned)
  int32_t zero_norms = 0;  // backward: also grad_norm = 0 for the seeds of any kind that do not
                           // train (when no fused seed kernel runs to do it)
  int32_t slots = 0;       // PoolView::slots
};

// What a generated module holds: the row functions and the seed kernels (what a layer launches;
// the module BlueprintCompiler compiles when it inlines them), or that without the seed kernels'
// body (seed_kernels_head: what differs between blueprints), or also the two row kernels
// (tests), or only the row functions and the blueprint's sizes, to be linked with the seed
// kernels of its chunk width (linked_rows, below).
enum class ModuleParts { seed_kernels, seed_kernels_head, all, linked_rows };

std::string generate_blueprint_source(const ir::Graph& g, const ir::Plan& plan,
                                      ModuleParts parts = ModuleParts::all);
// The seed kernels' part of it (blueprint_seed_kernels.cpp): the head (the chunk width, the
// blueprint's sizes, the arguments, its parameters' gradient terms), then the body (the two
// kernels: the same text for every blueprint) unless `body` is false.
std::string seed_kernels_source(const ir::Plan& plan, bool body = true);
const std::string& seed_kernels_body();
// SHA-256 of the body (hexadecimal), hashed once per process: a fused module's disk key hashes
// the head and this digest instead of the body's ~12 KB (fused_module_key).
const std::string& seed_kernels_body_digest();

// Linked modules: the seed kernels compiled once per chunk width (and architecture) as
// relocatable code, calling the row functions and reading the blueprint's sizes from a
// __constant__ array instead of having them inlined, and each blueprint's row functions compiled
// apart (ModuleParts::linked_rows: the row functions as extern "C" __noinline__ functions, then
// linked_rows_tail) and linked to them (nvjitlink.hpp). The blueprint then costs the compile of
// its row functions only; the calls pass a row's arrays through the stack.
//  - The template: the same text for every blueprint of this chunk width.
std::string linked_template_source(int32_t chunk);
//  - The row functions' source is two programs side by side (kRowPrograms, compiled at once on
//    two threads): 1 the delta and ks_const, 2 the backward and ks_grad_term; both linked once
//    with the template's two kernels into one cubin.
//    What follows the row functions: ks_grad_term and ks_const.
std::string linked_rows_tail(const ir::Plan& plan);
inline constexpr const char* kLinkedRowFunction = "extern \"C\" __device__ __noinline__";
// The row functions' two programs: each one's option, and the guard of its part of the source.
inline constexpr const char* kRowPrograms[2] = {"-DKS_PROGRAM=1", "-DKS_PROGRAM=2"};
inline constexpr const char* kRowProgramGuard[2] = {
    "#if !defined(KS_PROGRAM) || KS_PROGRAM == 1\n",
    "#if !defined(KS_PROGRAM) || KS_PROGRAM == 2\n"};
//  - The row functions' register bound (--maxrregcount): the backward kernel's, so that the
//    linker accepts the call (a callee may not use more registers than its kernel may).
int32_t linked_rows_max_registers(int32_t chunk);
// Dynamic shared memory of a seed kernel launched with `threads` threads per block.
int64_t seed_kernel_smem(const ir::Plan& plan, bool backward, int32_t threads);

}  // namespace kasmina::ops
