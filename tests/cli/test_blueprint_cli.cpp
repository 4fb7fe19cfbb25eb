// The IR blueprints through the binary: `kasmina blueprint check` (shapes, parameter count and
// hash; exit 2 with one file:line: key line on errors), training a config that grows an IR
// blueprint on the CPU to the end (and resuming it), `kasmina blueprint compile FILE|CONFIG`,
// `kasmina blueprint tune CONFIG` (exit 2 without a GPU), `kasmina blueprint cache
// stats|verify|clear`; the kernel events in the run's telemetry; on a GPU (skipped without one):
// training it on CUDA as on the CPU, without NVRTC on the IR-interpreting kernels, and with
// KASMINA_IR_BACKEND=compiled and no NVRTC its germinations refused while training goes on.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

nlohmann::json summary(const fs::path& run) {
  std::ifstream f(run / "summary.json");
  return nlohmann::json::parse(f);
}

// The kernel events of a telemetry file (a run's, or one `blueprint compile|tune --telemetry`
// wrote), as `kasmina inspect telemetry --json` lists them.
std::vector<std::string> kernel_events_in(const fs::path& file) {
  const ProcessResult r =
      kasmina({"inspect", "telemetry", file.string(), "--json"}, file.parent_path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> out;
  if (r.exit_code != 0) return out;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  for (const auto& k : j["kernels"]) out.push_back(k.get<std::string>());
  return out;
}

std::vector<std::string> kernel_events(const fs::path& run) {
  return kernel_events_in(run / "telemetry.h5");
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
  // The kernel event of the IR blueprint: on the CPU the CPU interpreter serves it (no compile);
  // its key is the graph's canonical hash.
  const std::vector<std::string> kernels = kernel_events(run);
  ASSERT_EQ(kernels.size(), 1u);
  const std::string& k = kernels[0];
  EXPECT_EQ(k.rfind("layer 0 blueprint gated_mlp C 8 key ", 0), 0u) << k;
  const std::string key = k.substr(std::string("layer 0 blueprint gated_mlp C 8 key ").size(), 64);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos) << k;
  EXPECT_NE(k.find(" level cpu-interpreter ms "), std::string::npos) << k;
  const ProcessResult check = kasmina(
      {"blueprint", "check", source("configs/spirals_ir.yaml"), "--hidden", "8"}, dir.path());
  EXPECT_NE(check.out.find(key), std::string::npos) << "the key is the blueprint's hash";
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
  const ProcessResult first = kasmina({"blueprint", "compile", file, "--dir", cache}, dir.path(),
                                      {{"KASMINA_IR_CODEGEN", "tiered"}});
  if (first.exit_code == 2 && first.err.find("NVRTC could not be loaded") != std::string::npos)
    GTEST_SKIP() << first.err;
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("residual_mlp_ir "), std::string::npos);
  EXPECT_NE(first.out.find(" sm_90 compiled "), std::string::npos) << first.out;
  // Tiered, where nvJitLink loads: the linked module, then the fused one made in the background,
  // waited for.
  const bool linkable = first.out.find(" linked ") != std::string::npos;
  if (linkable) {
    EXPECT_NE(first.out.find(" sm_90 compiled linked "), std::string::npos) << first.out;
    EXPECT_NE(first.out.find(" bytes (in the background; the time since the start)\n"),
              std::string::npos)
        << first.out;
  }
  const ProcessResult second = kasmina({"blueprint", "compile", file, "--dir", cache, "--repeat",
                                        "20", "--source", dir.path().string()},
                                       dir.path());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out.find(" compiled "), std::string::npos) << second.out;
  // --source: the module as compiled (fused: what tiered serves from disk), the seed kernels only.
  const auto read = [&](const fs::path& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string cu = read(dir.path() / "residual_mlp_ir.cu");
  EXPECT_NE(cu.find("void __launch_bounds__(256) kasmina_ir_seed_forward("), std::string::npos);
  EXPECT_NE(cu.find("kasmina_ir_seed_backward("), std::string::npos);
  EXPECT_EQ(cu.find("kasmina_ir_delta"), std::string::npos);
  EXPECT_NE(first.out.find(" sm_90 compiled fused "), std::string::npos) << first.out;
  // Linked: the module the tiered compile made first (another key, from disk), the row functions'
  // source and the seed kernels' apart.
  const fs::path linked_src = dir.path() / "linked";
  fs::create_directories(linked_src);
  const ProcessResult linked =
      kasmina({"blueprint", "compile", file, "--dir", cache, "--source", linked_src.string()},
              dir.path(), {{"KASMINA_IR_CODEGEN", "linked"}});
  ASSERT_EQ(linked.exit_code, 0) << linked.err;
  if (linked.out.find("not linked: nvJitLink could not be loaded") == std::string::npos) {
    EXPECT_NE(linked.out.find(linkable ? " sm_90 disk linked " : " sm_90 compiled linked "),
              std::string::npos)
        << linked.out;
  }
  const std::string rows = read(linked_src / "residual_mlp_ir.cu"),
                    templ = read(linked_src / "seed_kernels_C16.cu");
  EXPECT_NE(rows.find("extern \"C\" __device__ __noinline__ void ks_row_delta("),
            std::string::npos);
  EXPECT_EQ(rows.find("__global__"), std::string::npos);
  EXPECT_NE(templ.find("void __launch_bounds__(256) kasmina_ir_seed_forward("), std::string::npos);
  // Linked asked for without nvJitLink: the fused module, and why (once per blueprint).
  const ProcessResult no_link = kasmina(
      {"blueprint", "compile", file, "--dir", (dir.path() / "cache2").string()}, dir.path(),
      {{"KASMINA_IR_CODEGEN", "linked"}, {"KASMINA_NVJITLINK", "/nonexistent/libnvJitLink.so"}});
  ASSERT_EQ(no_link.exit_code, 0) << no_link.err;
  EXPECT_NE(no_link.out.find(" sm_90 compiled fused "), std::string::npos) << no_link.out;
  EXPECT_NE(no_link.out.find("\n  not linked: nvJitLink could not be loaded (tried "
                             "/nonexistent/libnvJitLink.so)\n"),
            std::string::npos)
      << no_link.out;
  EXPECT_NE(second.out.find(" sm_90 disk "), std::string::npos) << second.out;
  // --repeat: each blueprint's timed lookups, the disk ones by new compilers, none compiling.
  const auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = second.out.find(what); at != std::string::npos;
         at = second.out.find(what, at + 1))
      ++n;
    return n;
  };
  const size_t blueprints = count(" sm_90 disk ");
  EXPECT_GE(blueprints, 1u);
  EXPECT_EQ(count("  memory lookups 20: median "), blueprints) << second.out;
  EXPECT_EQ(count(" us, 0 NVRTC calls\n"), blueprints) << second.out;
  // The disk hit in its parts (the fused module from disk: its key made again and found equal).
  EXPECT_EQ(count("  disk hit in parts 20:\n    source generated  median "), blueprints)
      << second.out;
  EXPECT_EQ(count("\n    key hashed        median "), blueprints) << second.out;
  EXPECT_EQ(count("\n    read and verified median "), blueprints) << second.out;
}

