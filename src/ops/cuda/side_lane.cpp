#include "ops/cuda/side_lane.hpp"

#include <utility>

#include "ops/backend_ops.hpp"

namespace kasmina::ops::cuda {

namespace {

// Creates the side lane's stream, workspace, tickets and the two events, once per device (on
// the first off-path launch: the plain step that precedes a graph capture).
void create_side_lane(DeviceContext& ctx) {
  DeviceContext::Lane& s = ctx.side;
  if (s.stream) return;
  KASMINA_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  KASMINA_CUDA_CHECK(cudaMalloc(&s.workspace, ctx.workspace_bytes));
  KASMINA_CUDA_CHECK(cudaMalloc(&s.tickets, sizeof(unsigned int) * kTicketCount));
  KASMINA_CUDA_CHECK(cudaMemset(s.tickets, 0, sizeof(unsigned int) * kTicketCount));
  KASMINA_CUDA_CHECK(cudaEventCreateWithFlags(&ctx.fork_event, cudaEventDisableTiming));
  KASMINA_CUDA_CHECK(cudaEventCreateWithFlags(&ctx.join_event, cudaEventDisableTiming));
}

void swap_lane(DeviceContext& ctx) {
  DeviceContext::Lane& s = ctx.side;
  std::swap(ctx.stream, s.stream);
  std::swap(ctx.workspace, s.workspace);
  std::swap(ctx.scratch, s.scratch);
  std::swap(ctx.scratch_bytes, s.scratch_bytes);
  std::swap(ctx.retired_scratch, s.retired_scratch);
  std::swap(ctx.tickets, s.tickets);
  ctx.on_side = !ctx.on_side;
}

}  // namespace

SideLane::SideLane(DeviceContext& ctx) {
  if (ctx.off_path_scopes == 0 || !ctx.side_stream || ctx.on_side) return;
  create_side_lane(ctx);
  KASMINA_CUDA_CHECK(cudaEventRecord(ctx.fork_event, ctx.stream));
  KASMINA_CUDA_CHECK(cudaStreamWaitEvent(ctx.side.stream, ctx.fork_event, 0));
  swap_lane(ctx);
  ctx.side_pending = true;
  ctx_ = &ctx;
}

SideLane::~SideLane() {
  if (ctx_) swap_lane(*ctx_);
}

void join_side_lane(DeviceContext& ctx) {
  if (!ctx.side_pending) return;
  KASMINA_CHECK(!ctx.on_side, "join_side_lane inside an off-path launch");
  ctx.side_pending = false;
  KASMINA_CUDA_CHECK(cudaEventRecord(ctx.join_event, ctx.side.stream));
  KASMINA_CUDA_CHECK(cudaStreamWaitEvent(ctx.stream, ctx.join_event, 0));
}

void open_off_path(Device dev) {
  ++context(dev).off_path_scopes;
}

void close_off_path(Device dev) {
  DeviceContext& ctx = context(dev);
  if (ctx.off_path_scopes > 0) --ctx.off_path_scopes;
  if (ctx.off_path_scopes == 0) join_side_lane(ctx);
}

}  // namespace kasmina::ops::cuda
