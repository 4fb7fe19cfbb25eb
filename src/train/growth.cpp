#include "train/growth.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <string>

#include "control/controller.hpp"
#include "control/guard_monitor.hpp"
#include "control/layer_adapter.hpp"
#include "control/policy.hpp"
#include "control/width_adapter.hpp"
#include "morph/seed_state.hpp"
#include "nn/kasmina_layer.hpp"
#include "nn/width_grow_linear.hpp"

namespace kasmina {

namespace {

// One number of a growth counter's name in a checkpoint ("trainer/transitions/<layer>/<stage>",
// "trainer/refusals/<layer>"): decimal digits naming one of `allowed`; UserError naming the
// integer (dataset /ints/names) and what is allowed.
int32_t counter_part(const StateReader& in, const std::string& name, const std::string& part,
                     const std::vector<int32_t>& allowed, const std::string& allowed_text) {
  int32_t v = -1;
  const char* end = part.data() + part.size();
  const auto [ptr, ec] = std::from_chars(part.data(), end, v);
  if (part.empty() || ec != std::errc() || ptr != end ||
      std::find(allowed.begin(), allowed.end(), v) == allowed.end())
    throw UserError("checkpoint: integer '" + in.prefix() + name + "' (dataset /ints/names): '" +
                    part + "' is not " + allowed_text);
  return v;
}

}  // namespace

Growth::Growth(const Config& cfg, Model& model, Evaluator& eval, const LossGuard& guard,
               int64_t total_steps)
    : cfg_(cfg), model_(model), eval_(eval) {
  std::function<std::vector<double>()> val_losses;
  if (eval_.has_validation()) val_losses = [this] { return eval_.sample_losses("validation"); };
  const auto& layers = model_.morph_layers();
  driver_ = std::make_unique<control::GrowthDriver>(
      layers, val_losses, [this](std::vector<double>& v) { eval_.sum_over_ranks(v); },
      cfg_.controller.eval_z);
  bus_ = std::make_unique<control::EventBus>();
  adapter_ = std::make_unique<control::LayerAdapter>(*bus_, layers);
  const auto described = control::LayerAdapter::describe(layers);
  controller_ = std::make_unique<control::Controller>(*bus_, control::make_policy(cfg_, described),
                                                      described);
  controller_->set_total_steps(total_steps);
  std::vector<WidthGrowLinear*> controlled;
  for (WidthGrowLinear* w : model_.width_layers())
    if (w->controlled()) controlled.push_back(w);
  if (!controlled.empty()) {
    width_adapter_ = std::make_unique<control::WidthAdapter>(
        *bus_, controlled, cfg_.telemetry.every_steps,
        [this](std::vector<double>& v) { eval_.sum_over_ranks(v); });
    controller_->set_width_layers(control::WidthAdapter::describe(controlled));
  }
  if (cfg_.controller.type == ControllerType::heuristic &&
      cfg_.controller.seed_choice == "gradient")
    for (morph::KasminaLayer* l : layers) l->enable_gradient_score();
  if (guard.present()) {
    guard_monitor_ = std::make_unique<control::GuardMonitor>(*bus_, guard.state());
    // The layers roll their seeds back on the device in the same step's boundary.
    for (morph::KasminaLayer* l : layers) l->set_loss_alarm(guard.state().flag);
    controller_->set_rollback_on_alert(false);
  }
}

Growth::~Growth() = default;

void Growth::before_step(int64_t step, int64_t epoch) {
  if (model_.morph_layers().empty() && !width_adapter_) return;
  // The kernels the layers' IR blueprints got at prepare time, then those swapped in since.
  const std::vector<morph::KasminaLayer*>& layers = model_.morph_layers();
  kernels_published_.resize(layers.size(), 0);
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::vector<ops::KernelRecord>& records = layers[i]->kernel_records();
    for (; kernels_published_[i] < records.size(); ++kernels_published_[i]) {
      const ops::KernelRecord& r = records[kernels_published_[i]];
      bus_->publish(
          step, control::KernelEvent{layers[i]->config().layer_index, r.blueprint, r.chunk, r.key,
                                     r.level, r.ms, r.tune_ms, r.launch, r.detail});
    }
  }
  if (cfg_.controller.type == ControllerType::heuristic && step > 0 &&
      step % cfg_.controller.eval_every == 0 && eval_.has_validation()) {
    const EvalResult v = eval_.evaluate("validation", cfg_.controller.eval_batches);
    bus_->publish(step,
                  control::ValidationMeasurement{epoch, v.loss, cfg_.controller.eval_batches});
  }
  bus_->dispatch();
  controller_->decide(step, epoch);
  bus_->dispatch();
  if (width_adapter_)
    for (control::GrowthEvent& g : width_adapter_->take_events())
      pending_events_.push_back(std::move(g));
}

void Growth::after_step(int64_t step, TrainerObserver& obs) {
  // First: the width score reads this step's buffers, before any evaluation overwrites them.
  if (width_adapter_) width_adapter_->publish_reports(step);
  driver_->after_step();
  const auto& layers = model_.morph_layers();
  for (morph::KasminaLayer* l : layers)
    if (l->boundaries() % l->config().telemetry_every == 0)
      obs.on_seed_telemetry(l->config().layer_index, *l, step + 1);
  if (!layers.empty()) {
    adapter_->publish_telemetry(step);
    std::vector<control::GrowthEvent> events = driver_->take_events();
    if (!events.empty()) {
      adapter_->publish_events(step, events);
      pending_events_.insert(pending_events_.end(), events.begin(), events.end());
    }
  }
  if (guard_monitor_ && (step + 1) % cfg_.telemetry.every_steps == 0) guard_monitor_->poll(step);
}

