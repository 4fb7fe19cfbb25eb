// Fused forward of a morphogenetic layer: one launch of the stream kernel
// (kernels/morph/morph_stream.cuh). out = x for every seed at memory speed (coalesced rows),
// x + alpha * delta(x) for blended seeds (GRAFTING..FOSSILIZED, alpha > 0, not masked) from
// seed blocks that run beside the copy; with statistics on, per-seed input statistics and the
// isolated loss of TRAINING seeds per row tile, folded (f64, fixed order) into the step
// measurements and the telemetry by the last block of each column of seeds.
// Bytes: read x and write out once (8*B*S*C), x of active chunks again, 20*S*ceil(B/32) of
// partials. Deterministic, no float atomics.
#include "kernels/morph/morph_kernel_common.cuh"
#include "kernels/morph/morph_stream.cuh"
#include "ops/morph/morph_backend.hpp"
#include "ops/morph/morph_checks.hpp"

namespace kasmina::ops::cuda {

using morph_kernels::launch_morph_stream;
using morph_kernels::MorphStreamArgs;

void morph_forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
                   const MorphForwardOptions& opt) {
  const int64_t B = morph_detail::check_activations(L, x, "morph_forward", "x");
  x.check_dtype(DType::f32);
  KASMINA_CHECK(out.shape() == x.shape() && out.dtype() == x.dtype() && out.device() == x.device(),
                "morph_forward: out shape/dtype/device differs from x");
  KASMINA_CHECK(out.raw() != x.raw(), "morph_forward: out may not alias x");
  if (B == 0) return;
  const int64_t tiles = (B + kMorphRowsPerTile - 1) / kMorphRowsPerTile;
  KASMINA_CHECK(!opt.collect_stats || L.partials.dim(0) >= tiles,
                "morph_forward: batch larger than the layer was prepared for");
  MorphStreamArgs a;
  a.src = x.data<float>();
  a.dst = out.data<float>();
  a.x = x.data<float>();
  a.B = B;
  a.H = morph_detail::morph_width(L);
  a.S = L.seeds;
  a.C = L.shape.chunk;
  a.sh = L.shape;
  a.st = morph_detail::state_view(L);
  a.pool = morph_detail::pool_view<float>(L);
  a.mask = L.eval_zero.data<uint8_t>();
  a.use_mask = opt.use_eval_mask;
  a.collect = opt.collect_stats;
  a.dead_eps = opt.dead_eps;
  a.partials = L.partials.data<float>();
  a.tickets = L.tickets.data<int32_t>();
  a.step_stats = L.step_stats.data<float>();
  a.telemetry = L.telemetry.data<double>();
  launch_morph_stream<false>(a, stream(L.device()), "morph_stream_kernel (forward)");
}

}  // namespace kasmina::ops::cuda
