// The problems of the fused MLP step's op-table entries (entries_mlp_step.cpp,
// entries_mlp_step_ends.cpp): a case's inputs in float32 on the CPU, built so that both devices
// agree on every relu mask, their upload with poisoned outputs, and the comparison of every
// output with float32 tolerances that grow with the length of the sums behind it.
//
// The relu masks must agree between the devices, or dpre differs by whole gradient entries: the
// inputs are built so that every relu pre-activation sits kKinkGap or more from 0 in float64 (the
// hidden biases are nudged per unit), far beyond the float32 rounding by which the devices' sums
// differ. `correct` may differ only on rows whose two largest logits are nearly tied.
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ops/mlp_step_ops.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/op_table.hpp"
#include "tests/ops/mlp_step_tensors.hpp"

namespace kasmina::cuda_test::mlp_problem {

using ops::Activation;
constexpr Activation kRelu = Activation::relu;
constexpr Activation kNone = Activation::none;

constexpr double kKinkGap = 1e-4;  // |relu pre-activation| in float64, at least
constexpr double kTieGap = 1e-4;   // rows whose top two logits are closer may count differently

struct LayerSpec {
  int64_t out;
  Activation act;
  bool bias = true;
};

struct MlpCase {
  std::string name;
  int64_t batch, in;
  std::vector<LayerSpec> layers;
};

inline std::string case_name(const MlpCase& c) {
  return c.name;
}

// The inputs of one step, float32 on the CPU.
struct Problem {
  MlpCase spec;
  Tensor x, labels;
  std::vector<Tensor> w, b;  // b undefined without a bias
  float grad_scale = 1.0f;
  int64_t near_kink = 0;  // relu pre-activations (of layers without bias) closer than kKinkGap
  int64_t near_ties = 0;  // rows whose top two logits are closer than kTieGap
};

inline uint64_t seed_of(const std::string& name) {
  uint64_t s = 1469598103934665603ull;
  for (char ch : name) s = (s ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return s;
}

// The bias of unit o moved by the smallest multiple of kKinkGap / 2 that puts every row's
// pre-activation (pre, without bias) kKinkGap or more from 0.
inline float settle_bias(const std::vector<double>& pre, int64_t rows, int64_t out, int64_t o,
                         float b) {
  for (int64_t k = 0; k < 40000; ++k) {
    const auto j = static_cast<double>(k % 2 ? (k + 1) / 2 : -(k / 2));
    const auto cand = static_cast<float>(b + j * 0.5 * kKinkGap);
    bool ok = true;
    for (int64_t r = 0; r < rows && ok; ++r) {
      ok = std::abs(pre[static_cast<size_t>(r * out + o)] + cand) >= kKinkGap;
    }
    if (ok) return cand;
  }
  return b;
}

// Inputs in [-1, 1) (or `given_x`), weights in ±sqrt(3 / in), biases in ±0.2 (relu biases settled),
// random labels, grad_scale = 1/B; the forward in float64 counts what could still differ.
inline Problem make_problem(const MlpCase& c, const Tensor& given_x = Tensor()) {
  const uint64_t s = seed_of(c.name);
  Problem p;
  p.spec = c;
  p.x = given_x.defined() ? given_x : random_f32({c.batch, c.in}, s + 1);
  std::vector<double> act = host_values(p.x);
  int64_t in = c.in;
  for (size_t l = 0; l < c.layers.size(); ++l) {
    const LayerSpec& L = c.layers[l];
    const auto a = static_cast<float>(std::sqrt(3.0 / static_cast<double>(in)));
    p.w.push_back(random_f32({L.out, in}, s + 10 + l, -a, a));
    const std::vector<double> w = host_values(p.w.back());
    std::vector<double> pre(static_cast<size_t>(c.batch * L.out));
    for (int64_t r = 0; r < c.batch; ++r) {
      for (int64_t o = 0; o < L.out; ++o) {
        double sum = 0.0;
        for (int64_t i = 0; i < in; ++i) {
          sum += act[static_cast<size_t>(r * in + i)] * w[static_cast<size_t>(o * in + i)];
        }
        pre[static_cast<size_t>(r * L.out + o)] = sum;
      }
    }
    std::vector<float> bias(static_cast<size_t>(L.out), 0.0f);
    if (L.bias) bias = random_f32({L.out}, s + 40 + l, -0.2f, 0.2f).to_vector<float>();
    for (int64_t o = 0; o < L.out && L.act == kRelu; ++o) {
      const auto u = static_cast<size_t>(o);
      if (L.bias) bias[u] = settle_bias(pre, c.batch, L.out, o, bias[u]);
      for (int64_t r = 0; r < c.batch; ++r) {
        if (std::abs(pre[static_cast<size_t>(r * L.out + o)] + bias[u]) < kKinkGap) ++p.near_kink;
      }
    }
    p.b.push_back(L.bias ? Tensor::from_vector(bias, {L.out}) : Tensor());
    for (size_t i = 0; i < pre.size(); ++i) {
      pre[i] += bias[i % static_cast<size_t>(L.out)];
      if (L.act == kRelu) pre[i] = std::max(pre[i], 0.0);
    }
    act = std::move(pre);
    in = L.out;
  }
  std::mt19937_64 rng(s + 99);
  std::vector<int32_t> lab(static_cast<size_t>(c.batch));
  for (size_t r = 0; r < lab.size(); ++r) {
    lab[r] = static_cast<int32_t>(rng() % static_cast<uint64_t>(in));
    std::vector<double> z(act.begin() + static_cast<int64_t>(r) * in,
                          act.begin() + static_cast<int64_t>(r + 1) * in);
    std::partial_sort(z.begin(), z.begin() + std::min<int64_t>(2, in), z.end(),
                      std::greater<double>());
    if (in > 1 && z[0] - z[1] < kTieGap) ++p.near_ties;
  }
  p.labels = Tensor::from_vector(lab, {c.batch});
  p.grad_scale = c.batch > 0 ? 1.0f / static_cast<float>(c.batch) : 1.0f;
  return p;
}

using StepTensors = mlp_step_test::MlpStepTensors;

inline StepTensors upload(const Problem& p, Device dev) {
  const int64_t rows = p.spec.batch;
  StepTensors t;
  t.x = p.x.to(dev);
  t.labels = p.labels.to(dev);
  t.grad_scale = p.grad_scale;
  for (size_t l = 0; l < p.w.size(); ++l) {
    const int64_t out = p.w[l].dim(0);
    t.act.push_back(p.spec.layers[l].act);
    t.w.push_back(p.w[l].to(dev));
    t.b.push_back(p.b[l].defined() ? p.b[l].to(dev) : Tensor());
    t.y.push_back(poisoned({rows, out}, DType::f32, dev));
    t.dw.push_back(poisoned(p.w[l].shape(), DType::f32, dev));
    t.db.push_back(p.b[l].defined() ? poisoned({out}, DType::f32, dev) : Tensor());
    if (l + 1 < p.w.size()) t.dpre.push_back(poisoned({rows, out}, DType::f32, dev));
  }
  t.dlogits = poisoned({rows, p.w.back().dim(0)}, DType::f32, dev);
  t.loss_sum = Tensor::from_vector<double>({1.25}, {1}).to(dev);
  t.correct = Tensor::from_vector<int64_t>({3}, {1}).to(dev);
  return t;
}

// float32 relative tolerance of an output whose value went through `path` summed terms (the
// reductions of the forward before it, the backward after the logits, and the rows of a
// parameter gradient): rounding grows like the square root of the terms summed. (The CPU twin in
// float32 stays within 2% of this against itself in float64 on every case here.)
inline double tol_for(int64_t path) {
  return std::max(kTolF32, 5e-7 * std::sqrt(static_cast<double>(path)));
}

inline void compare(const Problem& p, const StepTensors& got, const StepTensors& ref,
                    const std::string& what) {
  const MlpCase& c = p.spec;
  const size_t n = c.layers.size();
  std::vector<int64_t> fwd(n), back(n);
  int64_t in = c.in;
  for (size_t l = 0; l < n; ++l) {
    fwd[l] = (l ? fwd[l - 1] : 0) + in;
    in = c.layers[l].out;
  }
  back[n - 1] = fwd[n - 1];
  for (size_t l = n - 1; l-- > 0;) back[l] = back[l + 1] + c.layers[l + 1].out;
  for (size_t l = 0; l < n; ++l) {
    const std::string at = what + " layer " + std::to_string(l) + " ";
    EXPECT_TRUE(close(at + "y", got.y[l], ref.y[l], tol_for(fwd[l])));
    EXPECT_TRUE(close(at + "dw", got.dw[l], ref.dw[l], tol_for(back[l] + c.batch)));
    if (c.layers[l].bias) {
      EXPECT_TRUE(close(at + "db", got.db[l], ref.db[l], tol_for(back[l] + c.batch)));
    }
    if (l + 1 < n) {
      EXPECT_TRUE(close(at + "dpre", got.dpre[l], ref.dpre[l], tol_for(back[l])));
    }
  }
  EXPECT_TRUE(close(what + " dlogits", got.dlogits, ref.dlogits, tol_for(fwd[n - 1])));
  EXPECT_TRUE(close(what + " loss_sum", got.loss_sum, ref.loss_sum, kTolF32));
  const double hits = host_values(got.correct)[0], want = host_values(ref.correct)[0];
  EXPECT_LE(std::abs(hits - want), static_cast<double>(p.near_ties))
      << what << " correct: cuda " << hits << " vs cpu " << want << " (" << p.near_ties
      << " rows with nearly tied logits)";
}

// The perf cases of both entries: `perf` on the reference MLP at B128 and at B256.
inline std::vector<op_table::OpCase> reference_perf_cases(void (*perf)(int64_t)) {
  return {{"ref_B128", [perf] { perf(128); }}, {"ref_B256", [perf] { perf(256); }}};
}

}  // namespace kasmina::cuda_test::mlp_problem
