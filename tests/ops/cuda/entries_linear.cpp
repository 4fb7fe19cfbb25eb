// Op table entries of the linear layers: linear_forward (with make_linear_aux and
// activation_backward_aux on its saved state), linear_backward_input, linear_backward_weight.
// Correctness: cuBLASLt epilogues and their fallbacks against the OpenBLAS CPU twins, with fp32,
// TF32 and bf16 GEMM inputs (bf16: both sides read the same bf16-rounded inputs, the CPU twin
// widened to fp32, and accumulate in fp32, so only the order of the sums differs: the fp32 GEMM
// tolerance; the rounding bound against unrounded inputs is tests/ops/cpu/test_linear_bf16.cpp).
// Gradients:
// one layer and two fused layers against finite differences in float64.
#include <string>
#include <tuple>
#include <vector>

#include "core/str_cat.hpp"
#include "kasmina_build_config.hpp"
#include "ops/gemm_route.hpp"
#include "ops/precision_ops.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/grad_check.hpp"
#include "tests/ops/cuda/op_table.hpp"
#if KASMINA_HAS_CUDA
#include "ops/cuda/gemm_options.hpp"
#endif

namespace kasmina::cuda_test {
namespace {

using ops::Activation;
using ops::MathMode;

struct LinearCase {
  int64_t m, n, k;
  Activation act;
  MathMode math;
  bool fused = true;                              // false: plain GEMM + kasmina's epilogue kernels
  ops::GemmPath path = ops::GemmPath::automatic;  // forced cuBLASLt or own small GEMM
};

void use_fused_epilogues(bool on) {
#if KASMINA_HAS_CUDA
  ops::cuda::set_fused_epilogues(gpu(), on);
#else
  (void)on;
#endif
}

const char* math_name(MathMode m) {
  return m == MathMode::tf32 ? "tf32" : m == MathMode::bf16 ? "bf16" : "fp32";
}

// A GEMM input as the case feeds it to both devices: its bf16 copy (rounded on the CPU) in bf16
// mode, the float32 tensor otherwise.
Tensor gemm_input(const Tensor& t, MathMode m) {
  if (m != MathMode::bf16) return t;
  Tensor out = Tensor::empty(t.shape(), DType::bf16);
  ops::cast_to_bf16(t, out);
  return out;
}

std::string case_name(const LinearCase& c) {
  return str_cat("M", c.m, "_N", c.n, "_K", c.k, "_") + ops::activation_name(c.act) + "_" +
         math_name(c.math) + (c.fused ? "" : "_unfused") +
         (c.path == ops::GemmPath::automatic ? "" : std::string("_") + ops::gemm_path_name(c.path));
}

std::string describe(const char* op, const LinearCase& c) {
  return std::string(op) + " [M=" + std::to_string(c.m) + " N=" + std::to_string(c.n) +
         " K=" + std::to_string(c.k) + " act=" + ops::activation_name(c.act) + " " +
         math_name(c.math) + (c.fused ? " fused epilogues" : " plain GEMM + own epilogue kernels") +
         " path " + ops::gemm_path_name(c.path) + "]";
}

double gemm_tol(MathMode math) {
  return math == MathMode::tf32 ? kTolTf32 : kTolF32Reduce;
}

uint64_t seed_of(const LinearCase& c, uint64_t salt) {
  return static_cast<uint64_t>(c.m * 1000003 + c.n * 1009 + c.k * 7 + static_cast<int>(c.act) * 31 +
                               static_cast<int>(c.math)) ^
         salt;
}

// The case's math mode and GEMM path for the duration of one case.
struct LinearSetup {
  explicit LinearSetup(const LinearCase& c) {
    ops::set_math_mode(gpu(), c.math);
    use_fused_epilogues(c.fused);
    ops::set_gemm_path(gpu(), c.path);
  }
  ~LinearSetup() {
    ops::set_math_mode(gpu(), MathMode::fp32);
    use_fused_epilogues(true);
    ops::set_gemm_path(gpu(), ops::GemmPath::automatic);
  }
};

// Saved state of a fused layer whose pre-activation is exactly `pre` on both devices: a forward
// through an identity weight (exact in fp32), so the backward tests see identical masks.
struct SavedState {
  Tensor cpu_aux, gpu_aux;
};

SavedState saved_state_from(const Tensor& pre, Activation act) {
  const int64_t rows = pre.dim(0), cols = pre.dim(1);
  SavedState s;
  if (act == Activation::none) return s;
  std::vector<float> eye(static_cast<size_t>(cols * cols), 0.0f);
  for (int64_t i = 0; i < cols; ++i) eye[static_cast<size_t>(i * cols + i)] = 1.0f;
  const Tensor w = Tensor::from_vector(eye, {cols, cols});
  const Tensor b = Tensor::zeros({cols});
  Tensor y_cpu = Tensor::empty({rows, cols});
  s.cpu_aux = ops::make_linear_aux(rows, cols, act, Device::cpu());
  ops::linear_forward(pre, w, b, act, y_cpu, s.cpu_aux);
  ops::set_math_mode(gpu(), MathMode::fp32);
  Tensor y_gpu = poisoned({rows, cols}, DType::f32);
  s.gpu_aux = ops::make_linear_aux(rows, cols, act, gpu());
  ops::linear_forward(on_gpu(pre), on_gpu(w), on_gpu(b), act, y_gpu, s.gpu_aux);
  // GELU's tanh differs between the CPU's libm and the GPU by a few float ulps (measured on
  // the H100: 1.7e-6 relative), so the bound is float rounding, not exactness.
  EXPECT_TRUE(close("identity linear_forward", y_gpu, y_cpu, kTolF32));
  return s;
}

void forward_case(const LinearCase& c) {
  for (bool with_bias : {true, false}) {
    const std::string what = describe("linear_forward", c) + (with_bias ? " bias" : " no-bias");
    const Tensor x = gemm_input(random_f32({c.m, c.k}, seed_of(c, 1)), c.math);
    const Tensor w = gemm_input(random_f32({c.n, c.k}, seed_of(c, 2)), c.math);
    const Tensor b = with_bias ? random_f32({c.n}, seed_of(c, 3)) : Tensor();
    Tensor y_cpu = Tensor::empty({c.m, c.n});
    Tensor aux_cpu = ops::make_linear_aux(c.m, c.n, c.act, Device::cpu());
    ops::linear_forward(x, w, b, c.act, y_cpu, aux_cpu);

    Tensor y_gpu = poisoned({c.m, c.n}, DType::f32);
    Tensor aux_gpu = ops::make_linear_aux(c.m, c.n, c.act, gpu());
    if (aux_gpu.defined()) aux_gpu = poisoned(aux_gpu.shape(), aux_gpu.dtype());
    ops::linear_forward(on_gpu(x), on_gpu(w), with_bias ? on_gpu(b) : Tensor(), c.act, y_gpu,
                        aux_gpu);
    ASSERT_TRUE(close(what + " y", y_gpu, y_cpu, gemm_tol(c.math)));
    if (c.act == Activation::none) continue;

    // The saved state must reproduce the activation's derivative.
    const Tensor dy = random_f32({c.m, c.n}, seed_of(c, 4));
    Tensor dpre_gpu = poisoned({c.m, c.n}, DType::f32);
    ops::activation_backward_aux(c.act, on_gpu(dy), aux_gpu, dpre_gpu);
    if (c.act == Activation::gelu) {
      Tensor dpre_cpu = Tensor::empty({c.m, c.n});
      ops::activation_backward_aux(c.act, dy, aux_cpu, dpre_cpu);
      EXPECT_TRUE(close(what + " activation_backward_aux(gelu aux)", dpre_gpu, dpre_cpu,
                        gemm_tol(c.math) * 10));
    } else {
      // ReLU mask bit set exactly where the CUDA output is positive. An output of exactly 0 may
      // come from a pre-activation that is a positive denormal (flushed to zero in the stored
      // output but counted positive by cuBLASLt's mask, seen once under TF32 on the H100):
      // there either answer is right, so the expectation takes the CUDA value.
      const std::vector<float> yv = y_gpu.to_vector<float>(), dyv = dy.to_vector<float>();
      const std::vector<float> got = dpre_gpu.to_vector<float>();
      std::vector<float> expect(yv.size());
      int64_t ties = 0;
      for (size_t i = 0; i < yv.size(); ++i) {
        expect[i] = yv[i] > 0.0f ? dyv[i] : 0.0f;
        if (yv[i] == 0.0f && got[i] == dyv[i]) {
          expect[i] = dyv[i];
          ++ties;
        }
      }
      EXPECT_LE(ties, 4) << what << ": zero outputs with the mask bit set";
      EXPECT_TRUE(same(what + " activation_backward_aux(relu mask) vs dy*(y>0)", dpre_gpu,
                       Tensor::from_vector(expect, {c.m, c.n})));
    }
  }
}

void backward_input_case(const LinearCase& c) {
  const Tensor dy = gemm_input(random_f32({c.m, c.n}, seed_of(c, 5)), c.math);
  const Tensor w = gemm_input(random_f32({c.n, c.k}, seed_of(c, 6)), c.math);
  const Tensor pre = random_away_from_zero({c.m, c.k}, seed_of(c, 7));
  const SavedState saved = saved_state_from(pre, c.act);
  ops::set_math_mode(gpu(), c.math);
  const bool can_dbias = c.act != Activation::none;
  for (bool with_dbias : {false, true}) {
    if (with_dbias && !can_dbias) continue;
    const std::string what =
        describe("linear_backward_input", c) + (with_dbias ? " +in_dbias" : "");
    Tensor dx_cpu = Tensor::empty({c.m, c.k});
    Tensor db_cpu = Tensor::empty({c.k});
    ops::linear_backward_input(dy, w, c.act, saved.cpu_aux, dx_cpu, with_dbias ? &db_cpu : nullptr);
    Tensor dx_gpu = poisoned({c.m, c.k}, DType::f32);
    Tensor db_gpu = poisoned({c.k}, DType::f32);
    ops::linear_backward_input(on_gpu(dy), on_gpu(w), c.act, saved.gpu_aux, dx_gpu,
                               with_dbias ? &db_gpu : nullptr);
    EXPECT_TRUE(close(what + " dx", dx_gpu, dx_cpu, gemm_tol(c.math)));
    if (with_dbias) {
      EXPECT_TRUE(close(what + " in_dbias", db_gpu, db_cpu, gemm_tol(c.math)));
    }
    // Deterministic mode: the same call gives the same bits (the bias-gradient reduction too).
    Tensor dx_again = poisoned({c.m, c.k}, DType::f32);
    Tensor db_again = poisoned({c.k}, DType::f32);
    ops::linear_backward_input(on_gpu(dy), on_gpu(w), c.act, saved.gpu_aux, dx_again,
                               with_dbias ? &db_again : nullptr);
    EXPECT_TRUE(same(what + " dx run to run", dx_again, dx_gpu));
    if (with_dbias) {
      EXPECT_TRUE(same(what + " in_dbias run to run", db_again, db_gpu));
    }
  }
}

void backward_weight_case(const LinearCase& c) {
  const Tensor dy = gemm_input(random_f32({c.m, c.n}, seed_of(c, 8)), c.math);
  const Tensor x = gemm_input(random_f32({c.m, c.k}, seed_of(c, 9)), c.math);
  for (bool with_db : {true, false}) {
    const std::string what = describe("linear_backward_weight", c) + (with_db ? " +db" : "");
    Tensor dw_cpu = Tensor::empty({c.n, c.k});
    Tensor db_cpu = Tensor::empty({c.n});
    ops::linear_backward_weight(dy, x, dw_cpu, with_db ? &db_cpu : nullptr);
    Tensor dw_gpu = poisoned({c.n, c.k}, DType::f32);
    Tensor db_gpu = poisoned({c.n}, DType::f32);
    ops::linear_backward_weight(on_gpu(dy), on_gpu(x), dw_gpu, with_db ? &db_gpu : nullptr);
    EXPECT_TRUE(close(what + " dw", dw_gpu, dw_cpu, gemm_tol(c.math)));
    Tensor dw_again = poisoned({c.n, c.k}, DType::f32);
    Tensor db_again = poisoned({c.n}, DType::f32);
    ops::linear_backward_weight(on_gpu(dy), on_gpu(x), dw_again, with_db ? &db_again : nullptr);
    EXPECT_TRUE(same(what + " dw run to run", dw_again, dw_gpu));
    if (with_db) {
      EXPECT_TRUE(same(what + " db run to run", db_again, db_gpu));
    }
    // cuBLASLt's BGRADB may reduce TF32-rounded operands: GEMM tolerance.
    if (with_db) {
      EXPECT_TRUE(close(what + " db", db_gpu, db_cpu, gemm_tol(c.math)));
    }
  }
}

std::vector<LinearCase> linear_cases() {
  std::vector<LinearCase> out;
  const std::vector<std::pair<int64_t, int64_t>> nk = {{1, 1},    {3, 10},   {10, 33},
                                                       {33, 784}, {1023, 3}, {784, 1023}};
  for (int64_t m : op_table::odd_rows()) {
    for (const auto& [n, k] : nk) {
      for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
        out.push_back({m, n, k, act, MathMode::fp32});
      }
    }
  }
  // Large batches, as a training step of a small MLP sees them.
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    out.push_back({8192, 256, 784, act, MathMode::fp32});
    out.push_back({8192, 10, 256, act, MathMode::fp32});
  }
  // TF32 tensor cores.
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    out.push_back({129, 33, 784, act, MathMode::tf32});
    out.push_back({4099, 1023, 10, act, MathMode::tf32});
    out.push_back({8192, 256, 784, act, MathMode::tf32});
  }
  // bf16 GEMM inputs (train.precision: bf16), fused and through the fallback kernels (the bias
  // gradient of a bf16 weight-gradient GEMM then sums the bf16 dy: launch_column_sums_bf16).
  // Up to 16 outputs the weight gradient is kasmina's skinny kernel (n = 1, 3, 10, 16 here:
  // partial row chunks, odd column counts); 20 outputs refuse cuBLASLt's BGRADB (gemm.cpp).
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    out.push_back({4099, 16, 131, act, MathMode::bf16});
    out.push_back({300, 20, 67, act, MathMode::bf16});
    out.push_back({1, 1, 1, act, MathMode::bf16});
    out.push_back({7, 3, 10, act, MathMode::bf16});
    out.push_back({129, 33, 784, act, MathMode::bf16});
    out.push_back({4099, 1023, 10, act, MathMode::bf16});
    out.push_back({8192, 256, 784, act, MathMode::bf16});
    out.push_back({8192, 10, 256, act, MathMode::bf16});
    out.push_back({7, 33, 10, act, MathMode::bf16, false});
    out.push_back({1000, 3, 1023, act, MathMode::bf16, false});
  }
  // kasmina's own epilogue kernels (bias + activation forward with cuBLASLt's aux format,
  // activation backward from aux, deterministic bias-gradient sums) after plain GEMMs.
  for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
    out.push_back({1, 1, 1, act, MathMode::fp32, false});
    out.push_back({7, 33, 10, act, MathMode::fp32, false});
    out.push_back({129, 1023, 784, act, MathMode::fp32, false});
    out.push_back({1000, 3, 1023, act, MathMode::fp32, false});
    out.push_back({4099, 130, 33, act, MathMode::fp32, false});
  }
  // kasmina's own small GEMM forced (edge tiles, both tile sizes, bias-gradient reductions over
  // many row tiles) and the reference MLP's shapes on both paths.
  using ops::GemmPath;
  for (Activation act : {Activation::none, Activation::relu}) {
    for (const auto& [m, n, k] :
         std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 1, 1},
                                                            {7, 33, 10},
                                                            {129, 1023, 784},
                                                            {1000, 3, 1023},
                                                            {4099, 130, 33},
                                                            {17, 17, 300}}) {
      out.push_back({m, n, k, act, MathMode::fp32, true, GemmPath::own});
    }
    for (int64_t batch : {128, 256}) {
      for (const auto& [n, k] :
           std::vector<std::pair<int64_t, int64_t>>{{256, 784}, {128, 256}, {10, 128}}) {
        out.push_back({batch, n, k, act, MathMode::fp32, true, GemmPath::own});
        out.push_back({batch, n, k, act, MathMode::fp32, true, GemmPath::cublaslt});
      }
    }
  }
  return out;
}

