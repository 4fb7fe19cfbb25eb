// Element types. float32 is the training type; float64 exists for the CPU reference (finite
// differences in tests); int32/int64/uint8 for labels, counters and masks; bf16 holds the bf16
// copies of `train.precision: bf16` (its element type and dtype_of: core/bf16.hpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace kasmina {

enum class DType : uint8_t { f32, f64, i32, i64, u8, bf16 };
// clang-format off
constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
    case DType::i64: return 8;
    case DType::u8: return 1;
    case DType::bf16: return 2;
  }
  return 0;
}

const char* dtype_name(DType t);

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
// clang-format on
}  // namespace kasmina
