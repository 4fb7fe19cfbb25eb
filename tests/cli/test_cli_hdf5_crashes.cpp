// `kasmina inspect` on damaged files that crash, stall or exhaust memory in the HDF5 library
// itself (found by fuzzing; tests/fuzz/hdf5_crashes/, tests/fuzz/README.md): exit 2 with one
// line naming the file, never a segfault, a hang or gigabytes (src/io/hdf5_read_guard.hpp).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "cli_errors.hpp"
#include "run_process.hpp"

namespace kasmina {
namespace {

using namespace clitest;

struct Case {
  const char* file;  // in tests/fuzz/hdf5_crashes
  // The message after "FILE: truncated or damaged: ", or nullptr where only the form is
  // checked (kasmina's own checks before the allocation may name the dataset first).
  const char* what;
  // What the C library prints itself before it aborts on a damaged heap, or "".
  const char* c_library_line = "";
};

class Hdf5Crashes : public ::testing::TestWithParam<Case> {};

TEST_P(Hdf5Crashes, AreAUserErrorNamingTheFile) {
  ASSERT_FALSE(kasmina_binary().empty()) << "KASMINA_BIN is not set (run through meson test)";
  const char* root = std::getenv("KASMINA_SOURCE_ROOT");
  ASSERT_NE(root, nullptr);
  const fs::path file = fs::path(root) / "tests/fuzz/hdf5_crashes" / GetParam().file;
  ASSERT_TRUE(fs::exists(file)) << file;
  const std::string kind =
      std::string(GetParam().file).starts_with("telemetry") ? "telemetry" : "checkpoint";
  const TempDir dir;
  // A stalled read is given up after 2 s; 4 GiB of address space: room for the guard's
  // budget, a bound on what HDF5 may take.
  const ProcessResult r = testing::run_process(kasmina_binary(), {"inspect", kind, file.string()},
                                               dir.path(), {{"KASMINA_HDF5_READ_TIMEOUT", "2"}},
                                               {.address_space_bytes = 4ull << 30});
  ASSERT_TRUE(r.exited) << "killed by signal " << r.signal << "\n" << r.err;
  EXPECT_EQ(r.exit_code, 2);
  const std::string prefix = "kasmina: error: " + file.string() + ": truncated or damaged: ";
  if (GetParam().what != nullptr) {
    EXPECT_EQ(r.err, GetParam().c_library_line + prefix + GetParam().what + "\n");
  } else {
    EXPECT_EQ(r.err.rfind(prefix, 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_LT(r.max_rss_kb, 512 * 1024) << "HDF5 took gigabytes before failing";
  EXPECT_TRUE(fs::is_empty(dir.path())) << "inspect wrote something";
}

INSTANTIATE_TEST_SUITE_P(
    FoundByFuzzing, Hdf5Crashes,
    ::testing::Values(
        Case{"checkpoint-segv-global-heap.h5", "the HDF5 library crashed reading it (SIGSEGV)"},
        Case{"checkpoint-memcpy-global-heap.h5", "the HDF5 library crashed reading it (SIGSEGV)"},
        Case{"telemetry-memcpy-global-heap.h5", "the HDF5 library crashed reading it (SIGSEGV)"},
        Case{"checkpoint-stall-global-heap.h5",
             "the HDF5 library made no progress reading it for 2 s"},
        Case{"telemetry-stall-global-heap.h5",
             "the HDF5 library made no progress reading it for 2 s"},
        Case{"checkpoint-huge-string-length.h5",
             "read attribute 'kasmina_version': memory allocation failed for chunk"},
        Case{"telemetry-huge-string-length.h5",
             "read attribute 'config': memory allocation failed for chunk"},
        Case{"checkpoint-memcpy-attribute-message.h5", nullptr},
        // A read past the end of a damaged attribute name (H5MM_xstrdup); silent without ASan.
        Case{"checkpoint-strdup-attribute-name.h5", nullptr},
        Case{"telemetry-heap-overflow-global-heap.h5",
             "the HDF5 library crashed reading it (SIGABRT: heap damaged)",
             "free(): invalid pointer\n"},
        // kasmina's own allocations sized by the file's metadata.
        Case{"checkpoint-huge-dataset-extent.h5", nullptr},
        Case{"checkpoint-huge-string-count.h5", nullptr}));

}  // namespace
}  // namespace kasmina
