// The CPU interpreter's backward against central finite differences in float64, for every op:
// the input gradient (dx += J^T g) and each parameter's gradient (from the row's factors and the
// plan's blocks, as the morph CPU twin sums them).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ir/interpreter.hpp"
#include "ir_test_util.hpp"

namespace kasmina::ir {
namespace {

using testing::blueprint;
using testing::graph_of;

double loss(const Graph& g, const Plan& plan, const std::vector<double>& p,
            const std::vector<double>& x, const std::vector<double>& w) {
  std::vector<double> d(x.size());
  row_delta<double>(g, plan, p.data(), x.data(), d.data());
  double l = 0;
  for (size_t i = 0; i < d.size(); ++i) l += d[i] * w[i];
  return l;
}

// Checks every input and parameter derivative of sum(delta * w) at random points.
void check_gradients(const std::string& params, const std::vector<std::string>& nodes) {
  SCOPED_TRACE(nodes.front());
  const Graph g = graph_of(blueprint(params, nodes));
  const morph::BlueprintShape sh{6, 3, 2};
  const Plan plan = make_plan(g, sh);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> U(-1.0, 1.0);
  std::vector<double> p(static_cast<size_t>(plan.param_count)), x(6), w(6);
  for (double& v : p) v = U(rng);
  for (double& v : x) v = U(rng);
  for (double& v : w) v = U(rng);
  std::vector<double> dx(6, 0.25), F(static_cast<size_t>(plan.factor_count));
  row_backward<double>(g, plan, p.data(), x.data(), w.data(), dx.data(), F.data());
  std::vector<double> dp(p.size(), 0.0);
  morph::add_grad_of<double>(plan.blocks.data(), static_cast<int32_t>(plan.blocks.size()), F.data(),
                             dp.data());
  const double h = 1e-6;
  auto fd = [&](std::vector<double>& v, size_t i) {
    const double keep = v[i];
    v[i] = keep + h;
    const double lp = loss(g, plan, p, x, w);
    v[i] = keep - h;
    const double lm = loss(g, plan, p, x, w);
    v[i] = keep;
    return (lp - lm) / (2 * h);
  };
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_NEAR(dx[i] - 0.25, fd(x, i), 1e-6 * (1 + std::fabs(dx[i]))) << "x[" << i << "]";
  for (size_t i = 0; i < p.size(); ++i)
    EXPECT_NEAR(dp[i], fd(p, i), 1e-6 * (1 + std::fabs(dp[i]))) << "p[" << i << "]";
}

TEST(IrGradients, LinearWithAndWithoutBias) {
  check_gradients("W: [h, C], b: [h], V: [C, h]",
                  {"{op: linear, in: x, weight: W, bias: b, out: u}",
                   "{op: linear, in: u, weight: V, out: y}"});
}

TEST(IrGradients, AddMulSubAndBroadcastOfSizeOne) {
  check_gradients("W: [C, C]",
                  {"{op: linear, in: x, weight: W, out: u}", "{op: mul, in: [u, x], out: m}",
                   "{op: sub, in: [m, u], out: s}", "{op: add, in: [s, x], out: y}"});
  check_gradients("", {"{op: mean, in: x, out: mu}", "{op: sub, in: [x, mu], out: c}",
                       "{op: mul, in: [mu, c], out: y}"});
}

TEST(IrGradients, Activations) {
  for (const char* op : {"relu", "gelu", "sigmoid", "tanh", "silu"})
    check_gradients("W: [C, C]", {"{op: linear, in: x, weight: W, out: u}",
                                  std::string("{op: ") + op + ", in: u, out: y}"});
}

TEST(IrGradients, LayernormAndRmsnorm) {
  check_gradients("", {"{op: layernorm, in: x, out: y}"});
  check_gradients("", {"{op: rmsnorm, in: x, eps: 1.0e-3, out: y}"});
}

TEST(IrGradients, Reductions) {
  for (const char* op : {"sum", "mean", "max"})
    check_gradients("s: [C]",
                    {std::string("{op: ") + op + ", in: x, out: r}",
                     "{op: scale, in: x, param: s, out: xs}", "{op: mul, in: [xs, r], out: y}"});
}

TEST(IrGradients, ScaleAndShiftByParametersAndConstants) {
  check_gradients("s: [C], t: [C], a: [1], b: [1]",
                  {"{op: scale, in: x, param: s, out: u}", "{op: shift, in: u, param: t, out: v}",
                   "{op: scale, in: v, param: a, out: w}", "{op: shift, in: w, param: b, out: z}",
                   "{op: tanh, in: z, out: y}"});
  check_gradients("", {"{op: scale, in: x, value: -0.5, out: u}",
                       "{op: shift, in: u, value: 0.25, out: v}", "{op: tanh, in: v, out: y}"});
}

TEST(IrGradients, ConcatAndSlice) {
  check_gradients("W: [C, 2*C]", {"{op: tanh, in: x, out: t}", "{op: concat, in: [x, t], out: c}",
                                  "{op: linear, in: c, weight: W, out: y}"});
  check_gradients("W: [C, 2]", {"{op: slice, in: x, from: 1, size: 2, out: s}",
                                "{op: linear, in: s, weight: W, out: y}"});
}

}  // namespace
}  // namespace kasmina::ir
