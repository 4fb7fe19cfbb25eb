// Device runtime entry points, the multi-tensor plan and the step graph; CUDA parts are
// delegated to src/ops/cuda/.
#include "kasmina_build_config.hpp"
#include "ops/backend_ops.hpp"
#include "ops/gemm_route.hpp"

namespace kasmina::ops {

bool cuda_built() {
  return KASMINA_HAS_CUDA != 0;
}

namespace {
// The CPU's math mode (the CPU twins compute fp32 for tf32; bf16 is read by the layers).
MathMode& cpu_math_mode() {
  static MathMode mode = MathMode::fp32;
  return mode;
}
}  // namespace

#if KASMINA_HAS_CUDA
void init() {
  cuda::init();
}
bool cuda_available() {
  return cuda::available();
}
std::vector<CudaDeviceInfo> list_cuda_devices() {
  return cuda::list_devices();
}
void use_device(Device dev) {
  if (dev.is_cuda()) cuda::use_device(dev);
}
void synchronize(Device dev) {
  if (dev.is_cuda()) cuda::synchronize(dev);
}
void warm_up_convolutions(Device dev) {
  if (dev.is_cuda()) cuda::warm_up_convolutions(dev);
}
void set_math_mode(Device dev, MathMode m) {
  if (dev.is_cuda()) return cuda::set_math_mode(dev, m);
  cpu_math_mode() = m;
}
MathMode math_mode(Device dev) {
  return dev.is_cuda() ? cuda::math_mode(dev) : cpu_math_mode();
}
void set_deterministic(Device dev, bool on) {
  if (dev.is_cuda()) cuda::set_deterministic(dev, on);
}
void set_programmatic_launch(Device dev, bool on) {
  if (dev.is_cuda()) cuda::set_programmatic_launch(dev, on);
}
bool programmatic_launch(Device dev) {
  return dev.is_cuda() && cuda::programmatic_launch(dev);
}
void set_gemm_path(Device dev, GemmPath p) {
  if (dev.is_cuda()) cuda::set_gemm_path(dev, p);
}
OffPathScope::OffPathScope(Device dev) : dev_(dev) {
  if (dev_.is_cuda()) cuda::open_off_path(dev_);
  open_ = true;
}
void OffPathScope::close() {
  if (!open_) return;
  open_ = false;
  if (dev_.is_cuda()) cuda::close_off_path(dev_);
}
#else
void init() {}
bool cuda_available() {
  return false;
}
std::vector<CudaDeviceInfo> list_cuda_devices() {
  return {};
}
void use_device(Device dev) {
  if (dev.is_cuda())
    throw UserError("device " + dev.str() +
                    ": this kasmina build has no CUDA support (rebuild with -Dcuda=enabled)");
}
void synchronize(Device) {}
void warm_up_convolutions(Device) {}
void set_math_mode(Device dev, MathMode m) {
  if (dev.is_cpu()) cpu_math_mode() = m;
}
MathMode math_mode(Device dev) {
  return dev.is_cpu() ? cpu_math_mode() : MathMode::fp32;
}
void set_deterministic(Device, bool) {}
void set_programmatic_launch(Device, bool) {}
bool programmatic_launch(Device) {
  return false;
}
void set_gemm_path(Device, GemmPath) {}
OffPathScope::OffPathScope(Device dev) : dev_(dev), open_(true) {}
void OffPathScope::close() {
  open_ = false;
}
#endif

OffPathScope::~OffPathScope() {
  try {
    close();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw; the CUDA error
  }                // stays sticky and the next launch reports it
}

// ---- MultiTensorPlan ----

MultiTensorPlan::MultiTensorPlan(std::vector<Tensor> params, std::vector<Tensor> grads,
                                 std::vector<Tensor> m, std::vector<Tensor> v)
    : params_(std::move(params)), grads_(std::move(grads)), m_(std::move(m)), v_(std::move(v)) {
  KASMINA_CHECK(grads_.size() == params_.size() && m_.size() == params_.size() &&
                    (v_.empty() || v_.size() == params_.size()),
                "MultiTensorPlan: parameter, gradient and moment lists differ in length");
  for (size_t i = 0; i < params_.size(); ++i) {
    KASMINA_CHECK(grads_[i].numel() == params_[i].numel() && m_[i].numel() == params_[i].numel() &&
                      (v_.empty() || v_[i].numel() == params_[i].numel()),
                  "MultiTensorPlan: tensor " + std::to_string(i) + " sizes differ");
    KASMINA_CHECK(params_[i].device() == params_.front().device(),
                  "MultiTensorPlan: tensors on different devices");
  }
#if KASMINA_HAS_CUDA
  if (!params_.empty() && params_.front().device().is_cuda())
    backend_ = cuda::make_plan_backend(*this);
#endif
}

MultiTensorPlan::~MultiTensorPlan() = default;
MultiTensorPlan::MultiTensorPlan(MultiTensorPlan&&) noexcept = default;
MultiTensorPlan& MultiTensorPlan::operator=(MultiTensorPlan&&) noexcept = default;

void MultiTensorPlan::advance_after_step(Tensor counters) {
  if (counters.defined()) {
    check_counter_shape(counters);
    KASMINA_CHECK(counters.dtype() == DType::i64 && counters.device() == device(),
                  "MultiTensorPlan: the counters to advance must be i64 on the plan's device");
  }
  advance_ = std::move(counters);
}

void MultiTensorPlan::keep_bf16_copies(std::vector<Tensor> copies) {
  KASMINA_CHECK(copies.empty() || copies.size() == params_.size(),
                "MultiTensorPlan: one bf16 copy (or an undefined tensor) per parameter");
  for (size_t i = 0; i < copies.size(); ++i) {
    if (!copies[i].defined()) continue;
    KASMINA_CHECK(copies[i].dtype() == DType::bf16 && copies[i].numel() == params_[i].numel() &&
                      copies[i].device() == device() && params_[i].dtype() == DType::f32,
                  "MultiTensorPlan: the copy of tensor " + std::to_string(i) +
                      " is not a bf16 tensor of its float32 parameter's size on its device");
  }
  copies_ = std::move(copies);
#if KASMINA_HAS_CUDA
  if (!params_.empty() && params_.front().device().is_cuda())
    backend_ = cuda::make_plan_backend(*this);
#endif
}

Device MultiTensorPlan::device() const {
  return params_.empty() ? Device::cpu() : params_.front().device();
}

int64_t MultiTensorPlan::total_elements() const {
  int64_t n = 0;
  for (const Tensor& p : params_) n += p.numel();
  return n;
}

// ---- StepGraph ----

struct StepGraph::Impl {
  Device dev;
  std::function<void()> fn;
  void* exec = nullptr;
};

StepGraph::StepGraph(Device dev) : impl_(std::make_unique<Impl>()) {
  impl_->dev = dev;
}

StepGraph::~StepGraph() {
#if KASMINA_HAS_CUDA
  if (impl_ && impl_->exec) cuda::graph_destroy(impl_->exec);
#endif
}

bool StepGraph::capture(std::function<void()> fn, std::string* reason) {
  impl_->fn = std::move(fn);
#if KASMINA_HAS_CUDA
  if (impl_->dev.is_cuda()) {
    impl_->exec = cuda::graph_capture(impl_->dev, impl_->fn, reason);
    return impl_->exec != nullptr;
  }
#endif
  if (reason) *reason = "CPU device: steps run directly";
  return false;
}

void StepGraph::replay() {
#if KASMINA_HAS_CUDA
  if (impl_->exec) {
    cuda::graph_replay(impl_->dev, impl_->exec);
    return;
  }
#endif
  impl_->fn();
}

bool StepGraph::captured() const {
  return impl_->exec != nullptr;
}

}  // namespace kasmina::ops
