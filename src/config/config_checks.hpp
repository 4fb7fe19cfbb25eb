// Rules that involve more than one key: the model's widths against the dataset (and the
// kasmina layers' seeds against their width), the validation split against the training set,
// the LR schedule floor against the learning rate, the germination schedule against the
// kasmina layers, and the controller against the schedule and the validation split.
#pragma once
#include <string>

#include <yaml-cpp/yaml.h>

#include "config/config.hpp"
#include "config/layers/kasmina.hpp"
#include "config/read_context.hpp"

namespace kasmina::config_detail {

// Keys whose meaning changed: `schedule:` written as a mapping is the learning-rate schedule of
// older configs, now `lr_schedule:`. Runs on the (overridden) tree before it is read.
void check_renamed_keys(const YAML::Node& root, const ReadContext& ctx);

// The validation split and the batch size against the training set's size as far as the config
// knows it (data_size_checks.cpp); records where both keys were set, in Config::origins, for
// check_data_size once the data is loaded.
void check_training_set(Config& c, const YAML::Node& root, const ReadContext& ctx);

// `root` is the whole (overridden) YAML tree, used to point messages at the right line.
void check_config(Config& c, const YAML::Node& root, const ReadContext& ctx);

// A kasmina layer keeps the width it receives and splits it into `seeds` chunks of equal size,
// each a width the kernels handle (morph::chunk_supported) (node: the layer's mapping; path:
// "model.layers[1]").
void check_kasmina_seeds(const KasminaConfig& layer, int64_t width, const YAML::Node& node,
                         const std::string& path, const ReadContext& ctx);

// Records the entry's line (the rules against the model are in check_config).
void check_germination(GerminationConfig& entry, const YAML::Node& node, const ReadContext& ctx,
                       const std::string& path);

}  // namespace kasmina::config_detail
