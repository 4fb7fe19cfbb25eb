#include "ir/perf_db.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/error.hpp"

namespace kasmina::ir {

namespace {

// Migrations: step k brings a database from version k to k + 1.
const char* const kMigrations[kPerfSchemaVersion] = {
    // 0 -> 1: the measurements.
    "CREATE TABLE measurements (kernel TEXT NOT NULL, rows INTEGER NOT NULL, chunk INTEGER NOT "
    "NULL, hidden INTEGER NOT NULL, gpu TEXT NOT NULL, sm_count INTEGER NOT NULL, driver TEXT NOT "
    "NULL, config TEXT NOT NULL, time_us REAL NOT NULL, measured_at INTEGER NOT NULL);",
    // 1 -> 2: the winners (filled from the measurements kept so far: SQLite takes the bare
    // columns of a MIN() from the row of the minimum), the lookup index.
    "CREATE TABLE winners (kernel TEXT NOT NULL, rows INTEGER NOT NULL, chunk INTEGER NOT NULL, "
    "hidden INTEGER NOT NULL, gpu TEXT NOT NULL, sm_count INTEGER NOT NULL, driver TEXT NOT NULL, "
    "config TEXT NOT NULL, time_us REAL NOT NULL, measured_at INTEGER NOT NULL, PRIMARY KEY "
    "(kernel, rows, chunk, hidden, gpu, sm_count, driver));"
    "INSERT OR REPLACE INTO winners SELECT kernel, rows, chunk, hidden, gpu, sm_count, driver, "
    "config, MIN(time_us), measured_at FROM measurements GROUP BY kernel, rows, chunk, "
    "hidden, gpu, sm_count, driver;"
    "CREATE INDEX measurements_key ON measurements (kernel, gpu, sm_count, driver);"};

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK)
      throw InternalError(std::string("performance database: ") + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(s_); }
  Statement& text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.c_str(), -1, SQLITE_TRANSIENT);
    return *this;
  }
  Statement& integer(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Statement& real(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  // Binds kernel, rows, chunk, hidden, gpu, sm_count, driver to 1..7.
  Statement& key(const PerfKey& k) {
    return text(1, k.kernel)
        .integer(2, k.shape.rows)
        .integer(3, k.shape.chunk)
        .integer(4, k.shape.hidden)
        .text(5, k.gpu)
        .integer(6, k.sm_count)
        .text(7, k.driver);
  }
  bool step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw InternalError(std::string("performance database: ") +
                        sqlite3_errmsg(sqlite3_db_handle(s_)));
  }
  std::string column_text(int i) {
    const unsigned char* t = sqlite3_column_text(s_, i);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  int64_t column_int(int i) { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3_stmt* s_ = nullptr;
};

std::optional<LaunchConfig> parse_config(const std::string& t) {
  LaunchConfig c;
  if (std::sscanf(t.c_str(), "b%d r%d s%d u%d", &c.block, &c.rows_per_block, &c.seeds_per_block,
                  &c.unroll) != 4)
    return std::nullopt;
  return c;
}

double distance(const ProblemShape& a, const ProblemShape& b) {
  auto d = [](int64_t x, int64_t y) {
    return std::fabs(std::log2(static_cast<double>(std::max<int64_t>(x, 1)) /
                               static_cast<double>(std::max<int64_t>(y, 1))));
  };
  return d(a.rows, b.rows) + d(a.chunk, b.chunk) + d(a.hidden, b.hidden);
}

}  // namespace

std::string LaunchConfig::text() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "b%d r%d s%d u%d", block, rows_per_block, seeds_per_block, unroll);
  return buf;
}

PerfDb::PerfDb(const std::string& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw InternalError("performance database " + path + ": " + why);
  }
  sqlite3_busy_timeout(db_, 30000);
  exec("PRAGMA journal_mode=WAL;");
  exec("PRAGMA synchronous=NORMAL;");
  exec("BEGIN IMMEDIATE;");  // one process migrates at a time
  try {
    const int32_t from = schema_version();
    if (from > kPerfSchemaVersion)
      throw InternalError("performance database " + path + ": schema version " +
                          std::to_string(from) + " is newer than this build's " +
                          std::to_string(kPerfSchemaVersion));
    for (int32_t v = from; v < kPerfSchemaVersion; ++v) exec(kMigrations[v]);
    exec("PRAGMA user_version=" + std::to_string(kPerfSchemaVersion) + ";");
    exec("COMMIT;");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

PerfDb::~PerfDb() {
  sqlite3_close(db_);
}

void PerfDb::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string why = err ? err : "unknown error";
    sqlite3_free(err);
    throw InternalError("performance database " + path_ + ": " + why);
  }
}

int32_t PerfDb::schema_version() {
  Statement s(db_, "PRAGMA user_version;");
  return s.step() ? static_cast<int32_t>(s.column_int(0)) : 0;
}

LaunchConfig PerfDb::record(const PerfKey& key, const std::vector<Measurement>& tried) {
  KASMINA_CHECK(!tried.empty(), "performance database: a tuning run without measurements");
  const Measurement* best = &tried.front();
  for (const Measurement& m : tried)
    if (m.time_us < best->time_us ||
        (m.time_us == best->time_us && m.config.text() < best->config.text()))
      best = &m;
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  exec("BEGIN IMMEDIATE;");
  try {
    for (const Measurement& m : tried) {
      Statement ins(db_,
                    "INSERT INTO measurements VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10);");
      ins.key(key).text(8, m.config.text()).real(9, m.time_us).integer(10, now).step();
    }
    Statement win(
        db_, "INSERT OR REPLACE INTO winners VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10);");
    win.key(key).text(8, best->config.text()).real(9, best->time_us).integer(10, now).step();
    exec("COMMIT;");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
    throw;
  }
  return best->config;
}

std::optional<LaunchConfig> PerfDb::winner(const PerfKey& key) {
  Statement s(db_,
              "SELECT config FROM winners WHERE kernel = ?1 AND rows = ?2 AND chunk = ?3 AND "
              "hidden = ?4 AND gpu = ?5 AND sm_count = ?6 AND driver = ?7;");
  if (!s.key(key).step()) return std::nullopt;
  return parse_config(s.column_text(0));
}

std::optional<LaunchConfig> PerfDb::nearest(const PerfKey& key) {
  Statement s(db_,
              "SELECT rows, chunk, hidden, config FROM winners WHERE kernel = ?1 AND gpu = ?5 AND "
              "sm_count = ?6 AND driver = ?7 ORDER BY rows, chunk, hidden;");
  s.key(key);
  std::optional<LaunchConfig> best;
  double best_d = 0.0;
  while (s.step()) {
    const ProblemShape shape{s.column_int(0), s.column_int(1), s.column_int(2)};
    const double d = distance(shape, key.shape);
    if (!best || d < best_d) {  // ascending order: ties go to the smaller shape
      best = parse_config(s.column_text(3));
      best_d = d;
    }
  }
  return best;
}

int64_t PerfDb::measurement_count() {
  Statement s(db_, "SELECT COUNT(*) FROM measurements;");
  return s.step() ? s.column_int(0) : 0;
}

}  // namespace kasmina::ir
