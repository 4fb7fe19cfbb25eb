// AdamW for blueprint parameters (PyTorch semantics, decoupled weight decay), one element at a
// time, shared by the CPU twin and the CUDA kernel of morph_optimizer_step:
//   p -= lr*wd*p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
#pragma once
#include <cmath>
#include <cstdint>

#include "core/hd.hpp"
#include "morph/morph_config.hpp"
#include "morph/seed_state.hpp"
#include "morph/stage.hpp"

namespace kasmina::morph {

struct AdamWStepConstants {
  float bias1 = 1.0f;  // 1 - b1^t
  float bias2 = 1.0f;  // 1 - b2^t
};

KASMINA_HD AdamWStepConstants adamw_constants(const BlueprintOptimizer& h, int32_t t) {
  AdamWStepConstants k;
  k.bias1 = 1.0f - powf(h.beta1, static_cast<float>(t));
  k.bias2 = 1.0f - powf(h.beta2, static_cast<float>(t));
  return k;
}

KASMINA_HD float adamw_sqrt(float x) {
  return sqrtf(x);
}
KASMINA_HD double adamw_sqrt(double x) {
  return sqrt(x);
}

template <class T>
KASMINA_HD void adamw_update(const BlueprintOptimizer& h, const AdamWStepConstants& k, T& p, T& m,
                             T& v, T g) {
  p -= static_cast<T>(h.lr * h.weight_decay) * p;
  m = static_cast<T>(h.beta1) * m + static_cast<T>(1.0f - h.beta1) * g;
  v = static_cast<T>(h.beta2) * v + static_cast<T>(1.0f - h.beta2) * g * g;
  const T mhat = m / static_cast<T>(k.bias1);
  const T vhat = v / static_cast<T>(k.bias2);
  p -= static_cast<T>(h.lr) * mhat / (adamw_sqrt(vhat) + static_cast<T>(h.eps));
}

// A seed's blueprint is stepped when its stage trains and its last gradient was finite.
KASMINA_HD bool seed_takes_optimizer_step(const SeedStateView& st, int32_t s,
                                          const float* grad_norm) {
  return stage_trains(st.stage[s]) && st.slot[s] >= 0 && finite_value(grad_norm[s]);
}

}  // namespace kasmina::morph
