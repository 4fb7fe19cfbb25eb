// The fused MLP step route of the trainer (issue 19): a model that is a chain of linear layers
// with ReLU (the reference Fashion-MNIST MLP and its kind) trains on CUDA through
// ops::mlp_train_step, one persistent kernel for the forward, the loss and the backward, instead
// of the layered step's ~10 launches. The batch gather (without augmentation) and the optimizer's
// update go into the same launch as its first and last phases (their own kernels' per-element
// code); evaluation is unchanged, and the kernel writes the same gradient buffer the layered
// backward writes.
//
// The trainer takes the route on CUDA when all of these hold (make() checks all but the device;
// the CPU twin runs it on the CPU, for tests): train.precision fp32 (the kernel computes in exact
// float32; TF32 and bf16 keep cuBLASLt's tensor-core GEMMs); one process; no loss guard; every
// layer a float32 linear layer, ReLU or no activation, none on the last; at most 8 layers of at
// most 4096 outputs; and at most kFusedMlpMaxMacs multiply-adds in the forward of a batch. That
// bound is a conservative guess, not a measured crossover: the kernel is latency-bound small-GEMM
// code, measured only at the reference MLP's size (bench/RESULTS.md), and larger steps are the
// library GEMMs' ground. KASMINA_FUSED_MLP=0 turns it off, KASMINA_FUSED_MLP=step keeps the
// gather and the optimizer in launches of their own (A/B runs).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/model.hpp"
#include "ops/mlp_step_ops.hpp"

namespace kasmina {

class LinearLayer;

inline constexpr double kFusedMlpMaxMacs = 134217728.0;  // 2^27

class FusedMlpStep {
 public:
  // The route for `model` at `batch` rows, or nullptr with *why_not set. `single_process` and
  // `guarded` are the trainer's; fp32 says train.precision is fp32.
  static std::unique_ptr<FusedMlpStep> make(Model& model, int64_t batch, bool fp32,
                                            bool single_process, bool guarded,
                                            std::string* why_not);

  // One step on x [batch, in] and labels: every parameter gradient of the model, dlogits, and
  // the loss and hit accumulators (as Model::forward, ops::softmax_xent and Model::backward);
  // with `gather`, x and labels are gathered first; with `update`, the optimizer's update
  // follows (ops/mlp_step_ops.hpp). Both may be nullptr.
  void run(const Tensor& x, const Tensor& labels, float grad_scale, Tensor& dlogits,
           Tensor& loss_sum, Tensor* correct, const ops::MlpStepGather* gather = nullptr,
           const ops::MlpStepUpdate* update = nullptr);

  // Whether run() should be given the gather and the update (not with KASMINA_FUSED_MLP=step).
  bool takes_ends() const { return takes_ends_; }

  std::string describe() const;

 private:
  std::vector<LinearLayer*> layers_;
  std::vector<Tensor> y_, dpre_;  // per layer [batch, out]; per layer but the last
  ops::MlpStepArgs args_;
  bool takes_ends_ = true;
};

}  // namespace kasmina
