// CPU twin of the fused softmax cross-entropy: loss, accuracy count and logit gradient in one
// pass per row. Each row subtracts its maximum before exponentiating; the exponentials, their
// sum and the row's loss log(Σ exp(z - max)) - (z_label - max) are computed in double (the
// exponentials are stored in the output dtype between the loss and gradient passes), and the
// losses are added to loss_sum in row order.
#include <cmath>

#include "ops/backend_ops.hpp"
#include "ops/cpu/cpu_common.hpp"

namespace kasmina::ops::cpu {

void softmax_xent(const Tensor& logits, const Tensor& labels, float grad_scale, Tensor* dlogits,
                  Tensor& loss_sum, Tensor* correct) {
  constexpr const char* op = "softmax_xent";
  int64_t rows = 0, classes = 0;  // std::tie: clang 14 lets no lambda capture a structured binding
  std::tie(rows, classes) = matrix_dims(op, "logits", logits);
  KASMINA_CHECK(classes > 0, std::string(op) + ": logits have no classes");
  check_tensor(op, "labels", labels, DType::i32, {rows});
  check_tensor(op, "loss_sum", loss_sum, DType::f64, {1});
  if (correct) check_tensor(op, "correct", *correct, DType::i64, {1});
  if (dlogits) check_tensor(op, "dlogits", *dlogits, logits.dtype(), {rows, classes});
  const int32_t* label = labels.data<int32_t>();
  for (int64_t b = 0; b < rows; ++b) {
    KASMINA_CHECK(label[b] >= 0 && label[b] < classes,
                  std::string(op) + ": label " + std::to_string(label[b]) + " of row " +
                      std::to_string(b) + " outside [0, " + std::to_string(classes) + ")");
  }
  dispatch_float(op, logits.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const double scale = static_cast<double>(grad_scale);
    double loss = 0.0;
    int64_t hits = 0;
    for (int64_t b = 0; b < rows; ++b) {
      const T* z = logits.data<T>() + b * classes;
      int64_t argmax = 0;
      for (int64_t c = 1; c < classes; ++c) {
        if (z[c] > z[argmax]) argmax = c;
      }
      const int64_t y = label[b];
      const double zmax = static_cast<double>(z[argmax]);
      const double zy = static_cast<double>(z[y]);  // read before dlogits (may alias) is written
      // With a gradient to write, the exponentials are kept in dlogits between the two passes.
      T* d = dlogits ? dlogits->data<T>() + b * classes : nullptr;
      double denom = 0.0;
      for (int64_t c = 0; c < classes; ++c) {
        const double e = std::exp(static_cast<double>(z[c]) - zmax);
        denom += e;
        if (d) d[c] = static_cast<T>(e);
      }
      loss += std::log(denom) - (zy - zmax);
      hits += argmax == y ? 1 : 0;
      if (d) {
        const double inv = 1.0 / denom;
        for (int64_t c = 0; c < classes; ++c) {
          const double prob = static_cast<double>(d[c]) * inv;
          d[c] = static_cast<T>((prob - (c == y ? 1.0 : 0.0)) * scale);
        }
      }
    }
    loss_sum.data<double>()[0] += loss;
    if (correct) correct->data<int64_t>()[0] += hits;
  });
}

}  // namespace kasmina::ops::cpu
