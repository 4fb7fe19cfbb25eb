// The MPI backend (Open MPI; built when meson finds MPI, option `mpi`): collectives of host
// buffers over MPI_COMM_WORLD, the CPU twin of nccl, and the process's MPI environment that
// launches a multi-process run (rank, world size, local rank, the NCCL unique id's broadcast).
//
// MPI is initialised on first use (mpi_init; MPI_THREAD_FUNNELED, errors returned rather than
// fatal) and finalised at exit. A rank that fails calls mpi_abort: it exits at once without
// MPI_Finalize, and the launcher ends the other ranks instead of leaving them waiting in a
// collective (mpirun's default; under srun pass --kill-on-bad-exit). A rank that dies is
// handled the same way by the launcher. MPI has no timeout: a rank that hangs without dying
// holds the others.
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
// Exits this rank with `code` (after its message was printed); the launcher ends the others.
[[noreturn]] void mpi_abort(int code);
// In place, host bytes: every rank gets root's (the NCCL unique id, the rank checks).
void mpi_broadcast_bytes(void* data, size_t bytes, int root);

// Host buffers (Device::cpu()); all_reduce_* with deterministic: MPI_Allgather, then the sum in
// rank order on every rank; otherwise MPI_Allreduce (Open MPI's choice of algorithm).
std::unique_ptr<Communicator> make_mpi_communicator(const CommunicatorOptions& options);

}  // namespace kasmina::ops
