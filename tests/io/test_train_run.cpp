// The real trainer through the `kasmina` binary: `kasmina train --resume` equals the straight
// run, SIGINT, a kill during a checkpoint write, a damaged checkpoint, a resume with a different
// model, and the telemetry file's layout read with the HDF5 API. (In-process resume:
// test_train_resume.cpp.)
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_process.hpp"
#include "io/checkpoint.hpp"
#include "io/checkpoint_files.hpp"
#include "io/checkpoint_layout.hpp"
#include "io/telemetry_reader.hpp"
#include "io_test_util.hpp"

namespace kasmina::io {
namespace {

namespace fs = std::filesystem;
using namespace cli_process;  // NOLINT: the binary and the source tree

TEST(TrainCli, ResumeFromRunDirectoryEqualsTheStraightRun) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string a = dir.file("a"), b = dir.file("b");
  const std::vector<std::string> common = {
      "train", seeds_config(),      "--set", "train.epochs=5", "--set", "checkpoint.every_steps=40",
      "--set", "checkpoint.keep=10"};
  auto with_out = [&](const std::string& out) {
    auto v = common;
    v.insert(v.end(), {"--out", out});
    return v;
  };
  ASSERT_EQ(run_cli(with_out(a), dir.file("a.log")), 0) << slurp(dir.file("a.log"));
  // The config's first kasmina layer may grow affine blueprints right before a linear layer: a
  // warning (the run goes on).
  EXPECT_NE(slurp(dir.file("a.log"))
                .find("kasmina: warning: " + seeds_config() +
                      ":21: model.layers[2].blueprints: the affine blueprints (low_rank, "
                      "diag_scale) cannot add function here"),
            std::string::npos)
      << slurp(dir.file("a.log"));
  ASSERT_EQ(run_cli(with_out(b), dir.file("b.log")), 0);
  // Throw away b's checkpoints after step 120 and continue from the newest left (step 120,
  // 27 steps into epoch 4).
  for (const CheckpointFile& f : list_checkpoints(b))
    if (f.step > 120) fs::remove(f.path);
  ASSERT_EQ(latest_checkpoint(b)->step, 120);
  ASSERT_EQ(run_cli({"train", "--resume", b}, dir.file("b2.log")), 0) << slurp(dir.file("b2.log"));
  EXPECT_NE(slurp(dir.file("b2.log")).find("resumed from"), std::string::npos);

  const CheckpointState end_a = read_checkpoint(checkpoint_path(a, 155));
  const CheckpointState end_b = read_checkpoint(checkpoint_path(b, 155));
  ASSERT_EQ(end_a.tensors.size(), end_b.tensors.size());
  for (size_t i = 0; i < end_a.tensors.size(); ++i) {
    ASSERT_EQ(end_a.tensors[i].name, end_b.tensors[i].name);
    const Tensor& x = end_a.tensors[i].tensor;
    const Tensor& y = end_b.tensors[i].tensor;
    ASSERT_EQ(x.nbytes(), y.nbytes());
    EXPECT_EQ(std::memcmp(x.raw(), y.raw(), x.nbytes()), 0) << end_a.tensors[i].name;
  }
  const auto sa = nlohmann::json::parse(slurp(a + "/summary.json"));
  const auto sb = nlohmann::json::parse(slurp(b + "/summary.json"));
  EXPECT_EQ(sa["test_loss"], sb["test_loss"]);
  EXPECT_EQ(sa["train_loss"], sb["train_loss"]);
  EXPECT_EQ(sa["growth"], sb["growth"]);
  EXPECT_EQ(sa["train_flops"], sb["train_flops"]);  // the seeds' count carried by checkpoints
  EXPECT_GT(sa["train_flops"].get<double>(), 0.0);
  EXPECT_EQ(sb["resumed_from_step"], 120);

