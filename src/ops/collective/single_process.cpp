#include "ops/collective/single_process.hpp"

#include <string>

#include "core/error.hpp"

namespace kasmina::ops {

void SingleProcessCommunicator::all_reduce_sum(Tensor& buffer) {
  check_collective_buffer(buffer, dev_,
                          "all_reduce_sum");  // one rank: the sum is the buffer itself
}

void SingleProcessCommunicator::all_reduce_mean(Tensor& buffer) {
  check_collective_buffer(buffer, dev_, "all_reduce_mean");  // one rank: sum / 1
}

void SingleProcessCommunicator::all_reduce_max(Tensor& buffer) {
  check_collective_buffer(buffer, dev_,
                          "all_reduce_max");  // one rank: the maximum is the buffer itself
}

void SingleProcessCommunicator::broadcast(Tensor& buffer, int root) {
  check_collective_buffer(buffer, dev_, "broadcast");
  KASMINA_CHECK(root == 0, "broadcast: root " + std::to_string(root) + " of a world of size 1");
}

std::unique_ptr<Communicator> make_single_process_communicator(const CommunicatorOptions& options) {
  if (options.world_size != 1 || options.rank != 0) {
    throw UserError("the single_process communicator runs one process (rank 0 of 1), got rank " +
                    std::to_string(options.rank) + " of " + std::to_string(options.world_size) +
                    " (use a multi-process backend)");
  }
  return std::make_unique<SingleProcessCommunicator>(options.device);
}

}  // namespace kasmina::ops
