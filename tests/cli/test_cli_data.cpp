// `kasmina train` on hostile data directories (Fashion-MNIST-shaped, made here): gzip bombs are
// refused from the IDX header's declared size, quickly and in bounded memory; a batch or
// validation split larger than the files hold names the config line that set it.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli_errors.hpp"
#include "run_process.hpp"
#include "small_data.hpp"
#include "tests/data/gzip_bomb.hpp"
#include "tests/data/idx_files.hpp"

namespace kasmina {
namespace {

using namespace clitest;
namespace dt = datatest;

constexpr uint32_t kTrain = 100, kTest = 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

class CliData : public CliErrors {
 protected:
  // A Fashion-MNIST-shaped directory: kTrain training and kTest test images, gzip-compressed.
  fs::path small_data() const {
    return write_small_fashion_mnist(dir_.path() / "data", kTrain, kTest);
  }

  // Trains `config` on `data` under the memory limit; returns the result and its seconds.
  std::pair<ProcessResult, double> train_on(const fs::path& config, const fs::path& data,
                                            std::vector<std::string> args = {}) const {
    std::vector<std::string> all{"train",       config.string(), "--data-dir",
                                 data.string(), "--out",         out_dir().string()};
    all.insert(all.end(), args.begin(), args.end());
    const auto t0 = std::chrono::steady_clock::now();
    ProcessResult r = testing::run_process(kasmina_binary(), all, dir_.path(), {},
                                           {.address_space_bytes = kMemoryLimit});
    return {r, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()};
  }

  // small_data() with its file `name` replaced by a gzip bomb (write_idx_gzip_bomb).
  fs::path bomb(const char* name, const std::vector<uint32_t>& dims, uint64_t zero_bytes) const {
    const fs::path file = small_data() / name;
    dt::write_idx_gzip_bomb(file.string(), dims, zero_bytes);
    return file;
  }

  // Trains on the directory of `file` (a bomb) and expects the user error "<file>: <tail>",
  // long before inflating the bomb could finish.
  void expect_refused_quickly(const fs::path& file, const std::string& tail) const {
    const auto [r, seconds] = train_on(write_config("ok.yaml", kValidYaml), file.parent_path());
    expect_user_error(r, {});
    EXPECT_EQ(r.err, "kasmina: error: " + file.string() + ": " + tail + "\n");
    EXPECT_LT(seconds, 15.0) << "reading must stop long before the bomb is inflated";
  }
};

// The data behind the bombs is made and run for real; refusing must not depend on inflating it.
TEST_F(CliData, GzipStreamFarLongerThanItsHeaderIsRefusedQuickly) {
  // 40 GiB in 42 MB.
  expect_refused_quickly(bomb("train-images-idx3-ubyte.gz", {kTrain, 28, 28}, 40 * kGiB),
                         "trailing data: the gzip stream inflates to more than the 78400 bytes "
                         "the IDX header [100, 28, 28] declares (inflating stopped there)");
}

TEST_F(CliData, HeaderDeclaringMillionsOfImagesIsRefusedBeforeInflating) {
  // 3.9 GB of images in a 3.8 MB file, exactly what the header declares.
  const fs::path images =
      bomb("train-images-idx3-ubyte.gz", {5'000'000, 28, 28}, uint64_t{5'000'000} * 784);
  EXPECT_LT(fs::file_size(images), 5u << 20);
  expect_refused_quickly(images,
                         "IDX header declares 5000000 images, more than the 1000000 kasmina "
                         "reads from one file (corrupt header?)");
}

// The test files are read on a second thread; a bomb there is refused the same way.
TEST_F(CliData, LabelBombAmongTheTestFilesIsRefused) {
  expect_refused_quickly(bomb("t10k-labels-idx1-ubyte.gz", {kTest}, 8 * kGiB),
                         "trailing data: the gzip stream inflates to more than the 20 bytes the "
                         "IDX header [20] declares (inflating stopped there)");
}

// Fashion-MNIST-shaped files may hold fewer samples than the 60000 the config assumes: the
// sizes are checked again against the files, and the message names where they were set.
TEST_F(CliData, BatchOrValidationLargerThanTheFilesNamesTheConfigLine) {
  const fs::path data = small_data();
  const std::string holds = (data / "train-images-idx3-ubyte.gz").string() + " holds 100";
  const fs::path batch = write_config("batch.yaml", std::string(kValidYaml) +
                                                        "  batch_size: 90\n"  // line 11
                                                        "data: {validation: 30}\n");
  auto [r, seconds] = train_on(batch, data);
  expect_user_error(r, {});
  EXPECT_EQ(r.err, "kasmina: error: " + batch.string() +
                       ":11: train.batch_size: is 90, larger than the 70 training samples (" +
                       holds + ", data.validation takes 30)\n");
  r = train_on(batch, data, {"--set", "train.batch_size=80"}).first;
  expect_user_error(r, {});
  EXPECT_EQ(r.err,
            "kasmina: error: --set train.batch_size=80: train.batch_size: is 80, larger than the "
            "70 training samples (" +
                holds + ", data.validation takes 30)\n");
  r = train_on(batch, data, {"--set", "data.validation=100"}).first;
  expect_user_error(r, {});
  EXPECT_EQ(r.err,
            "kasmina: error: --set data.validation=100: data.validation: must be in [0, 100) (" +
                holds + " samples), got 100\n");
  // Within the files' size the same config trains.
  r = train_on(batch, data, {"--set", "train.batch_size=10"}).first;
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace kasmina
