// Fused multi-tensor optimizers: ONE launch updates every parameter of a MultiTensorPlan (the
// device side, shared with the fused MLP step's update phase: optimizer_chunk.cuh).
// make_plan_backend uploads a descriptor table once: a TensorDesc (pointers to p, g, m, v and
// the element count) per parameter, followed by a ChunkDesc (tensor index, first element) per
// work chunk of kChunkElements; one or two blocks update each chunk (blocks_per_chunk_shift).
// The learning rate is lr_at(schedule, step[0]), computed in the kernel from the device step
// counter, so a captured graph replays with no host upload. When the plan advances counters
// (advance_after_step), every block takes a ticket after its threads have read the step counter;
// the last block adds 1 to each counter and resets the ticket. Launched with programmatic dependent
// launch. A plan that keeps bf16 copies (MultiTensorPlan::keep_bf16_copies) uploads a second table,
// a pointer per parameter, and launches the kernels' copy-writing instantiation.
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/last_block.cuh"
#include "kernels/optimizer_chunk.cuh"
#include "kernels/pdl.cuh"
#include "ops/backend_ops.hpp"
#include "ops/cuda/checks.hpp"
#include "ops/cuda/cuda_common.hpp"

namespace kasmina::ops::cuda {

namespace {

using kernels::optim::ChunkDesc;
using kernels::optim::kChunkElements;
using kernels::optim::kThreads;
using kernels::optim::TableView;
using kernels::optim::TensorDesc;

// After the block's update: the last block to finish advances the plan's counters (the ticket,
// kernels/last_block.cuh, orders every block's read of the step counter before that write).
__device__ void advance_when_last(const TableView& table, unsigned int* ticket) {
  if (!table.advance) return;
  if (!kernels::last_block(ticket, gridDim.x)) return;
  kernels::optim::advance_counters(table);
  if (threadIdx.x == 0) *ticket = 0u;
}

// Blocks per chunk of the plan's table: two (each half a chunk, one float4 group a thread) while
// the doubled grid still fits in one wave of resident blocks (kThreads-thread blocks, 2048 threads
// an SM), else one. A small plan is latency-bound and gains from the extra blocks: H100, bf16 MLP
// step (118 chunks), 2 blocks 61.6 -> 59.4 us at B128 and 63.0 -> 60.5 at B256 against 1, 4
// slower (62.8, 64.3). A large one is bandwidth-bound and only pays the second block's set-up and
// ticket: the 784-4096-4096-10 bf16 step (10 k chunks) went from 1055-1056 us to 1114-1117 with
// the commit that brought two blocks a chunk (H100; bench/RESULTS.md, thirty-fifth session). The
// fused MLP step's update phase keeps one block a chunk. The function returns the log2 of the
// count (0 or 1), which the kernel shifts and masks the block index by.
constexpr int kResidentBlocksPerSm = 2048 / kThreads;
static_assert(kernels::optim::kChunkElements % (4 * kThreads * 2) == 0,
              "half a chunk is whole float4 groups per thread");

int blocks_per_chunk_shift(int64_t chunks, int sms) {
  return 2 * chunks <= int64_t{kResidentBlocksPerSm} * sms ? 1 : 0;
}

// (1 << shift) blocks per chunk. The chunk's descriptor is read before the wait: the plan's
// table is written once, when the plan is made, before any launch over it (kernels/pdl.cuh). The
// step counter is read after it (the optimizer launch before may have just advanced it), with the
// chunk's elements; the update's coefficients are computed while those loads are in flight.
template <class Hyper, bool kCopies>
__global__ void __launch_bounds__(kThreads)
    optimizer_kernel(TableView table, bf16* const* copies, Hyper h, LrSchedule s,
                     const int64_t* step, unsigned int* ticket, int shift) {
  kernels::optim::ChunkRef r =
      kernels::optim::chunk_ref(table, blockIdx.x >> shift, kCopies ? copies : nullptr);
  const int64_t part = kernels::optim::kChunkElements >> shift;
  r.start += (blockIdx.x & ((1u << shift) - 1u)) * part;
  if (r.start + part < r.end) r.end = r.start + part;
  kernels::pdl_wait();
  kernels::pdl_launch_dependents();
  const int64_t taken = step[0];
  kernels::optim::update_chunk<kCopies>(r, [&] { return kernels::optim::update_at(h, s, taken); });
  advance_when_last(table, ticket);
}

}  // namespace

void check_optimizer_plan(const char* op, const MultiTensorPlan& plan, bool needs_v,
                          const Tensor& step) {
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
    const bool copy8 = i >= plan.bf16_copies().size() || !plan.bf16_copies()[i].defined() ||
                       reinterpret_cast<uintptr_t>(plan.bf16_copies()[i].raw()) % 8 == 0;
    d.vectorised = d.n % 4 == 0 && aligned16(d.p) && aligned16(d.g) && aligned16(d.m) &&
                   (!d.v || aligned16(d.v)) && copy8;
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
  if (!plan.bf16_copies().empty() && count > 0) {
    std::vector<int64_t> copies(count, 0);  // device pointers (0: none)
    for (size_t i = 0; i < count; ++i) {
      if (plan.bf16_copies()[i].defined())
        copies[i] = static_cast<int64_t>(reinterpret_cast<uintptr_t>(plan.bf16_copies()[i].raw()));
    }
    be->copies = Tensor::from_vector(copies, {static_cast<int64_t>(count)}, plan.device());
  }
  return be;
}

TableView optimizer_table(const MultiTensorPlan& plan) {
  const MultiTensorPlan::Backend* be = plan.backend();
  KASMINA_CHECK(be != nullptr, "optimizer: the plan has no CUDA backend");
  TableView t{};
  if (be->table.defined()) {  // else no parameters: no chunks
    const auto* base = static_cast<const char*>(be->table.raw());
    t.tensors = reinterpret_cast<const TensorDesc*>(base);
    t.chunks = reinterpret_cast<const ChunkDesc*>(base + plan.params().size() * sizeof(TensorDesc));
    t.chunk_count = be->chunks;
  }
  if (plan.advance().defined()) {
    t.advance = static_cast<int64_t*>(const_cast<void*>(plan.advance().raw()));
    t.advance_n = static_cast<int>(plan.advance().numel());
  }
  return t;
}

namespace {

// Checks the plan and launches the optimizer kernel (blocks_per_chunk_shift) with the
// hyperparameters `h`: its copy-writing instantiation when the plan keeps bf16 copies.
template <class Hyper>
void launch_step(const char* op, const char* kernel_name, MultiTensorPlan& plan, const Hyper& h,
                 const LrSchedule& s, const Tensor& step, bool needs_v) {
  check_optimizer_plan(op, plan, needs_v, step);
  const int64_t chunks = plan.backend() ? plan.backend()->chunks : 0;
  if (chunks == 0) {
    if (Tensor counters = plan.advance(); counters.defined()) counter_add(counters, 1);
    return;
  }
  KASMINA_CHECK(chunks <= 2147483647 / 2, std::string(op) + ": too many chunks");
  DeviceContext& ctx = context(plan.device());
  const int shift = blocks_per_chunk_shift(chunks, ctx.sms);
  unsigned int* ticket = ctx.tickets + kTicketOptimizer;
  const Tensor& copies = plan.backend()->copies;
  const auto kernel =
      copies.defined() ? &optimizer_kernel<Hyper, true> : &optimizer_kernel<Hyper, false>;
  launch_pdl(ctx, kernel, dim3(static_cast<unsigned>(chunks << shift)), dim3(kThreads), kernel_name,
             optimizer_table(plan),
             copies.defined() ? static_cast<bf16* const*>(copies.raw()) : nullptr, h, s,
             step.data<int64_t>(), ticket, shift);
}

}  // namespace

void adamw_step(MultiTensorPlan& plan, const AdamWHyper& h, const LrSchedule& s,
                const Tensor& step) {
  launch_step("adamw_step", "optimizer_kernel<AdamWHyper>", plan, h, s, step, true);
}

void sgd_step(MultiTensorPlan& plan, const SgdHyper& h, const LrSchedule& s, const Tensor& step) {
  launch_step("sgd_step", "optimizer_kernel<SgdHyper>", plan, h, s, step, false);
}

}  // namespace kasmina::ops::cuda
