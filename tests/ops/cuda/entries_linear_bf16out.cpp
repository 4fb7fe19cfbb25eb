// Op table entry of the bf16 activations between linear layers (docs/PRECISION.md):
// linear_forward with a bf16 y (cuBLASLt D in bf16 with the bias/ReLU/GELU epilogue, the GELU
// aux then in bf16; or the fallback: plain GEMM into fp32 scratch + kasmina's bias/activation
// kernel rounding once) and linear_backward_input with a bf16 dx (DRELU/DGELU without BGRAD,
// the fp32 bias gradient from kasmina's column sums over the bf16 dx; or the fallback), and
// activation_backward_aux on a bf16 GELU aux. Both sides read identical bf16 inputs and
// accumulate in fp32, so their fp32 results differ only by the order of the sums, and after the
// one rounding each stored element is the CPU's or one bf16 ulp (2^-8 relative) from it; a
// rounding other than to nearest-even would move far more elements than the 2% allowed.
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "core/str_cat.hpp"
#include "kasmina_build_config.hpp"
#include "ops/gemm_route.hpp"
#include "ops/precision_ops.hpp"
#include "tests/ops/cpu/bf16_test_util.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/op_table.hpp"
#if KASMINA_HAS_CUDA
#include "ops/cuda/gemm_options.hpp"
#endif

