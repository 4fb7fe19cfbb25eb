// `kasmina bench --model CONFIG`: forward and backward time of each layer of a config's model
// on one device (like `caffe time`), and of the whole model's forward and backward passes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "core/device.hpp"

namespace kasmina::bench {

struct LayerTiming {
  std::string description;        // Layer::describe()
  double forward_seconds = 0.0;   // median over the iterations
  double backward_seconds = 0.0;  // median; the layer's own backward, input gradient included
};

struct ModelTiming {
  std::string device;
  int64_t batch = 0;
  int iterations = 0;
  std::vector<LayerTiming> layers;
  double model_forward_seconds = 0.0;   // median of Model::forward
  double model_backward_seconds = 0.0;  // median of Model::backward (fused epilogues)
};

// Builds the model of `cfg` on `dev` (input width from the config's dataset) and times each
// layer over `iterations` calls after a warm-up. UserError for a batch or iteration count < 1.
ModelTiming time_model(const Config& cfg, Device dev, int64_t batch, int iterations);

std::string format_model_timing(const ModelTiming& t);

}  // namespace kasmina::bench
