// IR blueprint -> cubin through the caches, with the real NVRTC when it can be loaded: the first
// request compiles, the next one in the process is a memory hit, a second compiler over the same
// directory (another process) makes no NVRTC call; a corrupt entry is recompiled; a failed
// compile is cached with its log; the key changes with the shape, the architecture and options.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <thread>

#include "cache_test_util.hpp"
#include "core/sha256.hpp"
#include "cubin_sections.hpp"
#include "ir/plan.hpp"
#include "ir_test_util.hpp"
#include "ops/blueprint_codegen.hpp"
#include "ops/blueprint_compiler.hpp"
#include "ops/nvrtc.hpp"

namespace kasmina::ops {
namespace {

ir::Graph gated() {
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  return load_blueprint_file(std::string(root ? root : ".") + "/configs/blueprints/gated_mlp.yaml")
      .at(0);
}

using testing::text_sections;

TEST(BlueprintCompiler, CompilesOnceThenServesFromMemoryAndDisk) {
  if (!Nvrtc::get()) GTEST_SKIP() << Nvrtc::why();
  ir::testing::CacheDir dir;
  const ir::Graph g = gated();
  const morph::BlueprintShape sh{16, 8, 4};
  BlueprintCompiler first(dir.options());
  first.set_codegen_mode(CodegenMode::fused);
  const CompiledBlueprint a = first.get(g, sh, "sm_90");
  ASSERT_TRUE(a.ok) << a.log;
  EXPECT_EQ(a.level, CompileLevel::compiled);
  EXPECT_EQ(a.cubin().substr(1, 3), "ELF");
  EXPECT_EQ(first.get(g, sh, "sm_90").level, CompileLevel::memory);
  EXPECT_EQ(first.nvrtc_calls(), 1);
  BlueprintCompiler second(dir.options());  // as another process would
  second.set_codegen_mode(CodegenMode::fused);
  const CompiledBlueprint b = second.get(g, sh, "sm_90");
  EXPECT_EQ(b.level, CompileLevel::disk);
  EXPECT_EQ(b.cubin(), a.cubin());
  EXPECT_EQ(b.key, a.key);
  EXPECT_EQ(second.nvrtc_calls(), 0);
  // Another shape or architecture is another key.
  EXPECT_NE(second.get(g, {32, 8, 4}, "sm_90").key, a.key);
  EXPECT_NE(second.get(g, sh, "sm_80").key, a.key);
  EXPECT_EQ(second.nvrtc_calls(), 2);
  // A corrupt entry is quarantined and recompiled.
  ir::testing::write_file(ir::KernelCache(dir.options()).entry_path(a.key), "truncated");
  BlueprintCompiler third(dir.options());
  third.set_codegen_mode(CodegenMode::fused);
  const CompiledBlueprint c = third.get(g, sh, "sm_90");
  EXPECT_EQ(c.level, CompileLevel::compiled);
  EXPECT_EQ(c.cubin(), a.cubin());
  EXPECT_EQ(ir::KernelCache(dir.options()).stats().quarantined, 1);
}

TEST(BlueprintCompiler, AFailedCompileIsCachedWithItsLog) {
  if (!Nvrtc::get()) GTEST_SKIP() << Nvrtc::why();
  ir::testing::CacheDir dir;
  const ir::Graph g = gated();
  BlueprintCompiler first(dir.options(), {"--no-such-option"});
  const CompiledBlueprint a = first.get(g, {16, 8, 4}, "sm_90");
  EXPECT_FALSE(a.ok);
  EXPECT_FALSE(a.log.empty());
  BlueprintCompiler second(dir.options(), {"--no-such-option"});
  const CompiledBlueprint b = second.get(g, {16, 8, 4}, "sm_90");
  EXPECT_FALSE(b.ok);
  EXPECT_EQ(b.level, CompileLevel::disk);
  EXPECT_EQ(b.log, a.log);
  EXPECT_EQ(second.nvrtc_calls(), 0);
}

// A layer launches only the seed kernels, so the module compiled for it holds only those (the row
// kernels of the codegen tests would add a third to its compile time): one cubin, one library to
// load.
TEST(BlueprintCompiler, TheModuleHoldsTheSeedKernelsOnly) {
  const ir::Graph g = gated();
  const morph::BlueprintShape sh{16, 8, 4};
  const std::string src = blueprint_module_source(g, sh);
  EXPECT_NE(src.find(kIrSeedForwardKernel), std::string::npos);
  EXPECT_NE(src.find(kIrSeedBackwardKernel), std::string::npos);
  EXPECT_EQ(src.find(kIrDeltaKernel), std::string::npos);
  EXPECT_EQ(src.find(kIrBackwardKernel), std::string::npos);
  const std::string all = generate_blueprint_source(g, ir::make_plan(g, sh), ModuleParts::all);
  const size_t rows_at = all.find(std::string("extern \"C\" __global__ void ") + kIrDeltaKernel);
  ASSERT_NE(rows_at, std::string::npos);
  EXPECT_EQ(src.substr(0, rows_at), all.substr(0, rows_at));  // the same row functions
  const Nvrtc* nvrtc = Nvrtc::get();
  if (!nvrtc) GTEST_SKIP() << Nvrtc::why();
  const std::vector<std::string> options = blueprint_compile_options(*nvrtc, "sm_90");
  EXPECT_EQ(options.at(0), "--gpu-architecture=sm_90");
  ir::testing::CacheDir dir;
  BlueprintCompiler compiler(dir.options());
  compiler.set_codegen_mode(CodegenMode::fused);
  const CompiledBlueprint c = compiler.get(g, sh, "sm_90");
  ASSERT_TRUE(c.ok) << c.log;
  EXPECT_FALSE(c.linked);
  EXPECT_NE(c.cubin().find(kIrSeedForwardKernel), std::string::npos);
  EXPECT_NE(c.cubin().find(kIrSeedBackwardKernel), std::string::npos);
  EXPECT_EQ(c.cubin().find(kIrDeltaKernel), std::string::npos);
  EXPECT_EQ(c.key, fused_module_key(g.canonical_text, blueprint_module_head(g, sh),
                                    nvrtc->version(), options, "sm_90"));
  // One cubin with the two kernels' code and nothing else (no row kernel); the options beyond
  // the architecture and the language (--split-compile) leave the machine code as it is.
  const std::map<std::string, std::string> text = text_sections(c.cubin());
  EXPECT_EQ(text.size(), 2u);
  EXPECT_EQ(text.count(std::string(".text.") + kIrSeedForwardKernel), 1u);
  EXPECT_EQ(text.count(std::string(".text.") + kIrSeedBackwardKernel), 1u);
  const NvrtcOutput plain = nvrtc->compile(src, "plain.cu", {options[0], options[1]});
  ASSERT_TRUE(plain.ok) << plain.log;
  EXPECT_TRUE(text == text_sections(plain.binary)) << "the options changed the machine code";
}

// A lookup generates the head of the fused module's source and hashes it with the digest of the
// seed kernels' body, the same text for every blueprint: the head and the body are the source,
// and the key is the key of the head followed by the body's SHA-256.
TEST(BlueprintCompiler, TheFusedKeyHashesTheHeadAndTheBodysDigest) {
  const ir::Graph g = gated();
  const morph::BlueprintShape sh{16, 8, 4};
  const std::string head = blueprint_module_head(g, sh);
  const std::string& body = seed_kernels_body();
  EXPECT_EQ(head + body, blueprint_module_source(g, sh));
  EXPECT_NE(body.find(kIrSeedForwardKernel), std::string::npos);
  EXPECT_EQ(head.find(kIrSeedForwardKernel), std::string::npos);
  EXPECT_EQ(seed_kernels_body_digest(), sha256_hex(body));
  const std::vector<std::string> o = {"--gpu-architecture=sm_90"};
  const std::string k = fused_module_key(g.canonical_text, head, "12.4", o, "sm_90");
  EXPECT_EQ(k, blueprint_kernel_key(g.canonical_text, head + sha256_hex(body), "12.4", o, "sm_90"));
  // Another shape, another head (its sizes), another key; the same inputs, the same key.
  const std::string head2 = blueprint_module_head(g, {16, 16, 4});
  EXPECT_NE(head2, head);
  EXPECT_NE(fused_module_key(g.canonical_text, head2, "12.4", o, "sm_90"), k);
  EXPECT_EQ(fused_module_key(g.canonical_text, head, "12.4", o, "sm_90"), k);
  EXPECT_NE(fused_module_key(g.canonical_text, head, "12.4", o, "sm_80"), k);
}

TEST(BlueprintCompiler, TheKeyCoversEveryInput) {
  const std::string k = blueprint_kernel_key("ir", "src", "12.4", {"-a"}, "sm_90");
  EXPECT_EQ(k.size(), 64u);
  EXPECT_EQ(blueprint_kernel_key("ir", "src", "12.4", {"-a"}, "sm_90"), k);
  EXPECT_NE(blueprint_kernel_key("ir2", "src", "12.4", {"-a"}, "sm_90"), k);
  EXPECT_NE(blueprint_kernel_key("ir", "src2", "12.4", {"-a"}, "sm_90"), k);
  EXPECT_NE(blueprint_kernel_key("ir", "src", "12.5", {"-a"}, "sm_90"), k);
  EXPECT_NE(blueprint_kernel_key("ir", "src", "12.4", {"-b"}, "sm_90"), k);
  EXPECT_NE(blueprint_kernel_key("ir", "src", "12.4", {"-a"}, "sm_80"), k);
  EXPECT_NE(blueprint_kernel_key("irs", "rc", "12.4", {"-a"}, "sm_90"), k);  // lengths count
}

}  // namespace
}  // namespace kasmina::ops

