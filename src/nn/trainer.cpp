#include "nn/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "control/controller.hpp"
#include "control/event_bus.hpp"
#include "control/growth_driver.hpp"
#include "control/guard_monitor.hpp"
#include "control/layer_adapter.hpp"
#include "control/policy.hpp"
#include "core/rng.hpp"
#include "morph/blueprint.hpp"
#include "morph/kasmina_layer.hpp"

namespace kasmina {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double read_f64(const Tensor& t) { return t.to_vector<double>()[0]; }
int64_t read_i64(const Tensor& t) { return t.to_vector<int64_t>()[0]; }

}  // namespace

Trainer::Trainer(const Config& cfg, const DataSplits& data, Device dev) : cfg_(cfg), dev_(dev) {
  ops::use_device(dev_);
  ops::set_math_mode(dev_, cfg.train.precision == PrecisionMode::tf32 ? ops::MathMode::tf32
                                                                       : ops::MathMode::fp32);
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
  ctx_.step = Tensor::zeros({1}, DType::i64, dev_);
  cursor_ = Tensor::zeros({1}, DType::i64, dev_);
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
  ops::gather_batch(train_.images, train_.labels, perm_, cursor_, train_.scale, train_.shift, x_, y_);
  const Tensor logits = model_->forward(x_, Mode::train, ctx_);
  ops::softmax_xent(logits, y_, 1.0f / static_cast<float>(batch_), &dlogits_, loss_sum_, &correct_);
  if (guarded_) {
    ops::inject_nan_at_step(ctx_.step, cfg_.controller.debug_nan_step, loss_sum_, &dlogits_);
    ops::loss_guard(loss_sum_, batch_, guard_params_, guard_, &dlogits_);
  }
  model_->backward(dlogits_, ctx_);
  optimizer_->step(ctx_.step);
  ops::counter_add(ctx_.step, 1);
  ops::counter_add(cursor_, 1);
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
  bus_->publish(global_step_, control::ValidationMeasurement{epoch_, v.loss, cfg_.controller.eval_batches});
}

std::vector<control::MessageRecord> Trainer::take_bus_log() { return bus_->take_log(); }

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
  const uint64_t key = model_->train_step_key();
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
      obs.on_message("training step captured in a CUDA graph (step key " + std::to_string(key) + ")");
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
        case morph::Stage::germinated: g.germinated += n; break;
        case morph::Stage::fossilized: g.fossilized += n; break;
        case morph::Stage::culled: g.culled += n; break;
        case morph::Stage::rolled_back: g.rolled_back += n; break;
        default: break;
      }
    }
    if (auto r = refusal_counts_.find(g.layer); r != refusal_counts_.end()) g.refused = r->second;
    out.push_back(g);
  }
  return out;
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

  const int64_t total_steps = steps_per_epoch_ * cfg_.train.epochs;
  const bool progress = obs.wants_progress() && cfg_.train.log_every_steps > 0;
  double step_seconds_total = 0.0;
  const auto run_t0 = Clock::now();

  for (int64_t epoch = 0; epoch < cfg_.train.epochs; ++epoch) {
    const auto t0 = Clock::now();
    begin_epoch(epoch);
    for (int64_t s = 0; s < steps_per_epoch_; ++s) {
      run_step(obs, sum);
      if (progress && ((s + 1) % cfg_.train.log_every_steps == 0 || s + 1 == steps_per_epoch_)) {
        ProgressReport p;
        p.epoch = epoch + 1;
        p.epochs = cfg_.train.epochs;
        p.step = s + 1;
        p.steps_per_epoch = steps_per_epoch_;
        p.loss = read_f64(loss_sum_) / static_cast<double>((s + 1) * batch_);
        const double el = seconds_since(t0);
        p.samples_per_second = static_cast<double>((s + 1) * batch_) / std::max(el, 1e-9);
        const int64_t done = epoch * steps_per_epoch_ + s + 1;
        const double per_step = seconds_since(run_t0) / static_cast<double>(done);
        p.eta_seconds = per_step * static_cast<double>(total_steps - done);
        obs.on_progress(p);
      }
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
      flagged_now = read_i64(guard_.flagged) - sum.flagged_steps;
      sum.flagged_steps += flagged_now;
    }
    const double n = static_cast<double>(steps_per_epoch_ * batch_);
    rep.train_loss = read_f64(loss_sum_) / static_cast<double>((steps_per_epoch_ - flagged_now) * batch_);
    rep.train_accuracy = static_cast<double>(read_i64(correct_)) / n;
    const auto e0 = Clock::now();
    if (validation_.size > 0) rep.validation = evaluate("validation");
    rep.test = evaluate("test");
    sum.eval_seconds += seconds_since(e0);
    rep.step_seconds = step_seconds;
    rep.seconds = seconds_since(t0);
    rep.samples_per_second = n / std::max(step_seconds, 1e-9);
    obs.on_epoch(rep);
    sum.epoch_reports.push_back(rep);
  }
  sum.train_seconds = seconds_since(run_t0);
  sum.steps = total_steps;
  growth_->flush();
  report_growth(obs, sum);
  sum.graphs_captured = 0;
  for (const auto& [key, g] : graphs_) sum.graphs_captured += g->captured() ? 1 : 0;
  sum.graph_captured = sum.graphs_captured > 0;
  sum.growth = growth_summary();
  sum.samples_per_second =
      static_cast<double>(total_steps * batch_) / std::max(step_seconds_total, 1e-9);
  if (!sum.epoch_reports.empty()) {
    sum.test = sum.epoch_reports.back().test;
    sum.validation = sum.epoch_reports.back().validation;
    sum.final_train_loss = sum.epoch_reports.back().train_loss;
  }
  return sum;
}

}  // namespace kasmina
