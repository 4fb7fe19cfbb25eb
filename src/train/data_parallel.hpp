// Data parallelism across the processes of a run (ops/collective/launch.hpp says how many):
// every rank holds the whole model, reads its own slice of each global batch
// (world_size x batch_size samples, train/data_order.hpp) and takes the same step, because
// everything a step or a growth decision reads is reduced across ranks first:
//   - the flat gradient buffer (mean; deterministic mode: fixed rank order);
//   - the step's loss (sum, fixed order): rank 0's accumulator carries the epoch's sum, the
//     others add only their step, so after the reduction every rank holds the same global sum
//     and the loss guard flags (and rolls back) the same steps everywhere;
//   - per morphogenetic layer, before its step boundary: the pool's gradient regions (mean,
//     fixed order),
//     the step measurements (mean), each seed's gradient norm (mean of the ranks' norms) and, at
//     the telemetry cadence, the accumulated telemetry (sums, max |x| by maximum);
//   - evaluation sums (loss, correct count) and the stop flag (on the host).
// The controller then runs deterministically on every rank with the same inputs (no broadcast
// of commands). With one process every call here is a no-op.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/model.hpp"
#include "ops/collective/communicator.hpp"

namespace kasmina {

class DataParallel {
 public:
  // Picks the backends from the launch; `deterministic`: the gradients' reduction order fixed.
  DataParallel(Device dev, bool deterministic);
  ~DataParallel();

  int rank() const { return host_->rank(); }
  int world_size() const { return host_->world_size(); }
  bool multi() const { return world_size() > 1; }
  ops::Communicator& gradients() { return *grads_; }
  ops::Communicator& host() { return *host_; }

  // The step's loss accumulator: before the loss op (rank != 0 starts its step from zero) and
  // after it (sum over ranks, fixed order).
  void before_loss(Tensor& loss_sum);
  void after_loss(Tensor& loss_sum);
  // Before the layers' step boundary (see the header comment).
  void reduce_morph_layers(const std::vector<morph::KasminaLayer*>& layers);
  // Before a checkpoint: the accumulated telemetry and the epoch's correct count (i64[1])
  // summed onto rank 0 (the others restart from zero), so rank 0's checkpoint holds the run's.
  // After a restore (every rank read rank 0's): ranks != 0 zero them.
  void gather_telemetry(const std::vector<morph::KasminaLayer*>& layers);
  void gather_count(Tensor& count);
  void after_restore(const std::vector<morph::KasminaLayer*>& layers, Tensor& count);
  // Host values.
  double sum(double value);
  bool any(bool flag);

 private:
  std::unique_ptr<ops::Communicator> grads_, stats_, host_;
};

// 64-bit FNV-1a of `bytes` continuing from `h`.
uint64_t fnv1a(const void* bytes, size_t n, uint64_t h = 1469598103934665603ull);
// UserError on every rank when a rank's `value` differs from rank 0's: "<what> of rank R differs
// from rank 0's" (the lowest differing rank).
void check_same_on_all_ranks(ops::Communicator& host, uint64_t value, const std::string& what);
// The hash of the model's parameter values (host copies).
uint64_t parameter_hash(Model& model);

}  // namespace kasmina
