// Routes the loss-guard ops by the device of loss_sum; validates the parameters.
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "ops/guard/guard_backend.hpp"
#include "ops/ops.hpp"
#include "ops/route.hpp"

namespace kasmina::ops {

namespace {

void check_same_device(const char* op, const char* name, const Tensor& t, Device dev, DType dtype) {
  KASMINA_CHECK(t.defined(), std::string(op) + ": " + name + " is undefined");
  KASMINA_CHECK(t.device() == dev, std::string(op) + ": " + name + " is on another device");
  KASMINA_CHECK(t.dtype() == dtype, std::string(op) + ": " + name + " has dtype " +
                                        dtype_name(t.dtype()) + ", expected " + dtype_name(dtype));
}

void check_scalar(const char* op, const char* name, const Tensor& t, Device dev, DType dtype) {
  check_same_device(op, name, t, dev, dtype);
  KASMINA_CHECK(t.numel() == 1, std::string(op) + ": " + name + " must hold one element");
}

}  // namespace

void check_loss_guard_args(const char* op, const Tensor& loss_sum, const LossGuardState& st,
                           const Tensor* dlogits) {
  const Device dev = loss_sum.device();
  check_scalar(op, "loss_sum", loss_sum, dev, DType::f64);
  check_scalar(op, "mark", st.mark, dev, DType::f64);
  check_scalar(op, "running", st.running, dev, DType::f64);
  check_scalar(op, "accepted", st.accepted, dev, DType::i64);
  check_scalar(op, "flagged", st.flagged, dev, DType::i64);
  check_scalar(op, "last_flagged_mean", st.last_flagged_mean, dev, DType::f64);
  check_scalar(op, "last_flagged_kind", st.last_flagged_kind, dev, DType::i32);
  check_scalar(op, "flag", st.flag, dev, DType::i32);
  if (dlogits != nullptr) check_same_device(op, "dlogits", *dlogits, dev, DType::f32);
}

LossGuardState make_loss_guard_state(Device dev) {
  LossGuardState st;
  st.mark = Tensor::zeros({1}, DType::f64, dev);
  st.running = Tensor::zeros({1}, DType::f64, dev);
  st.accepted = Tensor::zeros({1}, DType::i64, dev);
  st.flagged = Tensor::zeros({1}, DType::i64, dev);
  st.last_flagged_mean = Tensor::zeros({1}, DType::f64, dev);
  st.last_flagged_kind = Tensor::zeros({1}, DType::i32, dev);
  st.flag = Tensor::zeros({1}, DType::i32, dev);
  return st;
}

void loss_guard(Tensor& loss_sum, int64_t batch, const LossGuardParams& p, LossGuardState& st,
                Tensor* dlogits) {
  if (!(p.spike_factor > 1.0f) || !std::isfinite(p.spike_factor))
    throw UserError("loss_guard: spike_factor is " + std::to_string(p.spike_factor) +
                    " (allowed: a finite number > 1)");
  if (p.warmup_steps < 1)
    throw UserError("loss_guard: warmup_steps is " + std::to_string(p.warmup_steps) +
                    " (allowed: an integer >= 1)");
  if (!(p.ema_decay >= 0.0f && p.ema_decay < 1.0f))
    throw UserError("loss_guard: ema_decay is " + std::to_string(p.ema_decay) +
                    " (allowed: 0 <= ema_decay < 1)");
  KASMINA_CHECK(batch > 0, "loss_guard: batch must be positive");
  check_loss_guard_args("loss_guard", loss_sum, st, dlogits);
  KASMINA_ROUTE(loss_sum.device(), loss_guard, loss_sum, batch, p, st, dlogits);
}

void inject_nan_at_step(const Tensor& step, int64_t nan_step, Tensor& loss_sum, Tensor* dlogits) {
  const Device dev = loss_sum.device();
  check_scalar("inject_nan_at_step", "loss_sum", loss_sum, dev, DType::f64);
  check_scalar("inject_nan_at_step", "step", step, dev, DType::i64);
  if (dlogits != nullptr)
    check_same_device("inject_nan_at_step", "dlogits", *dlogits, dev, DType::f32);
  if (nan_step < 0) return;
  KASMINA_ROUTE(dev, inject_nan_at_step, step, nan_step, loss_sum, dlogits);
}

}  // namespace kasmina::ops
