#include "data/class_names.hpp"

namespace kasmina {

std::vector<std::string> class_names(DatasetKind dataset) {
  switch (dataset) {
    case DatasetKind::spirals:
      return {"arm 0", "arm 1"};
    case DatasetKind::fashion_mnist:
    default:
      return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  }
}

}  // namespace kasmina
