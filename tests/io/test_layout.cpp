// The files match docs/FORMATS.md, checked object by object with the HDF5 API: object types,
// element types, ranks, extents, storage layout, filters and attributes.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <vector>

#include "io/checkpoint.hpp"
#include "io/checkpoint_files.hpp"
#include "io/hdf5_handle.hpp"
#include "io/hdf5_io.hpp"
#include "io/telemetry_writer.hpp"
#include "io_test_util.hpp"

namespace kasmina::io {
namespace {

using test::TempDir;

// An element type as FORMATS.md writes it.
enum class Elem { f32, f64, i32, i64, u8, u32, str };

const char* elem_name(Elem e) {
  switch (e) {
    case Elem::f32:
      return "float32";
    case Elem::f64:
      return "float64";
    case Elem::i32:
      return "int32";
    case Elem::i64:
      return "int64";
    case Elem::u8:
      return "uint8";
    case Elem::u32:
      return "uint32";
    case Elem::str:
      return "string";
  }
  return "?";
}

void expect_type(hid_t type, Elem e, const std::string& where) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  SCOPED_TRACE(where + " should be " + elem_name(e));
  switch (e) {
    case Elem::str:
      EXPECT_EQ(cls, H5T_STRING);
      EXPECT_GT(H5Tis_variable_str(type), 0);
      EXPECT_EQ(H5Tget_cset(type), H5T_CSET_UTF8);
      return;
    case Elem::f32:
    case Elem::f64:
      EXPECT_EQ(cls, H5T_FLOAT);
      EXPECT_EQ(size, e == Elem::f32 ? 4u : 8u);
      break;
    default: {
      EXPECT_EQ(cls, H5T_INTEGER);
      const size_t want = e == Elem::u8 ? 1 : (e == Elem::i32 || e == Elem::u32) ? 4 : 8;
      EXPECT_EQ(size, want);
      const bool is_unsigned = e == Elem::u8 || e == Elem::u32;
      EXPECT_EQ(H5Tget_sign(type), is_unsigned ? H5T_SGN_NONE : H5T_SGN_2);
    }
  }
  EXPECT_EQ(H5Tget_order(type), H5T_ORDER_LE);
}

void expect_attribute(hid_t obj, const std::string& name, Elem e, int rank = 0) {
  ASSERT_GT(H5Aexists(obj, name.c_str()), 0) << "missing attribute " << name;
  H5Id attr = own_attribute(H5Aopen(obj, name.c_str(), H5P_DEFAULT), name);
  H5Id type = own_type(H5Aget_type(attr), name);
  H5Id space = own_space(H5Aget_space(attr), name);
  expect_type(type, e, "attribute " + name);
  EXPECT_EQ(H5Sget_simple_extent_ndims(space), rank) << "attribute " << name;
}

struct DatasetSpec {
  std::string path;
  Elem elem;
  int rank;
};

// A dataset: element type, rank, layout; extendable ones are chunked with an unlimited first
// dimension and compressed (deflate, plus shuffle for numbers) and carry checksum_rows.
void expect_dataset(hid_t file, const DatasetSpec& s, bool extendable) {
  SCOPED_TRACE(s.path);
  ASSERT_TRUE(path_exists(file, s.path));
  ASSERT_EQ(object_type(file, s.path), H5O_TYPE_DATASET);
  H5Id ds = open_dataset(file, s.path);
  H5Id type = own_type(H5Dget_type(ds), "type");
  expect_type(type, s.elem, s.path);
  H5Id space = own_space(H5Dget_space(ds), "space");
  ASSERT_EQ(H5Sget_simple_extent_ndims(space), s.rank);
  expect_attribute(ds, "checksum", Elem::u32);
  H5Id dcpl = own_plist(H5Dget_create_plist(ds), "dcpl");
  if (extendable) {
    std::vector<hsize_t> dims(static_cast<size_t>(s.rank)), maxdims(dims.size());
    H5Sget_simple_extent_dims(space, dims.data(), maxdims.data());
    EXPECT_EQ(maxdims[0], H5S_UNLIMITED);
    for (size_t i = 1; i < dims.size(); ++i) EXPECT_EQ(maxdims[i], dims[i]);
    EXPECT_EQ(H5Pget_layout(dcpl), H5D_CHUNKED);
    const int nfilters = H5Pget_nfilters(dcpl);
    std::vector<H5Z_filter_t> filters;
    for (int i = 0; i < nfilters; ++i) {
      unsigned flags = 0;
      size_t nelmts = 0;
      unsigned config = 0;
      filters.push_back(H5Pget_filter2(dcpl, static_cast<unsigned>(i), &flags, &nelmts, nullptr, 0,
                                       nullptr, &config));
    }
    const std::vector<H5Z_filter_t> want =
        s.elem == Elem::str ? std::vector<H5Z_filter_t>{H5Z_FILTER_DEFLATE}
                            : std::vector<H5Z_filter_t>{H5Z_FILTER_SHUFFLE, H5Z_FILTER_DEFLATE};
    EXPECT_EQ(filters, want);
    expect_attribute(ds, "checksum_rows", Elem::i64);
  } else {
    EXPECT_EQ(H5Pget_layout(dcpl), H5D_CONTIGUOUS);
    EXPECT_EQ(H5Pget_nfilters(dcpl), 0);
  }
}

void expect_group(hid_t file, const std::string& path) {
  ASSERT_TRUE(path_exists(file, path)) << path;
  EXPECT_EQ(object_type(file, path), H5O_TYPE_GROUP) << path;
}

void expect_common_root(hid_t file, const std::string& format) {
  expect_attribute(file, "format", Elem::str);
  EXPECT_EQ(read_attribute_string(file, "format"), format);
  expect_attribute(file, "schema_version", Elem::i64);
  EXPECT_EQ(read_attribute_i64(file, "schema_version"), 1);
  expect_attribute(file, "kasmina_version", Elem::str);
  expect_attribute(file, "checksum_algorithm", Elem::str);
  EXPECT_EQ(read_attribute_string(file, "checksum_algorithm"), "crc32");
  expect_attribute(file, "config", Elem::str);
  expect_attribute(file, "config_name", Elem::str);
}

TEST(Layout, TelemetryMatchesFormatsMd) {
  TempDir dir;
  const std::string path = dir.file("telemetry.h5");
  {
    TelemetryWriter w(path, {"a: 1\n", "layout", "cpu", ""});
    w.add_seed_layer("kasmina1", 12, {"mean", "variance"});
    std::vector<float> stats(24, 0.5f);
    w.append_seed_stats("kasmina1", 10, stats.data());
    w.append_step({1, 0, 0.5, 1e-3, 100.0});
    w.append_epoch({0, 0.5, 0.9, kAbsent, kAbsent, 0.6, 0.8, 2.0});
    w.append_event({10, "kasmina1", 3, 0, 1, "residual_mlp", "germinate", 0.25});
    w.append_message({10, "control", "Germinate", "{}"});
  }
  hdf5_init();
  H5Id file = own_file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
  expect_common_root(file, "kasmina-telemetry");
  expect_attribute(file, "device", Elem::str);
  expect_attribute(file, "start_time", Elem::str);
  for (const char* g : {"/steps", "/epochs", "/events", "/messages", "/seeds", "/seeds/kasmina1"})
    expect_group(file, g);
  const std::vector<DatasetSpec> datasets = {
      {"/steps/step", Elem::i64, 1},
      {"/steps/epoch", Elem::i64, 1},
      {"/steps/loss", Elem::f64, 1},
      {"/steps/lr", Elem::f64, 1},
      {"/steps/samples_per_second", Elem::f64, 1},
      {"/steps/train_flops", Elem::f64, 1},
      {"/epochs/epoch", Elem::i64, 1},
      {"/epochs/train_loss", Elem::f64, 1},
      {"/epochs/train_accuracy", Elem::f64, 1},
      {"/epochs/validation_loss", Elem::f64, 1},
      {"/epochs/validation_accuracy", Elem::f64, 1},
      {"/epochs/test_loss", Elem::f64, 1},
      {"/epochs/test_accuracy", Elem::f64, 1},
      {"/epochs/seconds", Elem::f64, 1},
      {"/events/step", Elem::i64, 1},
      {"/events/layer", Elem::str, 1},
      {"/events/seed", Elem::i64, 1},
      {"/events/from", Elem::i32, 1},
      {"/events/to", Elem::i32, 1},
      {"/events/blueprint", Elem::str, 1},
      {"/events/reason", Elem::str, 1},
      {"/events/value", Elem::f64, 1},
      {"/messages/step", Elem::i64, 1},
      {"/messages/topic", Elem::str, 1},
      {"/messages/kind", Elem::str, 1},
      {"/messages/payload", Elem::str, 1},
      {"/seeds/kasmina1/stats", Elem::f32, 3},
      {"/seeds/kasmina1/step", Elem::i64, 1},
  };
  for (const auto& d : datasets) expect_dataset(file, d, true);
  H5Id stats = open_dataset(file, "/seeds/kasmina1/stats");
  EXPECT_EQ(dataset_shape(stats), (Shape{1, 12, 2}));
  expect_attribute(stats, "fields", Elem::str, 1);
  EXPECT_EQ(read_attribute_strings(stats, "fields"),
            (std::vector<std::string>{"mean", "variance"}));
  H5Id events = open_group(file, "/events");
  expect_attribute(events, "stage_names", Elem::str, 1);
  EXPECT_EQ(read_attribute_strings(events, "stage_names").size(), 11u);
  EXPECT_EQ(read_attribute_strings(events, "stage_names")[7], "FOSSILIZED");
}

TEST(Layout, CheckpointMatchesFormatsMd) {
  TempDir dir;
  const std::string path = checkpoint_path(dir.path(), 77);
  write_checkpoint(path, test::synthetic_state(3, 77));
  hdf5_init();
  H5Id file = own_file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "open");
  expect_common_root(file, "kasmina-checkpoint");
  for (const char* a : {"step", "epoch", "epoch_position"}) expect_attribute(file, a, Elem::i64);
  EXPECT_EQ(read_attribute_i64(file, "step"), 77);
  expect_attribute(file, "created", Elem::str);
  for (const char* g : {"/tensors", "/tensors/seeds", "/tensors/seeds/kasmina1", "/ints", "/floats",
                        "/strings", "/metrics"})
    expect_group(file, g);
  const std::vector<DatasetSpec> datasets = {
      {"/tensor_names", Elem::str, 1},
      {"/tensors/model.0.weight", Elem::f32, 2},
      {"/tensors/optimizer.v.model.0.weight", Elem::f64, 2},
      {"/tensors/seeds/kasmina1/stage", Elem::u8, 1},
      {"/tensors/seeds/kasmina1/blueprint", Elem::i32, 1},
      {"/tensors/rng/philox", Elem::i64, 1},
      {"/tensors/controller/budget", Elem::f64, 0},
      {"/ints/names", Elem::str, 1},
      {"/ints/values", Elem::i64, 1},
      {"/floats/names", Elem::str, 1},
      {"/floats/values", Elem::f64, 1},
      {"/strings/names", Elem::str, 1},
      {"/strings/values", Elem::str, 1},
      {"/metrics/names", Elem::str, 1},
      {"/metrics/values", Elem::f64, 1},
  };
  for (const auto& d : datasets) expect_dataset(file, d, false);
  H5Id names = open_dataset(file, "/tensor_names");
  const auto listed = read_strings(names);
  ASSERT_EQ(listed.size(), 13u);
  EXPECT_EQ(listed.front(), "model.0.weight");
  for (const auto& n : listed) EXPECT_TRUE(path_exists(file, "/tensors/" + n)) << n;
}

}  // namespace
}  // namespace kasmina::io
