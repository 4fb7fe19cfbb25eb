// The module of an IR blueprint on CUDA: its generated seed kernels (blueprint_codegen.hpp),
// compiled by NVRTC through the caches (memory -> disk -> compile, blueprint_compiler.hpp) to a
// cubin per kernel for the device's exact architecture, loaded with the runtime's library API
// (cudaLibraryLoadData; no driver library linked) and launched with cudaLaunchKernelExC on the
// layer's stream where the fused seed kernels launch (a programmatic dependent of the kernel
// before it when the fused op says so; graph capture records them like any launch). Loaded modules
// are kept in a small in-memory LRU keyed by the kernel key and device, so layers of the same shape
// share one.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <list>
#include <mutex>

#include "core/error.hpp"
#include "ir/blueprint.hpp"
#include "ir/builtin_ir.hpp"
#include "ops/backend_ops.hpp"
#include "ops/blueprint_codegen.hpp"
#include "ops/blueprint_compiler.hpp"
#include "ops/blueprint_tuning.hpp"
#include "ops/cuda/device_context.hpp"
#include "ops/cuda/ir_module.hpp"
#include "ops/ir_backend.hpp"
#include "ops/morph/blueprint_module.hpp"

namespace kasmina::ops {

namespace cuda {

IrKernels::~IrKernels() {
  if (library) cudaLibraryUnload(static_cast<cudaLibrary_t>(library));  // at exit: ignored
}

std::shared_ptr<IrKernels> load_ir_kernels(std::shared_ptr<const std::string> module,
                                           std::string* why) {
  auto k = std::make_shared<IrKernels>();
  k->image = std::move(module);
  // The image stays as it is until the library is unloaded (k holds it): the driver need not copy
  // it.
  cudaLibraryOption preserved[1] = {cudaLibraryBinaryIsPreserved};
  void* on[1] = {reinterpret_cast<void*>(uintptr_t{1})};
  cudaLibrary_t lib = nullptr;
  cudaError_t rc =
      cudaLibraryLoadData(&lib, k->image->data(), nullptr, nullptr, 0, preserved, on, 1);
  if (rc != cudaSuccess) {
    cudaGetLastError();
    *why = std::string("loading the compiled kernels failed: ") + cudaGetErrorString(rc);
    return nullptr;
  }
  k->library = lib;
  cudaKernel_t kernel[2] = {};
  const char* names[2] = {kIrSeedForwardKernel, kIrSeedBackwardKernel};
  for (int i = 0; i < 2; ++i) {
    rc = cudaLibraryGetKernel(&kernel[i], lib, names[i]);
    if (rc != cudaSuccess) {
      cudaGetLastError();
      *why = std::string("the compiled kernels lack an entry point: ") + cudaGetErrorString(rc);
      return nullptr;
    }
  }
  k->forward = reinterpret_cast<const void*>(kernel[0]);
  k->backward = reinterpret_cast<const void*>(kernel[1]);
  cudaFuncAttributes fa{}, ba{};
  rc = cudaFuncGetAttributes(&fa, k->forward);
  if (rc == cudaSuccess) rc = cudaFuncGetAttributes(&ba, k->backward);
  if (rc != cudaSuccess) {
    cudaGetLastError();
    *why = std::string("the compiled kernels cannot be queried: ") + cudaGetErrorString(rc);
    return nullptr;
  }
  k->forward_threads = fa.maxThreadsPerBlock;
  k->backward_threads = ba.maxThreadsPerBlock;
  return k;
}

void allow_smem(const void* kernel, int64_t bytes) {
  if (bytes <= kDefaultSmemBytes) return;
  KASMINA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(bytes)));
}

void launch_seed_kernel(const void* kernel, const IrSeedArgs& a, int32_t threads, int64_t smem,
                        int32_t grid, cudaStream_t stream, bool dependent) {
  void* params[] = {const_cast<IrSeedArgs*>(&a)};
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(static_cast<unsigned>(grid));
  cfg.blockDim = dim3(static_cast<unsigned>(threads));
  cfg.dynamicSmemBytes = static_cast<size_t>(smem);
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = dependent ? 1 : 0;
  KASMINA_CUDA_CHECK(cudaLaunchKernelExC(&cfg, kernel, params));
}

int32_t seed_grid(int32_t seeds, int32_t pool_slots, int sms) {
  return std::max(1, std::min({seeds, std::max(pool_slots, 1), 2 * sms}));
}

bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

GpuId gpu_id(Device dev, int64_t* max_smem, std::string* arch) {
  cudaDeviceProp prop{};
  KASMINA_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev.index));
  int driver = 0;
  KASMINA_CUDA_CHECK(cudaDriverGetVersion(&driver));
  if (max_smem) *max_smem = static_cast<int64_t>(prop.sharedMemPerBlockOptin);
  if (arch) *arch = "sm_" + std::to_string(prop.major * 10 + prop.minor);
  return {prop.name, prop.multiProcessorCount,
          std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10)};
}

}  // namespace cuda

