#include "nn/width_score.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/gelu.hpp"

namespace kasmina {

namespace {

// ||gᵀ u|| / rms(u) for one unit's outputs u [batch]; false when the unit is silent (u = 0).
bool outgoing_norm(const WidthScoreInputs& in, const std::vector<double>& u, double* out) {
  double uu = 0.0;
  for (int64_t b = 0; b < in.batch; ++b) uu += u[b] * u[b];
  if (!(uu > 0.0)) return false;
  double sq = 0.0;
  for (int64_t o = 0; o < in.next_out; ++o) {
    double s = 0.0;
    for (int64_t b = 0; b < in.batch; ++b) s += in.g[b * in.next_out + o] * u[b];
    sq += s * s;
  }
  *out = std::sqrt(sq) / std::sqrt(uu / static_cast<double>(in.batch));
  return true;
}

double activate(ops::Activation act, double z) {
  switch (act) {
    case ops::Activation::relu:
      return z > 0.0 ? z : 0.0;
    case ops::Activation::gelu:
      return gelu_value(z);
    case ops::Activation::none:
      break;
  }
  return z;
}

}  // namespace

WidthScore width_score(const WidthScoreInputs& in) {
  const int64_t group = static_cast<int64_t>(in.b_new.size());
  KASMINA_CHECK(static_cast<int64_t>(in.a.size()) == in.batch * in.in &&
                    static_cast<int64_t>(in.h.size()) == in.batch * in.width &&
                    static_cast<int64_t>(in.g.size()) == in.batch * in.next_out &&
                    static_cast<int64_t>(in.w_new.size()) == group * in.in && in.active >= 1 &&
                    in.active <= in.width,
                "width_score: inputs do not match their shapes");
  WidthScore s;
  std::vector<double> u(static_cast<size_t>(in.batch));
  int64_t active = 0, fresh = 0;
  for (int64_t j = 0; j < in.active; ++j) {
    for (int64_t b = 0; b < in.batch; ++b) u[b] = in.h[b * in.width + j];
    double v = 0.0;
    if (outgoing_norm(in, u, &v)) s.active_units += v, ++active;
  }
  for (int64_t k = 0; k < group; ++k) {
    for (int64_t b = 0; b < in.batch; ++b) {
      double z = in.b_new[k];
      for (int64_t i = 0; i < in.in; ++i) z += in.a[b * in.in + i] * in.w_new[k * in.in + i];
      u[b] = activate(in.act, z);
    }
    double v = 0.0;
    if (outgoing_norm(in, u, &v)) s.new_units += v, ++fresh;
  }
  if (active > 0) s.active_units /= static_cast<double>(active);
  if (fresh > 0) s.new_units /= static_cast<double>(fresh);
  s.valid = fresh > 0 && active > 0 && s.active_units > 0.0;
  s.ratio = s.valid ? s.new_units / s.active_units : 0.0;
  return s;
}

}  // namespace kasmina
