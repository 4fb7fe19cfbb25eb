// The row functions name the rounding of every operation (ops/blueprint_rounding.hpp), so their
// machine code does not depend on which multiply-adds a compiler contracts: NVRTC makes the same
// code for each row program with and without --fmad=false, at the linked module's optimisation
// level (kFastRowsOption) and at the fused module's, for every IR op. A plain `a * b + c` is
// contracted (the check can fail), and only the linked module's row programs get the option.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "cubin_sections.hpp"
#include "fake_compile.hpp"
#include "ir_graphs.hpp"
#include "ops/blueprint_codegen.hpp"
#include "ops/blueprint_compiler.hpp"
#include "ops/blueprint_link.hpp"
#include "ops/nvrtc.hpp"

namespace kasmina::ops {
namespace {

using testing::text_sections;

const Nvrtc* fast_compile_nvrtc(std::string* why) {
  const Nvrtc* nvrtc = Nvrtc::get();
  if (!nvrtc) {
    *why = Nvrtc::why();
    return nullptr;
  }
  if (!takes_fast_rows(*nvrtc)) {
    *why = "NVRTC " + nvrtc->version() + " has no " + kFastRowsOption + " (12.8 and later)";
    return nullptr;
  }
  return nvrtc;
}

// The .text sections of `source` compiled with `options`, then with --fmad=false added.
struct Pair {
  std::map<std::string, std::string> contracting, plain;
  std::string log;
};
Pair compile_both_ways(const Nvrtc& nvrtc, const std::string& source,
                       std::vector<std::string> options) {
  Pair p;
  const NvrtcOutput a = nvrtc.compile(source, "rows.cu", options);
  options.push_back("--fmad=false");
  const NvrtcOutput b = nvrtc.compile(source, "rows.cu", options);
  p.log = a.log + b.log;
  if (a.ok && b.ok) {
    p.contracting = text_sections(a.binary);
    p.plain = text_sections(b.binary);
  }
  return p;
}

TEST(BlueprintRounding, OnlyTheLinkedRowProgramsGetTheFastOption) {
  const std::vector<ir::Graph> graphs = ir::testing::every_op_graphs();
  const LinkedPrograms p = linked_programs(graphs.at(0), {16, 4, 3}, {"-x"}, true, true);
  EXPECT_EQ(p.rows_options, (std::vector<std::string>{"-x", "-rdc=true", "-minimal",
                                                      "--maxrregcount=128", kFastRowsOption}));
  EXPECT_EQ(p.templ_options, (std::vector<std::string>{"-x", "-rdc=true", "-minimal"}));
  EXPECT_FALSE(
      has_option(linked_programs(graphs.at(0), {16, 4, 3}, {}).rows_options, kFastRowsOption));
}

TEST(BlueprintRounding, APlainMultiplyAddIsContracted) {
  std::string why;
  const Nvrtc* nvrtc = fast_compile_nvrtc(&why);
  if (!nvrtc) GTEST_SKIP() << why;
  const std::string source =
      "extern \"C\" __device__ __noinline__ float f(float a, float b, float c) {\n"
      "  return a * b + c;\n}\n";
  const LinkedPrograms p = linked_programs(ir::testing::every_op_graphs().at(0), {16, 4, 3},
                                           blueprint_compile_options(*nvrtc, "sm_90"), true, true);
  const Pair both = compile_both_ways(*nvrtc, source, p.rows_options);
  ASSERT_EQ(both.contracting.size(), 1u) << both.log;
  EXPECT_NE(both.contracting, both.plain);  // FFMA against FMUL + FADD
}

TEST(BlueprintRounding, TheRowFunctionsMachineCodeIsTheSameWithoutContraction) {
  std::string why;
  const Nvrtc* nvrtc = fast_compile_nvrtc(&why);
  if (!nvrtc) GTEST_SKIP() << why;
  const std::vector<std::string> base = blueprint_compile_options(*nvrtc, "sm_90");
  for (const ir::Graph& g : ir::testing::every_op_graphs()) {
    for (const bool fast : {true, false}) {
      const LinkedPrograms p = linked_programs(g, {16, 8, 4}, base, true, fast);
      for (const char* program : kRowPrograms) {
        std::vector<std::string> options = p.rows_options;
        options.push_back(program);
        const Pair both = compile_both_ways(*nvrtc, p.rows, options);
        const std::string what = g.name + " " + program + (fast ? " fast" : " full");
        ASSERT_FALSE(both.contracting.empty()) << what << ": " << both.log;
        EXPECT_TRUE(both.contracting == both.plain) << what << ": the code depends on --fmad";
      }
    }
  }
}

}  // namespace
}  // namespace kasmina::ops
