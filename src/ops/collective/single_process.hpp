// The single-process communicator: world size 1, rank 0. All-reduce (sum, mean, max) and
// broadcast leave the buffer as it is (the reduction over one rank is the identity, so results
// stay bit-identical to a run without a communicator); barrier returns at once.
#pragma once
#include "ops/collective/communicator.hpp"

namespace kasmina::ops {

class SingleProcessCommunicator final : public Communicator {
 public:
  explicit SingleProcessCommunicator(Device dev) : dev_(dev) {}
  std::string backend() const override { return "single_process"; }
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void all_reduce_sum(Tensor& buffer) override;
  void all_reduce_mean(Tensor& buffer) override;
  void all_reduce_max(Tensor& buffer) override;
  void broadcast(Tensor& buffer, int root) override;
  void barrier() override {}

 private:
  Device dev_;
};

std::unique_ptr<Communicator> make_single_process_communicator(const CommunicatorOptions& options);

}  // namespace kasmina::ops
