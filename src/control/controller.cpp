#include "control/controller.hpp"

#include <algorithm>
#include <array>

#include "control/controller_state.hpp"
#include "core/error.hpp"
#include "morph/blueprint.hpp"
#include "morph/blueprint_registry.hpp"
#include "morph/stage.hpp"

namespace kasmina::control {

namespace {

using morph::Stage;

bool is_rollback_candidate(Stage s) {
  return s == Stage::grafting || s == Stage::stabilization || s == Stage::fine_tuning;
}

// One row of the saved health table: whether telemetry exists, alpha, then every field of the
// last SeedTelemetry (all exactly representable as double). Tables of 15 fields (written before
// grad_score) are read with grad_score unmeasured.
constexpr int64_t kHealthFields = 16;
constexpr int64_t kHealthFieldsBeforeGradScore = 15;
// One width layer's saved observation: fresh, active, steps done, then the newest report
// (active, width, steps done, steps total, new units, active units, ratio).
constexpr int64_t kWidthFields = 10;

std::array<double, kHealthFields> health_row(const SeedObservation& s) {
  const morph::SeedTelemetry& t = s.telemetry;
  return {s.has_telemetry ? 1.0 : 0.0,
          s.alpha,
          static_cast<double>(t.seed),
          static_cast<double>(t.stage),
          static_cast<double>(t.blueprint),
          t.alpha,
          t.samples,
          t.mean,
          t.variance,
          t.dead_fraction,
          t.max_abs,
          t.iso_loss_ema,
          t.drift_ema,
          t.grad_norm_ema,
          t.eval_score,
          t.grad_score};
}

SeedObservation seed_from_row(const double* r, int64_t fields) {
  SeedObservation s;
  s.has_telemetry = r[0] != 0.0;
  s.alpha = static_cast<float>(r[1]);
  morph::SeedTelemetry& t = s.telemetry;
  t.seed = static_cast<int32_t>(r[2]);
  t.stage = static_cast<Stage>(static_cast<int32_t>(r[3]));
  t.blueprint = static_cast<int32_t>(r[4]);
  t.alpha = static_cast<float>(r[5]);
  t.samples = r[6];
  t.mean = r[7];
  t.variance = r[8];
  t.dead_fraction = r[9];
  t.max_abs = r[10];
  t.iso_loss_ema = static_cast<float>(r[11]);
  t.drift_ema = static_cast<float>(r[12]);
  t.grad_norm_ema = static_cast<float>(r[13]);
  t.eval_score = static_cast<float>(r[14]);
  t.grad_score = fields > kHealthFieldsBeforeGradScore ? r[15] : -1.0;
  return s;
}

}  // namespace

Controller::Controller(EventBus& bus, std::unique_ptr<Policy> policy,
                       std::vector<LayerObservation> layers)
    : bus_(bus), policy_(std::move(policy)) {
  KASMINA_CHECK(policy_ != nullptr, "Controller: no policy");
  obs_.layers = std::move(layers);
  bus_.subscribe(Topic::telemetry, [this](const Message& m) {
    if (const auto* w = std::get_if<WidthReport>(&m.payload))
      on_width(*w);
    else if (const auto* h = std::get_if<HealthReport>(&m.payload))
      on_health(*h);  // kernel events are records only
  });
  bus_.subscribe(Topic::lifecycle, [this](const Message& m) { on_event(m); });
  bus_.subscribe(Topic::metrics, [this](const Message& m) {
    on_validation(std::get<ValidationMeasurement>(m.payload));
  });
  bus_.subscribe(Topic::alerts, [this](const Message& m) { on_alert(m); });
}

SeedObservation* Controller::seed_at(int32_t layer, int32_t seed) {
  for (LayerObservation& l : obs_.layers) {
    if (l.layer != layer) continue;
    if (seed < 0 || static_cast<size_t>(seed) >= l.seeds.size()) return nullptr;
    return &l.seeds[seed];
  }
  return nullptr;
}

void Controller::on_health(const HealthReport& h) {
  for (const morph::SeedTelemetry& t : h.seeds) {
    SeedObservation* so = seed_at(h.layer, t.seed);
    if (so == nullptr) continue;
    so->telemetry = t;
    so->has_telemetry = true;
    so->stage = t.stage;
    so->blueprint = t.blueprint;
    so->alpha = t.alpha;
  }
  recount();
}

WidthObservation* Controller::width_at(int32_t layer) {
  for (WidthObservation& w : obs_.widths)
    if (w.layer == layer) return &w;
  return nullptr;
}

void Controller::on_width(const WidthReport& r) {
  WidthObservation* w = width_at(r.layer);
  // A report measured before the layer's latest step is stale.
  if (w == nullptr || r.steps_done < w->steps_done) return;
  w->report = r;
  w->active = r.active;
  w->steps_done = r.steps_done;
  w->fresh = true;
}

void Controller::on_event(const Message& m) {
  const morph::MorphEvent& e = std::get<LifecycleEvent>(m.payload).event;
  if (e.reason == static_cast<int32_t>(morph::Reason::width_grown)) {
    // A width step: the layer's next group needs a fresh measurement before the next one.
    if (WidthObservation* w = width_at(e.layer)) {
      w->steps_done = e.seed + 1;
      w->active = std::min(w->width, w->active + w->chunk);
      w->fresh = false;
    }
    return;
  }
  apply_event(e);
  recount();
}

void Controller::apply_event(const morph::MorphEvent& e) {
  SeedObservation* so = seed_at(e.layer, e.seed);
  if (so == nullptr) return;
  const auto reason = static_cast<morph::Reason>(e.reason);
  if (morph::reason_is_refusal(reason)) {
    // A refused germination leaves the seed where it was (dormant unless it was busy).
    if (e.to == static_cast<int32_t>(Stage::germinated) && so->stage == Stage::germinated &&
        e.from == static_cast<int32_t>(Stage::dormant)) {
      so->stage = Stage::dormant;
      so->blueprint = -1;
    }
    return;
  }
  if (reason == morph::Reason::improved || reason == morph::Reason::score_set)
    scores_[{e.layer, e.seed}] = e.value;
  if (e.from == e.to) return;
  so->stage = static_cast<Stage>(e.to);
  if (e.blueprint >= 0) so->blueprint = e.blueprint;
  const Stage to = static_cast<Stage>(e.to);
  if ((to == Stage::fossilized || to == Stage::culled || to == Stage::rolled_back) &&
      e.blueprint >= 0) {
    SeedOutcome o;
    o.step = e.step;
    o.layer = e.layer;
    o.seed = e.seed;
    o.blueprint = static_cast<morph::BlueprintKind>(e.blueprint);
    o.outcome = to == Stage::fossilized ? Outcome::fossilized
                : to == Stage::culled   ? Outcome::culled
                                        : Outcome::rolled_back;
    const auto it = scores_.find({e.layer, e.seed});
    o.eval_score = it == scores_.end() ? 0.0f : it->second;
    obs_.outcomes.push_back(o);
  }
  if (to == Stage::dormant) {
    so->blueprint = -1;
    so->alpha = 0.0f;
    scores_.erase({e.layer, e.seed});
  }
}

void Controller::on_validation(const ValidationMeasurement& v) {
  obs_.validation_losses.push_back(v.loss);
  ++obs_.new_validation;
}

void Controller::on_alert(const Message& m) {
  const Alert& a = std::get<Alert>(m.payload);
  if (!rollback_on_alert_) return;
  if (a.kind != AlertKind::non_finite_loss && a.kind != AlertKind::loss_spike) return;
  for (LayerObservation& l : obs_.layers) {
    for (size_t s = 0; s < l.seeds.size(); ++s) {
      if (!is_rollback_candidate(l.seeds[s].stage)) continue;
      Command c;
      c.kind = CommandKind::rollback;
      c.layer = l.layer;
      c.seed = static_cast<int32_t>(s);
      c.reason = std::string("alert ") + alert_kind_name(a.kind);
      publish(m.step, std::move(c));
    }
  }
}

void Controller::recount() {
  obs_.active_seeds = 0;
  obs_.added_parameters = 0;
  for (const LayerObservation& l : obs_.layers) {
    for (const SeedObservation& s : l.seeds) {
      if (s.stage == Stage::germinated || s.stage == Stage::training || s.stage == Stage::grafting)
        ++obs_.active_seeds;
      const auto stage = static_cast<int32_t>(s.stage);
      if (morph::stage_holds_slot(stage) && !morph::stage_is_exit(stage) && s.blueprint >= 0)
        obs_.added_parameters += morph::registered_param_count(s.blueprint, l.shape);
    }
  }
}

void Controller::publish(int64_t step, Command c) {
  if (c.kind == CommandKind::grow_width) {
    // The report that asked for it is consumed (no second step on the same measurement).
    if (WidthObservation* w = width_at(c.layer)) w->fresh = false;
  }
  if (c.kind == CommandKind::germinate) {
    // Optimistic: the seed counts against the budgets from now on (a refusal undoes it).
    if (SeedObservation* so = seed_at(c.layer, c.seed);
        so != nullptr && so->stage == Stage::dormant) {
      so->stage = Stage::germinated;
      so->blueprint = static_cast<int32_t>(c.blueprint);
      recount();
    }
  }
  bus_.publish(step, std::move(c));
}

size_t Controller::decide(int64_t step, int64_t epoch) {
  obs_.step = step;
  obs_.epoch = epoch;
  std::vector<Command> commands = policy_->decide(obs_);
  obs_.outcomes.clear();
  obs_.new_validation = 0;
  for (Command& c : commands) publish(step, std::move(c));
  return commands.size();
}

ControllerState Controller::save() const {
  ControllerState st;
  const int64_t n = static_cast<int64_t>(obs_.validation_losses.size());
  st.tensors.emplace_back("validation_losses", Tensor::from_vector(obs_.validation_losses, {n}));
  st.ints["new_validation"] = obs_.new_validation;
  for (const LayerObservation& l : obs_.layers) {
    const std::string p = "layer" + std::to_string(l.layer) + "/";
    std::vector<int32_t> stage, blueprint;
    for (const SeedObservation& s : l.seeds) {
      stage.push_back(static_cast<int32_t>(s.stage));
      blueprint.push_back(s.blueprint);
    }
    const int64_t seeds = static_cast<int64_t>(l.seeds.size());
    st.tensors.emplace_back(p + "stage", Tensor::from_vector(stage, {seeds}));
    st.tensors.emplace_back(p + "blueprint", Tensor::from_vector(blueprint, {seeds}));
    std::vector<double> health;
    for (const SeedObservation& s : l.seeds) {
      const std::array<double, kHealthFields> row = health_row(s);
      health.insert(health.end(), row.begin(), row.end());
    }
    st.tensors.emplace_back(p + "health", Tensor::from_vector(health, {seeds, kHealthFields}));
  }
  for (const WidthObservation& w : obs_.widths) {
    const WidthReport& r = w.report;
    const std::vector<double> row = {w.fresh ? 1.0 : 0.0,
                                     static_cast<double>(w.active),
                                     static_cast<double>(w.steps_done),
                                     static_cast<double>(r.active),
                                     static_cast<double>(r.width),
                                     static_cast<double>(r.steps_done),
                                     static_cast<double>(r.steps_total),
                                     r.new_units,
                                     r.active_units,
                                     r.ratio};
    st.tensors.emplace_back("width/layer" + std::to_string(w.layer),
                            Tensor::from_vector(row, {kWidthFields}));
  }
  std::vector<double> scores;
  for (const auto& [key, v] : scores_) {
    scores.push_back(key.first);
    scores.push_back(key.second);
    scores.push_back(v);
  }
  st.tensors.emplace_back("scores",
                          Tensor::from_vector(scores, {static_cast<int64_t>(scores_.size()), 3}));
  policy_->save(st);
  return st;
}

void Controller::restore(const ControllerState& st) {
  obs_.validation_losses = st.get("validation_losses", DType::f64).to_vector<double>();
  obs_.new_validation = st.get_int("new_validation");
  obs_.outcomes.clear();
  for (LayerObservation& l : obs_.layers) {
    const std::string p = "layer" + std::to_string(l.layer) + "/";
    const std::vector<int32_t> stage = st.get(p + "stage", DType::i32).to_vector<int32_t>();
    const std::vector<int32_t> blueprint = st.get(p + "blueprint", DType::i32).to_vector<int32_t>();
    if (stage.size() != l.seeds.size() || blueprint.size() != l.seeds.size())
      unfit("seed count of layer " + std::to_string(l.layer) + " differs");
    const std::vector<double> health = st.get(p + "health", DType::f64).to_vector<double>();
    const int64_t fields =
        l.seeds.empty() ? kHealthFields : static_cast<int64_t>(health.size() / l.seeds.size());
    if ((fields != kHealthFields && fields != kHealthFieldsBeforeGradScore) ||
        health.size() != l.seeds.size() * static_cast<size_t>(fields))
      unfit("health table of layer " + std::to_string(l.layer) + " differs");
    for (size_t s = 0; s < l.seeds.size(); ++s) {
      if (stage[s] < 0 || stage[s] >= morph::kStageCount)
        unfit(p + "stage of seed " + std::to_string(s) + " is " + std::to_string(stage[s]) +
              " (allowed: 0.." + std::to_string(morph::kStageCount - 1) + ", a stage code)");
      if (blueprint[s] != -1 && morph::find_blueprint(blueprint[s]) == nullptr)
        unfit(p + "blueprint of seed " + std::to_string(s) + " is " + std::to_string(blueprint[s]) +
              " (allowed: -1 or a blueprint kind)");
      l.seeds[s] = seed_from_row(&health[s * static_cast<size_t>(fields)], fields);
      l.seeds[s].stage = static_cast<Stage>(stage[s]);
      l.seeds[s].blueprint = blueprint[s];
    }
  }
  for (WidthObservation& w : obs_.widths) {
    const std::string name = "width/layer" + std::to_string(w.layer);
    const std::vector<double> r = st.get(name, DType::f64).to_vector<double>();
    if (static_cast<int64_t>(r.size()) != kWidthFields)
      unfit(name + " does not hold " + std::to_string(kWidthFields) + " values");
    const auto count = [&](double v) {
      if (!(v >= 0.0 && v <= static_cast<double>(w.width)) ||
          v != static_cast<double>(static_cast<int64_t>(v)))
        unfit(name + " holds " + std::to_string(v) + " where a count 0.." +
              std::to_string(w.width) + " belongs");
      return static_cast<int64_t>(v);
    };
    w.fresh = r[0] != 0.0;
    w.active = count(r[1]);
    w.steps_done = count(r[2]);
    w.report.layer = w.layer;
    w.report.active = count(r[3]);
    w.report.width = count(r[4]);
    w.report.steps_done = count(r[5]);
    w.report.steps_total = count(r[6]);
    w.report.new_units = r[7];
    w.report.active_units = r[8];
    w.report.ratio = r[9];
  }
  const std::vector<double> scores = st.get("scores", DType::f64).to_vector<double>();
  if (scores.size() % 3 != 0) unfit("scores table is not [n, 3]");
  scores_.clear();
  for (size_t i = 0; i < scores.size(); i += 3) {
    scores_[{static_cast<int32_t>(scores[i]), static_cast<int32_t>(scores[i + 1])}] =
        static_cast<float>(scores[i + 2]);
  }
  policy_->restore(st);
  recount();
}

}  // namespace kasmina::control
