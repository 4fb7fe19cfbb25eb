// The TFRecord layer of the TensorBoard writer: CRC-32C against published vectors (RFC 3720
// B.4 and the usual check value), the masked CRC and the framing of records byte for byte (the
// expected bytes are those of TensorBoard's own pure-Python implementation), the record file's
// buffering, and the histogram of a set of values.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/tensorboard/crc32c.hpp"
#include "io/tensorboard/histogram.hpp"
#include "io/tensorboard/record_file.hpp"
#include "io_test_util.hpp"
#include "tb_records.hpp"

namespace kasmina::io::tb {
namespace {

using test::hex;
using test::TempDir;

std::string bytes_of(std::initializer_list<int> values) {
  std::string s;
  for (const int v : values) s.push_back(static_cast<char>(v));
  return s;
}

std::string run_of(int first, int step) {
  std::string s;
  for (int i = 0; i < 32; ++i) s.push_back(static_cast<char>(first + step * i));
  return s;
}

TEST(Crc32c, PublishedVectors) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0x00000000u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(crc32c(run_of(0, 1)), 0x46DD794Eu);    // 00 01 ... 1f
  EXPECT_EQ(crc32c(run_of(31, -1)), 0x113FDB5Cu);  // 1f 1e ... 00
  EXPECT_EQ(crc32c("a"), 0xC1D04330u);
}

TEST(Crc32c, ExtendContinuesAChecksum) {
  const uint32_t head = crc32c("1234");
  EXPECT_EQ(crc32c_extend(head, "56789", 5), 0xE3069283u);
  EXPECT_EQ(crc32c_extend(0xE3069283u, "", 0), 0xE3069283u);
}

TEST(Crc32c, MaskedAsTensorFlowStoresIt) {
  EXPECT_EQ(masked_crc32c("123456789"), 0xC78AB0E5u);
  EXPECT_EQ(masked_crc32c(""), 0xA282EAD8u);
  EXPECT_EQ(masked_crc32c(std::string(32, '\0')), 0x0FD7FFFAu);
  EXPECT_EQ(masked_crc32c(run_of(0, 1)), 0x951F7892u);
  EXPECT_EQ(mask_crc32c(0u), 0xA282EAD8u);
  EXPECT_EQ(mask_crc32c(0x00008000u), 0xA282EAD9u);  // rotated right by 15: bit 15 -> bit 0
}

TEST(TfRecord, FramesByteForByte) {
  std::string out;
  append_record(out, "");
  EXPECT_EQ(hex(out), "000000000000000029039807d8ea82a2");
  out.clear();
  append_record(out, "abc");
  EXPECT_EQ(hex(out), "0300000000000000b099490e6162636e57f121");
}

TEST(TfRecord, LengthIsLittleEndian64Bit) {
  const std::string data(300, 'x');
  std::string out;
  append_record(out, data);
  ASSERT_EQ(out.size(), 8u + 4u + 300u + 4u);
  EXPECT_EQ(out.substr(0, 8), bytes_of({0x2C, 0x01, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(test::get_le(out, 8, 4), masked_crc32c(out.substr(0, 8)));
  EXPECT_EQ(out.substr(12, 300), data);
  EXPECT_EQ(test::get_le(out, 312, 4), masked_crc32c(data));
}

TEST(RecordFile, WritesWholeRecordsOnlyAtFlush) {
  TempDir dir;
  const std::string path = dir.file("events");
  {
    RecordFile f(path);
    f.append("first");
    f.append(std::string(5000, 'y'));
    EXPECT_EQ(std::filesystem::file_size(path), 0u);  // buffered
    f.flush();
    EXPECT_EQ(test::read_records(path),
              (std::vector<std::string>{"first", std::string(5000, 'y')}));
    f.append("third");
    f.flush();
    f.flush();  // nothing pending: nothing written
    EXPECT_EQ(test::read_records(path).size(), 3u);
    f.append("kept by the destructor");
  }
  const auto records = test::read_records(path);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[2], "third");
  EXPECT_EQ(records[3], "kept by the destructor");
  EXPECT_EQ(std::filesystem::file_size(path), 4u * 16u + 5u + 5000u + 5u + 22u);
}

TEST(RecordFile, NeverOverwritesAFile) {
  TempDir dir;
  const std::string path = dir.file("events");
  test::write_bytes(path, {1, 2, 3});
  EXPECT_THROW(RecordFile f(path), InternalError);
  EXPECT_EQ(test::read_bytes(path), (std::vector<unsigned char>{1, 2, 3}));
  EXPECT_THROW(RecordFile f(dir.file("missing/events")), InternalError);
}

TEST(Histogram, EqualWidthBucketsOverFiniteValues) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> v = {0.0, 0.5, 1.0, 0.75, std::nan(""), inf, -inf};
  const Histogram h = make_histogram(v);
  EXPECT_EQ(h.num, 4.0);
  EXPECT_EQ(h.min, 0.0);
  EXPECT_EQ(h.max, 1.0);
  EXPECT_EQ(h.sum, 2.25);
  EXPECT_EQ(h.sum_squares, 0.25 + 1.0 + 0.5625);
  ASSERT_EQ(h.bucket.size(), static_cast<size_t>(kHistogramBuckets));
  ASSERT_EQ(h.bucket_limit.size(), h.bucket.size());
  EXPECT_EQ(h.bucket_limit.back(), 1.0);
  EXPECT_DOUBLE_EQ(h.bucket_limit[0], 1.0 / 30.0);
  for (size_t i = 1; i < h.bucket_limit.size(); ++i)
    EXPECT_LT(h.bucket_limit[i - 1], h.bucket_limit[i]);
  std::vector<double> expected(30, 0.0);
  expected[0] = 1;   // 0
  expected[15] = 1;  // 0.5 opens bucket 15 ([0.5, 0.5333))
  expected[22] = 1;  // 0.75 in [0.7333, 0.7667)
  expected[29] = 1;  // the maximum, in the last bucket
  EXPECT_EQ(h.bucket, expected);
}

TEST(Histogram, EqualValuesMakeOneBucketAndNoValuesNone) {
  const std::vector<double> same = {2.0, 2.0, 2.0};
  const Histogram h = make_histogram(same);
  EXPECT_EQ(h.bucket, std::vector<double>{3.0});
  EXPECT_EQ(h.bucket_limit, std::vector<double>{2.0});
  EXPECT_EQ(h.min, 2.0);
  EXPECT_EQ(h.max, 2.0);
  const std::vector<double> none = {std::nan("")};
  const Histogram e = make_histogram(none);
  EXPECT_EQ(e.num, 0.0);
  EXPECT_TRUE(e.bucket.empty());
  EXPECT_TRUE(e.bucket_limit.empty());
  EXPECT_EQ(make_histogram(same, 4).bucket.size(), 1u);
  const std::vector<double> two = {1.0, 3.0};
  const Histogram t = make_histogram(two, 2);
  EXPECT_EQ(t.bucket_limit, (std::vector<double>{2.0, 3.0}));
  EXPECT_EQ(t.bucket, (std::vector<double>{1.0, 1.0}));
}

}  // namespace
}  // namespace kasmina::io::tb
