#include "data/splits.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace kasmina {

namespace data {

Tensor gather_rows(const Tensor& t, const std::vector<int32_t>& indices) {
  KASMINA_CHECK(t.device().is_cpu() && t.ndim() >= 1, "gather_rows needs a CPU tensor [N, ...]");
  Shape shape = t.shape();
  const int64_t n = shape[0];
  const size_t row_bytes = n == 0 ? 0 : t.nbytes() / static_cast<size_t>(n);
  shape[0] = static_cast<int64_t>(indices.size());
  Tensor out = Tensor::empty(shape, t.dtype());
  const auto* src = static_cast<const uint8_t*>(t.raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (size_t i = 0; i < indices.size(); ++i) {
    const int64_t r = indices[i];
    KASMINA_CHECK(r >= 0 && r < n, "gather_rows: index " + std::to_string(r) + " out of [0, " +
                                       std::to_string(n) + ")");
    std::memcpy(dst + i * row_bytes, src + static_cast<size_t>(r) * row_bytes, row_bytes);
  }
  return out;
}

SplitIndices validation_indices(uint64_t seed, int64_t n, int64_t validation,
                                const std::string& dataset_name) {
  if (validation < 0 || (validation > 0 && validation >= n))
    throw UserError("data.validation: " + std::to_string(validation) + " samples requested, but " +
                    dataset_name + " has " + std::to_string(n) + " training samples (allowed: 0.." +
                    std::to_string(std::max<int64_t>(n - 1, 0)) +
                    ", at least one sample must stay for training)");
  KASMINA_CHECK(n <= std::numeric_limits<int32_t>::max(), "dataset too large for int32 indices");
  SplitIndices s;
  if (validation == 0) {
    s.train.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) s.train[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    return s;
  }
  std::vector<int32_t> perm = Rng(derive_seed(seed, "data.validation")).permutation(n);
  const auto cut = perm.begin() + (n - validation);
  s.train.assign(perm.begin(), cut);
  s.validation.assign(cut, perm.end());
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.validation.begin(), s.validation.end());
  return s;
}

Dataset carve_validation(Dataset& train, int64_t validation, uint64_t seed,
                         const std::string& dataset_name) {
  const SplitIndices s = validation_indices(seed, train.size(), validation, dataset_name);
  Dataset val;
  val.name = "validation";
  val.num_classes = train.num_classes;
  val.scale = train.scale;
  val.shift = train.shift;
  val.images = gather_rows(train.images, s.validation);
  val.labels = gather_rows(train.labels, s.validation);
  if (validation > 0) {
    train.images = gather_rows(train.images, s.train);
    train.labels = gather_rows(train.labels, s.train);
  }
  return val;
}

}  // namespace data

std::vector<int32_t> epoch_permutation(uint64_t seed, int64_t epoch, int64_t n) {
  KASMINA_CHECK(epoch >= 0, "epoch_permutation: negative epoch " + std::to_string(epoch));
  KASMINA_CHECK(n >= 0 && n <= std::numeric_limits<int32_t>::max(),
                "epoch_permutation: sample count " + std::to_string(n) + " outside int32 range");
  return Rng(derive_seed(seed, "data.shuffle", static_cast<uint64_t>(epoch))).permutation(n);
}

}  // namespace kasmina
