// Checkpoint round trip, corruption detection, bad-file messages, latest and retention.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <cstring>
#include <filesystem>

#include "io/checkpoint.hpp"
#include "io/checkpoint_files.hpp"
#include "io/hdf5_handle.hpp"
#include "io/hdf5_io.hpp"
#include "io/telemetry_writer.hpp"
#include "io_test_util.hpp"
#include "same_state.hpp"
#include "tests/common/user_error.hpp"

namespace kasmina::io {
namespace {

namespace fs = std::filesystem;
using test::expect_same_state;
using test::TempDir;

// File offset of a contiguous dataset's raw data.
haddr_t raw_data_offset(const std::string& path, const std::string& dataset) {
  hdf5_init();
  H5Id file = own_file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
  H5Id ds = open_dataset(file, dataset);
  return H5Dget_offset(ds);
}

std::string copy_with_flipped_byte(const std::string& path, const std::string& dataset,
                                   size_t byte_in_dataset) {
  const haddr_t offset = raw_data_offset(path, dataset);
  EXPECT_NE(offset, HADDR_UNDEF);
  auto bytes = test::read_bytes(path);
  bytes.at(offset + byte_in_dataset) ^= 0x5a;
  const std::string copy = path + ".damaged.h5";
  test::write_bytes(copy, bytes);
  return copy;
}

TEST(Checkpoint, RoundTripOfEveryKindOfContent) {
  TempDir dir;
  const CheckpointState state = test::synthetic_state(11, 1234);
  const std::string path = checkpoint_path(dir.path(), state.step);
  write_checkpoint(path, state);
  const CheckpointState back = read_checkpoint(path);
  expect_same_state(state, back);
  // the dtypes survive
  EXPECT_EQ(back.find_tensor("seeds/kasmina1/stage")->dtype(), DType::u8);
  EXPECT_EQ(back.find_tensor("seeds/kasmina1/blueprint")->dtype(), DType::i32);
  EXPECT_EQ(back.find_tensor("optimizer.v.model.0.weight")->dtype(), DType::f64);
  EXPECT_EQ(back.find_tensor("rng/philox")->dtype(), DType::i64);
  EXPECT_EQ(back.find_tensor("controller/budget")->ndim(), 0);
  EXPECT_EQ(back.find_tensor("missing"), nullptr);
  EXPECT_TRUE(verify_checkpoint(path).ok);
}

TEST(Checkpoint, OnlyTheFinalFileRemainsAndOverwriteReplaces) {
  TempDir dir;
  const std::string path = checkpoint_path(dir.path(), 5);
  write_checkpoint(path, test::synthetic_state(1, 5));
  CheckpointState second = test::synthetic_state(2, 5);
  write_checkpoint(path, second);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(fs::path(path).parent_path()))
    names.push_back(e.path().filename().string());
  ASSERT_EQ(names, std::vector<std::string>{"step_5.h5"});
  expect_same_state(second, read_checkpoint(path));
}

TEST(Checkpoint, FlippedByteIsFoundAndNamed) {
  TempDir dir;
  const CheckpointState state = test::synthetic_state(21, 50);
  const std::string path = checkpoint_path(dir.path(), 50);
  write_checkpoint(path, state);
  for (const char* name : {"model.2.weight", "seeds/kasmina1/stage", "rng/philox"}) {
    const std::string dataset = std::string("/tensors/") + name;
    const std::string damaged = copy_with_flipped_byte(path, dataset, 3);
    const CheckpointVerification v = verify_checkpoint(damaged);
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.failed_dataset, dataset);
    const std::string msg =
        kasmina::testing::user_error_message([&] { read_checkpoint(damaged, true); });
    EXPECT_EQ(
        msg.rfind(damaged + ": truncated or damaged: checksum mismatch in dataset " + dataset + " ",
                  0),
        0u)
        << msg;
    // Without verification the damaged bytes come through unnoticed: the checksum is what
    // caught them.
    const CheckpointState unverified = read_checkpoint(damaged, false);
    const Tensor* t = unverified.find_tensor(name);
    ASSERT_NE(t, nullptr);
    EXPECT_NE(std::memcmp(t->raw(), state.find_tensor(name)->raw(), t->nbytes()), 0);
  }
}

