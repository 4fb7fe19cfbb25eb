// The order in which the training samples are seen: one seeded permutation per epoch (a pure
// function of the run seed and the epoch), uploaded to the device at the epoch's start, and
// the device cursor of the next batch, which the training step advances on the device.
//
// With several ranks (train/data_parallel.hpp) a step reads world x batch samples of the same
// permutation: global batch s is perm[s*W*B, (s+1)*W*B) and rank r reads its r-th slice of B
// samples, so the ranks' batches are disjoint and together they are the batch a world-size-1
// run with batch W*B reads. Each rank uploads only its own order (its slices, step after step).
//
// Checkpoint entries: "data/permutation" (the current epoch's order), "data/seed",
// "data/train_size", "data/batch_size", the cursor "trainer/cursor" and, with several ranks,
// "data/world_size" (absent: 1). The stored permutation is the epoch's whole one.
#pragma once
#include <cstdint>

#include "core/stateful.hpp"
#include "ops/mlp_step_ops.hpp"
#include "train/device_data.hpp"

namespace kasmina {

class DataOrder final : public Stateful {
 public:
  // `train` must outlive the order. `cursor` (i64[1] on `dev`) is the batch cursor, advanced by
  // the training step; batches of `batch` rows (the last partial batch of an epoch is dropped).
  // Rank `rank` of `world` (each reads its slice of every global batch).
  DataOrder(uint64_t seed, const DeviceSplit& train, int64_t batch, Tensor cursor, Device dev,
            int rank = 0, int world = 1);

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  // Uploads the order of `epoch` (0-based) and sets the cursor to its first batch.
  void begin_epoch(int64_t epoch);
  // Gathers the batch at the cursor into x [batch, features] and y [batch] (normalised).
  void gather(Tensor& x, Tensor& y) const;
  // The same gather as the first part of the fused MLP step (ops::MlpStepGather; the pointers
  // stay valid while this order lives, the device buffers across epochs).
  ops::MlpStepGather gather_args() const;

  void save_state(StateWriter& out) const override;
  // Checks that the state fits this run (training-set size, position within steps_per_epoch).
  // A state inside an epoch also sets up that epoch here (its order, checked against the stored
  // one, and the cursor), so the loop continues it without begin_epoch. Another world size is
  // accepted at an epoch boundary (the next permutation is recomputed and sliced anew) and
  // refused inside an epoch (the samples already read would not fit the new slices).
  void load_state(const StateReader& in) override;

 private:
  uint64_t seed_ = 0;
  const DeviceSplit& train_;
  int64_t batch_ = 0, steps_per_epoch_ = 0;
  int rank_ = 0, world_ = 1;
  Tensor cursor_, perm_;
  Tensor full_host_;  // the epoch's whole permutation (host), with several ranks
  Tensor perm_host_;  // stays alive while the stream-ordered upload may be in flight
};

}  // namespace kasmina
