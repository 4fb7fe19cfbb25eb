#include <gtest/gtest.h>

#include "core/rng.hpp"
#include "data/dataset.hpp"
#include "idx_files.hpp"
#include "tests/common/user_error.hpp"

using namespace kasmina;
namespace dt = kasmina::datatest;
using dt::ScratchDir;
using kasmina::testing::user_error_message;

namespace {

// IdxArray from a file written with (dims, data), checked element for element.
void expect_round_trip(const std::string& path, const std::vector<uint32_t>& dims,
                       const std::vector<uint8_t>& data) {
  const IdxArray a = read_idx(path);
  ASSERT_EQ(a.dims.size(), dims.size());
  for (size_t i = 0; i < dims.size(); ++i) EXPECT_EQ(a.dims[i], static_cast<int64_t>(dims[i]));
  EXPECT_EQ(a.data, data);
}

}  // namespace

TEST(ReadIdx, PlainFilesReadBackExactly) {
  ScratchDir dir;
  const std::vector<uint32_t> dims3 = {7, 5, 3};
  const auto data3 = dt::random_bytes(7 * 5 * 3, 11);
  dt::write_idx(dir.file("a.idx"), dims3, data3, false);
  expect_round_trip(dir.file("a.idx"), dims3, data3);

  const auto data1 = dt::random_bytes(257, 12);
  dt::write_idx(dir.file("b.idx"), {257}, data1, false);
  expect_round_trip(dir.file("b.idx"), {257}, data1);

  dt::write_idx(dir.file("empty.idx"), {0, 28, 28}, {}, false);
  expect_round_trip(dir.file("empty.idx"), {0, 28, 28}, {});
}

TEST(ReadIdx, GzipFilesReadBackExactly) {
  ScratchDir dir;
  const std::vector<uint32_t> dims = {13, 28, 28};
  const auto data = dt::random_bytes(13 * 28 * 28, 21, 10);
  dt::write_idx(dir.file("a.gz"), dims, data, true);
  expect_round_trip(dir.file("a.gz"), dims, data);

  // Incompressible and larger than the reader's 1 MiB input chunk: several refills.
  const std::vector<uint32_t> big_dims = {3000, 1000};
  const auto big = dt::random_bytes(3000 * 1000, 22);
  dt::write_idx(dir.file("big.gz"), big_dims, big, true);
  expect_round_trip(dir.file("big.gz"), big_dims, big);
}

TEST(ReadIdx, DetectsGzipByContentNotByName) {
  ScratchDir dir;
  const auto data = dt::random_bytes(6 * 4, 31);
  dt::write_idx(dir.file("plain-named.gz"), {6, 4}, data, false);
  expect_round_trip(dir.file("plain-named.gz"), {6, 4}, data);
  dt::write_idx(dir.file("gzip-named.idx"), {6, 4}, data, true);
  expect_round_trip(dir.file("gzip-named.idx"), {6, 4}, data);
}

TEST(ReadIdx, ConcatenatedGzipMembersAreOneStream) {
  ScratchDir dir;
  const auto data = dt::random_bytes(40 * 9, 41);
  const auto raw = dt::idx_bytes({40, 9}, data);
  const std::vector<uint8_t> first(raw.begin(), raw.begin() + 100);
  const std::vector<uint8_t> second(raw.begin() + 100, raw.end());
  auto bytes = dt::gzip_bytes(first);
  const auto tail = dt::gzip_bytes(second);
  bytes.insert(bytes.end(), tail.begin(), tail.end());
  dt::write_file(dir.file("two.gz"), bytes);
  expect_round_trip(dir.file("two.gz"), {40, 9}, data);
}

TEST(ReadIdx, MissingFileSaysHowToPointAtTheData) {
  ScratchDir dir;
  const std::string path = dir.file("train-images-idx3-ubyte.gz");
  const std::string msg = user_error_message([&] { read_idx(path); });
  EXPECT_CONTAINS(msg, path + ": no such file");
  EXPECT_CONTAINS(msg, "data.dir");
  EXPECT_CONTAINS(msg, "--data-dir");
  EXPECT_CONTAINS(msg, "KASMINA_DATA_DIR");
}

TEST(ReadIdx, DirectoryIsRejected) {
  ScratchDir dir;
  const std::string msg = user_error_message([&] { read_idx(dir.path().string()); });
  EXPECT_CONTAINS(msg, dir.path().string() + ": is a directory");
}

