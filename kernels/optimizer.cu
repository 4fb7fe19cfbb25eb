// Fused multi-tensor optimizers: ONE launch updates every parameter of a MultiTensorPlan.
// make_plan_backend uploads a descriptor table once: a TensorDesc (pointers to p, g, m, v and
// the element count) per parameter, followed by a ChunkDesc (tensor index, first element) per
// work chunk of kChunkElements; block b of the launch updates chunk b. The learning rate is
// lr_at(schedule, step[0]), computed in the kernel from the device step counter, so a captured
// graph replays with no host upload. When the plan advances counters (advance_after_step), every
// block takes a ticket after its threads have read the step counter; the last block adds 1 to
// each counter and resets the ticket. Launched with programmatic dependent launch.
#include <cmath>
#include <cstring>
#include <vector>

#include "core/adamw.hpp"
#include "core/sgd.hpp"
#include "kernels/pdl.cuh"
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops::cuda {

namespace {

// 2048 elements (8 per thread): a 235k-parameter model gives ~120 blocks, enough to fill the
// H100's 132 SMs; 16384 gave 15 blocks and 26.6 us for 6.6 MB (bandwidth-starved).
constexpr int64_t kChunkElements = 2048;
constexpr int kThreads = 256;
constexpr int kVecPerThread = static_cast<int>(kChunkElements / (4 * kThreads));
static_assert(kChunkElements % (4 * kThreads) == 0, "a chunk is whole float4 groups per thread");

struct TensorDesc {
  float* p;
  const float* g;
  float* m;
  float* v;  // null for SGD plans
  int64_t n;
  int64_t vectorised;  // all pointers 16-byte aligned and n % 4 == 0
};

struct ChunkDesc {
  int64_t tensor;
  int64_t start;
};

struct TableView {
  const TensorDesc* tensors;
  const ChunkDesc* chunks;
  int64_t* advance;  // counters to add 1 to after the step (null: none)
  int advance_n;
  unsigned int* ticket;
};

TableView table_view(const MultiTensorPlan& plan) {
  const MultiTensorPlan::Backend* be = plan.backend();
  KASMINA_CHECK(be != nullptr && be->table.defined(),
                "optimizer: the plan has no CUDA descriptor table");
  const auto* base = static_cast<const char*>(be->table.raw());
  TableView t{};
  t.tensors = reinterpret_cast<const TensorDesc*>(base);
  t.chunks = reinterpret_cast<const ChunkDesc*>(base + plan.params().size() * sizeof(TensorDesc));
  if (plan.advance().defined()) {
    t.advance = static_cast<int64_t*>(const_cast<void*>(plan.advance().raw()));
    t.advance_n = static_cast<int>(plan.advance().numel());
  }
  t.ticket = context(plan.device()).tickets + kTicketOptimizer;
  return t;
}

// AdamW per element: core/adamw.hpp's adamw_update, shared with the CPU twin.
struct AdamWUpdate {
  AdamWCoefficients<float> c;
  __device__ void operator()(float& p, float g, float& m, float& v) const {
    adamw_update(c, p, g, m, v);
  }
};

struct SgdUpdate {
  float lr, wd, mom;
  bool first, nesterov;
  __device__ void operator()(float& p, float g, float& m, float&) const {
    sgd_update(lr, wd, mom, first, nesterov, p, g, m);
  }
};

template <class Update>
__device__ void update_chunk(const TensorDesc& t, int64_t start, const Update& u) {
  const int64_t end = start + kChunkElements < t.n ? start + kChunkElements : t.n;
  if (t.vectorised) {  // start is a multiple of kChunkElements, hence of 4
    // All of a thread's float4 groups are loaded before any is updated: one memory round trip
    // per chunk instead of one per group.
    float4 p[kVecPerThread], g[kVecPerThread], m[kVecPerThread], v[kVecPerThread];
#pragma unroll
    for (int k = 0; k < kVecPerThread; ++k) {
      const int64_t i = start + 4 * (threadIdx.x + k * kThreads);
      if (i < end) {
        p[k] = *reinterpret_cast<const float4*>(t.p + i);
        g[k] = *reinterpret_cast<const float4*>(t.g + i);
        m[k] = *reinterpret_cast<const float4*>(t.m + i);
        v[k] = t.v ? *reinterpret_cast<const float4*>(t.v + i) : make_float4(0, 0, 0, 0);
      }
    }
#pragma unroll
    for (int k = 0; k < kVecPerThread; ++k) {
      const int64_t i = start + 4 * (threadIdx.x + k * kThreads);
      if (i >= end) continue;
      u(p[k].x, g[k].x, m[k].x, v[k].x);
      u(p[k].y, g[k].y, m[k].y, v[k].y);
      u(p[k].z, g[k].z, m[k].z, v[k].z);
      u(p[k].w, g[k].w, m[k].w, v[k].w);
      *reinterpret_cast<float4*>(t.p + i) = p[k];
      *reinterpret_cast<float4*>(t.m + i) = m[k];
      if (t.v) *reinterpret_cast<float4*>(t.v + i) = v[k];
    }
    return;
  }
  for (int64_t i = start + threadIdx.x; i < end; i += blockDim.x) {
    float p = t.p[i], m = t.m[i], v = t.v ? t.v[i] : 0.0f;
    u(p, t.g[i], m, v);
    t.p[i] = p;
    t.m[i] = m;
    if (t.v) t.v[i] = v;
  }
}

// After the block's update: the last block to finish advances the plan's counters.
__device__ void advance_counters(const TableView& table) {
  if (!table.advance) return;
  __shared__ bool last;
  __syncthreads();  // every thread of this block has read the step counter
  if (threadIdx.x == 0) last = atomicAdd(table.ticket, 1u) == gridDim.x - 1;
  __syncthreads();
  if (!last) return;
  if (static_cast<int>(threadIdx.x) < table.advance_n) table.advance[threadIdx.x] += 1;
  if (threadIdx.x == 0) *table.ticket = 0u;
}

__global__ void adamw_kernel(TableView table, AdamWHyper h, LrSchedule s, const int64_t* step) {
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();
  const int64_t taken = step[0];
  const AdamWUpdate u{adamw_coefficients<float>(lr_at(s, taken), h.weight_decay, h.beta1, h.beta2,
                                                h.eps, static_cast<double>(taken + 1))};
  const ChunkDesc c = table.chunks[blockIdx.x];
  update_chunk(table.tensors[c.tensor], c.start, u);
  advance_counters(table);
}

__global__ void sgd_kernel(TableView table, SgdHyper h, LrSchedule s, const int64_t* step) {
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();
  const int64_t taken = step[0];
  SgdUpdate u;
  u.lr = lr_at(s, taken);
  u.wd = h.weight_decay;
  u.mom = h.momentum;
  u.first = taken == 0;
  u.nesterov = h.nesterov;
  const ChunkDesc c = table.chunks[blockIdx.x];
  update_chunk(table.tensors[c.tensor], c.start, u);
  advance_counters(table);
}

void check_plan(const char* op, const MultiTensorPlan& plan, bool needs_v, const Tensor& step) {
  const Device dev = plan.device();
  check_arg(op, "step", step, dev, DType::i64, {1});
  KASMINA_CHECK(!needs_v || plan.v().size() == plan.params().size(),
                std::string(op) + ": the plan has no second-moment buffers");
  for (size_t i = 0; i < plan.params().size(); ++i) {
    check_arg(op, "param", plan.params()[i], dev, DType::f32);
    check_arg(op, "grad", plan.grads()[i], dev, DType::f32);
    check_arg(op, "m", plan.m()[i], dev, DType::f32);
    if (needs_v) check_arg(op, "v", plan.v()[i], dev, DType::f32);
  }
}

}  // namespace

std::unique_ptr<MultiTensorPlan::Backend> make_plan_backend(const MultiTensorPlan& plan) {
  const size_t count = plan.params().size();
  const bool with_v = plan.v().size() == count;
  std::vector<TensorDesc> tensors(count);
  std::vector<ChunkDesc> chunks;
  for (size_t i = 0; i < count; ++i) {
    TensorDesc& d = tensors[i];
    d.p = static_cast<float*>(plan.params()[i].raw());
    d.g = static_cast<const float*>(plan.grads()[i].raw());
    d.m = static_cast<float*>(plan.m()[i].raw());
    d.v = with_v ? static_cast<float*>(plan.v()[i].raw()) : nullptr;
    d.n = plan.params()[i].numel();
    d.vectorised = d.n % 4 == 0 && aligned16(d.p) && aligned16(d.g) && aligned16(d.m) &&
                   (!d.v || aligned16(d.v));
    for (int64_t start = 0; start < d.n; start += kChunkElements) {
      chunks.push_back({static_cast<int64_t>(i), start});
    }
  }
  std::vector<uint8_t> bytes(count * sizeof(TensorDesc) + chunks.size() * sizeof(ChunkDesc));
  if (count) std::memcpy(bytes.data(), tensors.data(), count * sizeof(TensorDesc));
  if (!chunks.empty()) {
    std::memcpy(bytes.data() + count * sizeof(TensorDesc), chunks.data(),
                chunks.size() * sizeof(ChunkDesc));
  }
  auto be = std::make_unique<MultiTensorPlan::Backend>();
  be->chunks = static_cast<int64_t>(chunks.size());
  if (!bytes.empty()) {
    be->table = Tensor::from_vector(bytes, {static_cast<int64_t>(bytes.size())}, plan.device());
  }
  return be;
}

namespace {

// Checks the plan and launches `kernel` (one block per chunk) with the hyperparameters `h`.
template <class Hyper>
void launch_step(const char* op, const char* kernel_name,
                 void (*kernel)(TableView, Hyper, LrSchedule, const int64_t*),
                 MultiTensorPlan& plan, const Hyper& h, const LrSchedule& s, const Tensor& step,
                 bool needs_v) {
  check_plan(op, plan, needs_v, step);
  const int64_t chunks = plan.backend() ? plan.backend()->chunks : 0;
  if (chunks == 0) {
    if (Tensor counters = plan.advance(); counters.defined()) counter_add(counters, 1);
    return;
  }
  KASMINA_CHECK(chunks <= 2147483647, std::string(op) + ": too many chunks");
  launch_pdl(context(plan.device()), kernel, dim3(static_cast<unsigned>(chunks)), dim3(kThreads),
             kernel_name, table_view(plan), h, s, step.data<int64_t>());
}

}  // namespace

void adamw_step(MultiTensorPlan& plan, const AdamWHyper& h, const LrSchedule& s,
                const Tensor& step) {
  launch_step("adamw_step", "adamw_kernel", adamw_kernel, plan, h, s, step, true);
}

void sgd_step(MultiTensorPlan& plan, const SgdHyper& h, const LrSchedule& s, const Tensor& step) {
  launch_step("sgd_step", "sgd_kernel", sgd_kernel, plan, h, s, step, false);
}

}  // namespace kasmina::ops::cuda
