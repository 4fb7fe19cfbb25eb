#include "train/trainer.hpp"

#include <algorithm>
#include <chrono>

#include "core/rng.hpp"
#include "nn/kasmina_layer.hpp"
#include "ops/augment_ops.hpp"
#include "train/data_order.hpp"
#include "train/data_parallel.hpp"
#include "train/device_data.hpp"
#include "train/device_warm_up.hpp"
#include "train/evaluator.hpp"
#include "train/fused_mlp_step.hpp"
#include "train/growth.hpp"
#include "train/loss_guard.hpp"
#include "train/precision.hpp"

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
  configure_device(cfg, dev_);  // device, determinism, autotune, compile limit
  math_.emplace(dev_, math_mode_of(cfg.train.precision));  // before the layers are prepared

  dp_ = std::make_unique<DataParallel>(dev_, cfg.train.deterministic);
  batch_ = cfg.train.batch_size;
  global_batch_ = batch_ * dp_->world_size();
  const int64_t eval_batch = cfg.train.eval_batch_size;
  const int64_t n_train = data.train.size();
  if (global_batch_ > n_train) {
    throw UserError("train.batch_size: " + std::to_string(batch_) +
                    (dp_->multi() ? " x " + std::to_string(dp_->world_size()) + " processes" : "") +
                    " is larger than the " + std::to_string(n_train) + " training samples");
  }
  data_ = std::make_unique<DeviceData>(upload_splits(data, dev_));

  model_ = std::make_unique<Model>(cfg.model, dataset_shape(cfg.data).input(), cfg.seed, dev_);
  model_->prepare(std::max(batch_, eval_batch));
  check_same_on_all_ranks(dp_->host(), parameter_hash(*model_), "the initial parameters");
  steps_per_epoch_ =
      n_train / global_batch_;  // the last partial batch is dropped (reshuffled next epoch)
  const LrSchedule sched =
      make_schedule(cfg.optimizer, cfg.lr_schedule, steps_per_epoch_ * cfg.train.epochs);
  optimizer_ = std::make_unique<Optimizer>(cfg.optimizer, sched, model_->parameters(), dev_);
  static_flops_per_step_ = model_->train_flops_per_step(batch_, optimizer_->flops_per_parameter());

  ctx_.seed = derive_seed(cfg.seed, "dropout");
  // The step counter and the epoch's batch cursor side by side: one launch advances both.
  counters_ = Tensor::zeros({2}, DType::i64, dev_);
  ctx_.step = counters_.rows(0, 1);
  optimizer_->advance_after_step(counters_);  // the optimizer's launch advances both
  order_ = std::make_unique<DataOrder>(cfg.seed, data_->train, batch_, counters_.rows(1, 2), dev_,
                                       dp_->rank(), dp_->world_size());
  const int64_t classes = model_->out_width();
  x_ = Tensor::empty({batch_, data.train.features()}, DType::f32, dev_);
  if (cfg.data.augment.any()) {
    const ImageShape img = *dataset_shape(cfg.data).image;  // checked with the config
    x_aug_ = Tensor::empty({batch_, img.h, img.w, img.c}, DType::f32, dev_);
    augment_seed_ = derive_seed(cfg.seed, "augment");
  }
  y_ = Tensor::empty({batch_}, DType::i32, dev_);
  dlogits_ = Tensor::empty({batch_, classes}, DType::f32, dev_);
  loss_sum_ = Tensor::zeros({1}, DType::f64, dev_);
  correct_ = Tensor::zeros({1}, DType::i64, dev_);
  evaluator_ = std::make_unique<Evaluator>(*data_, *model_, ctx_, eval_batch, data.train.features(),
                                           dev_, &dp_->host());
  const bool guarded = !model_->morph_layers().empty() || cfg_.controller.debug_nan_step >= 0;
  guard_ = std::make_unique<LossGuard>(cfg_.controller, guarded, dev_);
  growth_ = std::make_unique<Growth>(cfg_, *model_, *evaluator_, *guard_,
                                     steps_per_epoch_ * cfg_.train.epochs);
  if (dev_.is_cuda()) {  // on the CPU the layered step (OpenBLAS) is the faster one
    fused_ = FusedMlpStep::make(*model_, batch_, cfg.train.precision == PrecisionMode::fp32,
                                !dp_->multi(), guard_->present(), &layered_why_);
  }
}

Trainer::~Trainer() = default;

void Trainer::begin_epoch(int64_t epoch) {
  epoch_ = epoch;
  order_->begin_epoch(epoch);
  model_->begin_epoch(epoch, global_step_);
  ops::fill(loss_sum_, 0.0);
  ops::fill(correct_, 0.0);
  guard_->begin_epoch();
}

