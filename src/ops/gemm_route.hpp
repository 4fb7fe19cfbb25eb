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

// ---- The input gradient through the ReLU/GELU below a bf16 linear layer ----
// linear_backward_input with bf16 operands, a fused input activation and a bf16 dx either runs
// cuBLASLt's DRELU/DGELU epilogue (no BGRAD: the bias gradient is then kasmina's column sums
// over the stored dx) or the plain GEMM followed by one pass of kasmina's
// (activation_backward_aux_bf16, kernels/activation_bf16.cu: activation derivative, bf16 store,
// bias-gradient column partials). Measured on the H200 (bench/RESULTS.md): cuBLASLt runs these
// epilogues for large outputs as a separate kernel that costs about as much as the GEMM itself
// (4096 x 4096 x 4096: 164 us plain, 298 us with DRELU_BGRAD). The layer sequence hands a bf16
// gradient from one linear layer to the ReLU linear layer below it exactly when this choice is
// `pass` for the batch it is prepared for (nn/layer_sequence.cpp), so the CPU twin makes the
// same choice. The choice, per call and the same on every device:
//   1. a path forced for the process (set_dact_path, or the environment variable
//      KASMINA_DACT_PATH = automatic | cublaslt | pass read when first asked) wins;
//   2. else the measured table (dact_route_table(), one row per shape) decides;
//   3. else the default: `pass` for a ReLU input, cuBLASLt otherwise (GELU: cuBLASLt; its bf16
//      DGELU is replaced by kasmina's epilogue kernel anyway, gemm.cpp). Measured on the H200
//      (bench/RESULTS.md, ninth session): the pass is faster at every size tried, from the
//      reference MLP at B128 (76.5 -> 72.7 us a step) to 4096 x 4096 x 4096.
enum class DactPath : uint8_t { automatic, cublaslt, pass };

struct DactRoute {
  int64_t rows, in, out;  // dx [rows, in] = dy [rows, out] . W [out, in]
  DactPath path;          // cublaslt or pass
};

const char* dact_path_name(DactPath p);
// "automatic", "cublaslt" or "pass"; anything else is a UserError naming `where`.
DactPath parse_dact_path(const std::string& name, const std::string& where);
std::span<const DactRoute> dact_route_table();
// Steps 2-3 for a backward_input shape (s.act: the input's activation); never automatic.
DactPath default_dact_path(const GemmShape& s, std::span<const DactRoute> table);
// Steps 1-3 with the process's forced path.
DactPath choose_dact_path(const GemmShape& s);
// Forces a path for the process (automatic: back to table + rule). Read by every device.
void set_dact_path(DactPath p);
DactPath forced_dact_path();
// The pass route's one-kernel form on CUDA for an input gradient from a layer of at most 16
// outputs (kernels/skinny_dgrad.cu: the product, the ReLU mask and the bias-gradient partials in
// one pass, no product matrix in memory), chosen by the size of dx: used when dx has at most
// kSkinnyDgradMaxElements elements. Measured on the H200 (bench/RESULTS.md, ninth session,
// interleaved twice): faster at dx [128, 128] and [256, 128] (the reference MLP's bf16 step 74.7
// -> 72.0 us at B128, 77.3 -> 74.2 us at B256), slower at [4096, 1024] (202 -> 213 us) and
// [4096, 4096] (992 -> 1053 us); 2^18 lies between, unmeasured there. KASMINA_SKINNY_DGRAD=1 or
// =0 (read when first asked) or set_skinny_dgrad_mode forces it on or off. The same values
// either way up to the order of the fp32 bias sums.
enum class SkinnyDgrad : uint8_t { automatic, on, off };
inline constexpr int64_t kSkinnyDgradMaxElements = int64_t{1} << 18;
bool use_skinny_dgrad(int64_t dx_elements);
SkinnyDgrad skinny_dgrad_mode();
void set_skinny_dgrad_mode(SkinnyDgrad mode);

}  // namespace kasmina::ops
