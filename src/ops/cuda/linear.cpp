// Linear layers on CUDA: cuBLASLt GEMMs with fused epilogues, falling back to a plain GEMM plus
// our own elementwise kernels when an epilogue is unavailable for a configuration.
//
// Row-major tensors are column-major transposes, so each product is computed transposed:
//   forward      yᵀ[N,M]  = W(col-major [K,N])ᵀ · xᵀ(col-major [K,M])     m=N n=M k=K
//   input grad   dxᵀ[K,M] = W(col-major [K,N])  · dyᵀ(col-major [N,M])    m=K n=M k=N
//   weight grad  dWᵀ[K,N] = xᵀ(col-major [K,M]) · (dyᵀ(col-major [N,M]))ᵀ m=K n=N k=M
// Bias vectors run along cuBLASLt's m (forward, DRELU/DGELU_BGRAD) or n (BGRADB) dimension.
// The GEMM inputs (x and W, dy and W, x and dy) are float32 or, for `train.precision: bf16`,
// both bf16 (fp32 accumulation). Outputs are float32, except that with bf16 inputs the forward's
// y and the input gradient's dx may be bf16 (the activations handed from a linear layer to the
// next one, docs/PRECISION.md): cuBLASLt writes D in bf16 (one rounding of the fp32 result after
// the epilogue), the GELU aux then holds bf16 pre-activations (cuBLASLt's rule: aux takes D's
// type), and a bf16 dx takes DRELU/DGELU without BGRAD (BGRAD would write the bias gradient in
// bf16) and gets its fp32 bias gradient from kasmina's column sums over the bf16 dx. The
// fallbacks for a bf16 output run the plain GEMM into an fp32 scratch matrix and round once in
// kasmina's epilogue kernel, so they store what the fused epilogue stores.
// Biases, bias gradients and weight gradients are float32 always.
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/gemm.hpp"
#include "ops/cuda/launch.hpp"
#include "ops/cuda/side_lane.hpp"
#include "ops/cuda/small_gemm.hpp"

namespace kasmina::ops::cuda {

namespace {

// A GEMM's epilogue for each activation, without and with the bias (or bias gradient).
struct EpilogueTable {
  cublasLtEpilogue_t none[2], relu[2], gelu[2];

