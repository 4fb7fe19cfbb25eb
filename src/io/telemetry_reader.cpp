#include "io/telemetry_reader.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <variant>

#include "io/dataset_reader.hpp"
#include "io/file_format.hpp"
#include "io/hdf5_io.hpp"
#include "io/telemetry_layout.hpp"

namespace kasmina::io {

namespace {

// One column read up to its checksum_rows, verified when asked.
using Column = DatasetValues;

int64_t verified_rows(hid_t dataset, const std::string& name) {
  const int64_t rows = read_attribute_i64(dataset, "checksum_rows");
  const Shape shape = dataset_shape(dataset);
  if (shape.empty() || rows < 0 || rows > shape[0])
    throw Hdf5Error("dataset " + name + ": checksum_rows " + std::to_string(rows) +
                    " does not fit its shape " + shape_str(shape));
  return rows;
}

Column read_column_unchecked(hid_t file, const std::string& name, bool verify) {
  H5Id ds = open_dataset(file, name);
  return read_verified(ds, name, verify, verified_rows(ds, name));
}

// Reads one column; any failure names the dataset.
Column read_column(hid_t file, const std::string& name, bool verify) {
  try {
    return read_column_unchecked(file, name, verify);
  } catch (const Hdf5Error& e) {
    const std::string what = e.what();
    if (what.find(name) != std::string::npos) throw;
    throw Hdf5Error("dataset " + name + ": " + what);
  }
}

int64_t column_rows(const Column& c) {
  if (const auto* s = std::get_if<std::vector<std::string>>(&c))
    return static_cast<int64_t>(s->size());
  return std::get<HostArray>(c).shape.at(0);
}

// A table: its columns by name, all usable up to `rows`.
struct Table {
  std::map<std::string, Column> columns;
  int64_t rows = 0;

  template <class T>
  T value(const std::string& name, int64_t i) const {
    const HostArray& a = std::get<HostArray>(columns.at(name));
    if (a.dtype != dtype_of<T>::value)
      throw Hdf5Error("column " + name + " has dtype " + dtype_name(a.dtype));
    T v;
    std::memcpy(&v, a.bytes.data() + static_cast<size_t>(i) * sizeof(T), sizeof(T));
    return v;
  }
  const std::string& text(const std::string& name, int64_t i) const {
    return std::get<std::vector<std::string>>(columns.at(name)).at(static_cast<size_t>(i));
  }
};

Table read_table(hid_t file, const std::string& group, const std::vector<ColumnSpec>& specs,
                 bool verify) {
  Table t;
  bool first = true;
  for (const ColumnSpec& spec : specs) {
    const std::string name = "/" + group + "/" + spec.name;
    Column c = read_column(file, name, verify);
    const bool is_string = std::holds_alternative<std::vector<std::string>>(c);
    if (is_string != spec.is_string || (!is_string && std::get<HostArray>(c).dtype != spec.dtype))
      throw Hdf5Error("dataset " + name + " has an unexpected element type");
    t.rows = first ? column_rows(c) : std::min(t.rows, column_rows(c));
    first = false;
    t.columns.emplace(spec.name, std::move(c));
  }
  return t;
}

SeedLayerTelemetry read_seed_layer(hid_t file, const std::string& layer,
                                   const TelemetryReadOptions& options) {
  SeedLayerTelemetry s;
  s.name = layer;
  const std::string base = "/seeds/" + layer;
  H5Id stats = open_dataset(file, base + "/stats");
  const Shape shape = dataset_shape(stats);
  if (shape.size() != 3) throw Hdf5Error("dataset " + base + "/stats is not 3-D");
  s.num_seeds = shape[1];
  s.fields = read_attribute_strings(stats, "fields");
  if (static_cast<int64_t>(s.fields.size()) != shape[2])
    throw Hdf5Error("dataset " + base + "/stats: " + std::to_string(s.fields.size()) +
                    " field names for " + std::to_string(shape[2]) + " fields");
  Column step = read_column(file, base + "/step", options.verify);
  const HostArray& step_array = std::get<HostArray>(step);
  if (step_array.dtype != DType::i64) throw Hdf5Error("dataset " + base + "/step is not int64");
  int64_t rows = column_rows(step);
  if (options.seed_stats) {
    Column c = read_column(file, base + "/stats", options.verify);
    const HostArray& a = std::get<HostArray>(c);
    if (a.dtype != DType::f32) throw Hdf5Error("dataset " + base + "/stats is not float32");
    rows = std::min(rows, column_rows(c));
    s.stats.resize(static_cast<size_t>(rows * s.num_seeds * shape[2]));
    std::memcpy(s.stats.data(), a.bytes.data(), s.stats.size() * sizeof(float));
  } else {
    rows = std::min(rows, verified_rows(stats, base + "/stats"));
  }
  s.steps.resize(static_cast<size_t>(rows));
  std::memcpy(s.steps.data(), step_array.bytes.data(), s.steps.size() * sizeof(int64_t));
  return s;
}

TelemetryData read_all(const std::string& path, const TelemetryReadOptions& options) {
  H5Id file = open_kasmina_file(path, kTelemetryFormat);
  TelemetryData d;
  d.schema_version = read_attribute_i64(file, "schema_version");
  d.kasmina_version = read_attribute_string(file, "kasmina_version");
  d.config_yaml = read_attribute_string(file, "config");
  d.config_name = read_attribute_string(file, "config_name");
  d.device = read_attribute_string(file, "device");
  d.start_time = read_attribute_string(file, "start_time");

  const Table steps = read_table(file, "steps", step_columns(), options.verify);
  for (int64_t i = 0; i < steps.rows; ++i)
    d.steps.push_back({steps.value<int64_t>("step", i), steps.value<int64_t>("epoch", i),
                       steps.value<double>("loss", i), steps.value<double>("lr", i),
                       steps.value<double>("samples_per_second", i),
                       steps.value<double>("train_flops", i)});

  const Table epochs = read_table(file, "epochs", epoch_columns(), options.verify);
  for (int64_t i = 0; i < epochs.rows; ++i)
    d.epochs.push_back(
        {epochs.value<int64_t>("epoch", i), epochs.value<double>("train_loss", i),
         epochs.value<double>("train_accuracy", i), epochs.value<double>("validation_loss", i),
         epochs.value<double>("validation_accuracy", i), epochs.value<double>("test_loss", i),
         epochs.value<double>("test_accuracy", i), epochs.value<double>("seconds", i)});

  const Table events = read_table(file, "events", event_columns(), options.verify);
  for (int64_t i = 0; i < events.rows; ++i)
    d.events.push_back({events.value<int64_t>("step", i), events.text("layer", i),
                        events.value<int64_t>("seed", i), events.value<int32_t>("from", i),
                        events.value<int32_t>("to", i), events.text("blueprint", i),
                        events.text("reason", i), events.value<double>("value", i)});

  const Table messages = read_table(file, "messages", message_columns(), options.verify);
  for (int64_t i = 0; i < messages.rows; ++i)
    d.messages.push_back({messages.value<int64_t>("step", i), messages.text("topic", i),
                          messages.text("kind", i), messages.text("payload", i)});

  H5Id seeds = open_group(file, "seeds");
  for (const std::string& layer : list_children(seeds))
    d.seed_layers.push_back(read_seed_layer(file, layer, options));
  return d;
}

}  // namespace

TelemetryData read_telemetry(const std::string& path, const TelemetryReadOptions& options) {
  return translate_damage(path, [&] { return read_all(path, options); });
}

}  // namespace kasmina::io
