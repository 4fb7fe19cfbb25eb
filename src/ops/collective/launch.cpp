#include "ops/collective/launch.hpp"

#include <cstdlib>

#include "kasmina_build_config.hpp"
#include "ops/collective/mpi.hpp"

namespace kasmina::ops {

namespace {

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0';
}

}  // namespace

Launch detect_launch() {
  if (env_set("OMPI_COMM_WORLD_SIZE")) return {true, "mpirun (Open MPI)"};
  if (env_set("PMIX_RANK")) return {true, "a PMIx launcher"};
  if (env_set("PMI_SIZE")) return {true, "a PMI launcher"};
  if (env_set("SLURM_PROCID") && env_set("SLURM_STEP_ID")) return {true, "srun"};
  return {};
}

std::unique_ptr<Communicator> make_run_communicator(Device dev, bool deterministic) {
  if (!detect_launch().multi_process) {
    // KASMINA_COLLECTIVE=nccl: one process through the NCCL path (a check that it is exact).
    const char* forced = std::getenv("KASMINA_COLLECTIVE");
    return make_communicator(env_set("KASMINA_COLLECTIVE") ? forced : "single_process",
                             {.device = dev, .deterministic = deterministic});
  }
  mpi_init();
  const CommunicatorOptions o{.device = dev,
                              .rank = mpi_rank(),
                              .world_size = mpi_world_size(),
                              .deterministic = deterministic};
  return make_communicator(dev.is_cuda() ? "nccl" : "mpi", o);
}

std::unique_ptr<Communicator> make_host_communicator() {
  if (!detect_launch().multi_process) return make_communicator("single_process", {});
  mpi_init();
  return make_communicator("mpi", {.device = Device::cpu(),
                                   .rank = mpi_rank(),
                                   .world_size = mpi_world_size(),
                                   .deterministic = true});
}

}  // namespace kasmina::ops