std::vector<op_table::OpCase> linear_cases_of(void (*fn)(const LinearCase&)) {
  std::vector<op_table::OpCase> out;
  for (const LinearCase& c : linear_cases()) {
    out.push_back({case_name(c), [c, fn] {
                     const LinearSetup setup(c);
                     fn(c);
                   }});
  }
  return out;
}

// ---- gradients (float64, CPU) ----

using namespace op_table;  // NOLINT: the gradient helpers

// Pre-activations at least 1e-3 away from ReLU's kink (finite differences must be smooth).
bool away_from_kink(Activation act, const Tensor& aux) {
  if (act != Activation::relu) return true;
  for (double pre : values(aux)) {
    if (std::abs(pre) <= 1e-3) return false;
  }
  return true;
}

// One layer y = act(x Wᵀ + b), loss Σ r ⊙ y: dW, db (linear_backward_weight), dx
// (linear_backward_input) from dpre (activation_backward_aux on the saved state).
void one_layer_gradients(int64_t m, int64_t n, int64_t k, Activation act) {
  const Device cpu = Device::cpu();
  for (uint64_t seed = 1000 + static_cast<uint64_t>(m * 100 + n * 10 + k);; seed += 7919) {
    Rng rng(seed);
    Tensor x = random_f64(rng, {m, k}), w = random_f64(rng, {n, k}), b = random_f64(rng, {n});
    const Tensor r = random_f64(rng, {m, n});
    Tensor y = Tensor::empty({m, n}, DType::f64);
    Tensor aux = ops::make_linear_aux(m, n, act, cpu, DType::f64);
    const auto loss = [&] {
      ops::linear_forward(x, w, b, act, y, aux);
      return weighted_sum(y, r);
    };
    loss();
    if (!away_from_kink(act, aux)) continue;
    Tensor dpre = Tensor::empty({m, n}, DType::f64);
    ops::activation_backward_aux(act, r, aux, dpre);
    Tensor dw = Tensor::empty({n, k}, DType::f64), db = Tensor::empty({n}, DType::f64);
    Tensor dx = Tensor::empty({m, k}, DType::f64);
    ops::linear_backward_weight(dpre, x, dw, &db);
    ops::linear_backward_input(dpre, w, Activation::none, Tensor(), dx, nullptr);
    double largest = expect_gradient(values(dw), numeric_gradient(w, loss), "dW");
    largest = std::max(largest, expect_gradient(values(db), numeric_gradient(b, loss), "db"));
    largest = std::max(largest, expect_gradient(values(dx), numeric_gradient(x, loss), "dx"));
    EXPECT_GT(largest, 1e-2) << "the numeric gradients vanish";
    return;
  }
}

