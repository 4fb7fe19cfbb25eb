// Running the `kasmina` binary from the io tests (KASMINA_BIN and KASMINA_SOURCE_ROOT, set by
// meson test): the source tree's configs, start the binary with its output in a log file, wait
// for its exit code, read files, poll for a condition.
#pragma once
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace kasmina::io::cli_process {

inline std::string source_root() {
  const char* r = std::getenv("KASMINA_SOURCE_ROOT");
  return r ? r : ".";
}

inline std::string seeds_config() {
  return source_root() + "/configs/spirals_seeds.yaml";
}

inline std::string bin() {
  const char* b = std::getenv("KASMINA_BIN");
  return b ? b : "";
}

// Starts `program ARGS...` with stdout and stderr in `log` (and `env` added to its environment);
// `in_child`, when given, runs in the child just before the program starts (e.g. setrlimit).
inline pid_t spawn_program(const std::string& program, const std::vector<std::string>& args,
                           const std::string& log,
                           const std::map<std::string, std::string>& env = {},
                           const std::function<void()>& in_child = {}) {
  const pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    if (in_child) in_child();
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    std::string b = program;
    argv.push_back(b.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(b.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// Starts `kasmina ARGS...` (see spawn_program).
inline pid_t spawn(const std::vector<std::string>& args, const std::string& log,
                   const std::map<std::string, std::string>& env = {},
                   const std::function<void()>& in_child = {}) {
  return spawn_program(bin(), args, log, env, in_child);
}

// The exit code of a waitpid status (128 + the signal when killed).
inline int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return exit_code(status);
}

inline int run_cli(const std::vector<std::string>& args, const std::string& log) {
  return wait_exit(spawn(args, log));
}

// `kasmina train` of the seeds config for `epochs` epochs into `run` (output in `log`).
inline int train_seeds(const std::string& run, int epochs, const std::string& log) {
  return run_cli(
      {"train", seeds_config(), "--set", "train.epochs=" + std::to_string(epochs), "--out", run},
      log);
}

inline std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Every file under `dir` with its modification time and a hash of its bytes: equal snapshots
// mean nothing was written, renamed, added or removed.
inline std::map<std::string, std::string> snapshot(const std::string& dir) {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string rel = fs::relative(e.path(), dir).string();
    const auto mtime = fs::last_write_time(e.path()).time_since_epoch().count();
    const size_t bytes = e.is_regular_file() ? std::hash<std::string>{}(slurp(e.path())) : 0;
    files[rel] = std::to_string(mtime) + " " + std::to_string(bytes);
  }
  return files;
}

// The lines of `text` that contain `word`.
inline std::vector<std::string> lines_with(const std::string& text, const std::string& word) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.find(word) != std::string::npos) out.push_back(line);
  return out;
}

// Waits up to 60 s for `pred`.
template <class F>
bool wait_for(F pred) {
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

}  // namespace kasmina::io::cli_process

#define REQUIRE_BINARY() \
  if (::kasmina::io::cli_process::bin().empty()) GTEST_SKIP() << "KASMINA_BIN not set"
