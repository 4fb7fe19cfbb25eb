// CPU twin of the fused MLP training step (ops/mlp_step_ops.hpp): a hand-computed two-layer step;
// equality with the layered step the op replaces (linear_forward, softmax_xent,
// linear_backward_weight / _input on the CPU) in float32 and float64; float64 finite
// differences of the scaled loss against dw and db; accumulation of loss_sum and correct and
// overwriting of every other output; the argument checks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "op_test_utils.hpp"
#include "ops/backend_ops.hpp"
#include "ops/mlp_step_ops.hpp"
#include "tests/ops/mlp_step_tensors.hpp"

namespace kasmina::ops {
namespace {

using cpu_test::expect_gradient_matches;
using cpu_test::random_tensor;
using cpu_test::values;
using mlp_step_test::expect_rejected;

struct LayerSpec {
  int64_t out;
  Activation act;
  bool bias;
};

struct MlpSpec {
  const char* name;
  int64_t batch, in;
  std::vector<LayerSpec> layers;
  friend std::ostream& operator<<(std::ostream& os, const MlpSpec& s) { return os << s.name; }
};

constexpr Activation kRelu = Activation::relu;
constexpr Activation kNone = Activation::none;

// 37 -> 23 relu -> 19 relu -> 10 with biases; 29 -> 17 relu -> 6 without; a hidden layer
// without activation and biases on some layers only.
const MlpSpec kThreeLayers{
    "three_layers", 13, 37, {{23, kRelu, true}, {19, kRelu, true}, {10, kNone, true}}};
const MlpSpec kTwoLayersNoBias{
    "two_layers_no_bias", 11, 29, {{17, kRelu, false}, {6, kNone, false}}};
const MlpSpec kMixed{"mixed", 9, 21, {{15, kNone, true}, {12, kRelu, false}, {7, kNone, true}}};

using MlpTensors = mlp_step_test::MlpStepTensors;

// Uniform inputs in [-1, 1), weights in ±sqrt(3 / in) (unit-variance pre-activations), biases in
// ±0.3, random labels, grad_scale = 1/B. The same seed gives the same values (rounded) in both
// dtypes.
MlpTensors make_mlp(const MlpSpec& s, DType dt, uint64_t seed) {
  Rng rng(seed);
  MlpTensors m;
  m.x = random_tensor(rng, {s.batch, s.in}, dt);
  int64_t in = s.in;
  for (size_t l = 0; l < s.layers.size(); ++l) {
    const LayerSpec& L = s.layers[l];
    const double a = std::sqrt(3.0 / static_cast<double>(in));
    m.act.push_back(L.act);
    m.w.push_back(random_tensor(rng, {L.out, in}, dt, -a, a));
    m.b.push_back(L.bias ? random_tensor(rng, {L.out}, dt, -0.3, 0.3) : Tensor());
    m.y.push_back(Tensor::empty({s.batch, L.out}, dt));
    m.dw.push_back(Tensor::empty({L.out, in}, dt));
    m.db.push_back(L.bias ? Tensor::empty({L.out}, dt) : Tensor());
    if (l + 1 < s.layers.size()) m.dpre.push_back(Tensor::empty({s.batch, L.out}, dt));
    in = L.out;
  }
  std::vector<int32_t> lab(static_cast<size_t>(s.batch));
  for (int32_t& v : lab) v = static_cast<int32_t>(rng.below(static_cast<uint64_t>(in)));
  m.labels = Tensor::from_vector(lab, {s.batch});
  m.dlogits = Tensor::empty({s.batch, in}, dt);
  m.loss_sum = Tensor::zeros({1}, DType::f64);
  m.correct = Tensor::zeros({1}, DType::i64);
  m.grad_scale = 1.0f / static_cast<float>(s.batch);
  return m;
}

// The step as the layered path computes it, with the existing CPU ops. aux holds each layer's
// pre-activation (relu layers; undefined otherwise).
struct Layered {
  std::vector<Tensor> y, aux, dw, db, dpre;
  Tensor dlogits, loss_sum, correct;
};

Layered layered_step(const MlpTensors& m) {
  const DType dt = m.x.dtype();
  const int64_t rows = m.x.dim(0);
  const size_t n = m.layers();
  Layered r;
  r.dw.resize(n);
  r.db.resize(n);
  r.dpre.resize(n - 1);
  for (size_t l = 0; l < n; ++l) {
    const int64_t out = m.w[l].dim(0);
    r.y.push_back(Tensor::empty({rows, out}, dt));
    r.aux.push_back(cpu::make_linear_aux(rows, out, m.act[l], Device::cpu(), dt));
    cpu::linear_forward(l == 0 ? m.x : r.y[l - 1], m.w[l], m.b[l], m.act[l], r.y[l], r.aux[l]);
  }
  r.dlogits = Tensor::empty(r.y.back().shape(), dt);
  r.loss_sum = Tensor::zeros({1}, DType::f64);
  r.correct = Tensor::zeros({1}, DType::i64);
  cpu::softmax_xent(r.y.back(), m.labels, m.grad_scale, &r.dlogits, r.loss_sum, &r.correct);
  Tensor g = r.dlogits;
  for (size_t l = n; l-- > 0;) {
    r.dw[l] = Tensor::empty(m.w[l].shape(), dt);
    if (m.b[l].defined()) r.db[l] = Tensor::empty(m.b[l].shape(), dt);
    cpu::linear_backward_weight(g, l == 0 ? m.x : r.y[l - 1], r.dw[l],
                                m.b[l].defined() ? &r.db[l] : nullptr);
    if (l == 0) break;
    r.dpre[l - 1] = Tensor::empty(r.y[l - 1].shape(), dt);
    cpu::linear_backward_input(g, m.w[l], m.act[l - 1], r.aux[l - 1], r.dpre[l - 1], nullptr);
    g = r.dpre[l - 1];
  }
  return r;
}

// Every element within tol · max(|want|, rms(want)); NaN never passes.
void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<double> g = values(got), w = values(want);
  double sq = 0.0;
  for (double v : w) sq += v * v;
  const double rms = w.empty() ? 0.0 : std::sqrt(sq / static_cast<double>(w.size()));
  ASSERT_GT(rms, 0.0) << what << ": the reference is all zeros";
  int reported = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const double err = std::abs(g[i] - w[i]);
    if (!(err <= tol * std::max(std::abs(w[i]), rms)) && reported++ < 5) {
      ADD_FAILURE() << what << "[" << i << "]: op " << g[i] << ", layered " << w[i] << " (tol "
                    << tol << ")";
    }
  }
}