// Two layers h = act1(x W1ᵀ + b1), y = gelu(h W2ᵀ + b2): the second layer's input backward
// fuses the first layer's activation backward and its bias gradient (in_dbias).
void fused_two_layer_gradients(int64_t m, int64_t k, int64_t hidden, int64_t n, Activation act1) {
  const Device cpu = Device::cpu();
  for (uint64_t seed = 2000 + static_cast<uint64_t>(m * 1000 + k * 100 + hidden * 10 + n);;
       seed += 7919) {
    Rng rng(seed);
    Tensor x = random_f64(rng, {m, k}), w1 = random_f64(rng, {hidden, k});
    Tensor b1 = random_f64(rng, {hidden}), w2 = random_f64(rng, {n, hidden});
    Tensor b2 = random_f64(rng, {n});
    const Tensor r = random_f64(rng, {m, n});
    Tensor h = Tensor::empty({m, hidden}, DType::f64), y = Tensor::empty({m, n}, DType::f64);
    Tensor aux1 = ops::make_linear_aux(m, hidden, act1, cpu, DType::f64);
    Tensor aux2 = ops::make_linear_aux(m, n, Activation::gelu, cpu, DType::f64);
    const auto loss = [&] {
      ops::linear_forward(x, w1, b1, act1, h, aux1);
      ops::linear_forward(h, w2, b2, Activation::gelu, y, aux2);
      return weighted_sum(y, r);
    };
    loss();
    if (!away_from_kink(act1, aux1)) continue;
    Tensor dpre2 = Tensor::empty({m, n}, DType::f64);
    ops::activation_backward_aux(Activation::gelu, r, aux2, dpre2);
    Tensor dw2 = Tensor::empty({n, hidden}, DType::f64), db2 = Tensor::empty({n}, DType::f64);
    ops::linear_backward_weight(dpre2, h, dw2, &db2);
    Tensor dpre1 = Tensor::empty({m, hidden}, DType::f64),
           db1 = Tensor::empty({hidden}, DType::f64);
    ops::linear_backward_input(dpre2, w2, act1, aux1, dpre1, &db1);
    Tensor dw1 = Tensor::empty({hidden, k}, DType::f64), dx = Tensor::empty({m, k}, DType::f64);
    ops::linear_backward_weight(dpre1, x, dw1, nullptr);
    ops::linear_backward_input(dpre1, w1, Activation::none, Tensor(), dx, nullptr);
    double largest = expect_gradient(values(dw2), numeric_gradient(w2, loss), "dW2");
    largest = std::max(largest, expect_gradient(values(db2), numeric_gradient(b2, loss), "db2"));
    largest = std::max(
        largest, expect_gradient(values(db1), numeric_gradient(b1, loss), "db1 (fused in_dbias)"));
    largest = std::max(largest, expect_gradient(values(dw1), numeric_gradient(w1, loss), "dW1"));
    largest = std::max(largest, expect_gradient(values(dx), numeric_gradient(x, loss), "dx"));
    EXPECT_GT(largest, 1e-2) << "the numeric gradients vanish";
    return;
  }
}

