// The safetensors writer and reader (io/safetensors.hpp): bytes laid out as the format says,
// a round trip of every dtype kasmina writes (an empty tensor included), an existing file left
// intact when the tensors cannot be written, and a reader that refuses damaged files with a
// message naming the file and the problem.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/safetensors.hpp"
#include "io_test_util.hpp"

namespace kasmina::io {
namespace {

using test::TempDir;

std::vector<SafetensorsEntry> sample_tensors() {
  return {{"w", Tensor::from_vector<float>({1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f}, {2, 3})},
          {"ids", Tensor::from_vector<int32_t>({-1, 7, 2147483647}, {3})},
          {"big", Tensor::from_vector<int64_t>({int64_t{1} << 40}, {1, 1})},
          {"d", Tensor::from_vector<double>({0.1, -1e300}, {2})},
          {"mask", Tensor::from_vector<uint8_t>({0, 255, 3}, {3})},
          {"empty", Tensor::empty({0, 4}, DType::f32)}};
}

uint64_t header_length(const std::string& bytes) {
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  return n;
}

TEST(Safetensors, BytesFollowTheFormat) {
  const std::string bytes = safetensors_bytes(sample_tensors(), {{"format", "test"}});
  const uint64_t n = header_length(bytes);
  EXPECT_EQ(n % 8, 0u);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header["__metadata__"]["format"], "test");
  EXPECT_EQ(header["w"]["dtype"], "F32");
  EXPECT_EQ(header["w"]["shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(header["w"]["data_offsets"], nlohmann::json({0, 24}));
  EXPECT_EQ(header["ids"]["dtype"], "I32");
  EXPECT_EQ(header["ids"]["data_offsets"], nlohmann::json({24, 36}));
  EXPECT_EQ(header["big"]["dtype"], "I64");
  EXPECT_EQ(header["d"]["dtype"], "F64");
  EXPECT_EQ(header["mask"]["dtype"], "U8");
  EXPECT_EQ(header["empty"]["data_offsets"], nlohmann::json({63, 63}));
  EXPECT_EQ(bytes.size(), 8 + n + 63);
  // Little-endian row-major: the second float of w is -2.0 = 0xC0000000.
  const unsigned char* data = reinterpret_cast<const unsigned char*>(bytes.data()) + 8 + n;
  EXPECT_EQ(data[4], 0x00);
  EXPECT_EQ(data[7], 0xC0);
}

TEST(Safetensors, RoundTripIsBitExact) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  const auto tensors = sample_tensors();
  write_safetensors(path, tensors, {{"a", "1"}, {"b", "{\"json\": true}"}});
  const SafetensorsFile f = read_safetensors(path);
  EXPECT_EQ(f.metadata.at("a"), "1");
  EXPECT_EQ(f.metadata.at("b"), "{\"json\": true}");
  ASSERT_EQ(f.tensors.size(), tensors.size());
  for (const auto& e : tensors) {
    const SafetensorsTensor* t = f.find(e.name);
    ASSERT_NE(t, nullptr) << e.name;
    EXPECT_EQ(t->shape, e.tensor.shape()) << e.name;
    EXPECT_EQ(f.bytes(*t), std::string(static_cast<const char*>(e.tensor.raw()), e.tensor.nbytes()))
        << e.name;
  }
  EXPECT_EQ(f.find("nothing"), nullptr);
  // Only the file itself is left in the directory.
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
}

TEST(Safetensors, FailedWriteLeavesTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("t.safetensors");
  write_safetensors(path, sample_tensors(), {});
  const auto before = test::read_bytes(path);
  // A bad tensor (bf16 has no writer here) fails before anything is written.
  EXPECT_THROW(write_safetensors(path, {{"x", Tensor::empty({2}, DType::bf16)}}, {}),
               InternalError);
  EXPECT_THROW(write_safetensors(path, {{"x", Tensor::empty({2})}, {"x", Tensor::empty({2})}}, {}),
               InternalError);
  EXPECT_EQ(test::read_bytes(path), before);
}

// Writes `bytes` as a file and expects the reader to refuse it naming `problem`.
void expect_refused(const std::string& bytes, const std::string& problem) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  test::write_bytes(path, std::vector<unsigned char>(bytes.begin(), bytes.end()));
  try {
    read_safetensors(path);
    ADD_FAILURE() << "accepted a file with " << problem;
  } catch (const UserError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path + ": not a safetensors file: "), std::string::npos) << msg;
    EXPECT_NE(msg.find(problem), std::string::npos) << msg;
  }
}

// A file with `header` (JSON text) and `data_bytes` zero bytes of data.
std::string file_with(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + std::string(data_bytes, '\0');
}

TEST(Safetensors, ReaderRefusesDamagedFiles) {
  const std::string good = safetensors_bytes(sample_tensors(), {});
  expect_refused(good.substr(0, 5), "shorter than its 8-byte header length");
  expect_refused(good.substr(0, 40), "exceeds the file's");
  expect_refused(file_with("{\"w\": ", 0), "header is not JSON");
  expect_refused(file_with("[1, 2]", 0), "header is not a JSON object");
  expect_refused(file_with(R"({"w": {"dtype": "F17", "shape": [1], "data_offsets": [0, 4]}})", 4),
                 "unknown dtype");
  expect_refused(file_with(R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", 8),
                 "do not hold 8 bytes");
  expect_refused(file_with(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", 8),
                 "starts at byte 4, expected 0");
  expect_refused(file_with(R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 9),
                 "the tensors hold 4 bytes but 9 follow the header");
  expect_refused(file_with(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4),
                 "shape [-1]");
  expect_refused(file_with(R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", 4),
                 "tensor 'w' has no 'shape'");
  expect_refused(file_with(R"({"__metadata__": {"a": 1}})", 0), "value 'a' is not a string");
  expect_refused(
      file_with(
          R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})",
          4),
      "larger than the file");
}

}  // namespace
}  // namespace kasmina::io
