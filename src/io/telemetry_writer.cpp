#include "io/telemetry_writer.hpp"

#include <algorithm>
#include <exception>
#include <iostream>
#include <map>

#include "io/atomic_file.hpp"
#include "io/extendable_column.hpp"
#include "io/file_format.hpp"
#include "io/hdf5_io.hpp"
#include "io/memory_file.hpp"
#include "io/seed_stage_names.hpp"
#include "io/telemetry_layout.hpp"

namespace kasmina::io {

namespace {

std::vector<ExtendableColumn> create_columns(hid_t file, const std::string& group,
                                             const std::vector<ColumnSpec>& specs) {
  std::vector<ExtendableColumn> columns;
  for (const ColumnSpec& spec : specs) {
    const std::string name = group + "/" + spec.name;
    columns.push_back(spec.is_string
                          ? ExtendableColumn::strings(file, name, kTableChunkRows)
                          : ExtendableColumn::numeric(file, name, spec.dtype, {}, kTableChunkRows));
  }
  return columns;
}

}  // namespace

struct TelemetryWriter::Impl {
  struct SeedLayer {
    int64_t num_seeds = 0;
    int64_t num_fields = 0;
    ExtendableColumn stats;
    ExtendableColumn step;
  };

  std::string path;
  H5Id file;  // in memory (memory_file.hpp); stored at `path` by flush()
  int uncaught_at_start = 0;
  std::vector<ExtendableColumn> steps, epochs, events, messages;
  std::map<std::string, SeedLayer> seed_layers;

  void check_open() const { KASMINA_CHECK(file.valid(), "telemetry file " + path + " is closed"); }

  template <class Fn>
  void for_each_column(Fn fn) {
    for (auto* table : {&steps, &epochs, &events, &messages})
      for (auto& c : *table) fn(c);
    for (auto& [name, layer] : seed_layers) {
      fn(layer.stats);
      fn(layer.step);
    }
  }
};

TelemetryWriter::TelemetryWriter(const std::string& path, const TelemetryRunInfo& info)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->uncaught_at_start = std::uncaught_exceptions();
  impl_->file = create_memory_file(path);
  const hid_t f = impl_->file;
  write_root_attributes(f, kTelemetryFormat, info.config_yaml);
  write_attribute_string(f, "config_name", info.config_name);
  write_attribute_string(f, "device", info.device);
  write_attribute_string(f, "start_time",
                         info.start_time.empty() ? utc_timestamp_now() : info.start_time);
  impl_->steps = create_columns(f, "steps", step_columns());
  impl_->epochs = create_columns(f, "epochs", epoch_columns());
  impl_->events = create_columns(f, "events", event_columns());
  impl_->messages = create_columns(f, "messages", message_columns());
  create_group(f, "seeds");
  H5Id events = open_group(f, "events");
  write_attribute_strings(events, "stage_names", seed_stage_names());
}

TelemetryWriter::~TelemetryWriter() {
  try {
    close();
  } catch (const std::exception& e) {
    // While an exception unwinds (a run failing, e.g. on a full disk) the last store is a best
    // effort: the failure being reported is the one the user needs to see.
    if (std::uncaught_exceptions() <= impl_->uncaught_at_start)
      std::cerr << "kasmina: warning: closing " << impl_->path << ": " << e.what() << "\n";
  }
}

void TelemetryWriter::append_step(const StepRecord& r) {
  impl_->check_open();
  auto& c = impl_->steps;
  c[0].append_value(r.step);
  c[1].append_value(r.epoch);
  c[2].append_value(r.loss);
  c[3].append_value(r.lr);
  c[4].append_value(r.samples_per_second);
  c[5].append_value(r.train_flops);
}

void TelemetryWriter::append_epoch(const EpochRecord& r) {
  impl_->check_open();
  auto& c = impl_->epochs;
  c[0].append_value(r.epoch);
  const double values[] = {r.train_loss, r.train_accuracy, r.validation_loss, r.validation_accuracy,
                           r.test_loss,  r.test_accuracy,  r.seconds};
  for (size_t i = 0; i < std::size(values); ++i) c[i + 1].append_value(values[i]);
}

void TelemetryWriter::add_seed_layer(const std::string& layer, int64_t num_seeds,
                                     const std::vector<std::string>& fields) {
  impl_->check_open();
  KASMINA_CHECK(
      !layer.empty() && layer.find('/') == std::string::npos && layer != "." && layer != "..",
      "telemetry layer name '" + layer + "' must be a plain name without '/'");
  KASMINA_CHECK(!impl_->seed_layers.contains(layer), "seed layer '" + layer + "' added twice");
  KASMINA_CHECK(num_seeds > 0 && !fields.empty(),
                "seed layer '" + layer + "' needs at least one seed and one field");
  const auto k = static_cast<int64_t>(fields.size());
  const int64_t row_bytes = num_seeds * k * static_cast<int64_t>(sizeof(float));
  const int64_t chunk_rows = std::clamp<int64_t>(kStatsChunkBytes / row_bytes, 1, kTableChunkRows);
  const std::string group = "seeds/" + layer;
  Impl::SeedLayer s{
      num_seeds, k,
      ExtendableColumn::numeric(impl_->file, group + "/stats", DType::f32, {num_seeds, k},
                                chunk_rows),
      ExtendableColumn::numeric(impl_->file, group + "/step", DType::i64, {}, chunk_rows)};
  H5Id stats = open_dataset(impl_->file, group + "/stats");
  write_attribute_strings(stats, "fields", fields);
  impl_->seed_layers.emplace(layer, std::move(s));
}

void TelemetryWriter::append_seed_stats(const std::string& layer, int64_t step,
                                        const float* stats) {
  impl_->check_open();
  auto it = impl_->seed_layers.find(layer);
  KASMINA_CHECK(it != impl_->seed_layers.end(), "seed layer '" + layer + "' was not added");
  it->second.stats.append(stats, 1);
  it->second.step.append_value(step);
}

void TelemetryWriter::append_event(const LifecycleEvent& e) {
  impl_->check_open();
  auto& c = impl_->events;
  c[0].append_value(e.step);
  c[1].append_string(e.layer);
  c[2].append_value(e.seed);
  c[3].append_value(e.from);
  c[4].append_value(e.to);
  c[5].append_string(e.blueprint);
  c[6].append_string(e.reason);
  c[7].append_value(e.value);
}

void TelemetryWriter::append_message(const BusMessageRecord& m) {
  impl_->check_open();
  auto& c = impl_->messages;
  c[0].append_value(m.step);
  c[1].append_string(m.topic);
  c[2].append_string(m.kind);
  c[3].append_string(m.payload);
}

void TelemetryWriter::flush() {
  const std::vector<unsigned char> image = flush_image();
  write_file_atomically(impl_->path, image.data(), image.size());
}

std::vector<unsigned char> TelemetryWriter::flush_image() {
  impl_->check_open();
  impl_->for_each_column([](ExtendableColumn& c) { c.write_pending(); });
  return file_image(impl_->file, impl_->path);
}

void TelemetryWriter::close() {
  if (!impl_->file.valid()) return;
  // The in-memory file is released whether or not the last store succeeds.
  struct Release {
    Impl& impl;
    ~Release() {
      for (auto* table : {&impl.steps, &impl.epochs, &impl.events, &impl.messages}) table->clear();
      impl.seed_layers.clear();
      impl.file.reset();
    }
  } release{*impl_};
  flush();
}

const std::string& TelemetryWriter::path() const {
  return impl_->path;
}

}  // namespace kasmina::io