double scalar_f64(const Tensor& t) {
  return t.to_vector<double>()[0];
}
int64_t scalar_i64(const Tensor& t) {
  return t.to_vector<int64_t>()[0];
}

// ---- hand-computed ----

// x = [1, 2]; hidden W1 = [[1, 0], [0, -1]] (pre [1, -2], y1 = [1, 0]); W2 = [[2, 1], [0, 3]],
// b2 = [0, 1] (logits [2, 1]), label 0. With q = 1 / (1 + e): loss = log(1 + e^-1),
// dlogits = [-q, q], dW2 = [[-q, 0], [q, 0]], db2 = [-q, q]; g1 = dlogits W2 = [-2q, 2q],
// masked: dpre = [-2q, 0]; dW1 = [[-2q, -4q], [0, 0]], db1 = [-2q, 0].
TEST(CpuMlpStep, HandComputedTwoLayers) {
  MlpTensors m;
  m.x = Tensor::from_vector<double>({1, 2}, {1, 2});
  m.labels = Tensor::from_vector<int32_t>({0}, {1});
  m.act = {kRelu, kNone};
  m.w = {Tensor::from_vector<double>({1, 0, 0, -1}, {2, 2}),
         Tensor::from_vector<double>({2, 1, 0, 3}, {2, 2})};
  m.b = {Tensor::zeros({2}, DType::f64), Tensor::from_vector<double>({0, 1}, {2})};
  for (int l = 0; l < 2; ++l) {
    m.y.push_back(Tensor::empty({1, 2}, DType::f64));
    m.dw.push_back(Tensor::empty({2, 2}, DType::f64));
    m.db.push_back(Tensor::empty({2}, DType::f64));
  }
  m.dpre = {Tensor::empty({1, 2}, DType::f64)};
  m.dlogits = Tensor::empty({1, 2}, DType::f64);
  m.loss_sum = Tensor::zeros({1}, DType::f64);
  m.correct = Tensor::zeros({1}, DType::i64);
  cpu::mlp_train_step(m.args());

  const double q = 1.0 / (1.0 + std::exp(1.0));
  const auto expect_values = [](const Tensor& t, const std::vector<double>& want, const char* n) {
    const std::vector<double> got = values(t);
    ASSERT_EQ(got.size(), want.size()) << n;
    for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-15) << n << i;
  };
  expect_values(m.y[0], {1, 0}, "y0");
  expect_values(m.y[1], {2, 1}, "logits");
  EXPECT_NEAR(scalar_f64(m.loss_sum), std::log1p(std::exp(-1.0)), 1e-15);
  EXPECT_EQ(scalar_i64(m.correct), 1);
  expect_values(m.dlogits, {-q, q}, "dlogits");
  expect_values(m.dw[1], {-q, 0, q, 0}, "dw1");
  expect_values(m.db[1], {-q, q}, "db1");
  expect_values(m.dpre[0], {-2 * q, 0}, "dpre0");
  expect_values(m.dw[0], {-2 * q, -4 * q, 0, 0}, "dw0");
  expect_values(m.db[0], {-2 * q, 0}, "db0");
}