bool have_gpu(const fs::path& cwd) {
  const ProcessResult r = kasmina({"device"}, cwd);
  return r.exit_code == 0 && r.out.find("no CUDA device") == std::string::npos;
}

TEST(BlueprintCli, CompileAConfigWarmsEveryLayerShape) {
  TempDir dir;
  const std::string cache = (dir.path() / "cache").string();
  const std::vector<std::string> args = {
      "blueprint", "compile", source("configs/spirals_ir.yaml"), "--dir", cache, "--arch", "sm_90"};
  const fs::path events1 = dir.path() / "compile1.h5", events2 = dir.path() / "compile2.h5";
  std::vector<std::string> with_events = args;
  with_events.insert(with_events.end(), {"--telemetry", events1.string()});
  const ProcessResult first = kasmina(with_events, dir.path(), {{"KASMINA_IR_CODEGEN", "tiered"}});
  if (first.exit_code == 2 && first.err.find("NVRTC could not be loaded") != std::string::npos)
    GTEST_SKIP() << first.err;
  ASSERT_EQ(first.exit_code, 0) << first.err;
  // One IR blueprint at the one kasmina layer's shape: 32 wide, 4 seeds, hidden 8.
  EXPECT_EQ(first.out.rfind("gated_mlp C=8 h=8 r=4 f32 ", 0), 0u) << first.out;
  EXPECT_NE(first.out.find(" sm_90 compiled "), std::string::npos) << first.out;
  // Tiered where nvJitLink loads: the linked module's line, then the fused one's.
  const bool linkable = first.out.find(" linked ") != std::string::npos;
  const size_t lines = linkable ? 2 : 1;
  EXPECT_EQ(std::count(first.out.begin(), first.out.end(), '\n'), lines) << first.out;
  with_events.back() = events2.string();
  const ProcessResult second = kasmina(with_events, dir.path(), {{"KASMINA_IR_CODEGEN", "tiered"}});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find(" sm_90 disk fused "), std::string::npos) << second.out;
  EXPECT_EQ(std::count(second.out.begin(), second.out.end(), '\n'), 1) << second.out;
  // The kernel events (as a training run records its layers'): the fused module's key, compiled
  // (after the linked one's) then from disk.
  const std::string key = first.out.substr(first.out.rfind(" f32 ") + 5, 64);
  const std::vector<std::string> e1 = kernel_events_in(events1), e2 = kernel_events_in(events2);
  ASSERT_EQ(e1.size(), lines);
  ASSERT_EQ(e2.size(), 1u);
  EXPECT_EQ(
      e1.back().rfind("layer 0 blueprint gated_mlp C 8 key " + key + " level compiled ms ", 0), 0u)
      << e1.back();
  EXPECT_EQ(e2[0].rfind("layer 0 blueprint gated_mlp C 8 key " + key + " level disk ms ", 0), 0u)
      << e2[0];
}

