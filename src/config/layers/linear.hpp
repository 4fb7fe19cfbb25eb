// The parameters of `type: linear` (keys and rules: linear.cpp).
#pragma once
#include <cstdint>
#include <string>

namespace kasmina {

struct LinearConfig {
  static constexpr const char* kName = "LinearConfig";
  int64_t out = 0;  // output width (required)
  int64_t in = 0;   // optional declared input width (0 = inferred); checked
  bool bias = true;
  // Width seeds (nn/width_grow_linear.hpp): grow_from > 0 starts with that many active units and
  // activates the rest in grow_epochs equal steps at the start of epochs grow_first_epoch, ...;
  // grow_init: preserving (zero outgoing weights) | naive (random outgoing weights).
  // grow_schedule: fixed (the epochs above) | controller (the heuristic controller decides when
  // each of the grow_epochs steps happens; grow_first_epoch is then unused).
  int64_t grow_from = 0;
  int64_t grow_first_epoch = 1;
  int64_t grow_epochs = 3;
  std::string grow_init = "preserving";
  std::string grow_schedule = "fixed";

  bool operator==(const LinearConfig&) const = default;
};

}  // namespace kasmina