// ---- the layered step ----

struct ComposeCase {
  MlpSpec spec;
  DType dtype;
  friend std::ostream& operator<<(std::ostream& os, const ComposeCase& c) {
    return os << c.spec.name << "_" << dtype_name(c.dtype);
  }
};

class CpuMlpStepLayered : public ::testing::TestWithParam<ComposeCase> {};

TEST_P(CpuMlpStepLayered, EqualsTheLayeredStep) {
  const ComposeCase& c = GetParam();
  const double tol = c.dtype == DType::f32 ? 1e-5 : 1e-12;
  MlpTensors m = make_mlp(c.spec, c.dtype, 4242 + c.spec.batch);
  // Start the accumulators away from zero: the op adds to them, like softmax_xent.
  ops::fill(m.loss_sum, 0.5);
  ops::fill(m.correct, 2.0);
  cpu::mlp_train_step(m.args());
  const Layered r = layered_step(m);

  for (size_t l = 0; l < m.layers(); ++l) {
    const std::string at = "layer " + std::to_string(l) + " ";
    expect_close(m.y[l], r.y[l], tol, at + "y");
    expect_close(m.dw[l], r.dw[l], tol, at + "dw");
    if (m.b[l].defined()) expect_close(m.db[l], r.db[l], tol, at + "db");
    if (l + 1 < m.layers()) expect_close(m.dpre[l], r.dpre[l], tol, at + "dpre");
  }
  expect_close(m.dlogits, r.dlogits, tol, "dlogits");
  const double loss = scalar_f64(r.loss_sum);
  EXPECT_GT(loss, 0.5 * static_cast<double>(c.spec.batch));  // ~log(classes) per row
  EXPECT_NEAR(scalar_f64(m.loss_sum), 0.5 + loss, tol * loss);
  EXPECT_EQ(scalar_i64(m.correct), 2 + scalar_i64(r.correct));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CpuMlpStepLayered,
    ::testing::Values(ComposeCase{kThreeLayers, DType::f32}, ComposeCase{kThreeLayers, DType::f64},
                      ComposeCase{kTwoLayersNoBias, DType::f32},
                      ComposeCase{kTwoLayersNoBias, DType::f64}, ComposeCase{kMixed, DType::f32},
                      ComposeCase{kMixed, DType::f64}),
    [](const auto& info) {
      return std::string(info.param.spec.name) + "_" + dtype_name(info.param.dtype);
    });

// ---- finite differences (float64) ----

class CpuMlpStepGradient : public ::testing::TestWithParam<MlpSpec> {};

