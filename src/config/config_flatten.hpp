// The resolved configuration as a flat list of `key.path = value` entries, for comparing runs
// (`kasmina inspect runs`): every leaf of to_yaml(config), in the order to_yaml writes them.
// List entries are keyed by their index ("model.layers.2.seeds"); an empty list or mapping is
// one entry whose value is "[]" or "{}".
#pragma once
#include <string>
#include <vector>

#include "config/config.hpp"

namespace kasmina {

struct ConfigEntry {
  std::string key;      // "optimizer.lr", "model.layers.0.out"
  std::string value;    // the scalar as YAML text without quotes ("0.01", "cpu", "[]")
  bool quoted = false;  // the YAML scalar was quoted (a string, whatever it reads like)
};

std::vector<ConfigEntry> flatten_config(const Config& config);

}  // namespace kasmina
