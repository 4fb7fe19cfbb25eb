// How much a seed's chunk looks like it needs capacity, from its telemetry. Three terms, each in
// [0, 1], summed (range [0, 3]; higher = worse health = more need):
//   dead      = dead_fraction                       (activations with |x| < dead_eps)
//   collapsed = 1 / (1 + variance)                  (a chunk with little variance carries little)
//   gradient  = g / (1 + g), g = grad_norm_ema      (0 when no gradient was measured, g < 0)
// A seed without samples in the telemetry window has need 0 (nothing is known about it).
#pragma once
#include "nn/kasmina_layer.hpp"

namespace kasmina::control {

double capacity_need(const morph::SeedTelemetry& t);

}  // namespace kasmina::control