// Central differences of loss_sum · grad_scale at up to 20 entries of every weight and bias.
// The seed is the first one whose relu pre-activations all sit 1e-4 or more from the kink,
// well beyond what the step h = 1e-5 moves them.
TEST_P(CpuMlpStepGradient, MatchesFiniteDifferences) {
  const MlpSpec& spec = GetParam();
  MlpTensors m;
  bool found = false;
  for (uint64_t s = 0; s < 100 && !found; ++s) {
    m = make_mlp(spec, DType::f64, 9100 + s);
    const Layered r = layered_step(m);
    double nearest = std::numeric_limits<double>::infinity();
    for (size_t l = 0; l < m.layers(); ++l) {
      if (m.act[l] != kRelu) continue;
      for (double pre : values(r.aux[l])) nearest = std::min(nearest, std::abs(pre));
    }
    found = nearest >= 1e-4;
  }
  ASSERT_TRUE(found) << "no seed keeps the pre-activations away from 0";

  MlpStepArgs a = m.args();
  cpu::mlp_train_step(a);
  std::vector<std::vector<double>> dw, db;
  for (size_t l = 0; l < m.layers(); ++l) {
    dw.push_back(values(m.dw[l]));
    db.push_back(m.b[l].defined() ? values(m.db[l]) : std::vector<double>{});
  }
  const auto loss = [&] {
    ops::fill(m.loss_sum, 0.0);
    cpu::mlp_train_step(a);
    return scalar_f64(m.loss_sum) * static_cast<double>(m.grad_scale);
  };
  Rng pick(77);
  // Numeric and analytic gradients at a sample of t's entries.
  const auto check = [&](Tensor& t, const std::vector<double>& analytic, const std::string& what) {
    const std::vector<int32_t> order = pick.permutation(t.numel());
    const size_t count = std::min<size_t>(20, order.size());
    std::vector<double> want, numeric;
    for (size_t k = 0; k < count; ++k) {
      const auto i = static_cast<size_t>(order[k]);
      numeric.push_back(cpu_test::central_difference(t, static_cast<int64_t>(i), loss));
      want.push_back(analytic[i]);
    }
    expect_gradient_matches(want, numeric, what, 1e-6);
  };
  for (size_t l = 0; l < m.layers(); ++l) {
    check(m.w[l], dw[l], "dw" + std::to_string(l));
    if (m.b[l].defined()) check(m.b[l], db[l], "db" + std::to_string(l));
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuMlpStepGradient,
                         ::testing::Values(kThreeLayers, kTwoLayersNoBias, kMixed),
                         [](const auto& info) { return std::string(info.param.name); });

// ---- accumulation and overwriting ----

TEST(CpuMlpStep, AccumulatesLossAndCorrectOverwritesTheRest) {
  MlpTensors m = make_mlp(kThreeLayers, DType::f32, 31);
  MlpStepArgs a = m.args();
  // Relabel the even rows with their first argmax, so that a known number of rows is correct.
  cpu::mlp_train_step(a);
  const std::vector<float> logits = m.y.back().to_vector<float>();
  std::vector<int32_t> lab = m.labels.to_vector<int32_t>();
  const int64_t classes = m.y.back().dim(1);
  int64_t hits = 0;
  for (size_t r = 0; r < lab.size(); ++r) {
    const float* z = logits.data() + r * static_cast<size_t>(classes);
    const auto argmax = static_cast<int32_t>(std::max_element(z, z + classes) - z);
    if (r % 2 == 0) lab[r] = argmax;
    hits += lab[r] == argmax ? 1 : 0;
  }
  m.labels.copy_from(Tensor::from_vector(lab, m.labels.shape()));
  ops::fill(m.loss_sum, 0.0);
  ops::fill(m.correct, 0.0);

  cpu::mlp_train_step(a);
  const double loss = scalar_f64(m.loss_sum);
  EXPECT_GT(loss, 0.0);
  EXPECT_EQ(scalar_i64(m.correct), hits);
  EXPECT_GE(hits, 7);  // the 7 relabelled rows of 13
  std::vector<Tensor*> outputs = {&m.dlogits};
  for (size_t l = 0; l < m.layers(); ++l) {
    outputs.push_back(&m.y[l]);
    outputs.push_back(&m.dw[l]);
    outputs.push_back(&m.db[l]);
    if (l + 1 < m.layers()) outputs.push_back(&m.dpre[l]);
  }
  std::vector<std::vector<float>> first;
  for (const Tensor* t : outputs) first.push_back(t->to_vector<float>());

  // A second call adds the same loss and count again.
  cpu::mlp_train_step(a);
  EXPECT_EQ(scalar_f64(m.loss_sum), 2.0 * loss);
  EXPECT_EQ(scalar_i64(m.correct), 2 * hits);

  // Every other output is overwritten: garbage before the call leaves no trace.
  for (size_t i = 0; i < outputs.size(); ++i) {
    ops::fill(*outputs[i], i % 2 ? std::numeric_limits<double>::quiet_NaN() : 1e30);
  }
  cpu::mlp_train_step(a);
  EXPECT_EQ(scalar_f64(m.loss_sum), 3.0 * loss);
  EXPECT_EQ(scalar_i64(m.correct), 3 * hits);
  for (size_t i = 0; i < outputs.size(); ++i) {
    EXPECT_EQ(outputs[i]->to_vector<float>(), first[i]) << "output " << i;
  }

  // correct is optional; the loss is unchanged without it.
  a.correct = nullptr;
  ops::fill(m.loss_sum, 0.0);
  cpu::mlp_train_step(a);
  EXPECT_EQ(scalar_f64(m.loss_sum), loss);
  EXPECT_EQ(scalar_i64(m.correct), 3 * hits);
}

// ---- argument checks ----

TEST(CpuMlpStep, RejectsBadArguments) {
  MlpTensors m = make_mlp(kThreeLayers, DType::f32, 5);
  EXPECT_EQ(check_mlp_train_step(m.args()), 13);

  Tensor bad_dw = Tensor::empty({23, 36});
  MlpStepArgs a = m.args();
  a.layers[0].dw = &bad_dw;
  expect_rejected(m, a, "layer 0 dw");

  a = m.args();
  a.layers.back().act = kRelu;
  expect_rejected(m, a, "the last layer takes none");

  a = m.args();
  a.layers[1].act = Activation::gelu;
  expect_rejected(m, a, "relu or none are supported");

  a = m.args();
  a.layers.clear();
  a.dpre.clear();
  expect_rejected(m, a, "layers are supported, got 0");

  a = m.args();
  const MlpLayerRefs first = a.layers[0];
  a.layers.resize(kMlpStepMaxLayers + 1, first);
  expect_rejected(m, a, "got 9");

  a = m.args();
  a.dpre.pop_back();
  expect_rejected(m, a, "dpre needs one tensor per layer");

  a = m.args();
  a.dpre.push_back(&m.dpre[0]);
  expect_rejected(m, a, "dpre needs one tensor per layer");

  a = m.args();
  a.dpre[1] = &m.dpre[0];  // [13, 23] where layer 1 needs [13, 19]
  expect_rejected(m, a, "layer 1 dpre");

  a = m.args();
  a.layers[2].db = nullptr;
  expect_rejected(m, a, "bias exactly when it has db");

  const Tensor w64 = Tensor::zeros({23, 37}, DType::f64);
  a = m.args();
  a.layers[0].w = &w64;
  expect_rejected(m, a, "layer 0 w");

  const Tensor labels64 = Tensor::zeros({13}, DType::i64);
  a = m.args();
  a.labels = &labels64;
  expect_rejected(m, a, "labels");

  Tensor loss32 = Tensor::zeros({1});
  a = m.args();
  a.loss_sum = &loss32;
  expect_rejected(m, a, "loss_sum");

  Tensor wide_dlogits = Tensor::empty({13, 11});
  a = m.args();
  a.dlogits = &wide_dlogits;
  expect_rejected(m, a, "dlogits");

  // ops::mlp_train_step routes on a.x->device(), so a null x reaches only the twin's own check.
  a = m.args();
  a.x = nullptr;
  EXPECT_THROW(cpu::mlp_train_step(a), InternalError);
}

// No rows: the gradients are sums over nothing (zeros), the accumulators are unchanged.
TEST(CpuMlpStep, EmptyBatchZeroesTheGradients) {
  MlpSpec empty = kThreeLayers;
  empty.batch = 0;
  MlpTensors m = make_mlp(empty, DType::f32, 8);
  m.grad_scale = 1.0f;
  for (size_t l = 0; l < m.layers(); ++l) {
    ops::fill(m.dw[l], 7.0);
    ops::fill(m.db[l], 7.0);
  }
  ops::fill(m.loss_sum, 0.5);
  ops::fill(m.correct, 4.0);
  cpu::mlp_train_step(m.args());
  for (size_t l = 0; l < m.layers(); ++l) {
    for (double v : values(m.dw[l])) ASSERT_EQ(v, 0.0) << "dw" << l;
    for (double v : values(m.db[l])) ASSERT_EQ(v, 0.0) << "db" << l;
  }
  EXPECT_EQ(scalar_f64(m.loss_sum), 0.5);
  EXPECT_EQ(scalar_i64(m.correct), 4);
}

}  // namespace
}  // namespace kasmina::ops