namespace kasmina::cuda_test {
namespace {

using ops::bf16_test::to_bf16;

using ops::Activation;

struct Bf16OutCase {
  int64_t m, n, k;
  Activation act;
  bool fused = true;  // false: plain GEMM + kasmina's epilogue kernels
  // The input gradient's route (ops/gemm_route.hpp): automatic, or forced to cuBLASLt's
  // DRELU/DGELU or to the plain GEMM + kasmina's pass.
  ops::DactPath dact = ops::DactPath::automatic;
  bool skinny = true;  // false: the pass route without its one-kernel form for <= 16 outputs
};

const char* dact_suffix(ops::DactPath p) {
  return p == ops::DactPath::pass ? "_pass" : p == ops::DactPath::cublaslt ? "_cublaslt" : "";
}

std::string case_name(const Bf16OutCase& c) {
  return str_cat("M", c.m, "_N", c.n, "_K", c.k, "_") + ops::activation_name(c.act) + "_bf16out" +
         (c.fused ? "" : "_unfused") + dact_suffix(c.dact) + (c.skinny ? "" : "_noskinny");
}

std::string describe(const char* op, const Bf16OutCase& c) {
  return std::string(op) + " [M=" + std::to_string(c.m) + " N=" + std::to_string(c.n) +
         " K=" + std::to_string(c.k) + " act=" + ops::activation_name(c.act) + " bf16 output" +
         (c.fused ? " fused epilogues" : " plain GEMM + own epilogue kernels") +
         (c.dact == ops::DactPath::automatic
              ? ""
              : std::string(" route ") + ops::dact_path_name(c.dact)) +
         "]";
}

uint64_t seed_of(const Bf16OutCase& c, uint64_t salt) {
  return static_cast<uint64_t>(c.m * 1000003 + c.n * 1009 + c.k * 7 +
                               static_cast<int>(c.act) * 31) ^
         (salt * 0x9E3779B97F4A7C15ull);
}

// bf16 mode and the case's epilogue path for the duration of one case.
struct Bf16OutSetup {
  explicit Bf16OutSetup(const Bf16OutCase& c) : skinny_before(ops::skinny_dgrad_mode()) {
    ops::set_math_mode(gpu(), ops::MathMode::bf16);
    ops::set_dact_path(c.dact);
    ops::set_skinny_dgrad_mode(c.skinny ? ops::SkinnyDgrad::on : ops::SkinnyDgrad::off);
#if KASMINA_HAS_CUDA
    ops::cuda::set_fused_epilogues(gpu(), c.fused);
#else
    (void)c;
#endif
  }
  ~Bf16OutSetup() {
    ops::set_math_mode(gpu(), ops::MathMode::fp32);
    ops::set_dact_path(ops::DactPath::automatic);
    ops::set_skinny_dgrad_mode(skinny_before);
#if KASMINA_HAS_CUDA
    ops::cuda::set_fused_epilogues(gpu(), true);
#endif
  }
  ops::SkinnyDgrad skinny_before;
};

// The first `cols` columns of a CUDA matrix with padded rows (cuBLASLt's aux), as float32 on
// the CPU.
Tensor first_columns(const Tensor& cuda_padded, int64_t cols) {
  const std::vector<double> v = host_values(cuda_padded);
  const int64_t rows = cuda_padded.dim(0), ld = cuda_padded.dim(1);
  std::vector<float> out;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out.push_back(static_cast<float>(v[r * ld + c]));
  }
  return Tensor::from_vector(out, {rows, cols});
}

void forward_case(const Bf16OutCase& c) {
  for (bool with_bias : {true, false}) {
    const std::string what = describe("linear_forward", c) + (with_bias ? " bias" : " no-bias");
    const Tensor x = to_bf16(random_f32({c.m, c.k}, seed_of(c, 1)));
    const Tensor w = to_bf16(random_f32({c.n, c.k}, seed_of(c, 2)));
    const Tensor b = with_bias ? random_f32({c.n}, seed_of(c, 3)) : Tensor();
    Tensor y_cpu = Tensor::empty({c.m, c.n}, DType::bf16);
    Tensor aux_cpu = ops::make_linear_aux(c.m, c.n, c.act, Device::cpu(), DType::bf16);
    ops::linear_forward(x, w, b, c.act, y_cpu, aux_cpu);
    Tensor y_gpu = poisoned({c.m, c.n}, DType::bf16);
    Tensor aux_gpu = ops::make_linear_aux(c.m, c.n, c.act, gpu(), DType::bf16);
    if (aux_gpu.defined()) aux_gpu = poisoned(aux_gpu.shape(), aux_gpu.dtype());
    ops::linear_forward(on_gpu(x), on_gpu(w), with_bias ? on_gpu(b) : Tensor(), c.act, y_gpu,
                        aux_gpu);
    ASSERT_TRUE(within_one_ulp(what + " y", y_gpu, y_cpu));
    Tensor y_again = poisoned({c.m, c.n}, DType::bf16);
    ops::linear_forward(on_gpu(x), on_gpu(w), with_bias ? on_gpu(b) : Tensor(), c.act, y_again,
                        aux_gpu);
    EXPECT_TRUE(bitwise_equal(what + " y run to run", y_again, y_gpu));
    if (c.act == Activation::none) continue;
    // The saved state reproduces the activation's derivative (GELU: from the bf16 aux).
    const Tensor dy = random_f32({c.m, c.n}, seed_of(c, 4));
    Tensor dpre_gpu = poisoned({c.m, c.n}, DType::f32);
    ops::activation_backward_aux(c.act, on_gpu(dy), aux_gpu, dpre_gpu);
    if (c.act == Activation::gelu) {
      EXPECT_TRUE(within_one_ulp(what + " gelu aux (bf16 pre-activation)",
                                 first_columns(aux_gpu, c.n), aux_cpu));
      Tensor dpre_cpu = Tensor::empty({c.m, c.n});
      ops::activation_backward_aux(c.act, dy, aux_cpu, dpre_cpu);
      // One bf16 ulp of the pre-activation moves gelu' by at most ~2^-8 of its scale.
      EXPECT_TRUE(close(what + " activation_backward_aux(bf16 gelu aux)", dpre_gpu, dpre_cpu,
                        std::ldexp(1.0, -7)));
    } else {
      // ReLU mask bit set exactly where the stored output is positive; where it is zero the
      // pre-activation may have been a positive float32 subnormal that the bf16 store flushed
      // to zero (seen once in 4.2M elements on the H200), so either answer is accepted there.
      const std::vector<double> yv = host_values(y_gpu), dyv = host_values(dy),
                                gv = host_values(dpre_gpu);
      std::vector<float> expect(yv.size());
      for (size_t i = 0; i < yv.size(); ++i) {
        const bool pass = yv[i] > 0.0 || (yv[i] == 0.0 && gv[i] == dyv[i]);
        expect[i] = pass ? static_cast<float>(dyv[i]) : 0.0f;
      }
      EXPECT_TRUE(same(what + " activation_backward_aux(relu mask) vs dy*(y>0)", dpre_gpu,
                       Tensor::from_vector(expect, {c.m, c.n})));
    }
  }
}

// The saved state of a bf16-output layer whose pre-activation is exactly `pre` (bf16 values)
// on both devices: an identity forward (exact).
struct SavedState {
  Tensor cpu_aux, gpu_aux;
};

SavedState saved_state_from(const Tensor& pre16, Activation act) {
  const int64_t rows = pre16.dim(0), cols = pre16.dim(1);
  SavedState s;
  if (act == Activation::none) return s;
  std::vector<float> eye(static_cast<size_t>(cols * cols), 0.0f);
  for (int64_t i = 0; i < cols; ++i) eye[static_cast<size_t>(i * cols + i)] = 1.0f;
  const Tensor w = to_bf16(Tensor::from_vector(eye, {cols, cols}));
  Tensor y_cpu = Tensor::empty({rows, cols}, DType::bf16);
  s.cpu_aux = ops::make_linear_aux(rows, cols, act, Device::cpu(), DType::bf16);
  ops::linear_forward(pre16, w, Tensor(), act, y_cpu, s.cpu_aux);
  Tensor y_gpu = poisoned({rows, cols}, DType::bf16);
  s.gpu_aux = ops::make_linear_aux(rows, cols, act, gpu(), DType::bf16);
  ops::linear_forward(on_gpu(pre16), on_gpu(w), Tensor(), act, y_gpu, s.gpu_aux);
  EXPECT_TRUE(same("identity linear_forward (bf16 output)", y_gpu, y_cpu));
  return s;
}

void backward_input_case(const Bf16OutCase& c) {
  const Tensor dy = to_bf16(random_f32({c.m, c.n}, seed_of(c, 5)));
  const Tensor w = to_bf16(random_f32({c.n, c.k}, seed_of(c, 6)));
  const SavedState saved =
      saved_state_from(to_bf16(random_away_from_zero({c.m, c.k}, seed_of(c, 7))), c.act);
  for (bool with_dbias : {false, true}) {
    if (with_dbias && c.act == Activation::none) continue;
    const std::string what =
        describe("linear_backward_input", c) + (with_dbias ? " +in_dbias" : "");
    Tensor dx_cpu = Tensor::empty({c.m, c.k}, DType::bf16), db_cpu = Tensor::empty({c.k});
    ops::linear_backward_input(dy, w, c.act, saved.cpu_aux, dx_cpu, with_dbias ? &db_cpu : nullptr);
    Tensor dx_gpu = poisoned({c.m, c.k}, DType::bf16), db_gpu = poisoned({c.k}, DType::f32);
    ops::linear_backward_input(on_gpu(dy), on_gpu(w), c.act, saved.gpu_aux, dx_gpu,
                               with_dbias ? &db_gpu : nullptr);
    EXPECT_TRUE(within_one_ulp(what + " dx", dx_gpu, dx_cpu));
    if (with_dbias) {
      // fp32 sums of the stored bf16 dx (the GPU's own values), and near the CPU twin's.
      EXPECT_TRUE(close(what + " in_dbias vs sums of the CUDA dx", db_gpu,
                        column_sums_of(dx_gpu, c.m, c.k), kTolF32Reduce));
      EXPECT_TRUE(close(what + " in_dbias", db_gpu, db_cpu, std::ldexp(1.0, -7)));
    }
    Tensor dx_again = poisoned({c.m, c.k}, DType::bf16), db_again = poisoned({c.k}, DType::f32);
    ops::linear_backward_input(on_gpu(dy), on_gpu(w), c.act, saved.gpu_aux, dx_again,
                               with_dbias ? &db_again : nullptr);
    EXPECT_TRUE(bitwise_equal(what + " dx run to run", dx_again, dx_gpu));
    if (with_dbias) {
      EXPECT_TRUE(bitwise_equal(what + " in_dbias run to run", db_again, db_gpu));
    }
  }
}

std::vector<Bf16OutCase> bf16out_cases() {
  std::vector<Bf16OutCase> out;
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    out.push_back({1, 1, 1, act});
    out.push_back({7, 3, 10, act});
    out.push_back({129, 33, 784, act});
    out.push_back({4099, 1023, 10, act});
    out.push_back({8192, 256, 784, act});  // the reference MLP's layers at a large batch
    out.push_back({8192, 128, 256, act});
    out.push_back({128, 256, 784, act});  // ... and at its batch of 128
    out.push_back({128, 128, 256, act});
    out.push_back({7, 33, 10, act, false});
    out.push_back({1000, 3, 1023, act, false});
    out.push_back({4099, 130, 33, act, false});
    if (act == Activation::none) continue;
    for (ops::DactPath p : {ops::DactPath::pass, ops::DactPath::cublaslt}) {
      out.push_back({7, 3, 10, act, true, p});
      out.push_back({129, 33, 784, act, true, p});
      out.push_back({4099, 1023, 10, act, true, p});
      out.push_back({1000, 256, 1024, act, true, p});
    }
    // dy [m, n] with n <= 16 (the logits layer's input gradient): the skinny kernel under the
    // pass route (odd and even widths of dx, one output), and the GEMM + pass without it.
    for (ops::DactPath p : {ops::DactPath::pass, ops::DactPath::cublaslt}) {
      out.push_back({4099, 10, 1023, act, true, p});
      out.push_back({1000, 16, 1024, act, true, p});
    }
    out.push_back({129, 1, 256, act, true, ops::DactPath::pass});
    if (act != Activation::relu) continue;  // (the skinny kernel is ReLU only)
    out.push_back({4099, 10, 1023, act, true, ops::DactPath::pass, false});
    out.push_back({1000, 16, 1024, act, true, ops::DactPath::pass, false});
  }
  return out;
}