Tensor Trainer::augmented_batch() {
  if (!x_aug_.defined()) return x_;
  // Random crops pad with the normalised value of a black pixel (as torchvision pads before it
  // normalises); the draws are keyed by (seed, step, the sample's index in the global batch), so
  // a resumed run and any number of ranks augment alike.
  const AugmentConfig& a = cfg_.data.augment;
  ops::augment_crop_flip(x_.view(x_aug_.shape()), a.crop_padding, a.flip, data_->train.shift,
                         augment_seed_, ctx_.step, static_cast<int64_t>(dp_->rank()) * batch_,
                         x_aug_);
  return x_aug_.view(x_.shape());
}

void Trainer::train_step() {
  const float grad_scale = 1.0f / static_cast<float>(batch_);
  if (fused_ && fused_->takes_ends()) {
    // One process, no guard: the same values in one launch, the gather (unless augmentation
    // follows it) and the optimizer's update (with its counter advance) included.
    const ops::MlpStepUpdate update = optimizer_->update_args(ctx_.step);
    if (x_aug_.defined()) {
      order_->gather(x_, y_);
      fused_->run(augmented_batch(), y_, grad_scale, dlogits_, loss_sum_, &correct_, nullptr,
                  &update);
    } else {
      const ops::MlpStepGather gather = order_->gather_args();
      fused_->run(x_, y_, grad_scale, dlogits_, loss_sum_, &correct_, &gather, &update);
    }
    return;
  }
  order_->gather(x_, y_);
  if (fused_) {
    fused_->run(augmented_batch(), y_, grad_scale, dlogits_, loss_sum_, &correct_);
  } else {
    const Tensor logits = model_->forward(augmented_batch(), Mode::train, ctx_);
    dp_->before_loss(loss_sum_);
    ops::softmax_xent(logits, y_, grad_scale, &dlogits_, loss_sum_, &correct_);
    dp_->after_loss(loss_sum_);
    guard_->guard_step(ctx_.step, loss_sum_, global_batch_, &dlogits_);
    model_->backward(dlogits_, ctx_);
  }
  dp_->gradients().all_reduce_mean(model_->gradient_buffer().flat());
  optimizer_->step(ctx_.step);  // and advances the step counter and the cursor
}

EvalResult Trainer::evaluate(const std::string& split, int64_t max_batches,
                             ConfusionMatrix* confusion) {
  return evaluator_->evaluate(split, max_batches, confusion);
}

std::vector<control::MessageRecord> Trainer::take_bus_log() {
  return growth_->take_bus_log();
}

void Trainer::launch_step(TrainerObserver& obs, TrainSummary& sum) {
  // Fused kernels of a tiered compile that became ready (ops/blueprint_compiler.hpp): swapped in
  // here, between steps; graphs captured with the linked ones are captured again.
  if (const std::vector<std::string> said = model_->upgrade_kernels(false); !said.empty()) {
    graphs_.clear();
    for (const std::string& s : said)
      obs.on_message(s + " (before step " + std::to_string(global_step_ + 1) + ")");
  }
  const uint64_t key = model_->train_step_key() * 2 + (guard_->on() ? 1 : 0);
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
}

void Trainer::run_step(TrainerObserver& obs, TrainSummary& sum) {
  growth_->before_step(global_step_, epoch_);
  guard_->update(model_->morph_layers(), loss_sum_);
  launch_step(obs, sum);
  dp_->reduce_morph_layers(model_->morph_layers());
  model_->end_step(ctx_);
  growth_->after_step(global_step_, obs);
  ++global_step_;
}

void Trainer::hand_over_bus_log(TrainerObserver& obs) {
  if (obs.wants_bus_log()) obs.on_bus_messages(growth_->take_bus_log());
}

void Trainer::checkpoint_now(TrainerObserver& obs, TrainSummary& sum) {
  // Deliver what the last boundary published, so the controller state holds it and nothing is
  // left queued on the bus (the next step's dispatch would deliver the same, in the same order).
  growth_->deliver();
  growth_->report(obs, sum);
  hand_over_bus_log(obs);
  dp_->gather_telemetry(model_->morph_layers());  // rank 0's checkpoint holds every rank's
  dp_->gather_count(correct_);
  const auto c0 = Clock::now();
  obs.on_checkpoint(*this);
  sum.checkpoint_seconds += seconds_since(c0);
  obs.on_flush_point();
}

