// The performance database: the winner of a tuning run (ties broken by the configuration's text),
// exact and nearest-shape lookups, migration of an older schema, a newer schema refused, and 8
// processes writing at once losing no row.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache_test_util.hpp"
#include "core/error.hpp"
#include "ir/perf_db.hpp"

namespace kasmina::ir {
namespace {

using testing::CacheDir;

PerfKey key_for(ProblemShape shape, const std::string& kernel = "k1") {
  return PerfKey{kernel, shape, "NVIDIA H200", 132, "560.35"};
}

std::vector<Measurement> tuning(double base) {
  return {{{128, 1, 1, 1}, base + 3.0},
          {{256, 2, 1, 2}, base + 1.0},
          {{64, 1, 4, 1}, base + 1.0},  // a tie: "b256 ..." < "b64 ..." as text
          {{512, 4, 2, 4}, base + 2.0}};
}

TEST(PerfDb, RecordsEveryMeasurementAndTheDeterministicWinner) {
  CacheDir dir;
  PerfDb db(dir.path() + "/perf.sqlite");
  EXPECT_EQ(db.schema_version(), kPerfSchemaVersion);
  const PerfKey k = key_for({4096, 16, 4});
  EXPECT_FALSE(db.winner(k));
  const LaunchConfig w = db.record(k, tuning(10.0));
  EXPECT_EQ(w, (LaunchConfig{256, 2, 1, 2}));
  EXPECT_EQ(db.winner(k)->text(), "b256 r2 s1 u2");
  EXPECT_EQ(db.measurement_count(), 4);
  // Another GPU or driver is another key.
  PerfKey other = k;
  other.driver = "555.42";
  EXPECT_FALSE(db.winner(other));
}

TEST(PerfDb, NearestShapeServesAnUnseenShape) {
  CacheDir dir;
  PerfDb db(dir.path() + "/perf.sqlite");
  db.record(key_for({1024, 16, 4}), {{{64, 1, 1, 1}, 1.0}});
  db.record(key_for({65536, 16, 4}), {{{512, 8, 1, 1}, 1.0}});
  db.record(key_for({1024, 16, 4}, "k2"), {{{32, 1, 1, 1}, 1.0}});
  EXPECT_EQ(db.nearest(key_for({2048, 16, 4}))->block, 64);    // 1 octave vs 5
  EXPECT_EQ(db.nearest(key_for({32768, 16, 4}))->block, 512);  // 1 octave vs 5
  EXPECT_EQ(db.nearest(key_for({8192, 16, 4}))->block, 64);    // 3 vs 3: the smaller shape
  EXPECT_EQ(db.nearest(key_for({1024, 16, 4}))->block, 64);    // exact
  EXPECT_FALSE(db.nearest(key_for({1024, 16, 4}, "k3")));
}

TEST(PerfDb, MigratesAVersionOneDatabaseAndRefusesANewerOne) {
  CacheDir dir;
  const std::string path = dir.path() + "/perf.sqlite";
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "CREATE TABLE measurements (kernel TEXT NOT NULL, rows INTEGER NOT NULL, "
                         "chunk INTEGER NOT NULL, hidden INTEGER NOT NULL, gpu TEXT NOT NULL, "
                         "sm_count INTEGER NOT NULL, driver TEXT NOT NULL, config TEXT NOT NULL, "
                         "time_us REAL NOT NULL, measured_at INTEGER NOT NULL);"
                         "INSERT INTO measurements VALUES ('k1', 4096, 16, 4, 'NVIDIA H200', 132, "
                         "'560.35', 'b128 r1 s1 u1', 5.0, 1);"
                         "INSERT INTO measurements VALUES ('k1', 4096, 16, 4, 'NVIDIA H200', 132, "
                         "'560.35', 'b64 r2 s1 u1', 4.0, 1);"
                         "PRAGMA user_version=1;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(raw);
  {
    PerfDb db(path);
    EXPECT_EQ(db.schema_version(), 2);
    EXPECT_EQ(db.measurement_count(), 2);
    EXPECT_EQ(db.winner(key_for({4096, 16, 4}))->text(), "b64 r2 s1 u1");
  }
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  sqlite3_exec(raw, "PRAGMA user_version=9;", nullptr, nullptr, nullptr);
  sqlite3_close(raw);
  EXPECT_THROW(PerfDb{path}, InternalError);
}

TEST(PerfDb, EightProcessesWritingAtOnceLoseNoRow) {
  CacheDir dir;
  const std::string path = dir.path() + "/perf.sqlite";
  { PerfDb create(path); }
  std::vector<pid_t> children;
  for (int c = 0; c < 8; ++c) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      try {
        PerfDb db(path);
        for (int i = 0; i < 25; ++i)
          db.record(key_for({1024 + i, 16, 4}, "child" + std::to_string(c)), tuning(c + i));
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  PerfDb db(path);
  EXPECT_EQ(db.measurement_count(), 8 * 25 * 4);
  for (int c = 0; c < 8; ++c)
    for (int i = 0; i < 25; ++i)
      ASSERT_TRUE(db.winner(key_for({1024 + i, 16, 4}, "child" + std::to_string(c))));
}

}  // namespace
}  // namespace kasmina::ir
