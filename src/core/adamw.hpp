// AdamW (PyTorch semantics, decoupled weight decay), one element at a time, written once for
// every caller: the model optimizer's CPU twin and CUDA kernel (ops adamw_step) and the per-seed
// blueprint optimizer's CPU twin and kernel (morph/morph_adamw.hpp). In the parameter dtype T:
//   p' = p - (lr wd) p
//   m  = b1 m + (1 - b1) g
//   v  = b2 v + (1 - b2) g g
//   p  = p' - (lr (m / bc1)) / (sqrt(v / bc2) + eps)      bc = 1 - b^t
// The order of the operations is part of the contract: a twin and a kernel that both call
// adamw_update round the same way. The callers form the coefficients differently and each keeps
// its rounding: the model optimizer computes lr wd and 1 - b in T and the bias corrections in
// double (adamw_coefficients below); the blueprint optimizer computes every coefficient in float
// (morph/morph_adamw.hpp).
#pragma once
#include <cmath>

#include "core/hd.hpp"

namespace kasmina {

// Analytic FLOPs of adamw_update per parameter (training-FLOP counts): decay 2, first moment 3,
// second moment 4, the step 7 (two bias corrections, sqrt, + eps, division, product, subtraction).
inline constexpr int kAdamWFlopsPerParameter = 16;

template <class T>
struct AdamWCoefficients {
  T lr;                      // learning rate
  T lr_wd;                   // lr * weight decay
  T beta1, one_minus_beta1;  // b1, 1 - b1
  T beta2, one_minus_beta2;  // b2, 1 - b2
  T bias1, bias2;            // 1 - b1^t, 1 - b2^t
  T eps;
};

KASMINA_HD float adamw_sqrt(float x) {
  return sqrtf(x);
}
KASMINA_HD double adamw_sqrt(double x) {
  return sqrt(x);
}

// One element's step: updates p, m and v in place from the gradient g. The coefficients come by
// value and every input is read before the first store, so a loop over arrays stays
// vectorisable (no store can alias a coefficient).
template <class T>
KASMINA_HD void adamw_update(const AdamWCoefficients<T> c, T& p, T g, T& m, T& v) {
  const T decayed = p - c.lr_wd * p;
  const T mi = c.beta1 * m + c.one_minus_beta1 * g;
  const T vi = c.beta2 * v + c.one_minus_beta2 * g * g;
  m = mi;
  v = vi;
  p = decayed - c.lr * (mi / c.bias1) / (adamw_sqrt(vi / c.bias2) + c.eps);
}

// The model optimizer's coefficients for step t (t = steps taken + 1): lr, wd, b1, b2 and eps
// rounded to T; lr wd and 1 - b in T; the bias corrections 1 - b^t in double, rounded to T.
template <class T>
KASMINA_HD AdamWCoefficients<T> adamw_coefficients(float lr, float weight_decay, float beta1,
                                                   float beta2, float eps, double t) {
  AdamWCoefficients<T> c;
  c.lr = static_cast<T>(lr);
  c.lr_wd = c.lr * static_cast<T>(weight_decay);
  c.beta1 = static_cast<T>(beta1);
  c.one_minus_beta1 = T(1) - c.beta1;
  c.beta2 = static_cast<T>(beta2);
  c.one_minus_beta2 = T(1) - c.beta2;
  c.eps = static_cast<T>(eps);
  c.bias1 = static_cast<T>(1.0 - pow(static_cast<double>(beta1), t));
  c.bias2 = static_cast<T>(1.0 - pow(static_cast<double>(beta2), t));
  return c;
}

}  // namespace kasmina