namespace {

class IrModule final : public morph::BlueprintModule {
 public:
  IrModule(std::shared_ptr<cuda::IrKernels> k, int32_t kind, const ir::Plan& plan,
           int32_t fwd_threads, int32_t bwd_threads)
      : k_(std::move(k)),
        kind_(kind),
        fwd_threads_(fwd_threads),
        bwd_threads_(bwd_threads),
        fwd_smem_(seed_kernel_smem(plan, false, fwd_threads)),
        bwd_smem_(seed_kernel_smem(plan, true, bwd_threads)) {
    cuda::allow_smem(k_->forward, fwd_smem_);
    cuda::allow_smem(k_->backward, bwd_smem_);
  }
  int32_t kind() const override { return kind_; }
  void forward(const MorphLayerBuffers& L, const Tensor& x, Tensor& out,
               const MorphForwardOptions& opt, const morph::ModuleLaunch& how) const override {
    IrSeedArgs a = seed_kernel_args(L, kind_, x);
    a.out = out.data<float>();
    a.mask = opt.use_eval_mask ? L.eval_zero.data<uint8_t>() : nullptr;
    a.collect = opt.collect_stats ? 1 : 0;
    a.vec = L.shape.chunk % 4 == 0 && cuda::aligned16(a.x) && cuda::aligned16(a.out) ? 1 : 0;
    cuda::DeviceContext& ctx = cuda::context(L.device());
    cuda::launch_seed_kernel(k_->forward, a, fwd_threads_, fwd_smem_,
                             cuda::seed_grid(L.seeds, L.pool_slots, ctx.sms), ctx.stream,
                             how.dependent);
  }
  void backward(const MorphLayerBuffers& L, const Tensor& x, const Tensor& dy, Tensor* dx,
                bool param_grads, const morph::ModuleLaunch& how) const override {
    IrSeedArgs a = backward_seed_kernel_args(L, kind_, x, dy, dx, param_grads);
    a.vec = L.shape.chunk % 4 == 0 && cuda::aligned16(a.x) && cuda::aligned16(a.dy) &&
                    (!a.out || cuda::aligned16(a.out))
                ? 1
                : 0;
    a.zero_norms = how.zero_norms ? 1 : 0;
    cuda::DeviceContext& ctx = cuda::context(L.device());
    cuda::launch_seed_kernel(k_->backward, a, bwd_threads_, bwd_smem_,
                             cuda::seed_grid(L.seeds, L.pool_slots, ctx.sms), ctx.stream,
                             how.dependent);
  }
  std::string describe() const override {
    return std::string(kIrSeedForwardKernel) + " b" + std::to_string(fwd_threads_) + ", " +
           kIrSeedBackwardKernel + " b" + std::to_string(bwd_threads_);
  }

 private:
  std::shared_ptr<cuda::IrKernels> k_;
  int32_t kind_, fwd_threads_, bwd_threads_;
  int64_t fwd_smem_, bwd_smem_;
};

// Loaded kernels by (kernel key, device): the most recently used first, at most kLoadedMax.
constexpr size_t kLoadedMax = 64;
std::mutex loaded_mutex;
std::list<std::pair<std::string, std::shared_ptr<cuda::IrKernels>>> loaded;

std::shared_ptr<cuda::IrKernels> loaded_kernels(const std::string& id,
                                                std::shared_ptr<const std::string> cubin,
                                                std::string* why) {
  std::lock_guard<std::mutex> lock(loaded_mutex);
  for (auto it = loaded.begin(); it != loaded.end(); ++it)
    if (it->first == id) {
      loaded.splice(loaded.begin(), loaded, it);
      return it->second;
    }
  std::shared_ptr<cuda::IrKernels> k = cuda::load_ir_kernels(std::move(cubin), why);
  if (!k) return nullptr;
  loaded.emplace_front(id, k);
  if (loaded.size() > kLoadedMax) loaded.pop_back();  // layers holding it keep it alive
  return k;
}

}  // namespace