std::vector<op_table::OpCase> linear_gradient_cases() {
  std::vector<op_table::OpCase> out;
  const std::vector<std::tuple<int64_t, int64_t, int64_t>> one = {
      {1, 1, 1}, {1, 3, 2}, {4, 3, 5}, {7, 2, 9}};
  for (const auto& [m, n, k] : one) {
    for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
      out.push_back(
          {op_table::dims({{"M", m}, {"N", n}, {"K", k}}) + "_" + ops::activation_name(act),
           [m, n, k, act] { one_layer_gradients(m, n, k, act); }});
    }
  }
  const std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>> two = {
      {1, 3, 6, 1}, {3, 4, 5, 2}, {5, 2, 3, 4}};
  for (const auto& [m, k, hid, n] : two) {
    for (Activation act : {Activation::relu, Activation::gelu}) {
      out.push_back({"fused_" + op_table::dims({{"M", m}, {"K", k}, {"H", hid}, {"N", n}}) + "_" +
                         ops::activation_name(act),
                     [m = m, k = k, hid = hid, n = n, act] {
                       fused_two_layer_gradients(m, k, hid, n, act);
                     }});
    }
  }
  return out;
}

// ---- perf ----

struct PerfShape {
  int64_t m, n, k;
};
const std::vector<PerfShape> kPerfShapes = {{8192, 256, 784}, {8192, 10, 256}, {4099, 1023, 33}};

