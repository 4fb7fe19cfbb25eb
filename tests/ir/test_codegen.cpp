// CUDA source generated from the IR: compiled on the host as C++ (host_kernel.hpp) and run row
// by row, it gives the CPU interpreter's deltas, input gradients and
// factors; NVRTC (when it can be loaded) compiles it to PTX and to an sm_90 cubin. Running it on
// a GPU is a GPU check (see the report of this change).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <set>

#include "cache_test_util.hpp"
#include "host_kernel.hpp"
#include "ir/interpreter.hpp"
#include "ir_graphs.hpp"
#include "ir_test_util.hpp"
#include "ops/blueprint_codegen.hpp"
#include "ops/blueprint_stream.hpp"
#include "ops/nvrtc.hpp"

namespace kasmina::ir {
namespace {

std::vector<Graph> graphs() {
  return testing::every_op_graphs();
}

using DeltaFn = void (*)(int, const float*, long long, const float*, float*, long long);
using BackwardFn = void (*)(int, const float*, long long, const float*, long long, const float*,
                            float*, long long, float*, long long);

void expect_close(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(a[i], b[i], 2e-5f * (1.0f + std::fabs(b[i]))) << what << "[" << i << "]";
}

// h = 4 and h = 16 (loops over the hidden values of a few and of many iterations), r = 3.
TEST(IrCodegen, GeneratedSourceComputesWhatTheInterpreterComputes) {
  if (!testing::host_compiler_present()) GTEST_SKIP() << "no host C++ compiler";
  for (const morph::BlueprintShape sh : {morph::BlueprintShape{8, 4, 3}, {8, 16, 3}})
    for (const Graph& g : graphs()) {
      SCOPED_TRACE(g.name + " h=" + std::to_string(sh.hidden));
      const Plan plan = make_plan(g, sh);
      const std::string source = ops::generate_blueprint_source(g, plan);
      EXPECT_NE(source.find(g.hash), std::string::npos);
      testing::CacheDir dir;
      testing::HostKernel k;
      ASSERT_TRUE(testing::build_on_host(source, dir.path(), &k)) << source;
      const auto delta = k.symbol<DeltaFn>(ops::kIrDeltaKernel);
      const auto backward = k.symbol<BackwardFn>(ops::kIrBackwardKernel);
      ASSERT_TRUE(delta && backward);
      std::mt19937 rng(11);
      std::uniform_real_distribution<float> U(-1.0f, 1.0f);
      const int rows = 3, C = sh.chunk, nf = plan.factor_count;
      std::vector<float> p(static_cast<size_t>(plan.param_count)), x(rows * C), gy(rows * C);
      for (float& v : p) v = U(rng);
      for (float& v : x) v = 2.0f * U(rng);
      for (float& v : gy) v = U(rng);
      std::vector<float> d_gen(rows * C), dx_gen(rows * C, 0.5f), F_gen(rows * nf);
      for (int r = 0; r < rows; ++r) {
        k.set_block(r);
        delta(rows, x.data(), C, p.data(), d_gen.data(), C);
        backward(rows, x.data(), C, gy.data(), C, p.data(), dx_gen.data(), C, F_gen.data(), nf);
      }
      std::vector<float> d_ref(rows * C), dx_ref(rows * C, 0.5f), F_ref(rows * nf);
      for (int r = 0; r < rows; ++r) {
        row_delta<float>(g, plan, p.data(), &x[r * C], &d_ref[r * C]);
        row_backward<float>(g, plan, p.data(), &x[r * C], &gy[r * C], &dx_ref[r * C],
                            &F_ref[r * nf]);
      }
      expect_close(d_gen, d_ref, "delta");
      expect_close(dx_gen, dx_ref, "dx");
      expect_close(F_gen, F_ref, "F");
    }
}

// The names of the nodes with flag set (the graphs keep their nodes in canonical order).
std::set<std::string> named(const Graph& g, const std::vector<bool>& flag) {
  std::set<std::string> out;
  for (size_t k = 0; k < g.nodes.size(); ++k)
    if (flag[k]) out.insert(g.nodes[k].out);
  return out;
}

// Which nodes go in the loop over the hidden index (ops/blueprint_stream.hpp).
TEST(IrCodegen, LoopTakesTheHiddenLayerAndNothingThatReadsItWhole) {
  const morph::BlueprintShape sh{8, 16, 3};
  const auto stream = [&](const Graph& g) { return ops::plan_stream(g, make_plan(g, sh)); };
  using Names = std::set<std::string>;
  // gated_mlp: the two linears to h, sigmoid, gelu, mul in the loop; W2 the reduction.
  const Graph gated = testing::every_op_graphs().at(3);
  ASSERT_EQ(gated.name, "gated_mlp");
  const ops::StreamPlan s = stream(gated);
  EXPECT_EQ(s.length, 16);
  EXPECT_EQ(named(gated, s.in_loop), (Names{"u", "a", "gate", "s", "m"}));
  EXPECT_EQ(named(gated, s.reduction), (Names{"y"}));
  EXPECT_EQ(named(gated, s.post), (Names{"y"}));
  // A layernorm over the hidden values reads u whole: u is computed before the loop, and the
  // relu of the norm's array cannot be a loop node either.
  const Graph normed = testing::graph_of(testing::blueprint(
      "W1: [h, C], W2: [C, h]",
      {"{op: linear, in: x, weight: W1, out: u}", "{op: layernorm, in: u, out: n}",
       "{op: relu, in: n, out: a}", "{op: linear, in: a, weight: W2, out: y}"}));
  EXPECT_EQ(stream(normed).length, 0);
  // A value of the loop read by a reduction over it (sum) keeps it, and its producer, out.
  const Graph summed = testing::graph_of(
      testing::blueprint("W1: [h, C], W2: [C, h]",
                         {"{op: linear, in: x, weight: W1, out: u}", "{op: gelu, in: u, out: a}",
                          "{op: sum, in: a, out: s}", "{op: linear, in: a, weight: W2, out: w}",
                          "{op: add, in: [w, s], out: y}"}));
  EXPECT_EQ(stream(summed).length, 0);
  // The last graph: the hidden layer in the loop, w its reduction, max x before the loop, and
  // what reads w after it.
  const Graph last = testing::every_op_graphs().back();
  const ops::StreamPlan v = stream(last);
  EXPECT_EQ(v.length, 16);
  EXPECT_EQ(named(last, v.in_loop), (Names{"u", "gu", "su", "v"}));
  EXPECT_EQ(named(last, v.reduction), (Names{"w"}));
  EXPECT_EQ(named(last, v.post), (Names{"w", "z", "zs", "zt", "y"}));
  // diag_scale's chunk-sized chain starts from x, which is not a loop value: no loop.
  EXPECT_EQ(stream(testing::every_op_graphs().at(2)).length, 0);
}

TEST(IrCodegen, NvrtcCompilesTheGeneratedSourceToPtxAndCubin) {
  const ops::Nvrtc* nvrtc = ops::Nvrtc::get();
  if (!nvrtc) GTEST_SKIP() << ops::Nvrtc::why();
  EXPECT_FALSE(nvrtc->version().empty());
  for (const Graph& g : graphs()) {
    SCOPED_TRACE(g.name);
    const std::string src = ops::generate_blueprint_source(g, make_plan(g, {16, 4, 3}));
    const ops::NvrtcOutput ptx =
        nvrtc->compile(src, g.name + ".cu", {"--gpu-architecture=compute_90"});
    ASSERT_TRUE(ptx.ok) << ptx.log;
    EXPECT_NE(ptx.binary.find(".entry kasmina_ir_delta"), std::string::npos);
    EXPECT_NE(ptx.binary.find(".entry kasmina_ir_backward"), std::string::npos);
    const ops::NvrtcOutput cubin =
        nvrtc->compile(src, g.name + ".cu", {"--gpu-architecture=sm_90"});
    ASSERT_TRUE(cubin.ok) << cubin.log;
    EXPECT_EQ(cubin.binary.substr(0, 4),
              "\x7f"
              "ELF");
  }
  const ops::NvrtcOutput bad =
      nvrtc->compile("extern \"C\" __global__ void k() { undefined_name(); }", "bad.cu",
                     {"--gpu-architecture=compute_90"});
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.log.find("undefined_name"), std::string::npos) << bad.log;
}

}  // namespace
}  // namespace kasmina::ir