TEST(ReadIdx, TruncatedDataReportsExpectedAndFoundBytes) {
  ScratchDir dir;
  const auto data = dt::random_bytes(1000, 51);
  for (bool gzip : {false, true}) {
    const std::string path = dir.file(gzip ? "short.gz" : "short.idx");
    // The header declares 60000 x 28 x 28 images; only 1000 bytes follow it.
    dt::write_idx(path, {60000, 28, 28}, data, gzip);
    const std::string msg = user_error_message([&] { read_idx(path); });
    EXPECT_EQ(msg, path +
                       ": truncated: expected 47040000 bytes of data after the header, "
                       "found 1000");
  }
}

TEST(ReadIdx, TruncatedHeaderAndEmptyFile) {
  ScratchDir dir;
  dt::write_file(dir.file("empty"), {});
  EXPECT_EQ(user_error_message([&] { read_idx(dir.file("empty")); }),
            dir.file("empty") + ": empty file, expected an IDX header");

  auto raw = dt::idx_bytes({10, 28, 28}, {});
  raw.resize(9);  // the magic and one and a quarter dimensions of the needed 16 header bytes
  dt::write_file(dir.file("header"), raw);
  EXPECT_EQ(user_error_message([&] { read_idx(dir.file("header")); }),
            dir.file("header") + ": truncated: the IDX header needs 16 bytes, the file holds 9");
}

TEST(ReadIdx, TrailingDataIsRejected) {
  ScratchDir dir;
  auto raw = dt::idx_bytes({4, 4}, dt::random_bytes(16, 61));
  raw.insert(raw.end(), {1, 2, 3});
  dt::write_file(dir.file("plain"), raw);
  EXPECT_EQ(user_error_message([&] { read_idx(dir.file("plain")); }),
            dir.file("plain") +
                ": 3 bytes of trailing data after the 16 bytes the IDX header [4, 4] declares");
  dt::write_file(dir.file("gz"), dt::gzip_bytes(raw));
  EXPECT_EQ(user_error_message([&] { read_idx(dir.file("gz")); }),
            dir.file("gz") +
                ": trailing data: the gzip stream inflates to more than the 16 bytes the IDX "
                "header [4, 4] declares (inflating stopped there)");
}

TEST(ReadIdx, GarbageAfterTheGzipStreamIsRejected) {
  ScratchDir dir;
  auto bytes = dt::gzip_bytes(dt::idx_bytes({4, 4}, dt::random_bytes(16, 71)));
  bytes.insert(bytes.end(), {'j', 'u', 'n', 'k', '!'});
  dt::write_file(dir.file("x.gz"), bytes);
  EXPECT_EQ(user_error_message([&] { read_idx(dir.file("x.gz")); }),
            dir.file("x.gz") +
                ": corrupt gzip stream: 5 bytes of non-gzip data after the end of the compressed "
                "data");
}

TEST(ReadIdx, CutGzipStreamIsReported) {
  ScratchDir dir;
  auto bytes = dt::gzip_bytes(dt::idx_bytes({50, 50}, dt::random_bytes(2500, 81)));
  bytes.resize(bytes.size() / 2);
  dt::write_file(dir.file("cut.gz"), bytes);
  EXPECT_CONTAINS(user_error_message([&] { read_idx(dir.file("cut.gz")); }),
                  dir.file("cut.gz") + ": truncated gzip stream");
}

TEST(ReadIdx, CorruptGzipStreamIsReported) {
  ScratchDir dir;
  const auto good = dt::gzip_bytes(dt::idx_bytes({50, 50}, dt::random_bytes(2500, 91)));

  auto bad_crc = good;  // the trailer is CRC-32 then the length, 4 bytes each
  bad_crc[bad_crc.size() - 8] ^= 0xFF;
  dt::write_file(dir.file("crc.gz"), bad_crc);
  EXPECT_CONTAINS(user_error_message([&] { read_idx(dir.file("crc.gz")); }),
                  dir.file("crc.gz") + ": corrupt gzip stream (zlib: incorrect data check)");

  auto bad_method = good;  // byte 2 of the gzip header must be 8 (deflate)
  bad_method[2] = 7;
  dt::write_file(dir.file("method.gz"), bad_method);
  EXPECT_CONTAINS(user_error_message([&] { read_idx(dir.file("method.gz")); }),
                  dir.file("method.gz") + ": corrupt gzip stream (zlib: unknown compression");
}

