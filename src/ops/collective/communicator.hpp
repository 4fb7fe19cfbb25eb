// Collectives over the processes of a data-parallel run: the gradients of a model live in one
// flat buffer (nn/gradient_buffer.hpp), so a step's all-reduce is one call. A Communicator is
// chosen by backend name from a registry (communicator_registry.cpp):
//   single_process  world size 1, rank 0: every collective is the identity (this file's twin)
//   mpi             host buffers over MPI_COMM_WORLD (mpi.hpp; builds with Open MPI): the CPU
//                   twin of nccl, and the launcher that hands nccl its rank and unique id
//   nccl            CUDA buffers, one process per GPU (nccl.hpp; CUDA builds with NCCL)
// launch.hpp picks the backend of a run from the environment a launcher (mpirun, srun) sets.
//
// Collectives are queued on the buffer's device stream in issue order and do not synchronise
// the host (a captured CUDA graph may contain them); every rank must issue the same calls in the
// same order with buffers of the same shape and dtype.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.hpp"

namespace kasmina::ops {

struct CommunicatorOptions {
  Device device = Device::cpu();  // where the buffers live
  int rank = 0;                   // this process (given by the launcher for multi-process backends)
  int world_size = 1;             // processes in the run
  // A fixed reduction order (rank 0 + rank 1 + ...), so a run is bit-identical run to run at a
  // fixed world size and every rank holds the same bits (mpi: gather to every rank, then sum in
  // rank order; nccl: NCCL's own order under a pinned algorithm, see nccl.hpp).
  bool deterministic = false;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string backend() const = 0;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // In place over all ranks: buffer = Σ_ranks buffer (sum) or that sum / world_size (mean).
  // float32 or float64, any shape (the flat gradient buffer).
  virtual void all_reduce_sum(Tensor& buffer) = 0;
  virtual void all_reduce_mean(Tensor& buffer) = 0;
  // In place: the element-wise maximum over all ranks (statistics such as max |x|).
  virtual void all_reduce_max(Tensor& buffer) = 0;
  // In place: every rank's buffer becomes root's (initial parameters, data order).
  virtual void broadcast(Tensor& buffer, int root) = 0;
  // Returns when every rank has reached it (host-side).
  virtual void barrier() = 0;
};

// KasminaError unless `buffer` is defined, on `dev` and float32/float64 (every backend's check).
void check_collective_buffer(const Tensor& buffer, Device dev, const char* op);

using CommunicatorFactory = std::unique_ptr<Communicator> (*)(const CommunicatorOptions& options);

// The communicator of backend `name`; UserError naming the registered backends when unknown or
// when the options do not suit it (e.g. single_process with world_size != 1).
std::unique_ptr<Communicator> make_communicator(std::string_view name,
                                                const CommunicatorOptions& options = {});
std::vector<std::string> communicator_backends();

}  // namespace kasmina::ops