namespace kasmina::ops {
namespace {

// What NVRTC is asked for: a cubin for the device when it can target it, else PTX for the newest
// architecture it knows up to the device's (the driver compiles it), or PTX when asked.
TEST(BlueprintCompiler, TargetIsACubinOrPtxTheDriverCanCompile) {
  const std::vector<int> archs = {75, 80, 86, 89, 90};
  const CompileTarget cubin = compile_target(archs, "sm_90", false);
  EXPECT_EQ(cubin.name, "sm_90");
  EXPECT_FALSE(cubin.ptx);
  const CompileTarget newer = compile_target(archs, "sm_100", false);
  EXPECT_EQ(newer.name, "compute_90");
  EXPECT_TRUE(newer.ptx);
  EXPECT_EQ(compile_target(archs, "sm_87", false).name, "compute_86");
  EXPECT_EQ(compile_target(archs, "sm_90", true).name, "compute_90");
  EXPECT_EQ(compile_target({}, "sm_120", false).name, "sm_120");  // NVRTC cannot say: trusted
  EXPECT_EQ(compile_target(archs, "sm_70", false).name, "compute_75");
}

TEST(BlueprintCompiler, PtxIsCompiledAndCachedUnderItsOwnKey) {
  const Nvrtc* nvrtc = Nvrtc::get();
  if (!nvrtc) GTEST_SKIP() << Nvrtc::why();
  ir::testing::CacheDir dir;
  const ir::Graph g = gated();
  BlueprintCompiler c(dir.options());
  const CompiledBlueprint ptx = c.get(g, {16, 8, 4}, "sm_90", true);
  ASSERT_TRUE(ptx.ok) << ptx.log;
  EXPECT_TRUE(ptx.ptx);
  EXPECT_EQ(ptx.target, "compute_90");
  EXPECT_NE(ptx.cubin().find(".target sm_90"), std::string::npos);
  EXPECT_NE(ptx.cubin().find(".entry kasmina_ir_seed_forward("), std::string::npos);
  EXPECT_NE(ptx.cubin().find(".entry kasmina_ir_seed_backward("), std::string::npos);
  const CompiledBlueprint cubin = c.get(g, {16, 8, 4}, "sm_90");
  ASSERT_TRUE(cubin.ok) << cubin.log;
  EXPECT_FALSE(cubin.ptx);
  EXPECT_NE(cubin.key, ptx.key);
  EXPECT_EQ(c.get(g, {16, 8, 4}, "sm_90", true).level, CompileLevel::memory);
  BlueprintCompiler again(dir.options());
  const CompiledBlueprint disk = again.get(g, {16, 8, 4}, "sm_90", true);
  EXPECT_EQ(disk.level, CompileLevel::disk);
  EXPECT_TRUE(disk.ptx);
  EXPECT_EQ(disk.cubin(), ptx.cubin());
}

TEST(BlueprintCompiler, ExtraOptionsComeFromTheEnvironment) {
  ::setenv("KASMINA_NVRTC_OPTIONS", "  --Ofast-compile=mid   -lineinfo ", 1);
  EXPECT_EQ(nvrtc_options_from_env(),
            (std::vector<std::string>{"--Ofast-compile=mid", "-lineinfo"}));
  ::unsetenv("KASMINA_NVRTC_OPTIONS");
  EXPECT_TRUE(nvrtc_options_from_env().empty());
}

// A compile past the time limit: get() answers timed_out at the limit; the compile goes on on its
// own thread and lands in memory and on disk, where the next get() (and another process) finds it.
TEST(BlueprintCompiler, ACompilePastTheLimitFinishesInTheBackground) {
  ir::testing::CacheDir dir;
  const ir::Graph g = gated();
  const auto slow = [](const std::string& source, const std::string&,
                       const std::vector<std::string>&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    return NvrtcOutput{true, "fake binary of " + std::to_string(source.size()), ""};
  };
  int64_t calls = 0;
  {
    BlueprintCompiler c(dir.options());
    c.set_compile_function(slow);
    c.set_time_limit(0.1);
    const auto t0 = std::chrono::steady_clock::now();
    const CompiledBlueprint a = c.get(g, {16, 8, 4}, "sm_90");
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_FALSE(a.ok);
    EXPECT_EQ(a.level, CompileLevel::timed_out);
    EXPECT_NE(a.log.find("longer than the limit (0.1 s)"), std::string::npos) << a.log;
    EXPECT_GE(s, 0.09);
    EXPECT_LT(s, 0.5);
    // Still running: the same answer, no second compile.
    EXPECT_EQ(c.get(g, {16, 8, 4}, "sm_90").level, CompileLevel::timed_out);
    EXPECT_EQ(c.background_running(), 1);
    EXPECT_GE(running_background_compiles(), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(900));
    EXPECT_EQ(c.background_running(), 0);
    const CompiledBlueprint b = c.get(g, {16, 8, 4}, "sm_90");
    ASSERT_TRUE(b.ok) << b.log;
    EXPECT_EQ(b.level, CompileLevel::memory);
    EXPECT_EQ(b.cubin(),
              "fake binary of " + std::to_string(blueprint_module_source(g, {16, 8, 4}).size()));
    calls = c.nvrtc_calls();
    // A compile still running when its compiler goes is waited for (the destructor joins).
    c.get(g, {32, 8, 4}, "sm_90");
  }
  EXPECT_EQ(calls, 1);
  BlueprintCompiler other(dir.options());
  other.set_compile_function(slow);
  EXPECT_EQ(other.get(g, {16, 8, 4}, "sm_90").level, CompileLevel::disk);
  EXPECT_EQ(other.get(g, {32, 8, 4}, "sm_90").level, CompileLevel::disk);
  EXPECT_EQ(other.nvrtc_calls(), 0);
}

}  // namespace
}  // namespace kasmina::ops