  // The resumed telemetry continues the file: every epoch once, steps in order without repeats.
  const TelemetryData ta = read_telemetry(a + "/telemetry.h5");
  const TelemetryData tb = read_telemetry(b + "/telemetry.h5");
  ASSERT_EQ(tb.epochs.size(), 5u);
  ASSERT_EQ(ta.steps.size(), tb.steps.size());
  for (size_t i = 0; i < ta.steps.size(); ++i) {
    EXPECT_EQ(ta.steps[i].step, tb.steps[i].step);
    EXPECT_EQ(ta.steps[i].loss, tb.steps[i].loss);
  }
  for (size_t i = 0; i < ta.epochs.size(); ++i)
    EXPECT_EQ(ta.epochs[i].test_loss, tb.epochs[i].test_loss);
  ASSERT_EQ(ta.events.size(), tb.events.size());
  for (size_t i = 0; i < ta.events.size(); ++i) {
    EXPECT_EQ(ta.events[i].step, tb.events[i].step);
    EXPECT_EQ(ta.events[i].to, tb.events[i].to);
  }
  ASSERT_EQ(ta.seed_layers.size(), tb.seed_layers.size());
  EXPECT_EQ(ta.seed_layers[0].steps, tb.seed_layers[0].steps);
  EXPECT_EQ(ta.seed_layers[0].stats, tb.seed_layers[0].stats);
}

TEST(TrainCli, SigintWritesACheckpointAndExits130) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  const pid_t pid = spawn({"train", seeds_config(), "--set", "train.epochs=100000", "--out", run},
                          dir.file("log"));
  test::ChildGuard guard(pid);
  ASSERT_TRUE(wait_for([&] { return !list_checkpoints(run).empty(); })) << slurp(dir.file("log"));
  ::kill(pid, SIGINT);
  const int status = guard.wait();
  ASSERT_TRUE(WIFEXITED(status)) << slurp(dir.file("log"));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const auto latest = latest_checkpoint(run);
  ASSERT_TRUE(latest.has_value());
  const auto summary = nlohmann::json::parse(slurp(run + "/summary.json"));
  EXPECT_EQ(summary["interrupted"], true);
  EXPECT_EQ(summary["steps"], latest->step);
  // The interrupt's checkpoint was announced once in place (the run waited for its write), and
  // the time the training thread gave to checkpoints is within the run's.
  EXPECT_NE(slurp(dir.file("log")).find("checkpoint: " + latest->path), std::string::npos)
      << slurp(dir.file("log"));
  EXPECT_GT(summary["checkpoint_seconds"].get<double>(), 0.0);
  EXPECT_LT(summary["checkpoint_seconds"].get<double>(), summary["train_seconds"].get<double>());
  EXPECT_TRUE(read_telemetry(run + "/telemetry.h5").epochs.size() >= 1);

  // It resumes (with fewer epochs: an allowed change) and ends one epoch later.
  const int64_t epoch = read_checkpoint_header(latest->path).epoch;
  ASSERT_EQ(
      run_cli({"train", "--resume", run, "--set", "train.epochs=" + std::to_string(epoch + 1)},
              dir.file("resume.log")),
      0)
      << slurp(dir.file("resume.log"));
  EXPECT_NE(slurp(dir.file("resume.log")).find("changed train.epochs"), std::string::npos);
  EXPECT_EQ(latest_checkpoint(run)->step, (epoch + 1) * 31);
}

// A bf16 run (the CPU emulation: not an error without CUDA) resumes in fp32 from its fp32
// master weights, and the resume lists the change.
TEST(TrainCli, Bf16RunResumesInFp32AndSaysSo) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run"), log = dir.file("log");
  const auto failure = [&](const std::vector<std::string>& args) {
    return run_cli(args, log) == 0 ? std::string() : slurp(log);
  };
  ASSERT_EQ(failure({"train", seeds_config(), "--set", "train.epochs=1", "--set",
                     "train.precision=bf16", "--out", run}),
            "");
  ASSERT_EQ(failure({"train", "--resume", run, "--set", "train.epochs=2", "--set",
                     "train.precision=fp32"}),
            "");
  EXPECT_NE(slurp(log).find("resume: changed train.precision: bf16 -> fp32"), std::string::npos)
      << slurp(log);
  EXPECT_EQ(latest_checkpoint(run)->step, 2 * 31);
}

