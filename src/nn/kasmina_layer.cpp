#include "nn/kasmina_layer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "core/env_switch.hpp"
#include "core/error.hpp"
#include "morph/blueprint.hpp"
#include "morph/blueprint_pool.hpp"
#include "morph/blueprint_registry.hpp"
#include "morph/grafting.hpp"
#include "ops/ops.hpp"

namespace kasmina::morph {

namespace {

ProcessSwitch in_place_switch("KASMINA_MORPH_IN_PLACE", true);

[[noreturn]] void bad_option(const MorphConfig& c, const std::string& key,
                             const std::string& what) {
  throw UserError("kasmina layer " + std::to_string(c.layer_index) + ": key '" + key + "' " + what);
}

std::string allowed_blueprint_list() {
  std::string out;
  for (const std::string& n : blueprint_names()) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

bool morph_in_place() {
  return in_place_switch.on();
}

void set_morph_in_place(bool on) {
  in_place_switch.set(on);
}

KasminaLayer::KasminaLayer(const MorphConfig& cfg, DType dtype) : cfg_(cfg), dtype_(dtype) {
  validate();
}

void KasminaLayer::validate() const {
  const MorphConfig& c = cfg_;
  if (c.width <= 0) bad_option(c, "width", "is " + std::to_string(c.width) + " (allowed: > 0)");
  if (c.seeds <= 0) bad_option(c, "seeds", "is " + std::to_string(c.seeds) + " (allowed: > 0)");
  if (c.width % c.seeds != 0)
    bad_option(c, "seeds",
               "is " + std::to_string(c.seeds) + ", which does not divide the width " +
                   std::to_string(c.width) + " (allowed: a divisor of the width)");
  if (!chunk_supported(c.width / c.seeds))
    bad_option(c, "seeds",
               "gives chunks of " + std::to_string(c.width / c.seeds) +
                   " values (allowed: width/seeds " + kChunkRuleText + ")");
  if (c.hidden < 1 || c.hidden > kMaxHidden)
    bad_option(
        c, "hidden",
        "is " + std::to_string(c.hidden) + " (allowed: 1.." + std::to_string(kMaxHidden) + ")");
  if (c.rank < 1 || c.rank > kMaxHidden)
    bad_option(
        c, "rank",
        "is " + std::to_string(c.rank) + " (allowed: 1.." + std::to_string(kMaxHidden) + ")");
  if (c.allowed_blueprints.empty())
    bad_option(c, "blueprints", "is empty (allowed: " + allowed_blueprint_list() + ")");
  if (c.pool_slots < 1)
    bad_option(c, "pool_slots", "is " + std::to_string(c.pool_slots) + " (allowed: >= 1)");
  if (c.telemetry_every < 1)
    bad_option(c, "telemetry_every",
               "is " + std::to_string(c.telemetry_every) + " (allowed: >= 1)");
  if (c.event_capacity < 1)
    bad_option(c, "event_capacity", "is " + std::to_string(c.event_capacity) + " (allowed: >= 1)");
  if (c.command_capacity < 1)
    bad_option(c, "command_capacity",
               "is " + std::to_string(c.command_capacity) + " (allowed: >= 1)");
  if (c.grafting_params.ramp_steps < 0)
    bad_option(c, "grafting.ramp_steps",
               "is " + std::to_string(c.grafting_params.ramp_steps) + " (allowed: >= 0)");
  if (!(c.lifecycle.ema_decay >= 0.0f && c.lifecycle.ema_decay < 1.0f))
    bad_option(c, "lifecycle.ema_decay",
               "is " + std::to_string(c.lifecycle.ema_decay) + " (allowed: [0, 1))");
  if (c.lifecycle.max_training_seeds < 1)
    bad_option(c, "lifecycle.max_training_seeds",
               "is " + std::to_string(c.lifecycle.max_training_seeds) + " (allowed: >= 1)");
  for (int32_t i = 0; i < kStageCount; ++i) {
    if (c.lifecycle.min_steps[i] < 0)
      bad_option(c, std::string("lifecycle.min_steps.") + stage_name(static_cast<Stage>(i)),
                 "is negative (allowed: >= 0)");
  }
  if (!(c.optimizer.lr >= 0.0f)) bad_option(c, "optimizer.lr", "is negative (allowed: >= 0)");
  if (dtype_ != DType::f32 && dtype_ != DType::f64)
    throw InternalError("KasminaLayer: element type must be f32 or f64");
}

std::string KasminaLayer::describe() const {
  std::ostringstream o;
  o << "kasmina " << cfg_.width << " (" << cfg_.seeds << " seeds x " << chunk() << ", pool "
    << cfg_.pool_slots << " slots, grafting " << grafting_name(cfg_.grafting) << ")";
  return o.str();
}

int64_t KasminaLayer::blueprint_parameters(int32_t blueprint) const {
  if (blueprint < 0) return 0;
  return registered_param_count(blueprint, blueprint_shape());
}

bool KasminaLayer::bf16_capable() const {
  const int32_t C = chunk();
  if (dtype_ != DType::f32 || (C > kRowChunk && C % 8 != 0)) return false;
  for (BlueprintKind k : cfg_.allowed_blueprints) {
    const int32_t kind = static_cast<int32_t>(k);
    const BlueprintDescriptor* d = find_blueprint(kind);
    if (!d || !d->in_fused_kernels || kind >= kBlueprintKindCount) return false;
    if (k == BlueprintKind::residual_mlp &&
        residual_mlp_on_gemm(C, cfg_.hidden, cfg_.seeds, cfg_.seed_path))
      return false;
  }
  return true;
}

void KasminaLayer::prepare(int64_t max_batch, Device dev) {
  KASMINA_CHECK(max_batch > 0, "KasminaLayer::prepare: max_batch must be positive");
  if (dev.is_cuda() && dtype_ != DType::f32)
    throw UserError("kasmina layer " + std::to_string(cfg_.layer_index) + ": CUDA needs float32");
  dev_ = dev;
  max_batch_ = max_batch;
  const int32_t S = cfg_.seeds;
  state_ = SeedState(S, dev);
  buf_ = ops::MorphLayerBuffers{};
  buf_.seeds = S;
  buf_.shape = blueprint_shape();
  buf_.state = state_.storage();
  // The pool region holds the largest allowed blueprint; the fused kernels stage only the
  // largest of the kinds they compute (the kind table's fused kinds).
  int32_t max_params = 0, fused_params = 1;
  for (BlueprintKind k : cfg_.allowed_blueprints) {
    const BlueprintDescriptor* d = find_blueprint(static_cast<int32_t>(k));
    if (!d) continue;
    const int32_t n = d->param_count(*d, buf_.shape);
    max_params = std::max(max_params, n);
    if (d->kind < kBlueprintKindCount) fused_params = std::max(fused_params, n);
  }
  buf_.pool_region = pool_region_width(max_params);
  buf_.fused_region = pool_region_width(fused_params);
  buf_.pool_slots = cfg_.pool_slots;
  buf_.pool = Tensor::zeros(
      {static_cast<int64_t>(cfg_.pool_slots) * buf_.pool_region * kPoolRegionCount}, dtype_, dev);
  buf_.slot_owner =
      Tensor::from_vector(std::vector<int32_t>(cfg_.pool_slots, -1), {cfg_.pool_slots}, dev);
  const int64_t row_tiles =
      dev.is_cuda() ? (max_batch + ops::kMorphRowsPerTile - 1) / ops::kMorphRowsPerTile : 1;
  buf_.partials = Tensor::empty({row_tiles, S, ops::kMorphPartialStats}, DType::f32, dev);
  buf_.step_stats = Tensor::zeros({S, ops::kMorphStepStats}, DType::f32, dev);
  buf_.telemetry = Tensor::zeros({S, ops::kMorphTelemetryStats}, DType::f64, dev);
  buf_.grad_norm = Tensor::zeros({S}, DType::f32, dev);
  buf_.eval_zero = Tensor::zeros({S}, DType::u8, dev);
  buf_.command_capacity = cfg_.command_capacity;
  buf_.training_objective = cfg_.lifecycle.training_objective;
  buf_.event_capacity = cfg_.event_capacity;
  const int64_t cmd_bytes = sizeof(CommandBufferHeader) +
                            sizeof(MorphCommand) * static_cast<int64_t>(cfg_.command_capacity);
  buf_.commands = Tensor::zeros({cmd_bytes}, DType::u8, dev);
  command_staging_ = Tensor::zeros({cmd_bytes}, DType::u8, Device::cpu());
  const int64_t ev_bytes =
      sizeof(EventRingHeader) + sizeof(MorphEvent) * static_cast<int64_t>(cfg_.event_capacity);
  buf_.events = Tensor::zeros({ev_bytes}, DType::u8, dev);
  bf16_io_ = bf16_io_wanted_ && bf16_capable();
  out_ = Tensor::empty({max_batch, cfg_.width}, bf16_io_ ? DType::bf16 : dtype_, dev);
  auto allowed = [&](int32_t kind) {
    return std::find(cfg_.allowed_blueprints.begin(), cfg_.allowed_blueprints.end(),
                     static_cast<BlueprintKind>(kind)) != cfg_.allowed_blueprints.end();
  };
  const int32_t mlp = static_cast<int32_t>(BlueprintKind::residual_mlp);
  buf_.gemm_kinds = 0;
  if (allowed(mlp) && residual_mlp_on_gemm(buf_.shape.chunk, buf_.shape.hidden, S, cfg_.seed_path))
    buf_.gemm_kinds |= 1u << mlp;
  if (allowed(kRowMlpKind)) buf_.gemm_kinds |= 1u << kRowMlpKind;  // only on the GEMM path
  gemm_.prepare(buf_, max_batch);
  rows_.prepare(buf_, max_batch);
  flops_.reset(S, buf_.shape);
  grad_score_.prepare(cfg_.gradient_score, cfg_.width, dtype_, dev);
  prepare_modules();
  // The rows an in-place forward saves (MorphLayerBuffers::saved), where only the fused ops
  // write the output.
  buf_.saved = Tensor();
  buf_.saved_rows = 0;
  if (buf_.gemm_kinds == 0 && !rows_.enabled() && buf_.modules.empty()) {
    buf_.saved_rows = max_batch;
    buf_.saved = Tensor::empty({int64_t{cfg_.pool_slots} * max_batch, chunk()}, out_.dtype(), dev);
  }
  ring_tail_ = 0;
  dropped_events_ = 0;
  boundaries_ = 0;
  active_hint_ = 0;
  eval_mask_active_ = false;
  stats_fresh_ = grads_fresh_ = false;
  prepared_ = true;
}

void KasminaLayer::enable_gradient_score() {
  cfg_.gradient_score = true;
  if (prepared_ && !grad_score_.enabled()) grad_score_.prepare(true, cfg_.width, dtype_, dev_);
}

bool KasminaLayer::telemetry_due() const {
  return (boundaries_ + 1) % cfg_.telemetry_every == 0;
}

KasminaLayer::StepPlan KasminaLayer::plan(bool train) const {
  StepPlan p;
  p.collect = train && (active_hint_ > 0 || telemetry_due());
  // Dormant fast path: every seed is the identity and no statistics are due.
  p.identity = active_hint_ == 0 && !p.collect;
  // In place where x is this layer's alone and only the fused ops write the output (the saved
  // rows exist then); not while the gradient score is due (it reads x before the backward).
  p.in_place = !p.identity && input_owned_ && buf_.saved.defined() && morph_in_place() &&
               !(train && grad_score_due());
  return p;
}

uint32_t KasminaLayer::train_step_key() const {
  const StepPlan p = plan(true);
  // (Whether the step runs in place is not a bit of its own: it follows from these bits and
  // from those of the layers before this one, which decide whether its input is a buffer of its
  // sequence — set_input_owned — and the model's key holds them all.)
  return (p.identity ? 1u : 0u) | (p.collect ? 2u : 0u) | (grad_score_due() ? 4u : 0u);
}

void KasminaLayer::note_plan(const StepPlan& p, bool train) {
  last_train_ = train;
  last_identity_ = p.identity;
  last_in_place_ = p.in_place;
  if (p.collect) stats_fresh_ = true;
}

void KasminaLayer::replayed_train_step() {
  const StepPlan p = plan(true);
  note_plan(p, true);
  if (!p.identity) grads_fresh_ = true;
  if (grad_score_due()) grad_score_.note_replayed();
}

Tensor KasminaLayer::forward(const Tensor& x, Mode mode, const StepContext& ctx) {
  KASMINA_CHECK(prepared_, "KasminaLayer::forward before prepare");
  KASMINA_CHECK(x.ndim() == 2 && x.dim(1) == cfg_.width && x.dim(0) <= max_batch_,
                "KasminaLayer::forward: input " + shape_str(x.shape()) + " for width " +
                    std::to_string(cfg_.width) + " and max batch " + std::to_string(max_batch_));
  KASMINA_CHECK(x.dtype() == out_.dtype(),
                "KasminaLayer::forward: input is " + std::string(dtype_name(x.dtype())) +
                    ", the layer was prepared for " + dtype_name(out_.dtype()));
  const bool train = mode == Mode::train;
  const StepPlan p = plan(train);
  note_plan(p, train);
  if (train) flops_.set_batch(x.dim(0));
  x_saved_ = x;
  if (p.identity) return x;
  Tensor out = out_.rows(0, x.dim(0));
  ops::MorphForwardOptions opt;
  opt.collect_stats = p.collect;
  opt.use_eval_mask = !train && eval_mask_active_;
  opt.dead_eps = cfg_.dead_eps;
  if (p.in_place) {
    opt.in_place = true;
    out = x;
  }
  ops::morph_forward(buf_, x, out, opt);
  if (gemm_.enabled()) gemm_.forward(buf_, x, out, opt);
  if (rows_.enabled()) rows_.forward(buf_, x, out, opt);
  return out;
}

void KasminaLayer::backward(const Tensor& dy, Tensor* dx, const StepContext& ctx) {
  KASMINA_CHECK(x_saved_.defined(), "KasminaLayer::backward without a forward");
  KASMINA_CHECK(dy.shape() == x_saved_.shape() && dy.dtype() == x_saved_.dtype(),
                "KasminaLayer::backward: dy shape or type differs from x");
  if (last_train_ && grad_score_due()) grad_score_.measure(dy, x_saved_);
  // After an in-place forward dx is dy itself where the sequence owns dy.
  const bool alias = dx && last_in_place_ && output_grad_owned_;
  if (alias) *dx = dy;
  if (last_identity_ || active_hint_ == 0) {  // (nothing blended: x is as it was)
    if (dx && !alias) dx->copy_from(dy);
    return;
  }
  if (last_in_place_) {
    ops::morph_backward_saved(buf_, x_saved_, dy, dx, last_train_);
    if (last_train_) grads_fresh_ = true;
    return;
  }
  ops::morph_backward(buf_, x_saved_, dy, dx, last_train_);
  if (gemm_.enabled()) gemm_.backward(buf_, x_saved_, dy, dx, last_train_);
  if (rows_.enabled()) rows_.backward(buf_, x_saved_, dy, dx, last_train_);
  if (last_train_) grads_fresh_ = true;
}

void KasminaLayer::enqueue(const MorphCommand& c) {
  queue_.push_back(c);
}

void KasminaLayer::germinate(int32_t seed, BlueprintKind blueprint) {
  enqueue(
      {static_cast<int32_t>(CommandType::germinate), seed, static_cast<int32_t>(blueprint), 0.0f});
}
void KasminaLayer::request_transition(int32_t seed, Stage to) {
  enqueue({static_cast<int32_t>(CommandType::transition), seed, static_cast<int32_t>(to), 0.0f});
}
void KasminaLayer::set_eval_score(int32_t seed, float score) {
  enqueue({static_cast<int32_t>(CommandType::set_eval_score), seed, 0, score});
}
void KasminaLayer::set_improvement(int32_t seed, float improvement) {
  enqueue({static_cast<int32_t>(CommandType::set_improvement), seed, 0, improvement});
}

void KasminaLayer::upload_commands() {
  const int32_t n = static_cast<int32_t>(
      std::min<size_t>(queue_.size(), static_cast<size_t>(cfg_.command_capacity)));
  auto* bytes = command_staging_.data<uint8_t>();
  CommandBufferHeader header{};
  header.count = n;
  std::memcpy(bytes, &header, sizeof header);
  auto* list = reinterpret_cast<MorphCommand*>(bytes + sizeof(CommandBufferHeader));
  for (int32_t i = 0; i < n; ++i) {
    list[i] = queue_.front();
    queue_.pop_front();
    if (list[i].type == static_cast<int32_t>(CommandType::germinate)) ++active_hint_;
  }
  // Stream-ordered upload of the header and the used part of the list.
  const int64_t used = static_cast<int64_t>(sizeof(CommandBufferHeader) + sizeof(MorphCommand) * n);
  Tensor dst = buf_.commands.flat_range(0, {used});
  dst.copy_from(command_staging_.flat_range(0, {used}));
}

void KasminaLayer::set_loss_alarm(const Tensor& flag) {
  if (flag.defined()) {
    KASMINA_CHECK(flag.numel() == 1 && flag.dtype() == DType::i32,
                  "KasminaLayer::set_loss_alarm: the flag must be an i32[1] tensor");
    KASMINA_CHECK(!prepared_ || flag.device() == dev_,
                  "KasminaLayer::set_loss_alarm: the flag is not on the layer's device");
  }
  loss_alarm_ = flag;
}

void KasminaLayer::end_step(const StepContext& ctx) {
  KASMINA_CHECK(prepared_, "KasminaLayer::end_step before prepare");
  const bool has_commands = !queue_.empty();
  if (active_hint_ > 0 || has_commands) {
    if (grads_fresh_) ops::morph_optimizer_step(buf_, cfg_.optimizer);
    if (has_commands) upload_commands();
    ops::MorphLifecycleArgs a;
    a.lifecycle = cfg_.lifecycle;
    a.grafting = cfg_.grafting_params;
    a.rules.layer = cfg_.layer_index;
    a.rules.allowed_blueprints = allowed_mask_;
    a.rules.strategy = static_cast<int32_t>(cfg_.grafting);
    a.rules.shape = buf_.shape;
    a.rules.run_seed = ctx.seed;
    a.stats_fresh = stats_fresh_;
    a.grads_fresh = grads_fresh_;
    a.loss_alarm = loss_alarm_;
    KASMINA_CHECK(ctx.step.defined(), "KasminaLayer::end_step: StepContext::step is not set");
    ops::morph_lifecycle_step(buf_, a, ctx.step);
  }
  stats_fresh_ = grads_fresh_ = false;
  ++boundaries_;
  if (boundaries_ % cfg_.telemetry_every == 0) {
    drain_ring();
    last_telemetry_ = read_telemetry();
  }
}

void KasminaLayer::drain_ring() {
  const std::vector<uint8_t> bytes = buf_.events.to_vector<uint8_t>();
  EventRingHeader header;
  std::memcpy(&header, bytes.data(), sizeof header);
  const auto* ring = reinterpret_cast<const MorphEvent*>(bytes.data() + sizeof(EventRingHeader));
  const int64_t cap = cfg_.event_capacity;
  if (header.head - ring_tail_ > cap) {
    dropped_events_ += header.head - ring_tail_ - cap;
    ring_tail_ = header.head - cap;
  }
  for (int64_t i = ring_tail_; i < header.head; ++i) {
    events_.push_back(ring[i % cap]);
    flops_.observe(events_.back());
  }
  ring_tail_ = header.head;
  refresh_active_from_device();
}

void KasminaLayer::refresh_active_from_device() {
  const std::vector<int32_t> stages =
      state_.storage().flat_range(0, {cfg_.seeds}).to_vector<int32_t>();
  active_hint_ = static_cast<int32_t>(std::count_if(stages.begin(), stages.end(), [](int32_t s) {
    return s != static_cast<int32_t>(Stage::dormant);
  }));
}

std::vector<MorphEvent> KasminaLayer::drain_events() {
  KASMINA_CHECK(prepared_, "KasminaLayer::drain_events before prepare");
  drain_ring();
  std::vector<MorphEvent> out;
  out.swap(events_);
  return out;
}

std::vector<SeedTelemetry> KasminaLayer::read_telemetry() {
  KASMINA_CHECK(prepared_, "KasminaLayer::read_telemetry before prepare");
  const std::vector<double> t = buf_.telemetry.to_vector<double>();
  HostSeedState h = state_.download();
  SeedStateView v = h.view();
  buf_.telemetry.fill_zero();
  const std::vector<double> scores = grad_score_.take(cfg_.seeds);
  std::vector<SeedTelemetry> out(static_cast<size_t>(cfg_.seeds));
  for (int32_t s = 0; s < cfg_.seeds; ++s) {
    SeedTelemetry& r = out[static_cast<size_t>(s)];
    const double* a = t.data() + static_cast<size_t>(s) * ops::kMorphTelemetryStats;
    r.seed = s;
    r.stage = static_cast<Stage>(v.stage[s]);
    r.blueprint = v.blueprint[s];
    r.alpha = v.alpha[s];
    r.samples = a[0];
    if (a[0] > 0.0) {
      r.mean = a[1] / a[0];
      r.variance = std::max(0.0, a[2] / a[0] - r.mean * r.mean);
      r.dead_fraction = a[3] / a[0];
    }
    r.max_abs = a[4];
    r.iso_loss_ema = v.iso_loss_ema[s];
    r.drift_ema = v.drift_ema[s];
    r.grad_norm_ema = v.grad_norm_ema[s];
    r.eval_score = v.eval_score[s];
    if (!scores.empty()) r.grad_score = scores[static_cast<size_t>(s)];
  }
  return out;
}

void KasminaLayer::set_eval_alpha_zero(const std::vector<int32_t>& seeds) {
  KASMINA_CHECK(prepared_, "KasminaLayer::set_eval_alpha_zero before prepare");
  std::vector<uint8_t> mask(static_cast<size_t>(cfg_.seeds), 0);
  for (int32_t s : seeds) {
    if (s < 0 || s >= cfg_.seeds)
      throw UserError("kasmina layer " + std::to_string(cfg_.layer_index) + ": seed " +
                      std::to_string(s) + " out of range (allowed: 0.." +
                      std::to_string(cfg_.seeds - 1) + ")");
    mask[static_cast<size_t>(s)] = 1;
  }
  buf_.eval_zero.copy_from(Tensor::from_vector(mask, {cfg_.seeds}));
  eval_mask_active_ = true;
}

void KasminaLayer::clear_eval_alpha_zero() {
  eval_mask_active_ = false;
}

void KasminaLayer::restore_state(const HostSeedState& state,
                                 const std::vector<int32_t>& slot_owner) {
  KASMINA_CHECK(prepared_, "KasminaLayer::restore_state before prepare");
  KASMINA_CHECK(static_cast<int32_t>(slot_owner.size()) == cfg_.pool_slots,
                "KasminaLayer::restore_state: slot table size differs from pool_slots");
  state_.upload(state);
  buf_.slot_owner.copy_from(Tensor::from_vector(slot_owner, {cfg_.pool_slots}));
  refresh_active_from_device();
  const auto S = static_cast<size_t>(cfg_.seeds);
  auto field = [&](SeedField f) {
    const int32_t* w = state.words.data() + static_cast<size_t>(f) * S;
    return std::vector<int32_t>(w, w + S);
  };
  flops_.adopt(field(SeedField::stage), field(SeedField::blueprint));
}

}  // namespace kasmina::morph
