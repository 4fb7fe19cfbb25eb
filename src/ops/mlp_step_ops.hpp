// The fused MLP training step (issue 19): the forward of a chain of linear layers with ReLU,
// softmax cross-entropy, and the backward to every parameter gradient, as one op. On CUDA it is
// one persistent kernel (kernels/mlp_step.cu) whose thread blocks pass the layers' phases to one
// another through grid barriers: the launches, tile set-ups and graph edges of the layered step
// (~10 nodes of 5-12 us at the reference MLP's size) become one launch. The CPU twin
// (src/ops/cpu/mlp_step.cpp) computes the same values layer by layer. The trainer takes this op
// for the models it covers (src/train/fused_mlp_step.hpp); the layered step stays the general
// path and the reference.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.hpp"
#include "ops/op_registry.hpp"
#include "ops/ops.hpp"

namespace kasmina::ops {

// One layer: y = act(x Wᵀ + b) for x [B, in] (the previous layer's y, or the step's input).
struct MlpLayerRefs {
  const Tensor* w = nullptr;  // [out, in]
  const Tensor* b = nullptr;  // [out], or nullptr: no bias
  Tensor* y = nullptr;        // [B, out] output, after the activation (the last layer: logits)
  Tensor* dw = nullptr;       // [out, in] weight gradient (overwritten)
  Tensor* db = nullptr;       // [out] bias gradient (overwritten); nullptr exactly when b is
  Activation act = Activation::none;  // relu or none; the last layer: none
};

// Optional first part of the step: it gathers its batch, as
// ops::gather_batch(*images, *labels, *perm, *cursor, scale, shift, x, labels) with the step's x
// and labels as the outputs (the data order's batch; one launch fewer).
struct MlpStepGather {
  const Tensor* images = nullptr;  // [N, in] u8 or f32
  const Tensor* labels = nullptr;  // i32 [N]
  const Tensor* perm = nullptr;    // i32 [P]
  const Tensor* cursor = nullptr;  // i64 [1]: the batch index
  float scale = 1.0f, shift = 0.0f;
};

// Optional last part of the step: the optimizer's update of the plan's parameters from their
// gradients, as ops::adamw_step(*plan, adamw, schedule, *step) (sgd: ops::sgd_step with
// sgd_hyper), the advance of the plan's counters included.
struct MlpStepUpdate {
  MultiTensorPlan* plan = nullptr;
  bool sgd = false;
  AdamWHyper adamw;
  SgdHyper sgd_hyper;
  LrSchedule schedule;
  const Tensor* step = nullptr;  // i64 [1]: the steps taken so far
};

struct MlpStepArgs {
  const Tensor* x = nullptr;       // [B, in of the first layer] (written first with `gather`)
  const Tensor* labels = nullptr;  // i32 [B], each in [0, classes) (written first with `gather`)
  float grad_scale = 1.0f;         // dlogits = (softmax - onehot) * grad_scale
  std::vector<MlpLayerRefs> layers;
  // The gradient with respect to the pre-activation of every layer but the last: [B, out of
  // layer l] for l < layers - 1 (scratch of the step, overwritten).
  std::vector<Tensor*> dpre;
  Tensor* dlogits = nullptr;   // [B, classes] (the last layer's pre-activation gradient)
  Tensor* loss_sum = nullptr;  // f64 [1]: accumulates the sum of the rows' losses
  Tensor* correct = nullptr;   // i64 [1]: accumulates the rows whose first argmax is the label;
                               // may be nullptr
  const MlpStepGather* gather = nullptr;  // may be nullptr: x and labels are given
  const MlpStepUpdate* update = nullptr;  // may be nullptr: the gradients are the step's result
};

// The step's values, as the layered step computes them:
//   gather    (with a.gather) x and labels from the dataset, as ops::gather_batch;
//   forward   y_l = act_l(y_{l-1} W_lᵀ + b_l), y_{-1} = x;
//   loss      per row, softmax_xent's loss, hit and dlogits (ops.hpp) of the last y;
//   backward  g_{L-1} = dlogits; for l = L-1 .. 0: dW_l = g_lᵀ y_{l-1}, db_l = Σ_rows g_l, and
//             for l > 0: g_{l-1} = (g_l W_l) ⊙ [y_{l-1} > 0] when act_{l-1} is relu, else g_l W_l
//             (stored in dpre[l-1]);
//   update    (with a.update) the optimizer step over the plan, as ops::adamw_step/sgd_step, after
//             every gradient is complete (the plan's gradients are the layers' dw and db).
// Every sum is in the tensors' dtype (fp32 on CUDA: exact FMA, no TF32), in a fixed order:
// deterministic. Labels must lie in [0, classes) (the CPU twin checks them, after the forward;
// the CUDA op makes such a row's loss NaN, as softmax_xent does). No output may share memory
// with another output or an input. The CUDA op accepts float32, at most kMlpStepMaxLayers layers of
// at most kMlpStepMaxWidth outputs, and any B; the CPU twin float32 and float64.
constexpr int kMlpStepMaxLayers = 8;
constexpr int64_t kMlpStepMaxWidth = 4096;
KASMINA_OP(void, mlp_train_step, (const MlpStepArgs& a), (a), a.x ? a.x->device() : Device::cpu())

// Shared shape checks of both twins (InternalError naming the op and the argument); returns B.
int64_t check_mlp_train_step(const MlpStepArgs& a);

}  // namespace kasmina::ops