TEST(BlueprintCli, TuneTimesOnTheGpuAndStoresTheWinners) {
  TempDir dir;
  const fs::path db = dir.path() / "perf.sqlite";
  const fs::path events = dir.path() / "tune.h5";
  const ProcessResult r = kasmina({"blueprint", "tune", source("configs/spirals_ir.yaml"), "--db",
                                   db.string(), "--repeats", "3", "--telemetry", events.string()},
                                  dir.path(), {{"KASMINA_CACHE_DIR", (dir.path() / "c").string()}});
  if (!have_gpu(dir.path())) {
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.err.rfind("kasmina: error: blueprint tune times kernels on a GPU: ", 0), 0u)
        << r.err;
    EXPECT_FALSE(fs::exists(db));
    return;
  }
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  for (const char* piece : {"gated_mlp C=8 h=8 r=4 f32 layer 0 B=64 seeds 4 (4 active) ",
                            "\n  forward: b32 ", "\n  backward: b32 ", "; best b"})
    EXPECT_NE(r.out.find(piece), std::string::npos) << piece << "\n" << r.out;
  EXPECT_TRUE(fs::exists(db));
  // Its kernel event: the tuning time and the winners.
  const std::vector<std::string> e = kernel_events_in(events);
  ASSERT_EQ(e.size(), 1u);
  for (const char* piece :
       {"layer 0 blueprint gated_mlp C 8 key ", " tune_ms ", " launch forward b", ", backward b"})
    EXPECT_NE(e[0].find(piece), std::string::npos) << piece << "\n" << e[0];
}

TEST(BlueprintCli, TrainsAnIrBlueprintOnCudaAsOnTheCpu) {
  TempDir dir;
  if (!have_gpu(dir.path())) GTEST_SKIP() << "no CUDA device";
  const std::map<std::string, std::string> env = {
      {"KASMINA_CACHE_DIR", (dir.path() / "cache").string()}};
  const fs::path cpu = dir.path() / "cpu", gpu = dir.path() / "gpu";
  const std::string cfg = source("configs/spirals_ir.yaml");
  const ProcessResult a =
      kasmina({"train", cfg, "--set", "train.epochs=3", "--out", cpu.string()}, dir.path(), env);
  ASSERT_EQ(a.exit_code, 0) << a.err << a.out;
  std::map<std::string, std::string> tiered = env;
  tiered["KASMINA_IR_CODEGEN"] = "tiered";
  const ProcessResult b = kasmina(
      {"train", cfg, "--set", "train.epochs=3", "--set", "device=cuda", "--out", gpu.string()},
      dir.path(), tiered);
  ASSERT_EQ(b.exit_code, 0) << b.err << b.out;
  EXPECT_EQ(b.err.find("warning"), std::string::npos) << b.err;
  // The layer's note: compiled now (a fresh cache), the launch configuration, the time.
  for (const char* piece :
       {"kasmina layer 0: blueprint 'gated_mlp': kasmina_ir_seed_forward b",
        ", compiled, launch default/default, ", "DORMANT -> GERMINATED  command 0  (gated_mlp)",
        "TRAINING -> GRAFTING  loss_gate 0  (gated_mlp)"})
    EXPECT_NE(b.out.find(piece), std::string::npos) << piece << "\n" << b.out;
  const nlohmann::json sa = summary(cpu), sb = summary(gpu);
  EXPECT_EQ(sb["growth"][0]["parameters_added"], sa["growth"][0]["parameters_added"]);
  EXPECT_NEAR(sb["test_accuracy"].get<double>(), sa["test_accuracy"].get<double>(), 0.05);
  EXPECT_NEAR(sb["test_loss"].get<double>(), sa["test_loss"].get<double>(),
              0.1 * sa["test_loss"].get<double>() + 0.02);
  // Tiered: the linked kernels first, the fused ones swapped in when ready (if that was before
  // the run's end). A second run over the warm cache runs the fused ones from
  // the start: the same bits.
  if (b.out.find(", linked") == std::string::npos) return;  // nvJitLink missing: fused alone
  const fs::path again = dir.path() / "gpu2";
  const ProcessResult c = kasmina(
      {"train", cfg, "--set", "train.epochs=3", "--set", "device=cuda", "--out", again.string()},
      dir.path(), tiered);
  ASSERT_EQ(c.exit_code, 0) << c.err << c.out;
  EXPECT_NE(c.out.find(", disk, launch default/default, "), std::string::npos) << c.out;
  EXPECT_EQ(c.out.find("replaces its linked kernels"), std::string::npos) << c.out;
  // Nothing compiled in the background, so nothing to wait for at the end (a run that ends
  // during the fused compile says it waits for it, and then exits cleanly).
  EXPECT_EQ(c.err.find("waiting for"), std::string::npos) << c.err;
  std::printf("  first run: %s\n",
              b.out.find("replaces its linked kernels (before step ") != std::string::npos
                  ? "the fused kernels were swapped in during the run"
                  : "the run ended before the fused kernels were ready");
  const nlohmann::json sc = summary(again);
  EXPECT_EQ(sc["test_loss"].get<double>(), sb["test_loss"].get<double>());
  EXPECT_EQ(sc["train_loss"].get<double>(), sb["train_loss"].get<double>());
}