  cublasLtEpilogue_t pick(Activation act, bool bias) const {
    const cublasLtEpilogue_t* row = act == Activation::relu   ? relu
                                    : act == Activation::gelu ? gelu
                                                              : none;
    return row[bias ? 1 : 0];
  }
};

// Forward: y = act(x W^T + b).
constexpr EpilogueTable kForwardEpilogues{
    {CUBLASLT_EPILOGUE_DEFAULT, CUBLASLT_EPILOGUE_BIAS},
    {CUBLASLT_EPILOGUE_RELU_AUX, CUBLASLT_EPILOGUE_RELU_AUX_BIAS},
    {CUBLASLT_EPILOGUE_GELU_AUX, CUBLASLT_EPILOGUE_GELU_AUX_BIAS}};

// Input gradient through the input's activation (the bias gradient needs an activation).
constexpr EpilogueTable kInputGradEpilogues{
    {CUBLASLT_EPILOGUE_DEFAULT, CUBLASLT_EPILOGUE_DEFAULT},
    {CUBLASLT_EPILOGUE_DRELU, CUBLASLT_EPILOGUE_DRELU_BGRAD},
    {CUBLASLT_EPILOGUE_DGELU, CUBLASLT_EPILOGUE_DGELU_BGRAD}};

void zero(Tensor& t) {
  if (t.numel() > 0) t.fill_zero();
}

// The column-major product D[m,n] = op(A) op(B) of one of the three transposed products above,
// with no epilogue yet.
GemmSpec product(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const Tensor& a,
                 int64_t lda, const Tensor& b, int64_t ldb, void* d, int64_t ldd) {
  GemmSpec g;
  g.ab_type = gemm_type_of(a.dtype());
  g.trans_a = trans_a;
  g.trans_b = trans_b;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a.raw();
  g.lda = lda;
  g.b = b.raw();
  g.ldb = ldb;
  g.d = d;
  g.ldd = ldd;
  return g;
}

// Runs g with its fused epilogue; when cuBLASLt has no algorithm for it, runs the plain GEMM
// instead and then `fallback` (our own kernels for the epilogue's work) on the same stream.
template <class Fallback>
void gemm_with_fallback(DeviceContext& ctx, GemmSpec g, Fallback&& fallback) {
  if (gemm(ctx, g)) return;
  g.epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  g.bias = nullptr;
  g.aux = nullptr;
  gemm(ctx, g);
  fallback();
}

// cuBLASLt or the own small GEMM (ops/gemm_route.hpp). With fused epilogues switched off the
// call takes cuBLASLt's plain GEMM and kasmina's epilogue kernels, the path that switch tests.
bool use_own_gemm(const DeviceContext& ctx, const GemmShape& s) {
  return ctx.fused_epilogues &&
         choose_gemm_path(s, ctx.math, ctx.gemm_path, gemm_route_table()) == GemmPath::own;
}

// The own small GEMM's product C[rows, cols] = Σ over depth of A(i,l) B(l,j) (small_gemm.hpp).
SmallGemm own_product(LinearGemm kind, const float* a, int64_t a_i, int64_t a_l, const float* b,
                      int64_t b_l, int64_t b_j, float* c, int64_t rows, int64_t cols,
                      int64_t depth) {
  return {.kind = kind,
          .a = a,
          .a_i = a_i,
          .a_l = a_l,
          .b = b,
          .b_l = b_l,
          .b_j = b_j,
          .c = c,
          .I = rows,
          .J = cols,
          .L = depth};
}

// The output type of a linear op: float32, or bf16 when the GEMM inputs are bf16.
DType output_dtype(const char* op, const char* name, const Tensor& out, DType in) {
  const DType dt = out.dtype();
  KASMINA_CHECK(dt == DType::f32 || (dt == DType::bf16 && in == DType::bf16),
                std::string(op) + ": " + name + " is " + dtype_name(dt) +
                    (in == DType::bf16 ? ", expected float32 or bfloat16"
                                       : ", expected float32 (bf16 outputs need bf16 inputs)"));
  return dt;
}

// An fp32 matrix of rows x cols in the context's scratch buffer (the fallbacks' GEMM result
// before its one rounding to a bf16 output).
float* fp32_scratch(DeviceContext& ctx, int64_t rows, int64_t cols) {
  return static_cast<float*>(scratch(ctx, static_cast<size_t>(rows * cols) * sizeof(float)));
}

// Column sums of a float32 or bf16 matrix (the bias gradient of a weight-gradient GEMM).
void column_sums_of(DeviceContext& ctx, const Tensor& x, int64_t rows, int64_t cols, float* out) {
  if (x.dtype() == DType::bf16) return launch_column_sums_bf16(ctx, x.raw(), rows, cols, out);
  launch_column_sums(ctx, x.data<float>(), rows, cols, out);
}

// The `pass` route of a bf16 dx through the input's activation (ops/gemm_route.hpp): the plain
// GEMM, then kasmina's one pass (activation derivative, bf16 store, bias-gradient partials;
// kernels/activation_bf16.cu) instead of cuBLASLt's DRELU/DGELU epilogue. A ReLU's derivative
// (0 or 1) commutes with the rounding, so the GEMM stores its result in bf16 straight into dx
// and the pass masks it in place; a GELU's product is formed in fp32 (the GEMM into an fp32
// scratch matrix) and rounded once by the pass. For a layer of at most 16 outputs the ReLU
// case is one kernel (kernels/skinny_dgrad.cu) that forms the product itself.
void backward_input_pass(DeviceContext& ctx, const Tensor& dy, const Tensor& w, Activation act,
                         const Tensor& aux, Tensor& dx, float* dbias, int64_t m, int64_t n,
                         int64_t k) {
  const bool in_place = act == Activation::relu;
  if (in_place && n <= kSkinnyMaxOut && use_skinny_dgrad(m * k)) {  // the product in the pass
    launch_skinny_input_grad_relu(ctx, dy, w, aux.raw(), linear_aux_ld(act, k), dx, dbias);
    return;
  }
  const int64_t acc_floats = in_place ? 0 : m * k;
  const int64_t parts = dbias ? activation_bf16_partials(m, k) : 0;
  float* buf = acc_floats + parts > 0
                   ? static_cast<float*>(scratch(ctx, static_cast<size_t>(acc_floats + parts) * 4))
                   : nullptr;
  void* acc = in_place ? dx.raw() : static_cast<void*>(buf);
  GemmSpec g = product(false, false, k, m, n, w, k, dy, n, acc, k);
  g.d_type = in_place ? CUDA_R_16BF : CUDA_R_32F;
  gemm(ctx, g);
  launch_activation_backward_bf16(ctx, act, acc, in_place, aux.raw(), linear_aux_ld(act, k),
                                  act == Activation::gelu, dx.raw(), m, k,
                                  parts > 0 ? buf + acc_floats : nullptr, dbias);
}

}  // namespace

void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Activation act, Tensor& y,
                    Tensor& aux) {
  constexpr const char* op = "linear_forward";
  const Device dev = x.device();
  const DType in = gemm_input_dtype(op, "x", x, "w", w, dev);
  const auto [m, k] = matrix_dims(op, "x", x);
  const int64_t n = matrix_dims(op, "w", w).rows;
  check_arg(op, "w", w, dev, in, {n, k});
  const bool with_bias = b.defined();
  if (with_bias) check_arg(op, "b", b, dev, DType::f32, {n});
  check_on_device(op, "y", y, dev);
  const DType out = output_dtype(op, "y", y, in);
  const bool bf16_out = out == DType::bf16;
  check_arg(op, "y", y, dev, out, {m, n});
  check_linear_aux(op, act, aux, m, n, dev, out);
  if (m == 0 || n == 0) return;
  DeviceContext& ctx = context(dev);
  const int64_t aux_ld = linear_aux_ld(act, n);
  void* aux_ptr = act == Activation::none ? nullptr : aux.raw();
  const float* bias = with_bias ? b.data<float>() : nullptr;
  if (k == 0) {  // empty product: y = act(b)
    launch_bias_activation_forward(ctx.stream, nullptr, y.raw(), bf16_out, bias, m, n, act, aux_ptr,
                                   aux_ld);
    return;
  }
  if (in == DType::f32 && use_own_gemm(ctx, {LinearGemm::forward, m, k, n, act})) {
    SmallGemm g = own_product(LinearGemm::forward, x.data<float>(), k, 1, w.data<float>(), 1, k,
                              y.data<float>(), m, n, k);
    g.act = act;
    g.bias = bias;
    g.aux = aux_ptr;
    g.aux_ld = aux_ld;
    launch_small_gemm(ctx, g);
    return;
  }
  GemmSpec g = product(true, false, n, m, k, w, k, x, k, y.raw(), n);
  g.d_type = gemm_type_of(out);
  g.epilogue = kForwardEpilogues.pick(act, with_bias);
  g.bias = bias;
  g.aux = aux_ptr;
  g.aux_ld = aux_ld;
  if (gemm(ctx, g)) return;  // (a GELU epilogue into bf16 never is: gemm.cpp)
  // No epilogue: the plain GEMM, then bias and activation in kasmina's kernel (in place for a
  // float32 y; through an fp32 scratch result for a bf16 y, rounded once at the store).
  float* acc = bf16_out ? fp32_scratch(ctx, m, n) : y.data<float>();
  gemm(ctx, product(true, false, n, m, k, w, k, x, k, acc, n));
  launch_bias_activation_forward(ctx.stream, acc, y.raw(), bf16_out, bias, m, n, act, aux_ptr,
                                 aux_ld);
}

