// Carving the validation split out of the training set, and the per-epoch sample order.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.hpp"
#include "data/dataset.hpp"

namespace kasmina::data {

// Rows `indices` of a CPU tensor [N, ...] (any dtype), copied into a new tensor.
Tensor gather_rows(const Tensor& t, const std::vector<int32_t>& indices);

struct SplitIndices {
  std::vector<int32_t> train;       // ascending
  std::vector<int32_t> validation;  // ascending
};

// A seeded permutation of 0..n-1 (Rng(derive_seed(seed, "data.validation"))): its last
// `validation` entries form the validation split, the rest the training split; each list is
// sorted ascending so the result depends only on (seed, n, validation).
// `validation` outside 0..n-1 is a UserError naming data.validation.
SplitIndices validation_indices(uint64_t seed, int64_t n, int64_t validation,
                                const std::string& dataset_name);

// Replaces `train` by its training part and returns the carved validation split (named
// "validation"; empty tensors [0, D] when validation == 0). Scale and shift are copied.
Dataset carve_validation(Dataset& train, int64_t validation, uint64_t seed,
                         const std::string& dataset_name);

}  // namespace kasmina::data
