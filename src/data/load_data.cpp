#include "core/error.hpp"
#include "data/dataset.hpp"
#include "data/loaders.hpp"

namespace kasmina {

DataSplits load_data(const DataConfig& cfg, uint64_t seed, const TrainSizeCheck& check_train_size) {
  switch (cfg.dataset) {
    case DatasetKind::fashion_mnist:
      return data::load_fashion_mnist(cfg, seed, check_train_size);
    case DatasetKind::spirals:
      return data::load_spirals(cfg, seed);
  }
  throw InternalError("load_data: unknown dataset kind " +
                      std::to_string(static_cast<int>(cfg.dataset)));
}

}  // namespace kasmina
