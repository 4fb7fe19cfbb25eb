// Which GEMM implementation runs a linear op (linear_forward, linear_backward_input,
// linear_backward_weight) of a given shape on CUDA: cuBLASLt with its fused epilogues, or
// kasmina's own small-GEMM kernels (kernels/small_gemm.cu: enough thread blocks for skinny
// shapes, no per-call set-up, the same epilogues, deterministic, exact float32).
//
// The choice, per call:
//   1. a path forced on the device (set_gemm_path, or the environment variable
//      KASMINA_GEMM_PATH = automatic | cublaslt | own read when the device is first used) wins
//      where the own kernels support the call (activation none or relu);
//   2. else the measured table (gemm_route_table(), one row per op and shape) decides;
//   3. else the default: cuBLASLt. The own kernels suit float32 math, activation none or relu and
//      at most kOwnGemmMaxFma multiply-adds (own_gemm_suits), and they win most of the reference
//      MLP's GEMMs when timed alone, but the whole training step measured slower with them as the
//      default (H200, 2026-12-03: 784-256-128-10 step 89.9 us at B128 and 120 us at B256 against
//      86.2 and 97.6 with cuBLASLt; bench/RESULTS.md), so kOwnGemmByDefault is false until table
//      rows chosen from whole-step measurements say otherwise.
// Plain C++ (no CUDA headers): the rule is tested on any build.
#pragma once
#include <cstdint>
#include <span>
#include <string>

#include "core/device.hpp"
#include "ops/ops.hpp"

namespace kasmina::ops {

enum class GemmPath : uint8_t { automatic, cublaslt, own };
enum class LinearGemm : uint8_t { forward, backward_input, backward_weight };

const char* gemm_path_name(GemmPath p);
// "automatic", "cublaslt" or "own"; anything else is a UserError naming `where`.
GemmPath parse_gemm_path(const std::string& name, const std::string& where);

// A linear op's GEMM in the op's own terms: x [rows, in], W [out, in], y [rows, out].
// `act` is the fused activation (forward) or the input's activation (backward_input); none for
// backward_weight.
struct GemmShape {
  LinearGemm op = LinearGemm::forward;
  int64_t rows = 0, in = 0, out = 0;
  Activation act = Activation::none;
};

struct GemmRoute {
  LinearGemm op;
  int64_t rows, in, out;
  GemmPath path;  // cublaslt or own
};

// Multiply-adds up to which the own kernels suit a call (the reference MLP's largest
// GEMM, 784 x 256 at batch 256, has 51.4 M).
inline constexpr int64_t kOwnGemmMaxFma = int64_t{1} << 26;
// Column tiles of 16 the own kernels' deterministic bias-gradient reduction can count.
inline constexpr int64_t kOwnGemmMaxColumnTiles = 1024;

// The measured exceptions to the default rule (src/ops/gemm_route.cpp; empty until measured).
std::span<const GemmRoute> gemm_route_table();
// Whether the own kernels implement this call at all.
bool own_gemm_supported(const GemmShape& s);
// Whether the own kernels suit a call (the candidates for table rows; see step 3 above).
bool own_gemm_suits(const GemmShape& s, MathMode math);
// Step 3 above: the own kernels where they suit a call only when kOwnGemmByDefault.
inline constexpr bool kOwnGemmByDefault = false;
GemmPath default_gemm_path(const GemmShape& s, MathMode math);
// Steps 1-3 with the given table; never returns automatic.
GemmPath choose_gemm_path(const GemmShape& s, MathMode math, GemmPath forced,
                          std::span<const GemmRoute> table);

// Forces a path on a CUDA device for later linear ops (automatic: back to table + rule). No-op
// on the CPU and in builds without CUDA.
void set_gemm_path(Device dev, GemmPath p);

}  // namespace kasmina::ops