// The KASMINA_* variables a run ran with (they change what runs: docs/PRECISION.md) are printed
// after the resolved configuration and kept in summary.json's "environment"; others are not.
TEST(TrainCli, TheKasminaEnvironmentIsRecorded) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run"), log = dir.file("log");
  ASSERT_EQ(wait_exit(spawn({"train", seeds_config(), "--set", "train.epochs=1", "--out", run}, log,
                            {{"KASMINA_BF16_ATTENTION", "1"}, {"NOT_KASMINA_X", "2"}})),
            0)
      << slurp(log);
  EXPECT_NE(slurp(log).find("KASMINA_BF16_ATTENTION=1"), std::string::npos) << slurp(log);
  const auto summary = nlohmann::json::parse(slurp(run + "/summary.json"));
  ASSERT_TRUE(summary.contains("environment")) << summary.dump();
  EXPECT_EQ(summary["environment"]["KASMINA_BF16_ATTENTION"], "1");
  EXPECT_FALSE(summary["environment"].contains("NOT_KASMINA_X"));
  for (const auto& [name, value] : summary["environment"].items())
    EXPECT_EQ(name.rfind("KASMINA_", 0), 0u) << name;
}

TEST(TrainCli, SecondSigintExitsAtOnce) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  // Only the interrupt writes a checkpoint, and the fault hook holds that write for 30 s.
  const pid_t pid =
      spawn({"train", seeds_config(), "--set", "train.epochs=100000", "--set",
             "checkpoint.every_epochs=0", "--set", "checkpoint.at_end=false", "--out", run},
            dir.file("log"), {{checkpoint_layout::kFaultPauseEnv, "30"}});
  test::ChildGuard guard(pid);
  ASSERT_TRUE(
      wait_for([&] { return slurp(dir.file("log")).find("epoch 1/") != std::string::npos; }));
  ::kill(pid, SIGINT);
  auto temporary = [&] {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(run + "/checkpoints", ec))
      if (e.path().filename().string().find(".tmp") != std::string::npos) return true;
    return false;
  };
  ASSERT_TRUE(wait_for(temporary));
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(pid, SIGINT);
  const int status = guard.wait();
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  EXPECT_LT(waited, 10.0);  // not the 30 s the checkpoint write was held for
  EXPECT_TRUE(list_checkpoints(run).empty());
}

TEST(TrainCli, KillDuringACheckpointWriteLeavesThePreviousOneUsable) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  const pid_t pid = spawn({"train", seeds_config(), "--set", "train.epochs=100000", "--out", run},
                          dir.file("log"), {{checkpoint_layout::kFaultPauseEnv, "1"}});
  test::ChildGuard guard(pid);
  // The first checkpoint (step 31) completes; kill while the second one is half written.
  ASSERT_TRUE(wait_for([&] { return fs::exists(checkpoint_path(run, 31)); }));
  auto temporary = [&] {
    for (const auto& e : fs::directory_iterator(run + "/checkpoints"))
      if (e.path().filename().string().rfind(".step_62.h5.tmp", 0) == 0) return true;
    return false;
  };
  ASSERT_TRUE(wait_for(temporary));
  guard.kill_and_reap();
  const auto latest = latest_checkpoint(run);
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step, 31);
  EXPECT_TRUE(verify_checkpoint(latest->path).ok);
  EXPECT_GE(read_telemetry(run + "/telemetry.h5").epochs.size(), 1u);
  ASSERT_EQ(run_cli({"train", "--resume", run, "--set", "train.epochs=2"}, dir.file("resume.log")),
            0)
      << slurp(dir.file("resume.log"));
  EXPECT_TRUE(verify_checkpoint(checkpoint_path(run, 62)).ok);
}