void Growth::flush() {
  driver_->flush();
}

void Growth::deliver() {
  bus_->dispatch();
}

std::vector<control::MessageRecord> Growth::take_bus_log() {
  return bus_->take_log();
}

void Growth::report(TrainerObserver& obs, TrainSummary& sum) {
  std::vector<control::GrowthEvent> events = std::move(pending_events_);
  pending_events_.clear();
  for (control::GrowthEvent& g : driver_->take_events()) events.push_back(std::move(g));
  for (const control::GrowthEvent& g : events) {
    sum.growth_events.push_back(g.event);
    const morph::MorphEvent& e = g.event;
    if (morph::reason_is_refusal(static_cast<morph::Reason>(e.reason)))
      ++refusal_counts_[e.layer];
    else if (e.from != e.to && e.reason != static_cast<int32_t>(morph::Reason::width_grown))
      ++transition_counts_[{e.layer, e.to}];
    obs.on_lifecycle_event(g.event, g.note);
    std::string line = "  growth: " + control::describe_event(g.event);
    if (!g.note.empty()) line += "  " + g.note;
    obs.on_growth_event(line);
  }
}

std::vector<LayerGrowth> Growth::summary() const {
  std::vector<LayerGrowth> out;
  for (morph::KasminaLayer* k : model_.morph_layers()) {
    LayerGrowth g;
    g.layer = k->config().layer_index;
    g.seeds = k->config().seeds;
    g.stage_counts.assign(morph::kStageCount, 0);
    morph::HostSeedState host = k->seed_state().download();
    const morph::SeedStateView st = host.view();
    for (int32_t s = 0; s < g.seeds; ++s) {
      const int32_t stage = st.stage[s];
      ++g.stage_counts[static_cast<size_t>(stage)];
      if (stage != static_cast<int32_t>(morph::Stage::dormant))
        g.parameters_added += k->blueprint_parameters(st.blueprint[s]);
    }
    for (const auto& [key, n] : transition_counts_) {
      if (key.first != g.layer) continue;
      switch (static_cast<morph::Stage>(key.second)) {
        case morph::Stage::germinated:
          g.germinated += n;
          break;
        case morph::Stage::fossilized:
          g.fossilized += n;
          break;
        case morph::Stage::culled:
          g.culled += n;
          break;
        case morph::Stage::rolled_back:
          g.rolled_back += n;
          break;
        default:
          break;
      }
    }
    if (auto r = refusal_counts_.find(g.layer); r != refusal_counts_.end()) g.refused = r->second;
    out.push_back(g);
  }
  return out;
}

void Growth::save_state(StateWriter& out) const {
  controller_->save_state(out);
  for (const auto& [key, n] : transition_counts_)
    out.integer(
        "trainer/transitions/" + std::to_string(key.first) + "/" + std::to_string(key.second), n);
  for (const auto& [layer, n] : refusal_counts_)
    out.integer("trainer/refusals/" + std::to_string(layer), n);
}

void Growth::load_state(const StateReader& in) {
  if (guard_monitor_) {
    guard_monitor_->poll(in.run().global_step - 1);
    bus_->dispatch();
  }
  controller_->load_state(in);
  bus_->take_log();  // the catch-up above is not part of the run's record
  transition_counts_.clear();
  refusal_counts_.clear();
  // The counters' names come from the file: each number is checked before it is used.
  std::vector<int32_t> layers, stages;
  std::string layer_text = "a morphogenetic layer of this run's model (";
  for (const morph::KasminaLayer* k : model_.morph_layers()) {
    layer_text += (layers.empty() ? "" : ", ") + std::to_string(k->config().layer_index);
    layers.push_back(k->config().layer_index);
  }
  layer_text += ")";
  for (int32_t s = 0; s < morph::kStageCount; ++s) stages.push_back(s);
  const std::string stage_text = "a stage code (0.." + std::to_string(morph::kStageCount - 1) + ")";
  auto count = [&](const StateReader& section, const std::string& name, int64_t n) {
    if (n < 0)
      throw UserError("checkpoint: integer '" + section.prefix() + name + "' is " +
                      std::to_string(n) + " (allowed: a count >= 0)");
    return n;
  };
  const StateReader transitions = in.section("trainer/transitions");
  for (const auto& [rest, n] : transitions.integers()) {
    const size_t slash = rest.find('/');
    const std::string layer = rest.substr(0, slash);
    const std::string stage = slash == std::string::npos ? "" : rest.substr(slash + 1);
    transition_counts_[{counter_part(transitions, rest, layer, layers, layer_text),
                        counter_part(transitions, rest, stage, stages, stage_text)}] =
        count(transitions, rest, n);
  }
  const StateReader refusals = in.section("trainer/refusals");
  for (const auto& [layer, n] : refusals.integers())
    refusal_counts_[counter_part(refusals, layer, layer, layers, layer_text)] =
        count(refusals, layer, n);
}

}  // namespace kasmina
