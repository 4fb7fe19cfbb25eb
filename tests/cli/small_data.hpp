// A Fashion-MNIST-shaped directory for CLI tests: random gzip-compressed IDX files of a few
// images, so that `kasmina train` runs end to end in seconds without the real data set.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>

#include "tests/data/idx_files.hpp"

namespace kasmina::clitest {

// Writes `train` training and `test` test images (28x28, random bytes) and their labels (0-9)
// into `dir` (created) and returns it.
inline std::filesystem::path write_small_fashion_mnist(const std::filesystem::path& dir,
                                                       uint32_t train, uint32_t test) {
  namespace dt = datatest;
  std::filesystem::create_directories(dir);
  for (const auto& [prefix, n] : {std::pair{"train", train}, std::pair{"t10k", test}}) {
    dt::write_idx((dir / (std::string(prefix) + "-images-idx3-ubyte.gz")).string(), {n, 28, 28},
                  dt::random_bytes(size_t{n} * 784, n), true);
    dt::write_idx((dir / (std::string(prefix) + "-labels-idx1-ubyte.gz")).string(), {n},
                  dt::random_bytes(n, n + 1, 10), true);
  }
  return dir;
}

}  // namespace kasmina::clitest
