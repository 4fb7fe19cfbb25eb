// Sweeps over every entry of a checkpoint inside an epoch (a copy of hostile_runs::mid_epoch_run()
// for each edit), through `kasmina train --resume`: another dtype for each tensor, and hostile
// values (negative, huge) for each integer entry and the first element of each integer tensor.
// A resume either refuses the file (exit 2, one line naming the checkpoint) or runs to its end;
// never exit 1 (an internal error), never a crash.
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
#include "io/hdf5_io.hpp"
#include "io_test_util.hpp"

namespace kasmina::io {
namespace {

using namespace cli_process;      // NOLINT: the binary and the source tree
using namespace checkpoint_edit;  // NOLINT: the edits of a checkpoint
using hostile_runs::mid_epoch_run;
const char* const kCheckpoint = "/checkpoints/step_20.h5";

// The strings of dataset `name` of the mid-epoch checkpoint.
std::vector<std::string> stored_names(const std::string& name) {
  hdf5_init();
  const std::string ckpt = mid_epoch_run() + kCheckpoint;
  H5Id file = own_file(H5Fopen(ckpt.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
  H5Id ds = open_dataset(file, name);
  return read_strings(ds);
}

DType stored_dtype(hid_t file, const std::string& name) {
  H5Id ds = open_dataset(file, name);
  return read_array(ds).dtype;
}

struct Resumed {
  int code = 0;
  std::string log, ckpt, error;  // error: the one error line (when code is 2)
};

// Copies the mid-epoch run, edits its checkpoint and resumes from it to the end of the epoch.
Resumed resume_edited(const std::function<void(hid_t)>& edit) {
  test::TempDir dir;
  const std::string run = dir.file("run");
  std::filesystem::copy(mid_epoch_run(), run, std::filesystem::copy_options::recursive);
  Resumed r;
  r.ckpt = run + kCheckpoint;
  {
    H5Id file = own_file(H5Fopen(r.ckpt.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), "open");
    edit(file);
  }
  const auto before = snapshot(run);
  r.code = run_cli({"train", "--resume", r.ckpt}, dir.file("resume"));
  r.log = slurp(dir.file("resume"));
  EXPECT_TRUE(r.code == 0 || r.code == 2) << r.log;
  EXPECT_EQ(r.log.find("internal error"), std::string::npos) << r.log;
  if (r.code == 2) {
    const auto errors = lines_with(r.log, "error:");
    EXPECT_EQ(errors.size(), 1u) << r.log;
    if (!errors.empty()) r.error = errors[0];
    EXPECT_EQ(r.error.rfind("kasmina: error: " + r.ckpt + ": ", 0), 0u) << r.error;
    EXPECT_EQ(snapshot(run), before) << "the refused resume changed the run directory";
  }
  return r;
}

// Every tensor stored with the other width of its kind is refused with one line naming it.
TEST(HostileCheckpointSweep, EveryTensorOfAnotherDtypeIsRefused) {
  REQUIRE_BINARY();
  const std::vector<std::string> names = stored_names("/tensor_names");
  ASSERT_GT(names.size(), 50u);
  for (const char* name : {"data/permutation", "trainer/cursor", "seeds/kasmina0/flops_cursor"})
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const std::string path = "/tensors/" + name;
    const Resumed r =
        resume_edited([&](hid_t f) { retype(f, path, other_dtype(stored_dtype(f, path))); });
    EXPECT_EQ(r.code, 2) << r.log;
    // The tensor is named (a section's entries by their name below the section).
    const std::string leaf = name.substr(name.find('/') + 1);
    EXPECT_NE(r.error.find(leaf), std::string::npos) << r.error;
  }
}

// Every integer entry (/ints) negative or huge: refused or harmless.
TEST(HostileCheckpointSweep, HostileIntegerEntriesAreRefusedOrHarmless) {
  REQUIRE_BINARY();
  const std::vector<std::string> names = stored_names("/ints/names");
  ASSERT_GT(names.size(), 10u);
  for (const std::string& name : names)
    for (const int64_t value : {int64_t{-7}, int64_t{1} << 40}) {
      SCOPED_TRACE(name + " = " + std::to_string(value));
      resume_edited([&](hid_t f) { set_int(f, name, value); });
    }
}

// The first element of every integer tensor negative or huge: refused or harmless.
TEST(HostileCheckpointSweep, HostileIntegerTensorsAreRefusedOrHarmless) {
  REQUIRE_BINARY();
  for (const std::string& name : stored_names("/tensor_names")) {
    const std::string path = "/tensors/" + name;
    DType dtype = DType::f32;
    {
      hdf5_init();
      const std::string ckpt = mid_epoch_run() + kCheckpoint;
      H5Id file = own_file(H5Fopen(ckpt.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
      dtype = stored_dtype(file, path);
    }
    if (dtype != DType::i32 && dtype != DType::i64) continue;
    for (const int64_t value : {int64_t{-7}, int64_t{1} << 30}) {
      SCOPED_TRACE(name + "[0] = " + std::to_string(value));
      resume_edited([&](hid_t f) { set_element(f, path, 0, value); });
    }
  }
}

}  // namespace
}  // namespace kasmina::io
