// Checkpoints that are well-formed HDF5 with valid checksums but hostile contents, through the
// binary: `kasmina train --resume` and `kasmina inspect checkpoint` refuse each with exit 2 and
// one line naming the dataset and what was expected, without allocating what the file does not
// hold, and the refused resume leaves the run directory exactly as it was.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "cli_process.hpp"
#include "io/checksum.hpp"
#include "io/hdf5_io.hpp"
#include "io_test_util.hpp"

namespace kasmina::io {
namespace {

namespace fs = std::filesystem;
using namespace cli_process;  // NOLINT: the binary and the source tree

// A one-epoch run (checkpoints/step_31.h5, telemetry.h5), made once for every test.
const std::string& base_run() {
  static test::TempDir dir;
  static const std::string run = [] {
    const std::string r = dir.file("run");
    EXPECT_EQ(train_seeds(r, 1, dir.file("log")), 0) << slurp(dir.file("log"));
    return r;
  }();
  return run;
}

// ---- editing a checkpoint with the HDF5 C API, checksums recomputed as the reader verifies ----

void store_checksum(hid_t ds, const HostArray& a) {
  write_attribute_u32(ds, "checksum", crc32_update(0, a.bytes.data(), a.bytes.size()));
}

// Sets element `index` of the integer dataset `name` (int32 or int64) to `value`.
void set_element(hid_t file, const std::string& name, size_t index, int64_t value) {
  H5Id ds = open_dataset(file, name);
  HostArray a = read_array(ds);
  ASSERT_TRUE(a.dtype == DType::i32 || a.dtype == DType::i64) << name;
  if (a.dtype == DType::i32) {
    const auto v = static_cast<int32_t>(value);
    std::memcpy(a.bytes.data() + index * sizeof v, &v, sizeof v);
  } else {
    std::memcpy(a.bytes.data() + index * sizeof value, &value, sizeof value);
  }
  ASSERT_GE(H5Dwrite(ds, native_type_of(a.dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, a.bytes.data()),
            0);
  store_checksum(ds, a);
}

// Sets the named integer `key` of /ints (parallel /ints/names and /ints/values).
void set_int(hid_t file, const std::string& key, int64_t value) {
  H5Id names = open_dataset(file, "/ints/names");
  const std::vector<std::string> all = read_strings(names);
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i] == key) return set_element(file, "/ints/values", i, value);
  FAIL() << "no integer " << key;
}

// Replaces dataset `name` by one of `dtype` whose dataspace claims `dims` (nothing is written:
// the file stores no bytes for it), checksum 0.
void claim(hid_t file, const std::string& name, hid_t dtype, const std::vector<hsize_t>& dims) {
  ASSERT_GE(H5Ldelete(file, name.c_str(), H5P_DEFAULT), 0);
  H5Id space =
      own_space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "space");
  H5Id ds = own_dataset(
      H5Dcreate2(file, name.c_str(), dtype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name);
  write_attribute_u32(ds, "checksum", 0);
}

struct Case {
  std::function<void(hid_t)> edit;
  std::string resume_says;   // in the one error line of `train --resume`
  std::string inspect_says;  // in the one error line of `inspect checkpoint`; "" when it passes
};

// Copies the base run, edits its checkpoint, then checks the refused resume and inspect.
void expect_refused(const Case& c) {
  REQUIRE_BINARY();
  test::TempDir dir;
  const std::string run = dir.file("run");
  fs::copy(base_run(), run, fs::copy_options::recursive);
  const std::string ckpt = run + "/checkpoints/step_31.h5";
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
  expect_refused(
      {[](hid_t f) {
         H5Id ds = open_dataset(f, "/tensors/layers.3.weight");
         const HostArray a = read_array(ds);
         ds.reset();
         std::vector<double> wide(a.bytes.size() / sizeof(float));
         for (size_t i = 0; i < wide.size(); ++i) {
           float v = 0;
           std::memcpy(&v, a.bytes.data() + i * sizeof v, sizeof v);
           wide[i] = v;
         }
         ASSERT_GE(H5Ldelete(f, "/tensors/layers.3.weight", H5P_DEFAULT), 0);
         H5Id w = write_array(f, "/tensors/layers.3.weight", DType::f64, a.shape, wide.data());
         write_attribute_u32(w, "checksum",
                             crc32_update(0, wide.data(), wide.size() * sizeof(double)));
       },
       "tensor 'layers.3.weight' has dtype float64 but this run's model has float32", ""});
}

TEST(HostileCheckpoint, QueuedCommandCountOfATrillion) {
  expect_refused({[](hid_t f) { set_int(f, "seeds/kasmina0/queued_commands", 1000000000000); },
                  "'seeds/kasmina0/queued_commands' does not hold 1000000000000 commands", ""});
}

TEST(HostileCheckpoint, ControllerStageThatIsNotAStage) {
  expect_refused({[](hid_t f) { set_element(f, "/tensors/controller/layer0/stage", 2, 77); },
                  "controller state: layer0/stage of seed 2 is 77 (allowed: 0..10", ""});
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
