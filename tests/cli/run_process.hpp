// Runs a program as a child process and collects its exit status and output, for tests that
// exercise the real `kasmina` binary.
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace kasmina::testing {

struct ProcessResult {
  bool exited = false;  // false: killed by a signal
  int exit_code = -1;   // when exited
  int signal = 0;       // when killed
  long max_rss_kb = 0;  // the child's peak resident memory
  std::string out, err;
};

// Limits on the child (0: none).
struct ProcessLimits {
  unsigned long long address_space_bytes = 0;  // RLIMIT_AS: allocations beyond it fail
};

// Runs `program` with `args` in the working directory `cwd` (with `env` added to the
// environment, under `limits`), waits for it and returns what it printed. Throws
// std::runtime_error when the process cannot be started.
ProcessResult run_process(const std::string& program, const std::vector<std::string>& args,
                          const std::filesystem::path& cwd,
                          const std::map<std::string, std::string>& env = {},
                          const ProcessLimits& limits = {});

// A fresh directory under the system temp directory (mkdtemp), removed with its contents on
// destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace kasmina::testing
