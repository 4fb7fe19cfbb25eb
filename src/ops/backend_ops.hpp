// Declarations shared by the per-device implementations of the ops in ops.hpp. The CPU twins
// (namespace cpu, src/ops/cpu/) and CUDA launchers (namespace cuda, src/ops/cuda/, kernels/) are
// declared by the ops' KASMINA_OP lines in ops.hpp; this header adds what only the twins need:
// shared argument checks, the plan's device table and the CUDA runtime's entry points.
#pragma once
#include "ops/gemm_route.hpp"
#include "ops/ops.hpp"

namespace kasmina::ops {

// counter_add's counter: i64[n], 1 <= n <= kMaxCounters (dtype and device: each twin's check).
inline void check_counter_shape(const Tensor& counter) {
  KASMINA_CHECK(counter.ndim() == 1 && counter.numel() >= 1 && counter.numel() <= kMaxCounters,
                "counter_add: counter must be i64[n] with 1 <= n <= 64");
}

// Device-side state of a MultiTensorPlan: an opaque byte table on the plan's device (the CUDA
// launcher lays out pointer/size descriptors in it) plus the number of work chunks.
struct MultiTensorPlan::Backend {
  Tensor table;
  int64_t chunks = 0;
  Tensor copies;  // the bf16 copies' pointers, one per parameter (null: none); undefined: no copies
};

namespace cuda {
// Runtime pieces (src/ops/cuda/runtime.cpp).
void init();
bool available();
std::vector<CudaDeviceInfo> list_devices();
void use_device(Device dev);
void synchronize(Device dev);
void warm_up_convolutions(Device dev);  // src/ops/cuda/cudnn_context.cpp
void set_math_mode(Device dev, MathMode m);
MathMode math_mode(Device dev);
void set_deterministic(Device dev, bool on);
void set_programmatic_launch(Device dev, bool on);
bool programmatic_launch(Device dev);
void open_off_path(Device dev);
void close_off_path(Device dev);
void set_gemm_path(Device dev, GemmPath p);
std::unique_ptr<MultiTensorPlan::Backend> make_plan_backend(const MultiTensorPlan& plan);
// CUDA graph of one step: returns an opaque executable graph, or nullptr with *reason set.
void* graph_capture(Device dev, const std::function<void()>& fn, std::string* reason);
void graph_replay(Device dev, void* exec);
void graph_destroy(void* exec);
}  // namespace cuda

}  // namespace kasmina::ops
