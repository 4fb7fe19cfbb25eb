// The names of a dataset's classes, in label order, for reports (`kasmina eval`).
#pragma once
#include <string>
#include <vector>

#include "config/config.hpp"

namespace kasmina {

// Fashion-MNIST: "T-shirt/top", "Trouser", ..., "Ankle boot"; spirals: "arm 0", "arm 1".
std::vector<std::string> class_names(DatasetKind dataset);

}  // namespace kasmina
