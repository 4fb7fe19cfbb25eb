// Linked blueprint modules (blueprint_link.hpp): the seed kernels compiled once per chunk width
// and architecture, each blueprint's row functions compiled apart and linked to them. With a test
// compiler and linker (what each program is compiled with, what is linked to what, what is
// cached and what falls back to the fused module), then with the real NVRTC and nvJitLink when
// both load (the seed kernels shared by blueprints of a chunk width and by processes); the
// run-time library loader they share.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "cache_test_util.hpp"
#include "fake_compile.hpp"
#include "ir_graphs.hpp"
#include "ops/blueprint_codegen.hpp"
#include "ops/blueprint_compiler.hpp"
#include "ops/blueprint_link.hpp"
#include "ops/dynamic_library.hpp"
#include "ops/nvjitlink.hpp"
#include "ops/nvrtc.hpp"
#include "ops/seed_templates.hpp"

namespace kasmina::ops {
namespace {

TEST(BlueprintLink, TheSeedKernelsOfAChunkWidthAreCompiledOnceAndLinkedToEachBlueprint) {
  ir::testing::CacheDir dir;
  const std::vector<ir::Graph> graphs = ir::testing::every_op_graphs();
  std::vector<std::string> linked;
  const auto link = [&](const std::vector<const std::string*>& parts, const std::string& arch) {
    EXPECT_EQ(arch, "sm_90");
    std::string s;
    for (const std::string* p : parts) s += (s.empty() ? "" : "+") + *p;
    linked.push_back(s);
    return NvrtcOutput{true, s, ""};
  };
  BlueprintCompiler c(dir.options());
  c.set_codegen_mode(CodegenMode::linked);
  c.set_compile_function(fake_compile);
  c.set_link_function(link);
  const CompiledBlueprint a = c.get(graphs.at(0), {8, 4, 3}, "sm_90");
  ASSERT_TRUE(a.ok) << a.log;
  EXPECT_TRUE(a.linked);
  EXPECT_TRUE(a.fallback.empty()) << a.fallback;
  EXPECT_EQ(a.cubin(), "template+rows-DKS_PROGRAM=1+rows-DKS_PROGRAM=2");  // one link: one cubin
  EXPECT_EQ(c.template_compiles(), 1);
  EXPECT_EQ(c.nvrtc_calls(), 2);  // the template, the row functions
  // Another blueprint of the same chunk width: its row functions only.
  const CompiledBlueprint b = c.get(graphs.at(1), {8, 4, 3}, "sm_90");
  ASSERT_TRUE(b.ok && b.linked) << b.log;
  EXPECT_NE(b.key, a.key);
  EXPECT_EQ(c.template_compiles(), 1);
  EXPECT_EQ(c.nvrtc_calls(), 3);
  EXPECT_EQ(linked.size(), 2u);  // one link a blueprint
  // Another process: the template from disk, one compile for a third blueprint.
  BlueprintCompiler other(dir.options());
  other.set_codegen_mode(CodegenMode::linked);
  other.set_compile_function(fake_compile);
  other.set_link_function(link);
  EXPECT_EQ(other.get(graphs.at(0), {8, 4, 3}, "sm_90").level, CompileLevel::disk);
  const CompiledBlueprint d = other.get(graphs.at(2), {8, 4, 3}, "sm_90");
  ASSERT_TRUE(d.ok && d.linked) << d.log;
  EXPECT_EQ(d.level, CompileLevel::compiled);
  EXPECT_EQ(other.template_compiles(), 0);
  EXPECT_EQ(other.nvrtc_calls(), 1);
  // The fused module of the same blueprint is another key.
  other.set_codegen_mode(CodegenMode::fused);
  const CompiledBlueprint f = other.get(graphs.at(0), {8, 4, 3}, "sm_90");
  ASSERT_TRUE(f.ok) << f.log;
  EXPECT_FALSE(f.linked);
  EXPECT_NE(f.key, a.key);
}

// A link that fails leaves a negative entry under the linked key and the fused module is made;
// the next process reads both from disk and compiles nothing.
TEST(BlueprintLink, AFailedLinkFallsBackToTheFusedModule) {
  ir::testing::CacheDir dir;
  const ir::Graph g = ir::testing::every_op_graphs().at(0);
  const auto refuse = [](const std::vector<const std::string*>&, const std::string&) {
    return NvrtcOutput{false, "", "nvJitLink failed (4): version mismatch"};
  };
  for (int process = 0; process < 2; ++process) {
    BlueprintCompiler c(dir.options());
    c.set_codegen_mode(CodegenMode::linked);
    c.set_compile_function(fake_compile);
    c.set_link_function(refuse);
    const CompiledBlueprint r = c.get(g, {8, 4, 3}, "sm_90");
    ASSERT_TRUE(r.ok) << r.log;
    EXPECT_FALSE(r.linked);
    EXPECT_EQ(r.cubin(), "fused");
    EXPECT_EQ(r.fallback,
              "the linked module could not be made: nvJitLink failed (4): version mismatch");
    EXPECT_EQ(r.level, process == 0 ? CompileLevel::compiled : CompileLevel::disk);
    EXPECT_EQ(c.nvrtc_calls(), process == 0 ? 3 : 0);
  }
  // A test compiler without a test linker, and PTX, are not linked: said so.
  BlueprintCompiler c(dir.options());
  c.set_codegen_mode(CodegenMode::linked);
  c.set_compile_function(fake_compile);
  const CompiledBlueprint r = c.get(g, {8, 4, 3}, "sm_90");
  EXPECT_FALSE(r.linked);
  EXPECT_EQ(r.fallback, "not linked: a test compiler without a test linker");
  c.set_link_function(refuse);
  const CompiledBlueprint p = c.get(g, {8, 4, 3}, "sm_90", true);
  EXPECT_FALSE(p.linked);
  EXPECT_EQ(p.fallback, "not linked: a PTX module is not linked");
}

// Past the time limit a linked compile goes on in the background, as a fused one does, and lands
// in memory and on disk as a linked module.
TEST(BlueprintLink, ALinkedCompilePastTheLimitFinishesInTheBackground) {
  ir::testing::CacheDir dir;
  const ir::Graph g = ir::testing::every_op_graphs().at(0);
  const auto slow = [](const std::string& source, const std::string& name,
                       const std::vector<std::string>& options) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    return fake_compile(source, name, options);
  };
  const auto link = [](const std::vector<const std::string*>& parts, const std::string&) {
    return NvrtcOutput{true, *parts.front() + "+" + *parts.back(), ""};
  };
  BlueprintCompiler c(dir.options());
  c.set_codegen_mode(CodegenMode::linked);
  c.set_compile_function(slow);
  c.set_link_function(link);
  c.set_time_limit(0.1);
  const CompiledBlueprint a = c.get(g, {8, 4, 3}, "sm_90");
  EXPECT_EQ(a.level, CompileLevel::timed_out);
  EXPECT_FALSE(a.key.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(900));
  const CompiledBlueprint b = c.get(g, {8, 4, 3}, "sm_90");
  ASSERT_TRUE(b.ok) << b.log;
  EXPECT_TRUE(b.linked);
  EXPECT_EQ(b.level, CompileLevel::memory);
  EXPECT_EQ(b.key, a.key);
  EXPECT_EQ(b.cubin(), "template+rows-DKS_PROGRAM=2");  // this test's link: first and last
}

// The run-time loader of NVRTC and nvJitLink: the names in order, the first that loads; only the
// environment's file when it is set; what was tried when none loads.
TEST(DynamicLibrary, TriesEachNameInOrderOrOnlyTheEnvironments) {
  ::unsetenv("KASMINA_TEST_LIBRARY");
  std::string why;
  EXPECT_EQ(open_library("KASMINA_TEST_LIBRARY", {"/nonexistent/a.so", "/nonexistent/b.so"}, "Test",
                         &why),
            nullptr);
  EXPECT_EQ(why, "Test could not be loaded (tried /nonexistent/a.so, /nonexistent/b.so)");
  void* libc =
      open_library("KASMINA_TEST_LIBRARY", {"/nonexistent/a.so", "libc.so.6"}, "Test", &why);
  ASSERT_NE(libc, nullptr);
  size_t (*strlen_fn)(const char*) = nullptr;
  EXPECT_TRUE(bind_symbol(libc, "strlen", &strlen_fn));
  EXPECT_EQ(strlen_fn("kasmina"), 7u);
  EXPECT_FALSE(bind_symbol(libc, "kasmina_no_such_symbol", &strlen_fn));
  ::setenv("KASMINA_TEST_LIBRARY", "/nonexistent/c.so", 1);
  EXPECT_EQ(open_library("KASMINA_TEST_LIBRARY", {"libc.so.6"}, "Test", &why), nullptr);
  EXPECT_EQ(why, "Test could not be loaded (tried /nonexistent/c.so)");
  ::unsetenv("KASMINA_TEST_LIBRARY");
}

TEST(BlueprintLink, TheModeComesFromTheEnvironment) {
  ::unsetenv("KASMINA_IR_CODEGEN");
  EXPECT_EQ(codegen_mode_from_env(), CodegenMode::tiered);
  ::setenv("KASMINA_IR_CODEGEN", "fused", 1);
  EXPECT_EQ(codegen_mode_from_env(), CodegenMode::fused);
  ::setenv("KASMINA_IR_CODEGEN", "linked", 1);
  EXPECT_EQ(codegen_mode_from_env(), CodegenMode::linked);
  ::setenv("KASMINA_IR_CODEGEN", "tiered", 1);
  EXPECT_EQ(codegen_mode_from_env(), CodegenMode::tiered);
  ::setenv("KASMINA_IR_CODEGEN", "inlined", 1);
  try {
    codegen_mode_from_env();
    ADD_FAILURE() << "no error";
  } catch (const UserError& e) {
    EXPECT_STREQ(e.what(), "KASMINA_IR_CODEGEN: 'inlined' is not one of tiered, fused, linked");
  }
  ::unsetenv("KASMINA_IR_CODEGEN");
}

// The template is one text per chunk width (whatever the blueprint), the row functions' register
// bound the backward kernel's.
TEST(BlueprintLink, TheTemplateDependsOnTheChunkWidthOnly) {
  const std::vector<ir::Graph> graphs = ir::testing::every_op_graphs();
  const LinkedPrograms a = linked_programs(graphs.at(0), {16, 4, 3}, {"-x"});
  const LinkedPrograms b = linked_programs(graphs.at(3), {16, 8, 2}, {"-x"});
  EXPECT_EQ(*a.templ, *b.templ);
  EXPECT_NE(a.rows, b.rows);
  EXPECT_NE(*linked_programs(graphs.at(0), {32, 4, 3}, {}).templ, *a.templ);
  EXPECT_EQ(a.templ_options, (std::vector<std::string>{"-x", "-rdc=true"}));
  EXPECT_EQ(a.rows_options, (std::vector<std::string>{"-x", "-rdc=true", "--maxrregcount=128"}));
  EXPECT_TRUE(
      has_option(linked_programs(graphs.at(0), {32, 4, 3}, {}).rows_options, "--maxrregcount=255"));
  EXPECT_NE(a.rows.find("extern \"C\" __device__ __noinline__ void ks_row_delta("),
            std::string::npos);
  EXPECT_NE(a.rows.find("extern \"C\" __constant__ int ks_const[4] = {"), std::string::npos);
  EXPECT_NE(a.templ->find("#define KS_P (ks_const[0])"), std::string::npos);
}

// The real compilers: both kernels in each linked cubin with the row functions, the template
// shared by two blueprints of a chunk width, and a second compiler (process) compiling nothing.
TEST(BlueprintLink, NvrtcAndNvJitLinkMakeALinkedModule) {
  if (!Nvrtc::get()) GTEST_SKIP() << Nvrtc::why();
  if (!NvJitLink::get()) GTEST_SKIP() << NvJitLink::why();
  ir::testing::CacheDir dir;
  const std::vector<ir::Graph> graphs = ir::testing::every_op_graphs();
  BlueprintCompiler c(dir.options());
  c.set_codegen_mode(CodegenMode::linked);
  const CompiledBlueprint a = c.get(graphs.at(0), {16, 4, 3}, "sm_90");
  ASSERT_TRUE(a.ok) << a.log;
  EXPECT_TRUE(a.linked) << a.fallback;
  const std::string& cubin = a.cubin();  // one link: both kernels and the row functions
  EXPECT_EQ(cubin.substr(1, 3), "ELF");
  for (const char* fn : {kIrSeedForwardKernel, kIrSeedBackwardKernel, "ks_row_delta",
                         "ks_row_backward", "ks_grad_term", "ks_const"})
    EXPECT_NE(cubin.find(fn), std::string::npos) << fn;
  const CompiledBlueprint b = c.get(graphs.at(3), {16, 8, 2}, "sm_90");
  ASSERT_TRUE(b.ok && b.linked) << b.log << b.fallback;
  // C = 16's template: built into the binary (a CUDA build whose NVRTC is this one), else
  // compiled once.
  const bool built_in = builtin_seed_template(seed_template_key_of(16, "sm_90", {})) != nullptr;
  EXPECT_EQ(c.template_compiles(), built_in ? 0 : 1);
  EXPECT_EQ(c.nvrtc_calls(), built_in ? 2 : 3);
  BlueprintCompiler other(dir.options());
  other.set_codegen_mode(CodegenMode::linked);
  const CompiledBlueprint again = other.get(graphs.at(3), {16, 8, 2}, "sm_90");
  EXPECT_EQ(again.level, CompileLevel::disk);
  EXPECT_EQ(again.cubin(), b.cubin());
  EXPECT_EQ(other.nvrtc_calls(), 0);
  // Every op's row functions compile and link (-minimal leaves nothing out that they use).
  for (const ir::Graph& g : graphs) {
    const CompiledBlueprint m = other.get(g, {5, 3, 2}, "sm_90");
    EXPECT_TRUE(m.ok && m.linked) << g.name << ": " << m.log << m.fallback;
  }
  EXPECT_EQ(other.template_compiles(), 1);
}

}  // namespace
}  // namespace kasmina::ops