void linear_backward_input(const Tensor& dy, const Tensor& w, Activation in_act,
                           const Tensor& in_aux, Tensor& dx, Tensor* in_dbias) {
  constexpr const char* op = "linear_backward_input";
  const Device dev = dy.device();
  const DType in = gemm_input_dtype(op, "dy", dy, "w", w, dev);
  const auto [m, n] = matrix_dims(op, "dy", dy);
  const int64_t k = matrix_dims(op, "w", w).cols;
  check_arg(op, "w", w, dev, in, {n, k});
  check_on_device(op, "dx", dx, dev);
  const DType out = output_dtype(op, "dx", dx, in);
  const bool bf16_out = out == DType::bf16;
  check_arg(op, "dx", dx, dev, out, {m, k});
  KASMINA_CHECK(in_act != Activation::none || in_dbias == nullptr,
                std::string(op) + ": in_dbias requires a fused input activation");
  check_linear_aux(op, in_act, in_aux, m, k, dev, out);
  if (in_dbias) check_arg(op, "in_dbias", *in_dbias, dev, DType::f32, {k});
  if (k == 0) return;
  DeviceContext& ctx = context(dev);
  float* dbias = in_dbias ? in_dbias->data<float>() : nullptr;
  if (m == 0 || n == 0) {  // empty product: all gradients are zero
    zero(dx);
    if (in_dbias) zero(*in_dbias);
    return;
  }
  const int64_t aux_ld = linear_aux_ld(in_act, k);
  if (in == DType::f32 && use_own_gemm(ctx, {LinearGemm::backward_input, m, k, n, in_act})) {
    const bool masked = in_act != Activation::none;
    SmallGemm g = own_product(LinearGemm::backward_input, dy.data<float>(), n, 1, w.data<float>(),
                              k, 1, dx.data<float>(), m, k, n);
    g.act = in_act;
    g.aux = masked ? const_cast<void*>(in_aux.raw()) : nullptr;
    g.aux_ld = masked ? aux_ld : 0;
    g.col_sums = dbias;
    launch_small_gemm(ctx, g);
    return;
  }
  // A bf16 dx through the input's activation: the plain GEMM and kasmina's pass, or (below)
  // cuBLASLt's DRELU/DGELU, as ops/gemm_route.hpp chooses.
  if (bf16_out && in_act != Activation::none && ctx.fused_epilogues &&
      choose_dact_path({LinearGemm::backward_input, m, k, n, in_act}) == DactPath::pass) {
    backward_input_pass(ctx, dy, w, in_act, in_aux, dx, dbias, m, n, k);
    return;
  }
  // A bf16 dx: DRELU/DGELU only, the bias gradient summed in fp32 over the stored bf16 dx.
  const bool fused_dbias = dbias != nullptr && !bf16_out;
  GemmSpec g = product(false, false, k, m, n, w, k, dy, n, dx.raw(), k);
  g.d_type = gemm_type_of(out);
  g.epilogue = kInputGradEpilogues.pick(in_act, fused_dbias);
  if (in_act != Activation::none) {
    g.aux = const_cast<void*>(in_aux.raw());
    g.aux_ld = aux_ld;
    g.bias = fused_dbias ? dbias : nullptr;
  }
  const bool fused = gemm(ctx, g);
  if (!fused) {
    // No epilogue: the plain GEMM, then the activation's derivative in kasmina's kernel (in
    // place for a float32 dx; through an fp32 scratch result for a bf16 dx).
    float* acc = bf16_out ? fp32_scratch(ctx, m, k) : dx.data<float>();
    gemm(ctx, product(false, false, k, m, n, w, k, dy, n, acc, k));
    launch_activation_backward_from_aux(ctx.stream, in_act, acc, in_aux.raw(), aux_ld, bf16_out,
                                        dx.raw(), bf16_out, m, k);
  }
  // The bias gradient where no epilogue wrote it.
  if (dbias && !(fused && fused_dbias)) column_sums_of(ctx, dx, m, k, dbias);
}

