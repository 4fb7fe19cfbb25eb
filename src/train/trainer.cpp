#include "train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "control/controller.hpp"
#include "control/event_bus.hpp"
#include "control/growth_driver.hpp"
#include "control/guard_monitor.hpp"
#include "control/layer_adapter.hpp"
#include "control/policy.hpp"
#include "core/rng.hpp"
#include "morph/blueprint.hpp"
#include "nn/kasmina_layer.hpp"
#include "morph/seed_state.hpp"

namespace kasmina {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double read_f64(const Tensor& t) {
  return t.to_vector<double>()[0];
}
int64_t read_i64(const Tensor& t) {
  return t.to_vector<int64_t>()[0];
}

}  // namespace

Trainer::Trainer(const Config& cfg, const DataSplits& data, Device dev) : cfg_(cfg), dev_(dev) {
  ops::use_device(dev_);
  ops::set_math_mode(
      dev_, cfg.train.precision == PrecisionMode::tf32 ? ops::MathMode::tf32 : ops::MathMode::fp32);
  ops::set_deterministic(dev_, cfg.train.deterministic);

  batch_ = cfg.train.batch_size;
  eval_batch_ = cfg.train.eval_batch_size;
  const int64_t n_train = data.train.size();
  if (batch_ > n_train) {
    throw UserError("train.batch_size: " + std::to_string(batch_) + " is larger than the " +
                    std::to_string(n_train) + " training samples");
  }
  steps_per_epoch_ = n_train / batch_;  // the last partial batch is dropped (reshuffled next epoch)

  train_ = upload(data.train);
  validation_ = upload(data.validation);
  test_ = upload(data.test);

  model_ = std::make_unique<Model>(cfg.model, data.train.features(), cfg.seed, dev_);
  model_->prepare(std::max(batch_, eval_batch_));
  const LrSchedule sched =
      make_schedule(cfg.optimizer, cfg.lr_schedule, steps_per_epoch_ * cfg.train.epochs);
  optimizer_ = std::make_unique<Optimizer>(cfg.optimizer, sched, model_->parameters(), dev_);

  ctx_.seed = derive_seed(cfg.seed, "dropout");
  // The step counter and the epoch's batch cursor side by side: one launch advances both.
  counters_ = Tensor::zeros({2}, DType::i64, dev_);
  ctx_.step = counters_.rows(0, 1);
  cursor_ = counters_.rows(1, 2);
  zero_cursor_ = Tensor::zeros({1}, DType::i64, dev_);
  perm_ = Tensor::zeros({n_train}, DType::i32, dev_);
  const int64_t classes = model_->out_width();
  x_ = Tensor::empty({batch_, data.train.features()}, DType::f32, dev_);
  y_ = Tensor::empty({batch_}, DType::i32, dev_);
  dlogits_ = Tensor::empty({batch_, classes}, DType::f32, dev_);
  loss_sum_ = Tensor::zeros({1}, DType::f64, dev_);
  correct_ = Tensor::zeros({1}, DType::i64, dev_);
  std::function<double()> val_loss;
  if (validation_.size > 0) val_loss = [this] { return evaluate("validation").loss; };
  growth_ = std::make_unique<control::GrowthDriver>(model_->morph_layers(), val_loss);
  const auto& layers = model_->morph_layers();
  bus_ = std::make_unique<control::EventBus>();
  adapter_ = std::make_unique<control::LayerAdapter>(*bus_, layers);
  const auto described = control::LayerAdapter::describe(layers);
  controller_ = std::make_unique<control::Controller>(*bus_, control::make_policy(cfg_, described),
                                                      described);
  guarded_ = !layers.empty() || cfg_.controller.debug_nan_step >= 0;
  if (guarded_) {
    guard_ = ops::make_loss_guard_state(dev_);
    guard_params_.spike_factor = static_cast<float>(cfg_.controller.spike_factor);
    guard_monitor_ = std::make_unique<control::GuardMonitor>(*bus_, guard_);
    // The layers roll their seeds back on the device in the same step's boundary.
    for (morph::KasminaLayer* l : layers) l->set_loss_alarm(guard_.flag);
    controller_->set_rollback_on_alert(false);
  }
  eval_x_ = Tensor::empty({eval_batch_, data.train.features()}, DType::f32, dev_);
  eval_y_ = Tensor::empty({eval_batch_}, DType::i32, dev_);
  eval_loss_sum_ = Tensor::zeros({1}, DType::f64, dev_);
  eval_correct_ = Tensor::zeros({1}, DType::i64, dev_);
}

