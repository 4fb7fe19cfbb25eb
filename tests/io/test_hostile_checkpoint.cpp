// Checkpoints that are well-formed HDF5 with valid checksums but hostile contents, through the
// binary: `kasmina train --resume` and `kasmina inspect checkpoint` refuse each with exit 2 and
// one line naming the dataset and what was expected, without allocating what the file does not
// hold, and the refused resume leaves the run directory exactly as it was.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "checkpoint_edit.hpp"
#include "cli_process.hpp"
#include "hostile_runs.hpp"
#include "io/checksum.hpp"
#include "io/hdf5_io.hpp"
#include "io_test_util.hpp"

namespace kasmina::io {
namespace {

namespace fs = std::filesystem;
using namespace cli_process;      // NOLINT: the binary and the source tree
using namespace checkpoint_edit;  // NOLINT: the edits of a checkpoint
using namespace hostile_runs;     // NOLINT: the runs whose checkpoints are edited

struct Case {
  std::function<void(hid_t)> edit;
  std::string resume_says;   // in the one error line of `train --resume`
  std::string inspect_says;  // in the one error line of `inspect checkpoint`; "" when it passes
  bool mid_epoch = false;    // edit mid_epoch_run()'s step_20.h5, not base_run()'s step_31.h5
};

// Copies the base run, edits its checkpoint, then checks the refused resume and inspect.
void expect_refused(const Case& c) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  fs::copy(c.mid_epoch ? mid_epoch_run() : base_run(), run, fs::copy_options::recursive);
  const std::string ckpt =
      run + (c.mid_epoch ? "/checkpoints/step_20.h5" : "/checkpoints/step_31.h5");
  {
    hdf5_init();
    H5Id file = own_file(H5Fopen(ckpt.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), "open");
    c.edit(file);
  }
  if (::testing::Test::HasFatalFailure()) return;
  const auto before = snapshot(run);
  for (const std::string& target : {ckpt, run}) {
    const int code =
        run_cli({"train", "--resume", target, "--set", "train.epochs=3"}, dir.file("resume"));
    const std::string log = slurp(dir.file("resume"));
    EXPECT_EQ(code, 2) << log;
    const auto errors = lines_with(log, "error:");
    ASSERT_EQ(errors.size(), 1u) << log;
    EXPECT_NE(errors[0].find(c.resume_says), std::string::npos) << errors[0];
    EXPECT_EQ(log.find("internal error"), std::string::npos) << log;
    EXPECT_EQ(snapshot(run), before) << "the refused resume changed the run directory";
    if (target == ckpt) {
      EXPECT_EQ(errors[0].rfind("kasmina: error: " + ckpt + ": ", 0), 0u) << errors[0];
    }
  }
  const int code = run_cli({"inspect", "checkpoint", ckpt}, dir.file("inspect"));
  const std::string log = slurp(dir.file("inspect"));
  if (c.inspect_says.empty()) {
    EXPECT_EQ(code, 0) << log;
  } else {
    EXPECT_EQ(code, 2) << log;
    const auto errors = lines_with(log, "error:");
    ASSERT_EQ(errors.size(), 1u) << log;
    EXPECT_NE(errors[0].find(c.inspect_says), std::string::npos) << errors[0];
  }
  EXPECT_EQ(snapshot(run), before);
}

TEST(HostileCheckpoint, SeedSlotOutOfRange) {
  const std::string says = "tensor 'seeds/kasmina0/slot': seed 0 is 1000 (allowed: -1..63";
  expect_refused(
      {[](hid_t f) { set_element(f, "/tensors/seeds/kasmina0/slot", 0, 1000); }, says, says});
}

TEST(HostileCheckpoint, StageCodeThatIsNotAStage) {
  const std::string says = "tensor 'seeds/kasmina0/stage': seed 1 is 77 (allowed: 0..10";
  expect_refused(
      {[](hid_t f) { set_element(f, "/tensors/seeds/kasmina0/stage", 1, 77); }, says, says});
}

TEST(HostileCheckpoint, NegativeStep) {
  const std::string says = "attribute 'step' is -5 (allowed: a count >= 0)";
  expect_refused({[](hid_t f) {
                    write_attribute_i64(f, "step", -5);
                    set_int(f, "run/global_step", -5);
                  },
                  says, says});
}

TEST(HostileCheckpoint, DatasetClaimingATrillionElements) {
  const std::string says =
      "dataset /tensors/layers.3.weight: claims 1000000000000 elements (4000000000000 bytes) but "
      "the file stores 0 bytes for it";
  expect_refused({[](hid_t f) {
                    claim(f, "/tensors/layers.3.weight", H5T_IEEE_F32LE, {1000000, 1000000});
                  },
                  says, says});
}

TEST(HostileCheckpoint, TenBillionTensorNames) {
  const std::string says = "dataset /tensor_names: claims 10000000000 elements";
  expect_refused({[](hid_t f) {
                    H5Id type = make_string_type();
                    claim(f, "/tensor_names", type, {10000000000ull});
                  },
                  says, says});
}

TEST(HostileCheckpoint, TensorOfAnotherDtype) {
  // inspect shows such a file (the dtype column says float64); a resume refuses it by dtype.
  expect_refused({[](hid_t f) { retype(f, "/tensors/layers.3.weight", DType::f64); },
                  "tensor 'layers.3.weight' has dtype float64 but this run's model has float32",
                  ""});
}

TEST(HostileCheckpoint, QueuedCommandCountOfATrillion) {
  expect_refused({[](hid_t f) { set_int(f, "seeds/kasmina0/queued_commands", 1000000000000); },
                  "'seeds/kasmina0/queued_commands' does not hold 1000000000000 commands", ""});
}

TEST(HostileCheckpoint, ControllerStageThatIsNotAStage) {
  expect_refused({[](hid_t f) { set_element(f, "/tensors/controller/layer0/stage", 2, 77); },
                  "controller state: layer0/stage of seed 2 is 77 (allowed: 0..10", ""});
}

// The growth counters' names hold numbers (trainer/transitions/<layer>/<stage>,
// trainer/refusals/<layer>): each is checked against the model before it is used.
TEST(HostileCheckpoint, TransitionCounterOfALayerThatIsNotANumber) {
  expect_refused(
      {[](hid_t f) { rename_int(f, "seeds/kasmina0/active_hint", "trainer/transitions/x/2"); },
       "integer 'trainer/transitions/x/2' (dataset /ints/names): 'x' is not a "
       "morphogenetic layer of this run's model (0, 1)",
       ""});
}

TEST(HostileCheckpoint, TransitionCounterOfAStageThatIsNotAStage) {
  expect_refused(
      {[](hid_t f) { rename_int(f, "seeds/kasmina0/active_hint", "trainer/transitions/1/77"); },
       "integer 'trainer/transitions/1/77' (dataset /ints/names): '77' is not a "
       "stage code (0..10)",
       ""});
}

TEST(HostileCheckpoint, RefusalCounterOfALayerThatIsNotANumber) {
  expect_refused(
      {[](hid_t f) { rename_int(f, "seeds/kasmina0/active_hint", "trainer/refusals/2e3"); },
       "integer 'trainer/refusals/2e3' (dataset /ints/names): '2e3' is not a "
       "morphogenetic layer",
       ""});
}

TEST(HostileCheckpoint, NegativeTransitionCount) {
  expect_refused({[](hid_t f) {
                    rename_int(f, "seeds/kasmina0/active_hint", "trainer/transitions/1/3");
                    set_int(f, "trainer/transitions/1/3", -4);
                  },
                  "integer 'trainer/transitions/1/3' is -4 (allowed: a count >= 0)", ""});
}

TEST(HostileCheckpoint, BatchOrderOfAnotherDtype) {
  expect_refused({[](hid_t f) { retype(f, "/tensors/data/permutation", DType::i64); },
                  "tensor 'data/permutation' is int64 [2000] (expected: int32 [2000]", "", true});
}

TEST(Inspect, SymbolicLinkLoopIsNamedAsSuch) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string a = dir.file("a.h5"), b = dir.file("b.h5");
  fs::create_symlink(b, a);
  fs::create_symlink(a, b);
  for (const char* kind : {"checkpoint", "telemetry"}) {
    EXPECT_EQ(run_cli({"inspect", kind, a}, dir.file("log")), 2);
    EXPECT_NE(slurp(dir.file("log")).find(a + ": too many levels of symbolic links"),
              std::string::npos)
        << slurp(dir.file("log"));
  }
  EXPECT_EQ(run_cli({"train", "--resume", a}, dir.file("log")), 2);
  EXPECT_NE(slurp(dir.file("log")).find("--resume " + a + ": too many levels of symbolic links"),
            std::string::npos)
      << slurp(dir.file("log"));
}

}  // namespace
}  // namespace kasmina::io
