// Warnings about valid configs: affine blueprints directly before a linear layer (the linear
// layer absorbs them exactly); a layer of one seed under the heuristic controller's gradient
// trigger (its ratio is always 1). One line each, naming the file, line and key; nothing else
// warns.
#include <gtest/gtest.h>

#include "config/config.hpp"
#include "config/config_warnings.hpp"

namespace kasmina {
namespace {

std::vector<std::string> warnings_of(const std::string& layers, const std::string& tail = "") {
  const std::string yaml =
      "data: {dataset: spirals, validation: 200}\n"
      "model:\n"
      "  layers:\n" +
      layers + tail;
  return config_warnings(parse_config(yaml, "cfg.yaml"));
}

TEST(ConfigWarnings, OneSeedLayerUnderTheGradientTriggerWarnsWithWhy) {
  const std::string layers =
      "    - {type: linear, out: 32}\n"
      "    - {type: relu}\n"
      "    - {type: kasmina, seeds: 1, blueprints: [residual_mlp]}\n"
      "    - {type: linear, out: 2}\n";
  const std::vector<std::string> w =
      warnings_of(layers, "controller: {type: heuristic, grad_trigger_ratio: 1.5}\n");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0],
            "cfg.yaml:6: model.layers[2].seeds: a layer of one seed never meets "
            "controller.grad_trigger_ratio (1.5): the gradient trigger compares a seed's chunk "
            "score with its layer's mean, which is the seed's own, so only a validation plateau "
            "germinates it (germinate it by a schedule:, or split the layer into several seeds)");
  // Not with several seeds, a trigger ratio <= 1 (met at once; the default 1.0), the health
  // choice or another controller.
  EXPECT_TRUE(warnings_of(layers, "controller: {type: heuristic}\n").empty());
  const std::string four =
      "    - {type: linear, out: 32}\n"
      "    - {type: kasmina, seeds: 4, blueprints: [residual_mlp]}\n"
      "    - {type: linear, out: 2}\n";
  EXPECT_TRUE(warnings_of(four, "controller: {type: heuristic}\n").empty());
  EXPECT_TRUE(
      warnings_of(layers, "controller: {type: heuristic, grad_trigger_ratio: 1.0}\n").empty());
  EXPECT_TRUE(warnings_of(layers, "controller: {type: heuristic, seed_choice: health}\n").empty());
  EXPECT_TRUE(warnings_of(layers, "controller: {type: none}\n").empty());
}

TEST(ConfigWarnings, AffineBlueprintsBeforeALinearLayerWarnWithWhy) {
  const std::vector<std::string> w = warnings_of(
      "    - {type: linear, out: 32}\n"
      "    - {type: gelu}\n"
      "    - {type: kasmina, seeds: 4, blueprints: [residual_mlp, low_rank, diag_scale]}\n"
      "    - {type: linear, out: 2}\n");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0],
            "cfg.yaml:6: model.layers[2].blueprints: the affine blueprints (low_rank, diag_scale) "
            "cannot add function here: the next layer (model.layers[3]) is a linear layer, which "
            "absorbs an affine map of its input exactly (use residual_mlp, or place the kasmina "
            "layer before a nonlinearity)");
}

TEST(ConfigWarnings, NoWarningWithoutAffineBlueprintsOrWithoutALinearNext) {
  // residual_mlp only, before a linear layer.
  EXPECT_TRUE(warnings_of("    - {type: linear, out: 32}\n"
                          "    - {type: kasmina, seeds: 4, blueprints: [residual_mlp]}\n"
                          "    - {type: linear, out: 2}\n")
                  .empty());
  // Affine blueprints before a nonlinearity, or before a layer norm.
  EXPECT_TRUE(warnings_of("    - {type: linear, out: 32}\n"
                          "    - {type: kasmina, seeds: 4, blueprints: [low_rank]}\n"
                          "    - {type: gelu}\n"
                          "    - {type: kasmina, seeds: 4, blueprints: [diag_scale]}\n"
                          "    - {type: layernorm}\n"
                          "    - {type: linear, out: 2}\n")
                  .empty());
  // No kasmina layer at all.
  EXPECT_TRUE(warnings_of("    - {type: linear, out: 2}\n").empty());
}

TEST(ConfigWarnings, InsideAResidualBodyThePathNamesTheBody) {
  const std::vector<std::string> w = warnings_of(
      "    - {type: linear, out: 16}\n"
      "    - type: residual\n"
      "      layers:\n"
      "        - {type: linear, out: 16}\n"
      "        - {type: kasmina, seeds: 2, blueprints: [diag_scale]}\n"
      "        - {type: linear, out: 16}\n"
      "    - {type: linear, out: 2}\n");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].rfind("cfg.yaml:8: model.layers[1].layers[1].blueprints: the affine blueprints "
                       "(diag_scale) cannot add function here: the next layer "
                       "(model.layers[1].layers[2]) is a linear layer",
                       0),
            0u)
      << w[0];
}

}  // namespace
}  // namespace kasmina
