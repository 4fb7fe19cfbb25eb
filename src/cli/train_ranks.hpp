// `kasmina train` as one rank of several (started by mpirun or srun, ops/collective/launch.hpp):
// rank 0 prints and writes the run directory; the other ranks train silently beside it. Every
// rank checks at start that all run the same build and resolved configuration.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "train/trainer_observer.hpp"

namespace kasmina::cli {

struct RankInfo {
  bool multi_process = false;
  int rank = 0;
  int world_size = 1;
};

// Initialises MPI when a launcher started this process; a rank other than 0 sends its standard
// output to /dev/null (errors still reach standard error).
RankInfo start_ranks();
// With several ranks and device "cuda" (no index): "cuda:<local rank>" (one GPU per process).
std::string rank_device(const RankInfo& r, const std::string& device);
// Exit 2 on every rank naming the lowest rank whose build or resolved configuration differs
// from rank 0's.
void check_ranks_agree(const RankInfo& r, const std::string& resolved_yaml);
// Runs `body`; with several ranks an error on this rank is printed with its rank and ends every
// rank (exit 2 for a user error, 1 otherwise) instead of leaving the others waiting.
int run_on_ranks(const std::function<int()>& body);

// A debugging and test hook: with KASMINA_DEBUG_RANK_STATE=DIR every rank writes its final
// state as the checkpoint file DIR/rank<R>.h5 (ranks must hold the same model, seeds and
// optimizer state bit for bit; only their local accumulators differ).
void dump_rank_state(const RankInfo& r, Trainer& trainer, const std::string& config_yaml,
                     const std::string& config_name);

// The observer of a rank other than 0: it takes part in every collective point of the loop
// (checkpoints, flushes, the stop flag) and writes nothing.
class FollowerObserver final : public TrainerObserver {
 public:
  explicit FollowerObserver(std::function<bool()> stop) : stop_(std::move(stop)) {}
  bool stop_requested() const override { return stop_(); }
  bool wants_checkpoints() const override { return true; }
  void on_checkpoint(Trainer&) override {}
  bool wants_bus_log() const override { return true; }
  void on_bus_messages(std::vector<control::MessageRecord>) override {}

 private:
  std::function<bool()> stop_;
};

}  // namespace kasmina::cli
