#include "cli/train_ranks.hpp"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>

#include "core/error.hpp"
#include "core/git_commit.hpp"
#include "io/checkpoint.hpp"
#include "io/run_checkpoint.hpp"
#include "kasmina_build_config.hpp"
#include "ops/collective/launch.hpp"
#include "ops/collective/mpi.hpp"
#include "train/data_parallel.hpp"
#include "train/trainer.hpp"

namespace kasmina::cli {

RankInfo start_ranks() {
  RankInfo r;
  if (!ops::detect_launch().multi_process) return r;
  ops::mpi_init();
  r.multi_process = true;
  r.rank = ops::mpi_rank();
  r.world_size = ops::mpi_world_size();
  if (r.rank != 0 && std::freopen("/dev/null", "w", stdout) == nullptr)
    throw InternalError("rank " + std::to_string(r.rank) + ": cannot silence standard output");
  return r;
}

std::string rank_device(const RankInfo& r, const std::string& device) {
  if (!r.multi_process || device != "cuda") return device;
  return "cuda:" + std::to_string(ops::mpi_local_rank());
}

void check_ranks_agree(const RankInfo& r, const std::string& resolved_yaml) {
  if (r.world_size == 1) return;
  const std::unique_ptr<ops::Communicator> host = ops::make_host_communicator();
  const std::string build = std::string(KASMINA_VERSION) + " " + git_commit() + " " +
                            KASMINA_BUILD_TYPE + " cuda=" + std::to_string(KASMINA_HAS_CUDA);
  check_same_on_all_ranks(*host, fnv1a(build.data(), build.size()), "the build (" + build + ")");
  check_same_on_all_ranks(*host, fnv1a(resolved_yaml.data(), resolved_yaml.size()),
                          "the resolved configuration");
}

void dump_rank_state(const RankInfo& r, Trainer& trainer, const std::string& config_yaml,
                     const std::string& config_name) {
  const char* dir = std::getenv("KASMINA_DEBUG_RANK_STATE");
  if (dir == nullptr || *dir == '\0') return;
  std::filesystem::create_directories(dir);
  const std::string path =
      (std::filesystem::path(dir) / ("rank" + std::to_string(r.rank) + ".h5")).string();
  io::write_checkpoint(path, io::to_checkpoint(trainer.capture_state(), config_yaml, config_name));
}

int run_on_ranks(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    if (ops::mpi_world_size() == 1) throw;  // one process: the usual report and exit code
    const bool user = dynamic_cast<const UserError*>(&e) != nullptr;
    std::fprintf(stderr, "%s: rank %d of %d: %s\n", user ? "error" : "internal error",
                 ops::mpi_rank(), ops::mpi_world_size(), e.what());
    std::fflush(stderr);
    ops::mpi_abort(user ? 2 : 1);
  }
}

}  // namespace kasmina::cli
