#include "io/run_telemetry.hpp"

#include <cstdio>
#include <filesystem>

#include "core/error.hpp"
#include "io/telemetry_reader.hpp"
#include "morph/blueprint.hpp"
#include "morph/stage.hpp"
#include "nn/kasmina_layer.hpp"

namespace kasmina::io {

const std::vector<std::string>& seed_stat_fields() {
  static const std::vector<std::string> fields = {
      "mean",       "variance",  "dead_fraction", "max_abs",   "alpha",
      "stage",      "blueprint", "iso_loss_ema",  "drift_ema", "grad_norm_ema",
      "eval_score", "samples",   "grad_score"};
  return fields;
}

std::string morph_layer_name(int32_t layer_index) {
  return "kasmina" + std::to_string(layer_index);
}

RunTelemetry::RunTelemetry(const std::string& path, const TelemetryRunInfo& info,
                           const std::vector<morph::KasminaLayer*>& layers)
    : writer_(std::make_unique<TelemetryWriter>(path, info)) {
  declare_layers(layers);
  writer_->flush();
}

void RunTelemetry::declare_layers(const std::vector<morph::KasminaLayer*>& layers) {
  for (const morph::KasminaLayer* l : layers)
    writer_->add_seed_layer(morph_layer_name(l->config().layer_index), l->config().seeds,
                            seed_stat_fields());
}

std::unique_ptr<RunTelemetry> RunTelemetry::resume(const std::string& path,
                                                   const TelemetryRunInfo& info,
                                                   const std::vector<morph::KasminaLayer*>& layers,
                                                   int64_t step, int64_t epochs_done) {
  namespace fs = std::filesystem;
  TelemetryData old;
  bool have_old = fs::exists(path);
  if (have_old) {
    try {
      old = read_telemetry(path);
    } catch (const std::exception& e) {
      // Keep the unreadable file for inspection and start a new one; the run itself is intact.
      const std::string kept = path + ".unreadable";
      std::fprintf(stderr, "warning: %s; kept as %s, the resumed run starts a new telemetry file\n",
                   e.what(), kept.c_str());
      fs::rename(path, kept);
      old = TelemetryData{};
      have_old = false;
    }
  }
  TelemetryRunInfo kept = info;
  if (have_old && !old.start_time.empty()) kept.start_time = old.start_time;
  std::unique_ptr<RunTelemetry> t(new RunTelemetry());
  t->writer_ = std::make_unique<TelemetryWriter>(path, kept);
  t->resume_step_ = step;
  t->declare_layers(layers);
  TelemetryWriter& w = *t->writer_;
  for (const StepRecord& r : old.steps)
    if (r.step <= step) w.append_step(r);
  for (const EpochRecord& r : old.epochs)
    if (r.epoch <= epochs_done) w.append_epoch(r);
  for (const SeedLayerTelemetry& l : old.seed_layers) {
    const morph::KasminaLayer* match = nullptr;
    for (const morph::KasminaLayer* k : layers)
      if (morph_layer_name(k->config().layer_index) == l.name) match = k;
    if (!match || l.num_seeds != match->config().seeds || l.fields != seed_stat_fields()) continue;
    const size_t row = static_cast<size_t>(l.num_seeds) * l.fields.size();
    for (size_t i = 0; i < l.steps.size(); ++i)
      if (l.steps[i] <= step) w.append_seed_stats(l.name, l.steps[i], l.stats.data() + i * row);
  }
  for (const LifecycleEvent& e : old.events)
    if (e.step <= step) w.append_event(e);
  for (const BusMessageRecord& m : old.messages)
    if (m.step < step) w.append_message(m);
  w.flush();  // replaces the file in one piece: the kept rows and nothing after them
  return t;
}

void RunTelemetry::step(const StepMetrics& m) {
  writer_->append_step({m.step, m.epoch, m.loss, m.lr, m.samples_per_second, m.train_flops});
}

void RunTelemetry::epoch(const EpochReport& r) {
  EpochRecord e;
  e.epoch = r.epoch;
  e.train_loss = r.train_loss;
  e.train_accuracy = r.train_accuracy;
  if (r.validation) {
    e.validation_loss = r.validation->loss;
    e.validation_accuracy = r.validation->accuracy;
  }
  e.test_loss = r.test.loss;
  e.test_accuracy = r.test.accuracy;
  e.seconds = r.seconds;
  writer_->append_epoch(e);
}

void RunTelemetry::seed_stats(int32_t layer_index, const morph::KasminaLayer& layer, int64_t step) {
  const auto& tel = layer.last_telemetry();
  const size_t K = seed_stat_fields().size();
  const size_t S = static_cast<size_t>(layer.config().seeds);
  KASMINA_CHECK(tel.size() == S, "seed telemetry of layer " + std::to_string(layer_index) + ": " +
                                     std::to_string(tel.size()) + " seeds, expected " +
                                     std::to_string(S));
  scratch_.assign(S * K, 0.0f);
  for (size_t s = 0; s < S; ++s) {
    const morph::SeedTelemetry& t = tel[s];
    float* row = scratch_.data() + s * K;
    row[0] = static_cast<float>(t.mean);
    row[1] = static_cast<float>(t.variance);
    row[2] = static_cast<float>(t.dead_fraction);
    row[3] = static_cast<float>(t.max_abs);
    row[4] = t.alpha;
    row[5] = static_cast<float>(static_cast<int32_t>(t.stage));
    row[6] = static_cast<float>(t.blueprint);
    row[7] = t.iso_loss_ema;
    row[8] = t.drift_ema;
    row[9] = t.grad_norm_ema;
    row[10] = t.eval_score;
    row[11] = static_cast<float>(t.samples);
    row[12] = static_cast<float>(t.grad_score);
  }
  writer_->append_seed_stats(morph_layer_name(layer_index), step, scratch_.data());
}

LifecycleEvent lifecycle_record(const morph::MorphEvent& e, const std::string& note) {
  LifecycleEvent r;
  r.step = e.step;
  r.layer = morph_layer_name(e.layer);
  r.seed = e.seed;
  r.from = e.from;
  r.to = e.to;
  r.blueprint =
      e.blueprint >= 0 ? morph::blueprint_name(static_cast<morph::BlueprintKind>(e.blueprint)) : "";
  r.reason = morph::reason_name(static_cast<morph::Reason>(e.reason));
  // The event table has no separate note column: the decision's numbers follow the reason.
  if (!note.empty()) r.reason += ": " + note;
  r.value = static_cast<double>(e.value);
  return r;
}

void RunTelemetry::event(const morph::MorphEvent& e, const std::string& note) {
  if (e.step <= resume_step_) return;  // kept from the interrupted run (see resume)
  writer_->append_event(lifecycle_record(e, note));
}

void RunTelemetry::messages(const std::vector<control::MessageRecord>& log) {
  for (const control::MessageRecord& m : log)
    writer_->append_message({m.step, m.topic, m.kind, m.text});
}

void RunTelemetry::flush() {
  writer_->flush();
}

}  // namespace kasmina::io