void linear_backward_weight(const Tensor& dy, const Tensor& x, Tensor& dw, Tensor* db) {
  constexpr const char* op = "linear_backward_weight";
  const Device dev = dy.device();
  const DType in = gemm_input_dtype(op, "dy", dy, "x", x, dev);
  const auto [m, n] = matrix_dims(op, "dy", dy);
  const int64_t k = matrix_dims(op, "x", x).cols;
  check_arg(op, "x", x, dev, in, {m, k});
  check_arg(op, "dw", dw, dev, DType::f32, {n, k});
  if (db) check_arg(op, "db", *db, dev, DType::f32, {n});
  if (n == 0) return;
  DeviceContext& ctx = context(dev);
  const SideLane lane(ctx);  // off the critical path inside an ops::OffPathScope
  if (m == 0) {
    zero(dw);
    if (db) zero(*db);
    return;
  }
  if (k == 0) {
    if (db) column_sums_of(ctx, dy, m, n, db->data<float>());
    return;
  }
  if (in == DType::f32 &&
      use_own_gemm(ctx, {LinearGemm::backward_weight, m, k, n, Activation::none})) {
    SmallGemm g = own_product(LinearGemm::backward_weight, dy.data<float>(), 1, n, x.data<float>(),
                              k, 1, dw.data<float>(), n, k, m);
    g.row_sums = db ? db->data<float>() : nullptr;
    launch_small_gemm(ctx, g);
    return;
  }
  // A bf16 layer of few outputs (the logits): kasmina's skinny kernel (cuBLASLt has no good
  // algorithm for dy's leading dimension; kernels/skinny_wgrad.cu).
  if (in == DType::bf16 && n <= kSkinnyMaxOut) {
    launch_skinny_weight_grad(ctx, dy, x, dw.data<float>(), db ? db->data<float>() : nullptr);
    return;
  }
  GemmSpec g = product(false, true, k, n, m, x, k, dy, n, dw.data<float>(), k);
  g.epilogue = db ? CUBLASLT_EPILOGUE_BGRADB : CUBLASLT_EPILOGUE_DEFAULT;
  g.bias = db ? db->data<float>() : nullptr;
  gemm_with_fallback(ctx, g, [&] {
    if (db) column_sums_of(ctx, dy, m, n, db->data<float>());
  });
}

}  // namespace kasmina::ops::cuda
