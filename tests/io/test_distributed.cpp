// Data-parallel runs through the binary under `mpirun -np 2` on the CPU (skipped with a message
// when mpirun or an MPI build is missing): equal to one process with the doubled batch, the
// ranks' states bit-identical, deterministic mode bit-identical run to run, checkpoint/resume
// across two ranks bit-exact, another world size refused inside an epoch, mismatched configs
// refused.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "cli_process.hpp"
#include "io/checkpoint.hpp"
#include "kasmina_build_config.hpp"

namespace kasmina::io {
namespace {

namespace fs = std::filesystem;
using namespace cli_process;

std::string mpirun() {
  const char* m = std::getenv("KASMINA_MPIRUN");
  return m ? m : "";
}

#define REQUIRE_MPI()                       \
  REQUIRE_BINARY();                         \
  if (mpirun().empty() || !KASMINA_HAS_MPI) \
  GTEST_SKIP() << "no mpirun or no MPI in this build: multi-process tests skipped"

const std::map<std::string, std::string> kRootOk = {{"OMPI_ALLOW_RUN_AS_ROOT", "1"},
                                                    {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"},
                                                    {"OMPI_MCA_rmaps_base_oversubscribe", "1"}};

class Distributed : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kasmina_dist_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // `mpirun -np N kasmina train ...`; returns the exit code (the log in dir_/<name>.log).
  int mpi(int np, const std::vector<std::string>& train_args, const std::string& name,
          const std::string& dump = "") {
    std::vector<std::string> args = {"--oversubscribe", "-np", std::to_string(np), bin(), "train"};
    args.insert(args.end(), train_args.begin(), train_args.end());
    auto env = kRootOk;
    if (!dump.empty()) env["KASMINA_DEBUG_RANK_STATE"] = (dir_ / dump).string();
    return wait_exit(spawn_program(mpirun(), args, log(name), env));
  }
  std::string log(const std::string& name) const { return (dir_ / (name + ".log")).string(); }
  std::vector<std::string> seeds(const std::string& out, int epochs) const {
    return {seeds_config(), "--out", (dir_ / out).string(), "--set",
            "train.epochs=" + std::to_string(epochs)};
  }
  fs::path dir_;
};

nlohmann::json summary(const fs::path& run) {
  return nlohmann::json::parse(slurp((run / "summary.json").string()));
}

// Tensors of two checkpoint files that differ in any bit (names in `skip` left out).
std::vector<std::string> differing(const std::string& a, const std::string& b,
                                   const std::vector<std::string>& skip = {}) {
  const CheckpointState x = read_checkpoint(a), y = read_checkpoint(b);
  std::vector<std::string> out;
  EXPECT_EQ(x.tensors.size(), y.tensors.size());
  for (size_t i = 0; i < std::min(x.tensors.size(), y.tensors.size()); ++i) {
    const NamedTensor& p = x.tensors[i];
    bool skipped = false;
    for (const std::string& s : skip) skipped |= p.name.find(s) != std::string::npos;
    if (skipped) continue;
    const Tensor hp = p.tensor.to(Device::cpu()), hq = y.tensors[i].tensor.to(Device::cpu());
    if (p.name != y.tensors[i].name || hp.nbytes() != hq.nbytes() ||
        std::memcmp(hp.raw(), hq.raw(), hp.nbytes()) != 0)
      out.push_back(p.name);
  }
  return out;
}

TEST_F(Distributed, TwoRanksEqualOneProcessWithTheDoubledBatchAndAgreeBitwise) {
  REQUIRE_MPI();
  ASSERT_EQ(mpi(2, seeds("two", 6), "two", "dump"), 0) << slurp(log("two"));
  std::vector<std::string> one = {"train"};
  for (const std::string& a : seeds("one", 6)) one.push_back(a);
  one.insert(one.end(), {"--set", "train.batch_size=128"});
  ASSERT_EQ(run_cli(one, log("one")), 0) << slurp(log("one"));
  const nlohmann::json a = summary(dir_ / "one"), b = summary(dir_ / "two");
  EXPECT_EQ(a["steps"], b["steps"]);  // 2000 training samples / 128 = 15 steps per epoch
  EXPECT_EQ(b["steps"].get<int64_t>(), 6 * 15);
  EXPECT_EQ(a["parameters"], b["parameters"]);
  EXPECT_GT(b["parameters_added"].get<int64_t>(), 0);  // seeds grew during the run
  for (const char* k : {"train_loss", "test_loss", "test_accuracy", "validation_loss"})
    EXPECT_NEAR(a[k].get<double>(), b[k].get<double>(), 1e-5 * std::fabs(a[k].get<double>())) << k;
  EXPECT_EQ(a["growth"].dump(), b["growth"].dump());
  // Every rank holds the same parameters, seed state arrays, pools and optimizer state; only the
  // rank-local accumulators (telemetry, the epoch's correct count) and the per-step measurements
  // of a layer whose seeds are all dormant (reduced only where its lifecycle reads them) differ.
  EXPECT_EQ(differing((dir_ / "dump/rank0.h5").string(), (dir_ / "dump/rank1.h5").string(),
                      {"telemetry", "trainer/correct", "step_stats"}),
            std::vector<std::string>{});
}

TEST_F(Distributed, DeterministicModeIsBitIdenticalRunToRun) {
  REQUIRE_MPI();
  for (const char* run : {"a", "b"}) {
    std::vector<std::string> args = seeds(run, 5);
    args.insert(args.end(), {"--set", "train.deterministic=true"});
    ASSERT_EQ(mpi(2, args, run), 0) << slurp(log(run));
  }
  const auto last = [&](const char* run) {
    return (dir_ / run / "checkpoints" / "step_75.h5").string();
  };
  EXPECT_EQ(differing(last("a"), last("b")), std::vector<std::string>{});
  EXPECT_EQ(summary(dir_ / "a")["train_loss"], summary(dir_ / "b")["train_loss"]);
}

TEST_F(Distributed, ResumeAcrossTwoRanksIsBitExactAndAnotherWorldSizeIsRefusedInsideAnEpoch) {
  REQUIRE_MPI();
  std::vector<std::string> full = seeds("full", 6);
  full.insert(full.end(), {"--set", "checkpoint.every_steps=50", "--set", "checkpoint.keep=100"});
  ASSERT_EQ(mpi(2, full, "full"), 0) << slurp(log("full"));
  // Resume a copy of the run from step 50 (inside epoch 4: 15 steps per epoch).
  fs::create_directories(dir_ / "resumed" / "checkpoints");
  fs::copy_file(dir_ / "full/checkpoints/step_50.h5", dir_ / "resumed/checkpoints/step_50.h5");
  fs::copy_file(dir_ / "full/config.yaml", dir_ / "resumed/config.yaml");
  const std::string from = (dir_ / "resumed/checkpoints/step_50.h5").string();
  ASSERT_EQ(mpi(2, {"--resume", from}, "resumed"), 0) << slurp(log("resumed"));
  EXPECT_EQ(differing((dir_ / "full/checkpoints/step_90.h5").string(),
                      (dir_ / "resumed/checkpoints/step_90.h5").string()),
            std::vector<std::string>{});
  // One process cannot continue inside an epoch two processes started.
  EXPECT_EQ(run_cli({"train", "--resume", from}, log("one")), 2);
  EXPECT_NE(slurp(log("one")).find("written by 2 processes inside epoch 4"), std::string::npos)
      << slurp(log("one"));
}

TEST_F(Distributed, RanksWithDifferentConfigsAreRefused) {
  REQUIRE_MPI();
  const std::vector<std::string> args = {"--oversubscribe",
                                         "-np",
                                         "1",
                                         bin(),
                                         "train",
                                         seeds_config(),
                                         "--out",
                                         (dir_ / "x").string(),
                                         ":",
                                         "-np",
                                         "1",
                                         bin(),
                                         "train",
                                         seeds_config(),
                                         "--set",
                                         "seed=7"};
  EXPECT_EQ(wait_exit(spawn_program(mpirun(), args, log("mismatch"), kRootOk)), 2);
  EXPECT_NE(
      slurp(log("mismatch")).find("the resolved configuration of rank 1 differs from rank 0's"),
      std::string::npos)
      << slurp(log("mismatch"));
}

}  // namespace
}  // namespace kasmina::io
