// Telemetry round trip, damage detection, and a file that survives SIGKILL after a flush.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <random>

#include "io/hdf5_handle.hpp"
#include "io/hdf5_io.hpp"
#include "io/telemetry_reader.hpp"
#include "io/telemetry_writer.hpp"
#include "io_test_util.hpp"

namespace kasmina::io {
namespace {

using test::TempDir;

// Equal, or both NaN.
bool same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

// Random telemetry of a small run, kept in memory to compare against what is read back.
struct SyntheticRun {
  TelemetryRunInfo info{"name: tele\nseed: 9\n", "tele", "cpu", "2026-01-02T03:04:05Z"};
  std::vector<StepRecord> steps;
  std::vector<EpochRecord> epochs;
  std::vector<LifecycleEvent> events;
  std::vector<BusMessageRecord> messages;
  struct Layer {
    std::string name;
    int64_t seeds;
    std::vector<std::string> fields;
    std::vector<int64_t> steps;
    std::vector<float> stats;
  };
  std::vector<Layer> layers;

  SyntheticRun(uint64_t seed, int64_t num_steps) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::normal_distribution<float> n(0.0f, 1.0f);
    for (int64_t i = 0; i < num_steps; ++i)
      steps.push_back({i, i / 1000, u(rng) * 3, 1e-3 * u(rng), 1e5 * u(rng), 1e9 * u(rng)});
    for (int64_t e = 0; e < num_steps / 1000; ++e)
      epochs.push_back({e, u(rng), u(rng), e % 2 ? kAbsent : u(rng), e % 2 ? kAbsent : u(rng),
                        u(rng), u(rng), 10 * u(rng)});
    layers.push_back({"kasmina1", 64, {"mean", "variance", "dead_fraction"}, {}, {}});
    layers.push_back({"kasmina2", 3000, {"grad_norm"}, {}, {}});
    for (auto& l : layers) {
      for (int64_t t = 0; t < 37; ++t) {
        l.steps.push_back(t * 25);
        for (int64_t k = 0; k < l.seeds * static_cast<int64_t>(l.fields.size()); ++k)
          l.stats.push_back(n(rng));
      }
    }
    std::uniform_int_distribution<int> stage(0, 10);
    for (int i = 0; i < 250; ++i)
      events.push_back({i * 7, i % 3 ? "kasmina1" : "kasmina2", i % 64, stage(rng), stage(rng),
                        i % 2 ? "residual_mlp" : "", "gate " + std::to_string(i), u(rng)});
    for (int i = 0; i < 40; ++i)
      messages.push_back({i * 11, "telemetry.kasmina1", "SeedStats",
                          "{\"seed\": " + std::to_string(i) + ", \"note\": \"ä\"}"});
  }

  void write(TelemetryWriter& w) const {
    for (const auto& l : layers) w.add_seed_layer(l.name, l.seeds, l.fields);
    for (const auto& s : steps) w.append_step(s);
    for (const auto& e : epochs) w.append_epoch(e);
    for (const auto& l : layers) {
      const size_t row = static_cast<size_t>(l.seeds) * l.fields.size();
      for (size_t t = 0; t < l.steps.size(); ++t)
        w.append_seed_stats(l.name, l.steps[t], l.stats.data() + t * row);
    }
    for (const auto& e : events) w.append_event(e);
    for (const auto& m : messages) w.append_message(m);
  }

