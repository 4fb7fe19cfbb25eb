// The MPI backend (Open MPI; built when meson finds MPI, option `mpi`): collectives of host
// buffers over MPI_COMM_WORLD, the CPU twin of nccl, and the process's MPI environment that
// launches a multi-process run (rank, world size, local rank, the NCCL unique id's broadcast).
//
// MPI is initialised on first use (mpi_init; MPI_THREAD_FUNNELED, errors returned rather than
// fatal) and finalised at exit. A rank that fails alone calls mpi_abort, which ends every rank
// (MPI_Abort); under mpirun a rank that dies also ends the others (mpirun's default), under srun
// pass --kill-on-bad-exit. MPI has no timeout: a rank that hangs without dying holds the others.
#pragma once
#include <cstddef>
#include <memory>

#include "ops/collective/communicator.hpp"

namespace kasmina::ops {

// Whether this build has MPI.
bool mpi_built();
// Initialises MPI once (idempotent); UserError when the build has no MPI.
void mpi_init();
bool mpi_initialized();
int mpi_rank();
int mpi_world_size();
// The rank among the processes of this host (rank -> local GPU).
int mpi_local_rank();
// Ends every rank of the run with `code` (after this rank's message was printed).
[[noreturn]] void mpi_abort(int code);
// In place, host bytes: every rank gets root's (the NCCL unique id, the rank checks).
void mpi_broadcast_bytes(void* data, size_t bytes, int root);

// Host buffers (Device::cpu()); all_reduce_* with deterministic: MPI_Allgather, then the sum in
// rank order on every rank; otherwise MPI_Allreduce (Open MPI's choice of algorithm).
std::unique_ptr<Communicator> make_mpi_communicator(const CommunicatorOptions& options);

}  // namespace kasmina::ops