namespace kasmina::ops {
namespace {

// The templates built into a CUDA build (ops/seed_templates.hpp) are what NVRTC makes of the same
// text with the same options, under the key a linked module looks them up by; a linked module of
// such a chunk width compiles its row functions only.
TEST(BuiltinSeedTemplates, AreWhatNvrtcMakesAndSpareTheFirstCompile) {
  if (builtin_seed_template_count() == 0)
    GTEST_SKIP() << "no templates built in (a build without CUDA, or no NVRTC at build time)";
  if (!Nvrtc::get()) GTEST_SKIP() << Nvrtc::why();
  EXPECT_EQ(builtin_seed_template_count() % std::size(kBuiltinTemplateChunks), 0u);
  EXPECT_NE(builtin_seed_templates_summary().find("C = 4, 8, 16, 32, 64 for sm_"),
            std::string::npos)
      << builtin_seed_templates_summary();
  const std::string key = seed_template_key_of(16, "sm_90", {});
  const std::string* built = builtin_seed_template(key);
  if (!built) GTEST_SKIP() << "this NVRTC (" << Nvrtc::get()->version() << ") is not the build's";
  const SeedTemplateBuild now = build_seed_template(16, "sm_90", {});
  ASSERT_TRUE(now.ok) << now.log;
  EXPECT_EQ(now.key, key);
  EXPECT_EQ(now.module, *built);
  EXPECT_EQ(builtin_seed_template(seed_template_key_of(16, "sm_90", {"-lineinfo"})), nullptr)
      << "other options, another key";
  if (!NvJitLink::get()) GTEST_SKIP() << NvJitLink::why();
  ir::testing::CacheDir dir;
  BlueprintCompiler c(dir.options());
  c.set_codegen_mode(CodegenMode::linked);
  for (const int32_t chunk : kBuiltinTemplateChunks) {
    const CompiledBlueprint m = c.get(ir::testing::every_op_graphs().at(0), {chunk, 4, 3}, "sm_90");
    EXPECT_TRUE(m.ok && m.linked) << chunk << ": " << m.log << m.fallback;
  }
  EXPECT_EQ(c.template_compiles(), 0);
  EXPECT_EQ(c.nvrtc_calls(), static_cast<int64_t>(std::size(kBuiltinTemplateChunks)));
}

}  // namespace
}  // namespace kasmina::ops