TEST(ReadIdx, WrongMagicIsRejected) {
  ScratchDir dir;
  dt::write_file(dir.file("zip"), {'P', 'K', 3, 4, 0, 0, 0, 0});
  EXPECT_EQ(user_error_message([&] { read_idx(dir.file("zip")); }),
            dir.file("zip") +
                ": not an IDX file (nor gzip): it starts with 0x50 0x4B 0x03 0x04, expected 0x00 "
                "0x00 <type> <ndim>");
  dt::write_file(dir.file("zip.gz"), dt::gzip_bytes({'P', 'K', 3, 4, 0, 0, 0, 0}));
  EXPECT_CONTAINS(user_error_message([&] { read_idx(dir.file("zip.gz")); }),
                  dir.file("zip.gz") + ": not an IDX file: it starts with 0x50");
}

TEST(ReadIdx, UnsupportedElementTypeIsRejected) {
  ScratchDir dir;
  dt::write_file(dir.file("f32"), dt::idx_bytes({2}, {0, 0, 0, 0, 0, 0, 0, 0}, 0x0D));
  EXPECT_EQ(user_error_message([&] { read_idx(dir.file("f32")); }),
            dir.file("f32") +
                ": unsupported IDX element type 0x0D (float32); only 0x08 (unsigned byte) is "
                "supported");
}

TEST(ReadIdx, ZeroDimensionsAreRejected) {
  ScratchDir dir;
  dt::write_file(dir.file("scalar"), dt::idx_bytes({}, {5}));
  EXPECT_EQ(user_error_message([&] { read_idx(dir.file("scalar")); }),
            dir.file("scalar") + ": IDX header declares 0 dimensions (allowed: 1..8)");
}

TEST(ReadIdx, AbsurdDimensionsAreRejectedBeforeAllocating) {
  ScratchDir dir;
  dt::write_file(dir.file("huge"), dt::idx_bytes({0xFFFFFFFFu, 0xFFFFFFFFu, 28}, {1, 2}));
  EXPECT_CONTAINS(user_error_message([&] { read_idx(dir.file("huge")); }),
                  dir.file("huge") +
                      ": IDX header declares dimensions [4294967295, 4294967295, 28], more than");
  // Within the limit but far beyond what the tiny gzip file can hold: reported as truncated.
  dt::write_file(dir.file("big.gz"), dt::gzip_bytes(dt::idx_bytes({65536, 65535}, {1, 2, 3})));
  EXPECT_EQ(user_error_message([&] { read_idx(dir.file("big.gz")); }),
            dir.file("big.gz") +
                ": truncated: expected 4294901760 bytes of data after the header, found 3");
}

TEST(ReadIdx, RandomDamageIsDetectedOrHarmless) {
  // Flipped bytes and cut-offs anywhere in plain and gzip files. A cut-off file is always a
  // UserError naming the file; a flipped byte is either a UserError or harmless: a flip in the
  // pixels of a plain file changes exactly that pixel, and a flip in the unchecked fields of the
  // gzip header (time stamp, OS) leaves the data intact. Never another exception, never a crash.
  ScratchDir dir;
  const std::vector<uint32_t> dims = {20, 7, 3};
  const auto data = dt::random_bytes(20 * 7 * 3, 1001, 16);
  const auto plain = dt::idx_bytes(dims, data);
  const auto gzip = dt::gzip_bytes(plain);
  const size_t header = plain.size() - data.size();
  Rng rng(1002);
  const std::string path = dir.file("damaged");
  for (int trial = 0; trial < 400; ++trial) {
    const bool is_gzip = trial % 2 == 1, cut = trial % 4 >= 2;
    auto bytes = is_gzip ? gzip : plain;
    size_t where = rng.below(bytes.size());
    if (cut) {
      bytes.resize(where);
    } else {
      bytes[where] ^= static_cast<uint8_t>(1 + rng.below(255));
    }
    dt::write_file(path, bytes);
    SCOPED_TRACE((is_gzip ? "gzip, " : "plain, ") + std::string(cut ? "cut at " : "flip at ") +
                 std::to_string(where));
    try {
      const IdxArray a = read_idx(path);
      EXPECT_FALSE(cut) << "a cut-off file was accepted";
      EXPECT_EQ(a.dims, (std::vector<int64_t>{20, 7, 3}));
      ASSERT_EQ(a.data.size(), data.size());
      size_t changed = 0;
      for (size_t i = 0; i < data.size(); ++i) changed += a.data[i] != data[i];
      if (is_gzip) {
        EXPECT_EQ(changed, 0u);
      } else {
        EXPECT_GE(where, header);
        EXPECT_EQ(changed, 1u);
      }
    } catch (const UserError& e) {
      EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << e.what();
      if (!is_gzip && !cut) {
        EXPECT_LT(where, header) << "a flipped pixel is not an error";
      }
    }
  }
}
