// The three built-in blueprints written in the IR (configs/blueprints/builtins_ir.yaml) against
// the built-in descriptors (the fused kernels' functions): same parameter count and initial
// values, and in float32 the same deltas, input gradients and parameter gradients within fp32
// rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "ir/blueprint.hpp"
#include "ir_test_util.hpp"
#include "morph/blueprint_registry.hpp"

namespace kasmina::ir {
namespace {

std::vector<Graph> builtins_in_ir() {
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  return load_blueprint_file(std::string(root ? root : ".") +
                             "/configs/blueprints/builtins_ir.yaml");
}

// The parameter gradient of one row from a descriptor's factors.
std::vector<float> param_grad(const morph::BlueprintDescriptor& d, const morph::BlueprintShape& sh,
                              const std::vector<float>& F) {
  morph::GradBlock blocks[morph::kMaxGradBlocks];
  const int32_t n = d.grad_blocks(d, sh, blocks);
  std::vector<float> dp(static_cast<size_t>(d.param_count(d, sh)), 0.0f);
  morph::add_grad_of<float>(blocks, n, F.data(), dp.data());
  return dp;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(a[i], b[i], 4e-6f * (1.0f + std::fabs(b[i]))) << what << "[" << i << "]";
}

void compare(const Graph& g, const morph::BlueprintDescriptor& builtin,
             const morph::BlueprintShape& sh) {
  SCOPED_TRACE(g.name + " C=" + std::to_string(sh.chunk));
  const morph::BlueprintDescriptor d = make_descriptor(g);
  const int32_t P = builtin.param_count(builtin, sh);
  ASSERT_EQ(d.param_count(d, sh), P);
  std::vector<float> p(static_cast<size_t>(P));
  for (int32_t i = 0; i < P; ++i) {
    p[static_cast<size_t>(i)] = builtin.init_value(builtin, sh, i, 1234, 1, 5);
    ASSERT_EQ(d.init_value(d, sh, i, 1234, 1, 5), p[static_cast<size_t>(i)]) << "init " << i;
  }
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> U(-1.0f, 1.0f);
  for (float& v : p) v += 0.3f * U(rng);  // away from the initial zeros and ones
  const size_t C = static_cast<size_t>(sh.chunk);
  for (int row = 0; row < 4; ++row) {
    std::vector<float> x(C), gy(C);
    for (float& v : x) v = 2.0f * U(rng);
    for (float& v : gy) v = U(rng);
    std::vector<float> d_ir(C), d_bi(C);
    d.row_f32.delta(d, sh, p.data(), x.data(), d_ir.data());
    builtin.row_f32.delta(builtin, sh, p.data(), x.data(), d_bi.data());
    expect_close(d_ir, d_bi, "delta");
    std::vector<float> dx_ir(C, 0.5f), dx_bi(C, 0.5f);
    std::vector<float> F_ir(static_cast<size_t>(d.factor_count(d, sh)));
    std::vector<float> F_bi(static_cast<size_t>(builtin.factor_count(builtin, sh)));
    d.row_f32.backward(d, sh, p.data(), x.data(), gy.data(), dx_ir.data(), F_ir.data());
    builtin.row_f32.backward(builtin, sh, p.data(), x.data(), gy.data(), dx_bi.data(), F_bi.data());
    expect_close(dx_ir, dx_bi, "dx");
    expect_close(param_grad(d, sh, F_ir), param_grad(builtin, sh, F_bi), "dp");
  }
}

TEST(IrBuiltins, MatchTheBuiltInBlueprintsWithinFp32Rounding) {
  const std::vector<Graph> graphs = builtins_in_ir();
  ASSERT_EQ(graphs.size(), 3u);
  const char* names[3] = {"residual_mlp", "low_rank", "diag_scale"};
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(graphs[k].name, std::string(names[k]) + "_ir");
    const morph::BlueprintDescriptor& builtin = morph::blueprint_named(names[k]);
    compare(graphs[k], builtin, morph::BlueprintShape{16, 4, 3});
    compare(graphs[k], builtin, morph::BlueprintShape{100, 33, 5});  // past the row limits
  }
}

}  // namespace
}  // namespace kasmina::ir
