// SGD (PyTorch semantics: momentum without dampening, optional Nesterov, L2 weight decay added
// to the gradient), one element at a time, written once for the CPU twin and the CUDA kernel of
// sgd_step. In the parameter dtype T:
//   g' = g + wd p
//   m  = g'            on the first step,   m = momentum m + g'   afterwards
//   d  = nesterov ? g' + momentum m : m
//   p  = p - lr d
// The order of the operations is part of the contract (a twin and a kernel round the same way).
// On the first step m is not read (its buffer may be uninitialised).
#pragma once
#include "core/hd.hpp"

namespace kasmina {

// Analytic FLOPs of sgd_update per parameter (training-FLOP counts): decay 2, momentum 2, the
// Nesterov term 2, the step 2 (the first step's momentum counted like the others).
constexpr int sgd_flops_per_parameter(bool nesterov) {
  return nesterov ? 8 : 6;
}

template <class T>
KASMINA_HD void sgd_update(T lr, T weight_decay, T momentum, bool first_step, bool nesterov, T& p,
                           T g, T& m) {
  const T grad = g + weight_decay * p;
  const T buf = first_step ? grad : momentum * m + grad;
  m = buf;
  const T d = nesterov ? grad + momentum * buf : buf;
  p = p - lr * d;
}

}  // namespace kasmina
