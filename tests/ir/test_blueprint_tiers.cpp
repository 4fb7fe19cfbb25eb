// Tiered compiles (ops/blueprint_compiler.hpp, blueprint_tiers.cpp), with a test compiler and
// linker: the linked module served at once with the fused one compiled in the background; the
// fused one from memory and disk afterwards (a second process compiles nothing and gets no
// upgrade); a fused compile that fails leaves the linked module, remembered; where nothing can be
// linked, the fused module alone.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <future>
#include <string>
#include <vector>

#include "cache_test_util.hpp"
#include "fake_compile.hpp"
#include "ir_graphs.hpp"
#include "ops/blueprint_compiler.hpp"
#include "ops/blueprint_link.hpp"
#include "ops/nvjitlink.hpp"
#include "ops/nvrtc.hpp"

namespace kasmina::ops {
namespace {

NvrtcOutput test_link(const std::vector<const std::string*>& parts, const std::string&) {
  std::string s;
  for (const std::string* p : parts) s += (s.empty() ? "" : "+") + *p;
  return NvrtcOutput{true, s, ""};
}

// A tiered compiler whose fused compiles wait for `gate` (and fail when `fail_fused`).
struct GatedCompiler {
  GatedCompiler(const ir::CacheOptions& options, bool fail_fused = false) : c(options) {
    c.set_codegen_mode(CodegenMode::tiered);
    std::shared_future<void> g = gate;
    c.set_compile_function([g, fail_fused](const std::string& source, const std::string& name,
                                           const std::vector<std::string>& o) {
      if (has_option(o, "-rdc=true")) return fake_compile(source, name, o);
      g.wait();
      return fail_fused ? NvrtcOutput{false, "", "error: the fused module failed"}
                        : fake_compile(source, name, o);
    });
    c.set_link_function(test_link);
  }
  ~GatedCompiler() { open(); }  // the compiler waits for its thread
  void open() {
    if (!opened) release.set_value();
    opened = true;
  }
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  bool opened = false;
  BlueprintCompiler c;
};

// One link of the template and the row functions' two programs.
const std::string kLinked = "template+rows-DKS_PROGRAM=1+rows-DKS_PROGRAM=2";
const std::string kFused = "fused";

TEST(BlueprintTiers, TheLinkedModuleNowTheFusedOneWhenItIsReady) {
  ir::testing::CacheDir dir;
  const ir::Graph g = ir::testing::every_op_graphs().at(0);
  const morph::BlueprintShape sh{8, 4, 3};
  {
    GatedCompiler t(dir.options());
    const CompiledBlueprint a = t.c.get(g, sh, "sm_90");
    ASSERT_TRUE(a.ok) << a.log;
    EXPECT_TRUE(a.linked);
    EXPECT_EQ(a.level, CompileLevel::compiled);
    EXPECT_EQ(a.cubin(), kLinked);
    ASSERT_NE(a.upgrade, nullptr);
    EXPECT_FALSE(a.upgrade->ready());  // the fused compile waits for the gate
    // Asked again meanwhile: the linked module from memory, the same compile on the way.
    const CompiledBlueprint b = t.c.get(g, sh, "sm_90");
    EXPECT_EQ(b.level, CompileLevel::memory);
    EXPECT_TRUE(b.linked);
    ASSERT_NE(b.upgrade, nullptr);
    t.open();
    const CompiledBlueprint& f = a.upgrade->wait();
    ASSERT_TRUE(f.ok) << f.log;
    EXPECT_FALSE(f.linked);
    EXPECT_EQ(f.level, CompileLevel::compiled);
    EXPECT_EQ(f.cubin(), kFused);
    EXPECT_NE(f.key, a.key);
    EXPECT_TRUE(b.upgrade->ready());
    EXPECT_EQ(&b.upgrade->wait(), &f);  // one compile, shared
    // From now on the fused module, from memory, with nothing more to come.
    const CompiledBlueprint m = t.c.get(g, sh, "sm_90");
    EXPECT_EQ(m.level, CompileLevel::memory);
    EXPECT_FALSE(m.linked);
    EXPECT_EQ(m.key, f.key);
    EXPECT_EQ(m.upgrade, nullptr);
    EXPECT_EQ(t.c.nvrtc_calls(), 3);  // the template, the row functions, the fused module
  }
  // Another process: the fused module from disk, no NVRTC call, no upgrade.
  GatedCompiler next(dir.options());
  const CompiledBlueprint d = next.c.get(g, sh, "sm_90");
  ASSERT_TRUE(d.ok) << d.log;
  EXPECT_EQ(d.level, CompileLevel::disk);
  EXPECT_FALSE(d.linked);
  EXPECT_EQ(d.cubin(), kFused);
  EXPECT_EQ(d.upgrade, nullptr);
  EXPECT_EQ(next.c.nvrtc_calls(), 0);
}

TEST(BlueprintTiers, AFusedCompileThatFailsLeavesTheLinkedModule) {
  ir::testing::CacheDir dir;
  const ir::Graph g = ir::testing::every_op_graphs().at(1);
  const morph::BlueprintShape sh{8, 4, 3};
  {
    GatedCompiler t(dir.options(), true);
    t.open();
    const CompiledBlueprint a = t.c.get(g, sh, "sm_90");
    ASSERT_TRUE(a.ok && a.linked) << a.log;
    ASSERT_NE(a.upgrade, nullptr);
    const CompiledBlueprint& f = a.upgrade->wait();
    EXPECT_FALSE(f.ok);
    EXPECT_NE(f.log.find("error: the fused module failed"), std::string::npos) << f.log;
    // Remembered: the linked module, with no upgrade and no new compile.
    const int64_t calls = t.c.nvrtc_calls();
    const CompiledBlueprint b = t.c.get(g, sh, "sm_90");
    ASSERT_TRUE(b.ok && b.linked) << b.log;
    EXPECT_EQ(b.upgrade, nullptr);
    EXPECT_EQ(t.c.nvrtc_calls(), calls);
  }
  // The next process reads the failure (a negative entry) and the linked module from disk.
  GatedCompiler next(dir.options(), true);
  next.open();
  const CompiledBlueprint c = next.c.get(g, sh, "sm_90");
  ASSERT_TRUE(c.ok && c.linked) << c.log;
  EXPECT_EQ(c.level, CompileLevel::disk);
  EXPECT_EQ(c.upgrade, nullptr);
  EXPECT_EQ(next.c.nvrtc_calls(), 0);
}

TEST(BlueprintTiers, WhereNothingCanBeLinkedTheFusedModuleAlone) {
  ir::testing::CacheDir dir;
  const ir::Graph g = ir::testing::every_op_graphs().at(0);
  BlueprintCompiler c(dir.options());
  c.set_codegen_mode(CodegenMode::tiered);
  c.set_compile_function(fake_compile);  // no linker
  const CompiledBlueprint a = c.get(g, {8, 4, 3}, "sm_90");
  ASSERT_TRUE(a.ok) << a.log;
  EXPECT_FALSE(a.linked);
  EXPECT_EQ(a.cubin(), kFused);
  EXPECT_EQ(a.upgrade, nullptr);
  EXPECT_TRUE(a.fallback.empty()) << a.fallback;
  c.set_link_function(test_link);
  const CompiledBlueprint p = c.get(g, {8, 4, 3}, "sm_90", true);  // PTX
  ASSERT_TRUE(p.ok) << p.log;
  EXPECT_TRUE(p.ptx);
  EXPECT_FALSE(p.linked);
  EXPECT_EQ(p.upgrade, nullptr);
  EXPECT_EQ(c.get(g, {8, 4, 3}, "sm_90").level, CompileLevel::memory);
}

// A process that exits while a fused compile runs in the background (a short training run) waits
// for it, and exits cleanly: NVRTC's own static objects are destroyed at exit, so a compile still
// inside NVRTC then crashed the process. The child's compiler is never destroyed, as the process
// compiler is not before the libraries' objects are; the next process finds the fused module.
TEST(BlueprintTiers, AProcessThatExitsDuringTheFusedCompileWaitsForItAndExitsCleanly) {
  if (!Nvrtc::get()) GTEST_SKIP() << Nvrtc::why();
  if (!NvJitLink::get()) GTEST_SKIP() << NvJitLink::why();
  ir::testing::CacheDir dir;
  const ir::Graph g = ir::testing::every_op_graphs().at(3);
  const morph::BlueprintShape sh{16, 8, 2};
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto* c = new BlueprintCompiler(dir.options());  // alive at exit
    c->set_codegen_mode(CodegenMode::tiered);
    const CompiledBlueprint b = c->get(g, sh, "sm_90");
    std::exit(b.ok && b.linked && b.upgrade && !b.upgrade->ready() ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child ended on signal " << WTERMSIG(status);
  ASSERT_EQ(WEXITSTATUS(status), 0) << "the child got no linked module with a fused one pending";
  BlueprintCompiler next(dir.options());
  next.set_codegen_mode(CodegenMode::tiered);
  const CompiledBlueprint f = next.get(g, sh, "sm_90");
  EXPECT_TRUE(f.ok && !f.linked && !f.upgrade) << f.log;
  EXPECT_EQ(f.level, CompileLevel::disk);
  EXPECT_EQ(next.nvrtc_calls(), 0);
}

}  // namespace
}  // namespace kasmina::ops