std::vector<op_table::OpCase> cases_of(void (*fn)(const Bf16OutCase&)) {
  std::vector<op_table::OpCase> out;
  for (const Bf16OutCase& c : bf16out_cases()) {
    // The route cases concern the input gradient only.
    if (fn != &backward_input_case && (c.dact != ops::DactPath::automatic || !c.skinny)) continue;
    out.push_back({case_name(c), [c, fn] {
                     const Bf16OutSetup setup(c);
                     fn(c);
                   }});
  }
  return out;
}

// ---- perf: the MLP's layers at batch 8192 with bf16 outputs (compare the `_bf16` perf rows of
// linear_forward / linear_backward_input, which write float32), and the wide MLP's input
// gradients (4096 x 4096 x 4096, 4096 x 4096 x 10); the input gradients through an activation
// once per route (ops/gemm_route.hpp) ----

std::vector<op_table::OpCase> perf_cases(bool forward) {
  struct Shape3 {
    int64_t m, n, k;
  };
  std::vector<op_table::OpCase> out;
  for (const Shape3 p : {Shape3{8192, 256, 784}, Shape3{8192, 128, 256}, Shape3{4096, 1024, 1024},
                         Shape3{4096, 4096, 4096}, Shape3{4096, 4096, 10}, Shape3{256, 256, 128}}) {
    for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
      for (const auto& [route, skinny] : {std::pair{ops::DactPath::cublaslt, true},
                                          {ops::DactPath::pass, true},
                                          {ops::DactPath::pass, false}}) {
        if ((forward || act == Activation::none) && route == ops::DactPath::pass) continue;
        if (!skinny && (act != Activation::relu || p.k > 16)) continue;
        const ops::DactPath forced =
            forward || act == Activation::none ? ops::DactPath::automatic : route;
        out.push_back(
            {op_table::dims({{"M", p.m}, {"N", p.n}, {"K", p.k}}) + "_" +
                 ops::activation_name(act) + dact_suffix(forced) + (skinny ? "" : "_noskinny"),
             [p, act, forward, forced, skinny = skinny] {
               const Device dev = op_table::perf_device();
               ops::set_math_mode(dev, ops::MathMode::bf16);
               ops::set_dact_path(forced);
               const ops::SkinnyDgrad skinny_before = ops::skinny_dgrad_mode();
               ops::set_skinny_dgrad_mode(skinny ? ops::SkinnyDgrad::on : ops::SkinnyDgrad::off);
               const Tensor x = to_bf16(random_f32({p.m, p.k}, 1)).to(dev);
               const Tensor w = to_bf16(random_f32({p.n, p.k}, 2)).to(dev);
               const Tensor b = random_f32({p.n}, 3).to(dev);
               Tensor y = Tensor::empty({p.m, p.n}, DType::bf16, dev);
               Tensor aux = ops::make_linear_aux(p.m, p.n, act, dev, DType::bf16);
               ops::linear_forward(x, w, b, act, y, aux);
               // The input gradient w.r.t. a [M, N] layer input whose saved state is
               // `aux`.
               const Tensor dy = to_bf16(random_f32({p.m, p.k}, 4)).to(dev);
               const Tensor wt = to_bf16(random_f32({p.k, p.n}, 5)).to(dev);
               Tensor dx = Tensor::empty({p.m, p.n}, DType::bf16, dev);
               Tensor db = Tensor::empty({p.n}, DType::f32, dev);
               const std::string what =
                   std::string(forward ? "linear_forward" : "linear_backward_input") +
                   " bf16 output " + std::to_string(p.m) + "x" + std::to_string(p.n) + "x" +
                   std::to_string(p.k) + " " + ops::activation_name(act) +
                   (forced == ops::DactPath::automatic
                        ? ""
                        : std::string(" route ") + ops::dact_path_name(forced)) +
                   (skinny ? "" : " (GEMM + pass for <= 16 outputs)");
               op_table::time_op(what, dev, [&] {
                 if (forward) {
                   ops::linear_forward(x, w, b, act, y, aux);
                 } else {
                   ops::linear_backward_input(dy, wt, act, aux, dx,
                                              act == Activation::none ? nullptr : &db);
                 }
               });
               ops::set_math_mode(dev, ops::MathMode::fp32);
               ops::set_dact_path(ops::DactPath::automatic);
               ops::set_skinny_dgrad_mode(skinny_before);
             }});
      }
    }
  }
  return out;
}

