// The records of a TensorBoard event file byte for byte (the expected bytes are what TensorBoard's
// own protobuf definitions serialize for the same messages; the comments decode them), and the
// event files TensorBoardWriter makes: their names, order and first records.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "io/tensorboard/events.hpp"
#include "io/tensorboard/writer.hpp"
#include "io_test_util.hpp"
#include "tb_records.hpp"

namespace kasmina::io::tb {
namespace {

namespace fs = std::filesystem;
using test::hex;
using test::TempDir;

// 09 + 8 bytes: Event.wall_time (field 1, 64-bit) = 1.5
constexpr const char* kWall = "09000000000000f83f";

TEST(TensorBoardEvents, ScalarWireFormat) {
  // 10 07: step (field 2, varint) = 7; 2a 0a: summary (field 5), 10 bytes; 0a 08: Summary.value
  // (field 1), 8 bytes; 0a 01 61: Value.tag "a"; 15 00000040: Value.simple_value (field 2,
  // 32-bit) = 2.0f
  EXPECT_EQ(hex(scalar_event(1.5, 7, "a", 2.0f)),
            std::string(kWall) + "1007" + "2a0a" + "0a08" + "0a0161" + "1500000040");
}

TEST(TensorBoardEvents, FileVersionAndSessionStart) {
  // 1a 0d "brain.Event:2": file_version (field 3); step 0 is not written (proto3 default)
  EXPECT_EQ(hex(file_version_event(1.5)), std::string(kWall) + "1a0d627261696e2e4576656e743a32");
  // 10 03: step 3; 3a 02: session_log (field 7), 2 bytes; 08 01: status = START
  EXPECT_EQ(hex(session_start_event(1.5, 3)), std::string(kWall) + "1003" + "3a02" + "0801");
}

TEST(TensorBoardEvents, TextAsTheTextPluginReadsIt) {
  // Value: 0a 01 74 tag "t"; 42 08: tensor (field 8) = {08 07 dtype DT_STRING, 12 00 shape [],
  // 42 02 "hi" string_val}; 4a 08: metadata (field 9) = {0a 06 plugin_data {0a 04 "text"}}
  EXPECT_EQ(hex(text_event(1.5, 4, "t", "hi")), std::string(kWall) + "1004" + "2a19" + "0a17" +
                                                    "0a0174" + "42080807120042026869" +
                                                    "4a080a060a0474657874");
}

TEST(TensorBoardEvents, HistogramWireFormat) {
  Histogram h;
  h.min = 1;
  h.max = 3;
  h.num = 2;
  h.sum = 4;
  h.sum_squares = 10;
  h.bucket_limit = {2, 3};
  h.bucket = {1, 1};
  // Value: 0a 01 68 tag "h"; 2a 51: histo (field 5): 09 min, 11 max, 19 num, 21 sum,
  // 29 sum_squares (64-bit each), 32 10 bucket_limit packed (2 doubles), 3a 10 bucket packed
  EXPECT_EQ(hex(histogram_event(1.5, 5, "h", h)),
            std::string(kWall) + "1005" + "2a58" + "0a56" + "0a0168" + "2a51" +
                "09000000000000f03f" + "110000000000000840" + "190000000000000040" +
                "210000000000001040" + "290000000000002440" + "3210" +
                "00000000000000400000000000000840" + "3a10" + "000000000000f03f000000000000f03f");
}

std::vector<std::string> event_files(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(TensorBoardWriter, NewFileStartsWithTheFileVersion) {
  TempDir tmp;
  const std::string dir = tmp.file("run/tensorboard");  // created with its parent
  {
    TensorBoardWriter w(dir);
    w.scalar("loss", 1, 0.5);
    EXPECT_EQ(fs::file_size(w.path()), 0u);  // nothing before the first flush
    w.flush();
    const auto records = test::read_records(w.path());
    ASSERT_EQ(records.size(), 3u);
    EXPECT_EQ(records[0].substr(0, 1), "\x09");
    EXPECT_EQ(hex(records[0].substr(9)), "1a0d627261696e2e4576656e743a32");
    EXPECT_EQ(hex(records[1].substr(9)), "3a020801");  // step 0, SessionLog START
    EXPECT_EQ(hex(records[2].substr(9)),
              "1001"
              "2a0d"
              "0a0b"
              "0a046c6f7373"
              "150000003f");
  }
  const auto names = event_files(dir);
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0].rfind("events.out.tfevents.", 0), 0u);
  const std::string stamp = names[0].substr(20, 11);
  EXPECT_TRUE(std::all_of(stamp.begin(), stamp.end() - 1, ::isdigit)) << names[0];
  EXPECT_EQ(stamp.back(), '.');
}

TEST(TensorBoardWriter, RestartFileSortsLastAndStartsASession) {
  TempDir tmp;
  const std::string dir = tmp.path();
  test::write_bytes(tmp.file("events.out.tfevents.9999999990.host.1"), {});
  TensorBoardWriter w(dir, 41);
  w.flush();
  const auto names = event_files(dir);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[0], "events.out.tfevents.9999999990.host.1");
  EXPECT_EQ(names[1].rfind("events.out.tfevents.9999999991.", 0), 0u) << names[1];
  const auto records = test::read_records(w.path());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(hex(records[1].substr(9)),
            "1029"
            "3a020801");  // step 41, SessionLog START
}

}  // namespace
}  // namespace kasmina::io::tb
