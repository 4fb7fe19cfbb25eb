#include "io/tensorboard/run_tensorboard.hpp"

#include <cmath>
#include <cstdio>

#include "control/health_score.hpp"
#include "io/run_telemetry.hpp"
#include "io/seed_stage_names.hpp"
#include "morph/stage.hpp"
#include "nn/kasmina_layer.hpp"

namespace kasmina::io {

namespace {

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// A markdown table cell: '|' escaped, line breaks as spaces.
std::string cell(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '|')
      out += "\\|";
    else
      out += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v)) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

RunTensorBoard::RunTensorBoard(const std::filesystem::path& dir, const std::string& config_yaml,
                               int64_t resume_step)
    : writer_(dir, resume_step + 1), resume_step_(resume_step) {
  writer_.text("config", resume_step + 1,  // step 0 for a fresh run
               "```yaml\n" + config_yaml + (config_yaml.ends_with('\n') ? "" : "\n") + "```");
}

void RunTensorBoard::step(const StepMetrics& m) {
  if (!due(m.step)) return;
  writer_.scalar("steps/loss", m.step, m.loss);
  writer_.scalar("steps/lr", m.step, m.lr);
  writer_.scalar("steps/samples_per_second", m.step, m.samples_per_second);
  writer_.scalar("steps/train_flops", m.step, m.train_flops);
}

void RunTensorBoard::epoch(const EpochReport& r, int64_t step) {
  if (!due(step)) return;
  writer_.scalar("epochs/train_loss", step, r.train_loss);
  writer_.scalar("epochs/train_accuracy", step, r.train_accuracy);
  if (r.validation) {
    writer_.scalar("epochs/validation_loss", step, r.validation->loss);
    writer_.scalar("epochs/validation_accuracy", step, r.validation->accuracy);
  }
  writer_.scalar("epochs/test_loss", step, r.test.loss);
  writer_.scalar("epochs/test_accuracy", step, r.test.accuracy);
  writer_.scalar("epochs/seconds", step, r.seconds);
}

void RunTensorBoard::seed_stats(int32_t layer_index, const morph::KasminaLayer& layer,
                                int64_t step) {
  if (!due(step)) return;
  const std::string name = morph_layer_name(layer_index);
  const auto& seeds = layer.last_telemetry();
  std::vector<int64_t> per_stage(morph::kStageCount, 0);
  int64_t added = 0;
  for (const morph::SeedTelemetry& t : seeds) {
    const auto stage = static_cast<int32_t>(t.stage);
    if (stage >= 0 && stage < morph::kStageCount) ++per_stage[static_cast<size_t>(stage)];
    if (t.stage != morph::Stage::dormant) added += layer.blueprint_parameters(t.blueprint);
  }
  for (int32_t s = 0; s < morph::kStageCount; ++s)
    writer_.scalar(name + "/stage/" + lower(seed_stage_name(s)), step,
                   static_cast<double>(per_stage[static_cast<size_t>(s)]));
  writer_.scalar(name + "/parameters_added", step, static_cast<double>(added));
  scratch_.clear();
  for (const morph::SeedTelemetry& t : seeds) scratch_.push_back(t.alpha);
  writer_.histogram(name + "/alpha", step, scratch_);
  scratch_.clear();
  for (const morph::SeedTelemetry& t : seeds) scratch_.push_back(control::capacity_need(t));
  writer_.histogram(name + "/health", step, scratch_);
}

void RunTensorBoard::event(const morph::MorphEvent& e, const std::string& note) {
  if (!due(e.step)) return;
  const LifecycleEvent r = lifecycle_record(e, note);
  pending_events_[{e.layer, e.step}].push_back(
      "| " + std::to_string(r.seed) + " | " + seed_stage_name(r.from) + " | " +
      seed_stage_name(r.to) + " | " + cell(r.blueprint) + " | " + cell(r.reason) + " | " +
      number(r.value) + " |");
}

void RunTensorBoard::flush() {
  for (const auto& [key, rows] : pending_events_) {
    std::string md =
        "| seed | from | to | blueprint | reason | value |\n|---|---|---|---|---|---|\n";
    for (const std::string& row : rows) md += row + "\n";
    writer_.text("events/" + morph_layer_name(key.first), key.second, md);
  }
  pending_events_.clear();
  writer_.flush();
}

}  // namespace kasmina::io
