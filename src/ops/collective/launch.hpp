// How this process was started: alone (world size 1, no MPI call at all) or as one rank of a
// multi-process run, told by the environment its launcher sets:
//   OMPI_COMM_WORLD_SIZE (Open MPI's mpirun), PMIX_RANK (PMIx launchers), PMI_SIZE (PMI
//   launchers, e.g. MPICH's), SLURM_PROCID with SLURM_STEP_ID (a task of srun).
// A launched process initialises MPI and reduces with mpi (CPU) or nccl (CUDA).
#pragma once
#include <memory>
#include <string>

#include "ops/collective/communicator.hpp"

namespace kasmina::ops {

struct Launch {
  bool multi_process = false;
  std::string launcher;  // what the environment names ("" when alone)
};

// Reads the environment only (no MPI call).
Launch detect_launch();

// The communicator of the run's gradients on `dev`: single_process when this process runs
// alone (or the backend KASMINA_COLLECTIVE names, world size 1: KASMINA_COLLECTIVE=nccl runs
// one process through NCCL without MPI), else mpi (CPU) or nccl (CUDA, when built). Initialises
// MPI when launched.
std::unique_ptr<Communicator> make_run_communicator(Device dev, bool deterministic);
// The communicator of host-side values every rank must agree on (evaluation sums, statistics,
// the stop flag, checks): mpi in deterministic mode when launched, else single_process on the CPU.
std::unique_ptr<Communicator> make_host_communicator();

}  // namespace kasmina::ops