TEST(BlueprintCli, WithoutNvrtcCudaRunsTheInterpretedKernelsAndRecordsIt) {
  TempDir dir;
  if (!have_gpu(dir.path())) GTEST_SKIP() << "no CUDA device";
  const fs::path run = dir.path() / "run";
  const ProcessResult r = kasmina({"train", source("configs/spirals_ir.yaml"), "--set",
                                   "train.epochs=2", "--set", "device=cuda", "--out", run.string()},
                                  dir.path(), {{"KASMINA_NVRTC", "/nonexistent/libnvrtc.so"}});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const std::string warning =
      "kasmina: warning: kasmina layer 0: blueprint 'gated_mlp': its generated kernels cannot be "
      "had (NVRTC could not be loaded (tried /nonexistent/libnvrtc.so)); its seeds run the "
      "IR-interpreting kernels (slow but correct)\n";
  const size_t at = r.err.find(warning);
  EXPECT_NE(at, std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(warning, at + 1), std::string::npos) << "said once";
  EXPECT_NE(r.out.find("GERMINATED  command 0  (gated_mlp)"), std::string::npos) << r.out;
  const std::vector<std::string> kernels = kernel_events(run);
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_NE(kernels[0].find(" level interpreter ms "), std::string::npos) << kernels[0];
}