// Today's forward of a ReLU layer before a linear layer, for comparison with the bf16-output
// rows above: RELU_AUX_BIAS into an fp32 y, then the next layer's cast of it to bf16.
std::vector<op_table::OpCase> fp32_y_perf_cases() {
  std::vector<op_table::OpCase> out;
  for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{4096, 1024, 1024},
                                {4096, 4096, 4096},
                                {4096, 4096, 784}}) {
    out.push_back({op_table::dims({{"M", m}, {"N", n}, {"K", k}}) + "_relu_fp32y_cast",
                   [m = m, n = n, k = k] {
                     const Device dev = op_table::perf_device();
                     const Tensor x = to_bf16(random_f32({m, k}, 1)).to(dev);
                     const Tensor w = to_bf16(random_f32({n, k}, 2)).to(dev);
                     const Tensor b = random_f32({n}, 3).to(dev);
                     Tensor y = Tensor::empty({m, n}, DType::f32, dev);
                     Tensor y16 = Tensor::empty({m, n}, DType::bf16, dev);
                     Tensor aux = ops::make_linear_aux(m, n, Activation::relu, dev);
                     op_table::time_op("linear_forward fp32 y (RELU_AUX_BIAS) + cast " +
                                           std::to_string(m) + "x" + std::to_string(n) + "x" +
                                           std::to_string(k) + " relu",
                                       dev, [&] {
                                         ops::linear_forward(x, w, b, Activation::relu, y, aux);
                                         ops::cast_to_bf16(y, y16);
                                       });
                   }});
  }
  return out;
}

