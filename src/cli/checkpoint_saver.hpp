// Checkpoints written beside the training. The training thread captures the run's state (host
// copies: Trainer::capture_state) and hands it over; one background thread builds the HDF5 file
// in memory, stores it atomically (temporary file, fsync, rename: io/atomic_file.hpp) and prunes
// the older checkpoints, while the next steps run. At most one write is in flight: the next
// checkpoint, the end of the run (TrainerObserver::on_run_end) and the saver's destruction wait
// for it, and a write that failed throws its error there, so the run fails as it would have
// failed at the checkpoint itself (a few steps later, never silently). "checkpoint: PATH" is
// printed once the file is in place and verified; only then does the run directory count as
// valuable (kept on a later failure). With an HDF5 library that is not thread-safe the writes
// are made on the training thread, as before.
#pragma once
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <thread>

#include "io/checkpoint.hpp"

namespace kasmina::cli {

class CheckpointSaver {
 public:
  // `run_dir`: the run directory (its checkpoints/ keeps `keep` files); `announce(path)` is
  // called on the training thread for each checkpoint in place; `mark_valuable()` once one is.
  CheckpointSaver(std::string run_dir, int64_t keep,
                  std::function<void(const std::string&)> announce,
                  std::function<void()> mark_valuable, bool background);
  ~CheckpointSaver();  // waits for the write in flight (its error is dropped: another is on its
                       // way)
  CheckpointSaver(const CheckpointSaver&) = delete;
  CheckpointSaver& operator=(const CheckpointSaver&) = delete;

  // Waits for the previous write (throwing its error), then writes `state` to `path`.
  void save(const std::string& path, io::CheckpointState state);
  // Announces a finished write without waiting (throws its error when it failed).
  void poll();
  // Waits for the write in flight; throws its error when it failed.
  void settle();
  bool background() const { return background_; }
  // The newest checkpoint in place ("" before the first).
  const std::string& last() const { return last_; }

 private:
  void write(const std::string& path, const io::CheckpointState& state);
  void finish();  // joins the finished or running worker, announces or throws

  std::string run_dir_;
  int64_t keep_;
  std::function<void(const std::string&)> announce_;
  std::function<void()> mark_valuable_;
  bool background_;
  std::thread worker_;
  std::atomic<bool> done_{false};
  std::exception_ptr error_;
  std::string pending_;
  std::string last_;
};

// Whether checkpoints may be written in the background here (a thread-safe HDF5 library).
bool background_checkpoints_possible();

}  // namespace kasmina::cli
