// scripts/plot_telemetry.py on telemetry written by TelemetryWriter: the PNGs it promises, a run
// without morphogenetic layers, and a missing file. Needs the Debian python3-h5py and
// python3-matplotlib (skips with a message when they are missing).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "io/telemetry_writer.hpp"
#include "io_test_util.hpp"

namespace kasmina::io {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

constexpr const char* kPython = "/usr/bin/python3";

bool have_plot_dependencies() {
  const std::string cmd = std::string(kPython) + " -c 'import h5py, matplotlib' 2>/dev/null";
  return std::system(cmd.c_str()) == 0;
}

std::string script_path() {
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  return std::string(root ? root : ".") + "/scripts/plot_telemetry.py";
}

// Runs the script; returns the exit code and puts stdout in `out`.
int run_script(const std::string& run_dir, std::string& out) {
  const std::string cmd = std::string(kPython) + " " + script_path() + " " + run_dir + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  out.clear();
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool is_png(const std::string& path) {
  const auto bytes = test::read_bytes(path);
  const unsigned char magic[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return bytes.size() > 1000 && std::equal(std::begin(magic), std::end(magic), bytes.begin());
}

void write_curves(TelemetryWriter& w) {
  for (int64_t s = 0; s < 400; ++s) w.append_step({s, s / 100, 2.0 / (1.0 + s * 0.01), 1e-3, 1e4});
  for (int64_t e = 0; e < 4; ++e)
    w.append_epoch(
        {e, 1.0 / (e + 1), 0.6 + 0.05 * e, kAbsent, kAbsent, 1.1 / (e + 1), 0.6 + 0.04 * e, 2.0});
}

TEST(PlotScript, WritesCurvesTimelineAndHeatmap) {
  if (!have_plot_dependencies()) GTEST_SKIP() << "python3-h5py / python3-matplotlib not installed";
  TempDir dir;
  {
    TelemetryWriter w(dir.file("telemetry.h5"), {"", "plots", "cpu", ""});
    w.add_seed_layer("kasmina1", 16, {"mean", "dead_fraction"});
    write_curves(w);
    std::vector<float> stats(32);
    for (int t = 0; t < 20; ++t) {
      for (size_t i = 0; i < stats.size(); ++i) stats[i] = static_cast<float>(t * 0.1 + i);
      w.append_seed_stats("kasmina1", t * 20, stats.data());
    }
    w.append_event({50, "kasmina1", 3, 0, 1, "residual_mlp", "germinate", 0.0});
    w.append_event({150, "kasmina1", 3, 1, 2, "residual_mlp", "train", 0.0});
    w.append_event({300, "kasmina1", 3, 2, 10, "residual_mlp", "loss spike", 9.0});
  }
  std::string out;
  ASSERT_EQ(run_script(dir.path(), out), 0) << out;
  for (const char* png :
       {"loss.png", "accuracy.png", "seed_timeline.png", "seed_health_kasmina1.png"})
    EXPECT_TRUE(is_png(dir.file(std::string("plots/") + png))) << png << "\n" << out;
}

TEST(PlotScript, RunWithoutMorphogeneticLayersGetsTheCurvesOnly) {
  if (!have_plot_dependencies()) GTEST_SKIP() << "python3-h5py / python3-matplotlib not installed";
  TempDir dir;
  {
    TelemetryWriter w(dir.file("telemetry.h5"), {"", "plain", "cpu", ""});
    write_curves(w);
  }
  std::string out;
  ASSERT_EQ(run_script(dir.path(), out), 0) << out;
  EXPECT_NE(out.find("no morphogenetic layers"), std::string::npos) << out;
  EXPECT_TRUE(is_png(dir.file("plots/loss.png")));
  EXPECT_TRUE(is_png(dir.file("plots/accuracy.png")));
  EXPECT_FALSE(fs::exists(dir.file("plots/seed_timeline.png")));
}

TEST(PlotScript, SeveralRunsGetTheirCurvesOnOnePlot) {
  if (!have_plot_dependencies()) GTEST_SKIP() << "python3-h5py / python3-matplotlib not installed";
  TempDir dir;
  for (const char* run : {"a", "b"}) {
    fs::create_directories(dir.file(run));
    TelemetryWriter w(dir.file(std::string(run) + "/telemetry.h5"), {"", run, "cpu", ""});
    write_curves(w);
  }
  std::ofstream(dir.file("a/summary.json")) << R"({"steps": 400, "epochs": 4})";
  std::string out;
  ASSERT_EQ(run_script(dir.file("a") + " " + dir.file("b") + " --out " + dir.file("cmp"), out), 0)
      << out;
  EXPECT_TRUE(is_png(dir.file("cmp/compare_loss.png"))) << out;
  EXPECT_TRUE(is_png(dir.file("cmp/compare_accuracy.png"))) << out;
  EXPECT_FALSE(fs::exists(dir.file("a/plots")));
  // A run without telemetry is named; nothing is plotted.
  EXPECT_EQ(run_script(dir.file("a") + " " + dir.path() + " --out " + dir.file("cmp2"), out), 2);
  EXPECT_NE(out.find(dir.path() + "/telemetry.h5: no such file"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(dir.file("cmp2")));
}

TEST(PlotScript, MissingTelemetryIsAnError) {
  if (!have_plot_dependencies()) GTEST_SKIP() << "python3-h5py / python3-matplotlib not installed";
  TempDir dir;
  std::string out;
  EXPECT_EQ(run_script(dir.path(), out), 2);
  EXPECT_NE(out.find("telemetry.h5: no such file"), std::string::npos) << out;
}

}  // namespace
}  // namespace kasmina::io
