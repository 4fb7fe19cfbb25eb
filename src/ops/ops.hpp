// The op layer: every numerical operation kasmina performs, dispatched on the device of its
// tensors. Each op has a CPU implementation (src/ops/cpu/, the reference "twin", templated over
// float and double) and, in CUDA builds, a CUDA launcher (src/ops/cuda/ + kernels/). Only this
// directory and kernels/ know about CUDA. Each op is declared once, by KASMINA_OP
// (op_registry.hpp): that line declares both twins, routes the public function and registers the
// op for the op table tests.
//
// Conventions
// - All tensors of one call live on one device. Shapes are checked; a mismatch is an
//   InternalError naming the op.
// - Outputs are preallocated by the caller (a training step allocates nothing). Unless an op
//   says "accumulates", it overwrites every element of its outputs.
// - CPU ops accept float32 and float64 (the float64 path exists for finite-difference tests);
//   CUDA ops accept float32.
// - Scalars that change from step to step (the step counter, the batch cursor) are read from
//   device tensors, so that a captured CUDA graph replays without host involvement.
// - Ops never synchronise the host with the device, except those documented as doing so.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/lr_schedule.hpp"
#include "core/tensor.hpp"
#include "ops/op_registry.hpp"

namespace kasmina::ops {

// ---------------------------------------------------------------------------------------------
// Runtime
// ---------------------------------------------------------------------------------------------

// Registers the CUDA memory backend when the build has CUDA and a device exists. Idempotent.
void init();
bool cuda_built();      // compiled with CUDA
bool cuda_available();  // compiled with CUDA and at least one device present

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int cc_major = 0, cc_minor = 0;
  size_t total_bytes = 0, free_bytes = 0;
  int multiprocessors = 0;
  std::string driver_version, runtime_version;
};
std::vector<CudaDeviceInfo> list_cuda_devices();  // empty without CUDA or devices

// Makes `dev` current for the calling thread and checks that it exists (UserError otherwise).
void use_device(Device dev);
// Host waits until all work queued on `dev` is done (no-op on CPU).
void synchronize(Device dev);
// Loads the convolution library of `dev` (cuDNN: its handle, its convolution and heuristics
// sub-libraries, a few hundred ms on a first run) before a convolution needs it; it may run on
// another thread while no convolution runs on `dev`. No-op on CPU.
void warm_up_convolutions(Device dev);

// float32 matrix math: exact fp32 (default) or TF32 tensor cores (CUDA only; CPU ignores it);
// bf16: the layers feed their GEMMs bf16 copies (ops/precision_ops.hpp, docs/PRECISION.md) on
// every device (the linear ops take the precision from their inputs' dtype, not from the mode).
enum class MathMode : uint8_t { fp32, tf32, bf16 };
void set_math_mode(Device dev, MathMode m);
MathMode math_mode(Device dev);  // the last set_math_mode for dev (fp32 before any)
// Deterministic mode (default on): fixed algorithms, no atomics in reductions.
void set_deterministic(Device dev, bool on);
// Programmatic dependent launch between kasmina's own kernels (CUDA; default on, or as the
// environment variable KASMINA_PDL = 0 | 1 says when the device is first used): a kernel's
// launch and set-up overlap the end of the kernel before it, which it waits for
// (griddepcontrol.wait) before touching memory. Results are the same either way.
void set_programmatic_launch(Device dev, bool on);
bool programmatic_launch(Device dev);  // false on the CPU

// Parameter gradients off the critical path (CUDA; src/ops/cuda/side_lane.hpp): while a scope is
// open on `dev`, the ops whose outputs are only parameter gradients (linear_backward_weight,
// conv2d_backward_weight, layernorm_backward's dgamma and dbeta) run on a second stream of the
// device beside the input-gradient chain; closing the last scope joins that stream back into the
// device's (work queued after it waits for the parameter gradients). The same kernels on the same
// inputs: results are bitwise those of one stream. No effect on CPU or with KASMINA_SIDE_STREAM=0.
class OffPathScope {
 public:
  explicit OffPathScope(Device dev);
  ~OffPathScope();  // close() unless closed
  OffPathScope(const OffPathScope&) = delete;
  OffPathScope& operator=(const OffPathScope&) = delete;
  void close();  // joins when it is the last open scope of the device