EpochReport Trainer::finish_epoch(int64_t epoch, int64_t first, double step_seconds,
                                  TrainSummary& sum) {
  EpochReport rep;
  rep.epoch = epoch + 1;
  rep.epochs = cfg_.train.epochs;
  // Steps the loss guard rejected are left out of the epoch's loss accumulator.
  int64_t flagged_now = 0;
  if (guard_->present()) {
    flagged_now = guard_->flagged_total() - flagged_steps_;
    flagged_steps_ += flagged_now;
  }
  const double n = static_cast<double>(steps_per_epoch_ * global_batch_);
  rep.train_loss =
      read_f64(loss_sum_) / static_cast<double>((steps_per_epoch_ - flagged_now) * global_batch_);
  rep.train_accuracy = dp_->sum(static_cast<double>(read_i64(correct_))) / n;
  const auto e0 = Clock::now();
  if (evaluator_->has_validation()) rep.validation = evaluate("validation");
  rep.test = evaluate("test");
  sum.eval_seconds += seconds_since(e0);
  rep.step_seconds = step_seconds;
  rep.samples_per_second = static_cast<double>((steps_per_epoch_ - first) * global_batch_) /
                           std::max(step_seconds, 1e-9);
  return rep;
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
  // The kernels of IR blueprints prepared for this device (the cache level that served each, the
  // time, the launch configuration), or why one's germinations are refused.
  for (const morph::KasminaLayer* layer : model_->morph_layers())
    for (const std::string& note : layer->module_notes()) obs.on_message(note);
  if (fused_) {
    obs.on_message(fused_->describe());
  } else if (!layered_why_.empty()) {
    obs.on_message("training step: layered launches (the fused MLP kernel does not apply: " +
                   layered_why_ + ")");
  }

  const int64_t total_steps = steps_per_epoch_ * cfg_.train.epochs;
  const bool progress = obs.wants_progress() && cfg_.train.log_every_steps > 0;
  const int64_t metrics_every = obs.metrics_every();
  const bool checkpoints = obs.wants_checkpoints();
  const CheckpointConfig& ck = cfg_.checkpoint;
  double step_seconds_total = 0.0;
  int64_t steps_this_run = 0;
  const int64_t first_global_step = global_step_;
  const auto run_t0 = Clock::now();
  const int64_t start_epoch = resumed_ ? epoch_ : 0;

  for (int64_t epoch = start_epoch; epoch < cfg_.train.epochs; ++epoch) {
    const auto t0 = Clock::now();
    int64_t first = 0;
    if (resumed_ && epoch_step_ > 0) {
      // restore_state set this epoch up (order, cursor, loss accumulators, guard mark).
      first = epoch_step_;
    } else {
      begin_epoch(epoch);
    }
    resumed_ = false;
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
        const double loss = read_f64(loss_sum_) / static_cast<double>((s + 1) * global_batch_);
        const double el = seconds_since(t0);
        const double sps =
            static_cast<double>((s + 1 - first) * global_batch_) / std::max(el, 1e-9);
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
          m.train_flops = train_flops();
          obs.on_step_metrics(m);
        }
      }
      if (s + 1 < steps_per_epoch_) {  // the epoch's last step is handled after its report
        stop = dp_->any(obs.stop_requested());
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
    growth_->report(obs, sum);
    step_seconds_total += step_seconds;

    EpochReport rep = finish_epoch(epoch, first, step_seconds, sum);
    rep.seconds = seconds_since(t0);
    obs.on_epoch(rep);
    epoch_reports_.push_back(rep);
    hand_over_bus_log(obs);

    // The boundary after the epoch: the next step is the first of the next epoch.
    epoch_ = epoch + 1;
    epoch_step_ = 0;
    const bool last = epoch + 1 == cfg_.train.epochs;
    stop = dp_->any(obs.stop_requested());
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
  const auto c0 = Clock::now();
  obs.on_run_end();
  sum.checkpoint_seconds += seconds_since(c0);
  sum.train_seconds = seconds_since(run_t0);
  sum.steps = global_step_;
  growth_->flush();
  growth_->report(obs, sum);
  hand_over_bus_log(obs);
  sum.graphs_captured = 0;
  for (const auto& [key, g] : graphs_) sum.graphs_captured += g->captured() ? 1 : 0;
  sum.graph_captured = sum.graphs_captured > 0;
  sum.growth = growth_->summary();
  sum.train_flops = train_flops();
  sum.flagged_steps = flagged_steps_;
  sum.samples_per_second =
      static_cast<double>(steps_this_run * global_batch_) / std::max(step_seconds_total, 1e-9);
  sum.epoch_reports = epoch_reports_;
  if (!sum.epoch_reports.empty()) {
    sum.test = sum.epoch_reports.back().test;
    sum.validation = sum.epoch_reports.back().validation;
    sum.final_train_loss = sum.epoch_reports.back().train_loss;
  }
  return sum;
}

}  // namespace kasmina
