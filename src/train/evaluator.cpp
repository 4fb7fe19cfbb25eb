#include "train/evaluator.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "ops/ops.hpp"

namespace kasmina {

Evaluator::Evaluator(const DeviceData& data, Model& model, const StepContext& ctx,
                     int64_t eval_batch, int64_t features, Device dev, ops::Communicator* host)
    : data_(data), model_(model), ctx_(ctx), eval_batch_(eval_batch), host_(host) {
  zero_cursor_ = Tensor::zeros({1}, DType::i64, dev);
  x_ = Tensor::empty({eval_batch_, features}, DType::f32, dev);
  y_ = Tensor::empty({eval_batch_}, DType::i32, dev);
  loss_sum_ = Tensor::zeros({1}, DType::f64, dev);
  correct_ = Tensor::zeros({1}, DType::i64, dev);
}

namespace {

// Counts each row's prediction (its first maximal logit) against its label.
void count_predictions(const Tensor& logits, const Tensor& labels, ConfusionMatrix& m) {
  const std::vector<float> z = logits.to_vector<float>();
  const std::vector<int32_t> y = labels.to_vector<int32_t>();
  const int64_t classes = m.classes;
  for (size_t b = 0; b < y.size(); ++b) {
    const float* row = z.data() + b * static_cast<size_t>(classes);
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (row[c] > row[best]) best = c;
    ++m.counts[static_cast<size_t>(y[b] * classes + best)];
  }
}

// -log softmax(row)[label] in double.
double row_loss(const float* row, int64_t classes, int32_t label) {
  double m = row[0];
  for (int64_t c = 1; c < classes; ++c) m = std::max(m, static_cast<double>(row[c]));
  double s = 0.0;
  for (int64_t c = 0; c < classes; ++c) s += std::exp(static_cast<double>(row[c]) - m);
  return m + std::log(s) - static_cast<double>(row[label]);
}

}  // namespace

const DeviceSplit& Evaluator::split_named(const std::string& split) const {
  return split == "test" ? data_.test : split == "validation" ? data_.validation : data_.train;
}

void Evaluator::forward_share(const DeviceSplit& s,
                              const std::function<void(const Tensor&, const Tensor&)>& fn) {
  // This rank's share [lo, hi) of the split (the whole split with one rank).
  const int world = host_ ? host_->world_size() : 1, rank = host_ ? host_->rank() : 0;
  const int64_t lo = s.size * rank / world, hi = s.size * (rank + 1) / world;
  for (int64_t begin = lo; begin < hi; begin += eval_batch_) {
    const int64_t n = std::min(eval_batch_, hi - begin);
    Tensor x = x_.rows(0, n), y = y_.rows(0, n);
    ops::gather_batch(s.images, s.labels, s.identity_perm.rows(begin, begin + n), zero_cursor_,
                      s.scale, s.shift, x, y);
    const Tensor logits = model_.forward(x, Mode::eval, ctx_);
    KASMINA_CHECK(logits.dim(1) == model_.out_width(), "eval logits width");
    fn(logits, y);
  }
}

std::vector<double> Evaluator::sample_losses(const std::string& split) {
  const int64_t classes = model_.out_width();
  std::vector<double> out;
  forward_share(split_named(split), [&](const Tensor& logits, const Tensor& y) {
    const std::vector<float> z = logits.to_vector<float>();
    const std::vector<int32_t> labels = y.to_vector<int32_t>();
    for (size_t b = 0; b < labels.size(); ++b)
      out.push_back(row_loss(z.data() + b * static_cast<size_t>(classes), classes, labels[b]));
  });
  return out;
}

void Evaluator::sum_over_ranks(std::vector<double>& v) {
  if (!host_ || host_->world_size() <= 1) return;
  Tensor t = Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
  host_->all_reduce_sum(t);
  v = t.to_vector<double>();
}

EvalResult Evaluator::evaluate(const std::string& split, int64_t max_batches,
                               ConfusionMatrix* confusion) {
  if (confusion) {
    const int64_t k = model_.out_width();
    *confusion = {k, std::vector<int64_t>(static_cast<size_t>(k * k))};
  }
  const DeviceSplit& full = split_named(split);
  DeviceSplit s = full;
  if (max_batches > 0) s.size = std::min(full.size, max_batches * eval_batch_);
  EvalResult r;
  r.samples = s.size;
  if (s.size == 0) return r;
  ops::fill(loss_sum_, 0.0);
  ops::fill(correct_, 0.0);
  forward_share(s, [&](const Tensor& logits, const Tensor& y) {
    ops::softmax_xent(logits, y, 1.0f, nullptr, loss_sum_, &correct_);
    if (confusion) count_predictions(logits, y, *confusion);
  });
  Tensor sums = Tensor::from_vector(
      std::vector<double>{loss_sum_.to_vector<double>()[0],
                          static_cast<double>(correct_.to_vector<int64_t>()[0])},
      {2});
  if (host_ && host_->world_size() > 1) host_->all_reduce_sum(sums);
  const std::vector<double> total = sums.to_vector<double>();
  r.loss = total[0] / static_cast<double>(s.size);
  r.accuracy = total[1] / static_cast<double>(s.size);
  return r;
}

}  // namespace kasmina