 private:
  Device dev_;
  bool open_ = false;
};

// A training step recorded once and replayed. capture() does not run `fn`: on CUDA it records
// it into a CUDA graph (run `fn` once plainly before capturing, so lazy set-up such as GEMM
// algorithm choice happens outside the capture); if capture is impossible it returns false with
// the reason and replay() then calls `fn` with plain launches. On CPU replay() calls `fn`.
class StepGraph {
 public:
  explicit StepGraph(Device dev);
  ~StepGraph();
  StepGraph(const StepGraph&) = delete;
  StepGraph& operator=(const StepGraph&) = delete;
  bool capture(std::function<void()> fn, std::string* reason);
  void replay();
  bool captured() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---------------------------------------------------------------------------------------------
// Elementwise utilities
// ---------------------------------------------------------------------------------------------

// f32/f64/i32/i64
KASMINA_OP(void, fill, (Tensor & t, double value), (t, value), t.device())
// Counters: i64[n], 1 <= n <= kMaxCounters; every element += delta, on the device, in one
// launch (the trainer keeps its step and data cursor side by side and advances both at once).
inline constexpr int64_t kMaxCounters = 64;
KASMINA_OP(void, counter_add, (Tensor & counter, int64_t delta), (counter, delta), counter.device())
// out[c] = sum over r of x[r, c]; x f32 [R, C], out f32 [C]. Deterministic (fixed order; the CPU
// twin accumulates in double). Reads x once and writes C floats: also the benchmarks' L2 flush.
KASMINA_OP(void, column_sums, (const Tensor& x, Tensor& out), (x, out), x.device())

// ---------------------------------------------------------------------------------------------
// Linear layers (GEMMs; cuBLASLt with fused epilogues on CUDA, OpenBLAS on CPU)
// ---------------------------------------------------------------------------------------------

enum class Activation : uint8_t { none, relu, gelu };
const char* activation_name(Activation a);

// GELU is the tanh approximation (as cuBLASLt's GELU epilogues compute it):
//   gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

// Saved state of a fused linear layer for its backward pass; contents are backend-defined
// (pre-activation values on CPU; cuBLASLt's aux format on CUDA). Undefined tensor for `none`.
KASMINA_OP(Tensor, make_linear_aux,
           (int64_t rows, int64_t cols, Activation act, Device dev, DType dt),
           (rows, cols, act, dev, dt), dev)
inline Tensor make_linear_aux(int64_t rows, int64_t cols, Activation act, Device dev) {
  return make_linear_aux(rows, cols, act, dev, DType::f32);
}

// y = act(x · Wᵀ + b).  x [M,K], w [N,K], b [N], y [M,N]; aux from make_linear_aux(M, N, act).
KASMINA_OP(void, linear_forward,
           (const Tensor& x, const Tensor& w, const Tensor& b, Activation act, Tensor& y,
            Tensor& aux),
           (x, w, b, act, y, aux), x.device())

// Input gradient of a linear layer: g = dy · W  ([M,N]·[N,K] -> [M,K]).
// If the layer's input was the output of a fused linear+activation layer (activation in_act,
// saved state in_aux, shape [M,K]), the activation's backward is fused in:
//   dx = g ⊙ in_act'(pre)   and, when in_dbias is non-null, in_dbias[k] = Σ_m dx[m,k]
// (the bias gradient of that earlier layer). With in_act == none, dx = g and in_dbias must be
// null.
KASMINA_OP(void, linear_backward_input,
           (const Tensor& dy, const Tensor& w, Activation in_act, const Tensor& in_aux, Tensor& dx,
            Tensor* in_dbias),
           (dy, w, in_act, in_aux, dx, in_dbias), dy.device())

// Weight gradient dW = dyᵀ · x ([N,M]·[M,K] -> [N,K]); db[n] = Σ_m dy[m,n] when db is non-null.
KASMINA_OP(void, linear_backward_weight,
           (const Tensor& dy, const Tensor& x, Tensor& dw, Tensor* db), (dy, x, dw, db),
           dy.device())

// Backward through the activation of a fused linear layer when the next layer is not a linear
// one: dpre = dy ⊙ act'(pre), with pre recovered from aux.
KASMINA_OP(void, activation_backward_aux,
           (Activation act, const Tensor& dy, const Tensor& aux, Tensor& dpre),
           (act, dy, aux, dpre), dy.device())

// Standalone activation (after layernorm, dropout, ...): y = act(x); dx = dy ⊙ act'(x).
KASMINA_OP(void, activation_forward, (Activation act, const Tensor& x, Tensor& y), (act, x, y),
           x.device())
KASMINA_OP(void, activation_backward,
           (Activation act, const Tensor& dy, const Tensor& x, Tensor& dx), (act, dy, x, dx),
           dy.device())

// ---------------------------------------------------------------------------------------------
// LayerNorm over the last dimension: y = (x - mean) * rstd * gamma + beta
// ---------------------------------------------------------------------------------------------

// x, y [M,N]; gamma, beta [N]; mean, rstd [M] (saved for backward).
KASMINA_OP(void, layernorm_forward,
           (const Tensor& x, const Tensor& gamma, const Tensor& beta, float eps, Tensor& y,
            Tensor& mean, Tensor& rstd),
           (x, gamma, beta, eps, y, mean, rstd), x.device())
// dx [M,N]; dgamma, dbeta [N] (overwritten; reduction over rows is deterministic).
KASMINA_OP(void, layernorm_backward,
           (const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
            const Tensor& rstd, Tensor& dx, Tensor& dgamma, Tensor& dbeta),
           (dy, x, gamma, mean, rstd, dx, dgamma, dbeta), dy.device())

// ---------------------------------------------------------------------------------------------
// Dropout (inverted): y = x * keep / (1 - p), keep = u >= p with u = philox_uniform_at(seed,
// stream, step[0], element index). The same (seed, stream, step) gives the same mask on every
// device. mask is u8 [same shape] (1 = kept).
// ---------------------------------------------------------------------------------------------

KASMINA_OP(void, dropout_forward,
           (const Tensor& x, float p, uint64_t seed, uint32_t stream, const Tensor& step, Tensor& y,
            Tensor& mask),
           (x, p, seed, stream, step, y, mask), x.device())
KASMINA_OP(void, dropout_backward, (const Tensor& dy, const Tensor& mask, float p, Tensor& dx),
           (dy, mask, p, dx), dy.device())

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy, fused loss + gradient + accuracy
// ---------------------------------------------------------------------------------------------

// logits [B,C] (f32/f64), labels i32 [B].
// loss_sum (f64[1]) accumulates: += Σ_b -log softmax(logits_b)[label_b].
// correct (i64[1], optional) accumulates: += #{b : argmax logits_b == label_b} (first max wins).
// dlogits (optional, [B,C]) = (softmax - onehot) * grad_scale (overwritten).
KASMINA_OP(void, softmax_xent,
           (const Tensor& logits, const Tensor& labels, float grad_scale, Tensor* dlogits,
            Tensor& loss_sum, Tensor* correct),
           (logits, labels, grad_scale, dlogits, loss_sum, correct), logits.device())

// ---------------------------------------------------------------------------------------------
// Data: batch gather from a device-resident dataset
// ---------------------------------------------------------------------------------------------

// images [N,D] (u8 or f32), labels i32 [N], perm i32 [P], cursor i64[1] (a batch index read on
// the device). For b < B: r = perm[cursor*B + b];  x[b,:] = images[r,:] * scale + shift (f32),
// y[b] = labels[r]. Rows past the end of perm are an error the caller prevents.
KASMINA_OP(void, gather_batch,
           (const Tensor& images, const Tensor& labels, const Tensor& perm, const Tensor& cursor,
            float scale, float shift, Tensor& x, Tensor& y),
           (images, labels, perm, cursor, scale, shift, x, y), images.device())

// ---------------------------------------------------------------------------------------------
// Optimizers: one fused multi-tensor launch over all parameters
// ---------------------------------------------------------------------------------------------

// The parameter set an optimizer updates, prepared once (on CUDA this uploads a descriptor
// table of pointers and sizes). m and v are the moment buffers (v unused by SGD).
class MultiTensorPlan {
 public:
  MultiTensorPlan(std::vector<Tensor> params, std::vector<Tensor> grads, std::vector<Tensor> m,
                  std::vector<Tensor> v);
  ~MultiTensorPlan();
  MultiTensorPlan(MultiTensorPlan&&) noexcept;
  MultiTensorPlan& operator=(MultiTensorPlan&&) noexcept;
  const std::vector<Tensor>& params() const { return params_; }
  const std::vector<Tensor>& grads() const { return grads_; }
  const std::vector<Tensor>& m() const { return m_; }
  const std::vector<Tensor>& v() const { return v_; }
  Device device() const;
  int64_t total_elements() const;
  // Every optimizer step over this plan then also adds 1 to every element of `counters`
  // (i64[n], 1 <= n <= kMaxCounters, on the plan's device), after the step has read its step
  // counter, in the same launch: the trainer's step counter and data cursor advance without a
  // launch of their own. An undefined tensor switches it off (the default).
  void advance_after_step(Tensor counters);
  const Tensor& advance() const { return advance_; }
  // bf16 copies of the parameters kept current by every step over this plan (after the update,
  // copy[i] = the parameter rounded to bf16, in the same launch): one per parameter, an undefined
  // tensor for none; each bf16 with the parameter's element count, on the plan's device. The
  // layers then read their GEMM weight copies without a cast of their own (nn/layer.hpp,
  // Parameter::bf16_copy). An empty list switches it off (the default).
  void keep_bf16_copies(std::vector<Tensor> copies);
  const std::vector<Tensor>& bf16_copies() const { return copies_; }
  struct Backend;  // device-side descriptor table (CUDA)
  Backend* backend() const { return backend_.get(); }