  void expect_matches(const TelemetryData& d, bool with_stats = true) const {
    EXPECT_EQ(d.schema_version, 1);
    EXPECT_EQ(d.config_yaml, info.config_yaml);
    EXPECT_EQ(d.config_name, info.config_name);
    EXPECT_EQ(d.device, info.device);
    EXPECT_EQ(d.start_time, info.start_time);
    ASSERT_EQ(d.steps.size(), steps.size());
    for (size_t i = 0; i < steps.size(); ++i) {
      EXPECT_EQ(d.steps[i].step, steps[i].step);
      EXPECT_EQ(d.steps[i].epoch, steps[i].epoch);
      EXPECT_EQ(d.steps[i].loss, steps[i].loss);
      EXPECT_EQ(d.steps[i].lr, steps[i].lr);
      EXPECT_EQ(d.steps[i].samples_per_second, steps[i].samples_per_second);
      EXPECT_EQ(d.steps[i].train_flops, steps[i].train_flops);
    }
    ASSERT_EQ(d.epochs.size(), epochs.size());
    for (size_t i = 0; i < epochs.size(); ++i) {
      const auto &a = d.epochs[i], &b = epochs[i];
      EXPECT_EQ(a.epoch, b.epoch);
      EXPECT_TRUE(same(a.train_loss, b.train_loss) && same(a.train_accuracy, b.train_accuracy) &&
                  same(a.validation_loss, b.validation_loss) &&
                  same(a.validation_accuracy, b.validation_accuracy) &&
                  same(a.test_loss, b.test_loss) && same(a.test_accuracy, b.test_accuracy) &&
                  same(a.seconds, b.seconds))
          << "epoch " << i;
    }
    ASSERT_EQ(d.events.size(), events.size());
    for (size_t i = 0; i < events.size(); ++i) {
      const auto &a = d.events[i], &b = events[i];
      EXPECT_TRUE(a.step == b.step && a.layer == b.layer && a.seed == b.seed && a.from == b.from &&
                  a.to == b.to && a.blueprint == b.blueprint && a.reason == b.reason &&
                  a.value == b.value)
          << "event " << i;
    }
    ASSERT_EQ(d.messages.size(), messages.size());
    for (size_t i = 0; i < messages.size(); ++i) {
      const auto &a = d.messages[i], &b = messages[i];
      EXPECT_TRUE(a.step == b.step && a.topic == b.topic && a.kind == b.kind &&
                  a.payload == b.payload)
          << "message " << i;
    }
    ASSERT_EQ(d.seed_layers.size(), layers.size());
    for (size_t i = 0; i < layers.size(); ++i) {
      EXPECT_EQ(d.seed_layers[i].name, layers[i].name);
      EXPECT_EQ(d.seed_layers[i].num_seeds, layers[i].seeds);
      EXPECT_EQ(d.seed_layers[i].fields, layers[i].fields);
      EXPECT_EQ(d.seed_layers[i].steps, layers[i].steps);
      if (with_stats) {
        EXPECT_EQ(d.seed_layers[i].stats, layers[i].stats);
      } else {
        EXPECT_TRUE(d.seed_layers[i].stats.empty());
      }
    }
  }
};

TEST(Telemetry, RoundTripOfEveryTable) {
  TempDir dir;
  const std::string path = dir.file("telemetry.h5");
  const SyntheticRun run(5, 9500);  // more rows than one chunk
  {
    TelemetryWriter w(path, run.info);
    run.write(w);
  }
  run.expect_matches(read_telemetry(path));
  run.expect_matches(read_telemetry(path, {.verify = false, .seed_stats = false}), false);
}

TEST(Telemetry, EmptyRunAndDefaultStartTime) {
  TempDir dir;
  const std::string path = dir.file("telemetry.h5");
  { TelemetryWriter w(path, {"", "empty", "cuda:0", ""}); }
  const TelemetryData d = read_telemetry(path);
  EXPECT_TRUE(d.steps.empty() && d.epochs.empty() && d.events.empty() && d.messages.empty() &&
              d.seed_layers.empty());
  ASSERT_EQ(d.start_time.size(), 20u);  // 2026-01-31T12:34:56Z
  EXPECT_EQ(d.start_time[10], 'T');
  EXPECT_EQ(d.start_time.back(), 'Z');
}

TEST(Telemetry, WriterRejectsMisuse) {
  TempDir dir;
  TelemetryWriter w(dir.file("t.h5"), {});
  w.add_seed_layer("a", 4, {"mean"});
  EXPECT_THROW(w.add_seed_layer("a", 4, {"mean"}), InternalError);
  EXPECT_THROW(w.add_seed_layer("x/y", 4, {"mean"}), InternalError);
  EXPECT_THROW(w.add_seed_layer("b", 0, {"mean"}), InternalError);
  const float stats[4] = {1, 2, 3, 4};
  EXPECT_THROW(w.append_seed_stats("unknown", 0, stats), InternalError);
  w.close();
  EXPECT_THROW(w.append_step({}), InternalError);
}

TEST(Telemetry, DamagedChunkIsReportedWithItsDataset) {
  TempDir dir;
  const std::string path = dir.file("telemetry.h5");
  const SyntheticRun run(6, 3000);
  {
    TelemetryWriter w(path, run.info);
    run.write(w);
  }
  hsize_t chunk_offset = 0, chunk_bytes = 0;
  {
    hdf5_init();
    H5Id f = own_file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
    H5Id ds = open_dataset(f, "/steps/loss");
    hsize_t origin[1] = {0};
    unsigned mask = 0;
    haddr_t addr = 0;
    ASSERT_GE(H5Dget_chunk_info_by_coord(ds, origin, &mask, &addr, &chunk_bytes), 0);
    chunk_offset = addr;
  }
  auto bytes = test::read_bytes(path);
  bytes.at(chunk_offset + chunk_bytes / 2) ^= 0x10;
  const std::string damaged = dir.file("damaged.h5");
  test::write_bytes(damaged, bytes);
  try {
    read_telemetry(damaged);
    FAIL() << "damage not detected";
  } catch (const UserError& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(damaged + ": truncated or damaged: ", 0), 0u) << msg;
    EXPECT_NE(msg.find("/steps/loss"), std::string::npos) << msg;
  }
}

// The child appends and flushes, then appends more without flushing, tells the parent, and waits
// to be killed. The parent must read exactly the flushed part.
TEST(Telemetry, ReadableAfterSigkillUpToTheLastFlush) {
  TempDir dir;
  const std::string path = dir.file("telemetry.h5");
  const SyntheticRun run(7, 5000);
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(ready[0]);
    TelemetryWriter w(path, run.info);
    run.write(w);
    w.flush();
    w.append_step({999999, 9, 1.0, 1.0, 1.0});  // buffered, never flushed
    w.append_event({999999, "kasmina1", 0, 0, 1, "", "unflushed", 0.0});
    const char byte = 1;
    if (write(ready[1], &byte, 1) != 1) _exit(3);
    for (;;) pause();
  }
  test::ChildGuard guard(child);
  close(ready[1]);
  char byte = 0;
  ASSERT_EQ(read(ready[0], &byte, 1), 1);
  close(ready[0]);
  // While the writer still holds the file open (as during a run), a reader sees the flushed rows.
  run.expect_matches(read_telemetry(path));
  const int status = guard.kill_and_reap();
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  // Plain HDF5 API first: the file opens and holds the flushed rows.
  {
    hdf5_init();
    H5Id f = own_file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open killed file");
    H5Id ds = open_dataset(f, "/steps/loss");
    const int64_t rows = read_attribute_i64(ds, "checksum_rows");
    EXPECT_EQ(rows, 5000);
    const HostArray loss = read_array(ds, rows);
    ASSERT_EQ(loss.bytes.size(), 5000 * sizeof(double));
    double last = 0;
    std::memcpy(&last, loss.bytes.data() + 4999 * sizeof(double), sizeof last);
    EXPECT_EQ(last, run.steps.back().loss);
  }
  run.expect_matches(read_telemetry(path));
}

}  // namespace
}  // namespace kasmina::io
