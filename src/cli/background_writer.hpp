// The run directory's files written beside the training: checkpoints and the stores of the
// telemetry file. The training thread captures a checkpoint's state (host copies:
// Trainer::capture_state) or the telemetry file's bytes and queues them; one worker thread
// builds the checkpoint's HDF5 file in memory, stores each file atomically (temporary file,
// fsync, rename: io/atomic_file.hpp) and prunes the older checkpoints, in the order queued,
// while the next steps run.
//
// At most one checkpoint is queued or being written (one state in memory): the next checkpoint
// waits for it. A telemetry store replaces a queued one of the same file that has not started
// (the newer bytes hold all of the older). The end of the run (settle(), from
// TrainerObserver::on_run_end) waits for everything queued, so the run's time includes its last
// write. A write that failed throws its error at the next poll(), settle() or checkpoint, so the
// run fails as it would have at the write itself (a few steps later, never silently).
// "checkpoint: PATH" is announced once the file is in place; only then, or once a telemetry
// store is in place, does the run directory count as valuable (kept on a later failure).
//
// With an HDF5 library that is not thread-safe the checkpoint's file is built on the training
// thread and only stored by the worker.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "io/checkpoint.hpp"

namespace kasmina::cli {

class BackgroundWriter {
 public:
  struct Hooks {
    std::function<void(const std::string&)> checkpoint_written;  // its path, once in place
    std::function<void()> valuable;  // a checkpoint or a telemetry store is in place
  };
  // `run_dir`: the run directory (its checkpoints/ keeps the newest `keep`). `hdf5_off_thread`:
  // the worker may build checkpoints (a thread-safe HDF5: background_hdf5_possible()).
  BackgroundWriter(std::string run_dir, int64_t keep, Hooks hooks, bool hdf5_off_thread);
  ~BackgroundWriter();  // writes what is queued, then stops (errors are dropped: see settle())
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  // Waits for the checkpoint before (throwing a failure), then queues `state` for `path`.
  void save_checkpoint(const std::string& path, io::CheckpointState state);
  // Queues an atomic store of `bytes` at `path` (replacing a queued store of it not yet started).
  void store(const std::string& path, std::vector<unsigned char> bytes);
  // Reports what is in place (hooks, on this thread); throws the first failure.
  void poll();
  // Waits until everything queued is written, then as poll().
  void settle();
  // The newest checkpoint in place ("" before the first).
  const std::string& last_checkpoint() const { return last_checkpoint_; }

 private:
  struct Job {
    std::string path;
    bool checkpoint = false;
    std::optional<io::CheckpointState> state;  // a checkpoint the worker builds
    std::vector<unsigned char> bytes;          // otherwise the file's bytes
  };
  struct Done {
    std::string path;
    bool checkpoint = false;
  };
  void work();
  void write(const Job& job) const;

  std::string run_dir_;
  int64_t keep_;
  Hooks hooks_;
  bool hdf5_off_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool busy_ = false, stop_ = false, checkpoint_pending_ = false;
  std::vector<Done> done_;
  std::exception_ptr error_;
  std::string last_checkpoint_;
  std::thread worker_;  // last: starts once everything above exists
};

// Whether HDF5 files may be built off the training thread here (a thread-safe HDF5 library).
bool background_hdf5_possible();

}  // namespace kasmina::cli