TEST(TrainCli, DamagedCheckpointIsRefusedNamingTheDataset) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  ASSERT_EQ(
      run_cli({"train", seeds_config(), "--set", "train.epochs=1", "--out", run}, dir.file("log")),
      0);
  const std::string file = checkpoint_path(run, 31);
  {
    // Overwrite the weights in place; the stored checksum stays the old one.
    hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    hid_t d = H5Dopen2(f, "/tensors/layers.0.weight", H5P_DEFAULT);
    ASSERT_GE(d, 0);
    std::vector<float> junk(64, 0.5f);
    ASSERT_GE(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, junk.data()), 0);
    H5Dclose(d);
    H5Fclose(f);
  }
  EXPECT_EQ(run_cli({"train", "--resume", file}, dir.file("err")), 2);
  const std::string err = slurp(dir.file("err"));
  EXPECT_NE(err.find("checksum mismatch in dataset /tensors/layers.0.weight"), std::string::npos)
      << err;
  // The run directory has no other checkpoint: resuming the directory says so.
  EXPECT_EQ(run_cli({"train", "--resume", run}, dir.file("err2")), 2);
  EXPECT_NE(slurp(dir.file("err2")).find("none of its 1 checkpoints verifies"), std::string::npos)
      << slurp(dir.file("err2"));
}

TEST(TrainCli, ResumeWithAnotherModelShapeIsRefused) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  ASSERT_EQ(
      run_cli({"train", seeds_config(), "--set", "train.epochs=1", "--out", run}, dir.file("log")),
      0);
  std::string yaml = slurp(seeds_config());
  const std::string from = "{type: linear, out: 32}";
  yaml.replace(yaml.find(from), from.size(), "{type: linear, out: 48}");
  const std::string other = dir.file("wider.yaml");
  std::ofstream(other) << yaml;
  EXPECT_EQ(run_cli({"train", other, "--resume", run}, dir.file("err")), 2);
  const std::string err = slurp(dir.file("err"));
  EXPECT_NE(err.find("model.layers[0]: linear out 32 in the checkpoint, linear out 48 now"),
            std::string::npos)
      << err;
  // Nothing was written: the only checkpoint is still the first run's.
  EXPECT_EQ(list_checkpoints(run).size(), 1u);
}

// ---- telemetry layout, read with the HDF5 API ----

std::vector<hsize_t> dims_of(hid_t file, const std::string& path) {
  hid_t d = H5Dopen2(file, path.c_str(), H5P_DEFAULT);
  if (d < 0) return {};
  hid_t s = H5Dget_space(d);
  std::vector<hsize_t> dims(static_cast<size_t>(H5Sget_simple_extent_ndims(s)));
  H5Sget_simple_extent_dims(s, dims.data(), nullptr);
  H5Sclose(s);
  H5Dclose(d);
  return dims;
}

template <class T>
std::vector<T> read_column(hid_t file, const std::string& path, hid_t type) {
  const auto dims = dims_of(file, path);
  std::vector<T> v(dims.empty() ? 0 : dims[0]);
  hid_t d = H5Dopen2(file, path.c_str(), H5P_DEFAULT);
  if (!v.empty()) H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
  H5Dclose(d);
  return v;
}

