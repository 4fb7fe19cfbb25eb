// The fallback chain's selection (ops/ir_backend.hpp) on the CPU, with NVRTC missing for real:
// this process points KASMINA_NVRTC at a file that does not exist before anything probes NVRTC
// (hence its own executable). The probe says so at once (well under 5 ms) and once; the
// compiler answers "unavailable" with that reason and no key; the chain then takes the
// IR-interpreting kernels (a CUDA build), or refuses with the reason (KASMINA_IR_BACKEND=compiled,
// or a build without the interpreter). The interpreted kernels themselves: test_ir_program
// (host), the op table entry ir_interpret and test_ir_cuda (GPU).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>

#include "cache_test_util.hpp"
#include "core/error.hpp"
#include "ir/builtin_ir.hpp"
#include "ir_graphs.hpp"
#include "morph/morph_config.hpp"
#include "ops/blueprint_compiler.hpp"
#include "ops/ir_backend.hpp"
#include "ops/nvrtc.hpp"

namespace kasmina::ops {
namespace {

constexpr const char* kMissing = "/nonexistent/kasmina-test/libnvrtc.so.12";

// Runs first (gtest keeps the order of definition within the file).
TEST(IrFallback, MissingNvrtcIsProbedOnceAndQuickly) {
  ::setenv("KASMINA_NVRTC", kMissing, 1);
  const auto t0 = std::chrono::steady_clock::now();
  const Nvrtc* first = Nvrtc::get();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(first, nullptr);
  EXPECT_LT(ms, 5.0);
  EXPECT_EQ(Nvrtc::why(), std::string("NVRTC could not be loaded (tried ") + kMissing + ")");
  ::unsetenv("KASMINA_NVRTC");  // probed once: a later call does not look again
  EXPECT_EQ(Nvrtc::get(), nullptr);
}

TEST(IrFallback, WithoutNvrtcTheChainTakesTheInterpreter) {
  ir::testing::CacheDir dir;
  BlueprintCompiler compiler(dir.options());
  const ir::Graph g = ir::testing::every_op_graphs().at(3);
  const CompiledBlueprint c = compiler.get(g, {8, 4, 3}, "sm_90");
  EXPECT_FALSE(c.ok);
  EXPECT_EQ(c.level, CompileLevel::unavailable);
  EXPECT_TRUE(c.key.empty());
  EXPECT_EQ(compiler.nvrtc_calls(), 0);
  EXPECT_NE(c.log.find(kMissing), std::string::npos) << c.log;

  const FallbackStep auto_step = after_generated_failed(IrBackend::automatic, c.log, true);
  EXPECT_EQ(auto_step.level, ServedBy::interpreter);
  EXPECT_EQ(auto_step.why, c.log);
  EXPECT_STREQ(served_by_name(auto_step.level), "interpreter");

  const FallbackStep compiled_only = after_generated_failed(IrBackend::compiled, c.log, true);
  EXPECT_EQ(compiled_only.level, ServedBy::refused);
  EXPECT_EQ(compiled_only.why, c.log + " (KASMINA_IR_BACKEND=compiled: no fallback)");

  const FallbackStep no_cuda = after_generated_failed(IrBackend::automatic, c.log, false);
  EXPECT_EQ(no_cuda.level, ServedBy::refused);
  EXPECT_NE(no_cuda.why.find("no IR-interpreting kernels"), std::string::npos);
}

// A graph that restates a built-in (by canonical hash, whatever its names and node order) takes
// the built-in's kernels before the interpreter; any other graph the interpreter.
TEST(IrFallback, WithoutNvrtcARestatementTakesTheBuiltinKernels) {
  const std::vector<ir::Graph> graphs = ir::testing::every_op_graphs();
  ASSERT_EQ(graphs.at(0).name, "residual_mlp_ir");
  EXPECT_EQ(ir::builtin_restated_by(graphs.at(0)), int32_t(morph::BlueprintKind::residual_mlp));
  EXPECT_EQ(ir::builtin_restated_by(graphs.at(1)), int32_t(morph::BlueprintKind::low_rank));
  EXPECT_EQ(ir::builtin_restated_by(graphs.at(2)), int32_t(morph::BlueprintKind::diag_scale));
  for (size_t i = 3; i < graphs.size(); ++i)
    EXPECT_EQ(ir::builtin_restated_by(graphs[i]), -1) << graphs[i].name;
  // Renamed throughout: the same computation.
  const ir::Graph renamed = ir::testing::graph_of(ir::testing::blueprint(
      "B: {shape: [C, r], init: zeros}, A: [r, C]",
      {"{op: linear, in: x, weight: A, out: code}", "{op: linear, in: code, weight: B, out: y}"}));
  EXPECT_EQ(ir::builtin_restated_by(renamed), int32_t(morph::BlueprintKind::low_rank));
  // Another activation, another initialiser, a bias more: not the built-in.
  const auto mlp = [](const std::string& act, const std::string& w2_init, bool b2) {
    return ir::testing::graph_of(ir::testing::blueprint(
        "W1: [h, C], b1: [h], W2: {shape: [C, h], init: " + w2_init + "}, b2: [C]",
        {"{op: linear, in: x, weight: W1, bias: b1, out: pre}",
         "{op: " + act + ", in: pre, out: a}",
         std::string("{op: linear, in: a, weight: W2") + (b2 ? ", bias: b2" : "") + ", out: y}"}));
  };
  EXPECT_EQ(ir::builtin_restated_by(mlp("gelu", "zeros", true)),
            int32_t(morph::BlueprintKind::residual_mlp));
  EXPECT_EQ(ir::builtin_restated_by(mlp("relu", "zeros", true)), -1);
  EXPECT_EQ(ir::builtin_restated_by(mlp("gelu", "uniform(fan_in)", true)), -1);

  const std::string why = Nvrtc::why();
  const FallbackStep step = after_generated_failed(IrBackend::automatic, why, true, 0);
  EXPECT_EQ(step.level, ServedBy::builtin);
  EXPECT_STREQ(served_by_name(step.level), "builtin");
  EXPECT_EQ(after_generated_failed(IrBackend::builtin, why, true, 2).level, ServedBy::builtin);
  EXPECT_EQ(after_generated_failed(IrBackend::builtin, why, true, -1).level, ServedBy::interpreter);
  EXPECT_EQ(after_generated_failed(IrBackend::interpreter, why, true, 0).level,
            ServedBy::interpreter);
  EXPECT_EQ(after_generated_failed(IrBackend::compiled, why, true, 0).level, ServedBy::refused);
  EXPECT_EQ(after_generated_failed(IrBackend::automatic, why, false, 0).level, ServedBy::refused);
}

TEST(IrFallback, BackendComesFromTheEnvironment) {
  ::unsetenv("KASMINA_IR_BACKEND");
  EXPECT_EQ(ir_backend(), IrBackend::automatic);
  ::setenv("KASMINA_IR_BACKEND", "interpreter", 1);
  EXPECT_EQ(ir_backend(), IrBackend::interpreter);
  ::setenv("KASMINA_IR_BACKEND", "compiled", 1);
  EXPECT_EQ(ir_backend(), IrBackend::compiled);
  ::setenv("KASMINA_IR_BACKEND", "builtin", 1);
  EXPECT_EQ(ir_backend(), IrBackend::builtin);
  ::setenv("KASMINA_IR_BACKEND", "auto", 1);
  EXPECT_EQ(ir_backend(), IrBackend::automatic);
  ::setenv("KASMINA_IR_BACKEND", "nvcc", 1);
  try {
    ir_backend();
    ADD_FAILURE() << "an unknown backend is a user error";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(),
                 "KASMINA_IR_BACKEND: 'nvcc' is not one of auto, compiled, builtin, interpreter");
  }
  ::unsetenv("KASMINA_IR_BACKEND");
  EXPECT_STREQ(ir_backend_name(IrBackend::interpreter), "interpreter");
}

}  // namespace
}  // namespace kasmina::ops