namespace cuda {

LoadedIr compile_and_load(const ir::IrBlueprint& bp, const morph::BlueprintShape& sh, Device dev,
                          bool final) {
  LoadedIr l;
  std::string arch;
  l.gpu = gpu_id(dev, &l.max_smem, &arch);
  BlueprintCompiler& compiler = process_blueprint_compiler();
  const char* target = std::getenv("KASMINA_IR_TARGET");
  const bool ptx = target && std::string(target) == "ptx";
  if (target && *target && !ptx && std::string(target) != "cubin")
    throw UserError(std::string("KASMINA_IR_TARGET: '") + target + "' is not one of cubin, ptx");
  for (bool as_ptx : {ptx, true}) {
    l.compiled = compiler.get(bp.graph(), sh, arch, as_ptx);
    if (final && l.compiled.upgrade) {
      const CompiledBlueprint fused = l.compiled.upgrade->wait();
      if (fused.ok) l.compiled = fused;
    }
    const CompiledBlueprint& c = l.compiled;
    if (!c.ok) {
      l.why = c.level == CompileLevel::unavailable || c.level == CompileLevel::timed_out
                  ? c.log
                  : "compiling it failed: " + c.log;
      return l;
    }
    l.kernels = loaded_kernels(c.key + "@" + std::to_string(dev.index), c.binary, &l.why);
    if (l.kernels || c.ptx) return l;
    // The driver refused the cubin (one from an NVRTC newer than the driver): PTX, which the
    // driver compiles itself, once.
    l.why = "the cubin for " + c.target + " could not be loaded (" + l.why + ")";
  }
  return l;
}

}  // namespace cuda

