#include "cli/checkpoint_saver.hpp"

#include <utility>

#include "io/checkpoint_files.hpp"
#include "io/hdf5_handle.hpp"

namespace kasmina::cli {

bool background_checkpoints_possible() {
  return io::hdf5_thread_safe();
}

CheckpointSaver::CheckpointSaver(std::string run_dir, int64_t keep,
                                 std::function<void(const std::string&)> announce,
                                 std::function<void()> mark_valuable, bool background)
    : run_dir_(std::move(run_dir)),
      keep_(keep),
      announce_(std::move(announce)),
      mark_valuable_(std::move(mark_valuable)),
      background_(background) {}

CheckpointSaver::~CheckpointSaver() {
  if (!worker_.joinable()) return;
  worker_.join();
  // A checkpoint that reached the disk keeps the run directory, whatever fails now.
  if (!error_) mark_valuable_();
}

void CheckpointSaver::write(const std::string& path, const io::CheckpointState& state) {
  io::write_checkpoint(path, state);
  io::prune_checkpoints(run_dir_, keep_);
}

void CheckpointSaver::finish() {
  worker_.join();
  done_.store(false, std::memory_order_relaxed);
  if (error_) {
    const std::exception_ptr e = std::exchange(error_, nullptr);
    pending_.clear();
    std::rethrow_exception(e);
  }
  mark_valuable_();  // a written (verified) checkpoint is never removed by a failure
  last_ = std::exchange(pending_, std::string());
  announce_(last_);
}

void CheckpointSaver::save(const std::string& path, io::CheckpointState state) {
  settle();
  if (!background_) {
    write(path, state);
    mark_valuable_();
    last_ = path;
    announce_(last_);
    return;
  }
  pending_ = path;
  worker_ = std::thread([this, path, st = std::move(state)] {
    try {
      write(path, st);
    } catch (...) {
      error_ = std::current_exception();
    }
    done_.store(true, std::memory_order_release);
  });
}

void CheckpointSaver::poll() {
  if (worker_.joinable() && done_.load(std::memory_order_acquire)) finish();
}

void CheckpointSaver::settle() {
  if (worker_.joinable()) finish();
}

}  // namespace kasmina::cli
