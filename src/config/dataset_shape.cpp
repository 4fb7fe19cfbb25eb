#include "config/config.hpp"

namespace kasmina {

DatasetShape dataset_shape(const DataConfig& data) {
  switch (data.dataset) {
    case DatasetKind::spirals:
      return {.features = 2, .classes = 2, .train_samples = data.spirals_train, .image = {}};
    case DatasetKind::fashion_mnist:
    default:
      return {.features = 28 * 28,
              .classes = 10,
              .train_samples = 60000,
              .image = ImageShape{28, 28, 1}};
  }
}

}  // namespace kasmina
