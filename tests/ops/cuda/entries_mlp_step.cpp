// Op table entry of the fused MLP training step (mlp_train_step, ops/mlp_step_ops.hpp): the CUDA
// kernel against the CPU twin on the reference MLP (784-256-128-10) and on shapes that stress
// tile edges (one row, odd widths, a width-1 hidden layer, layers without bias or activation, one
// layer, eight layers, 1000 classes, widths up to 1100 at B = 600); every output is compared.
// Also run-to-run bitwise determinism and replay from a captured CUDA graph; perf cases time the
// fused step beside the layered step it replaces.
//
// The relu masks must agree between the devices, or dpre differs by whole gradient entries: the
// inputs are built so that every relu pre-activation sits kKinkGap or more from 0 in float64 (the
// hidden biases are nudged per unit), far beyond the float32 rounding by which the devices' sums
// differ. `correct` may differ only on rows whose two largest logits are nearly tied.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ops/mlp_step_ops.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/op_table.hpp"
#include "tests/ops/mlp_step_tensors.hpp"

namespace kasmina::cuda_test {
namespace {

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

std::string case_name(const MlpCase& c) {
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

uint64_t seed_of(const std::string& name) {
  uint64_t s = 1469598103934665603ull;
  for (char ch : name) s = (s ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return s;
}

// The bias of unit o moved by the smallest multiple of kKinkGap / 2 that puts every row's
// pre-activation (pre, without bias) kKinkGap or more from 0.
float settle_bias(const std::vector<double>& pre, int64_t rows, int64_t out, int64_t o, float b) {
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

// Inputs in [-1, 1), weights in ±sqrt(3 / in), biases in ±0.2 (relu biases settled), random
// labels, grad_scale = 1/B; the forward in float64 counts what could still differ.
Problem make_problem(const MlpCase& c) {
  const uint64_t s = seed_of(c.name);
  Problem p;
  p.spec = c;
  p.x = random_f32({c.batch, c.in}, s + 1);
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

StepTensors upload(const Problem& p, Device dev) {
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
double tol_for(int64_t path) {
  return std::max(kTolF32, 5e-7 * std::sqrt(static_cast<double>(path)));
}

void compare(const Problem& p, const StepTensors& got, const StepTensors& ref,
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

void step_case(const MlpCase& c) {
  const Problem p = make_problem(c);
  ASSERT_EQ(p.near_kink, 0) << c.name << ": a relu pre-activation of a layer without bias lies "
                            << "within " << kKinkGap << " of 0; pick another case name (seed)";
  StepTensors ref = upload(p, Device::cpu());
  ops::mlp_train_step(ref.args());
  StepTensors got = upload(p, gpu());
  ops::mlp_train_step(got.args());
  compare(p, got, ref, "mlp_train_step " + c.name);
}

std::vector<MlpCase> step_cases() {
  const std::vector<LayerSpec> reference = {{256, kRelu}, {128, kRelu}, {10, kNone}};
  const std::vector<LayerSpec> odd = {{65, kRelu}, {33, kRelu}, {10, kNone}};
  std::vector<MlpCase> out;
  for (int64_t b : {1, 128, 256}) out.push_back({"ref_B" + std::to_string(b), b, 784, reference});
  for (int64_t b : {1, 7, 130}) out.push_back({"odd_B" + std::to_string(b), b, 37, odd});
  out.push_back({"no_bias_B7", 7, 37, {{65, kRelu, false}, {33, kRelu, true}, {10, kNone, false}}});
  out.push_back({"hidden_none_B33", 33, 50, {{40, kNone}, {30, kRelu}, {10, kNone}}});
  out.push_back({"single_B7", 7, 50, {{10, kNone}}});
  out.push_back({"single_no_bias_B130", 130, 50, {{10, kNone, false}}});
  out.push_back({"width1_B9", 9, 16, {{1, kRelu}, {4, kNone}}});
  out.push_back({"eight_layers_B19",
                 19,
                 20,
                 {{31, kRelu},
                  {17, kRelu},
                  {64, kRelu},
                  {5, kRelu},
                  {33, kNone},
                  {129, kRelu},
                  {40, kRelu},
                  {10, kNone}}});
  out.push_back({"classes1000_B64", 64, 100, {{128, kRelu}, {1000, kNone}}});
  out.push_back({"wide_B600", 600, 1100, {{1100, kRelu}, {257, kRelu}, {10, kNone}}});
  // The input width is not bounded by kMlpStepMaxWidth (only the layers' outputs are).
  out.push_back({"input5000_B9", 9, 5000, {{64, kRelu}, {10, kNone}}});
  out.push_back({"empty_B0", 0, 37, {{65, kRelu}, {10, kNone}}});
  return out;
}

// Without the optional correct counter: the same loss, correct untouched.
void no_correct_case() {
  const Problem p = make_problem({"no_correct_B7", 7, 37, {{65, kRelu}, {33, kRelu}, {10, kNone}}});
  StepTensors ref = upload(p, Device::cpu());
  ops::mlp_train_step(ref.args(false));
  StepTensors got = upload(p, gpu());
  ops::mlp_train_step(got.args(false));
  compare(p, got, ref, "mlp_train_step without correct");
  EXPECT_EQ(host_values(got.correct)[0], 3.0);
}

// Two runs on the same inputs give bitwise the same outputs, accumulators included.
void determinism_case(const MlpCase& c) {
  const Problem p = make_problem(c);
  StepTensors first = upload(p, gpu()), second = upload(p, gpu());
  ops::mlp_train_step(first.args());
  ops::mlp_train_step(second.args());
  const auto a = first.outputs(), b = second.outputs();
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(
        bitwise_equal(c.name + " " + a[i].first + " run to run", *a[i].second, *b[i].second));
  }
  EXPECT_TRUE(bitwise_equal(c.name + " loss_sum run to run", first.loss_sum, second.loss_sum));
  EXPECT_TRUE(bitwise_equal(c.name + " correct run to run", first.correct, second.correct));
}

// The step captured into a CUDA graph (as the trainer replays it): each replay gives the plain
// launch's outputs bitwise and adds the same loss and count again.
void graph_case(const MlpCase& c) {
  const Problem p = make_problem(c);
  StepTensors t = upload(p, gpu());
  const ops::MlpStepArgs a = t.args();
  ops::mlp_train_step(a);
  std::vector<Tensor> plain;
  for (const auto& [name, out] : t.outputs()) plain.push_back(out->to(Device::cpu()));
  const double loss_once = host_values(t.loss_sum)[0] - 1.25;
  const double hits_once = host_values(t.correct)[0] - 3.0;
  ops::StepGraph graph(gpu());
  std::string reason;
  ASSERT_TRUE(graph.capture([&] { ops::mlp_train_step(a); }, &reason))
      << c.name << ": capture failed: " << reason;
  for (const auto& [name, out] : t.outputs()) {
    ops::fill(*out, std::numeric_limits<double>::quiet_NaN());
  }
  graph.replay();
  graph.replay();
  ops::synchronize(gpu());
  const auto outs = t.outputs();
  for (size_t i = 0; i < outs.size(); ++i) {
    EXPECT_TRUE(
        bitwise_equal(c.name + " " + outs[i].first + " graph replay", *outs[i].second, plain[i]));
  }
  EXPECT_NEAR(host_values(t.loss_sum)[0], 1.25 + 3.0 * loss_once, 1e-9 * loss_once);
  EXPECT_EQ(host_values(t.correct)[0], 3.0 + 3.0 * hits_once);
}

// ---- perf: the fused step beside the layered step it replaces ----

void layered_step(StepTensors& t, std::vector<Tensor>& aux) {
  const size_t n = t.w.size();
  for (size_t l = 0; l < n; ++l) {
    ops::linear_forward(l ? t.y[l - 1] : t.x, t.w[l], t.b[l], t.act[l], t.y[l], aux[l]);
  }
  ops::softmax_xent(t.y.back(), t.labels, t.grad_scale, &t.dlogits, t.loss_sum, &t.correct);
  for (size_t l = n; l-- > 0;) {
    const Tensor& g = l + 1 == n ? t.dlogits : t.dpre[l];
    ops::linear_backward_weight(g, l ? t.y[l - 1] : t.x, t.dw[l],
                                t.b[l].defined() ? &t.db[l] : nullptr);
    if (l) ops::linear_backward_input(g, t.w[l], t.act[l - 1], aux[l - 1], t.dpre[l - 1], nullptr);
  }
}

void perf_case(int64_t batch) {
  const Device dev = op_table::perf_device();
  const Problem p = make_problem(
      {"perf_B" + std::to_string(batch), batch, 784, {{256, kRelu}, {128, kRelu}, {10, kNone}}});
  StepTensors t = upload(p, dev);
  const ops::MlpStepArgs a = t.args();
  const std::string shape = " 784-256-128-10 B" + std::to_string(batch);
  op_table::time_op("mlp_train_step" + shape, dev, [&] { ops::mlp_train_step(a); });
  std::vector<Tensor> aux;
  for (size_t l = 0; l < t.w.size(); ++l) {
    aux.push_back(ops::make_linear_aux(batch, t.w[l].dim(0), t.act[l], dev));
  }
  op_table::time_op("layered step (for comparison)" + shape, dev, [&] { layered_step(t, aux); });
}

}  // namespace

using op_table::OpCase;
using op_table::OpTestEntry;

KASMINA_OP_TABLE_ENTRY(mlp_step) {
  OpTestEntry e;
  e.ops = {"mlp_train_step"};
  e.correctness = [] {
    std::vector<OpCase> out = op_table::cases_over(step_cases(), &case_name, &step_case);
    out.push_back({"no_correct_B7", &no_correct_case});
    for (const MlpCase& c : step_cases()) {
      if (c.name == "ref_B256" || c.name == "odd_B130" || c.name == "wide_B600") {
        out.push_back({"deterministic_" + c.name, [c] { determinism_case(c); }});
      }
      if (c.name == "ref_B128" || c.name == "odd_B7") {
        out.push_back({"graph_replay_" + c.name, [c] { graph_case(c); }});
      }
    }
    return out;
  };
  e.perf = [] {
    return std::vector<OpCase>{{"ref_B128", [] { perf_case(128); }},
                               {"ref_B256", [] { perf_case(256); }}};
  };
  return e;
}

}  // namespace kasmina::cuda_test
