// Op table entry of the IR-interpreting kernels (kernels/morph/ir_interpret.cu): their row
// kernels on the GPU against the CPU interpreter (ir/interpreter.cpp, their CPU twin) for
// blueprints covering every IR op (tests/ir/ir_graphs.hpp) at odd and even chunk widths, more
// rows than a block: the delta, dx (accumulated onto a non-zero dx) and the gradient factors.
// Their seed kernels inside a layer: test_ir_cuda (IrCudaInterpreter).
#include <cstring>
#include <vector>

#include "ir/interpreter.hpp"
#include "kasmina_build_config.hpp"
#include "tests/ir/ir_graphs.hpp"
#include "tests/ops/cuda/compare.hpp"
#include "tests/ops/cuda/op_table.hpp"
#if KASMINA_HAS_CUDA
#include "ops/cuda/ir_interpret.hpp"
#endif

namespace kasmina::cuda_test {
namespace {

struct IrRowCase {
  int32_t graph;  // index into every_op_graphs()
  int32_t chunk;
  int64_t rows;
};

void ir_rows_case(const IrRowCase& c) {
#if KASMINA_HAS_CUDA
  const ir::Graph g = ir::testing::every_op_graphs().at(static_cast<size_t>(c.graph));
  SCOPED_TRACE(g.name);
  const ir::Plan plan = ir::make_plan(g, {c.chunk, 5, 3});
  const int64_t C = c.chunk, nf = plan.factor_count, rows = c.rows;
  const Tensor x = random_f32({rows, C}, 31 + C, -2.0f, 2.0f);
  const Tensor gy = random_f32({rows, C}, 32 + C);
  const Tensor p = random_f32({plan.param_count}, 33 + C);
  const Tensor dx0 = random_f32({rows, C}, 34 + C);
  const std::vector<float> xv = x.to_vector<float>(), gv = gy.to_vector<float>(),
                           pv = p.to_vector<float>();
  std::vector<float> d(static_cast<size_t>(rows * C)), dx = dx0.to_vector<float>(),
                                                       F(static_cast<size_t>(rows * nf));
  for (int64_t r = 0; r < rows; ++r) {
    ir::row_delta<float>(g, plan, pv.data(), &xv[r * C], &d[r * C]);
    ir::row_backward<float>(g, plan, pv.data(), &xv[r * C], &gv[r * C], &dx[r * C], &F[r * nf]);
  }
  Tensor d_gpu = poisoned({rows, C}, DType::f32), F_gpu = poisoned({rows, nf}, DType::f32);
  Tensor dx_gpu = on_gpu(dx0);
  ops::cuda::ir_interpret_row_delta(g, plan, on_gpu(x), on_gpu(p), d_gpu);
  ops::cuda::ir_interpret_row_backward(g, plan, on_gpu(x), on_gpu(gy), on_gpu(p), &dx_gpu, &F_gpu);
  EXPECT_TRUE(close("ir delta", d_gpu, Tensor::from_vector(d, {rows, C}), kTolF32Reduce));
  EXPECT_TRUE(close("ir dx", dx_gpu, Tensor::from_vector(dx, {rows, C}), kTolF32Reduce));
  EXPECT_TRUE(close("ir factors", F_gpu, Tensor::from_vector(F, {rows, nf}), kTolF32Reduce));
#else
  (void)c;
#endif
}

KASMINA_OP_TABLE_ENTRY(ir_interpret) {
  op_table::OpTestEntry e;
  e.correctness = [] {
    std::vector<IrRowCase> cases;
    const int32_t graphs = static_cast<int32_t>(ir::testing::every_op_graphs().size());
    for (int32_t gi = 0; gi < graphs; ++gi)
      for (int32_t C : {1, 5, 13, 32}) cases.push_back({gi, C, C == 13 ? 1000 : 129});
    return op_table::cases_over(
        cases,
        [](const IrRowCase& c) {
          return std::string("graph") + std::to_string(c.graph) + "_" +
                 op_table::dims({{"C", c.chunk}, {"B", c.rows}});
        },
        ir_rows_case);
  };
  return e;
}

}  // namespace
}  // namespace kasmina::cuda_test
