// A trained network as named tensors and a JSON description, for `kasmina export` (the
// safetensors layout and the description's fields: docs/EXPORT.md).
//
// Host parameters keep their model names ("layers.0.weight" [out, in], "layers.0.bias").
// Every morphogenetic layer "<L>" adds its seeds' stage, alpha and blueprint id
// ("<L>.seeds.stage" i32 [S], "<L>.seeds.alpha" f32 [S], "<L>.seeds.blueprint" i32 [S]) and,
// for every seed in a live stage (GERMINATED .. FOSSILIZED) the parameters of its blueprint as
// "<L>.seeds.<s>.<part>": residual_mlp W1 [h, C], b1 [h], W2 [C, h], b2 [C]; low_rank A [r, C],
// B [C, r]; diag_scale s [C], t [C]; a blueprint registered at run time p0, p1, ... in its
// parameter blocks' order. Seed s acts on columns [s*C, (s+1)*C) of the layer:
// out = x + alpha * delta(x) where its stage blends (morph/stage.hpp), else x.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "io/safetensors.hpp"
#include "nn/model.hpp"

namespace kasmina::io {

// The input a network expects: `features` values per sample, x = raw * scale + shift, where raw
// is the dataset's stored value (a pixel 0..255, a coordinate).
struct NetworkInput {
  int64_t features = 0;
  float scale = 1.0f, shift = 0.0f;
  int64_t classes = 0;
  std::vector<std::string> class_names;
};

struct NetworkExport {
  std::vector<SafetensorsEntry> tensors;
  nlohmann::ordered_json model;  // the description: input, layers, seeds, parameter counts
};

// `model` built from `cfg.model` (on the CPU) with its state loaded.
NetworkExport export_network(const Config& cfg, Model& model, const NetworkInput& input);

}  // namespace kasmina::io
