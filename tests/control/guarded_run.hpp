// A training run's loss accumulator guarded step by step (the loss guard tests and the op
// table's loss_guard entry), with one-element readers.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.hpp"
#include "ops/guard/loss_guard.hpp"

namespace kasmina::ops {

inline double read_f64(const Tensor& t) {
  return t.to_vector<double>()[0];
}
inline int64_t read_i64(const Tensor& t) {
  return t.to_vector<int64_t>()[0];
}
inline int32_t read_i32(const Tensor& t) {
  return t.to_vector<int32_t>()[0];
}

// A training run's loss accumulator on `dev`, guarded step by step.
struct GuardedRun {
  GuardedRun(Device d, LossGuardParams p, int64_t batch, int64_t classes)
      : dev(d), params(p), batch(batch), state(make_loss_guard_state(d)) {
    loss_sum = Tensor::zeros({1}, DType::f64, dev);
    dlogits = Tensor::empty({batch, classes}, DType::f32, dev);
  }
  // One step whose mean loss is `mean` (what softmax_xent adds), with fresh dlogits.
  int32_t step(double mean, const std::vector<float>& grad) {
    const double sum = read_f64(loss_sum) + mean * static_cast<double>(batch);
    loss_sum.copy_from(Tensor::from_vector<double>({sum}, {1}));
    dlogits.copy_from(Tensor::from_vector(grad, dlogits.shape()));
    loss_guard(loss_sum, batch, params, state, &dlogits);
    return read_i32(state.flag);
  }
  Device dev;
  LossGuardParams params;
  int64_t batch;
  LossGuardState state;
  Tensor loss_sum, dlogits;
};

}  // namespace kasmina::ops
