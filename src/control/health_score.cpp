#include "control/health_score.hpp"

namespace kasmina::control {

double capacity_need(const morph::SeedTelemetry& t) {
  if (!(t.samples > 0.0)) return 0.0;
  const double dead = t.dead_fraction;
  const double collapsed = 1.0 / (1.0 + (t.variance > 0.0 ? t.variance : 0.0));
  const double g = static_cast<double>(t.grad_norm_ema);
  const double gradient = g > 0.0 ? g / (1.0 + g) : 0.0;
  return dead + collapsed + gradient;
}

}  // namespace kasmina::control
