// Declarations shared by the per-device implementations of the ops in ops.hpp. The CPU twins
// live in namespace cpu (src/ops/cpu/), the CUDA launchers in namespace cuda (src/ops/cuda/,
// kernels/), with the same signatures as the public ops; dispatch.cpp routes between them.
#pragma once
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
};

#define KASMINA_OPS_DECLARE_DEVICE_OPS                                                             \
  Tensor make_linear_aux(int64_t rows, int64_t cols, Activation act, Device dev, DType dt);        \
  void linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Activation act,           \
                      Tensor& y, Tensor& aux);                                                     \
  void linear_backward_input(const Tensor& dy, const Tensor& w, Activation in_act,                 \
                             const Tensor& in_aux, Tensor& dx, Tensor* in_dbias);                  \
  void linear_backward_weight(const Tensor& dy, const Tensor& x, Tensor& dw, Tensor* db);          \
  void activation_backward_aux(Activation act, const Tensor& dy, const Tensor& aux, Tensor& dpre); \
  void activation_forward(Activation act, const Tensor& x, Tensor& y);                             \
  void activation_backward(Activation act, const Tensor& dy, const Tensor& x, Tensor& dx);         \
  void layernorm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps,      \
                         Tensor& y, Tensor& mean, Tensor& rstd);                                   \
  void layernorm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma,                  \
                          const Tensor& mean, const Tensor& rstd, Tensor& dx, Tensor& dgamma,      \
                          Tensor& dbeta);                                                          \
  void dropout_forward(const Tensor& x, float p, uint64_t seed, uint32_t stream,                   \
                       const Tensor& step, Tensor& y, Tensor& mask);                               \
  void dropout_backward(const Tensor& dy, const Tensor& mask, float p, Tensor& dx);                \
  void softmax_xent(const Tensor& logits, const Tensor& labels, float grad_scale, Tensor* dlogits, \
                    Tensor& loss_sum, Tensor* correct);                                            \
  void gather_batch(const Tensor& images, const Tensor& labels, const Tensor& perm,                \
                    const Tensor& cursor, float scale, float shift, Tensor& x, Tensor& y);         \
  void fill(Tensor& t, double value);                                                              \
  void counter_add(Tensor& counter, int64_t delta);                                                \
  void column_sums(const Tensor& x, Tensor& out);                                                  \
  void adamw_step(MultiTensorPlan& plan, const AdamWHyper& h, const LrSchedule& s,                 \
                  const Tensor& step);                                                             \
  void sgd_step(MultiTensorPlan& plan, const SgdHyper& h, const LrSchedule& s, const Tensor& step);

namespace cpu {
KASMINA_OPS_DECLARE_DEVICE_OPS
}  // namespace cpu

namespace cuda {
KASMINA_OPS_DECLARE_DEVICE_OPS
// Runtime pieces (src/ops/cuda/runtime.cpp).
void init();
bool available();
std::vector<CudaDeviceInfo> list_devices();
void use_device(Device dev);
void synchronize(Device dev);
void set_math_mode(Device dev, MathMode m);
void set_deterministic(Device dev, bool on);
std::unique_ptr<MultiTensorPlan::Backend> make_plan_backend(const MultiTensorPlan& plan);
// CUDA graph of one step: returns an opaque executable graph, or nullptr with *reason set.
void* graph_capture(Device dev, const std::function<void()>& fn, std::string* reason);
void graph_replay(Device dev, void* exec);
void graph_destroy(void* exec);
}  // namespace cuda

}  // namespace kasmina::ops
