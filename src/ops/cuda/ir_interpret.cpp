// The IR-interpreting kernels as a blueprint module (the fallback chain's interpreter step,
// ops/ir_backend.hpp) and their row kernels on device tensors (tests). The module uploads the
// blueprint's program once and holds a workspace for its seed kernels' threads; each launch is
// asynchronous on the layer's stream (no host synchronisation in a step).
#include "ops/cuda/ir_interpret.hpp"

#include <algorithm>
#include <chrono>

#include "core/error.hpp"
#include "ir/blueprint.hpp"
#include "ir/program.hpp"
#include "ops/cuda/cuda_common.hpp"
#include "ops/cuda/device_context.hpp"
#include "ops/cuda/ir_module.hpp"
#include "ops/morph/blueprint_module.hpp"

namespace kasmina::ops {

namespace cuda {

namespace {

// Workspace bytes a module may hold; fewer blocks when a blueprint's rows need more.
constexpr int64_t kMaxWorkspaceBytes = int64_t{256} << 20;

// The program of `plan` uploaded to `dev`, and a workspace of `slices` thread slices.
struct Uploaded {
  Tensor words, ws;
  IrInterpretProgram q;
};
Uploaded upload(const ir::Graph& g, const ir::Plan& plan, int64_t slices, Device dev) {
  Uploaded u;
  const std::vector<int32_t> w = ir::make_program(g, plan);
  u.words = Tensor::from_vector(w, {static_cast<int64_t>(w.size())}, dev);
  u.q.stride = ir_interpret_stride(plan);
  u.ws = Tensor::empty({std::max<int64_t>(1, slices * u.q.stride)}, DType::f32, dev);
  u.q.words = u.words.data<int32_t>();
  u.q.ws = u.ws.data<float>();
  u.q.chunk = plan.shape.chunk;
  u.q.scratch = plan.scratch;
  u.q.params = plan.param_count;
  u.q.factors = plan.factor_count;
  return u;
}

}  // namespace

int64_t ir_interpret_stride(const ir::Plan& plan) {
  return 2 * int64_t{plan.scratch} + 2 * int64_t{plan.shape.chunk} + (plan.factor_count | 1);
}

void ir_interpret_row_delta(const ir::Graph& g, const ir::Plan& plan, const Tensor& x,
                            const Tensor& p, Tensor& delta) {
  const Device dev = x.device();
  const int64_t rows = x.dim(0);
  const Uploaded u = upload(g, plan, rows, dev);
  launch_ir_interpret_rows_delta(u.q, rows, x.data<float>(), x.dim(1), p.data<float>(),
                                 delta.data<float>(), delta.dim(1), context(dev).stream);
  KASMINA_CUDA_CHECK(cudaStreamSynchronize(context(dev).stream));  // before u is released
}

void ir_interpret_row_backward(const ir::Graph& g, const ir::Plan& plan, const Tensor& x,
                               const Tensor& gy, const Tensor& p, Tensor* dx, Tensor* F) {
  const Device dev = x.device();
  const int64_t rows = x.dim(0);
  const Uploaded u = upload(g, plan, rows, dev);
  launch_ir_interpret_rows_backward(u.q, rows, x.data<float>(), x.dim(1), gy.data<float>(),
                                    gy.dim(1), p.data<float>(), dx ? dx->data<float>() : nullptr,
                                    dx ? dx->dim(1) : 0, F ? F->data<float>() : nullptr,
                                    F ? F->dim(1) : 0, context(dev).stream);
  KASMINA_CUDA_CHECK(cudaStreamSynchronize(context(dev).stream));  // before u is released
}

}  // namespace cuda

namespace {

class InterpretedModule final : public morph::BlueprintModule {
 public:
  InterpretedModule(cuda::Uploaded u, int32_t kind, int32_t grid)
      : u_(std::move(u)), kind_(kind), grid_(grid) {}
  int32_t kind() const override { return kind_; }
  void forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
               const MorphForwardOptions& opt, const morph::ModuleLaunch&) const override {
    IrSeedArgs a = seed_kernel_args(L, kind_, x);
    a.out = out.data<float>();
    a.mask = opt.use_eval_mask ? L.eval_zero.data<uint8_t>() : nullptr;
    a.collect = opt.collect_stats ? 1 : 0;
    cuda::launch_ir_interpret_seed_forward(a, u_.q, grid_, cuda::context(L.device()).stream);
  }
  void backward(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                bool param_grads, const morph::ModuleLaunch& how) const override {
    IrSeedArgs a = backward_seed_kernel_args(L, kind_, x, dy, dx, param_grads);
    a.zero_norms = how.zero_norms ? 1 : 0;
    cuda::launch_ir_interpret_seed_backward(a, u_.q, grid_, cuda::context(L.device()).stream);
  }
  std::string describe() const override {
    return "IR-interpreting kernels b" + std::to_string(cuda::kIrInterpretThreads) + " x" +
           std::to_string(grid_);
  }

 private:
  cuda::Uploaded u_;
  int32_t kind_, grid_;
};

}  // namespace

PreparedModule load_interpreted_module(const ir::IrBlueprint& bp, int32_t kind,
                                       const morph::BlueprintShape& sh, Device dev, int32_t seeds,
                                       int32_t pool_slots) {
  PreparedModule out;
  const auto t0 = std::chrono::steady_clock::now();
  out.level = "interpreter";
  out.served_by = "interpreter";
  const ir::Plan& plan = bp.plan(sh);
  try {
    const int64_t per_block = int64_t{cuda::kIrInterpretThreads} * cuda::ir_interpret_stride(plan);
    const int64_t fit = std::max<int64_t>(1, cuda::kMaxWorkspaceBytes / (4 * per_block));
    const int32_t grid = static_cast<int32_t>(std::min<int64_t>(
        fit, cuda::seed_grid(std::max(seeds, 1), pool_slots, cuda::context(dev).sms)));
    cuda::Uploaded u =
        cuda::upload(bp.graph(), plan, int64_t{grid} * cuda::kIrInterpretThreads, dev);
    out.module = std::make_shared<InterpretedModule>(std::move(u), kind, grid);
  } catch (const std::exception& e) {  // a program the format cannot hold, no device memory
    out.served_by = "refused";
    out.why = std::string("the IR-interpreting kernels cannot run it: ") + e.what();
  }
  out.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

}  // namespace kasmina::ops