std::vector<op_table::OpCase> linear_perf_cases(int which) {
  std::vector<op_table::OpCase> out;
  for (const PerfShape& p : kPerfShapes) {
    for (Activation act : {Activation::none, Activation::relu, Activation::gelu}) {
      out.push_back(
          {op_table::dims({{"M", p.m}, {"N", p.n}, {"K", p.k}}) + "_" + ops::activation_name(act),
           [p, act, which] {
             const Device dev = op_table::perf_device();
             const Tensor x = random_f32({p.m, p.k}, 1).to(dev);
             const Tensor w = random_f32({p.n, p.k}, 2).to(dev);
             const Tensor b = random_f32({p.n}, 3).to(dev);
             const Tensor dy = random_f32({p.m, p.n}, 4).to(dev);
             Tensor y = Tensor::empty({p.m, p.n}, DType::f32, dev);
             Tensor aux = ops::make_linear_aux(p.m, p.n, act, dev);
             Tensor dx = Tensor::empty({p.m, p.k}, DType::f32, dev);
             Tensor dw = Tensor::empty({p.n, p.k}, DType::f32, dev);
             Tensor db = Tensor::empty({p.n}, DType::f32, dev);
             ops::linear_forward(x, w, b, act, y, aux);
             const std::string what = std::string(which == 0   ? "linear_forward"
                                                  : which == 1 ? "linear_backward_input"
                                                               : "linear_backward_weight") +
                                      " " + std::to_string(p.m) + "x" + std::to_string(p.n) + "x" +
                                      std::to_string(p.k) + " " + ops::activation_name(act);
             op_table::time_op(what, dev, [&] {
               if (which == 0) ops::linear_forward(x, w, b, act, y, aux);
               if (which == 1)
                 ops::linear_backward_input(dy, w, Activation::none, Tensor(), dx, nullptr);
               if (which == 2) ops::linear_backward_weight(dy, x, dw, &db);
             });
           }});
    }
  }
  return out;
}

}  // namespace
}  // namespace kasmina::cuda_test