// The step before the bf16 gradient hand-off, for comparison with the rows above: DRELU_BGRAD
// into an fp32 dx, then the layer below's cast of it to bf16.
std::vector<op_table::OpCase> fp32_dx_perf_cases() {
  std::vector<op_table::OpCase> out;
  for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{4096, 1024, 1024},
                                {4096, 4096, 4096},
                                {4096, 4096, 10},
                                {256, 256, 128}}) {
    out.push_back({op_table::dims({{"M", m}, {"N", n}, {"K", k}}) + "_relu_fp32dx_cast",
                   [m = m, n = n, k = k] {
                     const Device dev = op_table::perf_device();
                     const Tensor x = to_bf16(random_f32({m, k}, 1)).to(dev);
                     const Tensor w = to_bf16(random_f32({n, k}, 2)).to(dev);
                     Tensor y = Tensor::empty({m, n}, DType::f32, dev);
                     Tensor aux = ops::make_linear_aux(m, n, Activation::relu, dev);
                     ops::linear_forward(x, w, Tensor(), Activation::relu, y, aux);
                     const Tensor dy = to_bf16(random_f32({m, k}, 4)).to(dev);
                     const Tensor wt = to_bf16(random_f32({k, n}, 5)).to(dev);
                     Tensor dx = Tensor::empty({m, n}, DType::f32, dev);
                     Tensor dx16 = Tensor::empty({m, n}, DType::bf16, dev);
                     Tensor db = Tensor::empty({n}, DType::f32, dev);
                     op_table::time_op(
                         "linear_backward_input fp32 dx (DRELU_BGRAD) + cast " + std::to_string(m) +
                             "x" + std::to_string(n) + "x" + std::to_string(k) + " relu",
                         dev, [&] {
                           ops::linear_backward_input(dy, wt, Activation::relu, aux, dx, &db);
                           ops::cast_to_bf16(dx, dx16);
                         });
                   }});
  }
  return out;
}

}  // namespace
}  // namespace kasmina::cuda_test

namespace kasmina::op_table {

KASMINA_OP_TABLE_ENTRY(linear_forward_bf16out) {
  OpTestEntry e;
  e.ops = {"linear_forward", "make_linear_aux", "activation_backward_aux"};
  e.correctness = [] { return cuda_test::cases_of(&cuda_test::forward_case); };
  e.perf = [] {
    std::vector<OpCase> cases = cuda_test::perf_cases(true);
    for (OpCase& c : cuda_test::fp32_y_perf_cases()) cases.push_back(std::move(c));
    return cases;
  };
  return e;
}

KASMINA_OP_TABLE_ENTRY(linear_backward_input_bf16out) {
  OpTestEntry e;
  e.ops = {"linear_backward_input"};
  e.correctness = [] { return cuda_test::cases_of(&cuda_test::backward_input_case); };
  e.perf = [] {
    std::vector<OpCase> cases = cuda_test::perf_cases(false);
    for (OpCase& c : cuda_test::fp32_dx_perf_cases()) cases.push_back(std::move(c));
    return cases;
  };
  return e;
}

}  // namespace kasmina::op_table
