// Helpers shared by the io tests: a temporary directory, random data, synthetic states.
#pragma once
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/tensor.hpp"
#include "io/checkpoint.hpp"

namespace kasmina::io::test {

// A fresh directory removed (recursively) at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "kasmina-io-XXXXXX").string();
    path_ = ::mkdtemp(templ.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Kills and reaps a forked child at scope exit unless it was reaped already (so a failed
// assertion never leaves a child behind).
class ChildGuard {
 public:
  explicit ChildGuard(pid_t pid) : pid_(pid) {}
  ~ChildGuard() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ChildGuard(const ChildGuard&) = delete;
  ChildGuard& operator=(const ChildGuard&) = delete;
  // Waits for the child to exit by itself and reaps it; returns the wait status.
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  // SIGKILLs the child and reaps it; returns the wait status.
  int kill_and_reap() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

inline Tensor random_f32(std::mt19937_64& rng, const Shape& shape) {
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape);
}

template <class T>
Tensor random_ints(std::mt19937_64& rng, const Shape& shape, int64_t lo, int64_t hi) {
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  std::vector<T> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = static_cast<T>(dist(rng));
  return Tensor::from_vector(v, shape);
}

inline Tensor random_f64(std::mt19937_64& rng, const Shape& shape) {
  std::uniform_real_distribution<double> dist(-1e6, 1e6);
  std::vector<double> v(static_cast<size_t>(shape_numel(shape)));
  for (auto& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape);
}

// A checkpoint state with every kind of content: model parameters, optimizer moments, seed
// state arrays (stage codes 0..10, blueprint ids), RNG state, a scalar tensor, named scalars,
// strings and metrics.
inline CheckpointState synthetic_state(uint64_t seed, int64_t step) {
  std::mt19937_64 rng(seed);
  CheckpointState s;
  s.config_yaml = "name: synthetic\nseed: " + std::to_string(seed) + "\n";
  s.config_name = "synthetic";
  s.step = step;
  s.epoch = step / 100;
  s.epoch_position = (step % 100) * 32;
  s.tensors.push_back({"model.0.weight", random_f32(rng, {16, 8})});
  s.tensors.push_back({"model.0.bias", random_f32(rng, {16})});
  s.tensors.push_back({"model.2.weight", random_f32(rng, {4, 16})});
  s.tensors.push_back({"model.2.bias", random_f32(rng, {4})});
  s.tensors.push_back({"optimizer.m.model.0.weight", random_f32(rng, {16, 8})});
  s.tensors.push_back({"optimizer.v.model.0.weight", random_f64(rng, {16, 8})});
  s.tensors.push_back({"seeds/kasmina1/stage", random_ints<uint8_t>(rng, {64}, 0, 10)});
  s.tensors.push_back({"seeds/kasmina1/blueprint", random_ints<int32_t>(rng, {64}, 0, 3)});
  s.tensors.push_back({"seeds/kasmina1/alpha", random_f32(rng, {64})});
  s.tensors.push_back({"blueprints/pool", random_f32(rng, {300})});
  s.tensors.push_back({"rng/philox", random_ints<int64_t>(rng, {4}, INT64_MIN, INT64_MAX)});
  s.tensors.push_back({"controller/budget", random_f64(rng, {})});
  s.tensors.push_back({"empty", Tensor::empty({0, 3}, DType::f32)});
  s.ints = {{"data.order_seed", static_cast<int64_t>(rng())}, {"controller.cooldown", 7}};
  s.floats = {{"controller.threshold", 0.125}, {"ema.loss", -3.5e-7}};
  s.strings = {{"controller.policy", "heuristic"}, {"note", "ünïcode ✓"}};
  s.metrics = {{"train_loss", 0.42}, {"validation_accuracy", 0.875}};
  return s;
}

inline std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace kasmina::io::test
