// Parameter gradients off the critical path of the backward. While an ops::OffPathScope is open
// on a device (Model::backward opens one), the launchers of ops whose outputs are only parameter
// gradients (linear_backward_weight, conv2d_backward_weight (on a second cuDNN handle); the
// dgamma/dbeta reduction of layernorm_backward) run their
// launches on the device's side lane: a second stream, forked from the device's stream by an
// event at the launch (so it sees everything queued before) and joined back when the last scope
// closes. The input-gradient chain goes on meanwhile; the small weight-gradient GEMMs, their
// split-K reductions and bias gradients fill the SMs it leaves idle. Inside a graph capture the
// fork and join become graph edges. The kernels and their inputs are the same: results are
// bitwise those of one stream. The lane has its own cuBLASLt workspace, scratch buffer and
// ticket counters, so the two streams never share a temporary.
#pragma once
#include "ops/cuda/device_context.hpp"

namespace kasmina::ops::cuda {

// RAII in a launcher: while alive, ctx's stream, workspace, scratch and tickets are the side
// lane's (after a fork), when an off-path scope is open, the lane is enabled
// (KASMINA_SIDE_STREAM) and the launcher is not on it already; otherwise it changes nothing.
class SideLane {
 public:
  explicit SideLane(DeviceContext& ctx);
  ~SideLane();
  SideLane(const SideLane&) = delete;
  SideLane& operator=(const SideLane&) = delete;

 private:
  DeviceContext* ctx_ = nullptr;  // null: nothing switched
};

// ops::OffPathScope's CUDA side is open_off_path/close_off_path (ops/backend_ops.hpp);
// close_off_path joins the side lane's work into the device's stream when the last scope closes
// (the device's stream waits for an event of the lane).
// Joins pending side-lane work into ctx.stream now (no-op when there is none).
void join_side_lane(DeviceContext& ctx);

}  // namespace kasmina::ops::cuda