// spirals_ir.yaml with residual_mlp restated in the IR in the place of gated_mlp.
fs::path restatement_config(const fs::path& dir) {
  std::ifstream in(source("configs/spirals_ir.yaml"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t from = text.find("  gated_mlp:"), to = text.find("\ndata:");
  text.replace(from, to - from,
               "  mlp:\n    inputs: {x: [C]}\n"
               "    params: {W1: [h, C], b1: [h], W2: {shape: [C, h], init: zeros}, b2: [C]}\n"
               "    nodes:\n      - {op: linear, in: x, weight: W1, bias: b1, out: pre}\n"
               "      - {op: gelu, in: pre, out: a}\n"
               "      - {op: linear, in: a, weight: W2, bias: b2, out: y}\n    output: y\n");
  for (size_t at = text.find("gated_mlp"); at != std::string::npos; at = text.find("gated_mlp"))
    text.replace(at, 9, "mlp");
  const fs::path path = dir / "spirals_restated.yaml";
  std::ofstream(path) << text;
  return path;
}

// NVRTC missing, a blueprint that restates residual_mlp: its seeds run the built-in's fused
// kernels (not the interpreter), and the run is the one the generated kernels give.
TEST(BlueprintCli, WithoutNvrtcARestatementRunsTheBuiltinKernels) {
  TempDir dir;
  if (!have_gpu(dir.path())) GTEST_SKIP() << "no CUDA device";
  const fs::path cfg = restatement_config(dir.path());
  const fs::path run = dir.path() / "run", gen = dir.path() / "gen";
  const std::vector<std::string> args = {"train", cfg.string(),  "--set", "train.epochs=2",
                                         "--set", "device=cuda", "--out"};
  std::vector<std::string> a = args, b = args;
  a.push_back(run.string());
  b.push_back(gen.string());
  const ProcessResult r = kasmina(a, dir.path(), {{"KASMINA_NVRTC", "/nonexistent/libnvrtc.so"}});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.err.find("blueprint 'mlp': its generated kernels cannot be had (NVRTC could not be "
                       "loaded (tried /nonexistent/libnvrtc.so)); its seeds run the built-in "
                       "residual_mlp kernels, which it restates\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find("GERMINATED  command 0  (mlp)"), std::string::npos) << r.out;
  const std::vector<std::string> kernels = kernel_events(run);
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_NE(kernels[0].find(" level builtin ms "), std::string::npos) << kernels[0];
  const ProcessResult g =
      kasmina(b, dir.path(), {{"KASMINA_CACHE_DIR", (dir.path() / "cache").string()}});
  ASSERT_EQ(g.exit_code, 0) << g.err << g.out;
  const nlohmann::json sr = summary(run), sg = summary(gen);
  EXPECT_EQ(sr["growth"][0]["parameters_added"], sg["growth"][0]["parameters_added"]);
  EXPECT_NEAR(sr["test_loss"].get<double>(), sg["test_loss"].get<double>(),
              1e-3 * sg["test_loss"].get<double>());
}

TEST(BlueprintCli, CompiledOnlyWithoutNvrtcRefusesTheIrBlueprintAndTrainsOn) {
  TempDir dir;
  if (!have_gpu(dir.path())) GTEST_SKIP() << "no CUDA device";
  const fs::path run = dir.path() / "run";
  const ProcessResult r =
      kasmina({"train", source("configs/spirals_ir.yaml"), "--set", "train.epochs=2", "--set",
               "device=cuda", "--out", run.string()},
              dir.path(),
              {{"KASMINA_NVRTC", "/nonexistent/libnvrtc.so"}, {"KASMINA_IR_BACKEND", "compiled"}});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.err.find("kasmina: warning: kasmina layer 0: blueprint 'gated_mlp' cannot run on "
                       "cuda:0 (NVRTC could not be loaded (tried /nonexistent/libnvrtc.so) "
                       "(KASMINA_IR_BACKEND=compiled: no fallback)); its "
                       "germinations are refused\n"),
            std::string::npos)
      << r.err;
  // The gated_mlp germination (command 0 of its boundary) is refused, residual_mlp's goes on.
  const size_t refused = r.out.find("REFUSED refused_blueprint");
  ASSERT_NE(refused, std::string::npos) << r.out;
  const std::string line = r.out.substr(refused, r.out.find('\n', refused) - refused);
  EXPECT_NE(line.find("(gated_mlp)"), std::string::npos) << line;
  // residual_mlp's germination goes on (the refused one takes no command number).
  bool residual_germinated = false;
  for (size_t at = r.out.find("DORMANT -> GERMINATED  command "); at != std::string::npos;
       at = r.out.find("DORMANT -> GERMINATED  command ", at + 1)) {
    const std::string l = r.out.substr(at, r.out.find('\n', at) - at);
    residual_germinated = residual_germinated || l.find("(residual_mlp)") != std::string::npos;
  }
  EXPECT_TRUE(residual_germinated) << r.out;
  EXPECT_EQ(r.out.find("GERMINATED  command 0  (gated_mlp)"), std::string::npos) << r.out;
  EXPECT_GE(summary(run)["growth"][0]["refused"].get<int>(), 1);
  const std::vector<std::string> kernels = kernel_events(run);
  ASSERT_EQ(kernels.size(), 1u);
  EXPECT_NE(kernels[0].find(" level refused ms "), std::string::npos) << kernels[0];
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
  // What the binary carries: "none" without CUDA (or NVRTC at build time), else the widths.
  const std::string label = "seed-kernel templates built into this binary (linked modules): ";
  const size_t built = r.out.find(label);
  ASSERT_NE(built, std::string::npos) << r.out;
  const size_t from = built + label.size();
  const std::string what = r.out.substr(from, r.out.find('\n', from) - from);
  EXPECT_TRUE(what == "none" || what.rfind("C = 4, 8, 16, 32, 64 for sm_", 0) == 0) << what;
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
