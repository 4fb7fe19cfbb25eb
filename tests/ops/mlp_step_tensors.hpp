// The tensors of one fused MLP step (ops::mlp_train_step) for the tests of its CPU twin
// (tests/ops/cpu/test_mlp_step.cpp) and its op-table entry (tests/ops/cuda/entries_mlp_step.cpp):
// the inputs (x, labels, each layer's w and b; b undefined without a bias) and every output.
// args() points into the vectors, which must not be resized afterwards. expect_rejected() checks
// a refused call (the CPU twins' argument-check tests).
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "core/tensor.hpp"
#include "ops/mlp_step_ops.hpp"

namespace kasmina::mlp_step_test {

struct MlpStepTensors {
  Tensor x, labels;
  std::vector<ops::Activation> act;
  std::vector<Tensor> w, b, y, dw, db, dpre;
  Tensor dlogits, loss_sum, correct;
  float grad_scale = 1.0f;

  size_t layers() const { return w.size(); }

  ops::MlpStepArgs args(bool with_correct = true) {
    ops::MlpStepArgs a;
    a.x = &x;
    a.labels = &labels;
    a.grad_scale = grad_scale;
    for (size_t l = 0; l < layers(); ++l) {
      const bool bias = b[l].defined();
      a.layers.push_back(
          {&w[l], bias ? &b[l] : nullptr, &y[l], &dw[l], bias ? &db[l] : nullptr, act[l]});
      if (l + 1 < layers()) a.dpre.push_back(&dpre[l]);
    }
    a.dlogits = &dlogits;
    a.loss_sum = &loss_sum;
    a.correct = with_correct ? &correct : nullptr;
    return a;
  }

  // Every output but the accumulators, in a fixed order, with names.
  std::vector<std::pair<std::string, Tensor*>> outputs() {
    std::vector<std::pair<std::string, Tensor*>> out = {{"dlogits", &dlogits}};
    for (size_t l = 0; l < layers(); ++l) {
      const std::string at = "layer " + std::to_string(l) + " ";
      out.push_back({at + "y", &y[l]});
      out.push_back({at + "dw", &dw[l]});
      if (b[l].defined()) out.push_back({at + "db", &db[l]});
      if (l + 1 < layers()) out.push_back({at + "dpre", &dpre[l]});
    }
    return out;
  }
};

// The call throws InternalError naming the op and containing `fragment`, and writes nothing
// (m's loss accumulator, set here, keeps its value).
inline void expect_rejected(MlpStepTensors& m, const ops::MlpStepArgs& a,
                            const std::string& fragment) {
  ops::fill(m.loss_sum, 0.25);
  try {
    ops::mlp_train_step(a);
    ADD_FAILURE() << "accepted; expected an error containing '" << fragment << "'";
  } catch (const InternalError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("mlp_train_step"), std::string::npos) << msg;
    EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
  }
  EXPECT_EQ(m.loss_sum.to_vector<double>()[0], 0.25) << fragment;
}

}  // namespace kasmina::mlp_step_test
