// Reading TFRecord files back in the tests: the records of a file, each checked against its
// masked CRCs (a record whose length or data CRC does not match ends the list, as TensorBoard's
// readers stop there), and bytes as hexadecimal text.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/tensorboard/crc32c.hpp"
#include "io_test_util.hpp"

namespace kasmina::io::test {

// Lower-case hexadecimal digits of `bytes`.
inline std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out += digits[(static_cast<unsigned char>(c) >> 4) & 0xF];
    out += digits[static_cast<unsigned char>(c) & 0xF];
  }
  return out;
}

inline uint64_t get_le(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

inline std::vector<std::string> read_records(const std::string& path) {
  const auto raw = read_bytes(path);
  const std::string s(raw.begin(), raw.end());
  std::vector<std::string> out;
  size_t at = 0;
  while (at + 12 <= s.size()) {
    const std::string header = s.substr(at, 8);
    if (get_le(s, at + 8, 4) != tb::masked_crc32c(header)) break;
    const uint64_t n = get_le(s, at, 8);
    if (at + 12 + n + 4 > s.size()) break;
    const std::string data = s.substr(at + 12, n);
    if (get_le(s, at + 12 + n, 4) != tb::masked_crc32c(data)) break;
    out.push_back(data);
    at += 12 + n + 4;
  }
  return out;
}

// One top-level field of a protobuf message: varints as `value`, length-delimited fields as
// `bytes` (64- and 32-bit fields as their raw bytes).
struct ProtoField {
  int number = 0;
  uint64_t value = 0;
  std::string bytes;
};

inline uint64_t get_varint(const std::string& s, size_t& at) {
  uint64_t v = 0;
  for (int shift = 0; at < s.size(); shift += 7) {
    const auto b = static_cast<unsigned char>(s[at++]);
    v |= static_cast<uint64_t>(b & 0x7F) << shift;
    if (!(b & 0x80)) break;
  }
  return v;
}

// The fields of a serialized message, in order (enough of the wire format to read events back).
inline std::vector<ProtoField> proto_fields(const std::string& m) {
  std::vector<ProtoField> out;
  size_t at = 0;
  while (at < m.size()) {
    const uint64_t key = get_varint(m, at);
    ProtoField f;
    f.number = static_cast<int>(key >> 3);
    const int wire = static_cast<int>(key & 7);
    if (wire == 0) {
      f.value = get_varint(m, at);
    } else {
      const size_t n = wire == 1 ? 8 : wire == 5 ? 4 : get_varint(m, at);
      f.bytes = m.substr(at, n);
      at += n;
    }
    out.push_back(f);
  }
  return out;
}

// The first field `number` of a message (an empty field when there is none).
inline ProtoField proto_field(const std::string& m, int number) {
  for (const ProtoField& f : proto_fields(m))
    if (f.number == number) return f;
  return {};
}

// Event.step of a record, and the tag of its summary ("" for records without one).
inline int64_t event_step(const std::string& record) {
  return static_cast<int64_t>(proto_field(record, 2).value);
}
inline std::string event_tag(const std::string& record) {
  const std::string value = proto_field(proto_field(record, 5).bytes, 1).bytes;
  return proto_field(value, 1).bytes;
}

}  // namespace kasmina::io::test
