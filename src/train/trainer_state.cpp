// The run's checkpoint state: every component's own section gathered into one RunState, and
// restored from it in the order the components depend on. The loop's own section (the device
// step counter, the epoch's loss accumulators, the flagged-step count and the epoch reports)
// lives here too.
#include "train/data_order.hpp"
#include "train/data_parallel.hpp"
#include "train/device_data.hpp"
#include "train/evaluator.hpp"
#include "train/growth.hpp"
#include "train/loss_guard.hpp"
#include "train/trainer.hpp"

namespace kasmina {

namespace {

void put_report(StateWriter& out, const EpochReport& r) {
  out.integer("epoch", r.epoch);
  out.number("train_loss", r.train_loss);
  out.number("train_accuracy", r.train_accuracy);
  out.integer("has_validation", r.validation ? 1 : 0);
  if (r.validation) {
    out.number("validation_loss", r.validation->loss);
    out.number("validation_accuracy", r.validation->accuracy);
    out.integer("validation_samples", r.validation->samples);
  }
  out.number("test_loss", r.test.loss);
  out.number("test_accuracy", r.test.accuracy);
  out.integer("test_samples", r.test.samples);
  out.number("seconds", r.seconds);
  out.number("step_seconds", r.step_seconds);
  out.number("samples_per_second", r.samples_per_second);
}

EpochReport get_report(const StateReader& in, int64_t epochs) {
  EpochReport r;
  r.epoch = in.integer("epoch");
  r.epochs = epochs;
  r.train_loss = in.number("train_loss");
  r.train_accuracy = in.number("train_accuracy");
  if (in.integer("has_validation") != 0)
    r.validation = EvalResult{in.number("validation_loss"), in.number("validation_accuracy"),
                              in.integer("validation_samples")};
  r.test =
      EvalResult{in.number("test_loss"), in.number("test_accuracy"), in.integer("test_samples")};
  r.seconds = in.number("seconds");
  r.step_seconds = in.number("step_seconds");
  r.samples_per_second = in.number("samples_per_second");
  return r;
}

}  // namespace

void Trainer::save_loop_state(StateWriter& root) const {
  StateWriter out = root.section("trainer");
  out.tensor("step", ctx_.step);
  out.tensor("loss_sum", loss_sum_);
  out.tensor("correct", correct_);
  out.integer("flagged_steps", flagged_steps_);
  out.integer("epoch_reports", static_cast<int64_t>(epoch_reports_.size()));
  for (size_t i = 0; i < epoch_reports_.size(); ++i) {
    StateWriter r = out.section("epochs/" + std::to_string(i));
    put_report(r, epoch_reports_[i]);
  }
}

void Trainer::load_loop_state(const StateReader& root) {
  const StateReader in = root.section("trainer");
  in.load("step", ctx_.step);
  if (root.run().epoch_step > 0) {  // inside an epoch: its loss accumulators so far
    in.load("loss_sum", loss_sum_);
    in.load("correct", correct_);
  }
  flagged_steps_ = in.integer("flagged_steps");
  epoch_reports_.clear();
  const int64_t reports = in.integer("epoch_reports");
  for (int64_t i = 0; i < reports; ++i)
    epoch_reports_.push_back(
        get_report(in.section("epochs/" + std::to_string(i)), cfg_.train.epochs));
}

RunState Trainer::capture_state() {
  ops::synchronize(dev_);
  RunState st;
  st.global_step = global_step_;
  st.epoch = epoch_;
  st.epoch_step = epoch_step_;
  StateWriter out(st);
  model_->save_state(out);  // parameters, then each morphogenetic layer's seeds/kasmina<k>/
  optimizer_->save_state(out);
  save_loop_state(out);
  order_->save_state(out);
  guard_->save_state(out);
  growth_->save_state(out);
  return st;
}

void Trainer::restore_state(const RunState& st) {
  const StateReader in(st);
  // The data order first: it checks that the state fits this run's data and position, and
  // sets up the epoch a state inside an epoch continues.
  order_->load_state(in);
  model_->load_state(in);
  optimizer_->load_state(in);
  load_loop_state(in);
  // The guard before growth: the guard monitor catches up with the restored flagged count.
  guard_->load_state(in);
  growth_->load_state(in);
  dp_->after_restore(model_->morph_layers(), correct_);

  global_step_ = st.global_step;
  epoch_ = st.epoch;
  epoch_step_ = st.epoch_step;
  resumed_from_ = st.global_step;
  resumed_ = true;
}

}  // namespace kasmina
