// Philox4x32-10 counter-based random numbers (Salmon et al., SC'11). Pure functions of
// (key, counter), so the CPU reference and the CUDA kernels draw identical streams: dropout
// masks and blueprint initialisation agree bit for bit across devices.
#pragma once
#include <cstdint>

#include "core/hd.hpp"

namespace kasmina {

struct Philox4 {
  uint32_t v[4];
};

KASMINA_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// 4 random 32-bit words for counter (c0..c3) under key (k0, k1).
KASMINA_HD Philox4 philox4x32(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                              uint32_t k1) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(M0, c0, hi0, lo0);
    philox_mulhilo(M1, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += W0;
    k1 += W1;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform float in [0, 1) from 24 high bits (exactly representable; identical on all devices).
KASMINA_HD float philox_uniform(uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

// One uniform draw for element `index` of stream (seed, stream, step).
KASMINA_HD float philox_uniform_at(uint64_t seed, uint32_t stream, uint64_t step, uint64_t index) {
  const Philox4 r = philox4x32(static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32),
                               static_cast<uint32_t>(step), stream, static_cast<uint32_t>(seed),
                               static_cast<uint32_t>(seed >> 32));
  return philox_uniform(r.v[0]);
}

}  // namespace kasmina