Trainer::~Trainer() = default;

Trainer::DeviceSplit Trainer::upload(const Dataset& d) {
  DeviceSplit s;
  s.size = d.size();
  if (s.size == 0) return s;
  s.images = d.images.to(dev_);
  s.labels = d.labels.to(dev_);
  std::vector<int32_t> ident(static_cast<size_t>(s.size));
  for (int64_t i = 0; i < s.size; ++i) ident[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  s.identity_perm = Tensor::from_vector(ident, {s.size}, dev_);
  s.scale = d.scale;
  s.shift = d.shift;
  return s;
}

void Trainer::begin_epoch(int64_t epoch) {
  epoch_ = epoch;
  // The host copy stays alive (a member) while the stream-ordered upload may be in flight.
  perm_host_ = Tensor::from_vector(epoch_permutation(cfg_.seed, epoch, train_.size), {train_.size});
  perm_.copy_from(perm_host_);
  ops::fill(cursor_, 0.0);
  ops::fill(loss_sum_, 0.0);
  ops::fill(correct_, 0.0);
  if (guarded_) ops::fill(guard_.mark, 0.0);
}

void Trainer::train_step() {
  ops::gather_batch(train_.images, train_.labels, perm_, cursor_, train_.scale, train_.shift, x_,
                    y_);
  const Tensor logits = model_->forward(x_, Mode::train, ctx_);
  ops::softmax_xent(logits, y_, 1.0f / static_cast<float>(batch_), &dlogits_, loss_sum_, &correct_);
  if (guard_on_) {
    ops::inject_nan_at_step(ctx_.step, cfg_.controller.debug_nan_step, loss_sum_, &dlogits_);
    ops::loss_guard(loss_sum_, batch_, guard_params_, guard_, &dlogits_);
  }
  model_->backward(dlogits_, ctx_);
  optimizer_->step(ctx_.step);
  ops::counter_add(counters_, 1);  // step and cursor
}

void Trainer::update_guard() {
  const auto& layers = model_->morph_layers();
  const bool on = guarded_ && (cfg_.controller.debug_nan_step >= 0 ||
                               std::any_of(layers.begin(), layers.end(), [](const auto* l) {
                                 return l->may_have_active_seeds();
                               }));
  if (on == guard_on_) return;
  if (on) {
    // After every guarded step mark == loss_sum (a flagged step sets loss_sum back to mark), so
    // taking the accumulator as the mark resumes the guard exactly where an always-on guard
    // would be.
    guard_.mark.copy_from(loss_sum_);
  } else {
    ops::fill(guard_.flag, 0.0);  // no stale alarm while the guard is off
  }
  guard_on_ = on;
}

EvalResult Trainer::evaluate(const std::string& split, int64_t max_batches) {
  const DeviceSplit& full = split == "test" ? test_ : split == "validation" ? validation_ : train_;
  DeviceSplit s = full;
  if (max_batches > 0) s.size = std::min(full.size, max_batches * eval_batch_);
  EvalResult r;
  r.samples = s.size;
  if (s.size == 0) return r;
  ops::fill(eval_loss_sum_, 0.0);
  ops::fill(eval_correct_, 0.0);
  const int64_t classes = model_->out_width();
  for (int64_t begin = 0; begin < s.size; begin += eval_batch_) {
    const int64_t n = std::min(eval_batch_, s.size - begin);
    Tensor x = eval_x_.rows(0, n), y = eval_y_.rows(0, n);
    ops::gather_batch(s.images, s.labels, s.identity_perm.rows(begin, begin + n), zero_cursor_,
                      s.scale, s.shift, x, y);
    const Tensor logits = model_->forward(x, Mode::eval, ctx_);
    KASMINA_CHECK(logits.dim(1) == classes, "eval logits width");
    ops::softmax_xent(logits, y, 1.0f, nullptr, eval_loss_sum_, &eval_correct_);
  }
  r.loss = read_f64(eval_loss_sum_) / static_cast<double>(s.size);
  r.accuracy = static_cast<double>(read_i64(eval_correct_)) / static_cast<double>(s.size);
  return r;
}

void Trainer::measure_validation_for_controller() {
  if (validation_.size == 0) return;
  const EvalResult v = evaluate("validation", cfg_.controller.eval_batches);
  bus_->publish(global_step_,
                control::ValidationMeasurement{epoch_, v.loss, cfg_.controller.eval_batches});
}

std::vector<control::MessageRecord> Trainer::take_bus_log() {
  return bus_->take_log();
}

void Trainer::run_step(TrainerObserver& obs, TrainSummary& sum) {
  if (!model_->morph_layers().empty()) {
    // The controller decides from what the bus delivered; its commands reach the layers
    // through the bus (the adapter queues them for the next step boundary).
    if (cfg_.controller.type == ControllerType::heuristic && global_step_ > 0 &&
        global_step_ % cfg_.controller.eval_every == 0)
      measure_validation_for_controller();
    bus_->dispatch();
    controller_->decide(global_step_, epoch_);
    bus_->dispatch();
  }
  update_guard();
  const uint64_t key = model_->train_step_key() * 2 + (guard_on_ ? 1 : 0);
  const bool use_graphs = dev_.is_cuda() && cfg_.train.graph;
  auto it = graphs_.find(key);
  if (use_graphs && it != graphs_.end() && it->second->captured()) {
    it->second->replay();
    model_->replayed_train_step();
  } else if (use_graphs && it == graphs_.end() && key_steps_[key] >= 1) {
    // Capture after one plain step with this key, so lazy set-up (GEMM algorithm choice,
    // scratch buffers) happens outside the capture.
    auto graph = std::make_unique<ops::StepGraph>(dev_);
    std::string reason;
    if (graph->capture([this] { train_step(); }, &reason)) {
      obs.on_message("training step captured in a CUDA graph (step key " + std::to_string(key) +
                     ")");
      graph->replay();
      model_->replayed_train_step();
    } else {
      sum.graph_note = reason;
      obs.on_message("CUDA graph capture failed, running plain launches: " + reason);
      train_step();
    }
    graphs_[key] = std::move(graph);
  } else {
    train_step();
    ++key_steps_[key];
  }
  model_->end_step(ctx_);
  growth_->after_step();
  for (morph::KasminaLayer* l : model_->morph_layers())
    if (l->boundaries() % l->config().telemetry_every == 0)
      obs.on_seed_telemetry(l->config().layer_index, *l, global_step_ + 1);
  if (!model_->morph_layers().empty()) {
    adapter_->publish_telemetry(global_step_);
    std::vector<control::GrowthEvent> events = growth_->take_events();
    if (!events.empty()) {
      adapter_->publish_events(global_step_, events);
      pending_events_.insert(pending_events_.end(), events.begin(), events.end());
    }
  }
  if (guard_monitor_ && (global_step_ + 1) % cfg_.telemetry.every_steps == 0)
    guard_monitor_->poll(global_step_);
  ++global_step_;
}

void Trainer::report_growth(TrainerObserver& obs, TrainSummary& sum) {
  std::vector<control::GrowthEvent> events = std::move(pending_events_);
  pending_events_.clear();
  for (control::GrowthEvent& g : growth_->take_events()) events.push_back(std::move(g));
  for (const control::GrowthEvent& g : events) {
    sum.growth_events.push_back(g.event);
    const morph::MorphEvent& e = g.event;
    if (morph::reason_is_refusal(static_cast<morph::Reason>(e.reason)))
      ++refusal_counts_[e.layer];
    else if (e.from != e.to)
      ++transition_counts_[{e.layer, e.to}];
    obs.on_lifecycle_event(g.event, g.note);
    std::string line = "  growth: " + control::describe_event(g.event);
    if (!g.note.empty()) line += "  " + g.note;
    obs.on_growth_event(line);
  }
}

std::vector<LayerGrowth> Trainer::growth_summary() const {
  std::vector<LayerGrowth> out;
  for (morph::KasminaLayer* k : model_->morph_layers()) {
    LayerGrowth g;
    g.layer = k->config().layer_index;
    g.seeds = k->config().seeds;
    g.stage_counts.assign(morph::kStageCount, 0);
    morph::HostSeedState host = k->seed_state().download();
    const morph::SeedStateView st = host.view();
    morph::BlueprintShape shape;
    shape.chunk = k->chunk();
    shape.hidden = k->config().hidden;
    shape.rank = k->config().rank;
    for (int32_t s = 0; s < g.seeds; ++s) {
      const int32_t stage = st.stage[s];
      ++g.stage_counts[static_cast<size_t>(stage)];
      if (stage != static_cast<int32_t>(morph::Stage::dormant) && st.blueprint[s] >= 0)
        g.parameters_added += morph::blueprint_param_count(st.blueprint[s], shape);
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

void Trainer::hand_over_bus_log(TrainerObserver& obs) {
  if (obs.wants_bus_log()) obs.on_bus_messages(bus_->take_log());
}

void Trainer::checkpoint_now(TrainerObserver& obs, TrainSummary& sum) {
  // Deliver what the last boundary published, so the controller state holds it and nothing is
  // left queued on the bus (the next step's dispatch would deliver the same, in the same order).
  bus_->dispatch();
  report_growth(obs, sum);
  hand_over_bus_log(obs);
  obs.on_checkpoint(*this);
  obs.on_flush_point();
}

TrainSummary Trainer::run(TrainerObserver& obs) {
  TrainSummary sum;
  sum.device = dev_.str();
  if (dev_.is_cuda()) {
    for (const auto& info : ops::list_cuda_devices())
      if (info.index == dev_.index) sum.device_name = info.name;
  }
  sum.epochs = cfg_.train.epochs;
  sum.parameters = model_->parameter_count();
  sum.resumed_from_step = resumed_from_;

  const int64_t total_steps = steps_per_epoch_ * cfg_.train.epochs;
  const bool progress = obs.wants_progress() && cfg_.train.log_every_steps > 0;
  const int64_t metrics_every = obs.metrics_every();
  const bool checkpoints = obs.wants_checkpoints();
  const CheckpointConfig& ck = cfg_.checkpoint;
  double step_seconds_total = 0.0;
  int64_t steps_this_run = 0;
  const int64_t first_global_step = global_step_;
  const auto run_t0 = Clock::now();
  const int64_t start_epoch = pending_restore_ ? epoch_ : 0;

  for (int64_t epoch = start_epoch; epoch < cfg_.train.epochs; ++epoch) {
    const auto t0 = Clock::now();
    int64_t first = 0;
    if (pending_restore_) {
      first = epoch_step_;
      begin_epoch(epoch);
      apply_restore();
    } else {
      begin_epoch(epoch);
    }
    epoch_step_ = first;
    bool stop = false;
    for (int64_t s = first; s < steps_per_epoch_; ++s) {
      run_step(obs, sum);
      epoch_step_ = s + 1;
      ++steps_this_run;
      const bool progress_due =
          progress && ((s + 1) % cfg_.train.log_every_steps == 0 || s + 1 == steps_per_epoch_);
      const bool metrics_due = metrics_every > 0 && global_step_ % metrics_every == 0;
      if (progress_due || metrics_due) {
        // The one host read of the cadence serves the display and the telemetry.
        const double loss = read_f64(loss_sum_) / static_cast<double>((s + 1) * batch_);
        const double el = seconds_since(t0);
        const double sps = static_cast<double>((s + 1 - first) * batch_) / std::max(el, 1e-9);
        if (progress_due) {
          ProgressReport p;
          p.epoch = epoch + 1;
          p.epochs = cfg_.train.epochs;
          p.step = s + 1;
          p.steps_per_epoch = steps_per_epoch_;
          p.loss = loss;
          p.samples_per_second = sps;
          const int64_t done = global_step_ - first_global_step;
          const double per_step =
              seconds_since(run_t0) / static_cast<double>(std::max<int64_t>(done, 1));
          p.eta_seconds =
              per_step * static_cast<double>(std::max<int64_t>(total_steps - global_step_, 0));
          obs.on_progress(p);
        }
        if (metrics_due) {
          StepMetrics m;
          m.step = global_step_;
          m.epoch = epoch + 1;
          m.loss = loss;
          m.lr = optimizer_->lr_at_step(global_step_ - 1);
          m.samples_per_second = sps;
          obs.on_step_metrics(m);
        }
      }
      if (s + 1 < steps_per_epoch_) {  // the epoch's last step is handled after its report
        stop = obs.stop_requested();
        if (checkpoints && (stop || (ck.every_steps > 0 && global_step_ % ck.every_steps == 0)))
          checkpoint_now(obs, sum);
        if (stop) break;
      }
    }
    if (stop) {
      sum.interrupted = true;
      break;
    }
    ops::synchronize(dev_);
    const double step_seconds = seconds_since(t0);
    growth_->flush();
    report_growth(obs, sum);
    step_seconds_total += step_seconds;

    EpochReport rep;
    rep.epoch = epoch + 1;
    rep.epochs = cfg_.train.epochs;
    // Steps the loss guard rejected are left out of the epoch's loss accumulator.
    int64_t flagged_now = 0;
    if (guarded_) {
      flagged_now = read_i64(guard_.flagged) - flagged_steps_;
      flagged_steps_ += flagged_now;
    }
    const double n = static_cast<double>(steps_per_epoch_ * batch_);
    rep.train_loss =
        read_f64(loss_sum_) / static_cast<double>((steps_per_epoch_ - flagged_now) * batch_);
    rep.train_accuracy = static_cast<double>(read_i64(correct_)) / n;
    const auto e0 = Clock::now();
    if (validation_.size > 0) rep.validation = evaluate("validation");
    rep.test = evaluate("test");
    sum.eval_seconds += seconds_since(e0);
    rep.step_seconds = step_seconds;
    rep.seconds = seconds_since(t0);
    rep.samples_per_second =
        static_cast<double>((steps_per_epoch_ - first) * batch_) / std::max(step_seconds, 1e-9);
    obs.on_epoch(rep);
    epoch_reports_.push_back(rep);
    hand_over_bus_log(obs);

    // The boundary after the epoch: the next step is the first of the next epoch.
    epoch_ = epoch + 1;
    epoch_step_ = 0;
    const bool last = epoch + 1 == cfg_.train.epochs;
    stop = obs.stop_requested();
    const bool due = stop || (last && ck.at_end) ||
                     (ck.every_epochs > 0 && (epoch + 1) % ck.every_epochs == 0) ||
                     (ck.every_steps > 0 && global_step_ % ck.every_steps == 0);
    if (checkpoints && due)
      checkpoint_now(obs, sum);
    else
      obs.on_flush_point();
    if (stop && !last) {
      sum.interrupted = true;
      break;
    }
  }
  sum.train_seconds = seconds_since(run_t0);
  sum.steps = global_step_;
  growth_->flush();
  report_growth(obs, sum);
  hand_over_bus_log(obs);
  sum.graphs_captured = 0;
  for (const auto& [key, g] : graphs_) sum.graphs_captured += g->captured() ? 1 : 0;
  sum.graph_captured = sum.graphs_captured > 0;
  sum.growth = growth_summary();
  sum.flagged_steps = flagged_steps_;
  sum.samples_per_second =
      static_cast<double>(steps_this_run * batch_) / std::max(step_seconds_total, 1e-9);
  sum.epoch_reports = epoch_reports_;
  if (!sum.epoch_reports.empty()) {
    sum.test = sum.epoch_reports.back().test;
    sum.validation = sum.epoch_reports.back().validation;
    sum.final_train_loss = sum.epoch_reports.back().train_loss;
  }
  return sum;
}

// ---- checkpoint state ----

namespace {

std::string layer_prefix(int32_t k) {
  return "seeds/kasmina" + std::to_string(k) + "/";
}

void load_into(const RunState& st, const std::string& name, Tensor dst) {
  const Tensor& src = st.get(name);
  if (src.shape() != dst.shape() || src.dtype() != dst.dtype()) {
    std::string a, b;
    for (int64_t d : src.shape()) a += (a.empty() ? "" : "x") + std::to_string(d);
    for (int64_t d : dst.shape()) b += (b.empty() ? "" : "x") + std::to_string(d);
    throw UserError("checkpoint: tensor '" + name + "' has shape [" + a +
                    "] but this run's model has [" + b + "] (a different model configuration)");
  }
  if (dst.numel() > 0) dst.copy_from(src);
}

void put_report(RunState& st, size_t i, const EpochReport& r) {
  const std::string p = "trainer/epochs/" + std::to_string(i) + "/";
  st.ints[p + "epoch"] = r.epoch;
  st.floats[p + "train_loss"] = r.train_loss;
  st.floats[p + "train_accuracy"] = r.train_accuracy;
  st.ints[p + "has_validation"] = r.validation ? 1 : 0;
  if (r.validation) {
    st.floats[p + "validation_loss"] = r.validation->loss;
    st.floats[p + "validation_accuracy"] = r.validation->accuracy;
    st.ints[p + "validation_samples"] = r.validation->samples;
  }
  st.floats[p + "test_loss"] = r.test.loss;
  st.floats[p + "test_accuracy"] = r.test.accuracy;
  st.ints[p + "test_samples"] = r.test.samples;
  st.floats[p + "seconds"] = r.seconds;
  st.floats[p + "step_seconds"] = r.step_seconds;
  st.floats[p + "samples_per_second"] = r.samples_per_second;
}

EpochReport get_report(const RunState& st, int64_t i, int64_t epochs) {
  const std::string p = "trainer/epochs/" + std::to_string(i) + "/";
  EpochReport r;
  r.epoch = st.get_int(p + "epoch");
  r.epochs = epochs;
  r.train_loss = st.get_float(p + "train_loss");
  r.train_accuracy = st.get_float(p + "train_accuracy");
  if (st.get_int(p + "has_validation") != 0)
    r.validation =
        EvalResult{st.get_float(p + "validation_loss"), st.get_float(p + "validation_accuracy"),
                   st.get_int(p + "validation_samples")};
  r.test = EvalResult{st.get_float(p + "test_loss"), st.get_float(p + "test_accuracy"),
                      st.get_int(p + "test_samples")};
  r.seconds = st.get_float(p + "seconds");
  r.step_seconds = st.get_float(p + "step_seconds");
  r.samples_per_second = st.get_float(p + "samples_per_second");
  return r;
}

}  // namespace

RunState Trainer::capture_state() {
  ops::synchronize(dev_);
  RunState st;
  st.global_step = global_step_;
  st.epoch = epoch_;
  st.epoch_step = epoch_step_;
  auto add = [&st](const std::string& name, const Tensor& t) {
    st.tensors.emplace_back(name, host_copy(t));
  };
  const std::vector<Parameter*> params = model_->parameters();
  for (const Parameter* p : params) add(p->name, p->value);
  const auto& m = optimizer_->first_moments();
  const auto& v = optimizer_->second_moments();
  KASMINA_CHECK(m.empty() || m.size() == params.size(), "optimizer moments per parameter");
  KASMINA_CHECK(v.empty() || v.size() == params.size(), "optimizer moments per parameter");
  for (size_t i = 0; i < m.size(); ++i) add("optimizer/m/" + params[i]->name, m[i]);
  for (size_t i = 0; i < v.size(); ++i) add("optimizer/v/" + params[i]->name, v[i]);

  add("trainer/step", ctx_.step);
  add("trainer/cursor", cursor_);
  add("trainer/loss_sum", loss_sum_);
  add("trainer/correct", correct_);
  add("data/permutation", perm_);
  st.ints["data/seed"] = cfg_.seed;
  st.ints["data/train_size"] = train_.size;
  st.ints["data/batch_size"] = batch_;
  if (guarded_) {
    add("guard/mark", guard_.mark);
    add("guard/running", guard_.running);
    add("guard/accepted", guard_.accepted);
    add("guard/flagged", guard_.flagged);
    add("guard/last_flagged_mean", guard_.last_flagged_mean);
    add("guard/last_flagged_kind", guard_.last_flagged_kind);
    add("guard/flag", guard_.flag);
  }

  for (morph::KasminaLayer* l : model_->morph_layers()) {
    const std::string p = layer_prefix(l->config().layer_index);
    const morph::HostSeedState host = l->seed_state().download();
    const int64_t S = host.seeds;
    for (int32_t f = 0; f < morph::kSeedFieldCount; ++f) {
      const auto field = static_cast<morph::SeedField>(f);
      const int32_t* words = host.words.data() + static_cast<size_t>(f) * static_cast<size_t>(S);
      Tensor t = Tensor::empty({S}, morph::seed_field_is_float(field) ? DType::f32 : DType::i32);
      std::memcpy(t.raw(), words, static_cast<size_t>(S) * sizeof(int32_t));
      st.tensors.emplace_back(p + morph::seed_field_name(field), t);
    }
    const ops::MorphLayerBuffers& b = l->buffers();
    add(p + "pool", b.pool);
    add(p + "slot_owner", b.slot_owner);
    add(p + "step_stats", b.step_stats);
    add(p + "telemetry", b.telemetry);
    add(p + "grad_norm", b.grad_norm);
    add(p + "event_ring", b.events);
    const auto c = l->host_counters();
    st.ints[p + "boundaries"] = c.boundaries;
    st.ints[p + "ring_tail"] = c.ring_tail;
    st.ints[p + "dropped_events"] = c.dropped_events;
    st.ints[p + "active_hint"] = c.active_hint;
    // Commands queued for the next boundary (e.g. an evaluation score set at this one).
    const std::vector<morph::MorphCommand> queued = l->queued_command_list();
    st.ints[p + "queued_commands"] = static_cast<int64_t>(queued.size());
    if (!queued.empty()) {
      Tensor q = Tensor::empty({static_cast<int64_t>(queued.size()), 4}, DType::i32);
      std::memcpy(q.raw(), queued.data(), queued.size() * sizeof(morph::MorphCommand));
      st.tensors.emplace_back(p + "queued_commands", q);
    }
  }

  const control::ControllerState cs = controller_->save();
  for (const auto& [name, t] : cs.tensors) add("controller/" + name, t);
  for (const auto& [name, x] : cs.ints) st.ints["controller/" + name] = x;
  for (const auto& [name, x] : cs.floats) st.floats["controller/" + name] = x;

  st.ints["trainer/flagged_steps"] = flagged_steps_;
  for (const auto& [key, n] : transition_counts_)
    st.ints["trainer/transitions/" + std::to_string(key.first) + "/" + std::to_string(key.second)] =
        n;
  for (const auto& [layer, n] : refusal_counts_)
    st.ints["trainer/refusals/" + std::to_string(layer)] = n;
  st.ints["trainer/epoch_reports"] = static_cast<int64_t>(epoch_reports_.size());
  for (size_t i = 0; i < epoch_reports_.size(); ++i) put_report(st, i, epoch_reports_[i]);
  return st;
}

void Trainer::restore_state(const RunState& st) {
  if (st.ints.count("data/train_size") && st.get_int("data/train_size") != train_.size)
    throw UserError("checkpoint: the training split has " +
                    std::to_string(st.get_int("data/train_size")) + " samples there but " +
                    std::to_string(train_.size) + " in this run");
  if (st.epoch < 0 || st.epoch_step < 0 || st.epoch_step >= steps_per_epoch_)
    throw UserError("checkpoint: position (epoch " + std::to_string(st.epoch) + ", step " +
                    std::to_string(st.epoch_step) + ") does not fit " +
                    std::to_string(steps_per_epoch_) + " steps per epoch");
  const std::vector<Parameter*> params = model_->parameters();
  for (Parameter* p : params) load_into(st, p->name, p->value);
  const auto& m = optimizer_->first_moments();
  const auto& v = optimizer_->second_moments();
  for (size_t i = 0; i < m.size(); ++i) load_into(st, "optimizer/m/" + params[i]->name, m[i]);
  for (size_t i = 0; i < v.size(); ++i) load_into(st, "optimizer/v/" + params[i]->name, v[i]);
  load_into(st, "trainer/step", ctx_.step);

  for (morph::KasminaLayer* l : model_->morph_layers()) {
    const std::string p = layer_prefix(l->config().layer_index);
    morph::HostSeedState host = morph::SeedState::initial_host_state(l->config().seeds);
    const int64_t S = host.seeds;
    for (int32_t f = 0; f < morph::kSeedFieldCount; ++f) {
      const auto field = static_cast<morph::SeedField>(f);
      const std::string name = p + morph::seed_field_name(field);
      const Tensor& t = st.get(name);
      if (t.numel() != S ||
          t.dtype() != (morph::seed_field_is_float(field) ? DType::f32 : DType::i32))
        throw UserError("checkpoint: '" + name + "' holds " + std::to_string(t.numel()) +
                        " seeds but this run's layer has " + std::to_string(S));
      std::memcpy(host.words.data() + static_cast<size_t>(f) * static_cast<size_t>(S), t.raw(),
                  static_cast<size_t>(S) * sizeof(int32_t));
    }
    const Tensor& owners = st.get(p + "slot_owner");
    if (owners.numel() != l->config().pool_slots || owners.dtype() != DType::i32)
      throw UserError("checkpoint: '" + p + "slot_owner' does not fit this run's pool_slots");
    l->restore_state(host, owners.to_vector<int32_t>());
    const ops::MorphLayerBuffers& b = l->buffers();
    load_into(st, p + "pool", b.pool);
    load_into(st, p + "step_stats", b.step_stats);
    load_into(st, p + "telemetry", b.telemetry);
    load_into(st, p + "grad_norm", b.grad_norm);
    load_into(st, p + "event_ring", b.events);
    std::vector<morph::MorphCommand> queued(static_cast<size_t>(st.get_int(p + "queued_commands")));
    if (!queued.empty()) {
      const Tensor& q = st.get(p + "queued_commands");
      if (q.nbytes() != queued.size() * sizeof(morph::MorphCommand))
        throw UserError("checkpoint: '" + p + "queued_commands' has the wrong size");
      std::memcpy(queued.data(), q.raw(), q.nbytes());
    }
    l->restore_queued_commands(queued);
    l->restore_host_counters(
        {st.get_int(p + "boundaries"), st.get_int(p + "ring_tail"),
         st.get_int(p + "dropped_events"),
         st.ints.count(p + "active_hint") ? st.get_int(p + "active_hint") : -1});
  }

  if (guarded_) {
    load_into(st, "guard/running", guard_.running);
    load_into(st, "guard/accepted", guard_.accepted);
    load_into(st, "guard/flagged", guard_.flagged);
    load_into(st, "guard/last_flagged_mean", guard_.last_flagged_mean);
    load_into(st, "guard/last_flagged_kind", guard_.last_flagged_kind);
    load_into(st, "guard/flag", guard_.flag);
    // The monitor counts the flagged steps it has reported; let it catch up now (its alerts
    // reach the controller, whose state is restored right after).
    if (guard_monitor_) {
      guard_monitor_->poll(st.global_step - 1);
      bus_->dispatch();
    }
  }
  control::ControllerState cs;
  const std::string cp = "controller/";
  for (const auto& [name, t] : st.tensors)
    if (name.rfind(cp, 0) == 0) cs.tensors.emplace_back(name.substr(cp.size()), t);
  for (const auto& [name, x] : st.ints)
    if (name.rfind(cp, 0) == 0) cs.ints[name.substr(cp.size())] = x;
  for (const auto& [name, x] : st.floats)
    if (name.rfind(cp, 0) == 0) cs.floats[name.substr(cp.size())] = x;
  controller_->restore(cs);
  bus_->take_log();  // the catch-up above is not part of the run's record

  flagged_steps_ = st.get_int("trainer/flagged_steps");
  transition_counts_.clear();
  refusal_counts_.clear();
  const std::string tp = "trainer/transitions/", rp = "trainer/refusals/";
  for (const auto& [name, n] : st.ints) {
    if (name.rfind(tp, 0) == 0) {
      const std::string rest = name.substr(tp.size());
      const size_t slash = rest.find('/');
      transition_counts_[{std::stoi(rest.substr(0, slash)), std::stoi(rest.substr(slash + 1))}] = n;
    } else if (name.rfind(rp, 0) == 0) {
      refusal_counts_[std::stoi(name.substr(rp.size()))] = n;
    }
  }
  epoch_reports_.clear();
  const int64_t reports = st.get_int("trainer/epoch_reports");
  for (int64_t i = 0; i < reports; ++i)
    epoch_reports_.push_back(get_report(st, i, cfg_.train.epochs));

  global_step_ = st.global_step;
  epoch_ = st.epoch;
  epoch_step_ = st.epoch_step;
  resumed_from_ = st.global_step;
  pending_restore_ = std::make_unique<RunState>(st);
}

void Trainer::apply_restore() {
  // After begin_epoch(epoch_): a checkpoint inside an epoch carries the epoch's cursor, loss
  // accumulators and permutation (the permutation is a pure function of (seed, epoch); the
  // stored one is checked against it).
  const RunState& st = *pending_restore_;
  if (st.epoch_step > 0) {
    const Tensor& perm = st.get("data/permutation");
    if (perm.to_vector<int32_t>() != perm_host_.to_vector<int32_t>())
      throw UserError("checkpoint: the stored batch order of epoch " +
                      std::to_string(st.epoch + 1) +
                      " differs from this run's (another seed or dataset)");
    load_into(st, "trainer/cursor", cursor_);
    load_into(st, "trainer/loss_sum", loss_sum_);
    load_into(st, "trainer/correct", correct_);
    if (guarded_) load_into(st, "guard/mark", guard_.mark);
  }
  pending_restore_.reset();
}

}  // namespace kasmina
