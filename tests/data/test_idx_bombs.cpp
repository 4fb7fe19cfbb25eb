// The IDX reader against files that declare or hold far more than they should: a shape the
// caller does not expect, more items than it accepts, a gzip stream that inflates past its
// header. Each is refused from the header or at the first byte past the declared data.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "data/dataset.hpp"
#include "gzip_bomb.hpp"
#include "idx_files.hpp"
#include "tests/common/user_error.hpp"

using namespace kasmina;
namespace dt = kasmina::datatest;
using dt::ScratchDir;
using kasmina::testing::user_error_message;

namespace {

const IdxShape kImages{{28, 28}, 1000, "images of 28x28 pixels (IDX dims [N, 28, 28])", "images"};

TEST(IdxBombs, ShapeIsCheckedFromTheHeader) {
  ScratchDir dir;
  dt::write_idx(dir.file("wide"), {2, 28, 29}, std::vector<uint8_t>(2 * 28 * 29), false);
  EXPECT_EQ(user_error_message([&] { read_idx(dir.file("wide"), kImages); }),
            dir.file("wide") +
                ": expected images of 28x28 pixels (IDX dims [N, 28, 28]), found dims [2, 28, 29]");
  // No data at all after the header: the shape is refused before the data is missed.
  dt::write_idx(dir.file("many"), {1001, 28, 28}, {}, false);
  EXPECT_EQ(user_error_message([&] { read_idx(dir.file("many"), kImages); }),
            dir.file("many") +
                ": IDX header declares 1001 images, more than the 1000 kasmina reads from one "
                "file (corrupt header?)");
  const std::vector<uint8_t> pixels(3 * 28 * 28, 7);
  dt::write_idx(dir.file("ok"), {3, 28, 28}, pixels, true);
  const IdxArray ok = read_idx(dir.file("ok"), kImages);
  EXPECT_EQ(ok.dims, (std::vector<int64_t>{3, 28, 28}));
  EXPECT_EQ(ok.data, pixels);
}

TEST(IdxBombs, ReadingStopsAtTheFirstByteNotDeclared) {
  ScratchDir dir;
  // 64 bytes declared, then 16 GiB of zeros (about 16 MB of gzip).
  dt::write_idx_gzip_bomb(dir.file("bomb.gz"), {4, 4, 4}, (uint64_t{16} << 30) + 64);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(user_error_message([&] { read_idx(dir.file("bomb.gz")); }),
            dir.file("bomb.gz") +
                ": trailing data: the gzip stream inflates to more than the 64 bytes the IDX "
                "header [4, 4, 4] declares (inflating stopped there)");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 5.0) << "16 GiB were inflated";
}

TEST(IdxBombs, PromisedDataThatIsThereIsRead) {
  // The header declares 2 MiB and the stream holds exactly that: a bomb-shaped file that is
  // honest is read in full.
  ScratchDir dir;
  dt::write_idx_gzip_bomb(dir.file("zeros.gz"), {2048, 1024}, uint64_t{2} << 20);
  const IdxArray a = read_idx(dir.file("zeros.gz"));
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2048, 1024}));
  ASSERT_EQ(a.data.size(), size_t{2} << 20);
  EXPECT_EQ(std::count(a.data.begin(), a.data.end(), 0), static_cast<long>(a.data.size()));
}

}  // namespace
