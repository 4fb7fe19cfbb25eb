// bfloat16 storage: the upper 16 bits of an IEEE float32 (1 sign bit, 8 exponent bits, 7
// fraction bits), so it has float32's range and 8 significant bits (unit roundoff 2^-8).
// kasmina computes in float32 and only *stores* bf16; the conversions below are the one
// definition of that storage, shared by the CUDA kernels and their CPU twins (so the CPU
// emulation rounds bit for bit where the GPU stores bf16):
//   float -> bf16  round to nearest, ties to even, on the bit pattern (exact for subnormals:
//                  float32 and bf16 share the exponent field, so a float32 subnormal rounds to
//                  the nearest bf16 subnormal, and no flush to zero happens); overflow past the
//                  largest finite bf16 (0x7F7F, 3.3895e38) rounds to ±Inf; ±Inf stay ±Inf;
//                  a NaN stays a NaN of the same sign and top payload bits, made quiet (bit 6
//                  of the bf16 fraction set), so truncation can never turn a NaN into an Inf.
//   bf16 -> float  exact (the low 16 bits are zero).
#pragma once
#include <cstdint>
#include <cstring>

#include "core/dtype.hpp"
#include "core/hd.hpp"

namespace kasmina {

// The bits of one value as another type of the same size (memcpy: defined behaviour, and
// supported in CUDA device code).
template <class To, class From>
KASMINA_HD To bit_copy(const From& v) {
  static_assert(sizeof(To) == sizeof(From), "bit_copy: sizes differ");
  To out;
  memcpy(&out, &v, sizeof(To));
  return out;
}

// float32 -> bf16 bits, round to nearest, ties to even.
KASMINA_HD uint16_t float_to_bf16_bits(float f) {
  const uint32_t u = bit_copy<uint32_t>(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) {  // NaN: keep sign and payload top, set the quiet bit
    return static_cast<uint16_t>((u >> 16) | 0x0040u);
  }
  // Adding 0x7FFF plus the lowest kept bit rounds half-way cases to the even neighbour; a carry
  // out of the fraction bumps the exponent (the largest finite values round up to Inf).
  const uint32_t lsb = (u >> 16) & 1u;
  return static_cast<uint16_t>((u + 0x7FFFu + lsb) >> 16);
}

KASMINA_HD float bf16_bits_to_float(uint16_t b) {
  return bit_copy<float>(static_cast<uint32_t>(b) << 16);
}

// Two bf16 in one 32-bit word, in memory order (little-endian: the first in the low half), as
// the vectorised kernels load and store them: each half widened, and two bit patterns packed.
KASMINA_HD float bf16x2_low(uint32_t w) {
  return bit_copy<float>(w << 16);
}
KASMINA_HD float bf16x2_high(uint32_t w) {
  return bit_copy<float>(w & 0xFFFF0000u);
}
KASMINA_HD uint32_t bf16x2_pack(uint16_t low, uint16_t high) {
  return static_cast<uint32_t>(low) | (static_cast<uint32_t>(high) << 16);
}

// The value of f after one bf16 store and load (what the CPU emulation computes with).
KASMINA_HD float round_to_bf16(float f) {
  return bf16_bits_to_float(float_to_bf16_bits(f));
}

// One bf16 element in memory (a tensor of DType::bf16 holds these). A plain struct, so host
// code cannot mix it into arithmetic by accident: convert with to_float()/from_float().
struct bf16 {
  uint16_t bits = 0;

  static KASMINA_HD bf16 from_float(float f) {
    bf16 b;
    b.bits = float_to_bf16_bits(f);
    return b;
  }
  KASMINA_HD float to_float() const { return bf16_bits_to_float(bits); }
  friend bool operator==(bf16 a, bf16 b) { return a.bits == b.bits; }
};
static_assert(sizeof(bf16) == 2, "bf16 is two bytes");

template <>
struct dtype_of<bf16> {
  static constexpr DType value = DType::bf16;
};

}  // namespace kasmina
