#include "cli/background_writer.hpp"

#include <algorithm>
#include <utility>

#include "io/atomic_file.hpp"
#include "io/checkpoint_files.hpp"
#include "io/hdf5_handle.hpp"

namespace kasmina::cli {

bool background_hdf5_possible() {
  return io::hdf5_thread_safe();
}

BackgroundWriter::BackgroundWriter(std::string run_dir, int64_t keep, Hooks hooks,
                                   bool hdf5_off_thread)
    : run_dir_(std::move(run_dir)),
      keep_(keep),
      hooks_(std::move(hooks)),
      hdf5_off_thread_(hdf5_off_thread),
      worker_([this] { work(); }) {}

BackgroundWriter::~BackgroundWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
  // What reached the disk keeps the run directory, whatever fails now.
  if (!done_.empty()) hooks_.valuable();
}

void BackgroundWriter::write(const Job& job) const {
  if (!job.checkpoint) {
    io::write_file_atomically(job.path, job.bytes.data(), job.bytes.size());
    return;
  }
  if (job.state)
    io::write_checkpoint(job.path, *job.state);
  else
    io::store_checkpoint_image(job.path, job.bytes);
  io::prune_checkpoints(run_dir_, keep_);
}

void BackgroundWriter::work() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, with everything written
    Job job = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    std::exception_ptr failed;
    try {
      write(job);
    } catch (...) {
      failed = std::current_exception();
    }
    lock.lock();
    busy_ = false;
    if (job.checkpoint) checkpoint_pending_ = false;
    if (failed) {
      if (!error_) error_ = failed;
    } else {
      done_.push_back({std::move(job.path), job.checkpoint});
    }
    cv_.notify_all();
  }
}

void BackgroundWriter::poll() {
  std::vector<Done> done;
  std::exception_ptr failed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(done_);
    failed = std::exchange(error_, nullptr);
  }
  for (const Done& d : done) {
    hooks_.valuable();  // a written (verified) file is never removed by a failure
    if (!d.checkpoint) continue;
    last_checkpoint_ = d.path;
    hooks_.checkpoint_written(d.path);
  }
  if (failed) std::rethrow_exception(failed);
}

void BackgroundWriter::settle() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
  }
  poll();
}

void BackgroundWriter::save_checkpoint(const std::string& path, io::CheckpointState state) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !checkpoint_pending_; });
  }
  poll();
  Job job{path, true, std::nullopt, {}};
  if (hdf5_off_thread_)
    job.state = std::move(state);
  else
    job.bytes = io::checkpoint_image(path, state);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(job));
    checkpoint_pending_ = true;
  }
  cv_.notify_all();
}

void BackgroundWriter::store(const std::string& path, std::vector<unsigned char> bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(queue_, [&](const Job& j) { return !j.checkpoint && j.path == path; });
    queue_.push_back({path, false, std::nullopt, std::move(bytes)});
  }
  cv_.notify_all();
}

}  // namespace kasmina::cli
