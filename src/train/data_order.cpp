#include "train/data_order.hpp"

#include <string>
#include <vector>

#include "core/error.hpp"
#include "data/dataset.hpp"
#include "ops/ops.hpp"

namespace kasmina {

DataOrder::DataOrder(uint64_t seed, const DeviceSplit& train, int64_t batch, Tensor cursor,
                     Device dev, int rank, int world)
    : seed_(seed), train_(train), batch_(batch), rank_(rank), world_(world), cursor_(cursor) {
  steps_per_epoch_ = train_.size / (batch_ * world_);
  perm_ = Tensor::zeros({train_.size}, DType::i32, dev);
}

void DataOrder::begin_epoch(int64_t epoch) {
  std::vector<int32_t> perm = epoch_permutation(seed_, epoch, train_.size);
  if (world_ > 1) {
    full_host_ = Tensor::from_vector(perm, {train_.size});
    // This rank's slices of the global batches first; the rest is never read.
    std::vector<int32_t> mine(perm.size(), 0);
    for (int64_t s = 0; s < steps_per_epoch_; ++s)
      for (int64_t b = 0; b < batch_; ++b)
        mine[s * batch_ + b] = perm[(s * world_ + rank_) * batch_ + b];
    perm.swap(mine);
  }
  perm_host_ = Tensor::from_vector(perm, {train_.size});
  perm_.copy_from(perm_host_);
  ops::fill(cursor_, 0.0);
}

void DataOrder::gather(Tensor& x, Tensor& y) const {
  ops::gather_batch(train_.images, train_.labels, perm_, cursor_, train_.scale, train_.shift, x, y);
}

ops::MlpStepGather DataOrder::gather_args() const {
  ops::MlpStepGather g;
  g.images = &train_.images;
  g.labels = &train_.labels;
  g.perm = &perm_;
  g.cursor = &cursor_;
  g.scale = train_.scale;
  g.shift = train_.shift;
  return g;
}

void DataOrder::save_state(StateWriter& out) const {
  out.tensor("trainer/cursor", cursor_);
  out.tensor("data/permutation", world_ > 1 && full_host_.defined() ? full_host_ : perm_);
  if (world_ > 1) out.integer("data/world_size", world_);
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
  const int64_t stored_world =
      in.has_integer("data/world_size") ? in.integer("data/world_size") : 1;
  if (at.epoch_step > 0 && stored_world != world_)
    throw UserError("checkpoint: written by " + std::to_string(stored_world) +
                    " processes inside epoch " + std::to_string(at.epoch + 1) + " (step " +
                    std::to_string(at.epoch_step) + "); this run has " + std::to_string(world_) +
                    ": resume with " + std::to_string(stored_world) +
                    " processes, or from a checkpoint at an epoch boundary");
  if (at.epoch < 0 || at.epoch_step < 0 || at.epoch_step >= steps_per_epoch_)
    throw UserError("checkpoint: position (epoch " + std::to_string(at.epoch) + ", step " +
                    std::to_string(at.epoch_step) + ") does not fit " +
                    std::to_string(steps_per_epoch_) + " steps per epoch");
  if (at.epoch_step == 0) return;  // an epoch boundary: the loop begins the epoch
  // Inside an epoch: the permutation is a pure function of (seed, epoch); the stored one is
  // checked against it.
  begin_epoch(at.epoch);
  const Tensor& perm = in.tensor("data/permutation");
  const Tensor& expected = world_ > 1 ? full_host_ : perm_host_;
  if (perm.dtype() != DType::i32 || perm.shape() != expected.shape())
    throw UserError("checkpoint: tensor '" + in.prefix() + "data/permutation' is " +
                    dtype_name(perm.dtype()) + " " + shape_str(perm.shape()) +
                    " (expected: int32 " + shape_str(expected.shape()) +
                    ", this run's batch order of epoch " + std::to_string(at.epoch + 1) + ")");
  if (perm.to_vector<int32_t>() != expected.to_vector<int32_t>())
    throw UserError("checkpoint: the stored batch order of epoch " + std::to_string(at.epoch + 1) +
                    " differs from this run's (another seed or dataset)");
  in.load("trainer/cursor", cursor_);
  // The batches of this epoch done so far: gather() starts at that batch of the permutation.
  const int64_t cursor = in.tensor("trainer/cursor").to_vector<int64_t>()[0];
  if (cursor != at.epoch_step)
    throw UserError("checkpoint: tensor 'trainer/cursor' is " + std::to_string(cursor) +
                    " (expected: " + std::to_string(at.epoch_step) + ", the batches of epoch " +
                    std::to_string(at.epoch + 1) + " done at its step " +
                    std::to_string(at.epoch_step) + ")");
}

}  // namespace kasmina
