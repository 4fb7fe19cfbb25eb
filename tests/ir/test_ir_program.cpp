// The IR-interpreting kernels' row functions (kernels/morph/ir_interpret.cuh, KASMINA_HD) run on
// the host over the flattened program (ir/program.hpp) against the CPU interpreter: deltas, input
// gradients and gradient factors of blueprints covering every op, at odd and even chunk widths;
// their parameter-gradient terms against the seam's (morph::grad_term_of). The same functions on
// a GPU: the op table entry ir_interpret (tests/ops/cuda/entries_ir.cpp) and test_ir_cuda.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ir/interpreter.hpp"
#include "ir/program.hpp"
#include "ir/program_format.hpp"
#include "ir_graphs.hpp"
#include "kernels/morph/ir_interpret.cuh"

namespace kasmina::ir {
namespace {

void expect_close(const std::vector<float>& a, const std::vector<float>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    ASSERT_NEAR(a[i], b[i], 1e-5f * (1.0f + std::fabs(b[i]))) << what << "[" << i << "]";
}

TEST(IrProgram, HeaderDescribesThePlan) {
  const Graph g = testing::every_op_graphs().at(3);  // gated_mlp
  const Plan plan = make_plan(g, {12, 4, 3});
  const std::vector<int32_t> w = make_program(g, plan);
  namespace pf = program;
  EXPECT_EQ(w[pf::kHVersion], pf::kVersion);
  EXPECT_EQ(w[pf::kHChunk], 12);
  EXPECT_EQ(w[pf::kHNodes], static_cast<int32_t>(g.nodes.size()));
  EXPECT_EQ(w[pf::kHScratch], plan.scratch);
  EXPECT_EQ(w[pf::kHParams], plan.param_count);
  EXPECT_EQ(w[pf::kHFactors], plan.factor_count);
  EXPECT_EQ(w[pf::kHOutput], plan.offset[static_cast<size_t>(g.output)]);
  EXPECT_EQ(w[pf::kHBlocks], static_cast<int32_t>(plan.blocks.size()));
  for (size_t k = 0; k < g.nodes.size(); ++k) {
    const int32_t* n = w.data() + w[static_cast<size_t>(w[pf::kHNodeTableAt]) + k];
    EXPECT_EQ(n[pf::kNOp], static_cast<int32_t>(g.nodes[k].op));
    EXPECT_EQ(n[pf::kNOut], plan.offset[k + 1]);
    EXPECT_EQ(n[pf::kNInputs], static_cast<int32_t>(g.nodes[k].in.size()));
  }
}

class IrProgramRows : public ::testing::TestWithParam<int32_t> {};

TEST_P(IrProgramRows, InterpretedRowsMatchTheCpuInterpreter) {
  const morph::BlueprintShape sh{GetParam(), 5, 3};
  int covered = 0;
  for (const Graph& g : testing::every_op_graphs()) {
    SCOPED_TRACE(g.name);
    for (const Node& n : g.nodes) covered |= 1 << static_cast<int>(n.op);
    const Plan plan = make_plan(g, sh);
    const std::vector<int32_t> prog = make_program(g, plan);
    std::mt19937 rng(static_cast<uint32_t>(17 + sh.chunk));
    std::uniform_real_distribution<float> U(-1.0f, 1.0f);
    const int rows = 4, C = sh.chunk, nf = plan.factor_count;
    std::vector<float> p(static_cast<size_t>(plan.param_count)), x(rows * C), gy(rows * C);
    for (float& v : p) v = U(rng);
    for (float& v : x) v = 2.0f * U(rng);
    for (float& v : gy) v = U(rng);
    std::vector<float> v(static_cast<size_t>(plan.scratch)), gv(v.size());
    std::vector<float> d(rows * C), dx(rows * C, 0.5f), F(rows * nf);
    std::vector<float> d_ref(rows * C), dx_ref(rows * C, 0.5f), F_ref(rows * nf);
    for (int r = 0; r < rows; ++r) {
      ir_interp::row_delta(prog.data(), p.data(), &x[r * C], v.data(), &d[r * C]);
      ir_interp::row_backward(prog.data(), p.data(), &x[r * C], &gy[r * C], &dx[r * C], &F[r * nf],
                              v.data(), gv.data());
      row_delta<float>(g, plan, p.data(), &x[r * C], &d_ref[r * C]);
      row_backward<float>(g, plan, p.data(), &x[r * C], &gy[r * C], &dx_ref[r * C], &F_ref[r * nf]);
    }
    expect_close(d, d_ref, "delta");
    expect_close(dx, dx_ref, "dx");
    expect_close(F, F_ref, "F");
    float largest = 0.0f;
    for (float e : d) largest = std::fmax(largest, std::fabs(e));
    EXPECT_GT(largest, 1e-3f) << "a delta that is not all zero";
    for (int32_t i = 0; i < plan.param_count; ++i) {
      int32_t a = -1, b = -1;
      ir_interp::grad_term(prog.data(), i, &a, &b);
      const morph::GradTerm t =
          morph::grad_term_of(plan.blocks.data(), static_cast<int32_t>(plan.blocks.size()), i);
      ASSERT_EQ(a, t.a) << "parameter " << i;
      ASSERT_EQ(b, t.b) << "parameter " << i;
    }
  }
  EXPECT_EQ(covered, (1 << kOpCount) - 1) << "every op is interpreted";
}

INSTANTIATE_TEST_SUITE_P(ChunkWidths, IrProgramRows, ::testing::Values(1, 5, 8, 13, 32),
                         [](const auto& info) {
                           return std::string("C") + std::to_string(info.param);
                         });

}  // namespace
}  // namespace kasmina::ir