TEST(TrainCli, TelemetryOfARealRunHasTheDocumentedLayout) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  ASSERT_EQ(run_cli({"train", seeds_config(), "--set", "train.epochs=6", "--set",
                     "telemetry.every_steps=10", "--out", run},
                    dir.file("log")),
            0);
  const std::string path = run + "/telemetry.h5";
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  for (const char* attr : {"format", "schema_version", "kasmina_version", "config", "device"})
    EXPECT_GT(H5Aexists(f, attr), 0) << attr;

  // 186 steps: metrics at steps 10, 20, ..., 180.
  const auto steps = read_column<int64_t>(f, "/steps/step", H5T_NATIVE_INT64);
  ASSERT_EQ(steps.size(), 18u);
  for (size_t i = 0; i < steps.size(); ++i) EXPECT_EQ(steps[i], static_cast<int64_t>(10 * (i + 1)));
  const auto loss = read_column<double>(f, "/steps/loss", H5T_NATIVE_DOUBLE);
  const auto lr = read_column<double>(f, "/steps/lr", H5T_NATIVE_DOUBLE);
  ASSERT_EQ(loss.size(), 18u);
  for (size_t i = 0; i < loss.size(); ++i) {
    EXPECT_GT(loss[i], 0.0);
    EXPECT_LT(loss[i], 1.0);
    EXPECT_GT(lr[i], 0.0);
  }
  EXPECT_EQ(lr[0], static_cast<double>(1.0e-2f * 10.0f / 50.0f));  // warm-up: base * 10 / 50

  const auto epochs = read_column<int64_t>(f, "/epochs/epoch", H5T_NATIVE_INT64);
  EXPECT_EQ(epochs, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  const auto val = read_column<double>(f, "/epochs/validation_accuracy", H5T_NATIVE_DOUBLE);
  ASSERT_EQ(val.size(), 6u);
  const auto summary = nlohmann::json::parse(slurp(run + "/summary.json"));
  for (size_t i = 0; i < 6; ++i)
    EXPECT_EQ(val[i], summary["history"][i]["validation"]["accuracy"].get<double>()) << i;

  // Per-seed statistics every 10 boundaries (the layers' telemetry_every): [T, S, K].
  const auto stats0 = dims_of(f, "/seeds/kasmina0/stats");
  ASSERT_EQ(stats0.size(), 3u);
  EXPECT_EQ(stats0[0], 18u);
  EXPECT_EQ(stats0[1], 8u);
  EXPECT_EQ(stats0[2], 13u);
  EXPECT_EQ(dims_of(f, "/seeds/kasmina1/stats")[1], 4u);
  EXPECT_EQ(read_column<int64_t>(f, "/seeds/kasmina0/step", H5T_NATIVE_INT64)[2], 30);

  // The schedule's germinations at steps 60..100 and what followed.
  const auto from = read_column<int32_t>(f, "/events/from", H5T_NATIVE_INT32);
  const auto to = read_column<int32_t>(f, "/events/to", H5T_NATIVE_INT32);
  const auto ev_step = read_column<int64_t>(f, "/events/step", H5T_NATIVE_INT64);
  ASSERT_GE(from.size(), 10u);
  int germinated = 0;
  for (size_t i = 0; i < from.size(); ++i) {
    if (from[i] == 0 && to[i] == 1) {
      ++germinated;
      EXPECT_GE(ev_step[i], 60);
    }
  }
  EXPECT_EQ(germinated, 5);
  EXPECT_GT(dims_of(f, "/messages/step")[0], 0u);
  H5Fclose(f);

  // The same through the reader: stage codes in the statistics follow the events.
  const TelemetryData t = read_telemetry(path);
  ASSERT_EQ(t.seed_layers.size(), 2u);
  const SeedLayerTelemetry& l0 = t.seed_layers[0];
  EXPECT_EQ(l0.name, "kasmina0");
  const size_t K = l0.fields.size();
  EXPECT_EQ(l0.fields[5], "stage");
  const float* last = l0.stats.data() + (l0.steps.size() - 1) * 8 * K;
  int non_dormant = 0;
  for (size_t s = 0; s < 8; ++s) non_dormant += last[s * K + 5] != 0.0f;
  EXPECT_EQ(non_dormant, 4);  // four seeds of layer 0 were germinated
  bool command_message = false;
  for (const BusMessageRecord& m : t.messages) command_message |= m.topic == "commands";
  EXPECT_TRUE(command_message);
}

}  // namespace
}  // namespace kasmina::io
