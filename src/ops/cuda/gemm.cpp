#include "ops/cuda/gemm.hpp"

#include "ops/cuda/gemm_options.hpp"

#include <algorithm>
#include <cstdint>
#include <string>

namespace kasmina::ops::cuda {

namespace {

int32_t alignment_of(const void* p) {
  if (!p) return 256;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  int32_t a = 1;
  while (a < 256 && (addr % (2 * a)) == 0) a *= 2;
  return a;
}

bool epilogue_uses_aux(cublasLtEpilogue_t e) {
  return e == CUBLASLT_EPILOGUE_RELU_AUX_BIAS || e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS ||
         e == CUBLASLT_EPILOGUE_RELU_AUX || e == CUBLASLT_EPILOGUE_GELU_AUX ||
         e == CUBLASLT_EPILOGUE_DRELU || e == CUBLASLT_EPILOGUE_DRELU_BGRAD ||
         e == CUBLASLT_EPILOGUE_DGELU || e == CUBLASLT_EPILOGUE_DGELU_BGRAD;
}

bool epilogue_is_gelu(cublasLtEpilogue_t e) {
  return e == CUBLASLT_EPILOGUE_GELU || e == CUBLASLT_EPILOGUE_GELU_BIAS ||
         e == CUBLASLT_EPILOGUE_GELU_AUX || e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS ||
         e == CUBLASLT_EPILOGUE_DGELU || e == CUBLASLT_EPILOGUE_DGELU_BGRAD;
}

bool epilogue_uses_bias(cublasLtEpilogue_t e) {
  return e == CUBLASLT_EPILOGUE_BIAS || e == CUBLASLT_EPILOGUE_RELU_AUX_BIAS ||
         e == CUBLASLT_EPILOGUE_GELU_AUX_BIAS || e == CUBLASLT_EPILOGUE_RELU_BIAS ||
         e == CUBLASLT_EPILOGUE_GELU_BIAS || e == CUBLASLT_EPILOGUE_DRELU_BGRAD ||
         e == CUBLASLT_EPILOGUE_DGELU_BGRAD || e == CUBLASLT_EPILOGUE_BGRADA ||
         e == CUBLASLT_EPILOGUE_BGRADB;
}

// RAII holders for the cuBLASLt descriptors of one call.
struct Descriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~Descriptors() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (d) cublasLtMatrixLayoutDestroy(d);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

template <class T>
void set_op_attr(cublasLtMatmulDesc_t op, cublasLtMatmulDescAttributes_t attr, const T& value) {
  KASMINA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op, attr, &value, sizeof(value)));
}

template <class T>
void set_pref_attr(cublasLtMatmulPreference_t p, cublasLtMatmulPreferenceAttributes_t attr,
                   const T& value) {
  KASMINA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(p, attr, &value, sizeof(value)));
}

// Split-K is offered to the heuristic only for long reductions over a small output: K at least
// kSplitKMinK and at least the larger output side (e.g. the first forward layer, K = 784 over a
// 256 x batch output), where without it a handful of CTAs walk the whole K. For short K (weight
// gradients reduce over the batch; the later layers have K <= 256) the heuristic's split-K
// choices are pathological (tens of slices of a few elements plus a reduction kernel). cuBLASLt's
// reduction schemes add the slices in a fixed order (INPLACE serialises them with counters,
// COMPUTE_TYPE and OUTPUT_TYPE reduce in the workspace), so an allowed split-K is deterministic.
constexpr int64_t kSplitKMinK = 512;
// Shortest K slice an admitted split-K algorithm may use (the pathological choices split K
// into slices of a few elements).
constexpr int64_t kMinSplitKSlice = 32;
constexpr int kHeuristicCandidates = 8;

bool split_k_allowed(const GemmSpec& s) {
  return s.k >= kSplitKMinK && s.k >= std::max(s.m, s.n);
}

// Split count of a candidate algorithm (1 when it does not split K).
int32_t split_k_of(const cublasLtMatmulAlgo_t& algo) {
  int32_t splits = 1;
  size_t written = 0;
  if (cublasLtMatmulAlgoConfigGetAttribute(&algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splits,
                                           sizeof(splits), &written) != CUBLAS_STATUS_SUCCESS) {
    return 1;
  }
  return splits < 1 ? 1 : splits;
}

// Asks the heuristic for up to kHeuristicCandidates algorithms with the given reduction schemes
// and takes the first, in the heuristic's order, that fits the workspace and whose K slices
// are at least kMinSplitKSlice long. Returns the heuristic's status.
cublasStatus_t pick_candidate(DeviceContext& ctx, Descriptors& desc, const GemmSpec& s,
                              cublasLtReductionScheme_t schemes, GemmChoice& choice) {
  set_pref_attr(desc.pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                static_cast<uint32_t>(schemes));
  cublasLtMatmulHeuristicResult_t results[kHeuristicCandidates] = {};
  int found = 0;
  const cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(ctx.lt, desc.op, desc.a, desc.b, desc.d, desc.d, desc.pref,
                                     kHeuristicCandidates, results, &found);
  if (st != CUBLAS_STATUS_SUCCESS) return st;
  for (int i = 0; i < found; ++i) {
    const cublasLtMatmulHeuristicResult_t& r = results[i];
    if (r.state != CUBLAS_STATUS_SUCCESS || r.workspaceSize > ctx.workspace_bytes) continue;
    const int32_t splits = split_k_of(r.algo);
    if (splits > 1 && s.k / splits < kMinSplitKSlice) continue;
    choice.available = true;
    choice.algo = r.algo;
    choice.workspace_bytes = r.workspaceSize;
    return st;
  }
  return st;
}

