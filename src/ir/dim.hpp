// A size in the blueprint IR: a linear form over the layer's blueprint shape,
// n = k0 + kC * C + kh * h + kr * r (C the seed's chunk, h `hidden`, r `rank`), so that shapes
// are inferred and compared once for every chunk width and evaluated per layer.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "morph/morph_config.hpp"

namespace kasmina::ir {

struct Dim {
  // Coefficients of 1, C, h, r.
  std::array<int64_t, 4> k{0, 0, 0, 0};

  static Dim constant(int64_t n) { return Dim{{n, 0, 0, 0}}; }
  static Dim chunk() { return Dim{{0, 1, 0, 0}}; }

  Dim operator+(const Dim& o) const {
    Dim d;
    for (int i = 0; i < 4; ++i) d.k[i] = k[i] + o.k[i];
    return d;
  }
  Dim operator-(const Dim& o) const {
    Dim d;
    for (int i = 0; i < 4; ++i) d.k[i] = k[i] - o.k[i];
    return d;
  }
  bool operator==(const Dim&) const = default;
  bool is_constant(int64_t n) const { return k[0] == n && k[1] == 0 && k[2] == 0 && k[3] == 0; }
  // The value for a layer's shape.
  int64_t eval(const morph::BlueprintShape& sh) const {
    return k[0] + k[1] * sh.chunk + k[2] * sh.hidden + k[3] * sh.rank;
  }
  // "C", "h", "2*h+C", "16".
  std::string text() const;
};

// "16", "C", "h", "r" or "K*S" (K a positive integer, S a symbol); nullopt otherwise.
std::optional<Dim> parse_dim(std::string_view text);

}  // namespace kasmina::ir
