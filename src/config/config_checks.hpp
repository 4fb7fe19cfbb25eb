// Rules that involve more than one key: the model's widths against the dataset, the
// validation split against the training set, the schedule floor against the learning rate.
#pragma once
#include <string>

#include <yaml-cpp/yaml.h>

#include "config/config.hpp"
#include "config/read_context.hpp"

namespace kasmina::config_detail {

// `root` is the whole (overridden) YAML tree, used to point messages at the right line.
void check_config(Config& c, const YAML::Node& root, const ReadContext& ctx);

// A linear layer must say how wide it is.
void check_layer(LayerConfig& layer, const YAML::Node& node, const ReadContext& ctx,
                 const std::string& path);

}  // namespace kasmina::config_detail
