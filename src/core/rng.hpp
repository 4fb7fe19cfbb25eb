// Host-side deterministic random numbers for parameter initialisation and data order.
// Implemented by hand (splitmix64 + xoshiro256**, Box-Muller) so that the streams do not depend
// on the standard library's distribution implementations.
#pragma once
#include <cstdint>
#include <vector>

namespace kasmina {

uint64_t splitmix64(uint64_t& state);
// Mixes a seed with a label ("data.shuffle", "init.layer3", ...) into an independent seed.
uint64_t derive_seed(uint64_t seed, const char* label, uint64_t index = 0);

class Rng {
 public:
  explicit Rng(uint64_t seed);
  uint64_t next_u64();
  double uniform();                      // [0, 1)
  double uniform(double lo, double hi);  // [lo, hi)
  double normal();                       // N(0, 1)
  uint64_t below(uint64_t n);            // uniform integer in [0, n), unbiased
  // A uniformly random permutation of 0..n-1 (Fisher-Yates).
  std::vector<int32_t> permutation(int64_t n);

  struct State {
    uint64_t s[4];
    bool has_spare;
    double spare;
  };
  State state() const;
  void set_state(const State& st);

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace kasmina
