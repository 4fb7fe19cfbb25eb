#include "train/data_parallel.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "morph/blueprint_pool.hpp"
#include "nn/kasmina_layer.hpp"
#include "ops/collective/launch.hpp"
#include "ops/ops.hpp"

namespace kasmina {

DataParallel::DataParallel(Device dev, bool deterministic)
    : grads_(ops::make_run_communicator(dev, deterministic)),
      stats_(ops::make_run_communicator(dev, /*deterministic=*/true)),
      host_(ops::make_host_communicator()) {}

DataParallel::~DataParallel() = default;

void DataParallel::before_loss(Tensor& loss_sum) {
  if (multi() && rank() != 0) ops::fill(loss_sum, 0.0);
}

void DataParallel::after_loss(Tensor& loss_sum) {
  if (multi()) stats_->all_reduce_sum(loss_sum);
}

namespace {

// Every reading of the accumulated telemetry [S, kMorphTelemetryStats] (f64): columns 0..3 are
// sums (element count, sum, sum of squares, dead count), column 4 is max |x|.
void reduce_telemetry(ops::Communicator& host, Tensor& telemetry, bool zero_unless_root) {
  std::vector<double> t = telemetry.to_vector<double>();
  const int64_t cols = ops::kMorphTelemetryStats;
  const int64_t rows = static_cast<int64_t>(t.size()) / cols;
  std::vector<double> sums, maxes;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c + 1 < cols; ++c) sums.push_back(t[r * cols + c]);
    maxes.push_back(t[r * cols + cols - 1]);
  }
  Tensor s = Tensor::from_vector(sums, {static_cast<int64_t>(sums.size())});
  Tensor m = Tensor::from_vector(maxes, {rows});
  host.all_reduce_sum(s);
  host.all_reduce_max(m);
  sums = s.to_vector<double>();
  maxes = m.to_vector<double>();
  const bool zero = zero_unless_root && host.rank() != 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c + 1 < cols; ++c) t[r * cols + c] = zero ? 0.0 : sums[r * (cols - 1) + c];
    t[r * cols + cols - 1] = zero ? 0.0 : maxes[r];
  }
  telemetry.copy_from(Tensor::from_vector(t, telemetry.shape()));
}

}  // namespace

void DataParallel::reduce_morph_layers(const std::vector<morph::KasminaLayer*>& layers) {
  if (!multi()) return;
  for (morph::KasminaLayer* l : layers) {
    const ops::MorphLayerBuffers& b = l->buffers();
    // The lifecycle and the blueprint optimizer run at this boundary only then (end_step).
    if (l->may_have_active_seeds() || l->queued_commands() > 0) {
      Tensor step_stats = b.step_stats, grad_norm = b.grad_norm;
      stats_->all_reduce_mean(step_stats);
      stats_->all_reduce_mean(grad_norm);
      const int64_t region = b.pool_region;
      const int64_t stride = region * morph::kPoolRegionCount;
      const int64_t grad_at = static_cast<int64_t>(morph::PoolRegion::grad) * region;
      for (int64_t slot = 0; slot < b.pool_slots; ++slot) {
        Tensor g = b.pool.flat_range(slot * stride + grad_at, {region});
        stats_->all_reduce_mean(g);  // fixed order: the pools stay identical on every rank
      }
    }
    if ((l->boundaries() + 1) % l->config().telemetry_every == 0) {
      Tensor t = b.telemetry;
      reduce_telemetry(*host_, t, false);
    }
  }
}

void DataParallel::gather_telemetry(const std::vector<morph::KasminaLayer*>& layers) {
  if (!multi()) return;
  for (morph::KasminaLayer* l : layers) {
    Tensor t = l->buffers().telemetry;
    reduce_telemetry(*host_, t, true);
  }
}

void DataParallel::gather_count(Tensor& count) {
  if (!multi()) return;
  const double total = sum(static_cast<double>(count.to_vector<int64_t>()[0]));
  ops::fill(count, rank() == 0 ? total : 0.0);
}

void DataParallel::after_restore(const std::vector<morph::KasminaLayer*>& layers, Tensor& count) {
  if (!multi() || rank() == 0) return;
  ops::fill(count, 0.0);
  for (morph::KasminaLayer* l : layers) {
    Tensor t = l->buffers().telemetry;
    t.fill_zero();
  }
}

double DataParallel::sum(double value) {
  Tensor t = Tensor::from_vector(std::vector<double>{value}, {1});
  host_->all_reduce_sum(t);
  return t.to_vector<double>()[0];
}

bool DataParallel::any(bool flag) {
  if (!multi()) return flag;
  Tensor t = Tensor::from_vector(std::vector<double>{flag ? 1.0 : 0.0}, {1});
  host_->all_reduce_max(t);
  return t.to_vector<double>()[0] > 0.0;
}

uint64_t fnv1a(const void* bytes, size_t n, uint64_t h) {
  const auto* p = static_cast<const unsigned char*>(bytes);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

void check_same_on_all_ranks(ops::Communicator& host, uint64_t value, const std::string& what) {
  if (host.world_size() == 1) return;
  // The value in four 16-bit pieces (exact in float64), broadcast from rank 0.
  std::vector<double> pieces(4);
  for (int i = 0; i < 4; ++i) pieces[i] = static_cast<double>((value >> (16 * i)) & 0xffff);
  Tensor root = Tensor::from_vector(pieces, {4});
  host.broadcast(root, 0);
  const bool same = root.to_vector<double>() == pieces;
  // The lowest differing rank: the maximum of (world - rank) over differing ranks.
  Tensor bad = Tensor::from_vector(
      std::vector<double>{same ? 0.0 : static_cast<double>(host.world_size() - host.rank())}, {1});
  host.all_reduce_max(bad);
  const double b = bad.to_vector<double>()[0];
  if (b > 0.0)
    throw UserError(
        what + " of rank " + std::to_string(host.world_size() - static_cast<int>(b)) +
        " differs from rank 0's (every rank must run the same build and configuration)");
}

uint64_t parameter_hash(Model& model) {
  uint64_t h = fnv1a("", 0);
  for (Parameter* p : model.parameters()) {
    const Tensor host = p->value.to(Device::cpu());
    h = fnv1a(host.raw(), host.nbytes(), h);
  }
  return h;
}

}  // namespace kasmina
