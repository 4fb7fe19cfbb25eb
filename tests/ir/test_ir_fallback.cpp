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
#include "ir_graphs.hpp"
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
  EXPECT_EQ(compiled_only.why, c.log + " (KASMINA_IR_BACKEND=compiled: no interpreter fallback)");

  const FallbackStep no_cuda = after_generated_failed(IrBackend::automatic, c.log, false);
  EXPECT_EQ(no_cuda.level, ServedBy::refused);
  EXPECT_NE(no_cuda.why.find("no IR-interpreting kernels"), std::string::npos);
}

TEST(IrFallback, BackendComesFromTheEnvironment) {
  ::unsetenv("KASMINA_IR_BACKEND");
  EXPECT_EQ(ir_backend(), IrBackend::automatic);
  ::setenv("KASMINA_IR_BACKEND", "interpreter", 1);
  EXPECT_EQ(ir_backend(), IrBackend::interpreter);
  ::setenv("KASMINA_IR_BACKEND", "compiled", 1);
  EXPECT_EQ(ir_backend(), IrBackend::compiled);
  ::setenv("KASMINA_IR_BACKEND", "auto", 1);
  EXPECT_EQ(ir_backend(), IrBackend::automatic);
  ::setenv("KASMINA_IR_BACKEND", "nvcc", 1);
  try {
    ir_backend();
    ADD_FAILURE() << "an unknown backend is a user error";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(), "KASMINA_IR_BACKEND: 'nvcc' is not one of auto, compiled, interpreter");
  }
  ::unsetenv("KASMINA_IR_BACKEND");
  EXPECT_STREQ(ir_backend_name(IrBackend::interpreter), "interpreter");
}

}  // namespace
}  // namespace kasmina::ops
