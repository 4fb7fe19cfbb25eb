// Evaluation of the model on a split held on the device: eval-mode forwards over batches in
// the split's own order, the loss and the correct count accumulated on the device and read
// once at the end. With several ranks each evaluates its contiguous share of the split and the
// sums (loss, correct count) are reduced over the ranks (`host`).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nn/model.hpp"
#include "ops/collective/communicator.hpp"
#include "train/device_data.hpp"
#include "train/train_report.hpp"

namespace kasmina {

class Evaluator {
 public:
  // `data`, `model` and `ctx` must outlive the evaluator; batches of up to `eval_batch` rows of
  // `features` columns.
  Evaluator(const DeviceData& data, Model& model, const StepContext& ctx, int64_t eval_batch,
            int64_t features, Device dev, ops::Communicator* host = nullptr);

  // "train", "validation" or "test"; the first `max_batches` eval batches when max_batches > 0.
  // With `confusion`, each batch's logits and labels are also read to the host and counted into
  // it (a synchronisation per batch, for reports; the training loop passes none).
  EvalResult evaluate(const std::string& split, int64_t max_batches = 0,
                      ConfusionMatrix* confusion = nullptr);
  // Each sample's loss (-log softmax of its label, in double from the logits read to the host) on
  // this rank's share of the split, in the split's order: the paired keep/cull test of a seed
  // (control/causal_eval.hpp). Synchronises once per batch.
  std::vector<double> sample_losses(const std::string& split);
  // Adds `v` over the ranks (no-op with one rank).
  void sum_over_ranks(std::vector<double>& v);
  bool has_validation() const { return data_.validation.size > 0; }

 private:
  const DeviceSplit& split_named(const std::string& split) const;
  // Eval-mode forwards over this rank's share of `s` in batches, in order: fn(logits, labels).
  void forward_share(const DeviceSplit& s,
                     const std::function<void(const Tensor&, const Tensor&)>& fn);
  const DeviceData& data_;
  Model& model_;
  const StepContext& ctx_;
  int64_t eval_batch_ = 0;
  ops::Communicator* host_ = nullptr;
  Tensor zero_cursor_;
  Tensor x_, y_, loss_sum_, correct_;
};

}  // namespace kasmina