 private:
  std::vector<Tensor> params_, grads_, m_, v_;
  std::vector<Tensor> copies_;  // bf16 copies (keep_bf16_copies), empty: none
  Tensor advance_;
  std::unique_ptr<Backend> backend_;
};

struct AdamWHyper {
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.01f;
};
struct SgdHyper {
  float momentum = 0.9f, weight_decay = 0.0f;
  bool nesterov = false;
};

// step: i64[1] on the device = number of steps already taken (t = step + 1 for bias correction;
// lr = lr_at(schedule, step)). Not modified, unless it is among the plan's advance() counters.
// AdamW (decoupled decay, PyTorch semantics):
//   p -= lr*wd*p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g²;
//   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
// SGD (PyTorch semantics): g += wd p;  m = mom m + g (m = g at t = 1);  d = nesterov ? g + mom m :
// m;
//   p -= lr d
KASMINA_OP(void, adamw_step,
           (MultiTensorPlan & plan, const AdamWHyper& h, const LrSchedule& s, const Tensor& step),
           (plan, h, s, step), plan.device())
KASMINA_OP(void, sgd_step,
           (MultiTensorPlan & plan, const SgdHyper& h, const LrSchedule& s, const Tensor& step),
           (plan, h, s, step), plan.device())

}  // namespace kasmina::ops