TEST(Checkpoint, BadFilesGiveOneClearUserError) {
  TempDir dir;
  const std::string text = dir.file("notes.h5");
  test::write_bytes(text, {'h', 'e', 'l', 'l', 'o', '\n'});
  EXPECT_EQ(kasmina::testing::user_error_message([&] { read_checkpoint(text); }),
            text + ": not an HDF5 file");

  const std::string missing = dir.file("missing.h5");
  EXPECT_EQ(kasmina::testing::user_error_message([&] { read_checkpoint(missing); }),
            missing + ": no such file");

  const std::string telemetry = dir.file("telemetry.h5");
  { TelemetryWriter w(telemetry, {"a: 1\n", "cfg", "cpu", ""}); }
  EXPECT_EQ(kasmina::testing::user_error_message([&] { read_checkpoint(telemetry); }),
            telemetry + ": is a kasmina-telemetry file, expected kasmina-checkpoint");

  const std::string plain = dir.file("plain.h5");
  {
    hdf5_init();
    H5Id f = own_file(H5Fcreate(plain.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "c");
  }
  EXPECT_EQ(kasmina::testing::user_error_message([&] { read_checkpoint(plain); }),
            plain + ": not a kasmina file (no 'format' attribute)");

  const std::string newer = checkpoint_path(dir.path(), 1);
  write_checkpoint(newer, test::synthetic_state(3, 1));
  {
    H5Id f = own_file(H5Fopen(newer.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), "open");
    write_attribute_i64(f, "schema_version", 7);
  }
  EXPECT_EQ(kasmina::testing::user_error_message([&] { read_checkpoint(newer); }),
            newer + ": schema_version 7 is newer than this kasmina supports (1)");

  const std::string good = checkpoint_path(dir.path(), 2);
  write_checkpoint(good, test::synthetic_state(4, 2));
  const auto bytes = test::read_bytes(good);
  for (size_t keep : {bytes.size() / 2, bytes.size() - 16, size_t{1200}}) {
    const std::string truncated = dir.file("truncated_" + std::to_string(keep) + ".h5");
    test::write_bytes(truncated, {bytes.begin(), bytes.begin() + static_cast<long>(keep)});
    const std::string msg =
        kasmina::testing::user_error_message([&] { read_checkpoint(truncated); });
    EXPECT_EQ(msg.rfind(truncated + ": truncated or damaged: ", 0), 0u) << msg;
    EXPECT_FALSE(verify_checkpoint(truncated).ok);
  }
}

TEST(CheckpointFiles, LatestSkipsDamagedAndPruneKeepsTheNewest) {
  TempDir dir;
  for (int64_t step : {10, 20, 30}) {
    write_checkpoint(checkpoint_path(dir.path(), step), test::synthetic_state(step, step));
  }
  // a damaged newest checkpoint and an unrelated file
  const std::string newest = checkpoint_path(dir.path(), 30);
  const std::string damaged = copy_with_flipped_byte(newest, "/tensors/model.0.bias", 0);
  fs::rename(damaged, newest);
  test::write_bytes(dir.path() + "/checkpoints/notes.txt", {'x'});

  const auto files = list_checkpoints(dir.path());
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].step, 10);
  EXPECT_EQ(files[2].step, 30);
  const auto latest = latest_checkpoint(dir.path());
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->step, 20);
  EXPECT_EQ(latest->path, checkpoint_path(dir.path(), 20));
  EXPECT_FALSE(latest_checkpoint(dir.file("nothing-here")).has_value());

  // stale temporaries of dead writers go, those of live ones stay
  const std::string stale = dir.path() + "/checkpoints/.step_40.h5.tmp-999999999";
  const std::string live =
      dir.path() + "/checkpoints/.step_50.h5.tmp-" + std::to_string(::getpid());
  test::write_bytes(stale, {'x'});
  test::write_bytes(live, {'x'});
  const auto removed = prune_checkpoints(dir.path(), 2);
  EXPECT_EQ(removed.size(), 2u);
  EXPECT_FALSE(fs::exists(checkpoint_path(dir.path(), 10)));
  EXPECT_TRUE(fs::exists(checkpoint_path(dir.path(), 20)));
  EXPECT_TRUE(fs::exists(checkpoint_path(dir.path(), 30)));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_THROW(prune_checkpoints(dir.path(), 0), InternalError);
}

TEST(Checkpoint, RejectsBadTensorNames) {
  TempDir dir;
  for (const char* bad : {"", "/abs", "a//b", "a/../b", "trailing/"}) {
    CheckpointState s = test::synthetic_state(1, 1);
    s.tensors.push_back({bad, Tensor::zeros({2})});
    const std::string path = checkpoint_path(dir.path(), 1);
    EXPECT_THROW(write_checkpoint(path, s), InternalError) << bad;
    EXPECT_FALSE(fs::exists(path)) << bad;
  }
  // Nothing was written: not even the checkpoints directory holds a (temporary) file.
  const std::string checkpoints = dir.path() + "/checkpoints";
  EXPECT_TRUE(!fs::exists(checkpoints) || fs::is_empty(checkpoints));
}

}  // namespace
}  // namespace kasmina::io
