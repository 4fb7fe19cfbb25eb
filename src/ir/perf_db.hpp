// The performance database of generated kernels (SQLite, WAL mode, shared by concurrent
// processes): per (kernel key, problem shape, GPU name and SM count, driver) the measured time
// of every launch configuration tried, and the winner. Exact lookups by primary key; for an
// unseen shape, the winner of the nearest measured shape of the same kernel, GPU and driver
// (distance: the sum over rows, chunk and hidden of |log2(a / b)|, ties to the smaller shape).
// The schema is versioned (PRAGMA user_version) and migrated forward on open.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace kasmina::ir {

struct ProblemShape {
  int64_t rows = 0, chunk = 0, hidden = 0;
  bool operator==(const ProblemShape&) const = default;
};

struct PerfKey {
  std::string kernel;  // the kernel cache key
  ProblemShape shape;
  std::string gpu;  // device name
  int32_t sm_count = 0;
  std::string driver;
};

struct LaunchConfig {
  int32_t block = 128, rows_per_block = 1, seeds_per_block = 1, unroll = 1;
  bool operator==(const LaunchConfig&) const = default;
  std::string text() const;  // "b128 r1 s1 u1"
};

struct Measurement {
  LaunchConfig config;
  double time_us = 0.0;
};

inline constexpr int32_t kPerfSchemaVersion = 2;

class PerfDb {
 public:
  // Opens (creating, migrating) the database at `path`. InternalError when SQLite fails.
  explicit PerfDb(const std::string& path);
  ~PerfDb();
  PerfDb(const PerfDb&) = delete;
  PerfDb& operator=(const PerfDb&) = delete;

  // Stores every measurement of one tuning run and its winner (the fastest; ties by the
  // configuration's text), in one transaction. Returns the winner.
  LaunchConfig record(const PerfKey& key, const std::vector<Measurement>& tried);
  std::optional<LaunchConfig> winner(const PerfKey& key);
  // The winner of the nearest measured shape (the exact one first).
  std::optional<LaunchConfig> nearest(const PerfKey& key);
  int64_t measurement_count();
  int32_t schema_version();

 private:
  void exec(const std::string& sql);
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace kasmina::ir