namespace {

// The module of compiled kernels `c` (loaded now, if it is not loaded yet), its launch
// configuration from the performance database or timed now; null with why.
PreparedModule module_of(const ir::IrBlueprint& bp, int32_t kind, const morph::BlueprintShape& sh,
                         Device dev, int64_t max_batch, int32_t seeds, int32_t pool_slots,
                         const CompiledBlueprint& c, std::shared_ptr<cuda::IrKernels> kernels,
                         const GpuId& gpu, int64_t max_smem) {
  // Linked kernels with the fused ones on the way are not timed (the fused ones are, when taken).
  const bool may_tune = !c.upgrade;
  PreparedModule out;
  out.key = c.key;
  out.level = compile_level_name(c.level);
  out.served_by = out.level;
  const cuda::IrKernels& k = *kernels;
  const ir::Plan& plan = bp.plan(sh);
  std::string note;
  const std::string db = default_perf_db_path();
  const ir::PerfKey fk = seed_kernel_perf_key(c.key, false, max_batch, sh, gpu);
  const ir::PerfKey bk = seed_kernel_perf_key(c.key, true, max_batch, sh, gpu);
  const Autotune mode = autotune_mode();
  if (may_tune && mode != Autotune::off && should_tune(mode, perf_db_has_winners(db, {fk, bk}))) {
    const auto t1 = std::chrono::steady_clock::now();
    const TuneReport r =
        tune_blueprint_kernels(bp, sh, dev, max_batch, std::max(seeds, 1),
                               std::max(1, std::min(pool_slots, seeds)), db, kAutotuneRepeats);
    if (!r.ok) note = "autotuning failed (" + r.why + "); launch configuration from the database";
    out.tune_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  }
  const LaunchChoice f =
      choose_launch(db, fk, plan, false, cuda::kernel_limits(k, false, max_smem), &note);
  const LaunchChoice b =
      choose_launch(db, bk, plan, true, cuda::kernel_limits(k, true, max_smem), &note);
  if (f.threads == 0 || b.threads == 0) {
    out.why = "its seed kernels need more shared memory or registers than the device has";
    return out;
  }
  out.note = note;
  out.module = std::make_shared<IrModule>(std::move(kernels), kind, plan, f.threads, b.threads);
  out.launch = "forward b" + std::to_string(f.threads) + " " + f.source + ", backward b" +
               std::to_string(b.threads) + " " + b.source;
  if (c.ptx) {  // the driver compiled the kernels from PTX
    out.launch += ", from PTX for " + c.target;
    out.level += ", PTX for " + c.target;
  }
  out.level += ", launch " + f.source + "/" + b.source;
  if (out.tune_ms >= 0.0) out.level += ", autotune " + std::string(autotune_name(mode));
  out.level += c.linked ? ", linked" : ", fused";
  if (!c.fallback.empty()) out.note += (out.note.empty() ? "" : "; ") + c.fallback;
  return out;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The fused kernels of a tiered compile, compiled on the compiler's thread, loaded when taken.
class IrUpgrade final : public ModuleUpgrade {
 public:
  IrUpgrade(const ir::IrBlueprint& bp, int32_t kind, const morph::BlueprintShape& sh, Device dev,
            int64_t max_batch, int32_t seeds, int32_t pool_slots,
            std::shared_ptr<const FusedUpgrade> fused)
      : bp_(bp),
        kind_(kind),
        sh_(sh),
        dev_(dev),
        max_batch_(max_batch),
        seeds_(seeds),
        pool_slots_(pool_slots),
        fused_(std::move(fused)) {}
  bool ready() const override { return fused_->ready(); }
  PreparedModule take() const override {
    const auto t0 = std::chrono::steady_clock::now();
    const CompiledBlueprint& c = fused_->wait();
    PreparedModule out;
    out.key = c.key;
    out.level = compile_level_name(c.level);
    out.served_by = out.level;
    if (!c.ok) {
      out.why = "compiling its fused kernels failed: " + c.log;
      return out;
    }
    int64_t max_smem = 0;
    const GpuId gpu = cuda::gpu_id(dev_, &max_smem, nullptr);
    std::shared_ptr<cuda::IrKernels> k =
        loaded_kernels(c.key + "@" + std::to_string(dev_.index), c.binary, &out.why);
    if (!k) return out;
    out = module_of(bp_, kind_, sh_, dev_, max_batch_, seeds_, pool_slots_, c, std::move(k), gpu,
                    max_smem);
    out.ms = ms_since(t0);
    return out;
  }

 private:
  const ir::IrBlueprint& bp_;  // registered blueprints live as long as the process
  int32_t kind_;
  morph::BlueprintShape sh_;
  Device dev_;
  int64_t max_batch_;
  int32_t seeds_, pool_slots_;
  std::shared_ptr<const FusedUpgrade> fused_;
};

// The generated kernels' module, or null with why (the first steps of the fallback chain).
PreparedModule load_generated(const ir::IrBlueprint& bp, int32_t kind,
                              const morph::BlueprintShape& sh, Device dev, int64_t max_batch,
                              int32_t seeds, int32_t pool_slots) {
  const auto t0 = std::chrono::steady_clock::now();
  const cuda::LoadedIr l = cuda::compile_and_load(bp, sh, dev);
  const CompiledBlueprint& c = l.compiled;
  if (!l.kernels) {
    PreparedModule out;
    out.key = c.key;
    out.level = compile_level_name(c.level);
    out.served_by = out.level;
    out.why = l.why;
    out.ms = ms_since(t0);
    return out;
  }
  PreparedModule out =
      module_of(bp, kind, sh, dev, max_batch, seeds, pool_slots, c, l.kernels, l.gpu, l.max_smem);
  out.ms = ms_since(t0);
  if (out.module && c.upgrade)
    out.upgrade =
        std::make_shared<IrUpgrade>(bp, kind, sh, dev, max_batch, seeds, pool_slots, c.upgrade);
  return out;
}

}  // namespace

double time_module_load(std::shared_ptr<const std::string> module,
                        std::vector<std::shared_ptr<const void>>* keep) {
  if (!cuda::available() || !module) return -1.0;
  std::string why;
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<cuda::IrKernels> k = cuda::load_ir_kernels(std::move(module), &why);
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  if (!k) return -1.0;
  if (keep) keep->push_back(k);  // else unloaded as k goes
  return us;
}

PreparedModule load_ir_module(const ir::IrBlueprint& bp, int32_t kind,
                              const morph::BlueprintShape& sh, Device dev, int64_t max_batch,
                              int32_t seeds, int32_t pool_slots) {
  const IrBackend backend = ir_backend();
  std::string why = std::string("KASMINA_IR_BACKEND=") + ir_backend_name(backend);
  std::string key;
  double ms = 0.0;
  if (backend == IrBackend::automatic || backend == IrBackend::compiled) {
    PreparedModule g = load_generated(bp, kind, sh, dev, max_batch, seeds, pool_slots);
    if (g.module) return g;
    // Refused under `compiled` with the compiler's own reason; else the next step says why.
    why = backend == IrBackend::compiled ? g.why
                                         : "its generated kernels cannot be had (" + g.why + ")";
    key = g.key;
    ms = g.ms;
  }
  const int32_t builtin = ir::builtin_restated_by(bp.graph());
  FallbackStep step = after_generated_failed(backend, why, true, builtin);
  if (step.level == ServedBy::builtin) {
    PreparedModule b = load_builtin_module(bp, kind, builtin, sh, dev);
    b.key = key.empty() ? bp.graph().hash : key;
    b.ms += ms;
    if (b.module) {
      b.note = why + "; its seeds run the built-in " +
               morph::blueprint_name(static_cast<morph::BlueprintKind>(builtin)) +
               " kernels, which it restates";
      return b;
    }
    step = after_generated_failed(backend, why + "; " + b.why, true);
  }
  if (step.level == ServedBy::refused) {
    PreparedModule r;
    r.key = key;
    r.ms = ms;
    r.served_by = served_by_name(ServedBy::refused);
    r.level = r.served_by;
    r.why = step.why;
    return r;
  }
  PreparedModule out = load_interpreted_module(bp, kind, sh, dev, seeds, pool_slots);
  out.key = key.empty() ? bp.graph().hash : key;
  out.ms += ms;
  if (out.module)
    out.note = step.why + "; its seeds run the IR-interpreting kernels (slow but correct)";
  else
    out.why = step.why + "; " + out.why;
  return out;
}

}  // namespace kasmina::ops
