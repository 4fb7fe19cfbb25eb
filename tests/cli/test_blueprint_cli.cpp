// The IR blueprints through the binary: `kasmina blueprint check` (shapes, parameter count and
// hash; exit 2 with one file:line: key line on errors), training a config that grows an IR
// blueprint on the CPU to the end (and resuming it), `kasmina blueprint cache stats|verify|clear`.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "run_process.hpp"

namespace kasmina {
namespace {

namespace fs = std::filesystem;
using testing::ProcessResult;
using testing::TempDir;

std::string source(const std::string& rel) {
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  return std::string(root ? root : ".") + "/" + rel;
}

ProcessResult kasmina(const std::vector<std::string>& args, const fs::path& cwd,
                      const std::map<std::string, std::string>& env = {}) {
  const char* bin = std::getenv("KASMINA_BIN");
  return testing::run_process(bin ? bin : "kasmina", args, cwd, env);
}

TEST(BlueprintCli, CheckPrintsShapesParametersAndHash) {
  TempDir dir;
  const ProcessResult r =
      kasmina({"blueprint", "check", source("configs/blueprints/gated_mlp.yaml"), "--hidden", "32"},
              dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* piece : {"blueprint gated_mlp\n", "parameters  1568 at C=16, h=32, r=4\n",
                            "    W2 [C, h] zeros (512)\n", "    m = mul(s, a)  [h] (32)\n",
                            "  output      y [C]\n", "1 blueprint(s) valid\n"})
    EXPECT_NE(r.out.find(piece), std::string::npos) << piece << "\n" << r.out;
  // The hash of the same blueprint inside a config (another file, other names) is the same.
  const size_t at = r.out.find("hash        ");
  ASSERT_NE(at, std::string::npos);
  const std::string hash = r.out.substr(at + 12, 64);
  const ProcessResult c = kasmina(
      {"blueprint", "check", source("configs/spirals_ir.yaml"), "--hidden", "32"}, dir.path());
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find(hash), std::string::npos) << c.out;
  const ProcessResult b =
      kasmina({"blueprint", "check", source("configs/blueprints/builtins_ir.yaml")}, dir.path());
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.out.find("3 blueprint(s) valid"), std::string::npos);
}

TEST(BlueprintCli, CheckRefusesInvalidBlueprintsWithOneLine) {
  TempDir dir;
  const fs::path bad = dir.path() / "bad.yaml";
  std::ofstream(bad) << "blueprints:\n  loop:\n    inputs: {x: [C]}\n    nodes:\n"
                        "      - {op: tanh, in: b, out: a}\n      - {op: relu, in: a, out: b}\n"
                        "    output: b\n";
  const ProcessResult r = kasmina({"blueprint", "check", bad.string()}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "kasmina: error: " + bad.string() +
                       ":5: blueprints.loop.nodes[0].in: the nodes form a cycle: a <- b <- a\n");
  EXPECT_EQ(r.out, "");
}

TEST(BlueprintCli, TrainsAConfigGrowingAnIrBlueprintOnTheCpu) {
  TempDir dir;
  const std::string run = (dir.path() / "run").string();
  const ProcessResult r =
      kasmina({"train", source("configs/spirals_ir.yaml"), "--set", "train.epochs=3", "--out", run},
              dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("DORMANT -> GERMINATED  command 0  (gated_mlp)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("TRAINING -> GRAFTING  loss_gate 0  (gated_mlp)"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("GRAFTING -> STABILIZATION  alpha_complete 1  (gated_mlp)"),
            std::string::npos)
      << r.out;
  // Parameters added count the IR blueprint through the registry: gated_mlp on a chunk of 8 with
  // hidden 8 has 3 * 8 * 8 + 8 = 200 parameters, residual_mlp 2 * 8 * 8 + 8 + 8 = 144.
  EXPECT_NE(r.out.find("; 344 parameters added;"), std::string::npos) << r.out;
  // Resuming reads the blueprints back from the run's resolved config.
  const ProcessResult again =
      kasmina({"train", "--resume", run, "--set", "train.epochs=4"}, dir.path());
  ASSERT_EQ(again.exit_code, 0) << again.err << again.out;
  EXPECT_NE(again.out.find("epoch 4/4"), std::string::npos) << again.out;
}

TEST(BlueprintCli, CompileWarmsTheCacheOrSaysNvrtcIsMissing) {
  TempDir dir;
  const std::string cache = (dir.path() / "cache").string();
  const std::string file = source("configs/blueprints/builtins_ir.yaml");
  // NVRTC missing (a path that does not exist): one line, exit 2, nothing cached.
  const ProcessResult none = kasmina({"blueprint", "compile", file, "--dir", cache}, dir.path(),
                                     {{"KASMINA_NVRTC", "/nonexistent/libnvrtc.so"}});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(none.err,
            "kasmina: error: NVRTC could not be loaded (tried /nonexistent/libnvrtc.so)\n");
  const ProcessResult first = kasmina({"blueprint", "compile", file, "--dir", cache}, dir.path());
  if (first.exit_code == 2 && first.err.find("NVRTC could not be loaded") != std::string::npos)
    GTEST_SKIP() << first.err;
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("residual_mlp_ir "), std::string::npos);
  EXPECT_NE(first.out.find(" sm_90 compiled "), std::string::npos) << first.out;
  const ProcessResult second = kasmina({"blueprint", "compile", file, "--dir", cache}, dir.path());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out.find(" compiled "), std::string::npos) << second.out;
  EXPECT_NE(second.out.find(" sm_90 disk "), std::string::npos) << second.out;
}

TEST(BlueprintCli, CacheStatsVerifyAndClear) {
  TempDir dir;
  const std::string cache = (dir.path() / "cache").string();
  const std::string entry = cache + "/entries/ab/" + std::string(64, 'a');
  fs::create_directories(cache + "/entries/ab");
  std::ofstream(entry) << "not an entry";
  ProcessResult r = kasmina({"blueprint", "cache", "--dir", cache, "stats"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("entries      1 (0 failed compiles)"), std::string::npos) << r.out;
  r = kasmina({"blueprint", "cache", "--dir", cache, "verify"}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("0 of 1 entries valid"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(entry));
  r = kasmina({"blueprint", "cache", "--dir", cache, "stats"}, dir.path());
  EXPECT_NE(r.out.find("quarantined  1"), std::string::npos) << r.out;
  r = kasmina({"blueprint", "cache", "--dir", cache, "clear"}, dir.path());
  EXPECT_EQ(r.exit_code, 0);
  r = kasmina({"blueprint", "cache", "--dir", cache, "verify"}, dir.path());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("0 of 0 entries valid"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace kasmina