namespace kasmina::op_table {

KASMINA_OP_TABLE_ENTRY(linear_forward) {
  OpTestEntry e;
  e.ops = {"linear_forward", "make_linear_aux", "activation_backward_aux"};
  e.grad_ops = {"linear_forward", "linear_backward_input", "linear_backward_weight",
                "activation_backward_aux"};
  e.correctness = [] { return cuda_test::linear_cases_of(&cuda_test::forward_case); };
  e.gradients = &cuda_test::linear_gradient_cases;
  e.perf = [] { return cuda_test::linear_perf_cases(0); };
  return e;
}

KASMINA_OP_TABLE_ENTRY(linear_backward_input) {
  OpTestEntry e;
  e.ops = {"linear_backward_input"};
  e.correctness = [] { return cuda_test::linear_cases_of(&cuda_test::backward_input_case); };
  e.perf = [] { return cuda_test::linear_perf_cases(1); };
  return e;
}

KASMINA_OP_TABLE_ENTRY(linear_backward_weight) {
  OpTestEntry e;
  e.ops = {"linear_backward_weight"};
  e.correctness = [] { return cuda_test::linear_cases_of(&cuda_test::backward_weight_case); };
  e.perf = [] { return cuda_test::linear_perf_cases(2); };
  return e;
}

}  // namespace kasmina::op_table
