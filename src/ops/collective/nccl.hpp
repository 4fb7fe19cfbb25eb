// The NCCL backend (CUDA builds with NCCL): collectives of device buffers, one process per GPU,
// queued on the device's compute stream (no host synchronisation; a captured CUDA graph may
// contain them). With several ranks the NCCL unique id is made by rank 0 and broadcast over MPI
// (mpi.hpp); a world of one initialises NCCL alone, without MPI.
//
// Environment set before NCCL starts, unless the user set it: NCCL_NVLS_ENABLE=0 (no NVLink
// multicast/SHARP buffers: they take GPU memory and multicast objects some machines lend
// without, and an all-reduce of one flat buffer per step does not need them); in deterministic
// mode NCCL_ALGO=Ring and NCCL_PROTO=Simple (one reduction order, the same at every run of the
// same world size and topology; NCCL's ring hands every rank the same reduced bits).
// A dead rank: under mpirun the launcher ends the others; NCCL itself has no timeout here.
#pragma once
#include <memory>

#include "ops/collective/communicator.hpp"

namespace kasmina::ops {

std::unique_ptr<Communicator> make_nccl_communicator(const CommunicatorOptions& options);

}  // namespace kasmina::ops
