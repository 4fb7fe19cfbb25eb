#include "train/data_order.hpp"

#include <string>
#include <vector>

#include "core/error.hpp"
#include "data/dataset.hpp"
#include "ops/ops.hpp"

namespace kasmina {

DataOrder::DataOrder(uint64_t seed, const DeviceSplit& train, int64_t batch, Tensor cursor,
                     Device dev)
    : seed_(seed), train_(train), batch_(batch), cursor_(cursor) {
  steps_per_epoch_ = train_.size / batch_;
  perm_ = Tensor::zeros({train_.size}, DType::i32, dev);
}

void DataOrder::begin_epoch(int64_t epoch) {
  perm_host_ = Tensor::from_vector(epoch_permutation(seed_, epoch, train_.size), {train_.size});
  perm_.copy_from(perm_host_);
  ops::fill(cursor_, 0.0);
}

void DataOrder::gather(Tensor& x, Tensor& y) const {
  ops::gather_batch(train_.images, train_.labels, perm_, cursor_, train_.scale, train_.shift, x, y);
}

void DataOrder::save_state(StateWriter& out) const {
  out.tensor("trainer/cursor", cursor_);
  out.tensor("data/permutation", perm_);
  out.integer("data/seed", static_cast<int64_t>(seed_));
  out.integer("data/train_size", train_.size);
  out.integer("data/batch_size", batch_);
}

void DataOrder::load_state(const StateReader& in) {
  if (in.has_integer("data/train_size") && in.integer("data/train_size") != train_.size)
    throw UserError("checkpoint: the training split has " +
                    std::to_string(in.integer("data/train_size")) + " samples there but " +
                    std::to_string(train_.size) + " in this run");
  const RunState& at = in.run();
  if (at.epoch < 0 || at.epoch_step < 0 || at.epoch_step >= steps_per_epoch_)
    throw UserError("checkpoint: position (epoch " + std::to_string(at.epoch) + ", step " +
                    std::to_string(at.epoch_step) + ") does not fit " +
                    std::to_string(steps_per_epoch_) + " steps per epoch");
  if (at.epoch_step == 0) return;  // an epoch boundary: the loop begins the epoch
  // Inside an epoch: the permutation is a pure function of (seed, epoch); the stored one is
  // checked against it.
  begin_epoch(at.epoch);
  const Tensor& perm = in.tensor("data/permutation");
  if (perm.to_vector<int32_t>() != perm_host_.to_vector<int32_t>())
    throw UserError("checkpoint: the stored batch order of epoch " + std::to_string(at.epoch + 1) +
                    " differs from this run's (another seed or dataset)");
  in.load("trainer/cursor", cursor_);
}

}  // namespace kasmina
