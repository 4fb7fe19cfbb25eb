// Parameter initialisers of the blueprint IR: zeros, ones, constant(v), uniform(b) (U(+-b)) and
// uniform(fan_in[, gain]) (U(+-gain / sqrt(fan_in)), fan_in the parameter's last dimension).
// The uniform draw behind parameter i is morph::init_uniform (Philox), as for the built-ins.
#pragma once
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "core/hd.hpp"

namespace kasmina::ir {

struct Init {
  enum class Kind : int32_t { zeros, ones, constant, uniform, uniform_fan_in };
  Kind kind = Kind::zeros;
  double a = 0.0;  // constant: the value; uniform: the bound; uniform_fan_in: the gain
  bool operator==(const Init&) const = default;
};

// nullopt when `text` is none of the forms above.
std::optional<Init> parse_init(const std::string& text);
// The canonical text ("uniform(fan_in, 0.1)"), which parse_init reads back.
std::string init_text(const Init& init);
// A number as "%.17g" (read back exactly), for the canonical text.
std::string exact_number_text(double v);
// The initial value from the uniform draw u in [-1, 1) and the parameter's fan_in.
float init_value(const Init& init, float u, int64_t fan_in);
// The same from the initialiser's kind (Init::Kind as an integer) and its constant as a float:
// the one definition the host and the CUDA lifecycle kernel share. The built-ins' rounding:
// (gain * u) / sqrt(fan_in) in float (gain 1: exactly u / sqrt(fan_in)).
KASMINA_HD float init_value_of(int32_t kind, float a, float u, int32_t fan_in) {
  switch (kind) {
    case 1:  // ones
      return 1.0f;
    case 2:  // constant
      return a;
    case 3:  // uniform
      return a * u;
    case 4:  // uniform_fan_in
      return a * u / sqrtf(static_cast<float>(fan_in));
    default:  // zeros
      return 0.0f;
  }
}
inline constexpr const char* kInitForms =
    "zeros, ones, constant(V), uniform(B), uniform(fan_in), uniform(fan_in, GAIN)";

}  // namespace kasmina::ir