std::string describe(const GemmSpec& s) {
  return "m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) +
         " transa=" + std::to_string(s.trans_a) + " transb=" + std::to_string(s.trans_b) +
         " epilogue=" + std::to_string(static_cast<int>(s.epilogue)) +
         (s.ab_type == CUDA_R_16BF ? " bf16 inputs" : "") +
         (s.d_type == CUDA_R_16BF ? " bf16 output" : "");
}

}  // namespace

void set_fused_epilogues(Device dev, bool on) {
  context(dev).fused_epilogues = on;
}

bool fused_epilogues(Device dev) {
  return context(dev).fused_epilogues;
}

void set_own_gelu_epilogues(Device dev, bool on) {
  context(dev).own_gelu_epilogues = on;
}

bool own_gelu_epilogues(Device dev) {
  return context(dev).own_gelu_epilogues;
}

GemmEpilogueStats gemm_epilogue_stats(Device dev) {
  const DeviceContext& ctx = context(dev);
  return {ctx.epilogues_fused, ctx.epilogues_unavailable, ctx.epilogues_forced};
}

bool gemm(DeviceContext& ctx, const GemmSpec& s) {
  KASMINA_CHECK(s.m > 0 && s.n > 0 && s.k > 0, "gemm: empty problem " + describe(s));
  KASMINA_CHECK(s.d_type == CUDA_R_32F || s.ab_type == CUDA_R_16BF,
                "gemm: a bf16 output needs bf16 inputs (" + describe(s) + ")");
  const bool fused = s.epilogue != CUBLASLT_EPILOGUE_DEFAULT;
  if (fused && !ctx.fused_epilogues) {
    ++ctx.epilogues_forced;
    return false;
  }
  // GELU and DGELU into a bf16 D are treated as unavailable: measured on the H200, cuBLASLt's
  // GELU epilogue with a bf16 D is off from the formula by up to 4 bf16 ulps (29% of a
  // 4099x1023 output differ from the CPU twin), where fp32 outputs agree to float32 rounding.
  // The callers' fallback (plain GEMM + kasmina's epilogue kernel) stores the formula's value.
  if (s.d_type == CUDA_R_16BF && epilogue_is_gelu(s.epilogue)) {
    ++ctx.epilogues_unavailable;
    return false;
  }
  // GELU and DGELU asked to run in kasmina's kernels (own_gelu_epilogues): on the H100, cuBLASLt
  // ran the ViT's GELU epilogues as separate kernels of 16-18 us (bench/RESULTS.md, nineteenth
  // session), yet the ViT step with kasmina's was slower, 1311 against 1273 us (twentieth).
  if (ctx.own_gelu_epilogues && epilogue_is_gelu(s.epilogue)) {
    ++ctx.epilogues_forced;
    return false;
  }
  // A bias gradient over B's columns (BGRADB: a weight gradient's bias gradient, B = dy) with
  // bf16 inputs whose B has a leading dimension that is not a multiple of 8 elements (16 bytes:
  // a layer of 10 outputs) is treated as unavailable too: measured on the H200, cuBLASLt offers
  // one algorithm for it, a SIMT kernel (164 us at m=1024 n=10 k=4096, 15 us at 256x10x256),
  // where the plain GEMM takes 98 / 8 us and the callers' fallback sums the bias gradient in
  // kasmina's column-sum kernel. (The linear op gives layers of up to 16 outputs kasmina's
  // skinny weight-gradient kernel instead; this covers the wider unaligned ones.)
  if (s.ab_type == CUDA_R_16BF && s.epilogue == CUBLASLT_EPILOGUE_BGRADB && s.ldb % 8 != 0) {
    ++ctx.epilogues_unavailable;
    return false;
  }
  const bool with_aux = epilogue_uses_aux(s.epilogue);
  const bool with_bias = epilogue_uses_bias(s.epilogue);
  // bf16 inputs compute in fp32. Under bf16 mode, the GEMMs still fed fp32 (layers without a
  // bf16 path yet) use TF32 tensor cores, as cuDNN's convolutions do (conv.cpp).
  const bool bf16_inputs = s.ab_type == CUDA_R_16BF;
  const cublasComputeType_t compute = !bf16_inputs && ctx.math != MathMode::fp32
                                          ? CUBLAS_COMPUTE_32F_FAST_TF32
                                          : CUBLAS_COMPUTE_32F;

  Descriptors desc;
  KASMINA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc.op, compute, CUDA_R_32F));
  const cublasOperation_t ta = s.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t tb = s.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  set_op_attr(desc.op, CUBLASLT_MATMUL_DESC_TRANSA, ta);
  set_op_attr(desc.op, CUBLASLT_MATMUL_DESC_TRANSB, tb);
  set_op_attr(desc.op, CUBLASLT_MATMUL_DESC_EPILOGUE, s.epilogue);
  if (with_bias) {
    set_op_attr(desc.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, s.bias);
    set_op_attr(desc.op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, CUDA_R_32F);
  }
  if (with_aux) {
    set_op_attr(desc.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, static_cast<void*>(s.aux));
    set_op_attr(desc.op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, s.aux_ld);
  }
  // A is op(A) [m,k]: stored [m,k] (N) or [k,m] (T), column-major.
  KASMINA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&desc.a, s.ab_type, s.trans_a ? s.k : s.m,
                                                  s.trans_a ? s.m : s.k, s.lda));
  KASMINA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&desc.b, s.ab_type, s.trans_b ? s.n : s.k,
                                                  s.trans_b ? s.k : s.n, s.ldb));
  KASMINA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&desc.d, s.d_type, s.m, s.n, s.ldd));

  GemmKey key;
  key.m = s.m;
  key.n = s.n;
  key.k = s.k;
  key.lda = s.lda;
  key.ldb = s.ldb;
  key.ldd = s.ldd;
  key.aux_ld = with_aux ? s.aux_ld : 0;
  key.trans_a = s.trans_a;
  key.trans_b = s.trans_b;
  key.epilogue = static_cast<int32_t>(s.epilogue);
  key.compute = static_cast<int32_t>(compute);
  key.ab_type = static_cast<int32_t>(s.ab_type);
  key.d_type = static_cast<int32_t>(s.d_type);
  key.deterministic = ctx.deterministic;
  key.align_a = alignment_of(s.a);
  key.align_b = alignment_of(s.b);
  key.align_d = alignment_of(s.d);
  key.align_bias = with_bias ? alignment_of(s.bias) : 0;
  key.align_aux = with_aux ? alignment_of(s.aux) : 0;

  auto it = ctx.algos.find(key);
  if (it == ctx.algos.end()) {
    GemmChoice choice;
    KASMINA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&desc.pref));
    set_pref_attr(desc.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, ctx.workspace_bytes);
    set_pref_attr(desc.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                  static_cast<uint32_t>(key.align_a));
    set_pref_attr(desc.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                  static_cast<uint32_t>(key.align_b));
    set_pref_attr(desc.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                  static_cast<uint32_t>(key.align_d));
    set_pref_attr(desc.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                  static_cast<uint32_t>(key.align_d));
    // Split-K only where it pays (see split_k_allowed), and never with slices shorter than
    // kMinSplitKSlice; otherwise the best candidate without split-K. A fixed rule in both
    // modes (no timing), so the algorithm per shape never changes between runs.
    cublasStatus_t st = CUBLAS_STATUS_NOT_SUPPORTED;
    // A bf16 output admits only the COMPUTE_TYPE scheme: INPLACE and OUTPUT_TYPE would add the
    // K slices in the output's type, rounding each partial sum to bf16 (fp32 accumulation
    // everywhere, and the CPU twin's one rounding, need the slices summed in fp32).
    if (split_k_allowed(s)) {
      st = pick_candidate(ctx, desc, s,
                          s.d_type == CUDA_R_16BF ? CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE
                                                  : CUBLASLT_REDUCTION_SCHEME_MASK,
                          choice);
    }
    if (!choice.available)
      st = pick_candidate(ctx, desc, s, CUBLASLT_REDUCTION_SCHEME_NONE, choice);
    if (!choice.available && s.epilogue == CUBLASLT_EPILOGUE_DEFAULT) {
      throw InternalError("cuBLASLt found no algorithm for a plain GEMM (" + describe(s) +
                          ", status " + std::to_string(static_cast<int>(st)) + ")");
    }
    it = ctx.algos.emplace(key, choice).first;
  }
  if (!it->second.available) {
    ++ctx.epilogues_unavailable;
    return false;
  }

  const float alpha = 1.0f, beta = 0.0f;
  const cublasStatus_t st = cublasLtMatmul(ctx.lt, desc.op, &alpha, s.a, desc.a, s.b, desc.b, &beta,
                                           s.d, desc.d, s.d, desc.d, &it->second.algo,
                                           ctx.workspace, it->second.workspace_bytes, ctx.stream);
  if (st == CUBLAS_STATUS_NOT_SUPPORTED && s.epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
    it->second.available = false;  // remember: use the fallback for this configuration
    ++ctx.epilogues_unavailable;
    return false;
  }
  if (st != CUBLAS_STATUS_SUCCESS) {
    throw InternalError("cublasLtMatmul failed (" + describe(s) + "): status " +
                        std::to_string(static_cast<int>(st)));
  }
  if (fused) ++ctx.epilogues_fused;
  return true;
}

}  // namespace kasmina::ops::cuda
